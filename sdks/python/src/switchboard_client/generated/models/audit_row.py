from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="AuditRow")


@_attrs_define
class AuditRow:
    """One audit row.

    Attributes:
        action (str): What, e.g. `api_key.create`.
        actor (str): Who: `api-key:<id>`, `cli:<user>`, `system`, `signal:SIGHUP`.
        at (datetime.datetime): When.
        details (Any): Extra facts (never secrets): any JSON, usually an object.
        hash_ (str): Hash of this row.
        prev_hash (str): Hash of the previous row.
        seq (int): Position in the chain, from 1.
        target (str): On what.
    """

    action: str
    actor: str
    at: datetime.datetime
    details: Any
    hash_: str
    prev_hash: str
    seq: int
    target: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor = self.actor

        at = self.at.isoformat()

        details = self.details

        hash_ = self.hash_

        prev_hash = self.prev_hash

        seq = self.seq

        target = self.target

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor": actor,
                "at": at,
                "details": details,
                "hash": hash_,
                "prev_hash": prev_hash,
                "seq": seq,
                "target": target,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        action = d.pop("action")

        actor = d.pop("actor")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        details = d.pop("details")

        hash_ = d.pop("hash")

        prev_hash = d.pop("prev_hash")

        seq = d.pop("seq")

        target = d.pop("target")

        audit_row = cls(
            action=action,
            actor=actor,
            at=at,
            details=details,
            hash_=hash_,
            prev_hash=prev_hash,
            seq=seq,
            target=target,
        )

        audit_row.additional_properties = d
        return audit_row

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
