"""Building the preflight's personal-data index in a process of its own.

At 100,000 subscribers a build takes ~20 s, much of it in long calls into C
(MeCab, regular-expression passes over chunks, making the automata) that each
hold the interpreter lock for up to ~0.8 s: in the bot's own process every
check, every `/healthz` and `/newsletter halt` waits behind them. A `Worker`
is a process started for one build (spawned, never forked: the bot runs
threads). It reads its own snapshot of the database (`personal_data.snapshot`:
the horizon and the removals with the texts, in one transaction), builds the
index and sends it back in pickled pieces (`PersonalDataIndex.blobs`), each of
which loads in milliseconds, while the worker pickles the next. The worker
runs at a lower priority (`NICENESS`): on a busy machine the bot comes first.

A worker never outlives the bot: it is a daemon process (multiprocessing ends
it when the bot exits), it ends itself as soon as the bot's end of its pipe
closes (the bot was killed), and `Worker.stop` kills it. Whatever goes wrong
in it (an error, a crash, a kill, no answer in `TIMEOUT`) is a `WorkerFailed`
for the caller, which builds in its own process instead.

This module lives outside `bot.preflight` and imports nothing of the index at
load time, so that a worker loads only what its work needs (a test's stand-in
work starts in a tenth of a second, not one).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.preflight.personal_data import PersonalDataIndex

# What a worker runs: build the index of the database at the URL, `send` it.
Work = Callable[[str, Connection], None]

TIMEOUT = 1_800.0  # seconds a build may take before its worker is given up
NICENESS = 10  # added to the worker's (a background build yields to the bot)


class WorkerFailed(Exception):
    """The worker process sent no index: it failed, crashed, was killed or timed out."""


@dataclass(frozen=True)
class Built:
    horizon: int
    removals: int
    index: PersonalDataIndex
    peak_rss_kb: int  # of the worker process


class Worker:
    """One build in a process of its own; `result()` waits for its index."""

    def __init__(self, url: str, work: Work | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(
            target=_run,
            args=(work or build, url, theirs),
            name="preflight-index-builder",
            daemon=True,
        )
        try:
            self._process.start()
        except Exception as error:
            self._connection.close()
            raise WorkerFailed(f"it could not start: {error}") from error
        finally:
            theirs.close()  # (the worker's end: so that its death reads as an end here)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def result(self, timeout: float = TIMEOUT) -> Built:
        """The index the worker built, loaded piece by piece; the worker is gone after."""
        from bot.preflight.personal_data import PersonalDataIndex

        try:
            if not self._connection.poll(timeout):
                raise WorkerFailed(f"no index after {timeout:.0f} s")
            answer = self._connection.recv()
            if answer[0] != "built":
                raise WorkerFailed(f"it failed: {answer[1]}")
            _, horizon, removals, peak_rss_kb = answer
            index = PersonalDataIndex.load(self._connection.recv_bytes)
            return Built(horizon, removals, index, peak_rss_kb)
        except WorkerFailed:
            raise
        except Exception as error:  # the pipe closed, or what came through it is broken
            raise WorkerFailed(self._ended(error)) from error
        finally:
            self._connection.close()
            self._process.join(5)
            self.stop()

    def stop(self) -> None:
        """Kill the worker if it still runs, and reap it."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()

    def _ended(self, error: Exception) -> str:
        self._process.join(5)
        code = self._process.exitcode
        if code is None:
            return f"{type(error).__name__} from a worker still running"
        if code < 0:
            return f"it was killed by signal {-code}"
        return f"it exited with code {code} before sending the index"


def build(url: str, connection: Connection) -> None:
    """In the worker: read a snapshot of the database at `url`, build, `send`."""
    horizon, removals, texts = read(url)
    send(connection, horizon, removals, texts)


def read(url: str) -> tuple[int, int, dict[str, list[str]]]:
    """(horizon, removals, texts) of the database at `url` (`personal_data.snapshot`)."""
    from bot.preflight.personal_data import snapshot
    from storage.db import connect

    db = connect(url)
    try:
        return snapshot(db)
    finally:
        db.dispose()


def send(connection: Connection, horizon: int, removals: int, texts: dict[str, list[str]]) -> None:
    """Build the index of `texts` and send it through `connection`, piece by piece."""
    from bot.preflight.personal_data import PersonalDataIndex

    index = PersonalDataIndex.from_texts(texts)
    texts.clear()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.send(("built", horizon, removals, peak))
    for blob in index.blobs():
        connection.send_bytes(blob)


def _run(work: Work, url: str, connection: Connection) -> None:
    """The worker process: `work`, then exit at once (nothing to free or flush).
    It runs at a lower priority than the bot: on a busy machine the bot's checks,
    `/healthz` and `/newsletter halt` get the processor before the build does."""
    threading.Thread(target=_end_with_the_bot, args=(connection,), daemon=True).start()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    try:
        work(url, connection)
    except BaseException as error:
        # Only where it failed: the message of an error here may quote personal data.
        where = traceback.extract_tb(error.__traceback__)[-1]
        with contextlib.suppress(OSError):
            connection.send(
                ("failed", f"{type(error).__name__} at {where.filename}:{where.lineno}")
            )
        os._exit(1)
    os._exit(0)


def _end_with_the_bot(connection: Connection) -> None:
    """The bot never writes to the worker: its end of the pipe becomes readable only
    when it closes, because the bot is done with the worker or is gone."""
    connection.poll(None)
    os._exit(1)
