from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.chain_break_truncated_truncated import ChainBreakTruncatedTruncated


T = TypeVar("T", bound="ChainBreakTruncated")


@_attrs_define
class ChainBreakTruncated:
    """The chain ends before the recorded head: the newest rows were deleted.

    Attributes:
        truncated (ChainBreakTruncatedTruncated): The chain ends before the recorded head: the newest rows were deleted.
    """

    truncated: ChainBreakTruncatedTruncated
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        truncated = self.truncated.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "truncated": truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.chain_break_truncated_truncated import (
            ChainBreakTruncatedTruncated,
        )

        d = dict(src_dict)
        truncated = ChainBreakTruncatedTruncated.from_dict(d.pop("truncated"))

        chain_break_truncated = cls(
            truncated=truncated,
        )

        chain_break_truncated.additional_properties = d
        return chain_break_truncated

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
