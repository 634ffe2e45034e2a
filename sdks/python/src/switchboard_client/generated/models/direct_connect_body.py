from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.credentials_body import CredentialsBody
    from ..models.direct_connect_body_settings import DirectConnectBodySettings


T = TypeVar("T", bound="DirectConnectBody")


@_attrs_define
class DirectConnectBody:
    """`POST /api/connections`.

    Example:
        {'connection_id': 'acme-cc-1', 'integration': 'acme-cc'}

    Attributes:
        integration (str): The integration.
        connection_id (None | str | Unset): The connection id (generated when absent).
        credentials (CredentialsBody | Unset): Credentials of an API-key or basic connection, or a service account's own
            key.
        end_user_id (None | str | Unset): The app's end-user id (default `app` for client credentials): 1 to 256
            characters, no control characters.
        settings (DirectConnectBodySettings | Unset): The provider's connection settings (subdomain…; `subject` of a
            service account,
            `installation_id` of a GitHub App installation).
    """

    integration: str
    connection_id: None | str | Unset = UNSET
    credentials: CredentialsBody | Unset = UNSET
    end_user_id: None | str | Unset = UNSET
    settings: DirectConnectBodySettings | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        integration = self.integration

        connection_id: None | str | Unset
        if isinstance(self.connection_id, Unset):
            connection_id = UNSET
        else:
            connection_id = self.connection_id

        credentials: dict[str, Any] | Unset = UNSET
        if not isinstance(self.credentials, Unset):
            credentials = self.credentials.to_dict()

        end_user_id: None | str | Unset
        if isinstance(self.end_user_id, Unset):
            end_user_id = UNSET
        else:
            end_user_id = self.end_user_id

        settings: dict[str, Any] | Unset = UNSET
        if not isinstance(self.settings, Unset):
            settings = self.settings.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "integration": integration,
            }
        )
        if connection_id is not UNSET:
            field_dict["connection_id"] = connection_id
        if credentials is not UNSET:
            field_dict["credentials"] = credentials
        if end_user_id is not UNSET:
            field_dict["end_user_id"] = end_user_id
        if settings is not UNSET:
            field_dict["settings"] = settings

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.credentials_body import CredentialsBody
        from ..models.direct_connect_body_settings import DirectConnectBodySettings

        d = dict(src_dict)
        integration = d.pop("integration")

        def _parse_connection_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        connection_id = _parse_connection_id(d.pop("connection_id", UNSET))

        _credentials = d.pop("credentials", UNSET)
        credentials: CredentialsBody | Unset
        if isinstance(_credentials, Unset):
            credentials = UNSET
        else:
            credentials = CredentialsBody.from_dict(_credentials)

        def _parse_end_user_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        end_user_id = _parse_end_user_id(d.pop("end_user_id", UNSET))

        _settings = d.pop("settings", UNSET)
        settings: DirectConnectBodySettings | Unset
        if isinstance(_settings, Unset):
            settings = UNSET
        else:
            settings = DirectConnectBodySettings.from_dict(_settings)

        direct_connect_body = cls(
            integration=integration,
            connection_id=connection_id,
            credentials=credentials,
            end_user_id=end_user_id,
            settings=settings,
        )

        return direct_connect_body
