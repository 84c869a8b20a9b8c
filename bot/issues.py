"""Newsletter issues and their immutable versions: create, save, preview, list.

Every save makes a new `IssueVersion` with the SHA-256 of its compiled content
(subject, HTML, text, sender, stream). Saving an issue that awaits approval or
is approved voids that approval (invariant 3): the request is marked void, the
issue returns to draft, the channel is told, and the trail records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import audience, audit, states
from bot.desk import Desk, Notice
from bot.preflight import SAMPLE_COMPANY, SAMPLE_NAME, Finding, preflight
from bot.refusal import Refusal
from bot.rendering import (
    TEST_COPY_UNSUBSCRIBE,
    CompiledIssue,
    Footer,
    RecipientContext,
    RenderedMessage,
    check_stored,
    compile_issue,
    render_message,
)
from bot.settings import Settings
from bot.subscribers import get_or_create_list
from bot.typed import storable
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    Issue,
    IssueState,
    IssueVersion,
    MailingList,
    Send,
)


@dataclass(frozen=True)
class Saved:
    issue_id: int
    version_number: int
    content_hash: str
    voided_request_ids: tuple[int, ...]


@dataclass(frozen=True)
class Preview:
    issue_id: int
    state: str
    version_number: int
    author: str
    subject: str
    body: str
    content_hash: str
    list_name: str
    recipients: int
    findings: list[Finding]
    correction_of: int | None = None

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]


def compiled_of(version: IssueVersion) -> CompiledIssue:
    return CompiledIssue(
        subject=version.subject,
        html=version.html_template,
        text=version.text_template,
        sender=version.sender,
        stream=version.stream,
    )


def verified_hash(version: IssueVersion) -> str:
    """The hash recomputed from the stored content (not the stored hash)."""
    return compiled_of(version).content_hash


def issue_date(version: IssueVersion, tz: ZoneInfo) -> str:
    return version.created_at.astimezone(tz).date().isoformat()


def load(session: Session, issue_id: int, *, lock: bool = False) -> Issue:
    query = select(Issue).where(Issue.id == issue_id)
    if lock:
        query = query.with_for_update()
    issue = session.execute(query).scalar_one_or_none()
    if issue is None:
        raise Refusal("issue_not_found", issue=issue_id)
    return issue


def current_version(session: Session, issue: Issue) -> IssueVersion:
    if issue.current_version_id is None:
        raise Refusal("issue_has_no_version", issue=issue.id)
    version = session.get(IssueVersion, issue.current_version_id)
    assert version is not None
    return version


def footer_of(settings: Settings) -> Footer:
    """The legal footer every broadcast carries, from the settings."""
    return Footer(
        sender_name=settings.sender.name or settings.sender.address,
        postal_address=settings.NEWSLETTER_POSTAL_ADDRESS,
        contact=settings.contact,
    )


def _compile(desk: Desk, subject: str, body: str, list_name: str) -> CompiledIssue:
    return compile_issue(
        subject,
        body,
        sender=desk.settings.sender.header(),
        stream=desk.settings.POSTMARK_BROADCAST_STREAM,
        list_name=list_name,
        footer=footer_of(desk.settings),
    )


@dataclass(frozen=True)
class CorrectionOf:
    """What a correction of an issue starts from: its subject, its list, its readers."""

    issue_id: int
    subject: str
    list_name: str
    readers: int


def correction_of(session: Session, issue_id: int) -> CorrectionOf:
    """The issue a correction would correct; Refusal if nobody received it."""
    original = load(session, issue_id)
    mailing_list = session.get(MailingList, original.list_id)
    assert mailing_list is not None
    readers = audience.count(session, mailing_list, original.id)
    received_any = session.execute(audience.received(original.id).limit(1)).first()
    if received_any is None:
        raise Refusal("correction_nobody_received", issue=issue_id)
    version = current_version(session, original)
    return CorrectionOf(original.id, version.subject, mailing_list.name, readers)


def create(
    desk: Desk,
    *,
    actor: str,
    subject: str,
    body: str,
    list_name: str | None = None,
    correction: int | None = None,
) -> Saved:
    """A new issue in draft (with `correction`: addressed to exactly the readers
    of that issue, on its list). Raises TemplateProblem (nothing saved)."""
    subject, body = storable(subject), storable(body)
    now = desk.clock.now()
    if correction is not None:
        with desk.db.sessions() as session:
            list_name = correction_of(session, correction).list_name
    list_name = list_name or desk.settings.NEWSLETTER_NAME
    compiled = _compile(desk, subject, body, list_name)
    with desk.db.transaction() as session:
        mailing_list = get_or_create_list(session, list_name, now)
        issue = Issue(
            list_id=mailing_list.id,
            created_by=actor,
            created_at=now,
            updated_at=now,
            correction_of=correction,
        )
        session.add(issue)
        session.flush()
        version = _add_version(session, issue, compiled, body, actor, now, number=1)
        audit.record(
            session,
            actor=actor,
            action="issue.created",
            at=now,
            issue_id=issue.id,
            subject=f"issue:{issue.id}",
            version=1,
            hash=version.content_hash,
            **({"correction_of": correction} if correction is not None else {}),
        )
        return Saved(issue.id, 1, version.content_hash, ())


def _check_editable(session: Session, issue: Issue) -> None:
    if IssueState(issue.state) not in states.EDITABLE or _has_send(session, issue.id):
        raise Refusal("issue_not_editable", issue=issue.id, state=issue.state)


def source_for_editing(desk: Desk, issue_id: int) -> tuple[str, str]:
    """The current subject and Markdown body, refused up front when the issue can no
    longer change (sent, sending, halted, cancelled), so the form never opens for
    an edit that Save would refuse."""
    with desk.db.sessions() as session:
        issue = load(session, issue_id)
        _check_editable(session, issue)
        version = current_version(session, issue)
        return version.subject, version.body_markdown


def exists(desk: Desk, issue_id: int) -> bool:
    with desk.db.sessions() as session:
        return session.get(Issue, issue_id) is not None


def save_version(desk: Desk, issue_id: int, *, actor: str, subject: str, body: str) -> Saved:
    """A new version of an existing issue; voids any pending or given approval."""
    subject, body = storable(subject), storable(body)
    now = desk.clock.now()
    with desk.db.transaction() as session:
        issue = load(session, issue_id, lock=True)
        _check_editable(session, issue)
        compiled = _compile(desk, subject, body, issue.mailing_list.name)
        number = 1 + int(
            session.execute(
                select(func.coalesce(func.max(IssueVersion.number), 0)).where(
                    IssueVersion.issue_id == issue.id
                )
            ).scalar_one()
        )
        version = _add_version(session, issue, compiled, body, actor, now, number=number)
        voided = void_requests(session, issue, actor=actor, at=now, reason="edited")
        if (
            IssueState(issue.state) in states.APPROVAL_PENDING_OR_GIVEN
            or issue.state == IssueState.REJECTED
        ):
            states.move(session, issue, IssueState.DRAFT, actor=actor, at=now, reason="edited")
        audit.record(
            session,
            actor=actor,
            action="issue.edited",
            at=now,
            issue_id=issue.id,
            subject=f"issue:{issue.id}",
            version=number,
            hash=version.content_hash,
            voided_requests=list(voided),
        )
        saved = Saved(issue.id, number, version.content_hash, tuple(voided))
    for request_id in saved.voided_request_ids:
        desk.notify(
            Notice(
                "approval.voided",
                issue_id=issue_id,
                request_id=request_id,
                params={"reason": "edited", "actor": actor, "version": saved.version_number},
            )
        )
    return saved


def void_requests(
    session: Session, issue: Issue, *, actor: str, at: datetime, reason: str
) -> list[int]:
    """Mark the issue's open or approved requests void; return their ids."""
    requests = (
        session.execute(
            select(ApprovalRequest).where(
                ApprovalRequest.issue_id == issue.id,
                ApprovalRequest.state.in_((ApprovalState.OPEN, ApprovalState.APPROVED)),
                ApprovalRequest.send_id.is_(None),
            )
        )
        .scalars()
        .all()
    )
    for request in requests:
        before = request.state
        request.state = ApprovalState.VOID
        request.decision_note = reason
        audit.record(
            session,
            actor=actor,
            action="approval.voided",
            at=at,
            issue_id=issue.id,
            subject=f"request:{request.id}",
            before=before,
            reason=reason,
        )
    return [r.id for r in requests]


