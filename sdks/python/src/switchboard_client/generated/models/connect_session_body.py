from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.end_user_body import EndUserBody


T = TypeVar("T", bound="ConnectSessionBody")


@_attrs_define
class ConnectSessionBody:
    """`POST /api/connect-sessions`.

    Example:
        {'end_user': {'id': 'u42'}, 'integrations': ['acme']}

    Attributes:
        end_user (EndUserBody): The end user of a connect session.
        integrations (list[str]): Integrations the user may connect.
        connection_id (None | str | Unset): The connection id to create (generated when absent).
        opener_origin (None | str | Unset): The opener window's origin for a `postMessage` result.
        return_to (None | str | Unset): Where the browser goes at the end (its origin must be allowed).
    """

    end_user: EndUserBody
    integrations: list[str]
    connection_id: None | str | Unset = UNSET
    opener_origin: None | str | Unset = UNSET
    return_to: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        end_user = self.end_user.to_dict()

        integrations = self.integrations

        connection_id: None | str | Unset
        if isinstance(self.connection_id, Unset):
            connection_id = UNSET
        else:
            connection_id = self.connection_id

        opener_origin: None | str | Unset
        if isinstance(self.opener_origin, Unset):
            opener_origin = UNSET
        else:
            opener_origin = self.opener_origin

        return_to: None | str | Unset
        if isinstance(self.return_to, Unset):
            return_to = UNSET
        else:
            return_to = self.return_to

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "end_user": end_user,
                "integrations": integrations,
            }
        )
        if connection_id is not UNSET:
            field_dict["connection_id"] = connection_id
        if opener_origin is not UNSET:
            field_dict["opener_origin"] = opener_origin
        if return_to is not UNSET:
            field_dict["return_to"] = return_to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.end_user_body import EndUserBody

        d = dict(src_dict)
        end_user = EndUserBody.from_dict(d.pop("end_user"))

        integrations = cast(list[str], d.pop("integrations"))

        def _parse_connection_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        connection_id = _parse_connection_id(d.pop("connection_id", UNSET))

        def _parse_opener_origin(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        opener_origin = _parse_opener_origin(d.pop("opener_origin", UNSET))

        def _parse_return_to(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        return_to = _parse_return_to(d.pop("return_to", UNSET))

        connect_session_body = cls(
            end_user=end_user,
            integrations=integrations,
            connection_id=connection_id,
            opener_origin=opener_origin,
            return_to=return_to,
        )

        return connect_session_body
