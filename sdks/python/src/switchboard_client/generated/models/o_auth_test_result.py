from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.o_auth_test_check import OAuthTestCheck


T = TypeVar("T", bound="OAuthTestResult")


@_attrs_define
class OAuthTestResult:
    """What `oauth-test` found.

    Attributes:
        checks (list[OAuthTestCheck]): The checks, in the order they ran.
        integration (str): The integration.
        ok (bool): Whether every check passed.
    """

    checks: list[OAuthTestCheck]
    integration: str
    ok: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checks = []
        for checks_item_data in self.checks:
            checks_item = checks_item_data.to_dict()
            checks.append(checks_item)

        integration = self.integration

        ok = self.ok

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checks": checks,
                "integration": integration,
                "ok": ok,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.o_auth_test_check import OAuthTestCheck

        d = dict(src_dict)
        checks = []
        _checks = d.pop("checks")
        for checks_item_data in _checks:
            checks_item = OAuthTestCheck.from_dict(checks_item_data)

            checks.append(checks_item)

        integration = d.pop("integration")

        ok = d.pop("ok")

        o_auth_test_result = cls(
            checks=checks,
            integration=integration,
            ok=ok,
        )

        o_auth_test_result.additional_properties = d
        return o_auth_test_result

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
