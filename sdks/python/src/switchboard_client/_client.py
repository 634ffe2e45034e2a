"""The thin layer over the generated client: an app backend's common path, one call each,
returning the answer's model or raising a typed :class:`SwitchboardError`."""

from __future__ import annotations

import datetime
import json as _json
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from .generated.api.connections import (
    check,
    create_session,
    disconnect,
    get_connection,
    list_connections,
    list_integrations,
    refresh,
    token,
)
from .generated.api.webhooks import get_event, list_events, replay, replay_event
from .generated.client import AuthenticatedClient
from .generated.models import (
    CheckedConnection,
    ConnectionBody,
    ConnectionList,
    ConnectSessionBody,
    ConnectSessionCreated,
    DisconnectBody,
    DisconnectResult,
    EndUserBody,
    EventDetailView,
    EventList,
    IntegrationView,
    IntegrationList,
    RefreshedConnection,
    ReplayAnswer,
    ReplayOne,
    ReplayRequest,
    TokenBody,
)
from .generated.types import UNSET, Response, Unset
from .errors import SwitchboardError, error_for

__all__ = ["AsyncProxy", "AsyncSwitchboard", "Proxy", "Switchboard", "ok"]

T = TypeVar("T")


def ok(response: Response[Any], model: type[T]) -> T:
    """The parsed answer of a generated call when it is a ``model``, or its typed error:
    ``ok(admin_status.sync_detailed(client=sb.api), StatusView)``."""
    if 200 <= int(response.status_code) < 300 and isinstance(response.parsed, model):
        return response.parsed
    raise error_for(int(response.status_code), response.content, response.headers)


def _opt(v: T | None) -> T | Unset:
    return UNSET if v is None else v


def _new_client(base_url: str, api_key: str, timeout: float, headers: Mapping[str, str] | None) -> AuthenticatedClient:
    if not base_url:
        raise ValueError("Switchboard: base_url is required (SWITCHBOARD_URL)")
    if not api_key:
        raise ValueError("Switchboard: api_key is required (SWITCHBOARD_API_KEY)")
    return AuthenticatedClient(
        base_url=base_url.rstrip("/"),
        token=api_key,
        timeout=httpx.Timeout(timeout),
        headers=dict(headers or {}),
    )


def _session_body(
    end_user_id: str,
    integrations: list[str],
    connection_id: str | None,
    return_to: str | None,
    opener_origin: str | None,
) -> ConnectSessionBody:
    return ConnectSessionBody(
        end_user=EndUserBody(id=end_user_id),
        integrations=list(integrations),
        connection_id=_opt(connection_id),
        return_to=_opt(return_to),
        opener_origin=_opt(opener_origin),
    )


def _replay_body(
    integration: str | None,
    event_type: str | None,
    status: str | None,
    destination: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    all: bool,
    dry_run: bool,
) -> ReplayRequest:
    return ReplayRequest(
        integration=_opt(integration),
        event_type=_opt(event_type),
        status=_opt(status),
        destination=_opt(destination),
        since=_opt(since),
        until=_opt(until),
        all_=all,
        dry_run=dry_run,
    )


def _proxy_request(
    connection_id: str,
    path: str,
    json: Any,
    idempotency_key: str | None,
    headers: Mapping[str, str] | None,
) -> tuple[str, dict[str, str], bytes | None]:
    url = f"/api/proxy/{quote(connection_id, safe='')}/{path.lstrip('/')}"
    h = dict(headers or {})
    content = None
    if json is not None:
        content = _json.dumps(json).encode()
        h["content-type"] = "application/json"
    if idempotency_key:
        h["idempotency-key"] = idempotency_key
    return url, h, content


def _proxy_answer(response: httpx.Response) -> httpx.Response:
    # The provider answered (whatever its status): its answer as it is. Otherwise
    # Switchboard refused (unknown connection, needs_reauth, provider unreachable).
    if response.is_success or "switchboard-upstream-status" in response.headers:
        return response
    raise error_for(response.status_code, response.content, response.headers)


