"""Benchmark the delivery engine against the Postmark stand-in: 200 ms per call, a
100 Mbit/s uplink, a 20 KB Japanese issue, each POSTMARK_TRANSPORT.

    .venv/bin/python bench/send.py                        # 100k and 1M, every transport
    .venv/bin/python bench/send.py --sizes 10000,100000   # a subset
    .venv/bin/python bench/send.py --transports templates,bulk
    .venv/bin/python bench/send.py --plain                # also the plain script (batch, 100k)

Every part runs in a process of its own, so each figure is that part's alone:

- the Postmark stand-in (`keep_bodies=False`, `latency=0.2`, `bandwidth` 100 Mbit/s
  shared by all requests, counting every request's bytes) in a child process,
  so its CPU never counts as the sender's;
- the set-up (a fresh SQLite database, N subscribers, an issue written,
  submitted and approved through `bot` services) in a child process;
- the send in a child process: `bot.delivery.start_approved` (suppression
  sync, the re-checks, freezing the audience) and the engine's threads until
  the send is finished. Its wall time, `resource.getrusage` CPU (user + system)
  and peak RSS (`ru_maxrss`) are reported;
- for comparison, "what a user would write": the same messages rendered the
  same way and sent sequentially with postmarker's `emails.send_batch`, 500 at
  a time, no ledger.

Two bounds no sender can beat: the latency bound, batches × latency ÷ batches
in flight (one call per batch), and the bandwidth bound, the bytes the send
put on the wire ÷ 100 Mbit/s. "bytes/rcpt" is every byte of every API request
(headers included: the suppression sync, the template, the searches) ÷ N.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (100_000, 1_000_000)
TRANSPORTS = ("batch", "templates", "bulk")
LATENCY = 0.2
BANDWIDTH = 100e6 / 8  # 100 Mbit/s, in bytes per second
IN_FLIGHT = 4
BATCH = 500
TOKEN = "bench-server-token"  # noqa: S105 - the stand-in's token
FAMILY = ["山田", "佐藤", "鈴木", "高橋", "田中", "Smith", "Jones", "Taylor", "Brown", "Wilson"]
GIVEN = ["花子", "太郎", "美咲", "健太", "Alice", "Bob", "Carol", "David", "Emma", "Frank"]
COMPANY = [
    "株式会社サンプル",
    "サンプル商事株式会社",
    "例示工業株式会社",
    "Example Ltd",
    "Northwind",
    "",
]
SUBJECT = "【ニュースレター】{{ list_name }} {{ issue_date }}号"
_SECTION = """
## 第{n}章　今月の話題

私たちの会社では、今年も多くのお客様にご支援をいただきました。新しい製品の開発、展示会への
出展、そして地域の皆様との交流を通じて、たくさんの学びがありました。この章では、その中から
特に印象に残った出来事をご紹介します。開発チームは春から秋にかけて、使いやすさを第一に考えた
改良を重ね、社内の試験運用で集めた声をひとつずつ製品に反映してきました。

- 新しい機能のご案内：予約の管理がより簡単になりました
- 操作画面の改善：文字が大きく、読みやすくなりました
- サポート窓口の受付時間を平日の夜まで延長しました
"""
BODY = (
    """{{ subscriber.name }} 様（{{ subscriber.company }}）

いつもご愛読ありがとうございます。今月の特集をお届けします。
"""
    + "".join(_SECTION.format(n=n) for n in range(1, 26))
    + """
## 今月の特集

