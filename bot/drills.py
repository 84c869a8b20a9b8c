"""Drills: each runbook's case, staged in the rehearsal room and judged with a time.

A `Drill` sets up its situation on the rehearsal's desk (a real issue, a real
approval by a second person, a real send through the Postmark stand-in),
states the goal, and judges what the people did — from the database, the
ledger and the outbox, never from what they clicked — with the time it took:
"Halted after 212 of 3,000 in 14 s". `Drills` holds the one running drill;
the rehearsal page (`bot.standins.room`) shows them on its Drills tab, and the
runbooks in docs/runbooks/ link each one by id.

The situations use made-up people at example.com, and the drill's own actor
(`drill`) for what "happened before you arrived".
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from dotenv import dotenv_values
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import approvals, audience, backup, delivery, issues, unsubscribe
from bot.addresses import address_hash
from bot.audit import address_ref
from bot.desk import Desk
from bot.installation import address_salt
from bot.settings import Settings
from bot.subscribers import get_or_create_list
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Issue,
    Send,
    Subscriber,
    Suppression,
    SuppressionOrigin,
)

ACTOR = "drill"
EDITOR_ID = "U0EDITOR1"  # the seeded workspace's editor (bot.standins.slack)
APPROVER_ID = "U0APPROV1"  # Alice, who approves what happened before you arrived
LEAVING_ID = "U0APPROV2"  # Taro, who leaves the team in the team-change drill
# The wrong issue: the seminar's date is wrong (it is the 10th), and the link goes nowhere.
WRONG_BODY = (
    "{{ subscriber.name }} 様\n\n"
    "今月のセミナーは 12 月 3 日です。お申し込みは [こちら](https://example.com/seminar-old) から。"
)
CALLER = ("吉田 健一", "株式会社テスト商事", "yoshida.kenichi@example.com")


class Outbox(Protocol):
    """What a drill needs of the Postmark stand-in."""

    latency: float
    faults: Any  # bot.standins.postmark_faults.Faults

    def messages(self, stream: str | None = None) -> list[Any]: ...

    def trigger_bounce(self, message_id: str) -> Any: ...

    def suppress(self, email: str, stream: str = ..., reason: str = ..., origin: str = ...) -> bool:
        """Postmark suppresses `email` on `stream` by itself (no webhook)."""
        ...

    def is_suppressed(self, email: str, stream: str) -> bool: ...

    @property
    def server_tokens(self) -> list[str]: ...

    def generate_server_token(self) -> str: ...

    def delete_server_token(self, token: str) -> None: ...

    def webhook_config(self) -> tuple[str | None, str | None, str | None]: ...

    def configure_webhook(
        self, url: str | None, user: str | None = None, password: str | None = None
    ) -> None: ...


class Workspace(Protocol):
    """What the token drill needs of Slack's app pages (the Slack stand-in)."""

    def rotate_bot_token(self) -> str: ...

    def regenerate_signing_secret(self) -> str: ...

    def token_valid(self, token: str) -> bool: ...

    def signing_secret(self) -> str: ...


class Approvers(Protocol):
    """What the team-change drill needs of Slack's admin pages: the approvers group."""

    def members(self) -> list[str]: ...

    def set_members(self, users: list[str]) -> None: ...


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str
    seconds: float


@dataclass
class Running:
    """The drill under way: what its setup left behind, and when it began."""

    drill_id: str
    started: float
    facts: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    shown: list[str] = field(default_factory=list)  # what the drill's pages answered


# A drill's pages of other services (Slack's app pages, Postmark's dashboard, the server):
# (action id, what the page's button says).
Actions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Drill:
    id: str
    title: str
    runbook: str  # docs/runbooks/<runbook>.en.md
    situation: str
    goal: str
    setup: Callable[[Drills, Running], None]
    judge: Callable[[Drills, Running], Verdict | None]  # None: not over yet
    actions: Actions = ()
    act: Callable[[Drills, Running, str], str] | None = None  # an action: what it shows


