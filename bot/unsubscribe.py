"""Processing a reader's unsubscribe request, as an operator enters it in Slack.

This is the workflow that leaked in the incident, so what it can do is
deliberately small. A request produces exactly:

1. a suppression (every list, or the one named), which marks the address's
   subscribers unsubscribed in the same transaction — it holds at once, for
   sends already in flight too, because the delivery engine checks
   suppressions when it claims each batch;
2. an `UnsubscribeRequest` row keeping what the operator typed (the reader's
   name and company as given, an internal note) — INTERNAL ONLY: nothing in
   it is ever put into any message's render context;
3. a push of the suppression to Postmark's broadcast stream (retried by
   `bot.suppressions.PushDuty` until it succeeds when Postmark is away);
4. at most one confirmation, only when asked, through the transactional pipe
   (`send_transactional`, one recipient) to that one address, built from the
   FIXED text below. No typed text and no template engine are involved, so
   nothing the operator or the reader wrote can reach any mailbox.

Nothing here creates a broadcast. A repeated request changes nothing and
never sends a second confirmation; an invalid address is refused before
anything is written.

`record()` is the quick, local part (a Slack modal runs it before its ack);
`complete()` talks to Postmark; `process()` does both.
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from bot import audit, suppressions
from bot.addresses import InvalidAddress, address_hash, normalise
from bot.desk import Desk
from bot.installation import address_salt
from bot.postmark import FateUnknown, PostmarkError
from bot.refusal import Refusal
from bot.settings import Settings
from bot.typed import storable
from storage.models import (
    ALL_LISTS,
    MailingList,
    OnceMarker,
    PushState,
    Subscriber,
    SubscriberStatus,
    SuppressionOrigin,
    SuppressionReason,
    UnsubscribeRequest,
)

CONFIRMATION_TAG = "countersign-unsubscribe-confirmation"
GIVEN_LIMIT = 200  # the columns' width for the given name and company
NOTE_LIMIT = 2_000

# --- the confirmation: fixed text, Japanese then English ------------------------------
# Only `{newsletter}` is filled, from the NEWSLETTER_NAME setting (configuration,
# not anything typed into this workflow). Deliberately not a Jinja template.

CONFIRMATION_SUBJECT = "配信停止を承りました / Your unsubscribe request has been processed"

CONFIRMATION_TEXT = (
    "配信停止のお手続きが完了しました。\n"
    "このメールアドレスには、今後「{newsletter}」をお送りしません。\n"
    "お心当たりがない場合は、このメールにご返信ください。\n"
    "\n"
    "Your request to unsubscribe has been processed.\n"
    "We will not send {newsletter} to this email address any more.\n"
    "If you did not ask for this, please reply to this message.\n"
)

CONFIRMATION_HTML = (
    '<!doctype html><html lang="ja"><body>'
    "<p>配信停止のお手続きが完了しました。</p>"
    "<p>このメールアドレスには、今後「{newsletter}」をお送りしません。</p>"
    "<p>お心当たりがない場合は、このメールにご返信ください。</p>"
    '<hr><div lang="en">'
    "<p>Your request to unsubscribe has been processed.</p>"
    "<p>We will not send {newsletter} to this email address any more.</p>"
    "<p>If you did not ask for this, please reply to this message.</p>"
    "</div></body></html>"
)


@dataclass(frozen=True)
class Confirmation:
    subject: str
    text: str
    html: str


def confirmation_message(settings: Settings) -> Confirmation:
    """The one confirmation every reader gets; a function of configuration only."""
    name = settings.NEWSLETTER_NAME
    return Confirmation(
        subject=CONFIRMATION_SUBJECT,
        text=CONFIRMATION_TEXT.format(newsletter=name),
        html=CONFIRMATION_HTML.format(newsletter=html.escape(name)),
    )


# --- requests and outcomes ------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What the operator entered. `name`, `company` and `note` stay internal."""

    email: str
    name: str = ""
    company: str = ""
    note: str = ""
    confirm: bool = False
    list_name: str | None = None  # None: every list

    def __post_init__(self) -> None:
        for name in ("email", "name", "company", "note"):
            object.__setattr__(self, name, storable(getattr(self, name)))
        if self.list_name is not None:
            object.__setattr__(self, "list_name", storable(self.list_name))


class ConfirmationState(enum.StrEnum):
    NOT_REQUESTED = "not_requested"
    SENT = "sent"
    ALREADY_SENT = "already_sent"  # an earlier request for this address got one
    FAILED = "failed"  # Postmark refused or could not be reached; not retried
    UNCERTAIN = "uncertain"  # the request may have reached Postmark; not retried


@dataclass(frozen=True)
class Recorded:
    email: str  # normalised
    request_id: int
    suppression_id: int
    scope: str
    newly_suppressed: bool  # False: it was suppressed already (a repeated request)
    subscriptions: int  # subscriber rows of this address within the scope
    unsubscribed_now: int  # of those, how many were active until now
    confirm: bool


@dataclass(frozen=True)
class Outcome:
    recorded: Recorded
    push_state: PushState
    confirmation: ConfirmationState
    confirmation_error: str = ""

    @property
    def email(self) -> str:
        return self.recorded.email


def _marker_key(email_hash: str) -> str:
    return suppressions.confirmation_marker(email_hash)


