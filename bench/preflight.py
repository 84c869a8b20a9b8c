"""Benchmark the preflight check with its personal-data scan.

    .venv/bin/python bench/preflight.py                   # 100,000 subscribers
    .venv/bin/python bench/preflight.py --subscribers 10000

Builds a SQLite database with N made-up subscribers (unique Japanese and
English names and companies, example.com addresses) and 1,000 unsubscribe
requests with typed names, companies and notes, then measures the whole
preflight through the same `PersonalDataCache` the bot uses:

- the first check (the index is built from the database),
- repeated checks while nothing changed (the cache's horizon query and the
  two range queries that find no changed row, the two sample renders of a
  ~10 KB Japanese issue, reading them as a reader does, and the scan of every
  text in every view), median and worst,
- the first check after one subscriber changed (the change is added to the
  index without rebuilding it),
- after a deletion: the rebuild in the background, and the checks made while it
  runs (they use the last index plus the changes), until the fresh index is in,
- the longest the bot's process kept another thread waiting (a thread that asks
  to run every millisecond: what a `/healthz` or `/newsletter halt` would wait)
  during the first build and during the rebuild,
- the peak resident memory of the bot's process and of the worker processes that
  built the index (`PersonalDataCache.WORKER_ROWS`; `--in-process` builds in the
  bot's process, as before the worker),
- where each check's time went: on a core (the checking thread's processor time),
  runnable but waiting for a core (the kernel's run queue: the machine's load),
  and the rest, not runnable (the interpreter lock, a lock, the disk), with the
  garbage collector's pauses (`gc.callbacks`) and the page faults (`RUSAGE_THREAD`).

Each check is of a version of its own (the issue number in its first line),
compiled beforehand as a save does, so no reading of a rendered message is
cached from the check before.

`--database PATH` keeps the generated SQLite database in PATH and uses it again
next time (each run deletes one more subscriber).

Target (issue 12, item 9): under 200 ms per check at 100,000 subscribers and
1,000 requests, the sample renders included.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.preflight import PersonalDataCache, preflight  # noqa: E402
from bot.rendering import CompiledIssue, Footer, compile_issue  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import connect  # noqa: E402
from storage.models import MailingList, Subscriber, UnsubscribeRequest  # noqa: E402

# Unique made-up names: two kanji for the family name and two for the given name
# (half typed with a space, half without), and English ones made of syllables.
KANJI = "山田中村川本井上木森林小大高松竹石原岡野藤佐伊加清水沢島橋谷内"
GIVEN_KANJI = "太郎一花子美咲健翔結衣蓮大輝明優真由香奈菜陽拓海彩愛誠直樹和"
SYLLABLES = ["ka", "ri", "mo", "len", "vast", "do", "bel", "tor", "sa", "win", "ne", "gar"]


def names(count: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []
    while len(found) < count:
        if len(found) % 3:
            family = rng.choice(KANJI) + rng.choice(KANJI)
            given = rng.choice(GIVEN_KANJI) + rng.choice(GIVEN_KANJI)
            name = f"{family} {given}" if len(found) % 2 else family + given
        else:
            first = "".join(rng.choice(SYLLABLES) for _ in range(2)).title()
            last = "".join(rng.choice(SYLLABLES) for _ in range(3)).title()
            name = f"{first} {last}"
        if name.replace(" ", "") not in seen:
            seen.add(name.replace(" ", ""))
            found.append(name)
    return found


BODY = (
    "# 12月号\n\n{{ subscriber.name }}様\n\n"
    + (
        "本年も大変お世話になりました。新サービスの提供を開始いたしました。"
        "詳しくは当社ウェブサイトをご覧ください。\n\n"
    )
    * 60
    + "[配信停止]({{ unsubscribe_url }})\n"
)


def build(url: str, subscribers: int) -> None:
    db = connect(url)
    migrate.upgrade(db.engine)
    rng = random.Random(7)
    now = datetime.now(UTC)
    people = names(subscribers, rng)
    with db.transaction() as session:
        mailing_list = MailingList(name="Newsletter", created_at=now)
        session.add(mailing_list)
        session.flush()
        rows = [
            {
                "list_id": mailing_list.id,
                "email": f"reader{i}@example.com",
                "name": people[i],
                "company": f"株式会社サンプル{i}" if i % 3 else f"Example Trading {i}",
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(subscribers)
        ]
        session.execute(insert(Subscriber), rows)
        session.execute(
            insert(UnsubscribeRequest),
            [
                {
                    "email": f"gone{i}@example.com",
                    "email_hash": f"{i:064x}",
                    "given_name": f"退会{i}",
                    "given_company": f"有限会社テスト{i}",
                    "note": f"退会{i} 様より電話。有限会社テスト{i} の総務部、受付番号 {i}",
                    "actor": "U0EDITOR1",
                    "confirmation_requested": False,
                    "created_at": now,
                }
                for i in range(1_000)
            ],
        )
    db.dispose()


class Failures(logging.Handler):
    """Counts the cache's warnings that a worker failed (it then builds here)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "worker process failed" in record.getMessage()


