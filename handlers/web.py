"""The HTTP face of the bot, as one WSGI application served by waitress
(a production WSGI server; Bolt's own development server is never used):

- `POST /slack/events`: Slack's signed requests, through Bolt's WSGI adapter;
- `POST /postmark/webhook`: Postmark's webhooks, behind HTTP basic auth;
- `GET /healthz`: liveness and database reachability, for load balancers.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text

from bot.desk import Desk

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WebhookHandler = Callable[[Desk, Any], tuple[int, dict[str, Any]]]
MAX_WEBHOOK_BYTES = 1_000_000

# The Postmark webhook's processing lives with the suppressions it changes
# (`handlers.webhooks` registers it); until then the endpoint refuses politely.
webhook_handlers: list[WebhookHandler] = []


class WebApp:
    def __init__(self, desk: Desk, bolt: App) -> None:
        self.desk = desk
        self.slack = SlackRequestHandler(bolt, path="/slack/events")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            return self.slack(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            return self._health(start_response)
        if path == "/postmark/webhook" and method == "POST":
            return self._webhook(environ, start_response)
        return _json(start_response, 404, {"error": "not found"})

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            with self.desk.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return _json(start_response, 503, {"ok": False, "database": type(exc).__name__})
        return _json(start_response, 200, {"ok": True})

    def _webhook(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        settings = self.desk.settings
        if not (settings.POSTMARK_WEBHOOK_USER and settings.POSTMARK_WEBHOOK_PASSWORD):
            return _json(start_response, 503, {"error": "webhook credentials are not configured"})
        if not _authorised(
            environ, settings.POSTMARK_WEBHOOK_USER, settings.POSTMARK_WEBHOOK_PASSWORD
        ):
            return _json(
                start_response,
                401,
                {"error": "unauthorised"},
                {"WWW-Authenticate": 'Basic realm="postmark"'},
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_WEBHOOK_BYTES:
            return _json(start_response, 400, {"error": "missing or oversized body"})
        try:
            payload = json.loads(environ["wsgi.input"].read(length).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _json(start_response, 400, {"error": "body is not JSON"})
        if not webhook_handlers:
            return _json(start_response, 501, {"error": "webhooks are not handled by this version"})
        status, body = webhook_handlers[0](self.desk, payload)
        return _json(start_response, status, body)


def _authorised(environ: dict[str, Any], user: str, password: str) -> bool:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    expected = f"{user}:{password}"
    return hmac.compare_digest(given.encode(), expected.encode())


def _json(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Iterable[bytes]:
    data = json.dumps(body).encode("utf-8")
    reason = HTTPStatus(status).phrase
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *(headers or {}).items(),
        ],
    )
    return [data]


class Server:
    """waitress serving a WSGI app in a background thread (tests, rehearsal)."""

    def __init__(
        self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0, threads: int = 8
    ) -> None:
        from waitress.server import create_server

        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            clear_untrusted_proxy_headers=True,
            # Wake the loop often enough that stop() returns promptly.
            asyncore_loop_timeout=0.1,
        )
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._run, name="waitress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            if not self._stopping:
                raise  # a real failure; closing the sockets on stop() ends the loop this way

    def stop(self) -> None:
        self._stopping = True
        self._server.close()
        # waitress keeps looping while any client connection is open (keep-alive);
        # a stopping server closes them rather than wait for their timeout.
        for channel in list(getattr(self._server, "_map", {}).values()):
            with contextlib.suppress(OSError):
                channel.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
