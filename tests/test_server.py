"""`handlers.web.Server.stop()` drains: a request being answered when the stop comes
gets its whole answer, and nothing is closed under a worker still using it.

The fault this guards: stop() closed waitress's trigger pipe while a worker was
finishing a /healthz answer; the worker's wake-up write then failed with
`OSError: [Errno 9] Bad file descriptor`, logged as a traceback on SIGTERM (CI of
stop 23, tests/e2e/test_shutdown.py). Here the race is made certain, not lucky: the
app holds the request until stop() is already under way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from handlers.web import Server


class _HeldApp:
    """A WSGI app that answers only when the test lets it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        self.entered.set()
        self.release.wait(timeout=30)
        body = b"answered after the stop began"
        start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


def _get(url: str, into: dict[str, Any]) -> None:
    try:
        response = requests.get(url, timeout=20)
        into["status"], into["body"] = response.status_code, response.content
    except requests.RequestException as error:
        into["error"] = error


def test_a_request_in_flight_is_answered_and_nothing_is_closed_under_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _HeldApp()
    server = Server(app).start()
    url = f"{server.url}/healthz"
    result: dict[str, Any] = {}
    client = threading.Thread(target=_get, args=(url, result))
    client.start()
    assert app.entered.wait(timeout=10)
    caplog.set_level(logging.WARNING, logger="waitress")
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    # stop() is now draining: the port no longer takes connections, the held
    # request is still open.
    stopper.join(timeout=0.3)
    assert stopper.is_alive(), "stop() returned while a request was still being answered"
    app.release.set()
    client.join(timeout=20)
    stopper.join(timeout=20)
    assert not stopper.is_alive()
    assert result == {"status": 200, "body": b"answered after the stop began"}
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)


def test_a_request_that_never_finishes_does_not_hold_the_stop_beyond_its_drain() -> None:
    app = _HeldApp()
    server = Server(app).start()
    result: dict[str, Any] = {}
    client = threading.Thread(target=_get, args=(f"{server.url}/slow", result), daemon=True)
    client.start()
    try:
        assert app.entered.wait(timeout=10)
        stopper = threading.Thread(target=server.stop, kwargs={"drain_seconds": 0.5})
        stopper.start()
        # The bound: the drain (0.5 s) plus the loop thread's join; generous for a
        # loaded machine, far below the 30 s the held request would take.
        stopper.join(timeout=15)
        assert not stopper.is_alive(), "stop() waited for a request past its drain time"
    finally:
        app.release.set()
        client.join(timeout=20)
    # The connection was closed under the unfinished request: the client is told
    # so (no answer, no hang), and the late answer goes nowhere.
    assert "error" in result, result
