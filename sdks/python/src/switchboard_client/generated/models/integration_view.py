from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IntegrationView")


@_attrs_define
class IntegrationView:
    """A configured integration.

    Attributes:
        accepts_webhooks (bool): Whether it has webhook secrets configured.
        disabled (bool): Webhook intake switched off.
        id (str): Its id.
        provider (str): Its provider.
        webhooks_blocked (bool): Webhook intake blocked.
    """

    accepts_webhooks: bool
    disabled: bool
    id: str
    provider: str
    webhooks_blocked: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        accepts_webhooks = self.accepts_webhooks

        disabled = self.disabled

        id = self.id

        provider = self.provider

        webhooks_blocked = self.webhooks_blocked

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "accepts_webhooks": accepts_webhooks,
                "disabled": disabled,
                "id": id,
                "provider": provider,
                "webhooks_blocked": webhooks_blocked,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        accepts_webhooks = d.pop("accepts_webhooks")

        disabled = d.pop("disabled")

        id = d.pop("id")

        provider = d.pop("provider")

        webhooks_blocked = d.pop("webhooks_blocked")

        integration_view = cls(
            accepts_webhooks=accepts_webhooks,
            disabled=disabled,
            id=id,
            provider=provider,
            webhooks_blocked=webhooks_blocked,
        )

        integration_view.additional_properties = d
        return integration_view

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
