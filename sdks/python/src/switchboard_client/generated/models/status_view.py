from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.integration_health_view import IntegrationHealthView
    from ..models.readiness_view import ReadinessView
    from ..models.thresholds_view import ThresholdsView


T = TypeVar("T", bound="StatusView")


@_attrs_define
class StatusView:
    """The deployment's health.

    Attributes:
        attention (bool): Whether something needs a person (`switchboard status` then exits 1).
        generated_at (datetime.datetime): When this was computed.
        integrations (list[IntegrationHealthView]): Per configured integration, in configuration order.
        ready (ReadinessView): The server's own readiness.
        reasons (list[str]): Every reason something needs a person, prefixed with its integration.
        security_findings (int): Open findings of the security self-audit.
        thresholds (ThresholdsView): The thresholds in force (README, "Status thresholds").
        version (str): The server's version.
    """

    attention: bool
    generated_at: datetime.datetime
    integrations: list[IntegrationHealthView]
    ready: ReadinessView
    reasons: list[str]
    security_findings: int
    thresholds: ThresholdsView
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attention = self.attention

        generated_at = self.generated_at.isoformat()

        integrations = []
        for integrations_item_data in self.integrations:
            integrations_item = integrations_item_data.to_dict()
            integrations.append(integrations_item)

        ready = self.ready.to_dict()

        reasons = self.reasons

        security_findings = self.security_findings

        thresholds = self.thresholds.to_dict()

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attention": attention,
                "generated_at": generated_at,
                "integrations": integrations,
                "ready": ready,
                "reasons": reasons,
                "security_findings": security_findings,
                "thresholds": thresholds,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.integration_health_view import IntegrationHealthView
        from ..models.readiness_view import ReadinessView
        from ..models.thresholds_view import ThresholdsView

        d = dict(src_dict)
        attention = d.pop("attention")

        generated_at = datetime.datetime.fromisoformat(d.pop("generated_at"))

        integrations = []
        _integrations = d.pop("integrations")
        for integrations_item_data in _integrations:
            integrations_item = IntegrationHealthView.from_dict(integrations_item_data)

            integrations.append(integrations_item)

        ready = ReadinessView.from_dict(d.pop("ready"))

        reasons = cast(list[str], d.pop("reasons"))

        security_findings = d.pop("security_findings")

        thresholds = ThresholdsView.from_dict(d.pop("thresholds"))

        version = d.pop("version")

        status_view = cls(
            attention=attention,
            generated_at=generated_at,
            integrations=integrations,
            ready=ready,
            reasons=reasons,
            security_findings=security_findings,
            thresholds=thresholds,
            version=version,
        )

        status_view.additional_properties = d
        return status_view

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
