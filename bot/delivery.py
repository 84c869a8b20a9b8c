"""The delivery engine's public face: starting, halting and resuming sends.

A send starts from an approved request (`start_approved`): the approval is
re-checked (still approved and not past `approvals.start_deadline`, the
version's hash recomputed and equal to the approved hash, the audience within
`AUDIENCE_DRIFT` percent of the approved count), Postmark's suppressions are
synced in, and the audience is frozen into one ledger row per recipient in the
same transaction that moves the issue to `sending`. Any failed check refuses
the start with a channel notice, voids (or expires) the approval and returns
the issue to draft (a new approval is needed).

The work itself — batches through Postmark, retries, reconciliation, crash
recovery, progress, finishing — is done by the `Engine` threads in
`bot.delivery_engine`, started as a background duty (`background(desk)`,
`new_engine(desk)`). They find work in the database, so a start (from Slack,
the scheduler or a restart) only has to commit a `sending` send and wake them.
Imports run one way: this module uses the engine and the ledger; the engine
knows nothing of it (it is handed `start_unstarted` to retry starts).

`halt_all` is the kill switch (invariant 6): every send that could go out
stops — sending sends are halted (each engine stops before its next batch;
batches already in flight finish and are recorded), approvals not yet started
(scheduled ones too) are voided and their issues halted. `request_resume`
(bot.approvals) plus a fresh approval lead to `resume_approved`, which
continues the same ledger exactly where it stopped.

Notices (kinds the Slack front end renders, never with addresses):
`send.started`, `send.progress`, `send.finished`, `send.halted`,
`send.resumed`, `send.refused`, `send.start_failed`, `send.unknown`,
`approval.voided` (reason `halted`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot import approvals, audience, audit, canary, issues, seeds, states, suppressions
from bot import delivery_engine as engine
from bot import delivery_ledger as ledger
from bot.delivery_engine import Engine, EngineOptions
from bot.desk import Desk, Notice
from bot.postmark import PostmarkError
from bot.refusal import Refusal
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    AuditEvent,
    Issue,
    IssueState,
    IssueVersion,
    MailingList,
    Send,
    SendStage,
    SendState,
)

log = logging.getLogger(__name__)

# The decision note of an approval voided by the kill switch.
HALT_NOTE = "halted"

# --- start ---------------------------------------------------------------------------------


def _send_of_approval(session: Session, request_id: int) -> int | None:
    return session.execute(
        select(Send.id).where(Send.approval_id == request_id).limit(1)
    ).scalar_one_or_none()


def start_approved(desk: Desk, request_id: int) -> int | None:
    """Start the send an approved request allows; return its id, or None when refused.

    Idempotent: a request that already started a send returns that send's id.
    A `resume` request continues its halted send instead (`resume_approved`).
    """
    with ledger.reading(desk.db) as session:
        request = session.get(ApprovalRequest, request_id)
        if request is None:
            return None
        kind, issue_id = request.kind, request.issue_id
        existing = _send_of_approval(session, request_id)
    # (Sessions are never nested: on SQLite each one holds the write lock.)
    if kind == "resume":
        return resume_approved(desk, request_id)
    if existing is not None:
        return existing
    if not _ready_to_start(desk, issue_id, request_id):
        return None
    now = desk.clock.now()
    try:
        with ledger.transaction(desk.db) as session:
            request = _lock_request(session, request_id)
            existing = _send_of_approval(session, request_id)
            if existing is not None:
                return existing
            if _said_already(session, request):
                return None  # the kill switch or an earlier attempt's refusal: said once
            _check_approval(desk, request, now)
            issue = issues.load(session, request.issue_id, lock=True)
            version = session.get(IssueVersion, request.version_id)
            assert version is not None
            _check_content(desk, issue, version, request)
            if issue.state not in (IssueState.APPROVED, IssueState.SCHEDULED):
                raise Refusal("issue_not_approved", state=issue.state)
            mailing_list = session.get(MailingList, request.list_id)
            assert mailing_list is not None
            send = Send(
                issue_id=issue.id,
                version_id=version.id,
                approval_id=request.id,
                state=SendState.SENDING,
                total=0,
                created_at=now,
                started_at=now,
                last_progress_at=now,
                halt_reason="",
            )
            session.add(send)
            session.flush()
            total = ledger.freeze(session, send, mailing_list, now)
            drift = audience.drift_percent(request.recipient_count, total)
            if drift > desk.settings.AUDIENCE_DRIFT:
                # Raising rolls the frozen rows and the send back with everything else.
                raise Refusal(
                    "audience_drift",
                    approved=request.recipient_count,
                    now=total,
                    drift=f"{drift:.1f}",
                    allowed=f"{desk.settings.AUDIENCE_DRIFT:g}",
                )
            send.total = total
            plan = approvals.canary_plan(request)
            canary_size = plan.size(total)
            if canary_size:
                # The plan that was approved: this sample first, then the hold.
                ledger.draw_canary(session, send.id, canary_size)
                send.stage = SendStage.CANARY
                send.canary_percent, send.hold_minutes = plan.percent, plan.hold_minutes
                send.canary_size = canary_size
            request.send_id = send.id
            states.move(
                session,
                issue,
                IssueState.SENDING,
                actor=audit.SYSTEM,
                at=now,
                send=send.id,
                request=request.id,
            )
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="send.started",
                at=now,
                issue_id=issue.id,
                subject=f"send:{send.id}",
                request=request.id,
                approved_by=request.decided_by,
                recipients=total,
                hash=request.content_hash,
                canary=canary_size,
                hold_minutes=plan.hold_minutes if canary_size else 0,
            )
            send_id, issue_id = send.id, issue.id
    except Refusal as refusal:
        _refuse(desk, request_id, refusal)
        return None
    desk.notify(
        Notice(
            "send.started",
            issue_id=issue_id,
            request_id=request_id,
            send_id=send_id,
            params={"total": total, "canary": canary_size},
        )
    )
    engine.wake_all()
    return send_id


def _lock_request(session: Session, request_id: int) -> ApprovalRequest:
    return session.execute(
        select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()
    ).scalar_one()


def _voided_by_halt(request: ApprovalRequest) -> bool:
    return request.state == ApprovalState.VOID and request.decision_note == HALT_NOTE


def _said_already(session: Session, request: ApprovalRequest) -> bool:
    """Whether the request stopped holding for a reason the team has been told:
    the kill switch voided it, or an earlier attempt to start its send was
    refused. Attempts race (the approval's listener, the engine's retry, a
    second process), and the one that comes second must not refuse again with
    a misleading "the approval is not valid" after the real reason."""
    if request.state == ApprovalState.APPROVED:
        return False
    if _voided_by_halt(request):
        return True
    refused = session.execute(
        select(AuditEvent.id)
        .where(AuditEvent.action == "send.refused", AuditEvent.subject == f"request:{request.id}")
        .limit(1)
    ).first()
    return refused is not None


def _check_approval(desk: Desk, request: ApprovalRequest, now: datetime) -> None:
    """Still approved, and not past the time by which its send had to start."""
    if request.state != ApprovalState.APPROVED:
        raise Refusal("approval_not_valid", state=request.state)
    deadline = approvals.start_deadline(request, desk.settings)
    if now > deadline:
        raise Refusal("approval_expired", until=deadline)


def _check_content(
    desk: Desk, issue: Issue, version: IssueVersion, request: ApprovalRequest
) -> None:
    """Invariant 3 at send time: exactly the approved content, on the broadcast stream."""
    recomputed = issues.verified_hash(version)
    if recomputed != request.content_hash or (
        request.kind == "send" and issue.current_version_id != version.id
    ):
        raise Refusal("hash_mismatch", approved=request.content_hash[:12], now=recomputed[:12])
    if version.stream != desk.postmark.broadcast_stream:
        raise Refusal("stream_changed", approved=version.stream, now=desk.postmark.broadcast_stream)


def _ready_to_start(desk: Desk, issue_id: int, request_id: int) -> bool:
    """Before a send starts or resumes: the two pipes are what they must be at
    Postmark (invariant 1: a broadcast never goes through a transactional
    stream, nor through one without Postmark's unsubscribe link and headers),
    and Postmark's suppressions are synced in. A start is not attempted
    without both; a misconfigured stream refuses it (which setting to fix)."""
    try:
        problems = desk.postmark.pipe_problems()
        if not problems:
            suppressions.sync_from_postmark(desk)
    except PostmarkError as exc:
        log.warning("checking Postmark before a send failed: %s", type(exc).__name__)
        desk.notify(
            Notice(
                "send.start_failed",
                issue_id=issue_id,
                request_id=request_id,
                params={"reason": type(exc).__name__},
            )
        )
        return False
    if problems:
        first = problems[0]
        log.warning("send of request %s refused: %s", request_id, first.sentence())
        _refuse(
            desk,
            request_id,
            Refusal(
                f"stream_{first.code}",
                setting=first.setting,
                stream=first.stream,
                found=first.found,
                wanted=first.wanted,
            ),
        )
        return False
    return True


def _refuse(desk: Desk, request_id: int, refusal: Refusal) -> None:
    """The approval no longer holds: void it, put the issue back, tell the channel.
    Once: an attempt that overlapped an earlier refused one says nothing again."""
    now = desk.clock.now()
    with ledger.transaction(desk.db) as session:
        request = _lock_request(session, request_id)
        if _said_already(session, request):
            return
        issue = session.get(Issue, request.issue_id)
        assert issue is not None
        if request.state == ApprovalState.APPROVED and (
            request.kind == "resume" or request.send_id is None
        ):
            if refusal.code == "approval_expired":
                request.state = ApprovalState.EXPIRED
            else:
                request.state = ApprovalState.VOID
                request.decision_note = refusal.code
        back = IssueState.HALTED if request.kind == "resume" else IssueState.DRAFT
        if issue.state in (IssueState.APPROVED, IssueState.SCHEDULED) and states.can_move(
            issue.state, back
        ):
            states.move(session, issue, back, actor=audit.SYSTEM, at=now, reason=refusal.code)
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="send.refused",
            at=now,
            issue_id=issue.id,
            subject=f"request:{request_id}",
            code=refusal.code,
            **{k: str(v) for k, v in refusal.params.items()},
        )
        issue_id = issue.id
    desk.notify(
        Notice(
            "send.refused",
            issue_id=issue_id,
            request_id=request_id,
            params={"code": refusal.code, **refusal.params},
        )
    )


# --- resume --------------------------------------------------------------------------------


def resume_approved(desk: Desk, request_id: int) -> int | None:
    """Continue the halted send of an approved `resume` request; return its id.

    The ledger is not frozen again: the rows still pending are sent, the rows
    already answered (or `unknown`) never are. Suppressions are synced first
    and re-checked as each batch is claimed.
    """
    with ledger.reading(desk.db) as session:
        request = session.get(ApprovalRequest, request_id)
        if request is None or request.kind != "resume" or request.send_id is None:
            return None
        issue_id, send_id = request.issue_id, request.send_id
    if not _ready_to_start(desk, issue_id, request_id):
        return None
    now = desk.clock.now()
    try:
        with ledger.transaction(desk.db) as session:
            request = _lock_request(session, request_id)
            send = session.execute(
                select(Send).where(Send.id == send_id).with_for_update()
            ).scalar_one()
            if send.state == SendState.SENDING and send.approval_id == request.id:
                return send.id
            if _said_already(session, request):
                return None
            _check_approval(desk, request, now)
            if send.state != SendState.HALTED:
                raise Refusal("send_not_halted", state=send.state)
            issue = issues.load(session, request.issue_id, lock=True)
            version = session.get(IssueVersion, send.version_id)
            assert version is not None
            if request.version_id != send.version_id:
                raise Refusal(
                    "hash_mismatch",
                    approved=request.content_hash[:12],
                    now=version.content_hash[:12],
                )
            _check_content(desk, issue, version, request)
            if issue.state != IssueState.APPROVED:
                raise Refusal("issue_not_approved", state=issue.state)
            send.state = SendState.SENDING
            send.approval_id = request.id
            send.halted_by = None
            send.halt_reason = ""
            if send.stage in (SendStage.CANARY, SendStage.HOLD):
                # A new two-person approval decided on the canary: the rest goes.
                send.stage = SendStage.REST
            send.last_progress_at = now
            states.move(
                session,
                issue,
                IssueState.SENDING,
                actor=audit.SYSTEM,
                at=now,
                send=send.id,
                request=request.id,
            )
            remaining = ledger.counts(session, send.id)
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="send.resumed",
                at=now,
                issue_id=issue.id,
                subject=f"send:{send.id}",
                request=request.id,
                approved_by=request.decided_by,
                pending=remaining[ledger.D.PENDING],
            )
            approver = request.decided_by or ""
    except Refusal as refusal:
        _refuse(desk, request_id, refusal)
        return None
    desk.notify(
        Notice(
            "send.resumed",
            issue_id=issue_id,
            request_id=request_id,
            send_id=send_id,
            params={"approver": approver, "pending": remaining[ledger.D.PENDING]},
        )
    )
    engine.wake_all()
    return send_id


# --- halt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Halted:
    """What one press of the kill switch stopped (ids only: the channel may see it)."""

    sends: tuple[tuple[int, int], ...] = ()  # (send id, issue id) that were sending
    approved: tuple[int, ...] = ()  # issues approved whose send had not started
    scheduled: tuple[tuple[int, datetime], ...] = ()  # (issue id, its time)
    requests: tuple[int, ...] = ()  # the approvals voided

    @property
    def send_ids(self) -> list[int]:
        return [send_id for send_id, _ in self.sends]

    def __bool__(self) -> bool:
        return bool(self.sends or self.approved or self.scheduled)


def _unstarted_approved(session: Session) -> list[ApprovalRequest]:
    """Approved requests that could still start or resume a send, locked."""
    resumable = select(Send.id).where(
        Send.id == ApprovalRequest.send_id,
        Send.state == SendState.HALTED,
        Send.approval_id != ApprovalRequest.id,
    )
    return list(
        session.execute(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.state == ApprovalState.APPROVED,
                or_(
                    and_(ApprovalRequest.kind == "send", ApprovalRequest.send_id.is_(None)),
                    and_(ApprovalRequest.kind == "resume", resumable.exists()),
                ),
            )
            .order_by(ApprovalRequest.id)
            .with_for_update()
        ).scalars()
    )


def halt_all(desk: Desk, *, actor: str, reason: str = "manual", detail: str = "") -> Halted:
    """The kill switch (invariant 6): every send that could go out stops.

    Sending sends are halted (each engine stops before its next batch; batches
    on the wire finish and are recorded). Approvals that have not started their
    send yet — approved a moment ago, waiting for Postmark's suppression list,
    scheduled, or a resume not yet continued — are voided, and their issues are
    halted: nothing reaches the broadcast stream until a new two-person approval.
    """
    now = desk.clock.now()
    with ledger.transaction(desk.db) as session:
        # The requests first, then the sends: a start holding its request's lock
        # commits its send before this reads the sends, so the send is halted
        # here; a start that comes after finds its request void.
        requests = _unstarted_approved(session)
        approved: list[int] = []
        scheduled: list[tuple[int, datetime]] = []
        for request in requests:
            request.state = ApprovalState.VOID
            request.decision_note = HALT_NOTE
            issue = session.get(Issue, request.issue_id)
            assert issue is not None
            if issue.state in (IssueState.APPROVED, IssueState.SCHEDULED):
                states.move(
                    session, issue, IssueState.HALTED, actor=actor, at=now, request=request.id
                )
            audit.record(
                session,
                actor=actor,
                action="approval.voided",
                at=now,
                issue_id=request.issue_id,
                subject=f"request:{request.id}",
                before=str(ApprovalState.APPROVED),
                reason=HALT_NOTE,
            )
            if request.scheduled_at is not None and request.kind == "send":
                scheduled.append((request.issue_id, request.scheduled_at))
            else:
                approved.append(request.issue_id)
        sends = (
            session.execute(
                select(Send)
                .where(Send.state == SendState.SENDING)
                .order_by(Send.id)
                .with_for_update()
            )
            .scalars()
            .all()
        )
        halted: list[tuple[int, int]] = []
        for send in sends:
            ledger.halt_rows(session, send, actor=actor, reason=reason, detail=detail, at=now)
            halted.append((send.id, send.issue_id))
        session.flush()
        # Counted at the halt: what is on its way now is what was on its way then.
        at_halt = [ledger.session_reports(session, send_id=send_id)[0] for send_id, _ in halted]
        voided = [(r.id, r.issue_id) for r in requests]
    for report in at_halt:
        engine.notify_halted(desk, report, actor, reason, detail)
    for request_id, issue_id in voided:
        desk.notify(
            Notice(
                "approval.voided",
                issue_id=issue_id,
                request_id=request_id,
                params={"reason": HALT_NOTE, "actor": actor},
            )
        )
    engine.wake_all()
    return Halted(
        sends=tuple(halted),
        approved=tuple(approved),
        scheduled=tuple(scheduled),
        requests=tuple(r for r, _ in voided),
    )


# --- reading -------------------------------------------------------------------------------

SendReport = ledger.SendReport


def status(
    desk: Desk, *, issue_id: int | None = None, send_id: int | None = None, limit: int = 5
) -> list[SendReport]:
    """Reports of one send, of an issue's sends, or of the latest sends (newest first)."""
    return ledger.reports(desk.db, issue_id=issue_id, send_id=send_id, limit=limit)


def stalled_sends(desk: Desk, older_than: timedelta) -> list[int]:
    """Sending sends with work left that have made no progress for `older_than`
    (for a watchdog: no engine is running, or every engine is stuck)."""
    cutoff = desk.clock.now() - older_than
    with ledger.reading(desk.db) as session:
        rows = session.execute(
            select(Send.id)
            .where(
                Send.state == SendState.SENDING,
                func.coalesce(Send.last_progress_at, Send.started_at, Send.created_at) < cutoff,
            )
            .order_by(Send.id)
        ).scalars()
        return [send_id for send_id in rows if ledger.has_open_rows(session, send_id)]


def progress_message(desk: Desk, send_id: int) -> tuple[str | None, str | None]:
    """(channel, ts) of a send's progress message, if it was posted."""
    with ledger.reading(desk.db) as session:
        row = session.execute(
            select(Send.progress_channel, Send.progress_ts).where(Send.id == send_id)
        ).one_or_none()
        return (row[0], row[1]) if row else (None, None)


def set_progress_message(desk: Desk, send_id: int, channel: str, ts: str) -> None:
    with ledger.transaction(desk.db) as session:
        send = session.get(Send, send_id)
        if send is not None:
            send.progress_channel, send.progress_ts = channel, ts


def unstarted_approvals(desk: Desk) -> list[int]:
    """Approved, unscheduled send requests whose start never happened (a crash
    between the approval's commit and the start, or a failed suppression sync)."""
    with ledger.reading(desk.db) as session:
        return list(
            session.execute(
                select(ApprovalRequest.id)
                .join(Issue, Issue.id == ApprovalRequest.issue_id)
                .where(
                    ApprovalRequest.state == ApprovalState.APPROVED,
                    ApprovalRequest.kind == "send",
                    ApprovalRequest.scheduled_at.is_(None),
                    ApprovalRequest.send_id.is_(None),
                    Issue.state == IssueState.APPROVED,
                )
                .order_by(ApprovalRequest.id)
            ).scalars()
        )


# --- wiring --------------------------------------------------------------------------------


def approval_listener(desk: Desk) -> Callable[[int], None]:
    """For `desk.approval_listeners`: an approved request without a time starts
    now; an approved `resume` request continues its send."""

    def on_approved(request_id: int) -> None:
        try:
            with ledger.reading(desk.db) as session:
                request = session.get(ApprovalRequest, request_id)
                if request is None:
                    return
                kind, scheduled = request.kind, request.scheduled_at
            if kind == "resume":
                resume_approved(desk, request_id)
            elif scheduled is None:
                start_approved(desk, request_id)
        except Exception:
            # Never break the approval itself; the engine retries unstarted approvals.
            log.exception("starting the send of approval request %s failed", request_id)

    return on_approved


def start_unstarted(desk: Desk) -> None:
    """Start the approvals whose start never happened (the engine's supervisor
    calls this every `start_retry_seconds`)."""
    for request_id in unstarted_approvals(desk):
        start_approved(desk, request_id)


def new_engine(desk: Desk, options: EngineOptions | None = None) -> Engine:
    """An engine that also retries the starts that never happened, sends the
    seed copies before a send's first batch (bot.seeds) and runs the canary's
    stages (bot.canary: the hold begins, ends, or is judged)."""
    return Engine(
        desk,
        options,
        retry_starts=lambda: start_unstarted(desk),
        drained=lambda send_id: canary.advance(desk, send_id),
        supervise=lambda: canary.tick(desk),
        first_claim=lambda send_id, channel: seeds.send_first(desk, send_id, channel),
    )


def background(
    desk: Desk, options: EngineOptions | None = None
) -> tuple[Callable[[], None], Callable[[], None]]:
    """A (start, stop) pair for `Bot.background`: the engine's worker threads."""
    holder: dict[str, Engine] = {}

    def start() -> None:
        running = new_engine(desk, options)
        holder["engine"] = running
        running.start()

    def stop() -> None:
        running = holder.pop("engine", None)
        if running is not None:
            running.stop()

    return start, stop
