from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DestinationHealthView")


@_attrs_define
class DestinationHealthView:
    """A destination of the integration's events.

    Attributes:
        attention (bool): Needs a person.
        breaker_failures (int): Failures in a row, as the answering instance sees them.
        breaker_open (bool): Its circuit breaker is open, as the answering instance sees it.
        enabled (bool): Deliveries are sent.
        id (str): Its id.
        disabled_reason (None | str | Unset): Why it is disabled.
        reason (None | str | Unset): Why.
    """

    attention: bool
    breaker_failures: int
    breaker_open: bool
    enabled: bool
    id: str
    disabled_reason: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        breaker_failures = self.breaker_failures

        breaker_open = self.breaker_open

        enabled = self.enabled

        id = self.id

        disabled_reason: None | str | Unset
        if isinstance(self.disabled_reason, Unset):
            disabled_reason = UNSET
        else:
            disabled_reason = self.disabled_reason

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
                "breaker_failures": breaker_failures,
                "breaker_open": breaker_open,
                "enabled": enabled,
                "id": id,
            }
        )
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        attention = d.pop("attention")

        breaker_failures = d.pop("breaker_failures")

        breaker_open = d.pop("breaker_open")

        enabled = d.pop("enabled")

        id = d.pop("id")

        def _parse_disabled_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason", UNSET))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        destination_health_view = cls(
            attention=attention,
            breaker_failures=breaker_failures,
            breaker_open=breaker_open,
            enabled=enabled,
            id=id,
            disabled_reason=disabled_reason,
            reason=reason,
        )

        destination_health_view.additional_properties = d
        return destination_health_view

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
