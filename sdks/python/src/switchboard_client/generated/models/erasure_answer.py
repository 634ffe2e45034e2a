from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.erased_connection_view import ErasedConnectionView
    from ..models.erasure_counts_view import ErasureCountsView


T = TypeVar("T", bound="ErasureAnswer")


@_attrs_define
class ErasureAnswer:
    """The answer to an erasure.

    Attributes:
        already_erased (bool): Erased before, nothing left: nothing was done.
        connections (list[ErasedConnectionView]): The connections taken.
        counts (ErasureCountsView): What an erasure removed (would remove).
        dry_run (bool): Whether nothing was changed.
        subject_hash (str): The deployment's keyed hash of the end user id, which the audit row keeps.
    """

    already_erased: bool
    connections: list[ErasedConnectionView]
    counts: ErasureCountsView
    dry_run: bool
    subject_hash: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        already_erased = self.already_erased

        connections = []
        for connections_item_data in self.connections:
            connections_item = connections_item_data.to_dict()
            connections.append(connections_item)

        counts = self.counts.to_dict()

        dry_run = self.dry_run

        subject_hash = self.subject_hash

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "already_erased": already_erased,
                "connections": connections,
                "counts": counts,
                "dry_run": dry_run,
                "subject_hash": subject_hash,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.erased_connection_view import ErasedConnectionView
        from ..models.erasure_counts_view import ErasureCountsView

        d = dict(src_dict)
        already_erased = d.pop("already_erased")

        connections = []
        _connections = d.pop("connections")
        for connections_item_data in _connections:
            connections_item = ErasedConnectionView.from_dict(connections_item_data)

            connections.append(connections_item)

        counts = ErasureCountsView.from_dict(d.pop("counts"))

        dry_run = d.pop("dry_run")

        subject_hash = d.pop("subject_hash")

        erasure_answer = cls(
            already_erased=already_erased,
            connections=connections,
            counts=counts,
            dry_run=dry_run,
            subject_hash=subject_hash,
        )

        erasure_answer.additional_properties = d
        return erasure_answer

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