def _has_send(session: Session, issue_id: int) -> bool:
    return (
        session.execute(select(Send.id).where(Send.issue_id == issue_id).limit(1)).first()
        is not None
    )


def _add_version(
    session: Session,
    issue: Issue,
    compiled: CompiledIssue,
    body: str,
    actor: str,
    now: datetime,
    *,
    number: int,
) -> IssueVersion:
    version = IssueVersion(
        issue_id=issue.id,
        number=number,
        subject=compiled.subject,
        body_markdown=body,
        html_template=compiled.html,
        text_template=compiled.text,
        sender=compiled.sender,
        stream=compiled.stream,
        content_hash=compiled.content_hash,
        author=actor,
        created_at=now,
    )
    session.add(version)
    session.flush()
    issue.current_version_id = version.id
    return version


def preview(desk: Desk, issue_id: int) -> Preview:
    index = desk.personal_data.get(desk.db)
    with desk.db.sessions() as session:
        issue = load(session, issue_id)
        version = current_version(session, issue)
        mailing_list = session.get(MailingList, issue.list_id)
        assert mailing_list is not None
        findings = preflight(
            compiled_of(version),
            body_source=version.body_markdown,
            sender_address=desk.settings.sender.address,
            index=index,
            list_name=mailing_list.name,
            footer=footer_of(desk.settings),
        )
        return Preview(
            issue_id=issue.id,
            state=issue.state,
            version_number=version.number,
            author=version.author,
            subject=version.subject,
            body=version.body_markdown,
            content_hash=version.content_hash,
            list_name=mailing_list.name,
            recipients=audience.count(session, mailing_list, issue.correction_of),
            correction_of=issue.correction_of,
            findings=findings,
        )


