"""The delivery engine's worker threads: claim, render, send, record, recover.

One `Engine` per process (a background duty of the bot). Threads:

- a *preparer* claims the next batch of a sending send (`ledger.claim`, which
  re-checks suppressions), renders each message from the frozen version and
  that recipient's row only (invariant 4), and queues it — at most
  `in_flight` batches wait, so rendering overlaps the network;
- `in_flight` *senders* each take a prepared batch, mark it in flight (the
  halt check and a second suppression check), call Postmark's batch endpoint
  and record one outcome per message;
- a *supervisor* renews this process's lease, recovers batches whose claimer
  died (released when nothing was sent, reconciled with Postmark when it may
  have been), calls `retry_starts` (the service's retry of approvals whose
  start never happened), and reports progress at most every `progress_seconds`.

A send's end is the engine's to tell: `finish_if_done` and `halt_send` change
its state through the ledger and post `send.finished` / `send.halted`. This
module never imports `bot.delivery` (the service that starts sends uses it).

Faults: `NotSent` (429, refused connection) is retried with bounded
exponential backoff and jitter (tenacity), each attempt re-checking the halt;
retries exhausted halt the send with its unsent rows pending. `FateUnknown`
(timeout, reset, 5xx) hands the batch to the supervisor's reconciliation and
the sender goes on: `search_outbound(metadata batch_id)` every
`reconcile_interval`; what Postmark shows is marked sent at once and never
re-sent; what it does not show is released for a re-send only after
`reconcile_window` since the batch's last request and `reconcile_agree`
searches that agree (Postmark may process late and indexes with a lag); a
search that keeps failing leaves the rows `unknown` and tells the channel.
Postmark refusing a whole request (401, 422) halts the send.

Several processes may run engines on one PostgreSQL database: batches are
claimed with FOR UPDATE SKIP LOCKED, orphans are taken over compare-and-set.
A process whose lease lapsed while it lives (stalled, or its clock behind)
looks gone to the others, which take its batches over; its senders then find
at `mark_in_flight` that a batch is no longer theirs and post nothing of it.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot import audit, issues, suppressions, transports
from bot import delivery_ledger as ledger
from bot.delivery_ledger import D, Outcome, Recipient
from bot.desk import Desk, Notice
from bot.postmark import (
    BATCH_LIMIT,
    FateUnknown,
    NotSent,
    PostmarkError,
    Refused,
    json_string,
)
from bot.rendering import CompiledIssue, TemplateProblem
from storage.models import (
    BatchState,
    Delivery,
    DeliveryBatch,
    Issue,
    IssueVersion,
    Lease,
    MailingList,
    PushState,
    Send,
    SendState,
    Subscriber,
    SubscriberStatus,
    SuppressionOrigin,
    SuppressionReason,
)

log = logging.getLogger(__name__)

LEASE_PREFIX = "delivery:"

# Engines running in this process, woken when new work is committed.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_ENGINES_LOCK = threading.Lock()


def active_engines() -> list[Engine]:
    """The engines started (and not stopped) in this process."""
    with _ENGINES_LOCK:
        return list(_ENGINES)


def wake_all() -> None:
    """Wake this process's engines: a send was started, resumed or halted."""
    for engine in active_engines():
        engine.wake()


# --- a send's end, as the engine (and the kill switch) tell the channel ----------------


def notify_halted(
    desk: Desk, report: ledger.SendReport, actor: str, reason: str, detail: str
) -> None:
    """`send.halted`, with the send's counts at the halt (`report`, counted in
    the halt's transaction: batches on their way are `in_flight`; `pending` is
    what will not be sent)."""
    params: dict[str, Any] = {"actor": actor, "reason": reason, "detail": detail}
    params.update(report.as_params())
    desk.notify(
        Notice("send.halted", issue_id=report.issue_id, send_id=report.send_id, params=params)
    )


def halt_send(desk: Desk, send_id: int, *, actor: str, reason: str, detail: str = "") -> bool:
    """Halt one send (the circuit breaker, a refusal by Postmark); False if not sending."""
    report = ledger.halt(
        desk.db, send_id, actor=actor, reason=reason, detail=detail, now=desk.clock.now()
    )
    if report is None:
        return False
    notify_halted(desk, report, actor, reason, detail)
    wake_all()
    return True


