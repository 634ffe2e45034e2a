from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.exported_delivery_view import ExportedDeliveryView


T = TypeVar("T", bound="ExportedEventView")


@_attrs_define
class ExportedEventView:
    """An event of the end user.

    Attributes:
        deliveries (list[ExportedDeliveryView]): Its deliveries.
        id (str): `evt_…`.
        integration (str): Its integration.
        received_at (datetime.datetime): When received.
        body (None | str | Unset): The body as text (UTF-8), while kept.
        body_base64 (None | str | Unset): The body in base64 when it is not UTF-8.
        connection_id (None | str | Unset): Its connection.
        event_type (None | str | Unset): The provider's event type.
        mapped_type (None | str | Unset): The app's event type, when mapped.
        payload_purged_at (datetime.datetime | None | Unset): When its payload was removed.
        provider_event_id (None | str | Unset): The provider's event id.
    """

    deliveries: list[ExportedDeliveryView]
    id: str
    integration: str
    received_at: datetime.datetime
    body: None | str | Unset = UNSET
    body_base64: None | str | Unset = UNSET
    connection_id: None | str | Unset = UNSET
    event_type: None | str | Unset = UNSET
    mapped_type: None | str | Unset = UNSET
    payload_purged_at: datetime.datetime | None | Unset = UNSET
    provider_event_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        deliveries = []
        for deliveries_item_data in self.deliveries:
            deliveries_item = deliveries_item_data.to_dict()
            deliveries.append(deliveries_item)

        id = self.id

        integration = self.integration

        received_at = self.received_at.isoformat()

        body: None | str | Unset
        if isinstance(self.body, Unset):
            body = UNSET
        else:
            body = self.body

        body_base64: None | str | Unset
        if isinstance(self.body_base64, Unset):
            body_base64 = UNSET
        else:
            body_base64 = self.body_base64

        connection_id: None | str | Unset
        if isinstance(self.connection_id, Unset):
            connection_id = UNSET
        else:
            connection_id = self.connection_id

        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        else:
            event_type = self.event_type

        mapped_type: None | str | Unset
        if isinstance(self.mapped_type, Unset):
            mapped_type = UNSET
        else:
            mapped_type = self.mapped_type

        payload_purged_at: None | str | Unset
        if isinstance(self.payload_purged_at, Unset):
            payload_purged_at = UNSET
        elif isinstance(self.payload_purged_at, datetime.datetime):
            payload_purged_at = self.payload_purged_at.isoformat()
        else:
            payload_purged_at = self.payload_purged_at

        provider_event_id: None | str | Unset
        if isinstance(self.provider_event_id, Unset):
            provider_event_id = UNSET
        else:
            provider_event_id = self.provider_event_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "deliveries": deliveries,
                "id": id,
                "integration": integration,
                "received_at": received_at,
            }
        )
        if body is not UNSET:
            field_dict["body"] = body
        if body_base64 is not UNSET:
            field_dict["body_base64"] = body_base64
        if connection_id is not UNSET:
            field_dict["connection_id"] = connection_id
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if mapped_type is not UNSET:
            field_dict["mapped_type"] = mapped_type
        if payload_purged_at is not UNSET:
            field_dict["payload_purged_at"] = payload_purged_at
        if provider_event_id is not UNSET:
            field_dict["provider_event_id"] = provider_event_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.exported_delivery_view import ExportedDeliveryView

        d = dict(src_dict)
        deliveries = []
        _deliveries = d.pop("deliveries")
        for deliveries_item_data in _deliveries:
            deliveries_item = ExportedDeliveryView.from_dict(deliveries_item_data)

            deliveries.append(deliveries_item)

        id = d.pop("id")

        integration = d.pop("integration")

        received_at = datetime.datetime.fromisoformat(d.pop("received_at"))

        def _parse_body(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        body = _parse_body(d.pop("body", UNSET))

        def _parse_body_base64(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        body_base64 = _parse_body_base64(d.pop("body_base64", UNSET))

        def _parse_connection_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        connection_id = _parse_connection_id(d.pop("connection_id", UNSET))

        def _parse_event_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_type = _parse_event_type(d.pop("event_type", UNSET))

        def _parse_mapped_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        mapped_type = _parse_mapped_type(d.pop("mapped_type", UNSET))

        def _parse_payload_purged_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                payload_purged_at_type_0 = datetime.datetime.fromisoformat(data)

                return payload_purged_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        payload_purged_at = _parse_payload_purged_at(d.pop("payload_purged_at", UNSET))

        def _parse_provider_event_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        provider_event_id = _parse_provider_event_id(d.pop("provider_event_id", UNSET))

        exported_event_view = cls(
            deliveries=deliveries,
            id=id,
            integration=integration,
            received_at=received_at,
            body=body,
            body_base64=body_base64,
            connection_id=connection_id,
            event_type=event_type,
            mapped_type=mapped_type,
            payload_purged_at=payload_purged_at,
            provider_event_id=provider_event_id,
        )

        exported_event_view.additional_properties = d
        return exported_event_view

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
