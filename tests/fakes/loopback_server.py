"""What every fake HTTP service in ``tests/fakes/`` shares: a threaded server, run in a
daemon thread between ``start()`` and ``close()`` (or ``with``), and a JSON answer::

    class FakeThing(ServedInThread):
        def __init__(self) -> None:
            self._httpd = FakeHTTPServer(("127.0.0.1", 0), _Handler, self)

    with FakeThing() as fake:
        fake.url  # http://127.0.0.1:PORT

Standard library only: the fake CLIs and the real-CLI tier import these too.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["FakeHTTPServer", "ServedInThread", "send_json"]


class FakeHTTPServer(ThreadingHTTPServer):
    """A threaded server whose handlers reach their fake as ``self.server.fake``.

    A client that hangs up mid-answer (a CLI killed by the shutdown ladder) is not an
    error worth a traceback.
    """

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: Any
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.fake: Any = fake  # each handler knows its own fake's type
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ServedInThread:
    """Serves ``self._httpd`` (set by the subclass) in a daemon thread."""

    _httpd: FakeHTTPServer
    _thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: object,
    content_type: str = "application/json",
) -> None:
    """Answer ``payload`` as JSON with a Content-Length (no body for a HEAD)."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