def halt_settled_once(desk: Desk, send_id: int) -> bool:
    """Once the batches that were on their way when a send was halted have
    all landed (or been settled), tell the channel the real counts, once per
    halt (the progress card is updated with them too)."""
    issue_id = ledger.settled_after_halt(desk.db, send_id, now=desk.clock.now())
    if issue_id is None:
        return False
    report = ledger.reports(desk.db, send_id=send_id)
    desk.notify(
        Notice(
            "send.halt_settled",
            issue_id=issue_id,
            send_id=send_id,
            params=report[0].as_params() if report else {},
        )
    )
    return True


def finish_if_done(desk: Desk, send_id: int) -> bool:
    """Mark a sending send finished once no row of it is pending or in a batch,
    and post its summary (the ledger's counts)."""
    issue_id = ledger.finish(desk.db, send_id, now=desk.clock.now())
    if issue_id is None:
        return False
    transports.send_closed(desk, send_id)  # its template at Postmark, if any
    report = ledger.reports(desk.db, send_id=send_id)
    desk.notify(
        Notice(
            "send.finished",
            issue_id=issue_id,
            send_id=send_id,
            params=report[0].as_params() if report else {},
        )
    )
    return True


@dataclass(frozen=True)
class EngineOptions:
    batch_size: int = BATCH_LIMIT
    in_flight: int | None = None  # None: settings.SEND_BATCHES_IN_FLIGHT
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    # Reconciling a batch whose fate is unknown (a timeout, a lost reply, a 5xx):
    # Postmark may process a request after the client gave up, and its search
    # shows an accepted message only some time later. What the search finds is
    # settled at once; what it does not find is released for a re-send only once
    # `reconcile_window` seconds have passed since the batch's last request
    # (None: settings.RECONCILE_WINDOW_MINUTES) and `reconcile_agree` searches
    # after that, `reconcile_interval` apart, found nothing more. After
    # `reconcile_attempts` failed searches in a row the rows become `unknown`
    # and are shown to people, never re-sent.
    reconcile_window: float | None = None
    reconcile_interval: float = 15.0
    reconcile_agree: int = 2
    reconcile_attempts: int = 4
    poll_seconds: float = 1.0
    progress_seconds: float = 3.0
    lease_seconds: float = 60.0
    start_retry_seconds: float = 60.0
    # The circuit breaker: within the first `breaker_window` answered rows, halt
    # when hard failures reach `breaker_min` and exceed `breaker_ratio` of them.
    breaker_window: int = 2_500
    breaker_min: int = 10
    breaker_ratio: float = 0.2


@dataclass(frozen=True)
class SendContext:
    """What every message of one send is built from: the frozen version."""

    send_id: int
    issue_id: int
    compiled: CompiledIssue
    list_name: str
    issue_date: str
    tag: str
    # How this send's messages are encoded and posted (bot.transports: the
    # engine knows no transport's details); opened again after each resume.
    channel: transports.Channel
    batch_size: int  # recipients per batch: by count and by bytes (Channel.batch_size)
    approval_id: int | None = None


@dataclass
class Prepared:
    ctx: SendContext
    batch_id: int
    recipients: list[Recipient]
    bodies: list[bytes]  # each recipient's message, as the send's channel encoded it
    failed: list[Outcome] = field(default_factory=list)
    suppressions_seen: int = -1


@dataclass
class _Reconciling:
    """A batch whose fate is unknown, and how far its reconciliation got."""

    batch_id: int
    send_id: int
    since: datetime  # its last request left then (wall clock)
    why: str  # the batch's note once settled
    next_search: float = 0.0  # time.monotonic()
    failures: int = 0  # failed searches in a row
    agreeing: int = 0  # searches after the window that found nothing more


def _wall_now() -> datetime:
    """The wall clock, for the reconciliation window: it measures how long
    Postmark has had a request, so it is the real time even where the desk's
    clock is a test's frozen one, and it is stored, so that a process taking
    over after a crash counts from the same moment."""
    return datetime.now(UTC)


class _Stopping(Exception):
    """The engine is stopping: leave the batch for recovery."""


