from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.attempt_view import AttemptView


T = TypeVar("T", bound="DeliveryView")


@_attrs_define
class DeliveryView:
    """One delivery of an event to a destination.

    Attributes:
        attempt_history (list[AttemptView]): Its recorded attempts, oldest first (empty once the event's payload was
            removed).
        attempts (int): Attempts so far.
        created_at (datetime.datetime): When it was enqueued.
        destination (str): The destination.
        id (str): `dlv_…`, also the `webhook-id` the destination sees.
        next_attempt_at (datetime.datetime): When the next attempt is due.
        status (str): `pending`, `in_flight`, `delivered` or `dead`.
        delivered_at (datetime.datetime | None | Unset): When it was delivered.
        last_error (None | str | Unset): What went wrong in the last attempt.
        last_status (int | None | Unset): HTTP status of the last attempt.
    """

    attempt_history: list[AttemptView]
    attempts: int
    created_at: datetime.datetime
    destination: str
    id: str
    next_attempt_at: datetime.datetime
    status: str
    delivered_at: datetime.datetime | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    last_status: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempt_history = []
        for attempt_history_item_data in self.attempt_history:
            attempt_history_item = attempt_history_item_data.to_dict()
            attempt_history.append(attempt_history_item)

        attempts = self.attempts

        created_at = self.created_at.isoformat()

        destination = self.destination

        id = self.id

        next_attempt_at = self.next_attempt_at.isoformat()

        status = self.status

        delivered_at: None | str | Unset
        if isinstance(self.delivered_at, Unset):
            delivered_at = UNSET
        elif isinstance(self.delivered_at, datetime.datetime):
            delivered_at = self.delivered_at.isoformat()
        else:
            delivered_at = self.delivered_at

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        last_status: int | None | Unset
        if isinstance(self.last_status, Unset):
            last_status = UNSET
        else:
            last_status = self.last_status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempt_history": attempt_history,
                "attempts": attempts,
                "created_at": created_at,
                "destination": destination,
                "id": id,
                "next_attempt_at": next_attempt_at,
                "status": status,
            }
        )
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if last_status is not UNSET:
            field_dict["last_status"] = last_status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.attempt_view import AttemptView

        d = dict(src_dict)
        attempt_history = []
        _attempt_history = d.pop("attempt_history")
        for attempt_history_item_data in _attempt_history:
            attempt_history_item = AttemptView.from_dict(attempt_history_item_data)

            attempt_history.append(attempt_history_item)

        attempts = d.pop("attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        destination = d.pop("destination")

        id = d.pop("id")

        next_attempt_at = datetime.datetime.fromisoformat(d.pop("next_attempt_at"))

        status = d.pop("status")

        def _parse_delivered_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                delivered_at_type_0 = datetime.datetime.fromisoformat(data)

                return delivered_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        def _parse_last_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        last_status = _parse_last_status(d.pop("last_status", UNSET))

        delivery_view = cls(
            attempt_history=attempt_history,
            attempts=attempts,
            created_at=created_at,
            destination=destination,
            id=id,
            next_attempt_at=next_attempt_at,
            status=status,
            delivered_at=delivered_at,
            last_error=last_error,
            last_status=last_status,
        )

        delivery_view.additional_properties = d
        return delivery_view

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
