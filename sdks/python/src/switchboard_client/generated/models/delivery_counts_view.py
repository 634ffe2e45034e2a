from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="DeliveryCountsView")


@_attrs_define
class DeliveryCountsView:
    """An event's deliveries by state.

    Attributes:
        dead (int): Dead (replay revives them).
        delivered (int): Delivered.
        in_flight (int): Being sent.
        pending (int): Waiting for an attempt.
    """

    dead: int
    delivered: int
    in_flight: int
    pending: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dead = self.dead

        delivered = self.delivered

        in_flight = self.in_flight

        pending = self.pending

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dead": dead,
                "delivered": delivered,
                "in_flight": in_flight,
                "pending": pending,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        dead = d.pop("dead")

        delivered = d.pop("delivered")

        in_flight = d.pop("in_flight")

        pending = d.pop("pending")

        delivery_counts_view = cls(
            dead=dead,
            delivered=delivered,
            in_flight=in_flight,
            pending=pending,
        )

        delivery_counts_view.additional_properties = d
        return delivery_counts_view

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
