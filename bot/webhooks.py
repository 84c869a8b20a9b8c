"""Postmark's webhooks: suppressions (invariant 7) and each send's figures.

`handle(desk, payload) -> (HTTP status, JSON body)` is what the
`/postmark/webhook` endpoint calls once basic auth has passed
(`handlers.webhooks` registers it). Three record types change local state,
through `bot.suppressions.add()` like every other source:

- `Bounce` that made the address inactive (a hard bounce and its kin): the
  address is suppressed as a hard bounce;
- `SpamComplaint` (transactional streams only; on the broadcast stream
  Postmark tells a complaint as a SubscriptionChange with SuppressionReason
  `SpamComplaint`): suppressed as a spam complaint;
- `SubscriptionChange` with `SuppressSending: true` (a reader used Postmark's
  own unsubscribe link, complained, or Postmark suppressed the address):
  suppressed the same way an unsubscribe from Slack is. With
  `SuppressSending: false` (someone lifted Postmark's suppression) nothing is
  resubscribed here — that takes an approver's `/newsletter subscribers
  resubscribe` — and a local suppression that still stands is pushed to
  Postmark again.

Besides, every event whose message carries our Metadata is counted for that
send's report in the same transaction (`bot.outcomes`): Delivery as
delivered, hard and soft bounces, complaints, and a reader's unsubscribe
(ManualSuppression from the Recipient). A counted bounce or complaint is then
handed to the canary's watch (`bot.canary.watch`): during a canary and its
hold, a spike halts the send.

Every event is idempotent (Postmark retries; a suppression is one row per
address, an event one row per recipient and kind). A payload that is not what
Postmark sends is refused with 400 and changes nothing: it is checked
completely before anything is written. Other record types (Open, Click, …)
are acknowledged and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from bot import audit, canary, outcomes, suppressions
from bot.addresses import InvalidAddress, normalise
from bot.desk import Desk
from storage.models import (
    PushState,
    SendEventKind,
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
)

ACTOR = "postmark"
K = SendEventKind
# Bounce types after which Postmark deactivates the address.
INACTIVATING_BOUNCES = frozenset(
    {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
)
# Bounce types that are a failed delivery without deactivating the address
# (https://postmarkapp.com/developer/api/bounce-api#bounce-types); others
# (AutoResponder, AddressChange, ChallengeVerification, …) are not bounces.
SOFT_BOUNCES = frozenset({"SoftBounce", "Transient", "DnsError", "Blocked", "DMARCPolicy"})


class Malformed(ValueError):
    """The payload is not a webhook Postmark sends; `reason` says why."""


@dataclass(frozen=True)
class Suppress:
    email: str
    reason: SuppressionReason
    stream: str
    counted: SendEventKind | None = None  # what it counts as in its send's report


@dataclass(frozen=True)
class Reactivated:
    email: str
    stream: str


@dataclass(frozen=True)
class Ignored:
    why: str
    counted: SendEventKind | None = None


Event = Suppress | Reactivated | Ignored


def _field(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in payload:
        raise Malformed(f"{name} is missing")
    value = payload[name]
    if not isinstance(value, kind):
        raise Malformed(f"{name} has the wrong type")
    return value


def _address(payload: dict[str, Any], name: str) -> str:
    try:
        return normalise(str(_field(payload, name, str)))
    except InvalidAddress:
        raise Malformed(f"{name} is not an email address") from None


def _stream(payload: dict[str, Any]) -> str:
    value = payload.get("MessageStream")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Malformed("MessageStream has the wrong type")
    return value


def parse(payload: Any) -> Event:
    """What a payload means; raises Malformed. Pure: touches nothing."""
    if not isinstance(payload, dict):
        raise Malformed("the payload is not a JSON object")
    record_type = _field(payload, "RecordType", str)
    if record_type == "Bounce":
        kind = _field(payload, "Type", str)
        inactive = payload.get("Inactive", False)
        if not isinstance(inactive, bool):
            raise Malformed("Inactive has the wrong type")
        email, stream = _address(payload, "Email"), _stream(payload)
        if kind == "SpamComplaint":
            return Suppress(email, SuppressionReason.SPAM_COMPLAINT, stream, K.COMPLAINT)
        if kind in INACTIVATING_BOUNCES or inactive:
            return Suppress(email, SuppressionReason.HARD_BOUNCE, stream, K.HARD_BOUNCE)
        return Ignored(
            f"bounce of type {kind[:40]} does not deactivate the address",
            K.SOFT_BOUNCE if kind in SOFT_BOUNCES else None,
        )
    if record_type == "SpamComplaint":
        return Suppress(
            _address(payload, "Email"),
            SuppressionReason.SPAM_COMPLAINT,
            _stream(payload),
            K.COMPLAINT,
        )
    if record_type == "SubscriptionChange":
        email, stream = _address(payload, "Recipient"), _stream(payload)
        suppress = _field(payload, "SuppressSending", bool)
        raw_reason = payload.get("SuppressionReason")
        if raw_reason is not None and not isinstance(raw_reason, str):
            raise Malformed("SuppressionReason has the wrong type")
        if not suppress:
            return Reactivated(email, stream)
        reason = suppressions.FROM_POSTMARK.get(raw_reason or "", SuppressionReason.UNSUBSCRIBED)
        return Suppress(email, reason, stream, _change_counted(reason, payload.get("Origin")))
    if record_type == "Delivery":
        return Ignored("a delivery changes no suppression", K.DELIVERED)
    return Ignored(f"record type {record_type[:40]} is not used")


def _change_counted(reason: SuppressionReason, origin: Any) -> SendEventKind | None:
    if reason == SuppressionReason.HARD_BOUNCE:
        return K.HARD_BOUNCE
    if reason == SuppressionReason.SPAM_COMPLAINT:
        return K.COMPLAINT
    # A reader's own unsubscribe; a suppression by the team (Customer, Admin) is not.
    return K.UNSUBSCRIBED if origin == "Recipient" else None


def handle(desk: Desk, payload: Any) -> tuple[int, dict[str, Any]]:
    """Process one webhook; return the HTTP status and JSON body to answer with."""
    try:
        event = parse(payload)
    except Malformed as exc:
        return 400, {"error": str(exc)}
    broadcast = desk.settings.POSTMARK_BROADCAST_STREAM
    if isinstance(event, Reactivated):
        if event.stream != broadcast:
            return 200, {"ok": True, "ignored": "not the broadcast stream"}
        return 200, {"ok": True, "repushed": _reactivated(desk, event.email)}
    attributed = outcomes.attribution(payload) if event.counted is not None else None
    if isinstance(event, Ignored):
        if attributed is None or event.counted is None:
            return 200, {"ok": True, "ignored": event.why}
        return 200, {"ok": True, "counted": _count(desk, attributed, event.counted)}
    if event.reason == SuppressionReason.UNSUBSCRIBED and event.stream != broadcast:
        # A manual suppression on another stream (say, the transactional one)
        # says nothing about the newsletter; bounces and complaints do.
        return 200, {"ok": True, "ignored": "manual suppression on another stream"}
    counted = False
    now = desk.clock.now()
    with desk.db.transaction() as session:
        _, created = suppressions.add(
            session,
            email=event.email,
            reason=event.reason,
            origin=SuppressionOrigin.POSTMARK_WEBHOOK,
            actor=ACTOR,
            at=now,
            # Postmark already suppresses it on the stream it came from.
            push_state=PushState.NOT_NEEDED if event.stream == broadcast else PushState.PENDING,
        )
        if attributed is not None and event.counted is not None:
            counted = outcomes.record(session, attributed, event.counted, at=now)
    if counted and attributed is not None:
        _after_counting(desk, attributed, event.counted)
    return 200, {"ok": True, "new": created} | ({"counted": True} if counted else {})


def _count(desk: Desk, attributed: outcomes.Attribution, kind: SendEventKind) -> bool:
    with desk.db.transaction() as session:
        counted = outcomes.record(session, attributed, kind, at=desk.clock.now())
    if counted:
        _after_counting(desk, attributed, kind)
    return counted


def _after_counting(
    desk: Desk, attributed: outcomes.Attribution, kind: SendEventKind | None
) -> None:
    """A bounce or a complaint of a canary's message: is the canary in trouble?"""
    if kind in (K.HARD_BOUNCE, K.SOFT_BOUNCE, K.COMPLAINT):
        canary.watch(desk, attributed.send_id)


def _reactivated(desk: Desk, email: str) -> bool:
    """Postmark no longer suppresses `email`; if a local suppression of every
    list still stands, it wins: mark it to be pushed again."""
    now = desk.clock.now()
    with desk.db.transaction() as session:
        row = suppressions.every_list_row(session, email)
        if row is None or row.email is None or row.push_state == PushState.PENDING:
            return False
        session.execute(
            update(Suppression).where(Suppression.id == row.id).values(push_state=PushState.PENDING)
        )
        audit.record(
            session,
            actor=ACTOR,
            action="suppression.repush",
            at=now,
            subject=audit.address_ref(row.email_hash),
        )
    return True
