"""The real `countersign` console script, run as a subprocess (few tests: each costs ~0.5 s)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.settings import HELP, Settings
from storage.db import Database
from storage.models import AuditEvent, Subscriber
from tests.fixtures.delivery import make_desk, sent_issue

CLI = shutil.which("countersign", path=str(Path(sys.executable).parent)) or shutil.which(
    "countersign"
)


def run(
    *args: str, database_url: str, cwd: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields and k not in HELP}
    env["DATABASE_URL"] = database_url
    env.update(extra or {})
    return subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def counts(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        return (
            session.execute(select(func.count()).select_from(Subscriber)).scalar_one(),
            session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
        )


@pytest.fixture
def cli() -> str:
    assert CLI, "the countersign console script is not installed in this environment"
    return CLI


def test_upgrade_import_and_export(cli: str, database_url: str, db: Database, tmp_path: Path):
    upgraded = run(cli, "db", "upgrade", database_url=database_url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema revision" in upgraded.stdout

    path = tmp_path / "list.csv"
    path.write_text(
        "\ufeffemail,name,company\n"
        "hanako@example.com,山田花子,株式会社サンプル\n"
        "not-an-address,Someone,\n"
        "taro@example.com,Taro\n"
        "HANAKO@example.com,,\n",
        encoding="utf-8",
    )
    imported = run(cli, "subscribers", "import", str(path), database_url=database_url, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    out = imported.stdout
    figures = [line.strip() for line in out.splitlines()]
    assert {"4 rows read", "1 added", "0 updated", "1 duplicate merged", "2 rejected"} <= set(
        figures
    ), out
    assert "line 3: rejected, invalid address:" in out
    assert "line 4: rejected, expected 3 fields, found 2" in out
    assert counts(db)[0] == 1

    exported = run(cli, "subscribers", "export", database_url=database_url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == (
        "email,name,company,status\nhanako@example.com,山田花子,株式会社サンプル,active\n"
    )


def test_unreadable_file_exits_2_and_changes_nothing(
    cli: str, database_url: str, db: Database, tmp_path: Path
):
    path = tmp_path / "binary.csv"
    # A spreadsheet saved as .xlsx (a zip archive) instead of CSV.
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" * 40)
    before = counts(db)
    result = run(cli, "subscribers", "import", str(path), database_url=database_url, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "binary" in lines[0]
    assert lines[0].endswith("Nothing was changed.")
    assert counts(db) == before


def test_a_nul_in_a_row_rejects_that_row_only(
    cli: str, database_url: str, db: Database, tmp_path: Path
):
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"email,name,company\nhanako@example.com,\x00\x01\x02,\ntaro@example.com,Taro,\n"
    )
    result = run(cli, "subscribers", "import", str(path), database_url=database_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "line 2: rejected, holds a NUL character" in result.stdout
    assert "1 added" in result.stdout
    assert counts(db)[0] == 1


def test_mailchimp_dry_run_then_import_then_suppressions_and_export_dir(
    cli: str, database_url: str, db: Database, tmp_path: Path
):
    subscribed = tmp_path / "subscribed_members_export.csv"
    subscribed.write_text(
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME\n"
        "hanako@example.com,花子,山田,2,2024-01-01 10:00:00\n"
        "taro@example.com,Taro,Suzuki,2,2024-01-01 10:00:00\n",
        encoding="utf-8",
    )
    before = counts(db)
    dry = run(
        cli,
        "subscribers",
        "import",
        str(subscribed),
        "--dry-run",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert "Would import" in dry.stdout and "Mailchimp (subscribed)" in dry.stdout
    assert "Dry run: nothing was changed." in dry.stdout
    assert "line 2: added, hanako@example.com" in dry.stdout
    assert counts(db) == before
    done = run(
        cli, "subscribers", "import", str(subscribed), database_url=database_url, cwd=tmp_path
    )
    assert done.returncode == 0 and "2 added" in done.stdout
    stop = tmp_path / "do-not-mail.txt"
    stop.write_text("taro@example.com\nnot an address\n", encoding="utf-8")
    stopped = run(cli, "suppressions", "import", str(stop), database_url=database_url, cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert "1 newly suppressed" in stopped.stdout
    assert "line 2: rejected, invalid address" in stopped.stdout
    out = tmp_path / "leaving"
    exported = run(cli, "export", str(out), database_url=database_url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert (out / "subscribers-Newsletter.csv").read_text(encoding="utf-8").splitlines() == [
        "email,name,company,status",
        "hanako@example.com,山田花子,,active",
        "taro@example.com,Taro Suzuki,,unsubscribed",
    ]
    assert (
        (out / "suppressions.csv")
        .read_text(encoding="utf-8")
        .splitlines()[1]
        .startswith("taro@example.com,manual,*,import,")
    )
    assert "subscribers.imported" in (out / "audit.csv").read_text(encoding="utf-8")


def test_malformed_setting_exits_2_with_one_line(cli: str, database_url: str, tmp_path: Path):
    result = run(
        cli,
        "db",
        "upgrade",
        database_url=database_url,
        cwd=tmp_path,
        extra={"SLACK_BOT_TOKEN": "xoxp-secret-user-token", "TIMEZONE": "Asia/Tokyo"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("countersign: Setting SLACK_BOT_TOKEN is malformed")
    assert "e.g. SLACK_BOT_TOKEN=xoxb-" in lines[0]
    assert "xoxp-secret" not in result.stderr + result.stdout


def test_python_m_bot_help(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: countersign")
    for command in ("db", "subscribers", "run"):
        assert command in result.stdout


def test_sends_export_prints_who_received_an_issue_and_is_audited(
    cli: str, database_url: str, db: Database, tmp_path: Path, postmark: Any, clock: Any
):
    desk = make_desk(db, postmark.url, clock)
    issue_id, _send_id = sent_issue(desk, 3)
    done = run(cli, "sends", "export", str(issue_id), database_url=database_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "address,time,outcome,message_id,version_hash"
    assert sorted(line.split(",")[0] for line in lines[1:]) == [
        "reader0@example.com",
        "reader1@example.com",
        "reader2@example.com",
    ]
    assert all(line.split(",")[2] == "sent" for line in lines[1:])
    assert f"Issue #{issue_id}: 3 rows (sent 3)." in done.stderr
    with db.sessions() as session:
        event = session.execute(
            select(AuditEvent).where(AuditEvent.action == "recipients.exported")
        ).scalar_one()
    assert (event.actor, event.issue_id, event.detail) == (
        "cli",
        issue_id,
        {"via": "cli", "rows": 3},
    )

    missing = run(cli, "sends", "export", "999", database_url=database_url, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == ""
    assert "there is no issue #999." in missing.stderr


def test_the_command_speaks_the_teams_language(cli: str, database_url: str, tmp_path: Path):
    """LANGUAGE=ja: the command's sentences are the Japanese catalogue's (bot/locale)."""
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email,name,company\nhanako@example.com,山田花子,\nbroken,,\n", encoding="utf-8"
    )
    dry = run(
        cli,
        "subscribers",
        "import",
        str(listing),
        "--dry-run",
        database_url=database_url,
        cwd=tmp_path,
        extra={"LANGUAGE": "ja"},
    )
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert "をリスト「Newsletter」に取り込むと、次のとおりになります。" in out, out
    assert "試行のみ（dry run）：何も変更していません。" in out
    assert "2 行目：追加、hanako@example.com" in out
    assert "3 行目：不採用、" in out
    assert "Would import" not in out and "rows read" not in out
    missing = run(
        cli, "sends", "export", "999", database_url=database_url, cwd=tmp_path,
        extra={"LANGUAGE": "ja"},
    )  # fmt: skip
    assert missing.returncode == 2
    assert "号 #999 はありません。" in missing.stderr


def test_the_help_is_in_the_teams_language_from_the_environment_or_dot_env(
    cli: str, database_url: str, tmp_path: Path
):
    """The help is read before the settings are: LANGUAGE from the environment, or from
    .env as the settings read it; a LANGUAGE the bot does not speak gives English help
    (the settings then say what is wrong when a command runs)."""
    japanese = run(cli, "--help", database_url=database_url, cwd=tmp_path, extra={"LANGUAGE": "ja"})
    assert japanese.returncode == 0, japanese.stderr
    assert "一斉送信のたびに二人目の承認が要る" in japanese.stdout
    assert "リストを取り込む、または書き出します。" in japanese.stdout
    assert "import or export a list" not in japanese.stdout
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / ".env").write_text("LANGUAGE=ja_JP.UTF-8\n", encoding="utf-8")
    from_file = run(cli, "subscribers", "import", "--help", database_url=database_url, cwd=folder)
    assert from_file.returncode == 0, from_file.stderr
    assert "何が変わるかを報告するだけで、何も変更しません。" in from_file.stdout
    unknown = run(cli, "--help", database_url=database_url, cwd=tmp_path, extra={"LANGUAGE": "xx"})
    assert unknown.returncode == 0, unknown.stderr
    assert "import or export a list" in unknown.stdout
    refused = run(
        cli, "db", "upgrade", database_url=database_url, cwd=tmp_path, extra={"LANGUAGE": "xx"}
    )
    assert refused.returncode == 2 and "LANGUAGE" in refused.stderr


def test_every_sentence_the_command_asks_for_is_in_its_catalogue():
    """The keys bot/cli.py names, literally or by a code it formats in, are sentences
    of the `cli` catalogue (a missing one would be a KeyError at the terminal)."""
    import re

    from bot import cli as command
    from bot.speech import CATALOGUES

    source = Path(command.__file__).read_text(encoding="utf-8")
    named = set(re.findall(r"""say\(\s*["'](cli\.[a-z_.]+)["']""", source))
    named |= {f"cli.refusal.{code}" for code in command.BACKUP_REFUSALS}
    named |= {f"cli.import.kind.{kind}" for kind in ("added", "updated", "suppressed", "skipped")}
    named |= {f"cli.count.{n}" for n in ("subscribers", "suppressions", "issues", "audit_events")}
    assert len(named) > 30
    assert sorted(named - set(CATALOGUES["en"].sentences)) == []


def test_a_large_file_is_read_in_a_second_process_of_the_console_script(
    cli: str, database_url: str, db: Database, tmp_path: Path
):
    from bot.import_reader import PIPELINE_BYTES

    # Mailchimp's NOTES column, long and unused, makes a file past the threshold
    # out of few rows; the worker is spawned from the console script itself.
    notes = "n" * 8_192
    rows = PIPELINE_BYTES // len(notes) + 10
    path = tmp_path / "members.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("Email Address,First Name,Last Name,NOTES\n")
        for i in range(rows):
            out.write(f"reader{i}@example.jp,花子,山田,{notes}\n")
        out.write("not-an-address,,,\n")
    assert path.stat().st_size >= PIPELINE_BYTES
    before = counts(db)
    result = run(cli, "subscribers", "import", str(path), database_url=database_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{rows} added" in result.stdout
    assert f"line {rows + 2}: rejected, invalid address" in result.stdout
    assert counts(db) == (before[0] + rows, before[1] + rows + 1)