# The reader a preview is rendered for: preflight's made-up reader who gave both
# fields (preflight checks that very message), and said to be wherever it is shown.
SAMPLE_READER = (SAMPLE_NAME, SAMPLE_COMPANY)


@dataclass(frozen=True)
class ReaderCopy:
    """One message of an issue exactly as a reader gets it, for someone who
    does not exist (`name`, `company`); its unsubscribe link leads nowhere."""

    name: str
    company: str
    message: RenderedMessage


def reader_copy(
    desk: Desk,
    issue_id: int,
    *,
    version_number: int | None = None,
    name: str = SAMPLE_READER[0],
    company: str = SAMPLE_READER[1],
) -> ReaderCopy:
    """A version (the current one by default) rendered for one made-up reader,
    as a send renders each real one (the same templates, the same context:
    invariant 4). Raises TemplateProblem when it cannot be rendered."""
    with desk.db.sessions() as session:
        issue = load(session, issue_id)
        if version_number is None:
            version = current_version(session, issue)
        else:  # the version a preview's facts name, even if a newer one was saved since
            found = session.scalars(
                select(IssueVersion).where(
                    IssueVersion.issue_id == issue_id, IssueVersion.number == version_number
                )
            ).one_or_none()
            if found is None:
                raise Refusal("issue_has_no_version", issue=issue_id)
            version = found
        context = RecipientContext(
            name=name,
            company=company,
            list_name=issue.mailing_list.name,
            issue_date=issue_date(version, desk.settings.tz),
            unsubscribe_url=TEST_COPY_UNSUBSCRIBE,
        )
        compiled = compiled_of(version)
    # A version stored before the template language was narrowed may hold what
    # could stall a render: the same check preflight makes first.
    check_stored(compiled)
    return ReaderCopy(name, company, render_message(compiled, context))


@dataclass(frozen=True)
class IssueLine:
    issue_id: int
    state: str
    subject: str
    version_number: int
    updated_at: datetime


def list_issues(desk: Desk, limit: int = 20) -> Sequence[IssueLine]:
    with desk.db.sessions() as session:
        rows = session.execute(
            select(
                Issue.id, Issue.state, IssueVersion.subject, IssueVersion.number, Issue.updated_at
            )
            .join(IssueVersion, IssueVersion.id == Issue.current_version_id)
            .order_by(Issue.id.desc())
            .limit(limit)
        ).all()
        return [IssueLine(*row) for row in rows]
