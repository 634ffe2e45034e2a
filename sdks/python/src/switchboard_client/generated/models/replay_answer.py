from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ReplayAnswer")


@_attrs_define
class ReplayAnswer:
    """What a replay did (or, with `dry_run`, would do).

    Attributes:
        deliveries (int): Deliveries requeued for an immediate attempt (in-flight ones are left alone).
        dry_run (bool): Whether this was only a count.
        events (int): Events taken: each is mapped again under the current configuration.
        skipped_purged (int): Events selected but skipped: their payload was removed (retention or erasure),
            so there is nothing to send.
    """

    deliveries: int
    dry_run: bool
    events: int
    skipped_purged: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        deliveries = self.deliveries

        dry_run = self.dry_run

        events = self.events

        skipped_purged = self.skipped_purged

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "deliveries": deliveries,
                "dry_run": dry_run,
                "events": events,
                "skipped_purged": skipped_purged,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        deliveries = d.pop("deliveries")

        dry_run = d.pop("dry_run")

        events = d.pop("events")

        skipped_purged = d.pop("skipped_purged")

        replay_answer = cls(
            deliveries=deliveries,
            dry_run=dry_run,
            events=events,
            skipped_purged=skipped_purged,
        )

        replay_answer.additional_properties = d
        return replay_answer

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