class Drills:
    """The drills of one rehearsal, and the one running now."""

    def __init__(
        self,
        desk: Desk,
        postmark: Outbox,
        folder: Path,
        *,
        pace: float = 5.0,
        approvers: Approvers | None = None,
        workspace: Workspace | None = None,
        restart: Callable[[dict[str, str]], Desk] | None = None,
    ) -> None:
        self.desk = desk
        self.postmark = postmark
        self.folder = folder
        # Slack's app pages, and a restart of the bot with new settings (the token drill).
        self.workspace = workspace
        self.restart = restart
        # The approvers group as Slack's admin pages change it (the team-change drill);
        # its members before any drill changed them, put back when the next one starts.
        self.approvers = approvers
        self._approvers_before = approvers.members() if approvers else None
        # Seconds Postmark takes per request while a drill's send should be slow enough for
        # a person to act (batches are up to 500 readers; tests make it shorter).
        self.pace = pace
        self.current: Running | None = None
        self._lock = threading.Lock()

    def all(self) -> list[Drill]:
        return list(DRILLS.values())

    def start(self, drill_id: str) -> Running:
        drill = DRILLS[drill_id]
        with self._lock:
            if self.approvers is not None and self._approvers_before is not None:
                self.set_approvers(list(self._approvers_before))
            running = Running(drill_id=drill_id, started=time.monotonic())
            drill.setup(self, running)
            running.started = time.monotonic()  # the clock runs from when it is handed over
            self.current = running
            return running

    def set_approvers(self, users: list[str], wait: float = 10.0) -> None:
        """Change the approvers group as a Slack admin does, and wait until the bot has
        heard of it (Slack's subteam_members_changed event reaches it just after)."""
        assert self.approvers is not None
        self.approvers.set_members(users)
        deadline = time.monotonic() + wait
        while self.desk.directory.approvers() != frozenset(users):
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not hear that the approvers group changed")
            time.sleep(0.05)

    def act(self, action_id: str) -> str:
        """Press one of the running drill's buttons (another service's page); what it shows."""
        with self._lock:
            running = self.current
            drill = DRILLS[running.drill_id] if running else None
            if running is None or drill is None or drill.act is None:
                raise LookupError("No drill with such a page is running.")
            if action_id not in dict(drill.actions) or running.verdict is not None:
                raise LookupError(f"The drill has no button {action_id!r} now.")
            shown = drill.act(self, running, action_id)
            running.shown.append(shown)
            return shown

    def check(self) -> Verdict | None:
        """Judge the running drill (its verdict, once given, stays)."""
        with self._lock:
            running = self.current
            if running is None:
                return None
            if running.verdict is None:
                running.verdict = DRILLS[running.drill_id].judge(self, running)
            return running.verdict

    def elapsed(self, running: Running) -> float:
        return time.monotonic() - running.started

    # -- shared steps of the setups --------------------------------------------------------

    def approved_issue(
        self, subject: str, body: str, *, canary_percent: float | None = 0
    ) -> tuple[int, int]:
        """An issue written by the editor, approved by a second person: (issue, request).
        `canary_percent`: the plan it was approved with (0, the default: the whole list
        at once, as the situations say; None: the settings' CANARY_PERCENT)."""
        saved = issues.create(self.desk, actor=EDITOR_ID, subject=subject, body=body)
        card = approvals.submit(
            self.desk, saved.issue_id, actor=EDITOR_ID, canary_percent=canary_percent
        )
        approvals.approve(self.desk, card.request_id, actor=APPROVER_ID)
        return saved.issue_id, card.request_id

    def send_of(self, request_id: int, wait: float = 30.0) -> int:
        """The send the approval started (the rehearsal's engine starts it)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self.desk.db.sessions() as session:
                found = session.execute(
                    select(Send.id).where(Send.approval_id == request_id)
                ).scalar()
            if found is not None:
                return int(found)
            time.sleep(0.05)
        raise TimeoutError("the send did not start")

    def counts(self, send_id: int) -> dict[str, int]:
        with self.desk.db.sessions() as session:
            rows = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.send_id == send_id)
                .group_by(Delivery.status)
            ).all()
        return {str(status): int(n) for status, n in rows}

    def send_state(self, send_id: int) -> str:
        with self.desk.db.sessions() as session:
            send = session.get(Send, send_id)
            assert send is not None
            return send.state


def _n(count: int) -> str:
    return f"{count:,}"


def _resumed(session: Session, send_id: int) -> bool:
    """Whether a second person approved resuming the send."""
    return (
        session.execute(
            select(ApprovalRequest.id).where(
                ApprovalRequest.send_id == send_id,
                ApprovalRequest.kind == "resume",
                ApprovalRequest.state == ApprovalState.APPROVED,
            )
        ).first()
        is not None
    )


def write_env(settings: Settings, path: Path) -> Path:
    """The bot's settings as the server's `.env` (what `countersign …` reads in that
    folder): every setting that has a value, double-quoted as python-dotenv reads it."""
    lines = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None or value == "":
            continue
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{name}="{text}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)  # the room's own tokens, but tokens all the same
    return path


def _add_readers(drills: Drills, readers: list[tuple[str, str]]) -> None:
    """Active subscribers (name, email) on the room's list, unless they are there."""
    now = drills.desk.clock.now()
    with drills.desk.db.transaction() as session:
        mailing_list = get_or_create_list(session, drills.desk.settings.NEWSLETTER_NAME, now)
        emails = [email for _, email in readers]
        known = set(
            session.execute(select(Subscriber.email).where(Subscriber.email.in_(emails))).scalars()
        )
        session.add_all(
            Subscriber(
                list_id=mailing_list.id,
                email=email,
                name=name,
                company="",
                status="active",
                created_at=now,
                updated_at=now,
            )
            for name, email in readers
            if email not in known
        )


# --- the monthly issue ---------------------------------------------------------------------


def _setup_monthly(drills: Drills, running: Running) -> None:
    drills.postmark.latency = 0.0
    with drills.desk.db.sessions() as session:
        running.facts.update(
            audit_from=int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0),
            issues_from=int(session.execute(select(func.max(Issue.id))).scalar() or 0),
        )


def _judge_monthly(drills: Drills, running: Running) -> Verdict | None:
    with drills.desk.db.sessions() as session:
        finished = session.execute(
            select(Send.issue_id, Send.total)
            .where(Send.issue_id > running.facts["issues_from"], Send.state == "finished")
            .order_by(Send.id)
        ).first()
        if finished is None:
            return None
        issue_id, total = finished
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.id > running.facts["audit_from"], AuditEvent.issue_id == issue_id)
            .order_by(AuditEvent.id)
        ).all()
    seconds = drills.elapsed(running)
    actions = [a for a, _ in events]
    approved = actions.index("approval.approved") if "approval.approved" in actions else -1
    if "issue.test_copy" not in actions[:approved]:
        return Verdict(
            False,
            f"#{issue_id} reached {_n(total)} readers, but nobody opened a test copy before "
            f"approving it ({seconds:.0f} s).",
            seconds,
        )
    return Verdict(
        True,
        f"#{issue_id} written, tested, approved by a second person and sent to {_n(total)} "
        f"readers in {seconds:.0f} s.",
        seconds,
    )


# --- halt a wrong send --------------------------------------------------------------------


def _setup_wrong_send(drills: Drills, running: Running) -> None:
    drills.postmark.latency = drills.pace  # slow, so that a person can stop it
    issue_id, request_id = drills.approved_issue("12月号（誤り）", WRONG_BODY)
    running.facts.update(issue=issue_id, send=drills.send_of(request_id))


