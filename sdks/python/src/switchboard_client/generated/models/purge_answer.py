from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PurgeAnswer")


@_attrs_define
class PurgeAnswer:
    """What a purge did (or, with `dry_run`, would do).

    Attributes:
        dry_run (bool): Whether this was only a count.
        events (int): Events whose payload was removed (would be).
        more (bool): Whether more expired payloads remain: call again.
    """

    dry_run: bool
    events: int
    more: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dry_run = self.dry_run

        events = self.events

        more = self.more

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dry_run": dry_run,
                "events": events,
                "more": more,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        dry_run = d.pop("dry_run")

        events = d.pop("events")

        more = d.pop("more")

        purge_answer = cls(
            dry_run=dry_run,
            events=events,
            more=more,
        )

        purge_answer.additional_properties = d
        return purge_answer

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