- 新製品のご案内：**Countersign 2.0**
- 展示会のお知らせ（東京ビッグサイト、12月）
- [ブログ](https://example.com/blog) を更新しました

| 日程 | 内容 |
|---|---|
| 12/1 | 受付開始 |
| 12/15 | 締切 |

Thank you for reading. See you next month.
"""
)


# --- the stand-in process --------------------------------------------------------------


def run_standin() -> int:
    from bot.standins.postmark import PostmarkStandIn

    standin = PostmarkStandIn(server_token=TOKEN, keep_bodies=False).start()
    standin.latency = LATENCY
    standin.bandwidth = BANDWIDTH
    print(standin.url, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            messages = standin.messages(stream="broadcast")
            distinct = len({m.Recipients[0] for m in messages if m.Recipients})
            print(
                json.dumps(
                    {
                        "messages": len(messages),
                        "distinct": distinct,
                        "wire_bytes": standin.wire_bytes,
                        "templates": len(standin.templates),
                    }
                ),
                flush=True,
            )
        elif command == "reset":
            standin.reset()
            standin.latency = LATENCY
            standin.bandwidth = BANDWIDTH
            print("{}", flush=True)
        elif command == "quit":
            break
    standin.stop()
    return 0


class StandIn:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--standin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=30)


# --- the desk ------------------------------------------------------------------------------


def _desk(database_url: str, postmark_url: str, transport: str = "batch") -> Any:
    from bot.clock import SystemClock
    from bot.desk import CollectingNotifier, Desk, gateway_from
    from bot.settings import Settings
    from storage.db import connect

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        POSTMARK_SERVER_TOKEN=TOKEN,
        POSTMARK_API_URL=postmark_url,
        NEWSLETTER_NAME="Newsletter",
        NEWSLETTER_FROM="Countersign News <news@example.com>",
        # The footer the law requires (issue 12): preflight blocks without it.
        NEWSLETTER_POSTAL_ADDRESS="1-2-3 Example-cho, Chiyoda-ku, Tokyo 100-0000, Japan",
        APPROVERS="U0APPROV1",
        SEND_BATCHES_IN_FLIGHT=IN_FLIGHT,
        POSTMARK_TRANSPORT=transport,
    )

    class Directory:
        def is_team_member(self, user_id: str) -> bool:
            return True

        def is_approver(self, user_id: str) -> bool:
            return user_id == "U0APPROV1"

        def approvers(self) -> frozenset[str]:
            return frozenset({"U0APPROV1"})

        def email_of(self, user_id: str) -> str | None:
            return None

    return Desk(
        settings=settings,
        db=connect(database_url),
        clock=SystemClock(),
        postmark=gateway_from(settings),
        directory=Directory(),
        notifier=CollectingNotifier(),
    )


# --- set-up, send, plain script (each in its own process) --------------------------------


def run_setup(database_url: str, postmark_url: str, size: int) -> int:
    from sqlalchemy import insert

    from bot import approvals, issues
    from bot.subscribers import get_or_create_list
    from storage import migrate
    from storage.models import Subscriber

    desk = _desk(database_url, postmark_url)
    migrate.upgrade(desk.db.engine)
    now = desk.clock.now()
    with desk.db.transaction() as session:
        list_id = get_or_create_list(session, "Newsletter", now).id
    chunk = 50_000
    for start in range(0, size, chunk):
        rows = [
            {
                "list_id": list_id,
                "email": f"reader{i}@corp{i % 997}.example.com",
                "name": f"{FAMILY[i % 10]} {GIVEN[(i // 10) % 10]}",
                "company": COMPANY[i % len(COMPANY)],
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(size, start + chunk))
        ]
        with desk.db.transaction() as session:
            session.execute(insert(Subscriber), rows)
    saved = issues.create(desk, actor="U0EDITOR1", subject=SUBJECT, body=BODY)
    card = approvals.submit(desk, saved.issue_id, actor="U0EDITOR1")
    approvals.approve(desk, card.request_id, actor="U0APPROV1")
    print(json.dumps({"request_id": card.request_id}), flush=True)
    return 0


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def run_send(database_url: str, postmark_url: str, request_id: int, transport: str) -> int:
    from bot import delivery
    from bot.delivery_engine import Engine, EngineOptions
    from storage.models import Send

    desk = _desk(database_url, postmark_url, transport)
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None, desk.notifier.notices
    engine = Engine(desk, EngineOptions(batch_size=BATCH, in_flight=IN_FLIGHT))
    engine.start()
    while True:
        with desk.db.sessions() as session:
            send = session.get(Send, send_id)
            assert send is not None
            if send.state != "sending":
                break
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    engine.stop()
    cpu1, rss = _usage()
    report = delivery.status(desk, send_id=send_id)[0]
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu1 - cpu0,
                "rss_mb": rss,
                "state": send.state,
                "sent": report.sent,
                "total": report.total,
            }
        ),
        flush=True,
    )
    return 0


def run_plain(database_url: str, postmark_url: str) -> int:
    """What a user would write instead: render, then send_batch, 500 at a time."""
    from postmarker.core import PostmarkClient
    from sqlalchemy import select

    from bot import issues
    from bot.rendering import RecipientContext, render_message
    from storage.models import Issue, Subscriber

    desk = _desk(database_url, postmark_url)
    client = PostmarkClient(server_token=TOKEN, root_api_url=postmark_url, timeout=30)
    with desk.db.sessions() as session:
        issue = session.execute(select(Issue)).scalars().first()
        assert issue is not None
        version = issues.current_version(session, issue)
        compiled = issues.compiled_of(version)
        date = issues.issue_date(version, desk.settings.tz)
        people = session.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.company)
        ).all()
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    for start in range(0, len(people), BATCH):
        batch = []
        for email, name, company in people[start : start + BATCH]:
            message = render_message(compiled, RecipientContext(name, company, "Newsletter", date))
            batch.append(
                {
                    "From": compiled.sender,
                    "To": email,
                    "Subject": message.subject,
                    "HtmlBody": message.html,
                    "TextBody": message.text,
                    "MessageStream": "broadcast",
                }
            )
        client.emails.send_batch(*batch)
    wall = time.perf_counter() - t0
    cpu1, rss = _usage()
    print(json.dumps({"wall": wall, "cpu": cpu1 - cpu0, "rss_mb": rss}), flush=True)
    return 0


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode != 0:  # say why, not only that it failed
        sys.stderr.write(out.stderr)
        raise SystemExit(f"bench/send.py {args[0]} failed with exit status {out.returncode}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _copy_database(source: str, target: str) -> None:
    """A consistent copy of the set-up's SQLite file (WAL included)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--plain", action="store_true", help="also the plain script at 100k")
    parser.add_argument("--standin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--send", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--run-plain", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.standin:
        return run_standin()
    if args.setup:
        return run_setup(args.setup[0], args.setup[1], int(args.setup[2]))
    if args.send:
        return run_send(args.send[0], args.send[1], int(args.send[2]), args.send[3])
    if args.run_plain:
        return run_plain(args.run_plain[0], args.run_plain[1])

    sizes = [int(s) for s in args.sizes.split(",") if s]
    transports = [t for t in args.transports.split(",") if t]
    print(
        f"Postmark stand-in: {LATENCY * 1000:.0f} ms per call, {BANDWIDTH * 8 / 1e6:.0f} Mbit/s "
        f"uplink, {IN_FLIGHT} batches in flight, {BATCH} per batch, SQLite; "
        f"issue body {len(BODY.encode())} bytes of Markdown"
    )
    header = (
        f"{'transport':>9} {'recipients':>10} {'wall s':>8} {'msg/s':>8} {'bytes/rcpt':>10} "
        f"{'lat. s':>7} {'bw. s':>7} {'ratio':>6} {'CPU µs/rcpt':>11} {'peak RSS MB':>11}  check"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="countersign-bench-") as tmp:
        for size in sizes:
            setup_url = f"{tmp}/setup-{size}.db"
            standin = StandIn()
            try:
                setup = _child("--setup", f"sqlite:///{setup_url}", standin.url, str(size))
            finally:
                standin.close()
            for transport in transports:
                path = f"{tmp}/send-{size}-{transport}.db"
                _copy_database(setup_url, path)
                url = f"sqlite:///{path}"
                standin = StandIn()
                try:
                    result = _child("--send", url, standin.url, str(setup["request_id"]), transport)
                    stored = standin.ask("count")
                finally:
                    standin.close()
                batches = -(-size // BATCH)
                latency_bound = batches * LATENCY / IN_FLIGHT
                bandwidth_bound = stored["wire_bytes"] / BANDWIDTH
                bound = max(latency_bound, bandwidth_bound)
                ok = stored["messages"] == stored["distinct"] == result["sent"] == size
                ok = ok and stored["templates"] == 0
                print(
                    f"{transport:>9} {size:>10,} {result['wall']:>8.1f} "
                    f"{size / result['wall']:>8,.0f} {stored['wire_bytes'] / size:>10,.0f} "
                    f"{latency_bound:>7.1f} {bandwidth_bound:>7.1f} {result['wall'] / bound:>6.2f} "
                    f"{result['cpu'] * 1e6 / size:>11.1f} {result['rss_mb']:>11.1f}  "
                    f"{'each once' if ok else 'MISMATCH ' + json.dumps(stored)}",
                    flush=True,
                )
            if size == 100_000 and args.plain:
                standin = StandIn()
                try:
                    plain = _child("--run-plain", f"sqlite:///{setup_url}", standin.url)
                finally:
                    standin.close()
                print(
                    f"plain script (postmarker send_batch, sequential), 100,000: "
                    f"{plain['wall']:.1f} s, {100_000 / plain['wall']:,.0f} msg/s, "
                    f"CPU {plain['cpu'] * 1e6 / 100_000:.1f} µs/rcpt",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