def _judge_wrong_send(drills: Drills, running: Running) -> Verdict | None:
    send_id = running.facts["send"]
    state = drills.send_state(send_id)
    counts = drills.counts(send_id)
    total, sent = sum(counts.values()), counts.get(DeliveryStatus.SENT, 0)
    seconds = drills.elapsed(running)
    if state == "halted":
        drills.postmark.latency = 0.0
        return Verdict(True, f"Halted after {_n(sent)} of {_n(total)} in {seconds:.0f} s.", seconds)
    if state == "finished":
        drills.postmark.latency = 0.0
        return Verdict(
            False, f"Not halted: it reached all {_n(sent)} readers ({seconds:.0f} s).", seconds
        )
    return None


# --- a phone unsubscribe with a name and a company ------------------------------------------


def _setup_phone(drills: Drills, running: Running) -> None:
    name, company, email = CALLER
    now = drills.desk.clock.now()
    with drills.desk.db.transaction() as session:
        mailing_list = get_or_create_list(session, drills.desk.settings.NEWSLETTER_NAME, now)
        known = session.execute(select(Subscriber).where(Subscriber.email == email)).scalar()
        if known is None:
            session.add(
                Subscriber(
                    list_id=mailing_list.id,
                    email=email,
                    name=name,
                    company=company,
                    status="active",
                    created_at=now,
                    updated_at=now,
                )
            )
    drills.postmark.latency = drills.pace  # an issue is going out while the reader calls
    _issue, request_id = drills.approved_issue(
        "12月号", "{{ subscriber.name }} 様、今月のお知らせです。"
    )
    running.facts.update(
        email=email,
        name=name,
        company=company,
        outbox=len(drills.postmark.messages()),
        send=drills.send_of(request_id),
    )


def _judge_phone(drills: Drills, running: Running) -> Verdict | None:
    email, name, company = running.facts["email"], running.facts["name"], running.facts["company"]
    with drills.desk.db.sessions() as session:
        suppressed = session.execute(
            select(Suppression.id).where(Suppression.email == email)
        ).first()
    if suppressed is None:
        return None
    seconds = drills.elapsed(running)
    drills.postmark.latency = 0.0
    leaked = [
        m
        for m in drills.postmark.messages()[running.facts["outbox"] :]
        if any(
            word in (part or "")
            for word in (name, company)
            for part in (m.Subject, m.TextBody, m.HtmlBody)
        )
        and email not in [r.lower() for r in m.Recipients]
    ]
    if leaked:
        return Verdict(
            False,
            f"Unsubscribed in {seconds:.0f} s, but the name or company reached "
            f"{_n(len(leaked))} other readers.",
            seconds,
        )
    return Verdict(
        True,
        f"Unsubscribed in {seconds:.0f} s; the name and company reached nobody.",
        seconds,
    )


# --- find who got a wrong issue and send them a correction -----------------------------------


def _setup_correction(drills: Drills, running: Running) -> None:
    drills.postmark.latency = drills.pace / 4
    issue_id, request_id = drills.approved_issue("12月号（誤り）", WRONG_BODY)
    send_id = drills.send_of(request_id)
    deadline = time.monotonic() + 60
    while not drills.counts(send_id).get(DeliveryStatus.SENT, 0):
        if time.monotonic() > deadline:
            raise TimeoutError("the wrong send did not get going")
        time.sleep(0.05)
    delivery.halt_all(drills.desk, actor=ACTOR, detail="the drill's wrong issue")
    drills.postmark.latency = 0.0
    while any(s == DeliveryStatus.BATCHED for s in drills.counts(send_id)):
        time.sleep(0.05)
    running.facts.update(issue=issue_id, send=send_id)


def _judge_correction(drills: Drills, running: Running) -> Verdict | None:
    wrong = running.facts["issue"]
    with drills.desk.db.sessions() as session:
        corrections = session.execute(
            select(Issue.id, Send.id, Send.state)
            .join(Send, Send.issue_id == Issue.id)
            .where(Issue.correction_of == wrong)
        ).all()
        finished = [(i, s) for i, s, state in corrections if state == "finished"]
        if not finished:
            return None
        correction, send_id = finished[-1]
        wrong_issue = session.get(Issue, wrong)
        assert wrong_issue is not None
        got_it = set(session.execute(audience.received(wrong)).scalars())
        still_reachable = set(
            session.execute(audience.eligible(wrong_issue.mailing_list, wrong)).scalars()
        )
        reached = set(
            session.execute(
                select(Delivery.subscriber_id).where(
                    Delivery.send_id == send_id, Delivery.status == DeliveryStatus.SENT
                )
            ).scalars()
        )
        exported = session.execute(
            select(AuditEvent.id).where(
                AuditEvent.action == "recipients.exported", AuditEvent.issue_id == wrong
            )
        ).first()
    seconds = drills.elapsed(running)
    expected = got_it & still_reachable
    if reached != expected:
        return Verdict(
            False,
            f"The correction #{correction} reached {_n(len(reached))} readers; "
            f"{_n(len(expected))} should have had it, and only they.",
            seconds,
        )
    note = "" if exported else " (nobody listed the recipients first)"
    return Verdict(
        True,
        f"The correction reached the {_n(len(reached))} readers and nobody else, "
        f"in {seconds:.0f} s{note}.",
        seconds,
    )


# --- the canary halted itself ------------------------------------------------------------

BAD_IMPORT = 300  # dead addresses a wrong import put into the list


def _bad_addresses() -> list[str]:
    # example.com like everything here; the drill's "receiving servers" bounce them.
    return [f"old-list-{i:03d}@example.com" for i in range(BAD_IMPORT)]


def _bounce_the_bad(drills: Drills, running: Running, bad: frozenset[str]) -> None:
    """Play the receiving mail servers: every message to a bad address hard-bounces
    (Postmark's Bounce webhook reaches the bot), until the drill is over."""
    done, handed, deadline = 0, False, time.monotonic() + 3600
    while running.verdict is None and time.monotonic() < deadline:
        handed = handed or drills.current is running
        if handed and drills.current is not running:
            return  # another drill began
        messages = drills.postmark.messages("broadcast")
        for message in messages[done:]:
            if message.Recipients and message.Recipients[0] in bad:
                drills.postmark.trigger_bounce(message.MessageID)
        done = len(messages)
        time.sleep(0.2)


