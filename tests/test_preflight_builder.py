"""The personal-data index built in a worker process (`bot.preflight_builder`):
the same index as the bot's process would build, handed over in pieces; a check
during such a rebuild knows every change; a worker that fails, crashes, is
killed or hangs leaves the bot a complete index; no worker outlives the bot.

Every test here starts a real process (spawned, ~0.1 s for a stand-in's work,
~1-2 s for a real build); the other cache tests build in the bot's process."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from bot import preflight_builder
from bot.clock import FrozenClock
from bot.preflight import PersonalDataCache, PersonalDataIndex
from bot.preflight.disguise import Haystack
from bot.preflight.personal_data import Needle, NeedleTable, snapshot
from storage.db import Database
from storage.models import Subscriber
from tests.fixtures import builders
from tests.test_preflight import add_person, add_request

ROOT = Path(__file__).resolve().parent.parent


def in_a_worker(work: preflight_builder.Work = preflight_builder.build) -> PersonalDataCache:
    cache = PersonalDataCache(work=work)
    cache.WORKER_ROWS = 0  # however short the list
    return cache


def contents(index: PersonalDataIndex) -> dict[str, list[Needle]]:
    return {view: sorted(table.needles()) for view, table in index.tables.items()}


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[preflight_builder.Worker]:
    """Every worker process the cache starts."""
    started: list[preflight_builder.Worker] = []

    class Recorded(preflight_builder.Worker):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(preflight_builder, "Worker", Recorded)
    return started


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "worker process failed" in r.getMessage()]


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie no one reaps counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_a_worker_builds_the_index_the_bots_process_would(
    db: Database, clock: FrozenClock, workers: list, caplog: pytest.LogCaptureFixture
):
    add_person(db, clock, "kenta@example.com", "山口 健太", "株式会社リークウェル")
    add_person(db, clock, "alice@example.com", "Alice Example", "Northwind Trading")
    add_request(db, clock, "gone@example.jp", "佐藤 結衣", "有限会社テスト")
    cache = in_a_worker()
    index = cache.get(db)
    assert len(workers) == 1 and failures(caplog) == []
    *_, texts = snapshot(db)
    here = PersonalDataIndex.from_texts(texts)
    assert contents(index) == contents(here) and index.size == here.size > 0
    found = index.find("Kenta Yamaguchi, alice example, ㈱リークウェル, gone@example.jp")
    assert {shown for _, shown in found} == {
        "山口 健太",
        "alice example",
        "株式会社リークウェル",
        "gone@example.jp",
    }
    assert gone(workers[0].pid)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["name", "company", "address", "note"]),
            st.text(alphabet="山田花子株式会社サンプルやまだ abcXYZ@.-", min_size=1, max_size=12),
        ),
        max_size=12,
    ),
    st.integers(1, 12),
)
def test_an_index_in_pieces_loads_as_it_was_in_shards_of_any_size(
    values: list[tuple[str, str]], shard: int
):
    """What a worker sends is what it built; automata cut into shards (here of a
    few characters of keys) find what one automaton finds."""
    whole = PersonalDataIndex.from_values(values)
    NeedleTable.SHARD_CHARACTERS, default = shard, NeedleTable.SHARD_CHARACTERS
    try:
        sharded = PersonalDataIndex.from_values(values)
    finally:
        NeedleTable.SHARD_CHARACTERS = default
    loaded = PersonalDataIndex.load(iter(list(sharded.blobs())).__next__)
    assert contents(loaded) == contents(sharded) == contents(whole)
    assert loaded.size == sharded.size == whole.size
    text = "、".join(f"{raw}さん" for _, raw in values)
    haystack = Haystack.of(text)
    assert loaded.search(haystack) == sharded.search(haystack) == whole.search(haystack)


@pytest.mark.parametrize(
    ("work", "reason"),
    [
        (builders.exits, "it exited with code 3"),
        (builders.is_killed, "it was killed by signal 9"),
        (builders.raises, "it failed: ValueError at "),
    ],
)
def test_a_failed_worker_leaves_the_bot_a_complete_index(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture, work, reason: str
):
    add_person(db, clock, "kenta@example.com", "山口 健太")
    with caplog.at_level(logging.WARNING):
        index = in_a_worker(work).get(db)
    assert index.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    [failure] = failures(caplog)
    assert reason in failure and "building it in the bot's process" in failure
    assert "山田" not in failure and "hanako" not in failure  # what its error said: not logged


def test_a_worker_that_cannot_start_leaves_the_bot_a_complete_index(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture, monkeypatch
):
    """No process to be had (out of memory, of process slots): built here."""

    def cannot(self) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", cannot)
    add_person(db, clock, "kenta@example.com", "山口 健太")
    with caplog.at_level(logging.WARNING):
        index = in_a_worker().get(db)
    assert index.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    [failure] = failures(caplog)
    assert "it could not start" in failure


def test_a_rebuild_whose_worker_crashes_is_done_in_the_bots_process(
    db: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture
):
    leaving = add_person(db, clock, "misaki@example.com", "木村美咲")
    add_person(db, clock, "taro@example.com", "佐藤太郎")
    cache = PersonalDataCache(work=builders.exits)
    cache.WORKER_ROWS = None  # the first index here; the rebuild in a worker
    assert cache.get(db).find("木村美咲です")
    cache.WORKER_ROWS = 0
    with db.transaction() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == leaving))
    with caplog.at_level(logging.WARNING):
        cache.get(db)
        assert cache.settle(60)
    after = cache.get(db)
    assert after.find("木村美咲です") == [] and after.find("佐藤太郎です")
    assert len(failures(caplog)) == 1


def test_a_check_during_a_rebuild_in_a_worker_knows_every_change(
    db: Database, clock: FrozenClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The worker reads its snapshot; a subscriber added after it is found by every
    check meanwhile and after the worker's index is in (it came with the horizon
    of the worker's snapshot); the deleted one is gone once it is in."""
    leaving = add_person(db, clock, "misaki@example.com", "木村美咲")
    add_person(db, clock, "taro@example.com", "佐藤太郎")
    cache = PersonalDataCache(work=partial(builders.held, str(tmp_path)))
    cache.WORKER_ROWS = None
    before = cache.get(db)
    cache.WORKER_ROWS = 0
    with db.transaction() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == leaving))
    cache.get(db)  # the deletion: a rebuild starts, in a worker
    for _ in range(600):
        if (tmp_path / "read").exists():
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the worker never read its snapshot")
    add_person(db, clock, "kenta@example.com", "山口 健太")
    answer: list[PersonalDataIndex] = []
    checker = threading.Thread(target=lambda: answer.append(cache.get(db)), daemon=True)
    checker.start()
    checker.join(timeout=20)
    assert answer, "a check waited for the worker"
    during = answer[0]
    assert during.tables is before.tables
    assert during.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    assert during.find("佐藤太郎です")
    (tmp_path / "go").touch()
    assert cache.settle(60)
    after = cache.get(db)
    assert after.tables is not before.tables and failures(caplog) == []  # the worker's
    assert after.find("Thank you, Kenta Yamaguchi!") == [("name", "山口 健太")]
    assert after.find("佐藤太郎です") and after.find("木村美咲です") == []


