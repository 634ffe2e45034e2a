from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ConnectionsHealthView")


@_attrs_define
class ConnectionsHealthView:
    """Connections by status, and refreshes in the last 24 h.

    Attributes:
        active (int): Working.
        attention (bool): Needs a person.
        error (int): In error.
        failing_now (int): Connections whose last refresh failed, changed in the last 24 h.
        needs_reauth (int): Waiting for the end user to connect again.
        needs_reauth_24h (int): Of which the provider refused the grant (the connection went `needs_reauth`).
        refresh_failures_24h (int): Refresh failures in the last 24 h.
        revoked (int): Revoked.
        reason (None | str | Unset): Why.
    """

    active: int
    attention: bool
    error: int
    failing_now: int
    needs_reauth: int
    needs_reauth_24h: int
    refresh_failures_24h: int
    revoked: int
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        active = self.active

        attention = self.attention

        error = self.error

        failing_now = self.failing_now

        needs_reauth = self.needs_reauth

        needs_reauth_24h = self.needs_reauth_24h

        refresh_failures_24h = self.refresh_failures_24h

        revoked = self.revoked

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "active": active,
                "attention": attention,
                "error": error,
                "failing_now": failing_now,
                "needs_reauth": needs_reauth,
                "needs_reauth_24h": needs_reauth_24h,
                "refresh_failures_24h": refresh_failures_24h,
                "revoked": revoked,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        active = d.pop("active")

        attention = d.pop("attention")

        error = d.pop("error")

        failing_now = d.pop("failing_now")

        needs_reauth = d.pop("needs_reauth")

        needs_reauth_24h = d.pop("needs_reauth_24h")

        refresh_failures_24h = d.pop("refresh_failures_24h")

        revoked = d.pop("revoked")

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        connections_health_view = cls(
            active=active,
            attention=attention,
            error=error,
            failing_now=failing_now,
            needs_reauth=needs_reauth,
            needs_reauth_24h=needs_reauth_24h,
            refresh_failures_24h=refresh_failures_24h,
            revoked=revoked,
            reason=reason,
        )

        connections_health_view.additional_properties = d
        return connections_health_view

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
