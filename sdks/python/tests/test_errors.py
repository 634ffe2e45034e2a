"""The error mapping on its own (no server): every status gets its class, the JSON error
shape gives code and message, and anything else still gives a typed error."""

from __future__ import annotations

import json

import httpx
import pytest

from switchboard_client import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    Switchboard,
    SwitchboardError,
    error_for,
)


def shape(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, SwitchboardError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[SwitchboardError]) -> None:
    e = error_for(status, shape("some_code", "what to do"), {"x-request-id": "req-1"})
    assert type(e) is cls
    assert (e.status, e.code, e.message, e.request_id, str(e)) == (
        status,
        "some_code",
        "what to do",
        "req-1",
        "what to do",
    )


def test_needs_reauth_and_retryable() -> None:
    assert error_for(409, shape("needs_reauth", "m")).needs_reauth
    assert error_for(409, shape("revoked", "m")).needs_reauth
    assert not error_for(409, shape("conflict", "m")).needs_reauth
    assert all(error_for(s, shape("x", "m")).retryable for s in (429, 502, 503, 504))
    assert not any(error_for(s, shape("x", "m")).retryable for s in (400, 401, 404, 409, 500))


@pytest.mark.parametrize(
    "body", [b"", b"null", b"{}", b'{"error": "flat"}', b'{"error": {"code": 7}}', b"[]", b"\xff\xfe"]
)
def test_a_body_that_is_not_the_shape_still_gives_a_typed_error(body: bytes) -> None:
    e = error_for(400, body)
    assert isinstance(e, InvalidRequestError)
    assert e.code == "http_400"


def test_a_text_body_is_in_the_message() -> None:
    e = error_for(502, b"<html>bad gateway</html>")
    assert isinstance(e, ServerError) and "bad gateway" in e.message


def test_the_client_refuses_a_missing_url_or_key_and_never_shows_the_key() -> None:
    with pytest.raises(ValueError):
        Switchboard("", "k")
    with pytest.raises(ValueError):
        Switchboard("http://127.0.0.1:9", "")
    sb = Switchboard("http://127.0.0.1:9/", "sb_secret")
    assert "sb_secret" not in repr(sb)
    sb.close()


def test_the_proxy_sends_the_key_and_an_encoded_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"switchboard-upstream-status": "200"})

    sb = Switchboard("http://sb.test", "sb_k")
    sb.api.set_httpx_client(
        httpx.Client(base_url="http://sb.test", headers={"Authorization": "Bearer sb_k"}, transport=httpx.MockTransport(handler))
    )
    sb.proxy("acct/1").post("/a", {"x": 1}, params={"q": "1 2"}, idempotency_key="i-1")
    r = seen[0]
    assert str(r.url) == "http://sb.test/api/proxy/acct%2F1/a?q=1+2"
    assert r.headers["authorization"] == "Bearer sb_k"
    assert r.headers["idempotency-key"] == "i-1"
    assert json.loads(r.content) == {"x": 1}


def test_a_refusal_by_switchboard_raises_and_a_providers_answer_does_not() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/provider-404"):
            return httpx.Response(404, text="nope", headers={"switchboard-upstream-status": "404"})
        return httpx.Response(409, content=shape("needs_reauth", "reconnect"))

    sb = Switchboard("http://sb.test", "k")
    sb.api.set_httpx_client(httpx.Client(base_url="http://sb.test", transport=httpx.MockTransport(handler)))
    assert sb.proxy("c").get("/provider-404").status_code == 404
    with pytest.raises(ConflictError) as e:
        sb.proxy("c").get("/me")
    assert e.value.needs_reauth
