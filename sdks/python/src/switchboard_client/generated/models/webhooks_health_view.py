from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.webhooks_health_view_refused_by_reason import (
        WebhooksHealthViewRefusedByReason,
    )


T = TypeVar("T", bound="WebhooksHealthView")


@_attrs_define
class WebhooksHealthView:
    """Webhooks in the last hour.

    Attributes:
        attention (bool): Needs a person.
        received_1h (int): Accepted (stored or duplicate).
        refused_1h (int): Refused.
        refused_by_reason (WebhooksHealthViewRefusedByReason): Refused, by reason.
        last_received_at (datetime.datetime | None | Unset): When the newest verified webhook was received.
        reason (None | str | Unset): Why.
    """

    attention: bool
    received_1h: int
    refused_1h: int
    refused_by_reason: WebhooksHealthViewRefusedByReason
    last_received_at: datetime.datetime | None | Unset = UNSET
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        received_1h = self.received_1h

        refused_1h = self.refused_1h

        refused_by_reason = self.refused_by_reason.to_dict()

        last_received_at: None | str | Unset
        if isinstance(self.last_received_at, Unset):
            last_received_at = UNSET
        elif isinstance(self.last_received_at, datetime.datetime):
            last_received_at = self.last_received_at.isoformat()
        else:
            last_received_at = self.last_received_at

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
                "received_1h": received_1h,
                "refused_1h": refused_1h,
                "refused_by_reason": refused_by_reason,
            }
        )
        if last_received_at is not UNSET:
            field_dict["last_received_at"] = last_received_at
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.webhooks_health_view_refused_by_reason import (
            WebhooksHealthViewRefusedByReason,
        )

        d = dict(src_dict)
        attention = d.pop("attention")

        received_1h = d.pop("received_1h")

        refused_1h = d.pop("refused_1h")

        refused_by_reason = WebhooksHealthViewRefusedByReason.from_dict(
            d.pop("refused_by_reason")
        )

        def _parse_last_received_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_received_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_received_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_received_at = _parse_last_received_at(d.pop("last_received_at", UNSET))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        webhooks_health_view = cls(
            attention=attention,
            received_1h=received_1h,
            refused_1h=refused_1h,
            refused_by_reason=refused_by_reason,
            last_received_at=last_received_at,
            reason=reason,
        )

        webhooks_health_view.additional_properties = d
        return webhooks_health_view

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
