from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="CreateApiKey")


@_attrs_define
class CreateApiKey:
    """Request to create an API key.

    Attributes:
        name (str): Name: 1 to 64 letters, digits, spaces, `-`, `_`, `.` (surrounding blanks are
            trimmed).
        scope (str): `admin` or `app`. Example: app.
    """

    name: str
    scope: str

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        scope = self.scope

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "scope": scope,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name")

        scope = d.pop("scope")

        create_api_key = cls(
            name=name,
            scope=scope,
        )

        return create_api_key
