"""What the live tests get from their runner (crates/switchboard/tests/it/sdks.rs): a
``switchboard serve --dev`` with the OIDC test peer as integration ``acme``, a Standard
Webhooks intake integration ``hooks``, and a destination ``app`` at a port these tests
listen on."""

from __future__ import annotations

import os
from urllib.parse import urljoin

import httpx


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run these tests through crates/switchboard/tests/it/sdks.rs "
            "(cargo nextest run -p switchboard -E 'test(sdk)')"
        )
    return value


def browse_until(url: str, stop_prefix: str) -> httpx.URL:
    """The browser's part of the connect flow: follows the redirects from ``url`` with a
    cookie jar (the test peer logs in and consents on its own) until one leads to
    ``stop_prefix`` (the app's return_to); returns that URL."""
    with httpx.Client(follow_redirects=False, timeout=30.0, trust_env=False) as browser:
        at = url
        for _ in range(20):
            if at.startswith(stop_prefix):
                return httpx.URL(at)
            r = browser.get(at)
            location = r.headers.get("location")
            if not r.is_redirect or location is None:
                raise AssertionError(f"GET {at} answered {r.status_code} instead of a redirect: {r.text[:500]}")
            at = urljoin(at, location)
    raise AssertionError(f"more than 20 redirects without reaching {stop_prefix}")