class Switchboard:
    """A client of one Switchboard server (blocking; :class:`AsyncSwitchboard` for asyncio).

    ``api`` is the generated client for every route of the API (the functions of
    ``switchboard_client.api.*`` take it as ``client=``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.api = _new_client(base_url, api_key, timeout, headers)
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"Switchboard({self.base_url!r})"  # never the key

    def __enter__(self) -> Switchboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.api.get_httpx_client().close()

    def create_connect_session(
        self,
        end_user_id: str,
        integrations: list[str],
        *,
        connection_id: str | None = None,
        return_to: str | None = None,
        opener_origin: str | None = None,
    ) -> ConnectSessionCreated:
        """A connect session for one end user: send their browser to ``connect_url``."""
        body = _session_body(end_user_id, integrations, connection_id, return_to, opener_origin)
        return ok(create_session.sync_detailed(client=self.api, body=body), ConnectSessionCreated)

    def list_integrations(self) -> list[IntegrationView]:
        return ok(list_integrations.sync_detailed(client=self.api), IntegrationList).data

    def list_connections(
        self,
        *,
        integration: str | None = None,
        end_user_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ConnectionList:
        """Connections, one page (``next_cursor`` for the next)."""
        r = list_connections.sync_detailed(
            client=self.api,
            integration=_opt(integration),
            end_user_id=_opt(end_user_id),
            status=_opt(status),
            limit=_opt(limit),
            cursor=_opt(cursor),
        )
        return ok(r, ConnectionList)

    def get_connection(self, connection_id: str) -> ConnectionBody:
        """One connection, without its secrets."""
        return ok(get_connection.sync_detailed(connection_id, client=self.api), ConnectionBody)

    def token(self, connection_id: str) -> TokenBody:
        """A valid access token (refreshed first when due). Ask each time; do not store it."""
        return ok(token.sync_detailed(connection_id, client=self.api), TokenBody)

    def refresh(self, connection_id: str) -> RefreshedConnection:
        """Forces a refresh of the connection's token."""
        return ok(refresh.sync_detailed(connection_id, client=self.api), RefreshedConnection)

    def check(self, connection_id: str) -> CheckedConnection:
        """Checks the connection's credentials at the provider now (``result`` ``ok``,
        ``rejected``, ``forbidden``, ``unavailable`` or ``error``)."""
        return ok(check.sync_detailed(connection_id, client=self.api), CheckedConnection)

    def disconnect(self, integration: str, connection_id: str) -> DisconnectResult:
        """Revokes the connection at the provider (when it can) and deletes it here."""
        body = DisconnectBody(connection_id=connection_id)
        return ok(disconnect.sync_detailed(integration, client=self.api, body=body), DisconnectResult)

    def list_events(
        self,
        *,
        integration: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EventList:
        """Stored events, newest first, one page."""
        r = list_events.sync_detailed(
            client=self.api,
            integration=_opt(integration),
            status=_opt(status),
            type_=_opt(type),
            limit=_opt(limit),
            cursor=_opt(cursor),
        )
        return ok(r, EventList)

    def get_event(self, event_id: str) -> EventDetailView:
        """One event with its mapping and deliveries."""
        return ok(get_event.sync_detailed(event_id, client=self.api), EventDetailView)

    def replay_event(self, event_id: str, *, dry_run: bool = False) -> ReplayAnswer:
        """Delivers one event again to its destinations."""
        r = replay_event.sync_detailed(event_id, client=self.api, body=ReplayOne(dry_run=dry_run))
        return ok(r, ReplayAnswer)

    def replay_events(
        self,
        *,
        integration: str | None = None,
        event_type: str | None = None,
        status: str | None = None,
        destination: str | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        all: bool = False,
        dry_run: bool = False,
    ) -> ReplayAnswer:
        """Delivers every event matching the filter again."""
        body = _replay_body(integration, event_type, status, destination, since, until, all, dry_run)
        return ok(replay.sync_detailed(client=self.api, body=body), ReplayAnswer)

    def proxy(self, connection_id: str) -> Proxy:
        """The provider's API through Switchboard's proxy, as ``connection_id``."""
        return Proxy(self.api.get_httpx_client(), connection_id)


class Proxy:
    """Calls to one connection's provider API. Each method returns the provider's
    ``httpx.Response`` as it is, whatever its status (``switchboard-upstream-status`` and
    ``switchboard-attempts`` say what happened); when Switchboard itself refuses (unknown
    connection, ``needs_reauth``, provider unreachable) it raises a ``SwitchboardError``."""

    def __init__(self, http: httpx.Client, connection_id: str) -> None:
        self._http = http
        self.connection_id = connection_id

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float | bool] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        url, h, body = _proxy_request(self.connection_id, path, json, idempotency_key, headers)
        r = self._http.request(method, url, params=params, content=body if body is not None else content, headers=h)
        return _proxy_answer(r)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, json=json, **kw)


