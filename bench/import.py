"""Benchmark `bot.subscribers.import_csv` on generated files.

    .venv/bin/python bench/import.py                     # 10k, 100k and 1M rows
    .venv/bin/python bench/import.py --sizes 10000,100000
    .venv/bin/python bench/import.py --sizes 100000 --changed  # and a re-import changing every name

For each size the parent generates a CSV (streamed to disk; by default
Mailchimp's subscribed-members export with its 23 columns, `--format plain`
for email,name,company: mixed English and Japanese names and companies,
example.com/.jp/.net style domains, ~1 % duplicate addresses, ~0.5 % invalid
rows), then runs the import in a child process of its own against a fresh
SQLite database, so that each size's peak RSS (`ru_maxrss` of the child) is
its own. The child imports the file twice:
the second run is the re-import, which must change nothing. Each line also
gives the child's processor time for the first import and the load average
when the size started: the machine is shared, and on a busy one the processor
time says more than the wall clock. A file of `bot.import_reader.PIPELINE_BYTES`
or more is read by a worker process of the child's (`bot.import_reader`): its
processor time and peak RSS are printed too (`RUSAGE_CHILDREN`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)

GIVEN_EN = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Isla", "Jack"]
FAMILY_EN = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts"]
GIVEN_JA = ["花子", "太郎", "一郎", "美咲", "健太", "さくら", "翔太", "陽菜"]
FAMILY_JA = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
COMPANY_EN = ["Example Ltd", "Sample Trading Co.", "Acme Widgets", "Northwind", ""]
COMPANY_JA = ["株式会社サンプル", "サンプル商事株式会社", "有限会社テスト", "例示工業株式会社", ""]
INVALID = ["not-an-address", "hanako@", "@example.com", "two@@example.com", "a b@example.com"]


def _domains(rng: random.Random) -> tuple[list[str], list[float]]:
    """A realistic spread: a few big domains, a long tail of company domains."""
    big = ["example.com", "example.jp", "example.net", "mail.example.com", "example.co.jp"]
    tail = [f"corp{i}.example.{('com', 'jp', 'net')[i % 3]}" for i in range(2_000)]
    weights = [20.0, 15.0, 8.0, 5.0, 4.0] + [48.0 / len(tail)] * len(tail)
    return big + tail, weights


# Mailchimp's subscribed-members export: its columns, in its order.
MAILCHIMP = (
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "Company",
    "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
    "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID",
    "EUID", "NOTES", "TAGS",
)  # fmt: skip


def _mailchimp_row(email: str, given: str, family: str, company: str, i: int) -> tuple[str, ...]:
    when = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 09:{i % 60:02d}:00"
    return (
        email, given, family, "", "", company, "2", when, "", when, "203.0.113.7", "", "",
        "9", "0", "Asia/Tokyo", "JP", "13", when, str(10_000_000 + i), f"{i:010x}", "",
        '"newsletter"',
    )  # fmt: skip


def generate(
    path: Path, rows: int, seed: int = 20261102, form: str = "mailchimp", renamed: str = ""
) -> None:
    """The file; with `renamed`, the same addresses with every given name changed."""
    rng = random.Random(seed)
    domains, weights = _domains(rng)
    recent: list[str] = []
    mailchimp = form == "mailchimp"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(MAILCHIMP if mailchimp else ("email", "name", "company"))
        batch = 10_000
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            picked = rng.choices(domains, weights, k=n)
            for i in range(n):
                roll = rng.random()
                japanese = rng.random() < 0.4
                if japanese:
                    given, family = rng.choice(GIVEN_JA) + renamed, rng.choice(FAMILY_JA)
                    name = family + given
                    company = rng.choice(COMPANY_JA)
                else:
                    given, family = rng.choice(GIVEN_EN) + renamed, rng.choice(FAMILY_EN)
                    name = f"{given} {family}"
                    company = rng.choice(COMPANY_EN)
                if roll < 0.005:
                    email = rng.choice(INVALID)
                elif roll < 0.015 and recent:
                    email = rng.choice(recent).upper()  # a duplicate, spelt differently
                else:
                    email = f"user{start + i}.{rng.randrange(10**6)}@{picked[i]}"
                    if len(recent) < 5_000:
                        recent.append(email)
                    else:
                        recent[rng.randrange(5_000)] = email
                if mailchimp:
                    writer.writerow(_mailchimp_row(email, given, family, company, start + i))
                else:
                    writer.writerow((email, name, company))


def child(csv_path: str, db_path: str, changed_path: str | None = None) -> None:
    """Run in a subprocess: import twice (and the changed file, if given), print
    one JSON line of figures."""
    import resource

    sys.path.insert(0, str(ROOT))
    from bot.clock import SystemClock
    from bot.subscribers import import_csv
    from storage import migrate
    from storage.db import connect

    db = connect(f"sqlite:///{db_path}")
    migrate.upgrade(db.engine)
    figures: dict[str, object] = {}
    runs = {"first": csv_path, "second": csv_path}
    if changed_path:
        runs["changed"] = changed_path
    for run, path in runs.items():
        started, cpu = time.perf_counter(), time.process_time()
        report = import_csv(
            db, Path(path), list_name="Newsletter", actor="bench", clock=SystemClock()
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        figures[run] = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "rows_per_s": round(report.rows / seconds),
            "rows": report.rows,
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "merged": report.merged,
            "rejected": report.rejected_count,
        }
        if run == "second" and (report.added or report.updated):
            # The re-import must change nothing; a figure for one that did is no figure.
            raise SystemExit(f"the re-import changed the list: {report}")
        if run == "changed" and not report.updated:
            raise SystemExit(f"the changed file changed nothing: {report}")
        figures[f"{run}_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        # A large file is read by a worker process of its own (bot.import_reader): its
        # processor time and peak RSS count too.
        workers = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures[f"{run}_workers_cpu_seconds"] = round(workers.ru_utime + workers.ru_stime, 2)
        figures[f"{run}_workers_peak_rss_mb"] = round(workers.ru_maxrss / 1024, 1)
    db.dispose()
    print(json.dumps(figures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated row counts (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--format",
        choices=("mailchimp", "plain"),
        default="mailchimp",
        help="Mailchimp's subscribed export (23 columns, the default) or email,name,company",
    )
    parser.add_argument(
        "--changed",
        action="store_true",
        help="then import the same addresses with every given name changed (a re-import "
        "that updates nearly every subscriber)",
    )
    parser.add_argument("--child", nargs="+", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    print(
        f"{'rows':>10} {'1st rows/s':>11} {'1st s':>7} {'1st cpu s':>9} {'2nd rows/s':>11} "
        f"{'2nd s':>7} {'peak RSS MB':>12} {'load':>5}"
    )
    with tempfile.TemporaryDirectory(prefix="countersign-bench-") as tmp:
        for size in sizes:
            csv_path = Path(tmp) / f"subscribers-{size}.csv"
            db_path = Path(tmp) / f"bench-{size}.db"
            generate(csv_path, size, form=args.format)
            changed_path = Path(tmp) / f"subscribers-{size}-changed.csv"
            if args.changed:
                generate(changed_path, size, form=args.format, renamed="子")
            load = os.getloadavg()[0]
            paths = [str(csv_path), str(db_path)] + ([str(changed_path)] if args.changed else [])
            result = subprocess.run(
                [sys.executable, __file__, "--child", *paths],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            first, second = figures["first"], figures["second"]
            print(
                f"{size:>10} {first['rows_per_s']:>11,} {first['seconds']:>7} "
                f"{first['cpu_seconds']:>9} {second['rows_per_s']:>11,} {second['seconds']:>7} "
                f"{figures['second_peak_rss_mb']:>12} {load:>5.1f}",
                flush=True,
            )
            print(f"{'':>10} first: {json.dumps(first)}", flush=True)
            print(f"{'':>10} second: {json.dumps(second)}", flush=True)
            if "changed" in figures:
                print(f"{'':>10} changed: {json.dumps(figures['changed'])}", flush=True)
            reader_first = figures["first_workers_cpu_seconds"]
            reader_second = round(figures["second_workers_cpu_seconds"] - reader_first, 2)
            print(
                f"{'':>10} reader process CPU s: first {reader_first}, second {reader_second}; "
                f"its peak RSS {figures['second_workers_peak_rss_mb']} MB",
                flush=True,
            )
            csv_path.unlink()
            changed_path.unlink(missing_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