def _setup_canary(drills: Drills, running: Running) -> None:
    bad = _bad_addresses()
    _add_readers(drills, [("", email) for email in bad])
    listed = drills.folder / "drill-bad-import.csv"
    listed.write_text("email\n" + "\n".join(bad) + "\n", encoding="utf-8")
    drills.postmark.latency = 0.0
    threading.Thread(
        target=_bounce_the_bad,
        args=(drills, running, frozenset(bad)),
        name="drill-bounces",
        daemon=True,
    ).start()
    issue_id, request_id = drills.approved_issue(
        "12月号", "{{ subscriber.name }} 様、今月のお知らせです。", canary_percent=10
    )
    database = drills.desk.settings.DATABASE_URL
    running.facts.update(
        issue=issue_id,
        send=drills.send_of(request_id),
        bad=bad,
        file=str(listed),
        command=f"DATABASE_URL={database} countersign suppressions import {listed}",
    )


def _judge_canary(drills: Drills, running: Running) -> Verdict | None:
    send_id, issue_id = running.facts["send"], running.facts["issue"]
    bad = running.facts["bad"]
    with drills.desk.db.sessions() as session:
        send = session.get(Send, send_id)
        issue = session.get(Issue, issue_id)
        assert send is not None and issue is not None
        if issue.state == "cancelled":
            seconds = drills.elapsed(running)
            return Verdict(
                False,
                "Cancelled: safe, but the good readers never got the issue — the list was "
                f"wrong, not the issue ({seconds:.0f} s).",
                seconds,
            )
        if send.state != "finished":
            return None
        resumed = _resumed(session, send_id)
        rest = select(Delivery.subscriber_id).where(
            Delivery.send_id == send_id, Delivery.wave == 0, Delivery.status == DeliveryStatus.SENT
        )
        rest_sent = len(session.execute(rest).all())
        bad_sent = len(
            session.execute(
                rest.join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(
                    Subscriber.email.in_(bad)
                )
            ).all()
        )
    seconds = drills.elapsed(running)
    if not resumed:
        return Verdict(False, "The send ended without halting itself.", seconds)
    if bad_sent:
        return Verdict(
            False,
            f"The rest went after a second approval, but {_n(bad_sent)} addresses of the bad "
            f"import got it too ({seconds:.0f} s): suppress them before resuming.",
            seconds,
        )
    return Verdict(
        True,
        f"The canary halted it; the rest ({_n(rest_sent)} readers) went after a second "
        f"person's approval, none of the {_n(len(bad))} bad addresses, in {seconds:.0f} s.",
        seconds,
    )


# --- a migration from the old system ------------------------------------------------------

# The old system's export (Mailchimp's three files, the subscribed one saved from Excel in
# Shift_JIS) and a do-not-mail list; what each address must be afterwards.
MIGRATION_FILES = {
    "subscribed.csv": (
        "Email Address,First Name,Last Name,Company\n"
        "mig.hanako@example.com,花子,山田,見本商事\n"
        "mig.ichiro@example.com,一郎,鈴木,\n"
        "mig.alice@example.com,Alice,Smith,Example Ltd\n"
        "mig.bob@example.com,Bob,Jones,\n",
        "cp932",
    ),
    "unsubscribed.csv": (
        "Email Address,First Name,Last Name,Company,UNSUB_TIME,UNSUB_REASON,UNSUB_REASON_OTHER\n"
        "mig.gone@example.com,Gone,Reader,,2025-03-01 10:00:00,NORMAL,\n",
        "utf-8",
    ),
    "cleaned.csv": (
        "Email Address,First Name,Last Name,Company,CLEAN_TIME\n"
        "mig.old@example.com,Old,Box,,2024-01-01\n",
        "utf-8",
    ),
    "do-not-mail.txt": ("mig.bob@example.com\n", "utf-8"),
}
MIGRATED_ACTIVE = frozenset(
    {"mig.hanako@example.com", "mig.ichiro@example.com", "mig.alice@example.com"}
)
DO_NOT_MAIL = frozenset({"mig.bob@example.com"})
MIGRATED_SUPPRESSED = frozenset(
    {"mig.bob@example.com", "mig.gone@example.com", "mig.old@example.com"}
)


def _setup_migration(drills: Drills, running: Running) -> None:
    folder = drills.folder / "drill-migration"
    folder.mkdir(exist_ok=True)
    for name, (text, encoding) in MIGRATION_FILES.items():
        (folder / name).write_bytes(text.encode(encoding))
    (folder / "before-import.db").unlink(missing_ok=True)
    with drills.desk.db.sessions() as session:
        last = session.execute(select(func.max(AuditEvent.id))).scalar() or 0
    running.facts.update(
        folder=str(folder),
        audit_from=int(last),
        command=f"cd {folder} && export DATABASE_URL={drills.desk.settings.DATABASE_URL}",
    )


