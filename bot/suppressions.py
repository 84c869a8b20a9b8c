"""Suppressions: the addresses broadcasts must not reach (invariant 7).

`add()` is the one way a suppression is recorded: idempotent (one row per
address and scope), it also marks the address's subscribers so that no send
claims them, and it is audited. Everything that learns of an unsubscribe,
a bounce or a complaint — Slack, Postmark's webhook, the periodic sync, a
send's per-message result — comes through here.

This module also owns keeping Postmark in step and the two ways out:
- `push_pending(desk)` / `push_one()` / `PushDuty`: a local suppression holds
  at once; it is then pushed to the broadcast stream's suppression list, and
  retried with backoff until Postmark has it (`Suppression.push_state`,
  `push_attempts`, `push_error` show how far it got);
- `forget()`: erase a person's address, name and company everywhere, keeping
  only the salted hash so the address stays suppressed;
- `resubscribe()`: the only way back onto a list (an approver, a reason,
  audited) — an import never does it.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot import audit
from bot.addresses import InvalidAddress, address_hash, normalise
from bot.desk import Desk
from bot.installation import address_salt
from bot.postmark import PostmarkError
from bot.refusal import Refusal
from bot.typed import storable
from storage.models import (
    ALL_LISTS,
    AuditEvent,
    MailingList,
    OnceMarker,
    PushState,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionOrigin,
    SuppressionReason,
    UnsubscribeRequest,
)

log = logging.getLogger(__name__)

# What a suppression does to the subscriber rows of its address.
STATUS_FOR_REASON = {
    SuppressionReason.UNSUBSCRIBED: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.MANUAL: SubscriberStatus.UNSUBSCRIBED,
    SuppressionReason.HARD_BOUNCE: SubscriberStatus.INACTIVE,
    SuppressionReason.SPAM_COMPLAINT: SubscriberStatus.INACTIVE,
    SuppressionReason.INVALID: SubscriberStatus.INVALID,
}

# Postmark's SuppressionReason values, mapped to ours.
FROM_POSTMARK = {
    "HardBounce": SuppressionReason.HARD_BOUNCE,
    "SpamComplaint": SuppressionReason.SPAM_COMPLAINT,
    "ManualSuppression": SuppressionReason.UNSUBSCRIBED,
}


def add(
    session: Session,
    *,
    email: str,
    reason: SuppressionReason,
    origin: SuppressionOrigin,
    actor: str,
    at: datetime,
    scope: str = ALL_LISTS,
    note: str = "",
    push_state: PushState = PushState.PENDING,
) -> tuple[Suppression, bool]:
    """Record that `email` (already normalised) is suppressed; return (row, created).

    Subscribers of that address (on every list, or on the `scope` list) are
    marked accordingly in the same transaction.
    """
    email_hash = address_hash(address_salt(session), email)
    existing = session.execute(
        select(Suppression).where(Suppression.email_hash == email_hash, Suppression.scope == scope)
    ).scalar_one_or_none()
    created = existing is None
    if existing is None:
        existing = Suppression(
            email=email,
            email_hash=email_hash,
            scope=scope,
            reason=reason,
            origin=origin,
            actor=actor,
            note=note,
            created_at=at,
            push_state=push_state,
            push_attempts=0,
            push_error="",
        )
        session.add(existing)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="suppression.added",
            at=at,
            subject=audit.address_ref(email_hash),
            scope=scope,
            reason=str(reason),
            origin=str(origin),
        )
    status = STATUS_FOR_REASON[reason]
    query = update(Subscriber).where(
        Subscriber.email == email, Subscriber.status == SubscriberStatus.ACTIVE
    )
    if scope != ALL_LISTS:
        list_ids = select(MailingList.id).where(MailingList.name == scope).scalar_subquery()
        query = query.where(Subscriber.list_id == list_ids)
    changed = session.execute(query.values(status=status, updated_at=at)).rowcount  # type: ignore[attr-defined]
    if changed:
        audit.record(
            session,
            actor=actor,
            action="subscriber.status",
            at=at,
            subject=audit.address_ref(email_hash),
            status=str(status),
            subscribers=changed,
        )
    return existing, created


def every_list_row(session: Session, email: str) -> Suppression | None:
    """The suppression of `email` (normalised) on every list, if there is one."""
    email_hash = address_hash(address_salt(session), email)
    return session.execute(
        select(Suppression).where(
            Suppression.email_hash == email_hash, Suppression.scope == ALL_LISTS
        )
    ).scalar_one_or_none()


def is_suppressed(session: Session, email: str, list_name: str) -> bool:
    return (
        session.execute(
            select(Suppression.id)
            .where(Suppression.email == email, Suppression.scope.in_((ALL_LISTS, list_name)))
            .limit(1)
        ).first()
        is not None
    )


def sync_from_postmark(desk: Desk) -> int:
    """Pull the broadcast stream's suppression dump into local suppressions;
    return how many were new. Safe to run any time (idempotent)."""
    entries = desk.postmark.dump_suppressions(desk.settings.POSTMARK_BROADCAST_STREAM)
    now = desk.clock.now()
    new = 0
    with desk.db.transaction() as session:
        for entry in entries:
            try:
                email = normalise(str(entry.get("EmailAddress", "")))
            except InvalidAddress:
                continue
            reason = FROM_POSTMARK.get(
                str(entry.get("SuppressionReason")), SuppressionReason.UNSUBSCRIBED
            )
            if _reactivated_since(session, email, entry, now):
                continue  # lifted here; Postmark has not applied the delete yet
            row, created = add(
                session,
                email=email,
                reason=reason,
                origin=SuppressionOrigin.POSTMARK_SYNC,
                actor="postmark",
                at=now,
                push_state=PushState.NOT_NEEDED,
            )
            new += int(created)
            if not created:
                learned(session, row, reason, at=now)
        if new:
            audit.record(session, actor=audit.SYSTEM, action="suppressions.synced", at=now, new=new)
    return new


def learned(session: Session, row: Suppression, reason: SuppressionReason, *, at: datetime) -> None:
    """Postmark's own reason for a suppression first learned from a send's 406
    ("inactive recipient": a hard bounce, a spam complaint or a manual
    suppression, https://postmarkapp.com/developer/api/overview#error-codes),
    recorded until then as a hard bounce: a complaint must never look
    resubscribable."""
    if row.origin != SuppressionOrigin.POSTMARK_SEND or row.reason == reason:
        return
    before = row.reason
    row.reason = reason
    audit.record(
        session,
        actor="postmark",
        action="suppression.reason",
        at=at,
        subject=audit.address_ref(row.email_hash),
        before=str(before),
        reason=str(reason),
    )


def learn_reasons(desk: Desk, emails: list[str]) -> int:
    """Ask Postmark's suppression dump why each of `emails` (just answered 406)
    is inactive, and record its reason; how many changed. Best effort: what
    cannot be asked now is learned by the next sync."""
    changed = 0
    for email in emails:
        try:
            entries = desk.postmark.dump_suppressions(
                desk.settings.POSTMARK_BROADCAST_STREAM, email=email
            )
        except PostmarkError as exc:
            log.warning("could not ask Postmark why an address is inactive: %s", exc)
            return changed
        reasons = [FROM_POSTMARK.get(str(e.get("SuppressionReason"))) for e in entries]
        reason = next((r for r in reasons if r is not None), None)
        if reason is None:
            continue
        now = desk.clock.now()
        with desk.db.transaction() as session:
            row = every_list_row(session, email)
            if row is not None and row.reason != reason:
                learned(session, row, reason, at=now)
                changed += int(row.reason == reason)
    return changed


# Postmark applies a suppression delete asynchronously ("can take a minute until
# they become active", https://github.com/wildbit/postmark-php/wiki/Managing-Suppressions):
# its dump may still list an address lifted here this long after.
REACTIVATION_LAG_MINUTES = 15


def _reactivated_since(session: Session, email: str, entry: dict[str, Any], now: datetime) -> bool:
    """Whether `email` was resubscribed here after Postmark's dump entry was
    created, within REACTIVATION_LAG_MINUTES: the entry is one Postmark has been
    asked to delete and has not yet, not a new suppression."""
    email_hash = address_hash(address_salt(session), email)
    since = now - timedelta(minutes=REACTIVATION_LAG_MINUTES)
    last = session.execute(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.action == "subscriber.resubscribed",
            AuditEvent.subject == audit.address_ref(email_hash),
            AuditEvent.at >= since,
        )
    ).scalar_one_or_none()
    if last is None:
        return False
    created = _postmark_time(entry.get("CreatedAt"))
    return created is None or created <= last


def _postmark_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# --- pushing local suppressions to Postmark ------------------------------------------

PUSH_CHUNK = 50  # Postmark takes at most 50 addresses per suppressions call
PUSH_ERROR_CHARS = 500


def needs_push(scope: str) -> PushState:
    """The push state a new suppression of `scope` starts in.

    Postmark suppresses per message stream, and every list shares the one
    broadcast stream: a suppression for one list only must not silence the
    address on the others, so it is kept (and enforced) locally only.
    """
    return PushState.PENDING if scope == ALL_LISTS else PushState.NOT_NEEDED


def push_pending(desk: Desk, *, limit: int | None = None) -> int:
    """Push pending suppressions to Postmark's broadcast stream; return how many
    reached it. Stops at the first failure (Postmark is likely unreachable):
    what is left stays pending, with its attempt count and last error, for the
    next call. Idempotent at Postmark, so a row pushed twice does no harm."""
    with desk.db.sessions() as session:
        query = (
            select(Suppression.id, Suppression.email)
            .where(Suppression.push_state == PushState.PENDING, Suppression.email.is_not(None))
            .order_by(Suppression.id)
        )
        if limit is not None:
            query = query.limit(limit)
        pending = [(row_id, str(email)) for row_id, email in session.execute(query).all()]
    pushed = 0
    for start in range(0, len(pending), PUSH_CHUNK):
        chunk = pending[start : start + PUSH_CHUNK]
        ids = [row_id for row_id, _ in chunk]
        try:
            answers = desk.postmark.suppress(
                [email for _, email in chunk], desk.settings.POSTMARK_BROADCAST_STREAM
            )
        except PostmarkError as exc:
            _record_push(desk, ids, error=f"{type(exc).__name__}: {exc}")
            log.warning(
                "suppression push failed for %d address(es): %s", len(ids), type(exc).__name__
            )
            break
        pushed += _record_answers(desk, chunk, answers)
    return pushed


def _record_answers(desk: Desk, chunk: list[tuple[int, str]], answers: list[Any]) -> int:
    """Record Postmark's answer per address: `Suppressed` is pushed; `Failed` (or
    no answer for the address) stays pending with Postmark's message, retried
    by the next push and shown in `/newsletter subscribers`. How many were pushed."""
    by_email = {a.email: a for a in answers}
    done: list[int] = []
    failed: dict[str, list[int]] = {}
    for row_id, email in chunk:
        answer = by_email.get(email.strip().lower())
        if answer is not None and not answer.failed:
            done.append(row_id)
            continue
        why = (
            f"Postmark: {answer.status}: {answer.message or 'no reason given'}"
            if answer is not None
            else "Postmark did not answer for this address"
        )
        failed.setdefault(why, []).append(row_id)
    if done:
        _record_push(desk, done, error=None)
    for why, ids in failed.items():
        _record_push(desk, ids, error=why)
        log.warning("Postmark did not suppress %d address(es): %s", len(ids), why)
    return len(done)


def push_one(desk: Desk, suppression_id: int) -> PushState:
    """Try to push one suppression now; return its push state afterwards."""
    with desk.db.sessions() as session:
        row = session.get(Suppression, suppression_id)
        if row is None:
            return PushState.NOT_NEEDED
        state, email = PushState(row.push_state), row.email
    if state != PushState.PENDING or email is None:
        return state
    try:
        answers = desk.postmark.suppress([email], desk.settings.POSTMARK_BROADCAST_STREAM)
    except PostmarkError as exc:
        _record_push(desk, [suppression_id], error=f"{type(exc).__name__}: {exc}")
        return PushState.PENDING
    pushed = _record_answers(desk, [(suppression_id, email)], answers)
    return PushState.PUSHED if pushed else PushState.PENDING


def _record_push(desk: Desk, ids: list[int], *, error: str | None) -> None:
    now = desk.clock.now()
    with desk.db.transaction() as session:
        values: dict[str, object] = {"push_attempts": Suppression.push_attempts + 1}
        if error is None:
            values.update(push_state=PushState.PUSHED, push_error="")
        else:
            values["push_error"] = error[:PUSH_ERROR_CHARS]
        # Only rows still pending: a forget or resubscribe in between wins.
        session.execute(
            update(Suppression)
            .where(Suppression.id.in_(ids), Suppression.push_state == PushState.PENDING)
            .values(**values)
        )
        if error is None:
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="suppressions.pushed",
                at=now,
                count=len(ids),
                stream=desk.settings.POSTMARK_BROADCAST_STREAM,
            )


def pending_count(session: Session) -> int:
    """Suppressions still waiting to reach Postmark."""
    return int(
        session.execute(
            select(func.count(Suppression.id)).where(
                Suppression.push_state == PushState.PENDING, Suppression.email.is_not(None)
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class PushCounts:
    pending: int
    pushed: int
    not_needed: int
    oldest_pending_at: datetime | None
    last_error: str
    most_attempts: int


def push_counts(session: Session) -> PushCounts:
    """How far local suppressions have reached Postmark (for `/newsletter subscribers`)."""
    by_state = dict(
        session.execute(
            select(Suppression.push_state, func.count(Suppression.id)).group_by(
                Suppression.push_state
            )
        ).all()
    )
    oldest, attempts = session.execute(
        select(func.min(Suppression.created_at), func.max(Suppression.push_attempts)).where(
            Suppression.push_state == PushState.PENDING
        )
    ).one()
    last_error = session.execute(
        select(Suppression.push_error)
        .where(Suppression.push_state == PushState.PENDING, Suppression.push_error != "")
        .order_by(Suppression.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return PushCounts(
        pending=int(by_state.get(PushState.PENDING, 0)),
        pushed=int(by_state.get(PushState.PUSHED, 0)),
        not_needed=int(by_state.get(PushState.NOT_NEEDED, 0)),
        oldest_pending_at=oldest,
        last_error=last_error or "",
        most_attempts=int(attempts or 0),
    )


class PushDuty:
    """The background duty that retries pending pushes until they succeed.

    Wakes every `idle` seconds (or at `wake()`); while pushes fail it waits
    `base`, 2×`base`, 4×`base`, … up to `cap` seconds (with a little jitter so
    that several processes do not knock at once), and back to `idle` once
    nothing is pending.
    """

    def __init__(
        self, desk: Desk, *, idle: float = 30.0, base: float = 2.0, cap: float = 600.0
    ) -> None:
        self.desk = desk
        self.idle, self.base, self.cap = idle, base, cap
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="suppression-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def delay(self) -> float:
        """Seconds until the next round, from the failures so far."""
        if self.failures == 0:
            return self.idle
        backoff = min(self.cap, self.base * 2 ** min(self.failures - 1, 30))
        return backoff * random.uniform(0.9, 1.1)  # jitter, not security

    def run_once(self) -> int:
        """One round: push what is pending; update the backoff. Returns pushed."""
        try:
            pushed = push_pending(self.desk)
            with self.desk.db.sessions() as session:
                left = pending_count(session)
        except Exception:
            log.exception("suppression push round failed")
            pushed, left = 0, 1
        self.failures = self.failures + 1 if left else 0
        return pushed

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.delay())
            self._wake.clear()


def confirmation_marker(email_hash: str) -> str:
    """The once-marker saying this address got its unsubscribe confirmation."""
    return f"unsubscribe-confirmation:{email_hash}"


# --- forget and resubscribe ----------------------------------------------------------


@dataclass(frozen=True)
class Forgotten:
    email: str
    subscribers: int  # subscriber rows whose address, name and company were erased
    requests: int  # unsubscribe requests whose typed details were erased
    newly_suppressed: bool


def normalised(raw: str) -> str:
    """`raw` as a normalised address. Raises Refusal (invalid_address)."""
    try:
        return normalise(raw)
    except InvalidAddress as exc:
        raise Refusal("invalid_address", address=raw.strip()[:80], reason=exc.reason) from None


def forget(desk: Desk, raw_email: str, *, actor: str) -> Forgotten:
    """Erase a person: their address, name and company on every list, and what
    operators typed about them, keeping only the salted hash of the address in
    the suppressions, so the address stays suppressed (no import re-adds it).

    The address is suppressed first (if it was not), and that suppression must
    have reached Postmark before the address is erased: once erased it could
    not be pushed any more. If Postmark is unreachable the suppression holds
    and the forget is refused; it can be repeated later.
    """
    email = normalised(raw_email)
    now = desk.clock.now()
    with desk.db.transaction() as session:
        row, created = add(
            session,
            email=email,
            reason=SuppressionReason.UNSUBSCRIBED,
            origin=SuppressionOrigin.SLACK,
            actor=actor,
            at=now,
            push_state=PushState.PENDING,
        )
        row_id = row.id
    if push_one(desk, row_id) == PushState.PENDING:
        raise Refusal("forget_push_pending", address=email)
    with desk.db.transaction() as session:
        email_hash = address_hash(address_salt(session), email)
        subscribers = session.execute(
            update(Subscriber)
            .where(Subscriber.email == email)
            .values(email=None, name="", company="", updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        session.execute(
            update(Suppression)
            .where(Suppression.email_hash == email_hash)
            .values(email=None, note="", push_error="")
        )
        requests = session.execute(
            update(UnsubscribeRequest)
            .where(UnsubscribeRequest.email_hash == email_hash)
            .values(email=None, given_name="", given_company="", note="")
        ).rowcount  # type: ignore[attr-defined]
        audit.record(
            session,
            actor=actor,
            action="subscriber.forgotten",
            at=now,
            subject=audit.address_ref(email_hash),
            subscribers=subscribers,
            requests=requests,
        )
    return Forgotten(email, subscribers, requests, created)


@dataclass(frozen=True)
class Resubscribed:
    email: str
    subscribers: int  # subscriber rows made active again (0: not on any list)
    suppressions: int  # local suppression rows removed


def resubscribe(desk: Desk, raw_email: str, *, actor: str, reason: str) -> Resubscribed:
    """Lift every suppression of an address and make its subscribers active
    again: an approver's decision, with a reason, audited. Postmark is asked
    first; if it cannot lift its own suppression nothing changes here (else
    the next send would meet Postmark's suppression and suppress it again)."""
    if not desk.directory.is_approver(actor):
        raise Refusal("resubscribe_not_approver")
    reason = storable(reason).strip()
    if not reason:
        raise Refusal("resubscribe_needs_reason")
    email = normalised(raw_email)
    with desk.db.sessions() as session:
        email_hash = address_hash(address_salt(session), email)
        rows = session.execute(
            select(Suppression.scope, Suppression.reason).where(
                Suppression.email_hash == email_hash
            )
        ).all()
    if not rows:
        raise Refusal("not_suppressed", address=email)
    if any(r == SuppressionReason.SPAM_COMPLAINT for _, r in rows):
        # Postmark never reactivates an address that complained of spam.
        raise Refusal("resubscribe_spam_complaint", address=email)
    try:
        answers = desk.postmark.unsuppress([email], desk.settings.POSTMARK_BROADCAST_STREAM)
    except PostmarkError as exc:
        raise Refusal("resubscribe_postmark", error=type(exc).__name__) from None
    # Postmark answers per address; a `Failed` one (a spam complaint, a
    # suppression it will not lift) is not a resubscribe, whatever HTTP said.
    answer = next((a for a in answers if a.email == email), None)
    if answer is None or answer.failed:
        why = (answer.message or answer.status) if answer else "no answer for the address"
        raise Refusal("resubscribe_postmark", error=why[:200])
    now = desk.clock.now()
    with desk.db.transaction() as session:
        removed = session.execute(
            delete(Suppression).where(Suppression.email_hash == email_hash)
        ).rowcount  # type: ignore[attr-defined]
        # A later unsubscribe of this address deserves its own confirmation.
        session.execute(delete(OnceMarker).where(OnceMarker.key == confirmation_marker(email_hash)))
        reactivated = session.execute(
            update(Subscriber)
            .where(
                Subscriber.email == email,
                Subscriber.status.in_((SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.INACTIVE)),
            )
            .values(status=SubscriberStatus.ACTIVE, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        audit.record(
            session,
            actor=actor,
            action="subscriber.resubscribed",
            at=now,
            subject=audit.address_ref(email_hash),
            reason=reason,
            suppressions=removed,
            subscribers=reactivated,
        )
    return Resubscribed(email, reactivated, removed)


# --- finding people (ephemeral replies only) -----------------------------------------

FIND_LIMIT = 20
FIND_MIN_CHARS = 2


@dataclass(frozen=True)
class FoundSubscriber:
    email: str
    name: str
    company: str
    list_name: str
    status: str
    suppressed: bool


@dataclass(frozen=True)
class FoundRequest:
    email: str | None
    given_name: str
    given_company: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Found:
    subscribers: list[FoundSubscriber]
    subscriber_total: int
    requests: list[FoundRequest]
    # The text is an address that is suppressed, though no row shows it any
    # more (the person was forgotten): only its hash is left.
    suppressed_by_hash: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def find(desk: Desk, text: str, *, actor: str, limit: int = FIND_LIMIT) -> Found:
    """Subscribers and unsubscribe requests whose address, name or company
    contains `text`. For an ephemeral reply to `actor` only; audited (the
    number of matches, never the text searched for)."""
    text = storable(text).strip()
    if len(text) < FIND_MIN_CHARS:
        raise Refusal("find_too_short", chars=FIND_MIN_CHARS)
    pattern = _like(text)

    def matches(*columns: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        return or_(*(func.lower(c).like(pattern, escape="\\") for c in columns))

    with desk.db.transaction() as session:
        salt = address_salt(session)
        where = matches(Subscriber.email, Subscriber.name, Subscriber.company)
        total = int(session.execute(select(func.count(Subscriber.id)).where(where)).scalar_one())
        rows = session.execute(
            select(
                Subscriber.email,
                Subscriber.name,
                Subscriber.company,
                MailingList.name,
                Subscriber.status,
            )
            .join(MailingList, MailingList.id == Subscriber.list_id)
            .where(where)
            .order_by(Subscriber.id)
            .limit(limit)
        ).all()
        hashes = {str(r[0]): address_hash(salt, str(r[0])) for r in rows if r[0]}
        suppressed_pairs = set(
            session.execute(
                select(Suppression.email_hash, Suppression.scope).where(
                    Suppression.email_hash.in_(list(hashes.values()))
                )
            ).all()
        )
        found = [
            FoundSubscriber(
                email=str(email),
                name=name,
                company=company,
                list_name=list_name,
                status=status,
                suppressed=(hashes[str(email)], ALL_LISTS) in suppressed_pairs
                or (hashes[str(email)], list_name) in suppressed_pairs,
            )
            for email, name, company, list_name, status in rows
            if email
        ]
        requests = [
            FoundRequest(
                email=r.email,
                given_name=r.given_name,
                given_company=r.given_company,
                actor=r.actor,
                at=r.created_at,
            )
            for r in session.execute(
                select(UnsubscribeRequest)
                .where(
                    matches(
                        UnsubscribeRequest.email,
                        UnsubscribeRequest.given_name,
                        UnsubscribeRequest.given_company,
                    )
                )
                .order_by(UnsubscribeRequest.id.desc())
                .limit(limit)
            ).scalars()
        ]
        by_hash = False
        try:
            email_hash = address_hash(salt, normalise(text))
        except InvalidAddress:
            email_hash = None
        if email_hash is not None:
            by_hash = (
                session.execute(
                    select(Suppression.id)
                    .where(Suppression.email_hash == email_hash, Suppression.email.is_(None))
                    .limit(1)
                ).first()
                is not None
            )
        audit.record(
            session,
            actor=actor,
            action="subscribers.searched",
            at=desk.clock.now(),
            subscribers=total,
            requests=len(requests),
        )
    return Found(found, total, requests, by_hash)


# --- counts for `/newsletter subscribers` --------------------------------------------


@dataclass(frozen=True)
class ListCounts:
    list_name: str
    by_status: dict[str, int]
    forgotten: int  # rows whose address was erased

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class Overview:
    lists: list[ListCounts]
    suppressions: int
    by_reason: dict[str, int]
    push: PushCounts


def overview(desk: Desk) -> Overview:
    """Counts only — nothing here identifies anyone."""
    with desk.db.sessions() as session:
        rows = session.execute(
            select(
                MailingList.name,
                Subscriber.status,
                func.count(Subscriber.id),
                func.count(Subscriber.email),
            )
            .join(Subscriber, Subscriber.list_id == MailingList.id, isouter=True)
            .group_by(MailingList.name, Subscriber.status)
            .order_by(MailingList.name)
        ).all()
        lists: dict[str, tuple[dict[str, int], int]] = {}
        for list_name, status, count, with_address in rows:
            by_status, forgotten = lists.setdefault(list_name, ({}, 0))
            if status is not None:
                by_status[status] = int(count)
                lists[list_name] = (by_status, forgotten + int(count) - int(with_address))
        by_reason = {
            str(reason): int(count)
            for reason, count in session.execute(
                select(Suppression.reason, func.count(Suppression.id)).group_by(Suppression.reason)
            ).all()
        }
        return Overview(
            lists=[ListCounts(name, s, f) for name, (s, f) in lists.items()],
            suppressions=sum(by_reason.values()),
            by_reason=by_reason,
            push=push_counts(session),
        )
