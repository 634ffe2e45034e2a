from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DeliveriesHealthView")


@_attrs_define
class DeliveriesHealthView:
    """The deliveries of the integration's events.

    Attributes:
        attention (bool): Needs a person.
        dead (int): Dead.
        in_flight (int): Of which being sent.
        pending (int): Waiting or being sent.
        oldest_pending_secs (int | None | Unset): Age of the oldest waiting one, in seconds.
        reason (None | str | Unset): Why.
    """

    attention: bool
    dead: int
    in_flight: int
    pending: int
    oldest_pending_secs: int | None | Unset = UNSET
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        dead = self.dead

        in_flight = self.in_flight

        pending = self.pending

        oldest_pending_secs: int | None | Unset
        if isinstance(self.oldest_pending_secs, Unset):
            oldest_pending_secs = UNSET
        else:
            oldest_pending_secs = self.oldest_pending_secs

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attention": attention,
                "dead": dead,
                "in_flight": in_flight,
                "pending": pending,
            }
        )
        if oldest_pending_secs is not UNSET:
            field_dict["oldest_pending_secs"] = oldest_pending_secs
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        attention = d.pop("attention")

        dead = d.pop("dead")

        in_flight = d.pop("in_flight")

        pending = d.pop("pending")

        def _parse_oldest_pending_secs(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        oldest_pending_secs = _parse_oldest_pending_secs(
            d.pop("oldest_pending_secs", UNSET)
        )

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        deliveries_health_view = cls(
            attention=attention,
            dead=dead,
            in_flight=in_flight,
            pending=pending,
            oldest_pending_secs=oldest_pending_secs,
            reason=reason,
        )

        deliveries_health_view.additional_properties = d
        return deliveries_health_view

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