def _judge_migration(drills: Drills, running: Running) -> Verdict | None:
    wanted = MIGRATED_ACTIVE | MIGRATED_SUPPRESSED
    with drills.desk.db.sessions() as session:
        status = dict(
            session.execute(
                select(Subscriber.email, Subscriber.status).where(Subscriber.email.in_(wanted))
            ).all()
        )
        suppressed = set(
            session.execute(
                select(Suppression.email).where(Suppression.email.in_(wanted))
            ).scalars()
        )
        actions = list(
            session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.id > running.facts["audit_from"])
                .order_by(AuditEvent.id)
            ).scalars()
        )
    imported = [a for a in actions if a in ("subscribers.imported", "suppressions.imported")]
    if not imported:
        return None
    seconds = drills.elapsed(running)
    if "database.backed_up" not in actions[: actions.index(imported[0])]:
        return Verdict(False, f"Imported without a backup first ({seconds:.0f} s).", seconds)
    mailed = {e for e, s in status.items() if s == "active" and e not in suppressed}
    # Unsubscribed or cleaned in the old system: mailed here would be the incident again.
    # (The do-not-mail address is a subscriber until its list is imported: not yet wrong.)
    wrongly = mailed & (MIGRATED_SUPPRESSED - DO_NOT_MAIL)
    if wrongly:
        return Verdict(
            False,
            f"{_n(len(wrongly))} address(es) the old system no longer mailed would be mailed "
            f"here ({seconds:.0f} s).",
            seconds,
        )
    if mailed != MIGRATED_ACTIVE or not suppressed >= MIGRATED_SUPPRESSED:
        return None  # not every file is in yet
    return Verdict(
        True,
        f"Migrated in {seconds:.0f} s, backup first: {_n(len(mailed))} active, "
        f"{_n(len(MIGRATED_SUPPRESSED))} never to be mailed.",
        seconds,
    )


# --- a team member leaves ------------------------------------------------------------------


def _setup_team_change(drills: Drills, running: Running) -> None:
    if drills.approvers is None:
        raise RuntimeError("this room cannot change its approvers group")
    saved = issues.create(
        drills.desk,
        actor=EDITOR_ID,
        subject="号外：年末のお知らせ",
        body="{{ subscriber.name }} 様",
    )
    when = drills.desk.clock.now() + timedelta(days=1)
    card = approvals.submit(
        drills.desk, saved.issue_id, actor=EDITOR_ID, scheduled_at=when, canary_percent=0
    )
    approvals.approve(drills.desk, card.request_id, actor=LEAVING_ID)
    # What the Slack admin did this morning: Taro is no longer in the approvers group.
    drills.set_approvers([u for u in drills.approvers.members() if u != LEAVING_ID])
    running.facts.update(issue=saved.issue_id, request=card.request_id)


def _judge_team_change(drills: Drills, running: Running) -> Verdict | None:
    issue_id, his = running.facts["issue"], running.facts["request"]
    with drills.desk.db.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        sent_on_his = session.execute(select(Send.id).where(Send.approval_id == his)).first()
        live = (
            session.execute(
                select(ApprovalRequest.decided_by).where(
                    ApprovalRequest.issue_id == issue_id,
                    ApprovalRequest.state == ApprovalState.APPROVED,
                )
            )
            .scalars()
            .all()
        )
    seconds = drills.elapsed(running)
    if sent_on_his is not None:
        return Verdict(False, f"#{issue_id} went out on the approval of someone who left.", seconds)
    if issue.state == "cancelled":
        return Verdict(
            True, f"#{issue_id} cancelled: nothing goes out on his word ({seconds:.0f} s).", seconds
        )
    if LEAVING_ID in live or not live:
        return None
    return Verdict(
        True,
        f"His approval was voided and #{issue_id} approved again by a current approver, "
        f"in {seconds:.0f} s.",
        seconds,
    )


# --- Postmark's suppressions out of step --------------------------------------------------

SUPPRESSIONS_ENDPOINT = "/message-streams/{stream}/suppressions"  # the stand-in's route
# Made-up readers: one who phoned (held here, not at Postmark), one who left through
# Postmark's unsubscribe link and one who marked the issue as spam (both at Postmark only).
OUT_OF_STEP = {
    "phoned": ("中村 美咲", "nakamura.misaki"),
    "link": ("小林 純", "kobayashi.jun"),
    "spam": ("渡辺 健", "watanabe.ken"),
}


def _out_of_step_addresses(drills: Drills) -> dict[str, str]:
    """This run's three addresses (each run its own: an earlier run's stay suppressed)."""
    with drills.desk.db.sessions() as session:
        earlier = session.execute(
            select(func.count(Subscriber.id)).where(Subscriber.email.like("nakamura.misaki.%"))
        ).scalar_one()
    return {role: f"{local}.{earlier + 1}@example.com" for role, (_, local) in OUT_OF_STEP.items()}


def _setup_out_of_step(drills: Drills, running: Running) -> None:
    emails = _out_of_step_addresses(drills)
    _add_readers(drills, [(OUT_OF_STEP[role][0], email) for role, email in emails.items()])
    desk, postmark = drills.desk, drills.postmark
    stream = desk.settings.POSTMARK_BROADCAST_STREAM
    postmark.latency = 0.0
    with desk.db.sessions() as session:
        audit_from = int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)
        salt = address_salt(session)
    # This morning Postmark's API was down when a reader phoned: the unsubscribe holds
    # here, its push to Postmark failed (the bot's push duty retries it).
    postmark.faults.script(["503"] * 3, endpoint=SUPPRESSIONS_ENDPOINT)
    unsubscribe.process(
        desk,
        unsubscribe.Request(email=emails["phoned"], note="電話で依頼 (drill)"),
        actor=EDITOR_ID,
    )
    postmark.faults.clear()  # Postmark is back
    # Two readers left through Postmark itself; the webhooks never reached the bot.
    postmark.suppress(emails["link"], stream=stream, reason="ManualSuppression", origin="Recipient")
    postmark.suppress(emails["spam"], stream=stream, reason="SpamComplaint", origin="Recipient")
    # This month's issue waits for a second person's approval on its card.
    saved = issues.create(
        desk,
        actor=EDITOR_ID,
        subject="12月号",
        body="{{ subscriber.name }} 様、今月のお知らせです。",
    )
    card = approvals.submit(desk, saved.issue_id, actor=EDITOR_ID, canary_percent=0)
    running.facts.update(
        emails=emails,
        refs={address_ref(address_hash(salt, e)): e for e in emails.values()},
        audit_from=audit_from,
        outbox=len(postmark.messages("broadcast")),  # the judge reads on from here
        issue=saved.issue_id,
        request=card.request_id,
        folder=str(
            write_env(desk.settings, _drill_folder(drills, "drill-out-of-step") / ".env").parent
        ),
    )
    running.facts["command"] = f"cd {running.facts['folder']} && countersign check"


