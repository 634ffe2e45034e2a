"""The SDK against a live server: connect -> token -> proxy -> disconnect; webhook intake
-> events -> replay -> a delivery verified with ``standardwebhooks`` (v1) and Ed25519
(v1a, with ``cryptography``); every error path typed; the async client too."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from helpers import browse_until, env
from standardwebhooks import Webhook

from switchboard_client import (
    AsyncSwitchboard,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Switchboard,
    SwitchboardError,
    ok,
)
from switchboard_client.generated.api.admin import admin_status, create_key
from switchboard_client.models import CreateApiKey, CreatedApiKey, StatusView

BASE = env("SWITCHBOARD_URL")
ORIGIN = env("SB_TEST_RETURN_ORIGIN")


@pytest.fixture(scope="module")
def sb() -> Iterator[Switchboard]:
    with Switchboard(BASE, env("SWITCHBOARD_API_KEY")) as client:
        yield client


def connect(sb: Switchboard, connection_id: str) -> None:
    session = sb.create_connect_session(
        "u1", ["acme"], connection_id=connection_id, return_to=f"{ORIGIN}/done"
    )
    assert session.token.startswith("cs_")
    assert session.connect_url.startswith(BASE)
    auth = f"{BASE}/api/integrations/acme/auth?session={session.token}"
    landed = browse_until(auth, ORIGIN)
    assert landed.params.get("status") == "connected", landed
    assert landed.params.get("connection_id") == connection_id


def test_connect_token_proxy_disconnect(sb: Switchboard) -> None:
    connect(sb, "py-1")
    c = sb.get_connection("py-1")
    assert (c.status, c.integration, c.end_user_id) == ("active", "acme", "u1")
    assert any(x.id == "py-1" for x in sb.list_connections(integration="acme").data)
    assert any(i.id == "acme" for i in sb.list_integrations())

    t = sb.token("py-1")
    assert t.token_type == "Bearer"
    assert isinstance(t.access_token, str) and len(t.access_token) > 10

    r = sb.proxy("py-1").get("/me")
    assert r.status_code == 200
    assert r.headers["switchboard-upstream-status"] == "200"
    me = r.json()
    assert (me["sub"], me["email"]) == ("alice", "alice@example.test")

    # A provider's own error comes back as its answer, not as a SwitchboardError.
    missing = sb.proxy("py-1").get("/no-such-endpoint")
    assert missing.status_code >= 400
    assert missing.headers["switchboard-upstream-status"] == str(missing.status_code)

    gone = sb.disconnect("acme", "py-1")
    assert gone.deleted is True and gone.revoked_at_provider is True
    # The connection stays listed as revoked; its token is gone.
    assert sb.get_connection("py-1").status == "revoked"
    with pytest.raises(ConflictError) as e:
        sb.token("py-1")
    assert (e.value.status, e.value.code, e.value.needs_reauth) == (409, "revoked", True)


class _Hooks(BaseHTTPRequestHandler):
    received: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        _Hooks.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hooks() -> Iterator[list[tuple[bytes, dict[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", int(env("SB_TEST_HOOK_PORT"))), _Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Hooks.received
    server.shutdown()
    server.server_close()


def delivered(received: list[tuple[bytes, dict[str, str]]], n: int) -> tuple[bytes, dict[str, str]]:
    for _ in range(600):
        if len(received) >= n:
            return received[n - 1]
        time.sleep(0.05)
    raise AssertionError(f"only {len(received)} deliveries, expected {n}")


def verify_v1a(raw_body: bytes, headers: dict[str, str], public_key: str) -> bool:
    """The README's v1a check: Ed25519 over ``{id}.{timestamp}.{body}`` with the whpk_ key."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > 300:
        return False
    pk = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    msg = f"{msg_id}.{ts}.".encode() + raw_body
    for token in headers["webhook-signature"].split(" "):
        if token.startswith("v1a,"):
            try:
                pk.verify(base64.b64decode(token[4:]), msg)
                return True
            except InvalidSignature:
                pass
    return False


