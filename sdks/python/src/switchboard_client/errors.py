"""Errors of Switchboard's API, typed from its JSON error shape
``{"error": {"code", "message"}}`` and the HTTP status."""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "SwitchboardError",
    "error_for",
]


class SwitchboardError(Exception):
    """An error answer of Switchboard's API (never a provider's answer through the proxy).

    ``status`` is the HTTP status, ``code`` the stable machine-readable code
    (``needs_reauth``, ``not_found``, …), ``message`` what went wrong and what to do, and
    ``request_id`` the server's ``x-request-id``.
    """

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def needs_reauth(self) -> bool:
        """The connection needs its user again: send them through a new connect session."""
        return self.code in ("needs_reauth", "revoked")

    @property
    def retryable(self) -> bool:
        """Worth retrying later (rate limited, provider or server unavailable)."""
        return self.status in (429, 502, 503, 504)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class InvalidRequestError(SwitchboardError):
    """400 or 422: the request was refused as it is; ``message`` says what to change."""


class AuthenticationError(SwitchboardError):
    """401: no API key, an unknown one or a revoked one."""


class PermissionDeniedError(SwitchboardError):
    """403: the key's scope does not allow this (an ``app`` key on an admin route)."""


class NotFoundError(SwitchboardError):
    """404: no such connection, event, integration, …"""


class ConflictError(SwitchboardError):
    """409: a conflict; ``code`` is ``needs_reauth`` or ``revoked`` for a connection that
    needs its user."""


class RateLimitError(SwitchboardError):
    """429: rate limited; retry after a while."""


class ServerError(SwitchboardError):
    """5xx: the server, the provider or the database is unavailable; retry later."""


def _class_for(status: int) -> type[SwitchboardError]:
    if status in (400, 413, 415, 422):
        return InvalidRequestError
    if status >= 500:
        return ServerError
    return {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        429: RateLimitError,
    }.get(status, SwitchboardError)


def error_for(status: int, content: bytes, headers: Mapping[str, str] | None = None) -> SwitchboardError:
    """The typed error for a non-2xx answer with body ``content``."""
    code = f"http_{status}"
    message = f"HTTP {status}"
    try:
        body = json.loads(content)
    except ValueError:
        body = None
        text = content[:200].decode("utf-8", "replace")
        if text:
            message = f"HTTP {status}: {text}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
    request_id = headers.get("x-request-id") if headers is not None else None
    return _class_for(status)(status, code, message, request_id)