class AsyncSwitchboard:
    """The asyncio twin of :class:`Switchboard`: the same methods, awaited."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.api = _new_client(base_url, api_key, timeout, headers)
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"AsyncSwitchboard({self.base_url!r})"

    async def __aenter__(self) -> AsyncSwitchboard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.api.get_async_httpx_client().aclose()

    async def create_connect_session(
        self,
        end_user_id: str,
        integrations: list[str],
        *,
        connection_id: str | None = None,
        return_to: str | None = None,
        opener_origin: str | None = None,
    ) -> ConnectSessionCreated:
        body = _session_body(end_user_id, integrations, connection_id, return_to, opener_origin)
        return ok(await create_session.asyncio_detailed(client=self.api, body=body), ConnectSessionCreated)

    async def list_integrations(self) -> list[IntegrationView]:
        return ok(await list_integrations.asyncio_detailed(client=self.api), IntegrationList).data

    async def list_connections(
        self,
        *,
        integration: str | None = None,
        end_user_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ConnectionList:
        r = await list_connections.asyncio_detailed(
            client=self.api,
            integration=_opt(integration),
            end_user_id=_opt(end_user_id),
            status=_opt(status),
            limit=_opt(limit),
            cursor=_opt(cursor),
        )
        return ok(r, ConnectionList)

    async def get_connection(self, connection_id: str) -> ConnectionBody:
        return ok(await get_connection.asyncio_detailed(connection_id, client=self.api), ConnectionBody)

    async def token(self, connection_id: str) -> TokenBody:
        return ok(await token.asyncio_detailed(connection_id, client=self.api), TokenBody)

    async def refresh(self, connection_id: str) -> RefreshedConnection:
        return ok(await refresh.asyncio_detailed(connection_id, client=self.api), RefreshedConnection)

    async def check(self, connection_id: str) -> CheckedConnection:
        return ok(await check.asyncio_detailed(connection_id, client=self.api), CheckedConnection)

    async def disconnect(self, integration: str, connection_id: str) -> DisconnectResult:
        body = DisconnectBody(connection_id=connection_id)
        return ok(await disconnect.asyncio_detailed(integration, client=self.api, body=body), DisconnectResult)

    async def list_events(
        self,
        *,
        integration: str | None = None,
        status: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EventList:
        r = await list_events.asyncio_detailed(
            client=self.api,
            integration=_opt(integration),
            status=_opt(status),
            type_=_opt(type),
            limit=_opt(limit),
            cursor=_opt(cursor),
        )
        return ok(r, EventList)

    async def get_event(self, event_id: str) -> EventDetailView:
        return ok(await get_event.asyncio_detailed(event_id, client=self.api), EventDetailView)

    async def replay_event(self, event_id: str, *, dry_run: bool = False) -> ReplayAnswer:
        r = await replay_event.asyncio_detailed(event_id, client=self.api, body=ReplayOne(dry_run=dry_run))
        return ok(r, ReplayAnswer)

    async def replay_events(
        self,
        *,
        integration: str | None = None,
        event_type: str | None = None,
        status: str | None = None,
        destination: str | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        all: bool = False,
        dry_run: bool = False,
    ) -> ReplayAnswer:
        body = _replay_body(integration, event_type, status, destination, since, until, all, dry_run)
        return ok(await replay.asyncio_detailed(client=self.api, body=body), ReplayAnswer)

    def proxy(self, connection_id: str) -> AsyncProxy:
        return AsyncProxy(self.api.get_async_httpx_client(), connection_id)


class AsyncProxy:
    """The asyncio twin of :class:`Proxy`."""

    def __init__(self, http: httpx.AsyncClient, connection_id: str) -> None:
        self._http = http
        self.connection_id = connection_id

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float | bool] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        url, h, body = _proxy_request(self.connection_id, path, json, idempotency_key, headers)
        r = await self._http.request(
            method, url, params=params, content=body if body is not None else content, headers=h
        )
        return _proxy_answer(r)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=json, **kw)


_ = SwitchboardError  # re-exported by the package
