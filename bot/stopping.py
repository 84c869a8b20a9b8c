"""How a long-running process of ours learns that it should stop.

Owns `stop_on_signals()`: every command that runs until told otherwise
(`countersign run`, `countersign rehearse`, the stand-ins) waits on the event
it returns. It installs handlers for SIGINT (Ctrl-C) and SIGTERM explicitly,
rather than relying on Python's default KeyboardInterrupt: a process started
as a background job inherits SIGINT as *ignored*, Python then installs no
handler of its own, and Ctrl-C-by-signal would never arrive. An explicit
handler replaces the inherited "ignore", so the same signal stops the process
however it was started (foreground, `&`, CI), and the stop is a plain event,
never an exception raised in the middle of whatever the main thread was doing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(on_stop: Callable[[], None] | None = None) -> threading.Event:
    """Return an event that SIGINT or SIGTERM sets; `on_stop` runs on the first one.

    Outside the main thread (a test calling a `main()` in a thread) signals cannot
    be handled; the event is returned all the same, for the caller to set.
    """
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        first = not stop.is_set()
        stop.set()
        if first and on_stop is not None:
            on_stop()

    if threading.current_thread() is threading.main_thread():
        for number in STOP_SIGNALS:
            signal.signal(number, handle)
    return stop
