from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.connection_body import ConnectionBody
    from ..models.consent_view import ConsentView
    from ..models.exported_event_view import ExportedEventView


T = TypeVar("T", bound="EndUserExportBody")


@_attrs_define
class EndUserExportBody:
    """Everything held about one end user.

    Attributes:
        connections (list[ConnectionBody]): Connections, never secrets (granted scopes on each).
        consent_records (list[ConsentView]): Consent records: scopes requested and granted, when, and each later change.
        end_user_id (str): The end user.
        events (list[ExportedEventView]): Events routed to the connections, oldest first, with delivery outcomes.
        exported_at (datetime.datetime): When this export was made.
    """

    connections: list[ConnectionBody]
    consent_records: list[ConsentView]
    end_user_id: str
    events: list[ExportedEventView]
    exported_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        connections = []
        for connections_item_data in self.connections:
            connections_item = connections_item_data.to_dict()
            connections.append(connections_item)

        consent_records = []
        for consent_records_item_data in self.consent_records:
            consent_records_item = consent_records_item_data.to_dict()
            consent_records.append(consent_records_item)

        end_user_id = self.end_user_id

        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)

        exported_at = self.exported_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "connections": connections,
                "consent_records": consent_records,
                "end_user_id": end_user_id,
                "events": events,
                "exported_at": exported_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connection_body import ConnectionBody
        from ..models.consent_view import ConsentView
        from ..models.exported_event_view import ExportedEventView

        d = dict(src_dict)
        connections = []
        _connections = d.pop("connections")
        for connections_item_data in _connections:
            connections_item = ConnectionBody.from_dict(connections_item_data)

            connections.append(connections_item)

        consent_records = []
        _consent_records = d.pop("consent_records")
        for consent_records_item_data in _consent_records:
            consent_records_item = ConsentView.from_dict(consent_records_item_data)

            consent_records.append(consent_records_item)

        end_user_id = d.pop("end_user_id")

        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = ExportedEventView.from_dict(events_item_data)

            events.append(events_item)

        exported_at = datetime.datetime.fromisoformat(d.pop("exported_at"))

        end_user_export_body = cls(
            connections=connections,
            consent_records=consent_records,
            end_user_id=end_user_id,
            events=events,
            exported_at=exported_at,
        )

        end_user_export_body.additional_properties = d
        return end_user_export_body

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
