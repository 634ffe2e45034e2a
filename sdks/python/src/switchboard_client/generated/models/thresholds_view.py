from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ThresholdsView")


@_attrs_define
class ThresholdsView:
    """The thresholds in force (README, "Status thresholds").

    Attributes:
        dead_max (int): Dead deliveries tolerated.
        needs_reauth_24h_max (int): `needs_reauth` connections tolerated in 24 h.
        oldest_pending_max_secs (int): Age of the oldest pending delivery tolerated, in seconds.
        refresh_failures_24h_max (int): Refresh failures tolerated in 24 h.
        refused_min (int): …once at least this many were refused.
        refused_percent_max (float): Refused share of the last hour's webhooks tolerated, in percent…
    """

    dead_max: int
    needs_reauth_24h_max: int
    oldest_pending_max_secs: int
    refresh_failures_24h_max: int
    refused_min: int
    refused_percent_max: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dead_max = self.dead_max

        needs_reauth_24h_max = self.needs_reauth_24h_max

        oldest_pending_max_secs = self.oldest_pending_max_secs

        refresh_failures_24h_max = self.refresh_failures_24h_max

        refused_min = self.refused_min

        refused_percent_max = self.refused_percent_max

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dead_max": dead_max,
                "needs_reauth_24h_max": needs_reauth_24h_max,
                "oldest_pending_max_secs": oldest_pending_max_secs,
                "refresh_failures_24h_max": refresh_failures_24h_max,
                "refused_min": refused_min,
                "refused_percent_max": refused_percent_max,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        dead_max = d.pop("dead_max")

        needs_reauth_24h_max = d.pop("needs_reauth_24h_max")

        oldest_pending_max_secs = d.pop("oldest_pending_max_secs")

        refresh_failures_24h_max = d.pop("refresh_failures_24h_max")

        refused_min = d.pop("refused_min")

        refused_percent_max = d.pop("refused_percent_max")

        thresholds_view = cls(
            dead_max=dead_max,
            needs_reauth_24h_max=needs_reauth_24h_max,
            oldest_pending_max_secs=oldest_pending_max_secs,
            refresh_failures_24h_max=refresh_failures_24h_max,
            refused_min=refused_min,
            refused_percent_max=refused_percent_max,
        )

        thresholds_view.additional_properties = d
        return thresholds_view

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