def record(
    desk: Desk,
    request: Request,
    *,
    actor: str,
    origin: SuppressionOrigin = SuppressionOrigin.SLACK,
) -> Recorded:
    """The local part: validate, suppress, keep the request. Raises Refusal
    (and changes nothing) for an invalid address or an unknown list."""
    try:
        email = normalise(request.email)
    except InvalidAddress as exc:
        raise Refusal(
            "invalid_address", address=request.email.strip()[:80], reason=exc.reason
        ) from None
    scope = request.list_name.strip() if request.list_name else ALL_LISTS
    now = desk.clock.now()
    with desk.db.transaction() as session:
        list_id: int | None = None
        if scope != ALL_LISTS:
            list_id = session.execute(
                select(MailingList.id).where(MailingList.name == scope)
            ).scalar_one_or_none()
            if list_id is None:
                raise Refusal("unknown_list", list_name=scope[:80])
        count = select(func.count(Subscriber.id)).where(Subscriber.email == email)
        if list_id is not None:
            count = count.where(Subscriber.list_id == list_id)
        subscriptions = int(session.execute(count).scalar_one())
        active = int(
            session.execute(count.where(Subscriber.status == SubscriberStatus.ACTIVE)).scalar_one()
        )
        row, created = suppressions.add(
            session,
            email=email,
            reason=SuppressionReason.UNSUBSCRIBED,
            origin=origin,
            actor=actor,
            at=now,
            scope=scope,
            note=request.note.strip()[:NOTE_LIMIT],
            push_state=suppressions.needs_push(scope),
        )
        email_hash = row.email_hash
        kept = UnsubscribeRequest(
            email=email,
            email_hash=email_hash,
            given_name=request.name.strip()[:GIVEN_LIMIT],
            given_company=request.company.strip()[:GIVEN_LIMIT],
            note=request.note.strip()[:NOTE_LIMIT],
            actor=actor,
            confirmation_requested=request.confirm,
            confirmation_message_id=None,
            created_at=now,
        )
        session.add(kept)
        session.flush()
        # The trail holds the address's hash only, and none of the typed text.
        audit.record(
            session,
            actor=actor,
            action="unsubscribe.requested",
            at=now,
            subject=audit.address_ref(email_hash),
            request=kept.id,
            scope=scope,
            new_suppression=created,
            unsubscribed=active,
            confirmation_requested=request.confirm,
        )
        return Recorded(
            email=email,
            request_id=kept.id,
            suppression_id=row.id,
            scope=scope,
            newly_suppressed=created,
            subscriptions=subscriptions,
            unsubscribed_now=active,
            confirm=request.confirm,
        )


def complete(desk: Desk, recorded: Recorded, *, actor: str) -> Outcome:
    """The Postmark part: push the suppression, send the confirmation if asked."""
    push_state = suppressions.push_one(desk, recorded.suppression_id)
    if not recorded.confirm:
        return Outcome(recorded, push_state, ConfirmationState.NOT_REQUESTED)
    state, error = _confirm(desk, recorded, actor=actor)
    return Outcome(recorded, push_state, state, error)


def process(
    desk: Desk,
    request: Request,
    *,
    actor: str,
    origin: SuppressionOrigin = SuppressionOrigin.SLACK,
) -> Outcome:
    return complete(desk, record(desk, request, actor=actor, origin=origin), actor=actor)


def _confirm(desk: Desk, recorded: Recorded, *, actor: str) -> tuple[ConfirmationState, str]:
    now = desk.clock.now()
    # A once-marker per address makes "at most one confirmation" hold even for
    # two identical requests processed at the same moment.
    with desk.db.sessions() as session:
        key = _marker_key(address_hash(address_salt(session), recorded.email))
    try:
        with desk.db.transaction() as session:
            session.add(OnceMarker(key=key, at=now))
    except IntegrityError:
        return ConfirmationState.ALREADY_SENT, ""
    message = confirmation_message(desk.settings)
    try:
        message_id = desk.postmark.send_transactional(
            recorded.email,
            subject=message.subject,
            html=message.html,
            text=message.text,
            sender=desk.settings.sender.header(),
            tag=CONFIRMATION_TAG,
            metadata={"kind": "unsubscribe_confirmation", "request": str(recorded.request_id)},
        )
    except FateUnknown as exc:
        # It may have gone out: keep the marker, never send a second one.
        _audit_confirmation(desk, recorded, actor, outcome="uncertain")
        return ConfirmationState.UNCERTAIN, type(exc).__name__
    except PostmarkError as exc:
        with desk.db.transaction() as session:
            session.execute(delete(OnceMarker).where(OnceMarker.key == key))
        _audit_confirmation(desk, recorded, actor, outcome="failed")
        return ConfirmationState.FAILED, type(exc).__name__
    with desk.db.transaction() as session:
        row = session.get(UnsubscribeRequest, recorded.request_id)
        if row is not None:
            row.confirmation_message_id = message_id
    _audit_confirmation(desk, recorded, actor, outcome="sent", message_id=message_id)
    return ConfirmationState.SENT, ""


def _audit_confirmation(
    desk: Desk, recorded: Recorded, actor: str, *, outcome: str, message_id: str = ""
) -> None:
    with desk.db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="unsubscribe.confirmation",
            at=desk.clock.now(),
            subject=audit.address_ref(address_hash(address_salt(session), recorded.email)),
            request=recorded.request_id,
            outcome=outcome,
            message_id=message_id,
        )
