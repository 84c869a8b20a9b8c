"""The `countersign` command (also `python -m bot`), per CONTRACT.md.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot import settings as settings_module
from bot.clock import SystemClock
from bot.settings import Settings, SettingsError
from bot.speech import say, use_language
from storage.db import Database, connect

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="countersign",
        description=say("cli.help.description"),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("run", help=say("cli.help.run"))
    rehearse = commands.add_parser("rehearse", help=say("cli.help.rehearse"))
    rehearse.add_argument("--port", type=int, default=8025, help=say("cli.help.rehearse_port"))
    rehearse.add_argument(
        "--keep",
        action="store_true",
        help=say("cli.help.rehearse_keep"),
    )
    commands.add_parser("check", help=say("cli.help.check"))

    db = commands.add_parser("db", help=say("cli.help.db")).add_subparsers(
        dest="db_command", metavar="ACTION", required=True
    )
    db.add_parser("upgrade", help=say("cli.help.db_upgrade"))

    subs = commands.add_parser("subscribers", help=say("cli.help.subscribers")).add_subparsers(
        dest="subscribers_command", metavar="ACTION", required=True
    )
    imp = subs.add_parser(
        "import",
        help=say("cli.help.subscribers_import"),
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--list", dest="list_name", help=say("cli.help.list"))
    imp.add_argument(
        "--columns",
        metavar="email=…,name=…,company=…",
        help=say("cli.help.columns"),
    )
    _file_options(imp)
    exp = subs.add_parser("export", help=say("cli.help.subscribers_export"))
    exp.add_argument("--list", dest="list_name", help=say("cli.help.list"))

    sends = commands.add_parser("sends", help=say("cli.help.sends")).add_subparsers(
        dest="sends_command", metavar="ACTION", required=True
    )
    sends_export = sends.add_parser("export", help=say("cli.help.sends_export"))
    sends_export.add_argument("issue_id", type=int, metavar="ID")

    backup = commands.add_parser("backup", help=say("cli.help.backup"))
    backup.add_argument("file", type=Path, metavar="FILE")
    restore = commands.add_parser("restore", help=say("cli.help.restore"))
    restore.add_argument("file", type=Path, metavar="FILE")

    sups = commands.add_parser("suppressions", help=say("cli.help.suppressions")).add_subparsers(
        dest="suppressions_command", metavar="ACTION", required=True
    )
    simp = sups.add_parser(
        "import",
        help=say("cli.help.suppressions_import"),
    )
    simp.add_argument("file", type=Path, metavar="FILE")
    _file_options(simp)

    everything = commands.add_parser("export", help=say("cli.help.export"))
    everything.add_argument("directory", type=Path, metavar="DIR")

    standin = commands.add_parser("standin", help=say("cli.help.standin"))
    standin.add_argument("service", choices=("slack", "postmark"))
    standin.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help=say("cli.help.dry_run"))
    parser.add_argument("--encoding", help=say("cli.help.encoding"))


def _database(settings: Settings) -> Database:

    return connect(settings.DATABASE_URL)


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from storage import migrate

    db = _database(settings)
    migrate.upgrade(db.engine)
    print(say("cli.db_upgraded", revision=migrate.current_revision(db.engine)))
    return EXIT_OK


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.subscribers import ImportOptions

    return _import(
        settings,
        args,
        "subscribers import",
        args.list_name or settings.NEWSLETTER_NAME,
        ImportOptions(encoding=args.encoding, columns=args.columns, dry_run=args.dry_run),
    )


def cmd_suppressions_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.subscribers import ImportOptions

    return _import(
        settings,
        args,
        "suppressions import",
        settings.NEWSLETTER_NAME,
        ImportOptions(encoding=args.encoding, do_not_mail=True, dry_run=args.dry_run),
    )


def _import(
    settings: Settings, args: argparse.Namespace, command: str, list_name: str, options: Any
) -> int:
    from bot.subscribers import ImportFailed, UnreadableFile, import_csv
    from storage import migrate

    db = _database(settings)
    migrate.upgrade(db.engine)
    try:
        report = import_csv(
            db, args.file, list_name=list_name, actor="cli", clock=SystemClock(), options=options
        )
    except UnreadableFile as exc:
        print(say("cli.unreadable", command=command, error=exc), file=sys.stderr)
        return EXIT_USAGE
    except ImportFailed as exc:
        print(say("cli.import_failed", command=command, error=exc), file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(describe(report, str(args.file))))
    return EXIT_OK


def describe(report: Any, label: str) -> list[str]:
    """The lines `subscribers import` and `suppressions import` print: what was (or
    would be) done, one figure a line, then the sample and rejected rows."""
    from bot.csvfile import display_name

    lines = [
        say(
            "cli.import.would" if report.dry_run else "cli.import.done",
            file=label,
            file_format=report.file_format,
            encoding=display_name(report.encoding),
            list_name=report.list_name,
        )
    ]
    figures = [
        ("cli.import.rows", report.rows),
        ("cli.import.added", report.added),
        ("cli.import.updated", report.updated),
        ("cli.import.unchanged", report.unchanged),
        ("cli.import.merged", report.merged),
        ("cli.import.skipped_suppressed", report.skipped_suppressed),
        ("cli.import.passed", report.passed),
    ]
    lines += [f"  {say(key, count=count)}" for key, count in figures]
    lines.append(
        "  "
        + say("cli.import.suppressed", count=report.suppressed, already=report.already_suppressed)
    )
    lines.append(f"  {say('cli.import.stopped', count=report.stopped)}")
    lines.append(f"  {say('cli.import.rejected', count=report.rejected_count)}")
    if report.dry_run:
        lines.append(say("cli.import.dry_run"))
        for kind in ("added", "updated", "suppressed", "skipped"):
            shown = say(f"cli.import.kind.{kind}")
            for line, email in report.samples.get(kind, []):
                lines.append(f"  {say('cli.import.sample', line=line, kind=shown, address=email)}")
    elif report.suppressed:
        lines.append(say("cli.import.pushed", count=report.suppressed))
    for rejected in report.rejected:
        text = say("cli.import.rejected_line", line=rejected.line, reason=rejected.reason)
        lines.append(f"  {text}")
    if report.rejected_count > len(report.rejected):
        more = report.rejected_count - len(report.rejected)
        lines.append(f"  {say('cli.import.more_rejected', count=more)}")
    return lines


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.subscribers import export_csv
    from storage import migrate

    db = _database(settings)
    migrate.upgrade(db.engine)
    export_csv(db, sys.stdout, list_name=args.list_name or settings.NEWSLETTER_NAME)
    return EXIT_OK


def cmd_sends_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot import recipients
    from bot.refusal import Refusal
    from storage import migrate

    db = _database(settings)
    migrate.upgrade(db.engine)
    try:
        done = recipients.export(
            db, SystemClock(), args.issue_id, sys.stdout, actor="cli", via="cli"
        )
    except Refusal as refusal:
        key = (
            "cli.sends.never_sent"
            if refusal.code == "issue_never_sent"
            else "cli.sends.no_such_issue"
        )
        print(say(key, issue_id=args.issue_id), file=sys.stderr)
        return EXIT_USAGE
    # The outcomes are the CSV's own values (sent, bounced …), shown as they are in it.
    summary = ", ".join(f"{outcome} {n}" for outcome, n in sorted(done.counts.items()))
    print(
        say("cli.sends.done", issue_id=args.issue_id, count=done.rows, summary=summary),
        file=sys.stderr,
    )
    return EXIT_OK


# The exit code of each refused backup or restore; what it says is the sentence
# `cli.refusal.<code>`.
BACKUP_REFUSALS: dict[str, int] = {
    "backup_not_sqlite": EXIT_USAGE,
    "backup_target_exists": EXIT_USAGE,
    "restore_no_file": EXIT_USAGE,
    "restore_not_sqlite": EXIT_USAGE,
    "restore_damaged": EXIT_USAGE,
    "restore_unknown_schema": EXIT_USAGE,
    "restore_same_file": EXIT_USAGE,
    "restore_bot_running": EXIT_FAILED,
}


def _refused(command: str, refusal: Exception) -> int:
    from bot.refusal import Refusal

    assert isinstance(refusal, Refusal)
    text = say(f"cli.refusal.{refusal.code}", **refusal.params)
    print(say("cli.said", command=command, text=text), file=sys.stderr)
    return BACKUP_REFUSALS[refusal.code]


def _counts(counts: Any) -> list[str]:
    """A backup's or restore's figures, one a line."""
    return [
        f"  {say(f'cli.count.{name}', count=getattr(counts, name))}"
        for name in ("subscribers", "suppressions", "issues", "audit_events")
    ]


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from bot import backup
    from bot.refusal import Refusal

    db = _database(settings)
    try:
        copied = backup.backup(db, args.file, actor="cli", now=SystemClock().now())
    except Refusal as refusal:
        return _refused("backup", refusal)
    print("\n".join([say("cli.backup.done", file=args.file), *_counts(copied)]))
    return EXIT_OK


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from bot import backup
    from bot.desk import CollectingNotifier, Desk, NoDirectory, gateway_from
    from bot.refusal import Refusal

    desk = Desk(
        settings=settings,
        db=_database(settings),
        clock=SystemClock(),
        postmark=gateway_from(settings),
        directory=NoDirectory(),
        notifier=CollectingNotifier(),
    )
    try:
        done = backup.restore(desk, args.file, actor="cli")
    except Refusal as refusal:
        return _refused("restore", refusal)
    lines = [
        say("cli.restore.done", file=args.file, revision=done.revision_was),
        *_counts(done.counts),
    ]
    if done.kept:
        lines.append(say("cli.restore.kept", path=done.kept))
    if done.halted_sends or done.voided_requests:
        lines.append(say("cli.restore.halted", count=len(done.halted_sends)))
        lines.append(say("cli.restore.voided", count=len(done.voided_requests)))
        lines.append(say("cli.restore.approve_again"))
    lines.append(say("cli.restore.suppressions_first"))
    print("\n".join(lines))
    return EXIT_OK


def cmd_export_all(settings: Settings, args: argparse.Namespace) -> int:
    from bot.export import export_all
    from storage import migrate

    db = _database(settings)
    migrate.upgrade(db.engine)
    try:
        done = export_all(db, args.directory, actor="cli", clock=SystemClock())
    except OSError as exc:
        error = exc.strerror or str(exc)
        print(
            say("cli.export.cannot_write", directory=args.directory, error=error), file=sys.stderr
        )
        return EXIT_FAILED
    for name, rows in done.files.items():
        print(say("cli.export.file", path=args.directory / name, count=rows))
    if done.forgotten:
        print(say("cli.export.forgotten", count=done.forgotten))
    return EXIT_OK


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    # The Slack front end lives in `handlers`; the CLI is a front end too, so it
    # reaches for it at run time rather than importing it (bot never imports Slack).
    front_end = importlib.import_module("handlers.main")
    try:
        return int(front_end.main(settings))
    except SettingsError as exc:
        print(say("cli.said", command="run", text=exc), file=sys.stderr)
        return EXIT_USAGE


def cmd_rehearse(settings: Settings, args: argparse.Namespace) -> int:
    # A front end of its own (it builds the Slack app), so reached at run time too.
    rehearsal = importlib.import_module("handlers.rehearsal")
    return int(rehearsal.main(settings, port=args.port, keep=args.keep))


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    check = importlib.import_module("handlers.check")
    return int(check.main(settings))


def cmd_standin(settings: Settings, args: argparse.Namespace) -> int:
    if args.service == "slack":
        from bot.standins import slack as module
    else:
        from bot.standins import postmark as module  # type: ignore[no-redef]
    return int(module.main(list(args.rest)))


def main(argv: Sequence[str] | None = None) -> int:
    use_language(settings_module.spoken_language())  # the help is in the team's language
    args = _parser().parse_args(argv)
    handlers: dict[tuple[str, str | None], Callable[[Settings, argparse.Namespace], int]] = {
        ("db", "upgrade"): cmd_db_upgrade,
        ("subscribers", "import"): cmd_import,
        ("subscribers", "export"): cmd_export,
        ("sends", "export"): cmd_sends_export,
        ("backup", None): cmd_backup,
        ("restore", None): cmd_restore,
        ("suppressions", "import"): cmd_suppressions_import,
        ("export", None): cmd_export_all,
        ("run", None): cmd_run,
        ("rehearse", None): cmd_rehearse,
        ("check", None): cmd_check,
        ("standin", None): cmd_standin,
    }
    sub = (
        getattr(args, "db_command", None)
        or getattr(args, "subscribers_command", None)
        or getattr(args, "sends_command", None)
        or getattr(args, "suppressions_command", None)
    )
    try:
        settings = settings_module.load()
    except SettingsError as exc:
        print(f"countersign: {exc}", file=sys.stderr)  # no settings: no language yet
        return EXIT_USAGE
    use_language(settings.LANGUAGE)
    return handlers[(args.command, sub)](settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