class _TryAgain(Exception):
    def __init__(self, cause: PostmarkError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Engine:
    """The worker threads of one process.

    `retry_starts`, when given, is called by the supervisor every
    `start_retry_seconds`: the service's way to start approvals whose start
    never happened (bot.delivery passes its own); the engine itself only
    sends what is already `sending`. `drained(send_id)` is called when a
    sending send has nothing to claim, `supervise()` on every round of the
    supervisor (bot.delivery hands in the canary's stage steps, bot.canary),
    `first_claim(send_id, channel)` once per send before this engine's first
    claim of it (bot.delivery hands in the seed copies, bot.seeds).
    """

    def __init__(
        self,
        desk: Desk,
        options: EngineOptions | None = None,
        *,
        retry_starts: Callable[[], object] | None = None,
        drained: Callable[[int], object] | None = None,
        supervise: Callable[[], object] | None = None,
        first_claim: Callable[[int, transports.Channel], object] | None = None,
    ) -> None:
        self.desk = desk
        self.options = options or EngineOptions()
        self.retry_starts = retry_starts
        self.on_drained = drained
        self.on_supervise = supervise
        self.on_first_claim = first_claim
        self._first_claimed: set[int] = set()
        self.in_flight = self.options.in_flight or desk.settings.SEND_BATCHES_IN_FLIGHT
        self.host = socket.gethostname()
        self.worker = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self._queue: queue.Queue[Prepared] = queue.Queue(maxsize=self.in_flight)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        # Batches this process is working on (claimed, queued or sending); the
        # lock makes "claimed" and "known as ours" one step for the supervisor.
        self._active: set[int] = set()
        self._active_lock = threading.Lock()
        self._contexts: dict[int, SendContext] = {}
        self._reported: dict[int, tuple[Any, ...]] = {}
        self._rates: dict[int, tuple[float, int]] = {}
        self._breaker_done: set[int] = set()
        # Batches whose fate is unknown, being reconciled by the supervisor (ours,
        # or taken over from a worker that is gone), and per send how many
        # batches in a row ended so.
        self._reconciling: dict[int, _Reconciling] = {}
        self._unknown_streak: dict[int, int] = {}
        # Sends whose preparer found no pending row at least once: only then can a
        # finished batch be a send's last, so only then does a sender look (the
        # preparer looks on every round anyway; this saves a query per batch).
        self._drained: set[int] = set()

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._heartbeat()
        with _ENGINES_LOCK:
            _ENGINES.add(self)
        targets = [(self._prepare_loop, "prepare"), (self._supervise_loop, "supervise")]
        targets += [(self._send_loop, f"send-{i}") for i in range(self.in_flight)]
        for target, name in targets:
            thread = threading.Thread(target=target, name=f"delivery-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop claiming; batches on the wire finish; queued ones are released."""
        with _ENGINES_LOCK:
            _ENGINES.discard(self)
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._release_queued()
        self._drop_lease()

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(max(0.0, seconds)):
            raise _Stopping

    # --- preparing -----------------------------------------------------------------------

    def _context(self, send_id: int) -> SendContext:
        ctx = self._contexts.get(send_id)
        if ctx is not None and not self._resumed(ctx):
            return ctx
        with ledger.reading(self.desk.db) as session:
            send = session.get(Send, send_id)
            assert send is not None
            version = session.get(IssueVersion, send.version_id)
            issue = session.get(Issue, send.issue_id)
            assert version is not None and issue is not None
            mailing_list = session.get(MailingList, issue.list_id)
            assert mailing_list is not None
            approval_id = send.approval_id
            content = transports.SendContent(
                send_id=send.id,
                issue_id=issue.id,
                compiled=issues.compiled_of(version),
                list_name=mailing_list.name,
                issue_date=issues.issue_date(version, self.desk.settings.tz),
                tag=f"countersign-issue-{issue.id}",
            )
        # Outside the session: opening may ask Postmark (a template read back).
        channel = transports.open_channel(self.desk, content)
        ctx = SendContext(
            send_id=content.send_id,
            issue_id=content.issue_id,
            compiled=content.compiled,
            list_name=content.list_name,
            issue_date=content.issue_date,
            tag=content.tag,
            channel=channel,
            batch_size=channel.batch_size(self.options.batch_size),
            approval_id=approval_id,
        )
        self._contexts[send_id] = ctx
        return ctx

    def _resumed(self, ctx: SendContext) -> bool:
        """Whether the send was resumed (a new approval) since its channel was opened."""
        with ledger.reading(self.desk.db) as session:
            approval_id = session.execute(
                select(Send.approval_id).where(Send.id == ctx.send_id)
            ).scalar_one_or_none()
        return approval_id != ctx.approval_id

    def _prepare_loop(self) -> None:
        while not self.stopping:
            try:
                worked = self._prepare_round()
            except _Stopping:
                return
            except Exception:
                log.exception("preparing a batch failed")
                worked = False
            if not worked:
                self._wake.wait(self.options.poll_seconds)
                self._wake.clear()

    def _prepare_round(self) -> bool:
        worked = False
        for send_id in ledger.sending(self.desk.db):
            if self.stopping:
                return worked
            try:
                ctx = self._context(send_id)
            except transports.TransportRefused as refused:
                halt_send(
                    self.desk,
                    send_id,
                    actor=audit.SYSTEM,
                    reason=refused.reason,
                    detail=refused.detail[:200],
                )
                continue
            except PostmarkError as exc:
                log.warning("opening send %s: Postmark failed (%s)", send_id, type(exc).__name__)
                continue
            if self.on_first_claim is not None and send_id not in self._first_claimed:
                self._first_claimed.add(send_id)
                self.on_first_claim(send_id, ctx.channel)
            with self._active_lock:
                claimed = ledger.claim(
                    self.desk.db,
                    send_id,
                    list_name=ctx.list_name,
                    worker=self.worker,
                    size=ctx.batch_size,
                    now=self.desk.clock.now(),
                )
                if claimed is not None and claimed.batch_id is not None:
                    self._active.add(claimed.batch_id)
            if claimed is None:
                self._drained.add(send_id)
                if not finish_if_done(self.desk, send_id) and self.on_drained is not None:
                    self.on_drained(send_id)
                continue
            worked = True
            if claimed.batch_id is None:
                continue
            prepared = self._render(ctx, claimed.batch_id, claimed.recipients)
            prepared.suppressions_seen = claimed.suppressions_seen
            while True:
                try:
                    self._queue.put(prepared, timeout=self.options.poll_seconds)
                    break
                except queue.Full:
                    if self.stopping:
                        self._release(prepared.batch_id, "released: the engine stopped")
                        raise _Stopping from None
        return worked

    def _render(self, ctx: SendContext, batch_id: int, recipients: list[Recipient]) -> Prepared:
        encode = ctx.channel.encode
        # Postmark's limits: <= 10 keys, names <= 20 chars, values <= 80. The ids are
        # digits; the object is json.dumps's {"send_id": …, "batch_id": …, "delivery_id": …}.
        metadata_head = (
            f'{{"send_id":{json_string(str(ctx.send_id))},'
            f'"batch_id":{json_string(str(batch_id))},"delivery_id":"'
        )
        bodies: list[bytes] = []
        kept: list[Recipient] = []
        failed: list[Outcome] = []
        for recipient in recipients:
            try:
                # Only this recipient's own row and the frozen version (invariant 4).
                body = encode(recipient, f'{metadata_head}{recipient.delivery_id:d}"}}')
            except TemplateProblem as problem:
                failed.append(
                    Outcome(recipient.delivery_id, D.FAILED, error_message=f"render: {problem}")
                )
                continue
            kept.append(recipient)
            bodies.append(body)
        return Prepared(ctx, batch_id, kept, bodies, failed)

    # --- sending -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            try:
                prepared = self._queue.get(timeout=self.options.poll_seconds)
            except queue.Empty:
                if self.stopping:
                    return
                continue
            if self.stopping:
                self._release(prepared.batch_id, "released: the engine stopped")
                self._forget(prepared.batch_id)
                continue
            try:
                self._deliver(prepared)
            except _Stopping:
                pass  # in flight when stopping: the next start reconciles it
            except Exception:
                log.exception("delivering batch %s failed; it will be recovered", prepared.batch_id)
            finally:
                self._forget(prepared.batch_id)

    def _forget(self, batch_id: int) -> None:
        with self._active_lock:
            self._active.discard(batch_id)

    def _wait(self, state: RetryCallState) -> float:
        base = wait_exponential_jitter(
            multiplier=self.options.backoff_initial,
            max=self.options.backoff_max,
            jitter=self.options.backoff_initial,
        )(state)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        cause = exc.cause if isinstance(exc, _TryAgain) else None
        retry_after = cause.retry_after if isinstance(cause, NotSent) else None
        return max(base, min(retry_after or 0.0, self.options.backoff_max))

    def _deliver(self, prepared: Prepared) -> None:
        ctx, batch_id = prepared.ctx, prepared.batch_id
        pairs = list(zip(prepared.recipients, prepared.bodies, strict=True))
        retrying = Retrying(
            stop=stop_after_attempt(self.options.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_TryAgain),
            sleep=self._sleep,
            reraise=True,
        )
        results = None
        try:
            for attempt in retrying:
                with attempt:
                    # Every attempt is checked like the first: a halt since the
                    # last one stops it (the rows go back to pending), and rows
                    # suppressed meanwhile are dropped.
                    marked = ledger.mark_in_flight(
                        self.desk.db,
                        batch_id,
                        worker=self.worker,
                        list_name=ctx.list_name,
                        now=self.desk.clock.now(),
                        attempted_at=_wall_now(),
                        suppressions_seen=(
                            prepared.suppressions_seen
                            if attempt.retry_state.attempt_number == 1
                            else -1
                        ),
                    )
                    if marked.lost:
                        # Another process took the batch over (this one looked gone):
                        # its rows are that process's now, and may be on their way.
                        log.warning("batch %s was taken over by another worker", batch_id)
                        return
                    if not marked.go:
                        # Halted (or every row dropped): perhaps the last one to know.
                        halt_settled_once(self.desk, ctx.send_id)
                        return
                    pairs = [(r, m) for r, m in pairs if r.delivery_id not in marked.dropped]
                    try:
                        results = ctx.channel.post(
                            batch_id, [m for _, m in pairs], [r for r, _ in pairs]
                        )
                    except NotSent as exc:
                        raise _TryAgain(exc) from None
        except _TryAgain as exc:
            # Retries exhausted: nothing of this batch reached Postmark, so its
            # rows go back to pending, and the send halts.
            self._release(batch_id, f"released after {self.options.max_attempts} attempts")
            halt_send(
                self.desk,
                ctx.send_id,
                actor=audit.SYSTEM,
                reason="postmark_unavailable",
                detail=str(exc.cause)[:200],
            )
            return
        except FateUnknown as exc:
            self._fate_unknown(ctx, batch_id, prepared.failed, str(exc))
            return
        except Refused as exc:
            self._release(batch_id, f"released: Postmark refused the batch [{exc.code}]")
            halt_send(
                self.desk,
                ctx.send_id,
                actor=audit.SYSTEM,
                reason="postmark_refused",
                detail=f"[{exc.code}] {exc.message}"[:200],
            )
            return
        assert results is not None
        self._unknown_streak.pop(ctx.send_id, None)
        state = self._record(ctx, batch_id, pairs, results, prepared.failed)
        self._after_batch(ctx, halted=state == SendState.HALTED)

    def _fate_unknown(
        self, ctx: SendContext, batch_id: int, failed: list[Outcome], why: str
    ) -> None:
        """Postmark may have taken the batch: hand it to the reconciliation (the
        supervisor's), which never re-sends before the window has passed. Too
        many of these in a row halt the send: Postmark is not well."""
        if failed:
            ledger.record(self.desk.db, batch_id, failed, now=self.desk.clock.now(), done=False)
        with self._active_lock:
            self._reconciling.setdefault(
                batch_id,
                _Reconciling(batch_id, ctx.send_id, _wall_now(), "reconciled after " + why),
            )
        streak = self._unknown_streak.get(ctx.send_id, 0) + 1
        self._unknown_streak[ctx.send_id] = streak
        if streak >= self.options.max_attempts:
            self._unknown_streak.pop(ctx.send_id, None)
            halt_send(
                self.desk,
                ctx.send_id,
                actor=audit.SYSTEM,
                reason="postmark_unavailable",
                detail=f"{streak} batches in a row without an answer: {why}"[:200],
            )

    def _record(
        self,
        ctx: SendContext,
        batch_id: int,
        pairs: list[tuple[Recipient, bytes]],
        results: list[Any],
        failed: list[Outcome],
    ) -> str:
        """Record Postmark's answers; the send's state afterwards."""
        outcomes = list(failed)
        inactive: list[str] = []
        invalid: list[int] = []
        for (recipient, _), result in zip(pairs, results, strict=True):
            code = result.error_code
            if code == 0:
                outcomes.append(Outcome(recipient.delivery_id, D.SENT, result.message_id))
            elif code == 406:
                # Postmark has the address as inactive: a fact about the recipient,
                # not an error of the send (why: learned from its dump below).
                outcomes.append(
                    Outcome(recipient.delivery_id, D.SUPPRESSED, None, code, result.message)
                )
                inactive.append(recipient.email)
            elif code == 300:
                outcomes.append(
                    Outcome(recipient.delivery_id, D.INVALID, None, code, result.message)
                )
                invalid.append(recipient.delivery_id)
            else:
                outcomes.append(
                    Outcome(recipient.delivery_id, D.FAILED, None, code, result.message)
                )
        now = self.desk.clock.now()

        def extra(session: Session) -> None:
            for email in inactive:
                suppressions.add(
                    session,
                    email=email,
                    reason=SuppressionReason.HARD_BOUNCE,
                    origin=SuppressionOrigin.POSTMARK_SEND,
                    actor="postmark",
                    at=now,
                    note=f"ErrorCode 406 in send {ctx.send_id}",
                    push_state=PushState.NOT_NEEDED,
                )
            if invalid:
                subscriber_ids = select(Delivery.subscriber_id).where(Delivery.id.in_(invalid))
                session.execute(
                    update(Subscriber)
                    .where(
                        Subscriber.id.in_(subscriber_ids),
                        Subscriber.status == SubscriberStatus.ACTIVE,
                    )
                    .values(status=SubscriberStatus.INVALID, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                audit.record(
                    session,
                    actor="postmark",
                    action="subscriber.status",
                    at=now,
                    issue_id=ctx.issue_id,
                    subject=f"send:{ctx.send_id}",
                    status=str(SubscriberStatus.INVALID),
                    subscribers=len(invalid),
                )

        state = ledger.record(
            self.desk.db,
            batch_id,
            outcomes,
            now=now,
            extra=extra if inactive or invalid else None,
        )
        if inactive:
            # Recorded as hard bounces; Postmark's dump says which they are.
            suppressions.learn_reasons(self.desk, inactive)
        return state

    def _after_batch(self, ctx: SendContext, *, halted: bool = True) -> None:
        """After a batch landed; `halted`: its send may be halted (then, once the
        last batch on its way has landed, the channel gets the real counts)."""
        self._circuit_breaker(ctx)
        if ctx.send_id in self._drained:
            finish_if_done(self.desk, ctx.send_id)
        if halted:
            halt_settled_once(self.desk, ctx.send_id)

    def _circuit_breaker(self, ctx: SendContext) -> None:
        options = self.options
        if ctx.send_id in self._breaker_done:
            return
        with ledger.reading(self.desk.db) as session:
            hard, answered = ledger.hard_failures(session, ctx.send_id)
        if answered > options.breaker_window + options.batch_size * self.in_flight:
            # Past the first batches: failures are reported, not halted on (and
            # the count, which grows with the send, is not taken again).
            self._breaker_done.add(ctx.send_id)
            return
        if hard >= options.breaker_min and hard > options.breaker_ratio * answered:
            halt_send(
                self.desk,
                ctx.send_id,
                actor=audit.SYSTEM,
                reason="circuit_breaker",
                detail=f"{hard} of the first {answered} messages failed",
            )

    # --- reconciliation ------------------------------------------------------------------

    @property
    def reconcile_window(self) -> timedelta:
        seconds = self.options.reconcile_window
        if seconds is None:
            seconds = self.desk.settings.RECONCILE_WINDOW_MINUTES * 60.0
        return timedelta(seconds=seconds)

    def _reconcile_due(self) -> None:
        """One search for each batch being reconciled whose turn it is."""
        with self._active_lock:
            due = [r for r in self._reconciling.values() if r.next_search <= time.monotonic()]
        for item in sorted(due, key=lambda r: r.batch_id):
            if self.stopping:
                return
            self._reconcile_step(item)

    def _reconcile_step(self, item: _Reconciling) -> None:
        """Ask Postmark what it has of the batch; settle that; decide about the rest.

        The rest is released (and so re-sent) only when the window since the
        batch's last request has passed and `reconcile_agree` searches since
        then found nothing more; searches failing `reconcile_attempts` times in
        a row leave it `unknown`."""
        options = self.options
        item.next_search = time.monotonic() + options.reconcile_interval
        try:
            # Only the send's ids are needed here: an open channel will do.
            ctx = self._contexts.get(item.send_id) or self._context(item.send_id)
        except (transports.TransportRefused, PostmarkError) as exc:
            log.warning("reconciling batch %s: %s; trying again later", item.batch_id, exc)
            return
        try:
            messages = self.desk.postmark.search_outbound(
                metadata={"batch_id": str(item.batch_id)},
                stream=self.desk.postmark.broadcast_stream,
            )
        except PostmarkError as exc:
            item.failures += 1
            log.warning(
                "reconciling batch %s: search failed (%s)", item.batch_id, type(exc).__name__
            )
            if item.failures >= options.reconcile_attempts:
                self._stop_reconciling(item.batch_id)
                self._unknown(ctx, item.batch_id, f"{item.why}; {exc}")
            else:
                item.next_search = time.monotonic() + min(
                    options.reconcile_interval,
                    options.backoff_initial * 2 ** (item.failures - 1),
                )
            return
        item.failures = 0
        found: dict[int, str] = {}
        for message in messages:
            metadata = message.get("Metadata") or {}
            if str(metadata.get("send_id")) != str(ctx.send_id):
                continue
            try:
                found[int(metadata["delivery_id"])] = str(message["MessageID"])
            except (KeyError, ValueError, TypeError):
                continue
        settled = ledger.settle_found(self.desk.db, item.batch_id, found, now=self.desk.clock.now())
        remaining = ledger.open_rows(self.desk.db, item.batch_id)
        if remaining:
            if _wall_now() < item.since + self.reconcile_window:
                return  # Postmark may still be processing or indexing it
            # After the window: searches must agree that nothing more turns up.
            item.agreeing = 0 if settled else item.agreeing + 1
            if item.agreeing < options.reconcile_agree:
                return
        self._stop_reconciling(item.batch_id)
        # What Postmark still does not have after the window was never taken.
        self._release(item.batch_id, item.why)
        self._after_batch(ctx)
        finish_if_done(self.desk, ctx.send_id)
        self.wake()

    def _stop_reconciling(self, batch_id: int) -> None:
        with self._active_lock:
            self._reconciling.pop(batch_id, None)

    def _unknown(self, ctx: SendContext, batch_id: int, why: str) -> None:
        count = ledger.mark_unknown(
            self.desk.db,
            batch_id,
            now=self.desk.clock.now(),
            why=f"Postmark could not be asked about this batch: {why}",
        )
        self.desk.notify(
            Notice(
                "send.unknown",
                issue_id=ctx.issue_id,
                send_id=ctx.send_id,
                params={"batch": batch_id, "count": count, "tag": ctx.tag},
            )
        )
        finish_if_done(self.desk, ctx.send_id)
        halt_settled_once(self.desk, ctx.send_id)

    def _release(self, batch_id: int, why: str) -> None:
        ledger.release(self.desk.db, batch_id, now=self.desk.clock.now(), why=why)

    def _release_queued(self) -> None:
        while True:
            try:
                prepared = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                self._release(prepared.batch_id, "released: the engine stopped")
            except Exception:
                log.exception("could not release batch %s", prepared.batch_id)
            self._forget(prepared.batch_id)

    # --- supervision ---------------------------------------------------------------------

    def _supervise_loop(self) -> None:
        last_heartbeat = last_progress = 0.0
        last_starts = -1e9
        while not self.stopping:
            now = time.monotonic()
            try:
                if now - last_heartbeat >= self.options.lease_seconds / 4:
                    self._heartbeat()
                    last_heartbeat = now
                self._recover()
                self._reconcile_due()
                if (
                    self.retry_starts is not None
                    and now - last_starts >= self.options.start_retry_seconds
                ):
                    self.retry_starts()
                    last_starts = now
                if self.on_supervise is not None:
                    self.on_supervise()
                if now - last_progress >= self.options.progress_seconds:
                    self._report_progress()
                    last_progress = now
            except _Stopping:
                return
            except Exception:
                log.exception("delivery supervision failed; trying again")
            self._stopping.wait(min(self.options.poll_seconds, self.options.progress_seconds))

    def _heartbeat(self) -> None:
        expires = self.desk.clock.now() + timedelta(seconds=self.options.lease_seconds)
        with ledger.transaction(self.desk.db) as session:
            lease = session.get(Lease, LEASE_PREFIX + self.worker)
            if lease is None:
                session.add(
                    Lease(name=LEASE_PREFIX + self.worker, holder=self.worker, expires_at=expires)
                )
            else:
                lease.expires_at = expires

    def _drop_lease(self) -> None:
        try:
            with ledger.transaction(self.desk.db) as session:
                lease = session.get(Lease, LEASE_PREFIX + self.worker)
                if lease is not None:
                    session.delete(lease)
        except Exception:
            log.exception("could not drop the delivery lease")

    def _alive(self, worker: str, leases: dict[str, Any]) -> bool:
        if worker == self.worker:
            return True
        host, _, rest = worker.partition(":")
        pid_text = rest.partition(":")[0]
        if host == self.host and pid_text.isdigit():
            pid = int(pid_text)
            # Same machine: a dead process (kill -9) is known at once.
            if pid == os.getpid() or not _pid_alive(pid):
                return False
        expires = leases.get(worker)
        return expires is not None and expires > self.desk.clock.now()

    def _recover(self) -> None:
        """Batches claimed by a worker that is gone: released when nothing was
        sent (`claimed`), handed to the reconciliation when a request may have
        left (`in_flight`), with the window counted from that request."""
        # The lock first, then the database: on SQLite every transaction takes
        # the write lock, and the preparer claims while holding `_active_lock`.
        with self._active_lock, ledger.reading(self.desk.db) as session:
            leases = dict(
                session.execute(
                    select(Lease.holder, Lease.expires_at).where(
                        Lease.name.like(LEASE_PREFIX + "%")
                    )
                ).all()
            )
            open_batches = ledger.open_batches(session)
            mine = set(self._active) | set(self._reconciling)
        for batch_id, _state, claimer in open_batches:
            if self.stopping:
                return
            if claimer == self.worker:
                if batch_id in mine:
                    continue  # being worked on here
            elif self._alive(claimer, leases):
                continue
            taken = ledger.take_over(self.desk.db, batch_id, was=claimer, worker=self.worker)
            if taken is None:
                continue
            log.info("recovering batch %s (%s) of a worker that is gone", batch_id, taken)
            if taken == BatchState.CLAIMED:
                self._release(batch_id, "released: its worker was gone before sending")
                self.wake()
                continue
            send_id, since = ledger.last_attempt(self.desk.db, batch_id)
            with self._active_lock:
                self._reconciling.setdefault(
                    batch_id,
                    _Reconciling(batch_id, send_id, since, "reconciled after its worker was gone"),
                )

    def _batch_send(self, batch_id: int) -> int:
        with ledger.reading(self.desk.db) as session:
            return int(
                session.execute(
                    select(DeliveryBatch.send_id).where(DeliveryBatch.id == batch_id)
                ).scalar_one()
            )

    def _report_progress(self) -> None:
        for send_id in ledger.sending(self.desk.db):
            reports = ledger.reports(self.desk.db, send_id=send_id)
            if not reports:
                continue
            report = reports[0]
            key = (report.state, tuple(sorted(report.counts.items())))
            if self._reported.get(send_id) == key:
                continue
            self._reported[send_id] = key
            now = time.monotonic()
            first_at, first_done = self._rates.setdefault(send_id, (now, report.done))
            elapsed = now - first_at
            rate = (report.done - first_done) / elapsed if elapsed > 0 else 0.0
            eta = int(report.remaining / rate) if rate > 0 else None
            params = report.as_params()
            params.update({"rate": round(rate, 1), "eta_seconds": eta})
            self.desk.notify(
                Notice("send.progress", issue_id=report.issue_id, send_id=send_id, params=params)
            )
