from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ErasedConnectionView")


@_attrs_define
class ErasedConnectionView:
    """A connection an erasure takes.

    Attributes:
        id (str): Its id.
        integration (str): Its integration.
        revoked_at_provider (bool): Whether the provider confirmed the revocation.
    """

    id: str
    integration: str
    revoked_at_provider: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        integration = self.integration

        revoked_at_provider = self.revoked_at_provider

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "integration": integration,
                "revoked_at_provider": revoked_at_provider,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        integration = d.pop("integration")

        revoked_at_provider = d.pop("revoked_at_provider")

        erased_connection_view = cls(
            id=id,
            integration=integration,
            revoked_at_provider=revoked_at_provider,
        )

        erased_connection_view.additional_properties = d
        return erased_connection_view

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
