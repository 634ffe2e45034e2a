from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AttemptView")


@_attrs_define
class AttemptView:
    """One attempt to send a delivery.

    Attributes:
        duration_ms (int): How long until the answer or the failure, in milliseconds.
        number (int): 1 for the first recorded attempt; counts on across replays.
        outcome (str): `delivered`, `http_error`, `gone` or `network` (no answer).
        started_at (datetime.datetime): When the request started.
        excerpt (None | str | Unset): At most 1 KiB of the response body, with the values of secret-looking JSON keys
            and `key=value` pairs redacted; null when the body was empty.
        status (int | None | Unset): The destination's HTTP status; null when no answer came.
    """

    duration_ms: int
    number: int
    outcome: str
    started_at: datetime.datetime
    excerpt: None | str | Unset = UNSET
    status: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        duration_ms = self.duration_ms

        number = self.number

        outcome = self.outcome

        started_at = self.started_at.isoformat()

        excerpt: None | str | Unset
        if isinstance(self.excerpt, Unset):
            excerpt = UNSET
        else:
            excerpt = self.excerpt

        status: int | None | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "duration_ms": duration_ms,
                "number": number,
                "outcome": outcome,
                "started_at": started_at,
            }
        )
        if excerpt is not UNSET:
            field_dict["excerpt"] = excerpt
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        duration_ms = d.pop("duration_ms")

        number = d.pop("number")

        outcome = d.pop("outcome")

        started_at = datetime.datetime.fromisoformat(d.pop("started_at"))

        def _parse_excerpt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        excerpt = _parse_excerpt(d.pop("excerpt", UNSET))

        def _parse_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        attempt_view = cls(
            duration_ms=duration_ms,
            number=number,
            outcome=outcome,
            started_at=started_at,
            excerpt=excerpt,
            status=status,
        )

        attempt_view.additional_properties = d
        return attempt_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