class Stalls:
    """A thread that asks to run every millisecond, and the longest it waited: in
    all, and for the interpreter lock alone (the wait less the time it spent
    runnable in the kernel's run queue, waiting for a core on a busy machine:
    Linux's /proc/thread-self/schedstat)."""

    def __init__(self) -> None:
        self.worst = self.worst_lock = 0.0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        last, queued = time.perf_counter(), _run_queue_wait()
        while True:
            time.sleep(0.001)
            now, now_queued = time.perf_counter(), _run_queue_wait()
            self.worst = max(self.worst, now - last)
            self.worst_lock = max(self.worst_lock, now - last - (now_queued - queued) - 0.001)
            last, queued = now, now_queued

    def since(self) -> tuple[float, float]:
        """The longest wait, and the longest for the lock, since the last call, in ms."""
        worst, lock = self.worst, self.worst_lock
        self.worst = self.worst_lock = 0.0
        return worst * 1000, lock * 1000


def _run_queue_wait() -> float:
    """Seconds this thread has spent runnable, waiting for a core (0 if unknown)."""
    return _scheduled()[1]


def _scheduled() -> tuple[float, float]:
    """Seconds this thread has spent on a core (`time.thread_time()` if unknown), and
    runnable, waiting for one (0 if unknown): Linux's /proc/thread-self/schedstat,
    both read at once, so that they add up against the wall clock."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            on_a_core, waiting = stat.read().split()[:2]
            return int(on_a_core) / 1e9, int(waiting) / 1e9
    except OSError:
        return time.thread_time(), 0.0


class Pauses:
    """The garbage collector's pauses, in any thread (a check waits for them all)."""

    def __init__(self) -> None:
        self.total = self.worst = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._started
            self.total += pause
            self.worst = max(self.worst, pause)


class Check(NamedTuple):
    """Where one check's time went, in ms."""

    wall: float
    cpu: float  # on a core (the checking thread's processor time)
    queued: float  # runnable, waiting for a core (the machine's load)
    gc: float  # the garbage collector's pauses meanwhile
    faults: int  # the checking thread's page faults

    @property
    def rest(self) -> float:
        """Not runnable: waiting for the interpreter lock, a lock or the disk."""
        return self.wall - self.cpu - self.queued


