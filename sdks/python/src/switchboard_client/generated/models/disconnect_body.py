from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="DisconnectBody")


@_attrs_define
class DisconnectBody:
    """Body of a disconnect.

    Attributes:
        connection_id (str): The connection to disconnect.
    """

    connection_id: str

    def to_dict(self) -> dict[str, Any]:
        connection_id = self.connection_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "connection_id": connection_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        connection_id = d.pop("connection_id")

        disconnect_body = cls(
            connection_id=connection_id,
        )

        return disconnect_body
