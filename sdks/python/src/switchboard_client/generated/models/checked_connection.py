from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.connection_body import ConnectionBody


T = TypeVar("T", bound="CheckedConnection")


@_attrs_define
class CheckedConnection:
    """What a credential check found (`POST /api/connections/{id}/check`).

    Attributes:
        checked_at (str): When the check ended.
        connection (ConnectionBody): A connection (never secrets).
        missing_scopes (list[str]): On `forbidden`: the scopes the check request needs (by the catalog) that the
            connection was not granted; empty when none are known to be missing.
        result (str): `ok`, `rejected` (401 after a refresh: now `needs_reauth`), `forbidden` (403: the
            connection stays active), `unavailable` or `error`; see `health_result` of a
            connection.
        status (str): The connection's status after the check.
        detail (None | str | Unset): The provider's status and message (redacted, capped), or the error.
    """

    checked_at: str
    connection: ConnectionBody
    missing_scopes: list[str]
    result: str
    status: str
    detail: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        checked_at = self.checked_at

        connection = self.connection.to_dict()

        missing_scopes = self.missing_scopes

        result = self.result

        status = self.status

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "checked_at": checked_at,
                "connection": connection,
                "missing_scopes": missing_scopes,
                "result": result,
                "status": status,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.connection_body import ConnectionBody

        d = dict(src_dict)
        checked_at = d.pop("checked_at")

        connection = ConnectionBody.from_dict(d.pop("connection"))

        missing_scopes = cast(list[str], d.pop("missing_scopes"))

        result = d.pop("result")

        status = d.pop("status")

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        checked_connection = cls(
            checked_at=checked_at,
            connection=connection,
            missing_scopes=missing_scopes,
            result=result,
            status=status,
            detail=detail,
        )

        checked_connection.additional_properties = d
        return checked_connection

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