def test_intake_events_replay_and_verified_deliveries(
    sb: Switchboard, hooks: list[tuple[bytes, dict[str, str]]]
) -> None:
    # The provider's side: a Standard Webhooks sender.
    provider = Webhook(env("SB_TEST_INTAKE_SECRET"))
    payload = json.dumps({"type": "order.created", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "ord_1"}})
    msg_id = f"msg_py_{time.time_ns()}"
    now = datetime.now(tz=timezone.utc)
    intake = httpx.post(
        f"{BASE}/webhooks/hooks/event",
        content=payload,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": provider.sign(msg_id, now, payload),
        },
        trust_env=False,
    )
    assert intake.status_code == 200, intake.text
    accepted = intake.json()
    assert accepted["duplicate"] is False

    events = sb.list_events(integration="hooks")
    ev = next(e for e in events.data if e.id == accepted["id"])
    assert ev.event_type == "order.created"

    # The app's side: verified with the reference library (v1) and with Ed25519 (v1a).
    app = Webhook(env("SB_TEST_APP_SECRET"))
    body, headers = delivered(hooks, 1)
    event = app.verify(body, headers)
    # Without a mapping: the provider's type under its provider's name, its body as data.
    assert event["type"] == "standard-webhooks.order.created"
    assert event["data"]["data"]["id"] == "ord_1"
    assert verify_v1a(body, headers, env("SB_TEST_APP_PUBLIC_KEY"))
    assert not verify_v1a(body.replace(b"ord_1", b"ord_2"), headers, env("SB_TEST_APP_PUBLIC_KEY"))
    with pytest.raises(Exception):
        app.verify(body.replace(b"ord_1", b"ord_2"), headers)

    assert sb.get_event(accepted["id"]).id == accepted["id"]
    replayed = sb.replay_event(accepted["id"])
    assert replayed.events == 1 and replayed.deliveries >= 1
    body2, headers2 = delivered(hooks, 2)
    assert headers2["webhook-id"] == headers["webhook-id"], "a replay keeps the delivery id"
    app.verify(body2, headers2)
    assert verify_v1a(body2, headers2, env("SB_TEST_APP_PUBLIC_KEY"))

    dry = sb.replay_events(integration="hooks", all=True, dry_run=True)
    assert dry.dry_run is True and dry.events >= 1


def test_401_unauthorized() -> None:
    with Switchboard(BASE, "sb_aaaaaaaaaaaa_" + "a" * 40) as wrong:
        with pytest.raises(AuthenticationError) as e:
            wrong.list_connections()
    assert isinstance(e.value, SwitchboardError)
    assert (e.value.status, e.value.code) == (401, "unauthorized")
    assert e.value.message


def test_403_forbidden_for_an_app_key_on_an_admin_route(sb: Switchboard) -> None:
    created = ok(create_key.sync_detailed(client=sb.api, body=CreateApiKey(name="py-app", scope="app")), CreatedApiKey)
    with Switchboard(BASE, created.key) as app:
        with pytest.raises(PermissionDeniedError) as e:
            ok(admin_status.sync_detailed(client=app.api), StatusView)
        assert (e.value.status, e.value.code) == (403, "forbidden")
        assert isinstance(app.list_events().data, list)


def test_404_not_found(sb: Switchboard) -> None:
    with pytest.raises(NotFoundError) as e:
        sb.token("no-such-connection")
    assert e.value.code == "not_found"
    with pytest.raises(NotFoundError):
        sb.proxy("no-such-connection").get("/me")


def test_409_needs_reauth(sb: Switchboard) -> None:
    connect(sb, "py-2")
    armed = httpx.post(
        f"{env('SB_TEST_PEER_URL')}/__test/fail",
        json={"endpoint": "token", "status": 400, "count": 1, "body": json.dumps({"error": "invalid_grant"})},
        trust_env=False,
    )
    assert armed.status_code == 200
    with pytest.raises(ConflictError) as e:
        sb.refresh("py-2")
    assert (e.value.status, e.value.code, e.value.needs_reauth) == (409, "needs_reauth", True)
    assert sb.get_connection("py-2").status == "needs_reauth"
    with pytest.raises(ConflictError) as e2:
        sb.token("py-2")
    assert e2.value.code == "needs_reauth"
    with pytest.raises(ConflictError) as e3:
        sb.proxy("py-2").get("/me")
    assert e3.value.needs_reauth


def test_422_invalid_request(sb: Switchboard) -> None:
    r = sb.api.get_httpx_client().post(
        "/api/connect-sessions", json={"end_user": {"id": "u1"}, "integrations": "acme"}
    )
    with pytest.raises(InvalidRequestError) as e:
        from switchboard_client import error_for

        raise error_for(r.status_code, r.content, r.headers)
    assert (e.value.status, e.value.code) == (422, "invalid_request")


def test_the_async_client() -> None:
    async def run() -> None:
        async with AsyncSwitchboard(BASE, env("SWITCHBOARD_API_KEY")) as sb:
            session = await sb.create_connect_session("u2", ["acme"], connection_id="py-async", return_to=f"{ORIGIN}/done")
            landed = browse_until(f"{BASE}/api/integrations/acme/auth?session={session.token}", ORIGIN)
            assert landed.params.get("status") == "connected"
            assert (await sb.token("py-async")).token_type == "Bearer"
            me = (await sb.proxy("py-async").get("/me")).json()
            assert me["sub"] == "alice"
            assert (await sb.list_events()).data is not None
            assert (await sb.disconnect("acme", "py-async")).deleted is True
            assert (await sb.get_connection("py-async")).status == "revoked"

    asyncio.run(run())
