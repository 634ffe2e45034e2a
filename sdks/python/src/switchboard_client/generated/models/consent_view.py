from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ConsentView")


@_attrs_define
class ConsentView:
    """One change of a connection's consent.

    Attributes:
        at (datetime.datetime): When.
        id (str): `cns_…`.
        integration (str): The integration.
        kind (str): `connect`, `reconnect`, `scope_loss`, `revoke` or `erasure`.
        scopes_granted (list[str]): Scopes granted after the change.
        scopes_requested (list[str]): Scopes asked for.
        connect_session (None | str | Unset): The connect session (a reference, never its token).
        connection_id (None | str | Unset): The connection.
        return_origin (None | str | Unset): The origin the browser returned to.
    """

    at: datetime.datetime
    id: str
    integration: str
    kind: str
    scopes_granted: list[str]
    scopes_requested: list[str]
    connect_session: None | str | Unset = UNSET
    connection_id: None | str | Unset = UNSET
    return_origin: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        at = self.at.isoformat()

        id = self.id

        integration = self.integration

        kind = self.kind

        scopes_granted = self.scopes_granted

        scopes_requested = self.scopes_requested

        connect_session: None | str | Unset
        if isinstance(self.connect_session, Unset):
            connect_session = UNSET
        else:
            connect_session = self.connect_session

        connection_id: None | str | Unset
        if isinstance(self.connection_id, Unset):
            connection_id = UNSET
        else:
            connection_id = self.connection_id

        return_origin: None | str | Unset
        if isinstance(self.return_origin, Unset):
            return_origin = UNSET
        else:
            return_origin = self.return_origin

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "at": at,
                "id": id,
                "integration": integration,
                "kind": kind,
                "scopes_granted": scopes_granted,
                "scopes_requested": scopes_requested,
            }
        )
        if connect_session is not UNSET:
            field_dict["connect_session"] = connect_session
        if connection_id is not UNSET:
            field_dict["connection_id"] = connection_id
        if return_origin is not UNSET:
            field_dict["return_origin"] = return_origin

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        at = datetime.datetime.fromisoformat(d.pop("at"))

        id = d.pop("id")

        integration = d.pop("integration")

        kind = d.pop("kind")

        scopes_granted = cast(list[str], d.pop("scopes_granted"))

        scopes_requested = cast(list[str], d.pop("scopes_requested"))

        def _parse_connect_session(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        connect_session = _parse_connect_session(d.pop("connect_session", UNSET))

        def _parse_connection_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        connection_id = _parse_connection_id(d.pop("connection_id", UNSET))

        def _parse_return_origin(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        return_origin = _parse_return_origin(d.pop("return_origin", UNSET))

        consent_view = cls(
            at=at,
            id=id,
            integration=integration,
            kind=kind,
            scopes_granted=scopes_granted,
            scopes_requested=scopes_requested,
            connect_session=connect_session,
            connection_id=connection_id,
            return_origin=return_origin,
        )

        consent_view.additional_properties = d
        return consent_view

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
