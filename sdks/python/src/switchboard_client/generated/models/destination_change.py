from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.queue_view import QueueView


T = TypeVar("T", bound="DestinationChange")


@_attrs_define
class DestinationChange:
    """A destination after `disable` or `enable`.

    Attributes:
        enabled (bool): Whether deliveries are sent.
        event_types (list[str]): Event type patterns.
        id (str): Its id.
        integrations (list[str]): Integrations whose events go there (empty: all).
        queue (QueueView): Deliveries of a destination by state (delivered ones are not counted).
        url (str): Where events are POSTed (password and query values redacted).
        changed (bool): Whether this call changed its state (false if it already was so).
        disabled_reason (None | str | Unset): Why it is disabled (`answered 410 Gone`, an operator's reason).
    """

    enabled: bool
    event_types: list[str]
    id: str
    integrations: list[str]
    queue: QueueView
    url: str
    changed: bool
    disabled_reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        enabled = self.enabled

        event_types = self.event_types

        id = self.id

        integrations = self.integrations

        queue = self.queue.to_dict()

        url = self.url

        changed = self.changed

        disabled_reason: None | str | Unset
        if isinstance(self.disabled_reason, Unset):
            disabled_reason = UNSET
        else:
            disabled_reason = self.disabled_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "enabled": enabled,
                "event_types": event_types,
                "id": id,
                "integrations": integrations,
                "queue": queue,
                "url": url,
                "changed": changed,
            }
        )
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.queue_view import QueueView

        d = dict(src_dict)
        enabled = d.pop("enabled")

        event_types = cast(list[str], d.pop("event_types"))

        id = d.pop("id")

        integrations = cast(list[str], d.pop("integrations"))

        queue = QueueView.from_dict(d.pop("queue"))

        url = d.pop("url")

        changed = d.pop("changed")

        def _parse_disabled_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason", UNSET))

        destination_change = cls(
            enabled=enabled,
            event_types=event_types,
            id=id,
            integrations=integrations,
            queue=queue,
            url=url,
            changed=changed,
            disabled_reason=disabled_reason,
        )

        destination_change.additional_properties = d
        return destination_change

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
