"""A fake of ``asm serve``'s admin routes (SPEC §3.4) for testing its clients.

    with serve_fake_admin_api({("POST", "/api/v1/endpoints"): (201, {"endpoint": {}})}) as api:
        ...  # talk to api.base_url
        assert api.requests[0].authorization == "Bearer t"

Each (method, path) answers its canned status and JSON body (``None``: no body); any
other request answers 404. Every request is recorded. The server runs on 127.0.0.1 in
a thread of the test process and is shut down and joined on exit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Canned = Mapping[tuple[str, str], tuple[int, Any]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeAdminApi:
    """The running fake: where it listens, and what it was asked."""

    base_url: str
    requests: list[RecordedRequest] = field(default_factory=list)


@contextmanager
def serve_fake_admin_api(canned: Canned) -> Iterator[FakeAdminApi]:
    """Serve ``canned`` answers on a free loopback port until the block ends."""
    recorded: list[RecordedRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            recorded.append(
                RecordedRequest(
                    method=self.command,
                    path=self.path,
                    authorization=self.headers.get("authorization"),
                    body=json.loads(raw) if raw else None,
                )
            )
            status, body = canned.get((self.command, self.path), (404, {"error": "not found"}))
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if payload:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="fake-admin-api", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield FakeAdminApi(base_url=f"http://{host!s}:{port}", requests=recorded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