def _drill_folder(drills: Drills, name: str) -> Path:
    folder = drills.folder / name
    folder.mkdir(exist_ok=True)
    return folder


def _judge_out_of_step(drills: Drills, running: Running) -> Verdict | None:
    emails: dict[str, str] = running.facts["emails"]
    refs: dict[str, str] = running.facts["refs"]
    stream = drills.desk.settings.POSTMARK_BROADCAST_STREAM
    with drills.desk.db.sessions() as session:
        resubscribed = session.execute(
            select(AuditEvent.subject).where(
                AuditEvent.id > running.facts["audit_from"],
                AuditEvent.action == "subscriber.resubscribed",
                AuditEvent.subject.in_(list(refs)),
            )
        ).scalar()
        rows = {
            email: (origin, push_state)
            for email, origin, push_state in session.execute(
                select(Suppression.email, Suppression.origin, Suppression.push_state).where(
                    Suppression.email.in_(list(emails.values()))
                )
            ).all()
        }
        send = session.execute(
            select(Send.state, Send.total).where(Send.issue_id == running.facts["issue"])
        ).first()
        # Approved and not started yet (a start pulls Postmark's list before its send row).
        starting = session.execute(
            select(ApprovalRequest.id).where(
                ApprovalRequest.issue_id == running.facts["issue"],
                ApprovalRequest.kind == "send",
                ApprovalRequest.state == ApprovalState.APPROVED,
                ApprovalRequest.send_id.is_(None),
            )
        ).first()
    seconds = drills.elapsed(running)
    if resubscribed is not None:
        return Verdict(
            False,
            f"{refs[resubscribed]} was resubscribed, but nobody asked to receive mail again "
            f"({seconds:.0f} s): out of step means suppressed on one side, not on both.",
            seconds,
        )
    mailed = sorted(
        {
            m.Recipients[0]
            for m in drills.postmark.messages("broadcast")[running.facts["outbox"] :]
            if m.Recipients and m.Recipients[0] in emails.values()
        }
    )
    if mailed:
        return Verdict(
            False,
            f"{', '.join(mailed)} got this month's issue although suppressed ({seconds:.0f} s).",
            seconds,
        )
    agree = all(
        email in rows and drills.postmark.is_suppressed(email, stream) for email in emails.values()
    )
    if not agree or starting or (send is not None and send[0] not in ("finished", "halted")):
        return None
    pulled = sum(1 for origin, _ in rows.values() if origin == SuppressionOrigin.POSTMARK_SYNC)
    pushed = sum(1 for _, state in rows.values() if state == "pushed")
    sent = f"; #{running.facts['issue']} went to {_n(send[1])} readers" if send else ""
    return Verdict(
        True,
        f"Both sides agree after {seconds:.0f} s: {pulled} suppressions pulled, {pushed} "
        f"pushed; nobody suppressed was mailed{sent}.",
        seconds,
    )


# --- rotating the Slack and Postmark tokens -----------------------------------------------

# The settings a leak gives away and a rotation replaces (SLACK_APP_TOKEN: the room's bot
# runs in HTTP mode, without one).
ROTATED = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "POSTMARK_SERVER_TOKEN",
    "POSTMARK_WEBHOOK_PASSWORD",
)
ROTATE_ACTIONS: Actions = (
    ("slack-reinstall", "Slack · OAuth & Permissions: revoke the bot token and reinstall"),
    ("slack-secret", "Slack · Basic Information: regenerate the signing secret"),
    ("postmark-token", "Postmark · API Tokens: generate another server token"),
    ("postmark-delete", "Postmark · API Tokens: delete the old server token"),
    ("postmark-webhook", "Postmark · Webhooks: set a new basic-auth password"),
    ("restart", "Server: restart the bot with drill-rotate/.env"),
)


def _setup_rotate(drills: Drills, running: Running) -> None:
    if drills.workspace is None or drills.restart is None:
        raise RuntimeError("this room cannot play Slack's app pages or restart its bot")
    settings = drills.desk.settings
    env = write_env(settings, _drill_folder(drills, "drill-rotate") / ".env")
    drills.postmark.latency = drills.pace  # slow, so that a person can halt it first
    issue_id, request_id = drills.approved_issue("12月号", "{{ subscriber.name }} 様、今月号です。")
    running.facts.update(
        issue=issue_id,
        send=drills.send_of(request_id),
        env=str(env),
        folder=str(env.parent),
        leaked={name: str(getattr(settings, name)) for name in ROTATED},
        rotated_while_sending=False,
        command=f"cd {env.parent} && countersign check",
    )


