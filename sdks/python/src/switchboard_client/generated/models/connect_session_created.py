from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ConnectSessionCreated")


@_attrs_define
class ConnectSessionCreated:
    """A created connect session.

    Attributes:
        connect_url (str): The Connect page for this session.
        expires_at (str): When it stops working (RFC 3339).
        token (str): The session token; give it to the browser.
    """

    connect_url: str
    expires_at: str
    token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        connect_url = self.connect_url

        expires_at = self.expires_at

        token = self.token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "connect_url": connect_url,
                "expires_at": expires_at,
                "token": token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        connect_url = d.pop("connect_url")

        expires_at = d.pop("expires_at")

        token = d.pop("token")

        connect_session_created = cls(
            connect_url=connect_url,
            expires_at=expires_at,
            token=token,
        )

        connect_session_created.additional_properties = d
        return connect_session_created

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
