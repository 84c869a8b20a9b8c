"""Two-person approval of every list-wide send (invariants 2 and 3).

`submit()` runs preflight, snapshots the audience and opens a request bound
to one exact version (its hash) and audience. `approve()` checks, on the
server, at the moment of the click and in one transaction: the clicker is an
approver, is neither the requester nor the author of that version, the
request is open and unexpired, and the issue's current content still hashes
to the requested hash. A failed check raises `Refusal` and changes nothing.
Two clicks at once yield one approval: the request row is locked (FOR UPDATE
on PostgreSQL; SQLite's write transactions are serial) and its state checked
inside the lock.

Approval does not send: listeners registered on the desk (the delivery
engine, the scheduler) are handed the request once it is committed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot import audience, audit, issues, outbox, states, transports
from bot import delivery_ledger as ledger
from bot.desk import Desk, Notice
from bot.refusal import Refusal
from bot.settings import Settings
from bot.typed import storable
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    Issue,
    IssueState,
    IssueVersion,
    MailingList,
    Send,
    SendState,
)


@dataclass(frozen=True)
class CanaryPlan:
    """A share of the audience first (percent; 0: no canary), then a hold
    (bot.canary). Part of what is approved: the request carries it."""

    percent: float
    hold_minutes: int

    @property
    def on(self) -> bool:
        return self.percent > 0

    def size(self, audience: int) -> int:
        """Readers in the canary: at least one when on; 0 when off, or when the
        share would be the whole audience (then there is nothing to hold back)."""
        if not self.on or audience <= 1:
            return 0
        size = max(1, math.ceil(audience * self.percent / 100 - 1e-9))
        return size if size < audience else 0


def canary_plan(request: ApprovalRequest) -> CanaryPlan:
    return CanaryPlan(request.canary_percent, request.canary_hold_minutes)


@dataclass(frozen=True)
class Card:
    """What an approval card shows (no addresses: it is posted in a channel)."""

    request_id: int
    issue_id: int
    kind: str
    state: str
    list_name: str
    recipients: int
    subject: str
    content_hash: str
    version_number: int
    author: str
    requester: str
    scheduled_at: datetime | None
    expires_at: datetime
    override_reason: str | None
    overridden: tuple[str, ...]
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    card_channel: str | None
    card_ts: str | None
    # Once approved, the send must start by then or needs a new approval.
    start_by: datetime
    # A correction: the earlier issue whose readers (and only they) it goes to.
    correction_of: int | None = None
    canary: CanaryPlan = CanaryPlan(0.0, 0)
    bounce_limit: float = 0.0  # the canary halts the send above these
    complaint_limit: float = 0.0

    @property
    def canary_size(self) -> int:
        return self.canary.size(self.recipients)

    @property
    def hash12(self) -> str:
        return self.content_hash[:12]


def start_deadline(request: ApprovalRequest, settings: Settings) -> datetime:
    """Until when an approved request may start (or resume) its send: a
    scheduled send's approval holds until its time plus
    SCHEDULED_SEND_GRACE_MINUTES, any other until the request expires."""
    if request.scheduled_at is not None and request.kind == "send":
        return request.scheduled_at + timedelta(minutes=settings.SCHEDULED_SEND_GRACE_MINUTES)
    return request.expires_at


def _card(session: Session, request: ApprovalRequest, settings: Settings) -> Card:
    version = session.get(IssueVersion, request.version_id)
    mailing_list = session.get(MailingList, request.list_id)
    assert version is not None and mailing_list is not None
    return Card(
        request_id=request.id,
        issue_id=request.issue_id,
        kind=request.kind,
        state=request.state,
        list_name=mailing_list.name,
        recipients=request.recipient_count,
        subject=version.subject,
        content_hash=request.content_hash,
        version_number=version.number,
        author=version.author,
        requester=request.requester,
        scheduled_at=request.scheduled_at,
        expires_at=request.expires_at,
        override_reason=request.override_reason,
        overridden=tuple(request.overridden_findings.get("codes", [])),
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        decision_note=request.decision_note,
        card_channel=request.card_channel,
        card_ts=request.card_ts,
        start_by=start_deadline(request, settings),
        correction_of=_correction_of(session, request.issue_id),
        canary=canary_plan(request),
        bounce_limit=settings.CANARY_MAX_BOUNCE_PERCENT,
        complaint_limit=settings.CANARY_MAX_COMPLAINT_PERCENT,
    )


def _correction_of(session: Session, issue_id: int) -> int | None:
    issue = session.get(Issue, issue_id)
    return issue.correction_of if issue is not None else None


def card(desk: Desk, request_id: int) -> Card:
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        if request is None:
            raise Refusal("request_not_found", request=request_id)
        return _card(session, request, desk.settings)


def set_card_message(desk: Desk, request_id: int, channel: str, ts: str) -> None:
    with desk.db.transaction() as session:
        request = session.get(ApprovalRequest, request_id)
        if request is not None:
            request.card_channel, request.card_ts = channel, ts


def submit(
    desk: Desk,
    issue_id: int,
    *,
    actor: str,
    scheduled_at: datetime | None = None,
    override_reason: str | None = None,
    canary_percent: float | None = None,
) -> Card:
    """Open an approval request for the issue's current version, with the canary
    plan of the settings (or `canary_percent` for this one send; 0: none)."""
    now = desk.clock.now()
    override_reason = storable(override_reason) if override_reason else override_reason
    if scheduled_at is not None and scheduled_at <= now:
        raise Refusal("schedule_in_past", issue=issue_id)
    preview = issues.preview(desk, issue_id)  # preflight outside the write transaction
    blocking = preview.blocking
    if blocking and not (override_reason and override_reason.strip()):
        raise Refusal("preflight_blocked", issue=issue_id, codes=[f.code for f in blocking])
    with desk.db.transaction() as session:
        issue = issues.load(session, issue_id, lock=True)
        version = issues.current_version(session, issue)
        if version.content_hash != preview.content_hash:
            raise Refusal("content_changed_during_submit", issue=issue_id)
        # A halted issue whose send never started (the kill switch stopped its
        # approval) is submitted afresh; one sent in part continues by resume.
        if _has_send(session, issue.id):
            if issue.state == IssueState.HALTED:
                raise Refusal("use_resume", issue=issue_id)
            # Sent or sending: neither submit nor resume can do anything with it.
            raise Refusal("already_sent", issue=issue_id, state=issue.state)
        superseded = issues.void_requests(session, issue, actor=actor, at=now, reason="resubmitted")
        states.move(session, issue, IssueState.AWAITING_APPROVAL, actor=actor, at=now)
        request = _open(
            session,
            desk,
            issue,
            version,
            actor=actor,
            now=now,
            kind="send",
            scheduled_at=scheduled_at,
            override_reason=override_reason.strip() if blocking and override_reason else None,
            overridden=[f.code for f in blocking],
            superseded=superseded,
            canary=CanaryPlan(
                desk.settings.CANARY_PERCENT if canary_percent is None else canary_percent,
                desk.settings.CANARY_HOLD_MINUTES,
            ),
        )
        if request.override_reason:
            audit.record(
                session,
                actor=actor,
                action="preflight.overridden",
                at=now,
                issue_id=issue.id,
                subject=f"request:{request.id}",
                codes=[f.code for f in blocking],
                reason=request.override_reason,
            )
        result = _card(session, request, desk.settings)
    outbox.deliver(desk, request_id=result.request_id)
    for request_id in superseded:
        desk.notify(
            Notice(
                "approval.voided",
                issue_id=issue_id,
                request_id=request_id,
                params={"reason": "resubmitted", "actor": actor},
            )
        )
    return result


def request_resume(desk: Desk, issue_id: int, *, actor: str) -> Card:
    """Ask for a fresh two-person approval to continue a halted send.

    An issue halted before its send started has nothing to continue: it is
    submitted again (preflight included), to go out as soon as it is approved.
    The request's recipient count is what remains of the send, not the list.
    """
    now = desk.clock.now()
    with desk.db.sessions() as session:
        issue = issues.load(session, issue_id)
        never_started = issue.state == IssueState.HALTED and not _has_send(session, issue.id)
    if never_started:
        return submit(desk, issue_id, actor=actor)
    with desk.db.transaction() as session:
        issue = issues.load(session, issue_id, lock=True)
        send = session.execute(
            select(Send).where(Send.issue_id == issue.id).order_by(Send.id.desc()).limit(1)
        ).scalar_one_or_none()
        if issue.state != IssueState.HALTED or send is None or send.state != SendState.HALTED:
            raise Refusal("not_halted", issue=issue_id, state=issue.state)
        version = session.get(IssueVersion, send.version_id)
        assert version is not None
        states.move(
            session, issue, IssueState.AWAITING_APPROVAL, actor=actor, at=now, resume=send.id
        )
        remaining = ledger.counts(session, send.id)[ledger.D.PENDING]
        request = _open(
            session,
            desk,
            issue,
            version,
            actor=actor,
            now=now,
            kind="resume",
            send_id=send.id,
            recipients=remaining,
        )
        result = _card(session, request, desk.settings)
    outbox.deliver(desk, request_id=result.request_id)
    return result


def _open(
    session: Session,
    desk: Desk,
    issue: Issue,
    version: IssueVersion,
    *,
    actor: str,
    now: datetime,
    kind: str,
    send_id: int | None = None,
    scheduled_at: datetime | None = None,
    override_reason: str | None = None,
    overridden: list[str] | None = None,
    superseded: list[int] | None = None,
    recipients: int | None = None,
    canary: CanaryPlan | None = None,
) -> ApprovalRequest:
    """A new open request bound to `version`'s recomputed hash and today's
    audience (or `recipients`: what is left of a halted send)."""
    mailing_list = session.get(MailingList, issue.list_id)
    assert mailing_list is not None
    request = ApprovalRequest(
        issue_id=issue.id,
        version_id=version.id,
        content_hash=issues.verified_hash(version),
        kind=kind,
        send_id=send_id,
        list_id=mailing_list.id,
        audience_rule=audience.rule(issue.correction_of),
        recipient_count=(
            audience.count(session, mailing_list, issue.correction_of)
            if recipients is None
            else recipients
        ),
        scheduled_at=scheduled_at,
        override_reason=override_reason,
        overridden_findings={"codes": overridden or []},
        requester=actor,
        created_at=now,
        expires_at=now + timedelta(hours=desk.settings.APPROVAL_TTL_HOURS),
        canary_percent=canary.percent if canary else 0.0,
        canary_hold_minutes=canary.hold_minutes if canary else 0,
    )
    session.add(request)
    session.flush()
    # Its card goes out with it: an approval request never exists without one
    # on its way to the channel (delivered after the commit, or by the outbox duty).
    outbox.enqueue(
        session,
        Notice("approval.card", issue_id=issue.id, request_id=request.id),
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="approval.requested",
        at=now,
        issue_id=issue.id,
        subject=f"request:{request.id}",
        kind=kind,
        version=version.number,
        hash=request.content_hash,
        recipients=request.recipient_count,
        scheduled_at=scheduled_at.isoformat() if scheduled_at else None,
        send=send_id,
        superseded=superseded or [],
        canary_percent=request.canary_percent,
        canary_hold_minutes=request.canary_hold_minutes,
    )
    return request


def _has_send(session: Session, issue_id: int) -> bool:
    return (
        session.execute(select(Send.id).where(Send.issue_id == issue_id).limit(1)).first()
        is not None
    )


def _open_request(session: Session, request_id: int, now: datetime) -> ApprovalRequest:
    request = session.execute(
        select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()
    ).scalar_one_or_none()
    if request is None:
        raise Refusal("request_not_found", request=request_id)
    if request.state != ApprovalState.OPEN:
        raise Refusal(
            "request_not_open",
            request=request_id,
            state=request.state,
            decided_by=request.decided_by or "",
        )
    if now >= request.expires_at:
        raise Refusal("request_expired", request=request_id)
    return request


def approve(desk: Desk, request_id: int, *, actor: str) -> Card:
    """The second person's approval. Raises Refusal; changes nothing then."""
    if not desk.directory.is_approver(actor):
        raise Refusal("not_an_approver", request=request_id)
    now = desk.clock.now()
    with desk.db.transaction() as session:
        request = _open_request(session, request_id, now)
        issue = issues.load(session, request.issue_id, lock=True)
        version = session.get(IssueVersion, request.version_id)
        assert version is not None
        if actor == request.requester:
            raise Refusal("self_approval", request=request_id)
        if actor == version.author:
            raise Refusal("author_approval", request=request_id, version=version.number)
        if request.kind == "send" and (
            issue.current_version_id != request.version_id
            or issues.verified_hash(version) != request.content_hash
        ):
            raise Refusal("content_changed", request=request_id)
        if request.kind == "resume" and issues.verified_hash(version) != request.content_hash:
            raise Refusal("content_changed", request=request_id)
        request.state = ApprovalState.APPROVED
        request.decided_by = actor
        request.decided_at = now
        target = IssueState.SCHEDULED if request.scheduled_at else IssueState.APPROVED
        states.move(session, issue, target, actor=actor, at=now, request=request.id)
        audit.record(
            session,
            actor=actor,
            action="approval.approved",
            at=now,
            issue_id=issue.id,
            subject=f"request:{request.id}",
            version=version.number,
            hash=request.content_hash,
            kind=request.kind,
        )
        result = _card(session, request, desk.settings)
    for listener in desk.approval_listeners:
        listener(result.request_id)
    return result


