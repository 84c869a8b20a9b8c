"""The threaded HTTP server both stand-ins are built on.

A stand-in subclasses `StandIn`, implements `handle(request) -> Reply`, and is
started on 127.0.0.1 with an ephemeral port (or a given one) in a daemon
thread. `handle` runs on the server's worker threads; stand-ins guard their
state with their own lock.

A body is read only after its Content-Length is known and within the
stand-in's `max_body_bytes` (the service's own limit): a flood gets 413 and
the connection is closed, unread, so it costs no memory. A body without a
length (chunked) gets 411, as the real services need no chunked uploads here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Faults: drop the connection without a reply (after `delay` seconds).
    reset: bool = False
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Reply:
        return cls(
            status=status,
            body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    @classmethod
    def html(cls, text: str, status: int = 200) -> Reply:
        return cls(
            status=status,
            body=text.encode("utf-8"),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: stand-ins run inside tests

    def _refuse(self, status: int, error: str) -> None:
        """Answer without reading the body, and close: what is left unread is discarded."""
        reply = self.server.standin.refusal(status, error)
        body = reply.body
        self.close_connection = True
        self.send_response(status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        raw = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "length_required")
            return
        if raw and not (raw.isascii() and raw.isdigit()):
            self._refuse(400, "invalid_content_length")
            return
        length = int(raw or 0)
        if length > self.server.standin.body_limit(urlsplit(self.path).path):
            self._refuse(413, "request_entity_too_large")
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.standin.handle(request)
        if reply.delay:
            self.server.standin.stopping.wait(reply.delay)
        if reply.reset:
            self.close_connection = True
            try:
                import socket

                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StandIn) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout fault doing its job) is not an error.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class StandIn:
    """Base of a stand-in server: start(), stop(), url."""

    # The largest body the service accepts; subclasses set their service's limit.
    max_body_bytes = 1_000_000

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def refusal(self, status: int, error: str) -> Reply:
        """How the service words a request refused before its body was read
        (411, 413, a bad Content-Length); Slack's shape by default."""
        return Reply.json({"ok": False, "error": error}, status)

    def body_limit(self, path: str) -> int:
        """The largest body a request to `path` may carry (read before the body is)."""
        return self.max_body_bytes

    def handle(self, request: Request) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self, port: int = 0, host: str = "127.0.0.1") -> StandIn:
        self.stopping.clear()
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "stand-in not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL ending in '/', as SLACK_API_URL / POSTMARK_API_URL expect."""
        return f"http://127.0.0.1:{self.port}/"