def summary(checks: list[Check]) -> str:
    """Median and worst of each part, and the parts of the slowest check."""
    parts = [
        f"{name} {statistics.median(values):.1f} / {max(values):.1f}"
        for name, values in (
            ("on a core", [c.cpu for c in checks]),
            ("waiting for a core", [c.queued for c in checks]),
            ("not runnable", [c.rest for c in checks]),
            ("gc", [c.gc for c in checks]),
        )
    ]
    worst = max(checks, key=lambda c: c.wall)
    return (
        f"median / worst ms: {', '.join(parts)}; page faults {sum(c.faults for c in checks)}\n"
        f"    slowest: {worst.wall:.1f} ms = {worst.cpu:.1f} on a core + {worst.queued:.1f} "
        f"waiting for a core + {worst.rest:.1f} not runnable (gc {worst.gc:.1f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=30)
    parser.add_argument("--database", type=Path, help="keep the database here, and reuse it")
    parser.add_argument("--in-process", action="store_true", help="build in this process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = args.database or Path(folder) / "preflight.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            build(url, args.subscribers)
        db = connect(url)
        footer = Footer("Navigate", "〒100-0001 東京都千代田区見本町1-2-3", "news@example.com")
        versions = itertools.count(1)

        def version() -> tuple[str, CompiledIssue]:
            """A new version of the issue, compiled (as saving it does)."""
            body = BODY.replace("# 12月号", f"# 12月号 (第{next(versions)}版)", 1)
            compiled = compile_issue(
                "12月号のお知らせ",
                body,
                sender="news@example.com",
                stream="broadcast",
                list_name="Newsletter",
                footer=footer,
            )
            return body, compiled

        failed = Failures()
        logging.getLogger("bot.preflight.personal_data").addHandler(failed)
        cache = PersonalDataCache()
        if args.in_process:
            cache.WORKER_ROWS = None
        stalls = Stalls()
        pauses = Pauses()

        def check() -> Check:
            body, compiled = version()
            before = resource.getrusage(resource.RUSAGE_THREAD)
            gc_before, (used, queued) = pauses.total, _scheduled()
            started = time.perf_counter()
            index = cache.get(db)
            findings = preflight(
                compiled,
                body_source=body,
                sender_address="news@example.com",
                index=index,
                list_name="Newsletter",
                footer=footer,
            )
            wall, (cpu, waited) = time.perf_counter() - started, _scheduled()
            after = resource.getrusage(resource.RUSAGE_THREAD)
            assert not findings, findings  # the body holds nobody's personal data
            return Check(
                wall * 1000,
                (cpu - used) * 1000,
                (waited - queued) * 1000,
                (pauses.total - gc_before) * 1000,
                after.ru_minflt - before.ru_minflt + after.ru_majflt - before.ru_majflt,
            )

        stalls.since()
        first = check()
        stalled_first = stalls.since()
        tracked = len(gc.get_objects())
        repeated = [check() for _ in range(args.checks)]
        with db.transaction() as session:
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == 1)
                .values(name="更新太郎", updated_at=datetime.now(UTC))
            )
        rebuilt = check()
        # A deletion: the index rebuilds in the background; checks go on meanwhile.
        with db.transaction() as session:
            gone = session.execute(select(func.min(Subscriber.id)).where(Subscriber.id > 1))
            session.execute(delete(Subscriber).where(Subscriber.id == gone.scalar_one()))
        stalls.since()
        started = time.perf_counter()
        during = [check()]
        while not cache.settle(0.2):  # a check every 0.2 s while it runs
            during.append(check())
        rebuild_s = time.perf_counter() - started
        stalled_rebuild = stalls.since()
        after_rebuild = check()
        with db.sessions() as session:
            listed = session.execute(select(func.count()).select_from(Subscriber)).scalar_one()
        worker = cache.WORKER_ROWS is not None and listed + 1_000 >= cache.WORKER_ROWS
        where = "in a worker process" if worker else "in this process"
        index = cache.get(db)
        automata = sum(len(table.automata) for table in index.tables.values())
        print(
            f"subscribers: {listed:,} (+1,000 unsubscribe requests); "
            f"body {len(BODY.encode()):,} bytes; index built {where}"
        )
        print(
            f"index size: {index.size:,} names, companies, addresses and notes "
            f"in {automata} automata; {tracked:,} objects tracked by the gc after the build"
        )
        walls = [c.wall for c in repeated]
        print(f"first check (builds the index): {first.wall:8.1f} ms")
        print(f"repeated check, median:         {statistics.median(walls):8.1f} ms")
        print(f"repeated check, worst:          {max(walls):8.1f} ms")
        print(f"  {summary(repeated)}")
        print(f"check after a change:           {rebuilt.wall:8.1f} ms")
        print(f"rebuild in the background:      {rebuild_s * 1000:8.1f} ms (after a deletion)")
        walls = [c.wall for c in during]
        print(
            f"checks during it: {len(during)}, median {statistics.median(walls):.1f} ms, "
            f"worst {max(walls):.1f} ms; first after it {after_rebuild.wall:.1f} ms"
        )
        print(f"  {summary(during)}")
        print(
            f"gc pauses in all: {pauses.total * 1000:.0f} ms, "
            f"the longest {pauses.worst * 1000:.1f} ms"
        )
        print(
            f"longest wait of another thread: {stalled_first[0]:.0f} ms during the first "
            f"build, {stalled_rebuild[0]:.0f} ms during the rebuild"
        )
        print(
            f"  of it for the interpreter lock: {stalled_first[1]:.0f} ms and "
            f"{stalled_rebuild[1]:.0f} ms (the rest waiting for a core)"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory:           {rss:8.0f} MB (this process)")
        if failed.count:
            print(f"WORKER FAILED {failed.count} times: built in this process instead")
        if worker:
            worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak resident memory, worker:   {worker_rss:8.0f} MB (the largest)")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
