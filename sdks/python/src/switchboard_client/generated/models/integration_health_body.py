from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.connection_body import ConnectionBody
    from ..models.integration_health_body_connections import (
        IntegrationHealthBodyConnections,
    )


T = TypeVar("T", bound="IntegrationHealthBody")


@_attrs_define
class IntegrationHealthBody:
    """Health of an integration (or of one of its connections).

    Attributes:
        auth_mode (str): How its connections authenticate (`oauth2`, `api_key`, `basic`,
            `client_credentials`).
        configured (bool): Whether it has what connecting an account needs (a client id for OAuth2).
        connections (IntegrationHealthBodyConnections): Its connections by status (every status, 0 included).
        disabled (bool): Webhook intake switched off (`integration disable`).
        integration (str): The integration.
        provider (str): Its provider.
        webhooks_blocked (bool): Webhook intake blocked (`webhook block`).
        connection (ConnectionBody | None | Unset):
    """

    auth_mode: str
    configured: bool
    connections: IntegrationHealthBodyConnections
    disabled: bool
    integration: str
    provider: str
    webhooks_blocked: bool
    connection: ConnectionBody | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.connection_body import ConnectionBody

        auth_mode = self.auth_mode

        configured = self.configured

        connections = self.connections.to_dict()

        disabled = self.disabled

        integration = self.integration

        provider = self.provider

        webhooks_blocked = self.webhooks_blocked

        connection: dict[str, Any] | None | Unset
        if isinstance(self.connection, Unset):
            connection = UNSET
        elif isinstance(self.connection, ConnectionBody):
            connection = self.connection.to_dict()
        else:
            connection = self.connection

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "auth_mode": auth_mode,
                "configured": configured,
                "connections": connections,
                "disabled": disabled,
                "integration": integration,
                "provider": provider,
                "webhooks_blocked": webhooks_blocked,
            }
        )
        if connection is not UNSET:
            field_dict["connection"] = connection

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connection_body import ConnectionBody
        from ..models.integration_health_body_connections import (
            IntegrationHealthBodyConnections,
        )

        d = dict(src_dict)
        auth_mode = d.pop("auth_mode")

        configured = d.pop("configured")

        connections = IntegrationHealthBodyConnections.from_dict(d.pop("connections"))

        disabled = d.pop("disabled")

        integration = d.pop("integration")

        provider = d.pop("provider")

        webhooks_blocked = d.pop("webhooks_blocked")

        def _parse_connection(data: object) -> ConnectionBody | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                connection_type_1 = ConnectionBody.from_dict(data)

                return connection_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ConnectionBody | None | Unset, data)

        connection = _parse_connection(d.pop("connection", UNSET))

        integration_health_body = cls(
            auth_mode=auth_mode,
            configured=configured,
            connections=connections,
            disabled=disabled,
            integration=integration,
            provider=provider,
            webhooks_blocked=webhooks_blocked,
            connection=connection,
        )

        integration_health_body.additional_properties = d
        return integration_health_body

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
