"""The canary: an approved send goes first to a random share of its audience,
holds while Postmark's webhooks are watched, and halts itself on trouble.

The plan (`bot.approvals.CanaryPlan`: a share in percent and a hold in
minutes) is part of what is approved: `submit` copies CANARY_PERCENT and CANARY_HOLD_MINUTES (or the
`canary N%` / `canary off` of that one submission) into the request, the card
shows it, and the send takes it from the approved request. When the audience
is frozen, a random sample of that size is drawn (`bot.delivery_ledger`
marks its rows `wave = 1`: a new draw for every send, so the same readers
are not always first) and the send's `stage` says what may be claimed:

    all ── no canary: everything
    canary ── only the canary's rows            (the claim filters on wave)
    hold ── nothing, until `hold_until`         (the claim returns nothing)
    rest ── everything left

All of it is in the send's row, so a restart during the hold changes
nothing: the next engine finds the send holding and the time it ends.
The send stays `sending` throughout, so the kill switch (invariant 6) halts
it in any stage, and a halted canary's rest needs a new two-person approval
(`/newsletter resume`).

- `advance(desk, send_id)` — the engine found nothing to claim: once every
  canary row is answered, the hold begins;
- `watch(desk, send_id)` — a bounce or complaint was counted (bot.webhooks):
  during the canary and the hold, bounces (hard or soft, each recipient
  once) above CANARY_MAX_BOUNCE_PERCENT or complaints above
  CANARY_MAX_COMPLAINT_PERCENT of the canary halt the send;
- `tick(desk)` — the engine's supervisor, every second or so: holds that are
  over are checked once more and released;
- `release_now(desk, send_id, actor)` — "Send the rest now", approvers only
  (checked here, on the server).

Notices: `send.canary_hold`, `send.canary_released` (and `send.halted` with
reason `canary_bounces` or `canary_complaints`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import audit
from bot import delivery_engine as engine
from bot import delivery_ledger as ledger
from bot.desk import Desk, Notice
from bot.refusal import Refusal
from storage.models import (
    Delivery,
    DeliveryStatus,
    Send,
    SendEvent,
    SendEventKind,
    SendStage,
    SendState,
)

log = logging.getLogger(__name__)

D = DeliveryStatus
CANARY_WAVE = ledger.CANARY_WAVE
# Rows of the canary that went (or may still go) to Postmark: the watch's base.
_OUT = (D.SENT, D.BATCHED, D.PENDING, D.UNKNOWN)
_WATCHED = (SendStage.CANARY, SendStage.HOLD)


# --- the watch -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """The canary's figures so far."""

    out: int  # canary rows sent (or on their way)
    bounced: int  # of them, recipients with a bounce
    complaints: int

    def bounce_percent(self) -> float:
        return 100 * self.bounced / self.out if self.out else 0.0

    def complaint_percent(self) -> float:
        return 100 * self.complaints / self.out if self.out else 0.0


def health(session: Session, send_id: int) -> Health:
    in_canary = (Delivery.send_id == send_id, Delivery.wave == CANARY_WAVE)
    out = session.execute(
        select(func.count()).select_from(Delivery).where(*in_canary, Delivery.status.in_(_OUT))
    ).scalar_one()

    def events(*kinds: SendEventKind) -> int:
        return int(
            session.execute(
                select(func.count(func.distinct(SendEvent.delivery_id)))
                .join(Delivery, Delivery.id == SendEvent.delivery_id)
                .where(SendEvent.send_id == send_id, SendEvent.kind.in_(kinds), *in_canary)
            ).scalar_one()
        )

    K = SendEventKind
    return Health(int(out), events(K.HARD_BOUNCE, K.SOFT_BOUNCE), events(K.COMPLAINT))


def _trouble(desk: Desk, found: Health) -> tuple[str, str] | None:
    """(halt reason, detail) when the canary is above a limit, else None."""
    settings = desk.settings
    if found.bounce_percent() > settings.CANARY_MAX_BOUNCE_PERCENT:
        return "canary_bounces", _detail(
            found.bounced, found.out, found.bounce_percent(), settings.CANARY_MAX_BOUNCE_PERCENT
        )
    if found.complaint_percent() > settings.CANARY_MAX_COMPLAINT_PERCENT:
        return "canary_complaints", _detail(
            found.complaints,
            found.out,
            found.complaint_percent(),
            settings.CANARY_MAX_COMPLAINT_PERCENT,
        )
    return None


def _detail(count: int, out: int, percent: float, limit: float) -> str:
    # Numbers only, so the sentence around them can be in any language.
    return f"{count}/{out} = {percent:.1f} % > {limit:g} %"