def _act_rotate(drills: Drills, running: Running, action: str) -> str:
    workspace, restart = drills.workspace, drills.restart
    assert workspace is not None and restart is not None
    state = drills.send_state(running.facts["send"])
    if state == "sending" and action != "restart":
        running.facts["rotated_while_sending"] = True
    if state != "sending":
        drills.postmark.latency = 0.0  # halted: the rest may go at an ordinary pace
    leaked = running.facts["leaked"]
    if action == "slack-reinstall":
        token = workspace.rotate_bot_token()
        return f"Slack: the old bot token is revoked. New Bot User OAuth Token: {token}"
    if action == "slack-secret":
        secret = workspace.regenerate_signing_secret()
        return f"Slack: new Signing Secret: {secret} (Slack signs every request with it now)"
    if action == "postmark-token":
        return f"Postmark: new Server API token: {drills.postmark.generate_server_token()}"
    if action == "postmark-delete":
        old = leaked["POSTMARK_SERVER_TOKEN"]
        if old not in drills.postmark.server_tokens:
            return "Postmark: the old token is already deleted."
        try:
            drills.postmark.delete_server_token(old)
        except ValueError as exc:
            return f"Postmark: {exc}."
        return "Postmark: the old server token is deleted; requests with it are refused."
    if action == "postmark-webhook":
        url, user, _ = drills.postmark.webhook_config()
        password = secrets.token_urlsafe(18)
        drills.postmark.configure_webhook(url, user, password)
        return f"Postmark: webhooks now carry the new basic-auth password: {password}"
    values = dotenv_values(running.facts["env"])
    given = {name: str(values.get(name) or "") for name in ROTATED}
    missing = [name for name, value in given.items() if not value]
    if missing:
        return f"Server: not restarted: {', '.join(missing)} missing from drill-rotate/.env."
    drills.desk = restart(given)
    return "Server: the bot restarted with the tokens of drill-rotate/.env."


def _judge_rotate(drills: Drills, running: Running) -> Verdict | None:
    workspace = drills.workspace
    assert workspace is not None
    seconds = drills.elapsed(running)
    if running.facts["rotated_while_sending"]:
        drills.postmark.latency = 0.0  # over: the rest need not crawl
        return Verdict(
            False,
            "A token was rotated while the send was still going: halt first (step 1), or the "
            f"running bot goes on with the leaked tokens until Slack or Postmark refuse it "
            f"({seconds:.0f} s).",
            seconds,
        )
    send_id = running.facts["send"]
    if drills.send_state(send_id) != "finished":
        return None
    with drills.desk.db.sessions() as session:
        resumed = _resumed(session, send_id)
        twice = session.execute(
            select(Delivery.subscriber_id)
            .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.SENT)
            .group_by(Delivery.subscriber_id)
            .having(func.count() > 1)
        ).first()
    if not resumed:
        return Verdict(
            False,
            f"Not halted: the send ran to its end with the leaked tokens ({seconds:.0f} s).",
            seconds,
        )
    leaked = running.facts["leaked"]
    settings = drills.desk.settings
    password = drills.postmark.webhook_config()[2]
    still = [
        label
        for label, works in (
            ("the old Slack bot token", workspace.token_valid(leaked["SLACK_BOT_TOKEN"])),
            (
                "the old signing secret",
                workspace.signing_secret() == leaked["SLACK_SIGNING_SECRET"],
            ),
            (
                "the old Postmark server token",
                leaked["POSTMARK_SERVER_TOKEN"] in drills.postmark.server_tokens,
            ),
            ("the old webhook password", password == leaked["POSTMARK_WEBHOOK_PASSWORD"]),
        )
        if works
    ]
    if still:
        return Verdict(
            False,
            f"The send resumed, but {', '.join(still)} still works ({seconds:.0f} s).",
            seconds,
        )
    mismatched = [
        label
        for label, ok in (
            ("Slack bot token", workspace.token_valid(settings.SLACK_BOT_TOKEN)),
            ("signing secret", workspace.signing_secret() == settings.SLACK_SIGNING_SECRET),
            ("webhook password", password == settings.POSTMARK_WEBHOOK_PASSWORD),
        )
        if not ok
    ]
    if mismatched:
        return Verdict(
            False,
            f"The send resumed, but the bot's {', '.join(mismatched)} is not the one Slack or "
            f"Postmark now uses: it refuses their requests ({seconds:.0f} s).",
            seconds,
        )
    if twice is not None:
        return Verdict(False, f"A reader got the issue twice ({seconds:.0f} s).", seconds)
    sent = drills.counts(send_id).get(DeliveryStatus.SENT, 0)
    return Verdict(
        True,
        f"Halted first, every leaked token refused, the bot restarted on the new ones and the "
        f"send resumed: {_n(sent)} readers, nobody twice, in {seconds:.0f} s.",
        seconds,
    )


# --- restore from a backup --------------------------------------------------------------------


def _setup_restore(drills: Drills, running: Running) -> None:
    """A practice database beside the room's (the room's own bot holds its lease):
    backed up, then damaged by a wrong import of 500 addresses."""
    live = drills.folder / "drill-live.db"
    saved = drills.folder / "drill-backup.db"
    for stale in (live, saved, *drills.folder.glob("drill-live.db*")):
        stale.unlink(missing_ok=True)
    source = backup.sqlite_path(drills.desk.db)
    with sqlite3.connect(source, timeout=30) as src, sqlite3.connect(live) as dst:
        src.backup(dst)
    with sqlite3.connect(live) as conn:  # the copy holds the room's lease: not a bot of its own
        conn.execute("DELETE FROM leases")
    with sqlite3.connect(live) as src, sqlite3.connect(saved) as dst:
        src.backup(dst)
    before = backup.counts_of(saved)
    with sqlite3.connect(live) as conn:
        list_id = conn.execute("SELECT id FROM lists ORDER BY id LIMIT 1").fetchone()[0]
        now = drills.desk.clock.now().isoformat()
        conn.executemany(
            "INSERT INTO subscribers (list_id, email, name, company, status, created_at,"
            " updated_at) VALUES (?, ?, '', '', 'active', ?, ?)",
            [(list_id, f"wrong-import-{i}@example.com", now, now) for i in range(500)],
        )
    running.facts.update(
        live=str(live),
        backup=str(saved),
        subscribers=before.subscribers,
        command=f"DATABASE_URL=sqlite:///{live} countersign restore {saved}",
    )


