from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ChecklistItemView")


@_attrs_define
class ChecklistItemView:
    """One item of the launch checklist.

    Attributes:
        attention (bool): Needs a person.
        check (str): `oauth_tested`, `webhook_secret`, `webhook_verified`, `destinations`, `mappings`
            or `security_findings`.
        detail (str): What was found.
        required (bool): A missing item needs a person once the integration is live.
        state (str): `ok`, `missing` or `not_applicable`.
    """

    attention: bool
    check: str
    detail: str
    required: bool
    state: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        check = self.check

        detail = self.detail

        required = self.required

        state = self.state

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attention": attention,
                "check": check,
                "detail": detail,
                "required": required,
                "state": state,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        attention = d.pop("attention")

        check = d.pop("check")

        detail = d.pop("detail")

        required = d.pop("required")

        state = d.pop("state")

        checklist_item_view = cls(
            attention=attention,
            check=check,
            detail=detail,
            required=required,
            state=state,
        )

        checklist_item_view.additional_properties = d
        return checklist_item_view

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
