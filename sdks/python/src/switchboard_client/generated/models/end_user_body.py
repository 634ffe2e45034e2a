from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="EndUserBody")


@_attrs_define
class EndUserBody:
    """The end user of a connect session.

    Attributes:
        id (str): The app's id of the user, e.g. `u42`: 1 to 256 characters, no control characters.
    """

    id: str

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        end_user_body = cls(
            id=id,
        )

        return end_user_body
