from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.chain_break_gap_gap import ChainBreakGapGap


T = TypeVar("T", bound="ChainBreakGap")


@_attrs_define
class ChainBreakGap:
    """Sequence numbers skip: rows were deleted.

    Attributes:
        gap (ChainBreakGapGap): Sequence numbers skip: rows were deleted.
    """

    gap: ChainBreakGapGap
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        gap = self.gap.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "gap": gap,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.chain_break_gap_gap import ChainBreakGapGap

        d = dict(src_dict)
        gap = ChainBreakGapGap.from_dict(d.pop("gap"))

        chain_break_gap = cls(
            gap=gap,
        )

        chain_break_gap.additional_properties = d
        return chain_break_gap

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
