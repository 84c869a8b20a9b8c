"""Limits before parsing: an 80 MB unsigned body to the bot, the Postmark
webhook, the rehearsal room and the stand-ins is refused with 413 before it
is read, so memory does not grow; the bot's WSGI app refuses it too when no
waitress stands in front of it."""

from __future__ import annotations

import socket
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.standins.postmark import PostmarkStandIn
from bot.standins.room import RehearsalRoom
from bot.standins.slack import SlackStandIn
from handlers.web import MAX_BODY_BYTES
from tests.fixtures.bot import Harness

FLOOD = 80 * 1000 * 1000
CHUNK = b"x" * 65536
# Far below the flood: a server that read the body would allocate all 80 MB.
PEAK_LIMIT = 16 * 1000 * 1000


def flood(url: str, path: str, size: int = FLOOD, *, chunked: bool = False) -> tuple[int, int]:
    """POST `size` bytes (unsigned, form-encoded) to `path`, streaming; return
    (HTTP status, bytes the server let us send before it closed)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
        ).encode()
    )
    sent = 0
    try:
        while sent < size:
            piece = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
            sock.sendall(piece)
            sent += len(CHUNK)
    except OSError:
        pass  # the server answered and closed: what is left is never read
    reply = b""
    try:
        while b"\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    except OSError:
        pass
    sock.close()
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, sent


def measured(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = func(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("path", ["/slack/events", "/postmark/webhook"])
def test_an_80_mb_unsigned_body_is_refused_unread(harness: Harness, path: str):
    (status, _), peak = measured(flood, harness.url, path)
    assert status == 413
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"


def test_a_chunked_flood_is_cut_off_at_the_limit(harness: Harness):
    (status, sent), peak = measured(flood, harness.url, "/slack/events", chunked=True)
    assert status == 413
    assert sent < FLOOD  # waitress stopped reading at the limit and closed
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"


def test_a_body_at_the_limit_is_read_and_judged_by_its_signature(harness: Harness):
    status, _ = flood(harness.url, "/slack/events", MAX_BODY_BYTES)
    assert status == 401  # read in full, then refused: not signed


class CountingInput:
    """A wsgi.input that would hand out 80 MB, counting what is read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = FLOOD - self.read_bytes if size < 0 else min(size, FLOOD - self.read_bytes)
        self.read_bytes += size
        return b"x" * size


@pytest.mark.parametrize("path", ["/slack/events", "/postmark/webhook"])
def test_the_wsgi_app_refuses_a_flood_without_waitress(harness: Harness, path: str):
    stream = CountingInput()
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(FLOOD),
        "HTTP_AUTHORIZATION": "Basic cG9zdG1hcms6d2ViaG9vay1wYXNzd29yZC1mb3ItdGVzdHM=",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": stream,
    }
    harness.bot.web(environ, lambda status, headers: statuses.append(status))
    assert statuses[0].startswith("413")
    assert stream.read_bytes == 0


@pytest.fixture
def standins() -> Iterator[dict[str, Any]]:
    started: dict[str, Any] = {
        "slack": SlackStandIn().start(),
        "postmark": PostmarkStandIn().start(),
        "room": RehearsalRoom().start(),
    }
    yield started
    for standin in started.values():
        standin.stop()


@pytest.mark.parametrize(
    "name,path",
    [
        ("slack", "/api/chat.postMessage"),
        ("postmark", "/email/batch"),
        ("room", "/room/command"),
        ("slack", "/upload/v1/no-such-upload"),
    ],
)
def test_the_stand_ins_and_the_rehearsal_room_refuse_a_flood_unread(
    standins: dict[str, Any], name: str, path: str
):
    (status, _), peak = measured(flood, standins[name].url, path)
    assert status == 413
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"


def test_postmark_stand_in_refuses_over_its_50_mb_batch_limit_before_reading(
    standins: dict[str, Any],
):
    (status, _), peak = measured(flood, standins["postmark"].url, "/email/batch", 51 * 2**20)
    assert status == 413
    assert peak < PEAK_LIMIT


@pytest.mark.parametrize("name", ["slack", "postmark", "room"])
def test_the_stand_ins_refuse_chunked_and_malformed_lengths(standins: dict[str, Any], name: str):
    status, _ = flood(standins[name].url, "/api/auth.test", 1000, chunked=True)
    assert status == 411
