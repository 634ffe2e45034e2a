"""A stand-in OAuth2 provider for tests/schemathesis/run, on a loopback port.

It grants every token request (client credentials, authorization code, refresh) and every
revocation, so that the fuzzed server can create real connections and reach the routes
that need one. Serves until killed; prints its port on stdout once listening.
"""

import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Provider(BaseHTTPRequestHandler):
    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        self._drain()
        if self.path.startswith("/token"):
            self._answer(200, {
                "access_token": "at_" + secrets.token_urlsafe(16),
                "refresh_token": "rt_" + secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
            })
        elif self.path.startswith("/revoke"):
            self._answer(200, {})
        else:
            self._answer(404, {"error": "not_found"})

    def do_GET(self):
        self._answer(200, {"ok": True})

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
