from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CredentialsBody")


@_attrs_define
class CredentialsBody:
    """Credentials of an API-key or basic connection, or a service account's own key.

    Attributes:
        api_key (None | str | Unset): The API key (`api_key` providers).
        client_id (None | str | Unset): The issuer (`iss`) of the connection's own key, where its key file does not name
            it (a connected app's consumer key, an integration key); default: the
            integration's `client_id`.
        password (None | str | Unset): Password (`basic` providers).
        private_key (None | str | Unset): The connection's own private key (`jwt_bearer` providers), signing its
            assertions
            instead of the integration's `private_key`: an RSA PEM (PKCS#1 or PKCS#8), or
            Google's service-account key file (JSON) as downloaded, which also gives the
            issuer (`client_email`) and key id (`private_key_id`). At most 16 KiB; checked
            (parsed, made to sign, and tried at the token endpoint) before anything is
            stored, sealed, and never returned.
        private_key_id (None | str | Unset): The key id (`kid`) of the connection's own key, where its key file does not
            name
            it.
        username (None | str | Unset): User name (`basic` providers without a fixed one).
    """

    api_key: None | str | Unset = UNSET
    client_id: None | str | Unset = UNSET
    password: None | str | Unset = UNSET
    private_key: None | str | Unset = UNSET
    private_key_id: None | str | Unset = UNSET
    username: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        api_key: None | str | Unset
        if isinstance(self.api_key, Unset):
            api_key = UNSET
        else:
            api_key = self.api_key

        client_id: None | str | Unset
        if isinstance(self.client_id, Unset):
            client_id = UNSET
        else:
            client_id = self.client_id

        password: None | str | Unset
        if isinstance(self.password, Unset):
            password = UNSET
        else:
            password = self.password

        private_key: None | str | Unset
        if isinstance(self.private_key, Unset):
            private_key = UNSET
        else:
            private_key = self.private_key

        private_key_id: None | str | Unset
        if isinstance(self.private_key_id, Unset):
            private_key_id = UNSET
        else:
            private_key_id = self.private_key_id

        username: None | str | Unset
        if isinstance(self.username, Unset):
            username = UNSET
        else:
            username = self.username

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if api_key is not UNSET:
            field_dict["api_key"] = api_key
        if client_id is not UNSET:
            field_dict["client_id"] = client_id
        if password is not UNSET:
            field_dict["password"] = password
        if private_key is not UNSET:
            field_dict["private_key"] = private_key
        if private_key_id is not UNSET:
            field_dict["private_key_id"] = private_key_id
        if username is not UNSET:
            field_dict["username"] = username

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_api_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        api_key = _parse_api_key(d.pop("api_key", UNSET))

        def _parse_client_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_id = _parse_client_id(d.pop("client_id", UNSET))

        def _parse_password(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        password = _parse_password(d.pop("password", UNSET))

        def _parse_private_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        private_key = _parse_private_key(d.pop("private_key", UNSET))

        def _parse_private_key_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        private_key_id = _parse_private_key_id(d.pop("private_key_id", UNSET))

        def _parse_username(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        username = _parse_username(d.pop("username", UNSET))

        credentials_body = cls(
            api_key=api_key,
            client_id=client_id,
            password=password,
            private_key=private_key,
            private_key_id=private_key_id,
            username=username,
        )

        return credentials_body
