from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="DisconnectResult")


@_attrs_define
class DisconnectResult:
    """The result of a disconnect.

    Attributes:
        deleted (bool): The credentials were deleted.
        revoked_at_provider (bool): The provider confirmed the revocation.
        provider_error (None | str | Unset): Why the provider did not confirm.
    """

    deleted: bool
    revoked_at_provider: bool
    provider_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        deleted = self.deleted

        revoked_at_provider = self.revoked_at_provider

        provider_error: None | str | Unset
        if isinstance(self.provider_error, Unset):
            provider_error = UNSET
        else:
            provider_error = self.provider_error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "deleted": deleted,
                "revoked_at_provider": revoked_at_provider,
            }
        )
        if provider_error is not UNSET:
            field_dict["provider_error"] = provider_error

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        deleted = d.pop("deleted")

        revoked_at_provider = d.pop("revoked_at_provider")

        def _parse_provider_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        provider_error = _parse_provider_error(d.pop("provider_error", UNSET))

        disconnect_result = cls(
            deleted=deleted,
            revoked_at_provider=revoked_at_provider,
            provider_error=provider_error,
        )

        disconnect_result.additional_properties = d
        return disconnect_result

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
