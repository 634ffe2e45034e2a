"""switchboard-client: a typed client of Switchboard's HTTP API.

``Switchboard`` / ``AsyncSwitchboard`` are the thin layer for an app backend's common
path (connect sessions, connections and tokens, the proxy, events and replay,
disconnect); ``switchboard_client.api`` and ``switchboard_client.models`` are the code
generated from the server's ``/openapi.json`` (openapi-python-client) for every route.
"""

from ._client import AsyncProxy, AsyncSwitchboard, Proxy, Switchboard, ok
from . import models
from .generated import api
from .generated.client import AuthenticatedClient
from .errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SwitchboardError,
    error_for,
)

__all__ = [
    "AsyncProxy",
    "AsyncSwitchboard",
    "AuthenticatedClient",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "Proxy",
    "RateLimitError",
    "ServerError",
    "Switchboard",
    "SwitchboardError",
    "api",
    "error_for",
    "models",
    "ok",
]
