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
  bot's process, as before the worker).

`--database PATH` keeps the generated SQLite database in PATH and uses it again
next time (each run deletes one more subscriber).

Target (issue 12, item 9): under 200 ms per check at 100,000 subscribers and
1,000 requests, the sample renders included.
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import delete, func, insert, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.preflight import PersonalDataCache, preflight  # noqa: E402
from bot.rendering import Footer, compile_issue  # noqa: E402
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
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except OSError:
        return 0.0


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
        compiled = compile_issue(
            "12月号のお知らせ",
            BODY,
            sender="news@example.com",
            stream="broadcast",
            list_name="Newsletter",
            footer=footer,
        )
        failed = Failures()
        logging.getLogger("bot.preflight.personal_data").addHandler(failed)
        cache = PersonalDataCache()
        if args.in_process:
            cache.WORKER_ROWS = None
        stalls = Stalls()

        cpu: list[float] = []  # the checking thread's processor time per check, ms

        def check() -> float:
            started, used = time.perf_counter(), time.thread_time()
            index = cache.get(db)
            findings = preflight(
                compiled,
                body_source=BODY,
                sender_address="news@example.com",
                index=index,
                list_name="Newsletter",
                footer=footer,
            )
            assert not findings, findings  # the body holds nobody's personal data
            cpu.append((time.thread_time() - used) * 1000)
            return (time.perf_counter() - started) * 1000

        stalls.since()
        first = check()
        stalled_first = stalls.since()
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
        cpu.clear()
        during = [check()]
        while not cache.settle(0.2):  # a check every 0.2 s while it runs
            during.append(check())
        rebuild_s = time.perf_counter() - started
        stalled_rebuild = stalls.since()
        during_cpu = list(cpu)
        after_rebuild = check()
        with db.sessions() as session:
            listed = session.execute(select(func.count()).select_from(Subscriber)).scalar_one()
        where = "in this process" if args.in_process else "in a worker process"
        print(
            f"subscribers: {listed:,} (+1,000 unsubscribe requests); "
            f"body {len(BODY.encode()):,} bytes; index built {where}"
        )
        print(f"index size: {cache.get(db).size:,} names, companies, addresses and notes")
        print(f"first check (builds the index): {first:8.1f} ms")
        print(f"repeated check, median:         {statistics.median(repeated):8.1f} ms")
        print(f"repeated check, worst:          {max(repeated):8.1f} ms")
        print(f"check after a change:           {rebuilt:8.1f} ms")
        print(f"rebuild in the background:      {rebuild_s * 1000:8.1f} ms (after a deletion)")
        print(
            f"checks during it: {len(during)}, median {statistics.median(during):.1f} ms, "
            f"worst {max(during):.1f} ms; first after it {after_rebuild:.1f} ms"
        )
        print(
            f"  their processor time: median {statistics.median(during_cpu):.1f} ms, "
            f"worst {max(during_cpu):.1f} ms (the rest of their time is waiting)"
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
        if not args.in_process:
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak resident memory, worker:   {worker:8.0f} MB (the largest)")
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