def _judge_restore(drills: Drills, running: Running) -> Verdict | None:
    live = Path(running.facts["live"])
    with sqlite3.connect(live, timeout=30) as conn:
        restored = conn.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'database.restored'"
        ).fetchone()[0]
        subscribers = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
    if not restored:
        return None
    seconds = drills.elapsed(running)
    wanted = running.facts["subscribers"]
    if subscribers != wanted:
        return Verdict(
            False, f"Restored, but {_n(subscribers)} subscribers instead of {_n(wanted)}.", seconds
        )
    return Verdict(
        True,
        f"Restored in {seconds:.0f} s: {_n(subscribers)} subscribers, the wrong import gone.",
        seconds,
    )


DRILLS: dict[str, Drill] = {
    d.id: d
    for d in (
        Drill(
            id="monthly-issue",
            title="The monthly issue",
            runbook="monthly-issue",
            situation="This month's issue is due, and nothing is written yet.",
            goal=(
                "Write it, check the preview, open a test copy, have a second person approve "
                "it, and see it through the canary to the whole list."
            ),
            setup=_setup_monthly,
            judge=_judge_monthly,
        ),
        Drill(
            id="halt-wrong-send",
            title="Halt a wrong send",
            runbook="wrong-issue",
            situation=(
                "An approved issue with the wrong seminar date and a dead link is going out "
                "to the whole list, slowly."
            ),
            goal="Stop it. Every second counts: each batch is up to 500 more readers.",
            setup=_setup_wrong_send,
            judge=_judge_wrong_send,
        ),
        Drill(
            id="phone-unsubscribe",
            title="A phone unsubscribe with a name and a company",
            runbook="unsubscribe-request",
            situation=(
                f"{CALLER[0]} of {CALLER[1]} calls while this month's issue is going out: "
                f"“Please stop sending to {CALLER[2]}.”"
            ),
            goal=(
                "Unsubscribe them, keeping what they said (name and company) out of every email."
            ),
            setup=_setup_phone,
            judge=_judge_phone,
        ),
        Drill(
            id="correction",
            title="Find who got a wrong issue and send them a correction",
            runbook="wrong-issue",
            situation=(
                "A wrong issue went out and was halted part-way. Some readers got it; the "
                "rest never will."
            ),
            goal=(
                "Find out who received it, then send a correction to exactly those readers "
                "(an approver must approve it)."
            ),
            setup=_setup_correction,
            judge=_judge_correction,
        ),
        Drill(
            id="canary-halted",
            title="The canary halted itself",
            runbook="canary-halted",
            situation=(
                "Last week someone imported an old list: 300 of its addresses are dead. "
                "This month's issue goes out with a 10 % canary, and the canary bounces."
            ),
            goal=(
                "Let it halt, find out why, keep the bad import's addresses out "
                "(drill-bad-import.csv beside the room's database), and send the rest to the "
                "good readers with a second person's approval."
            ),
            setup=_setup_canary,
            judge=_judge_canary,
        ),
        Drill(
            id="migration",
            title="A migration from the old system",
            runbook="migration",
            situation=(
                "The old system's export is in drill-migration/ beside the room's database: "
                "Mailchimp's subscribed (saved from Excel, in Shift_JIS), unsubscribed and "
                "cleaned files, and a do-not-mail list."
            ),
            goal=(
                "Bring the list over, in a terminal, as the runbook says: backup first, then "
                "a dry run, then the imports. Nobody the old system did not mail may be mailed."
            ),
            setup=_setup_migration,
            judge=_judge_migration,
        ),
        Drill(
            id="team-change",
            title="An approver leaves",
            runbook="team-change",
            situation=(
                "佐藤太郎 (Taro) leaves the team today; the Slack admin has already taken him out "
                "of the approvers group. Yesterday he approved an extra edition, scheduled "
                "for tomorrow."
            ),
            goal=(
                "Make sure nothing goes out on his word alone: the scheduled issue approved "
                "again by someone who still is an approver (or cancelled)."
            ),
            setup=_setup_team_change,
            judge=_judge_team_change,
        ),
        Drill(
            id="suppressions-out-of-step",
            title="Postmark's suppressions out of step",
            runbook="suppressions-out-of-step",
            situation=(
                f"Postmark's API was down this morning when {OUT_OF_STEP['phoned'][0]} phoned to "
                "unsubscribe: it holds here but has not reached Postmark. Meanwhile "
                f"{OUT_OF_STEP['link'][0]} left through Postmark's unsubscribe link and "
                f"{OUT_OF_STEP['spam'][0]} marked last month's issue as spam, and neither "
                "webhook reached Countersign. This month's issue waits for approval on its card."
            ),
            goal=(
                "Bring Countersign and Postmark into step as the runbook says (the server's "
                ".env is in drill-out-of-step/ beside the room's database), and send this "
                "month's issue with a second person's approval without mailing any of the three."
            ),
            setup=_setup_out_of_step,
            judge=_judge_out_of_step,
        ),
        Drill(
            id="rotate-tokens",
            title="Rotate the Slack and Postmark tokens",
            runbook="rotate-tokens",
            situation=(
                "A laptop holding a copy of the server's .env (drill-rotate/.env beside the "
                "room's database) was left on a train this morning: its Slack bot token, "
                "signing secret, Postmark server token and webhook password may be in "
                "someone's hands. This month's issue is going out, slowly."
            ),
            goal=(
                "Halt first. Then rotate every token as the runbook says (the buttons below "
                "play Slack's and Postmark's pages and the server), put the new values into "
                "drill-rotate/.env, run countersign check there until it passes, restart the "
                "bot, and resume the send with a second person's approval."
            ),
            setup=_setup_rotate,
            judge=_judge_rotate,
            actions=ROTATE_ACTIONS,
            act=_act_rotate,
        ),
        Drill(
            id="restore-backup",
            title="Restore from a backup",
            runbook="backup-and-restore",
            situation=(
                "A wrong import put 500 unknown addresses into the practice database "
                "drill-live.db. Last night's backup is drill-backup.db beside it."
            ),
            goal="Put the backup back, with the command of the runbook, in a terminal.",
            setup=_setup_restore,
            judge=_judge_restore,
        ),
    )
}