def test_closing_the_cache_ends_a_building_worker(db: Database, clock: FrozenClock, workers: list):
    """The bot stops while a worker builds: the worker is killed, and the check that
    waited for it gets an index built in the bot's process."""
    add_person(db, clock, "kenta@example.com", "山口 健太")
    cache = in_a_worker(builders.hangs)
    answer: list[PersonalDataIndex] = []
    checker = threading.Thread(target=lambda: answer.append(cache.get(db)), daemon=True)
    checker.start()
    for _ in range(600):
        if workers:
            break
        time.sleep(0.05)
    cache.close()
    checker.join(timeout=30)
    assert answer and answer[0].find("山口健太さん")
    assert gone(workers[0].pid)


def test_a_worker_ends_when_the_bot_is_killed(tmp_path: Path):
    """A bot killed outright runs no clean-up: its worker notices its pipe close."""
    bot = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from bot import preflight_builder\n"
        "from tests.fixtures import builders\n"
        f"worker = preflight_builder.Worker('sqlite:///{tmp_path}/x.db', builders.hangs)\n"
        f"Path('{tmp_path}/pid').write_text(str(worker.pid))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    with (tmp_path / "output").open("w") as output:  # (no pipe the worker would hold open)
        ran = subprocess.run(
            [sys.executable, "-c", bot], cwd=ROOT, stdout=output, stderr=output, timeout=60
        )
    assert ran.returncode == -9, (tmp_path / "output").read_text()
    pid = int((tmp_path / "pid").read_text())
    for _ in range(200):
        if gone(pid):
            break
        time.sleep(0.05)
    assert gone(pid), "the worker outlived the bot"
