from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.chain_break_type_0 import ChainBreakType0, check_chain_break_type_0
from ..models.chain_break_type_1 import ChainBreakType1, check_chain_break_type_1
from ..models.chain_break_type_4 import ChainBreakType4, check_chain_break_type_4
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.chain_break_gap import ChainBreakGap
    from ..models.chain_break_truncated import ChainBreakTruncated


T = TypeVar("T", bound="VerifyResult")


@_attrs_define
class VerifyResult:
    """Result of verifying the audit chain.

    Attributes:
        ok (bool): Whether the chain is intact.
        rows_checked (int): Rows read.
        first_bad_seq (int | None | Unset): Sequence number of the first bad row.
        problem (ChainBreakGap | ChainBreakTruncated | ChainBreakType0 | ChainBreakType1 | ChainBreakType4 | None |
            Unset):
    """

    ok: bool
    rows_checked: int
    first_bad_seq: int | None | Unset = UNSET
    problem: (
        ChainBreakGap
        | ChainBreakTruncated
        | ChainBreakType0
        | ChainBreakType1
        | ChainBreakType4
        | None
        | Unset
    ) = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.chain_break_gap import ChainBreakGap
        from ..models.chain_break_truncated import ChainBreakTruncated

        ok = self.ok

        rows_checked = self.rows_checked

        first_bad_seq: int | None | Unset
        if isinstance(self.first_bad_seq, Unset):
            first_bad_seq = UNSET
        else:
            first_bad_seq = self.first_bad_seq

        problem: dict[str, Any] | None | str | Unset
        if isinstance(self.problem, Unset):
            problem = UNSET
        elif isinstance(self.problem, str) or isinstance(self.problem, str):
            problem = self.problem
        elif isinstance(self.problem, ChainBreakGap) or isinstance(
            self.problem, ChainBreakTruncated
        ):
            problem = self.problem.to_dict()
        elif isinstance(self.problem, str):
            problem = self.problem
        else:
            problem = self.problem

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "ok": ok,
                "rows_checked": rows_checked,
            }
        )
        if first_bad_seq is not UNSET:
            field_dict["first_bad_seq"] = first_bad_seq
        if problem is not UNSET:
            field_dict["problem"] = problem

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.chain_break_gap import ChainBreakGap
        from ..models.chain_break_truncated import ChainBreakTruncated

        d = dict(src_dict)
        ok = d.pop("ok")

        rows_checked = d.pop("rows_checked")

        def _parse_first_bad_seq(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        first_bad_seq = _parse_first_bad_seq(d.pop("first_bad_seq", UNSET))

        def _parse_problem(
            data: object,
        ) -> (
            ChainBreakGap
            | ChainBreakTruncated
            | ChainBreakType0
            | ChainBreakType1
            | ChainBreakType4
            | None
            | Unset
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_chain_break_type_0 = check_chain_break_type_0(data)

                return componentsschemas_chain_break_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_chain_break_type_1 = check_chain_break_type_1(data)

                return componentsschemas_chain_break_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_chain_break_type_2 = ChainBreakGap.from_dict(data)

                return componentsschemas_chain_break_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_chain_break_type_3 = ChainBreakTruncated.from_dict(
                    data
                )

                return componentsschemas_chain_break_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                componentsschemas_chain_break_type_4 = check_chain_break_type_4(data)

                return componentsschemas_chain_break_type_4
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                ChainBreakGap
                | ChainBreakTruncated
                | ChainBreakType0
                | ChainBreakType1
                | ChainBreakType4
                | None
                | Unset,
                data,
            )

        problem = _parse_problem(d.pop("problem", UNSET))

        verify_result = cls(
            ok=ok,
            rows_checked=rows_checked,
            first_bad_seq=first_bad_seq,
            problem=problem,
        )

        verify_result.additional_properties = d
        return verify_result

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
