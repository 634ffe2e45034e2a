from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ErasureCountsView")


@_attrs_define
class ErasureCountsView:
    """What an erasure removed (would remove).

    Attributes:
        connections (int): Connections deleted with their sealed credentials.
        consent_records (int): Consent records rewritten without personal data.
        events (int): Events whose payload was removed.
        flows (int): Connect sessions and authorization states in flight deleted (not counted in a
            dry run).
        revoked_at_provider (int): Of which the provider confirmed the revocation.
    """

    connections: int
    consent_records: int
    events: int
    flows: int
    revoked_at_provider: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        connections = self.connections

        consent_records = self.consent_records

        events = self.events

        flows = self.flows

        revoked_at_provider = self.revoked_at_provider

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "connections": connections,
                "consent_records": consent_records,
                "events": events,
                "flows": flows,
                "revoked_at_provider": revoked_at_provider,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        connections = d.pop("connections")

        consent_records = d.pop("consent_records")

        events = d.pop("events")

        flows = d.pop("flows")

        revoked_at_provider = d.pop("revoked_at_provider")

        erasure_counts_view = cls(
            connections=connections,
            consent_records=consent_records,
            events=events,
            flows=flows,
            revoked_at_provider=revoked_at_provider,
        )

        erasure_counts_view.additional_properties = d
        return erasure_counts_view

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
