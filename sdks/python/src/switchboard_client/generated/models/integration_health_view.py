from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.checklist_item_view import ChecklistItemView
    from ..models.connections_health_view import ConnectionsHealthView
    from ..models.deliveries_health_view import DeliveriesHealthView
    from ..models.destination_health_view import DestinationHealthView
    from ..models.webhooks_health_view import WebhooksHealthView


T = TypeVar("T", bound="IntegrationHealthView")


@_attrs_define
class IntegrationHealthView:
    """One integration's health.

    Attributes:
        attention (bool): Something here needs a person.
        checklist (list[ChecklistItemView]): The launch checklist.
        connections (ConnectionsHealthView): Connections by status, and refreshes in the last 24 h.
        deliveries (DeliveriesHealthView): The deliveries of the integration's events.
        destinations (list[DestinationHealthView]): The destinations its events go to.
        disabled (bool): Disabled as a whole.
        id (str): Its id.
        provider (str): Its provider.
        reasons (list[str]): Why.
        security_findings (int): Open findings of the security self-audit about it.
        webhooks (WebhooksHealthView): Webhooks in the last hour.
        webhooks_blocked (bool): Webhook intake blocked.
    """

    attention: bool
    checklist: list[ChecklistItemView]
    connections: ConnectionsHealthView
    deliveries: DeliveriesHealthView
    destinations: list[DestinationHealthView]
    disabled: bool
    id: str
    provider: str
    reasons: list[str]
    security_findings: int
    webhooks: WebhooksHealthView
    webhooks_blocked: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        checklist = []
        for checklist_item_data in self.checklist:
            checklist_item = checklist_item_data.to_dict()
            checklist.append(checklist_item)

        connections = self.connections.to_dict()

        deliveries = self.deliveries.to_dict()

        destinations = []
        for destinations_item_data in self.destinations:
            destinations_item = destinations_item_data.to_dict()
            destinations.append(destinations_item)

        disabled = self.disabled

        id = self.id

        provider = self.provider

        reasons = self.reasons

        security_findings = self.security_findings

        webhooks = self.webhooks.to_dict()

        webhooks_blocked = self.webhooks_blocked

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attention": attention,
                "checklist": checklist,
                "connections": connections,
                "deliveries": deliveries,
                "destinations": destinations,
                "disabled": disabled,
                "id": id,
                "provider": provider,
                "reasons": reasons,
                "security_findings": security_findings,
                "webhooks": webhooks,
                "webhooks_blocked": webhooks_blocked,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.checklist_item_view import ChecklistItemView
        from ..models.connections_health_view import ConnectionsHealthView
        from ..models.deliveries_health_view import DeliveriesHealthView
        from ..models.destination_health_view import DestinationHealthView
        from ..models.webhooks_health_view import WebhooksHealthView

        d = dict(src_dict)
        attention = d.pop("attention")

        checklist = []
        _checklist = d.pop("checklist")
        for checklist_item_data in _checklist:
            checklist_item = ChecklistItemView.from_dict(checklist_item_data)

            checklist.append(checklist_item)

        connections = ConnectionsHealthView.from_dict(d.pop("connections"))

        deliveries = DeliveriesHealthView.from_dict(d.pop("deliveries"))

        destinations = []
        _destinations = d.pop("destinations")
        for destinations_item_data in _destinations:
            destinations_item = DestinationHealthView.from_dict(destinations_item_data)

            destinations.append(destinations_item)

        disabled = d.pop("disabled")

        id = d.pop("id")

        provider = d.pop("provider")

        reasons = cast(list[str], d.pop("reasons"))

        security_findings = d.pop("security_findings")

        webhooks = WebhooksHealthView.from_dict(d.pop("webhooks"))

        webhooks_blocked = d.pop("webhooks_blocked")

        integration_health_view = cls(
            attention=attention,
            checklist=checklist,
            connections=connections,
            deliveries=deliveries,
            destinations=destinations,
            disabled=disabled,
            id=id,
            provider=provider,
            reasons=reasons,
            security_findings=security_findings,
            webhooks=webhooks,
            webhooks_blocked=webhooks_blocked,
        )

        integration_health_view.additional_properties = d
        return integration_health_view

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
