"""The HTTP face of the bot, as one WSGI application served by waitress
(a production WSGI server; Bolt's own development server is never used):

- `POST /slack/events`: Slack's signed requests, through Bolt's WSGI adapter;
- `POST /postmark/webhook`: Postmark's webhooks, behind HTTP basic auth;
- `GET /healthz`: liveness and database reachability, for load balancers.

Limits come before parsing. waitress refuses a body over `MAX_BODY_BYTES`
with 413 before it reaches the app (its own default is 1 GiB), and the app
checks again, so that it is safe behind any WSGI server. A Slack request is
read by `WebApp` itself — length, UTF-8, the shape of the timestamp and of the
signature, the signature — before Bolt sees it, because Bolt reads, decodes
and parses the whole body before it checks the signature: an unsigned
request never reaches Bolt's parser. Bad input gets a 4xx, never a 500.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from bot.desk import Desk

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WebhookHandler = Callable[[Desk, Any], tuple[int, dict[str, Any]]]
# Postmark's bounce, spam and subscription webhooks are one small JSON object.
# Slack's largest payload is the draft modal's: Slack writes each non-ASCII
# character as a \uXXXX escape ("converted and sent in unicode format":
# https://api.slack.com/reference/block-kit/views), 8 bytes once form-encoded, so
# 30 sections of 3,000 Japanese characters are 720 KB of state, and the view it
# echoes (at most 250 KB as sent, views.open) up to 680 KB more. Two megabytes
# hold that with room to spare.
MAX_BODY_BYTES = 2_000_000
SLACK_CONTENT_TYPES = ("application/x-www-form-urlencoded", "application/json")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")

# The Postmark webhook's processing lives with the suppressions it changes
# (`handlers.webhooks` registers it); until then the endpoint refuses politely.
webhook_handlers: list[WebhookHandler] = []


class Refused(Exception):
    """A request answered with a 4xx before any listener runs."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def read_body(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, at most `limit` bytes, read only once its length is known."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if not (raw.isascii() and raw.isdigit()):
        raise Refused(411 if not raw else 400, "a body needs a valid Content-Length")
    length = int(raw)
    if length > limit:
        raise Refused(413, f"the body is larger than {limit} bytes")
    body = environ["wsgi.input"].read(length) if length else b""
    if len(body) != length:
        raise Refused(400, "the body is shorter than its Content-Length")
    return bytes(body)


class WebApp:
    def __init__(self, desk: Desk, bolt: App, signing_secret: str) -> None:
        self.desk = desk
        self.slack = SlackRequestHandler(bolt, path="/slack/events")
        self.verifier = SignatureVerifier(signing_secret)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/slack/events" and method == "POST":
                return self._slack(environ, start_response)
            if path == "/healthz" and method in ("GET", "HEAD"):
                return self._health(start_response)
            if path == "/postmark/webhook" and method == "POST":
                return self._webhook(environ, start_response)
            if path in ("/slack/events", "/healthz", "/postmark/webhook"):
                return _json(start_response, 405, {"error": "method not allowed"})
        except Refused as refused:
            return _json(start_response, refused.status, {"error": refused.error})
        return _json(start_response, 404, {"error": "not found"})

    def _slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        content_type = str(environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if content_type not in SLACK_CONTENT_TYPES:
            raise Refused(415, "Slack sends form-encoded or JSON bodies")
        body = read_body(environ)
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
        if not (_TIMESTAMP.match(timestamp) and _SIGNATURE.match(signature)):
            raise Refused(401, "missing or malformed Slack signature headers")
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the body is not UTF-8") from None
        if not self.verifier.is_valid(body=decoded, timestamp=timestamp, signature=signature):
            raise Refused(401, "invalid or stale Slack signature")
        # Bolt reads the body again (and checks the signature again).
        checked = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        try:
            return self.slack(checked, start_response)
        except Exception:
            # A signed body Bolt cannot parse (e.g. a malformed `payload`): bad input.
            log.warning("a signed Slack request could not be parsed", exc_info=True)
            raise Refused(400, "the request could not be parsed") from None

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
        body = read_body(environ)
        if not body:
            raise Refused(400, "the body is empty")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _json(start_response, 400, {"error": "body is not JSON"})
        if not webhook_handlers:
            return _json(start_response, 501, {"error": "webhooks are not handled by this version"})
        status, reply = webhook_handlers[0](self.desk, payload)
        return _json(start_response, status, reply)


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
            # waitress refuses Content-Length >= this with 413 before reading the body
            # (its default is 1 GiB); the app checks MAX_BODY_BYTES again.
            max_request_body_size=MAX_BODY_BYTES + 1,
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

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, let the requests being served finish and their answers
        leave, then close everything; at most `drain_seconds` for the whole drain.

        The order matters. A worker that finishes a request wakes the loop through
        waitress's trigger pipe; closing the server (trigger included) while a worker
        was still answering was the `OSError: [Errno 9] Bad file descriptor`
        traceback on SIGTERM right after a request.
        """
        from waitress import wasyncore

        self._stopping = True
        server = self._server
        deadline = time.monotonic() + drain_seconds
        wasyncore.dispatcher.close(server)  # the listening socket only: nothing new
        server.task_dispatcher.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        channels = [
            channel
            for channel in list(getattr(server, "_map", {}).values())
            if channel is not server.trigger
        ]
        while time.monotonic() < deadline and any(
            getattr(channel, "total_outbufs_len", 0) for channel in channels
        ):
            time.sleep(0.01)  # the loop thread is still sending an answer
        # waitress keeps looping while any client connection is open (keep-alive);
        # a stopping server closes them rather than wait for their timeout.
        for channel in channels:
            with contextlib.suppress(OSError):
                channel.close()
        server.trigger.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