def _stage(session: Session, send_id: int) -> tuple[str, str] | None:
    row = session.execute(select(Send.state, Send.stage).where(Send.id == send_id)).one_or_none()
    return (str(row[0]), str(row[1])) if row else None


def watch(desk: Desk, send_id: int) -> bool:
    """Halt the send if its canary is in trouble; True if it was halted now."""
    with ledger.reading(desk.db) as session:
        stage = _stage(session, send_id)
        if stage is None or stage[0] != SendState.SENDING or stage[1] not in _WATCHED:
            return False
        trouble = _trouble(desk, health(session, send_id))
    if trouble is None:
        return False
    reason, detail = trouble
    return engine.halt_send(desk, send_id, actor=audit.SYSTEM, reason=reason, detail=detail)


# --- the stages ----------------------------------------------------------------------------


def _locked_send(session: Session, send_id: int) -> Send | None:
    return session.execute(
        select(Send).where(Send.id == send_id).with_for_update()
    ).scalar_one_or_none()


def _canary_open(session: Session, send_id: int) -> bool:
    return (
        session.execute(
            select(Delivery.id)
            .where(
                Delivery.send_id == send_id,
                Delivery.wave == CANARY_WAVE,
                Delivery.status.in_(ledger.OPEN_STATUSES),
            )
            .limit(1)
        ).first()
        is not None
    )


def advance(desk: Desk, send_id: int) -> bool:
    """The canary is all answered: begin the hold; True if it began now."""
    with ledger.reading(desk.db) as session:
        stage = _stage(session, send_id)
    if stage != (SendState.SENDING, SendStage.CANARY):
        return False  # the common case, without a write transaction
    now = desk.clock.now()
    with ledger.transaction(desk.db) as session:
        send = _locked_send(session, send_id)
        if (
            send is None
            or send.state != SendState.SENDING
            or send.stage != SendStage.CANARY
            or _canary_open(session, send_id)
        ):
            return False
        send.stage = SendStage.HOLD
        send.hold_until = now + timedelta(minutes=send.hold_minutes)
        found = health(session, send_id)
        audit.record(
            session,
            actor=audit.SYSTEM,
            action="send.canary_hold",
            at=now,
            issue_id=send.issue_id,
            subject=f"send:{send.id}",
            canary=send.canary_size,
            sent=found.out,
            until=send.hold_until.isoformat(),
        )
        issue_id, until = send.issue_id, send.hold_until
    desk.notify(
        Notice(
            "send.canary_hold",
            issue_id=issue_id,
            send_id=send_id,
            params={"canary": found.out, "until": until.isoformat()},
        )
    )
    # Webhooks that came in while the canary was going out are judged now too.
    watch(desk, send_id)
    return True


def tick(desk: Desk) -> list[int]:
    """Release every hold that is over (after one more look); the sends released."""
    now = desk.clock.now()
    with ledger.reading(desk.db) as session:
        due = list(
            session.execute(
                select(Send.id).where(
                    Send.state == SendState.SENDING,
                    Send.stage == SendStage.HOLD,
                    Send.hold_until <= now,
                )
            ).scalars()
        )
    released = []
    for send_id in due:
        if watch(desk, send_id):
            continue
        if _release(desk, send_id, actor=audit.SYSTEM, why="hold_over", at=now):
            released.append(send_id)
    return released


def release_now(desk: Desk, send_id: int, *, actor: str) -> None:
    """ "Send the rest now": approvers only; raises Refusal, changing nothing then."""
    if not desk.directory.is_approver(actor):
        raise Refusal("not_an_approver_rest", send=send_id)
    if watch(desk, send_id):
        raise Refusal("canary_halted", send=send_id)
    if not _release(desk, send_id, actor=actor, why="by_hand", at=desk.clock.now()):
        raise Refusal("no_canary_hold", send=send_id)


def _release(desk: Desk, send_id: int, *, actor: str, why: str, at: datetime) -> bool:
    with ledger.transaction(desk.db) as session:
        send = _locked_send(session, send_id)
        if send is None or send.state != SendState.SENDING or send.stage not in _WATCHED:
            return False
        send.stage = SendStage.REST
        found = health(session, send_id)
        audit.record(
            session,
            actor=actor,
            action="send.canary_released",
            at=at,
            issue_id=send.issue_id,
            subject=f"send:{send.id}",
            why=why,
            canary=found.out,
            bounced=found.bounced,
            complaints=found.complaints,
        )
        issue_id = send.issue_id
    desk.notify(
        Notice(
            "send.canary_released",
            issue_id=issue_id,
            send_id=send_id,
            params={
                "why": why,
                "actor": actor,
                "canary": found.out,
                "bounced": found.bounced,
                "complaints": found.complaints,
            },
        )
    )
    engine.wake_all()
    return True