def reject(desk: Desk, request_id: int, *, actor: str, reason: str) -> Card:
    if not desk.directory.is_approver(actor):
        raise Refusal("not_an_approver", request=request_id)
    now = desk.clock.now()
    with desk.db.transaction() as session:
        request = _open_request(session, request_id, now)
        issue = issues.load(session, request.issue_id, lock=True)
        request.state = ApprovalState.REJECTED
        request.decided_by, request.decided_at = actor, now
        request.decision_note = storable(reason).strip()
        wanted = IssueState.HALTED if request.kind == "resume" else IssueState.REJECTED
        states.move(session, issue, wanted, actor=actor, at=now, request=request.id)
        audit.record(
            session,
            actor=actor,
            action="approval.rejected",
            at=now,
            issue_id=issue.id,
            subject=f"request:{request.id}",
            reason=request.decision_note,
        )
        return _card(session, request, desk.settings)


def cancel(desk: Desk, issue_id: int, *, actor: str) -> list[int]:
    """Cancel an issue that is not sending; its open requests are cancelled too."""
    now = desk.clock.now()
    with desk.db.transaction() as session:
        issue = issues.load(session, issue_id, lock=True)
        states.move(session, issue, IssueState.CANCELLED, actor=actor, at=now)
        open_requests = (
            session.execute(
                select(ApprovalRequest).where(
                    ApprovalRequest.issue_id == issue.id,
                    ApprovalRequest.state.in_((ApprovalState.OPEN, ApprovalState.APPROVED)),
                )
            )
            .scalars()
            .all()
        )
        cancelled: list[int] = []
        for request in open_requests:
            if request.state == ApprovalState.APPROVED and request.send_id is not None:
                continue
            request.state = ApprovalState.CANCELLED
            request.decided_by, request.decided_at = actor, now
            cancelled.append(request.id)
        audit.record(
            session,
            actor=actor,
            action="issue.cancelled",
            at=now,
            issue_id=issue.id,
            subject=f"issue:{issue.id}",
            requests=cancelled,
        )
        halted = list(
            session.execute(
                select(Send.id).where(Send.issue_id == issue.id, Send.state == SendState.HALTED)
            ).scalars()
        )
    for send_id in halted:  # a halted send that is cancelled is over: its template goes
        transports.send_closed(desk, send_id)
    return cancelled


