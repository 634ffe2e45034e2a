from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.delivery_counts_view import DeliveryCountsView
    from ..models.mapping_view import MappingView


T = TypeVar("T", bound="EventView")


@_attrs_define
class EventView:
    """A stored event (metadata; the body is kept for replay and mapping).

    Attributes:
        body_bytes (int): Body size in bytes (0 once purged).
        deliveries (DeliveryCountsView): An event's deliveries by state.
        id (str): `evt_…`
        integration (str): Integration id.
        received_at (datetime.datetime): When it was received.
        scheme (str): The signature scheme that verified it.
        connection_id (None | str | Unset): The connection it routes to.
        event_type (None | str | Unset): The provider's event type.
        mapping (MappingView | None | Unset):
        provider_event_id (None | str | Unset): The provider's event id (deduplication key).
        purged_at (datetime.datetime | None | Unset): When its payload (body, headers, mapped data) was removed by
            retention or
            erasure; null while kept.
    """

    body_bytes: int
    deliveries: DeliveryCountsView
    id: str
    integration: str
    received_at: datetime.datetime
    scheme: str
    connection_id: None | str | Unset = UNSET
    event_type: None | str | Unset = UNSET
    mapping: MappingView | None | Unset = UNSET
    provider_event_id: None | str | Unset = UNSET
    purged_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.mapping_view import MappingView

        body_bytes = self.body_bytes

        deliveries = self.deliveries.to_dict()

        id = self.id

        integration = self.integration

        received_at = self.received_at.isoformat()

        scheme = self.scheme

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

        mapping: dict[str, Any] | None | Unset
        if isinstance(self.mapping, Unset):
            mapping = UNSET
        elif isinstance(self.mapping, MappingView):
            mapping = self.mapping.to_dict()
        else:
            mapping = self.mapping

        provider_event_id: None | str | Unset
        if isinstance(self.provider_event_id, Unset):
            provider_event_id = UNSET
        else:
            provider_event_id = self.provider_event_id

        purged_at: None | str | Unset
        if isinstance(self.purged_at, Unset):
            purged_at = UNSET
        elif isinstance(self.purged_at, datetime.datetime):
            purged_at = self.purged_at.isoformat()
        else:
            purged_at = self.purged_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "body_bytes": body_bytes,
                "deliveries": deliveries,
                "id": id,
                "integration": integration,
                "received_at": received_at,
                "scheme": scheme,
            }
        )
        if connection_id is not UNSET:
            field_dict["connection_id"] = connection_id
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if mapping is not UNSET:
            field_dict["mapping"] = mapping
        if provider_event_id is not UNSET:
            field_dict["provider_event_id"] = provider_event_id
        if purged_at is not UNSET:
            field_dict["purged_at"] = purged_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.delivery_counts_view import DeliveryCountsView
        from ..models.mapping_view import MappingView

        d = dict(src_dict)
        body_bytes = d.pop("body_bytes")

        deliveries = DeliveryCountsView.from_dict(d.pop("deliveries"))

        id = d.pop("id")

        integration = d.pop("integration")

        received_at = datetime.datetime.fromisoformat(d.pop("received_at"))

        scheme = d.pop("scheme")

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

        def _parse_mapping(data: object) -> MappingView | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                mapping_type_1 = MappingView.from_dict(data)

                return mapping_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MappingView | None | Unset, data)

        mapping = _parse_mapping(d.pop("mapping", UNSET))

        def _parse_provider_event_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        provider_event_id = _parse_provider_event_id(d.pop("provider_event_id", UNSET))

        def _parse_purged_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                purged_at_type_0 = datetime.datetime.fromisoformat(data)

                return purged_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        purged_at = _parse_purged_at(d.pop("purged_at", UNSET))

        event_view = cls(
            body_bytes=body_bytes,
            deliveries=deliveries,
            id=id,
            integration=integration,
            received_at=received_at,
            scheme=scheme,
            connection_id=connection_id,
            event_type=event_type,
            mapping=mapping,
            provider_event_id=provider_event_id,
            purged_at=purged_at,
        )

        event_view.additional_properties = d
        return event_view

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
