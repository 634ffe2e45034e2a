from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.connection_body_settings import ConnectionBodySettings


T = TypeVar("T", bound="ConnectionBody")


@_attrs_define
class ConnectionBody:
    """A connection (never secrets).

    Attributes:
        auth_mode (str): `oauth2`, `api_key`, `basic`, `client_credentials`, `github_app` or `jwt_bearer`.
        created_at (str): Creation time.
        end_user_id (str): The app's end-user id.
        id (str): The connection id.
        integration (str): Its integration.
        missing_scopes (list[str]): Required scopes that were not granted.
        provider (str): The provider.
        scopes (list[str]): Granted scopes.
        settings (ConnectionBodySettings): Connection settings (shop, instance URL…).
        status (str): `active`, `needs_reauth`, `revoked` or `error`.
        updated_at (str): Last change.
        expires_at (None | str | Unset): When the access token expires.
        health_checked_at (None | str | Unset): When a credential health check last tried the connection's credentials
            at the
            provider (the integration's `health_check_interval_secs`); null when none has
            since they were stored.
        health_detail (None | str | Unset): The check's explanation (the provider's HTTP status, its message on a 403
            and the
            missing scopes, or the error).
        health_result (None | str | Unset): What that check found: `ok`; `rejected` (401, after a refresh where the
            credentials refresh: the connection is now `needs_reauth`); `forbidden` (403: the
            credentials authenticate but may not make the request, a missing scope or a plan
            limit; the connection stays active); `unavailable` (5xx, 429, timeout or refused
            connection: nothing changed); `error` (another answer: nothing changed).
        last_error (None | str | Unset): Last error.
        last_refresh_at (None | str | Unset): Last successful refresh.
    """

    auth_mode: str
    created_at: str
    end_user_id: str
    id: str
    integration: str
    missing_scopes: list[str]
    provider: str
    scopes: list[str]
    settings: ConnectionBodySettings
    status: str
    updated_at: str
    expires_at: None | str | Unset = UNSET
    health_checked_at: None | str | Unset = UNSET
    health_detail: None | str | Unset = UNSET
    health_result: None | str | Unset = UNSET
    last_error: None | str | Unset = UNSET
    last_refresh_at: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        auth_mode = self.auth_mode

        created_at = self.created_at

        end_user_id = self.end_user_id

        id = self.id

        integration = self.integration

        missing_scopes = self.missing_scopes

        provider = self.provider

        scopes = self.scopes

        settings = self.settings.to_dict()

        status = self.status

        updated_at = self.updated_at

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        else:
            expires_at = self.expires_at

        health_checked_at: None | str | Unset
        if isinstance(self.health_checked_at, Unset):
            health_checked_at = UNSET
        else:
            health_checked_at = self.health_checked_at

        health_detail: None | str | Unset
        if isinstance(self.health_detail, Unset):
            health_detail = UNSET
        else:
            health_detail = self.health_detail

        health_result: None | str | Unset
        if isinstance(self.health_result, Unset):
            health_result = UNSET
        else:
            health_result = self.health_result

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        last_refresh_at: None | str | Unset
        if isinstance(self.last_refresh_at, Unset):
            last_refresh_at = UNSET
        else:
            last_refresh_at = self.last_refresh_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "auth_mode": auth_mode,
                "created_at": created_at,
                "end_user_id": end_user_id,
                "id": id,
                "integration": integration,
                "missing_scopes": missing_scopes,
                "provider": provider,
                "scopes": scopes,
                "settings": settings,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if health_checked_at is not UNSET:
            field_dict["health_checked_at"] = health_checked_at
        if health_detail is not UNSET:
            field_dict["health_detail"] = health_detail
        if health_result is not UNSET:
            field_dict["health_result"] = health_result
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if last_refresh_at is not UNSET:
            field_dict["last_refresh_at"] = last_refresh_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connection_body_settings import ConnectionBodySettings

        d = dict(src_dict)
        auth_mode = d.pop("auth_mode")

        created_at = d.pop("created_at")

        end_user_id = d.pop("end_user_id")

        id = d.pop("id")

        integration = d.pop("integration")

        missing_scopes = cast(list[str], d.pop("missing_scopes"))

        provider = d.pop("provider")

        scopes = cast(list[str], d.pop("scopes"))

        settings = ConnectionBodySettings.from_dict(d.pop("settings"))

        status = d.pop("status")

        updated_at = d.pop("updated_at")

        def _parse_expires_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        def _parse_health_checked_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        health_checked_at = _parse_health_checked_at(d.pop("health_checked_at", UNSET))

        def _parse_health_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        health_detail = _parse_health_detail(d.pop("health_detail", UNSET))

        def _parse_health_result(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        health_result = _parse_health_result(d.pop("health_result", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        def _parse_last_refresh_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_refresh_at = _parse_last_refresh_at(d.pop("last_refresh_at", UNSET))

        connection_body = cls(
            auth_mode=auth_mode,
            created_at=created_at,
            end_user_id=end_user_id,
            id=id,
            integration=integration,
            missing_scopes=missing_scopes,
            provider=provider,
            scopes=scopes,
            settings=settings,
            status=status,
            updated_at=updated_at,
            expires_at=expires_at,
            health_checked_at=health_checked_at,
            health_detail=health_detail,
            health_result=health_result,
            last_error=last_error,
            last_refresh_at=last_refresh_at,
        )

        connection_body.additional_properties = d
        return connection_body

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