def expire_due(desk: Desk) -> list[Card]:
    """Mark requests past their time expired (the sweep; approve() and the
    send's start check expiry themselves, so correctness never waits for this):
    open requests past their TTL, and approved ones whose send did not start
    (or resume) before `start_deadline`. Scheduled sends past their grace are
    left to the scheduler, which asks the channel about them."""
    now = desk.clock.now()
    with desk.db.transaction() as session:
        resumable = select(Send.id).where(
            Send.id == ApprovalRequest.send_id,
            Send.state == SendState.HALTED,
            Send.approval_id != ApprovalRequest.id,
        )
        due = (
            session.execute(
                select(ApprovalRequest)
                .where(
                    ApprovalRequest.expires_at <= now,
                    or_(
                        ApprovalRequest.state == ApprovalState.OPEN,
                        and_(
                            ApprovalRequest.state == ApprovalState.APPROVED,
                            or_(
                                and_(
                                    ApprovalRequest.kind == "send",
                                    ApprovalRequest.send_id.is_(None),
                                    ApprovalRequest.scheduled_at.is_(None),
                                ),
                                and_(ApprovalRequest.kind == "resume", resumable.exists()),
                            ),
                        ),
                    ),
                )
                .order_by(ApprovalRequest.id)
                .with_for_update()
            )
            .scalars()
            .all()
        )
        cards = []
        for request in due:
            before = request.state
            request.state = ApprovalState.EXPIRED
            issue = session.get(Issue, request.issue_id)
            assert issue is not None
            waiting = (
                IssueState.AWAITING_APPROVAL
                if before == ApprovalState.OPEN
                else IssueState.APPROVED
            )
            if issue.state == waiting:
                back = IssueState.HALTED if request.kind == "resume" else IssueState.DRAFT
                if states.can_move(issue.state, back):
                    states.move(session, issue, back, actor=audit.SYSTEM, at=now, reason="expired")
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="approval.expired",
                at=now,
                issue_id=request.issue_id,
                subject=f"request:{request.id}",
                before=str(before),
            )
            cards.append((_card(session, request, desk.settings), before))
    for expired, before in cards:
        desk.notify(
            Notice(
                "approval.expired",
                issue_id=expired.issue_id,
                request_id=expired.request_id,
                params={"approved": before == ApprovalState.APPROVED},
            )
        )
    return [expired for expired, _ in cards]
