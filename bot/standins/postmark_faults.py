"""Fault injection for the Postmark stand-in: scripted or seeded-random faults.

Owns `Faults` (what goes wrong on the next matching API call) and the call
counters. A fault kind is one of:

- ``None`` — no fault, answer normally (useful inside a script);
- ``"429"`` — HTTP 429, ``{"ErrorCode": 429, "Message": "Rate limit exceeded..."}``;
- ``"500"`` — HTTP 500, ErrorCode 101 (Postmark's internal error);
- ``"503"`` — HTTP 503, ErrorCode 100 (Postmark's maintenance reply);
- ``"reset"`` — the connection is dropped before the request is processed:
  nothing is stored;
- ``"reply_lost"`` — the request IS processed (messages stored), then the
  connection is dropped without a reply (the client sees a connection error);
- ``"reply_late"`` — the request IS processed, then the reply is held for
  `Faults.late_reply_seconds` (default 5 s) — past a client's timeout;
- ``"process_late"`` — the connection is dropped at once, without a reply,
  and the request is processed `Faults.late_process_seconds` (default 5 s)
  later, after the client gave up: Postmark queues what it accepted and may
  process it late (status.postmarkapp.com/incidents/5243: "We were still
  accepting and processing messages throughout this incident ... all messages
  were eventually delivered"; the "In Queue" status,
  https://postmarkapp.com/support/article/787-how-can-i-confirm-delivery-of-a-message);
- ``"latency:SECONDS"`` — this call waits SECONDS before being processed;
- ``"held"`` — this call waits, before being processed, until the test calls
  `Faults.let_go()` (at most `Faults.held_seconds`, default 30 s): a request
  Postmark sits on for exactly as long as a test needs (a slow request whose
  length does not depend on the machine's load).

Endpoints are route templates ("/email", "/email/batch", "/messages/outbound",
"/message-streams/{stream}/suppressions/dump", ...); a script or a random rule
with ``endpoint=None`` matches every API call (never the unsubscribe pages).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FaultKind = str | None

KINDS = frozenset(
    {"429", "500", "503", "reset", "reply_lost", "reply_late", "process_late", "held"}
)


def validate_kind(kind: FaultKind) -> None:
    if kind is None or kind in KINDS:
        return
    if kind.startswith("latency:"):
        float(kind.partition(":")[2])  # raises ValueError when malformed
        return
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)} or latency:S")


@dataclass
class _Script:
    endpoint: str | None
    kinds: deque[FaultKind]


@dataclass
class _RandomRule:
    rate: float
    kinds: tuple[FaultKind, ...]
    rng: random.Random
    endpoint: str | None


@dataclass(frozen=True)
class AppliedFault:
    """One fault that was applied: which call (1-based, per endpoint) got what."""

    endpoint: str
    call: int
    kind: str


class Faults:
    """Per-call fault plan of the stand-in, plus per-endpoint call counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._random: list[_RandomRule] = []
        self._calls: Counter[str] = Counter()
        self._applied: list[AppliedFault] = []
        self.late_reply_seconds = 5.0
        self.late_process_seconds = 5.0
        self.held_seconds = 30.0
        self._let_go = threading.Event()

    def hold(self) -> None:
        """Wait as a ``"held"`` call does (internal): until `let_go()`, or at most
        `held_seconds`."""
        self._let_go.wait(self.held_seconds)

    def let_go(self) -> None:
        """Let every ``"held"`` call (waiting or still to come) be processed."""
        self._let_go.set()

    def script(self, kinds: Iterable[FaultKind], endpoint: str | None = None) -> None:
        """Queue fault kinds, consumed one per matching call, in order.

        ``faults.script(["503", "reply_lost", None], endpoint="/email/batch")``
        makes the next batch call get a 503, the one after lose its reply, the
        third succeed. Scripts take precedence over random rules.
        """
        queue = deque(kinds)
        for kind in queue:
            validate_kind(kind)
        with self._lock:
            self._scripts.append(_Script(endpoint, queue))

    def randomly(
        self,
        rate: float,
        kinds: Sequence[FaultKind],
        seed: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Each matching call gets a fault with probability `rate`, drawn from
        `kinds` uniformly, from a generator seeded with `seed` (reproducible
        for the same sequence of calls)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if not kinds:
            raise ValueError("kinds must not be empty")
        for kind in kinds:
            validate_kind(kind)
        with self._lock:
            self._random.append(_RandomRule(rate, tuple(kinds), random.Random(seed), endpoint))

    def clear(self) -> None:
        """Forget scripts, random rules, counts and the applied-fault log."""
        with self._lock:
            self._scripts.clear()
            self._random.clear()
            self._calls.clear()
            self._applied.clear()
            self.late_reply_seconds = 5.0
            self.late_process_seconds = 5.0
            self.held_seconds = 30.0
        # Calls held by an earlier test go on; later ones wait again.
        self._let_go.set()
        self._let_go = threading.Event()

    def calls(self, endpoint: str | None = None) -> int:
        """API calls seen for an endpoint template (all endpoints with None)."""
        with self._lock:
            if endpoint is None:
                return sum(self._calls.values())
            return self._calls[endpoint]

    @property
    def call_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    @property
    def applied(self) -> list[AppliedFault]:
        """Every fault applied so far, in order."""
        with self._lock:
            return list(self._applied)

    def pending(self) -> int:
        """Scripted faults not yet consumed."""
        with self._lock:
            return sum(len(s.kinds) for s in self._scripts)

    def next_for(self, endpoint: str, path: str) -> FaultKind:
        """Count a call to `endpoint` and decide its fault (internal)."""
        with self._lock:
            self._calls[endpoint] += 1
            call = self._calls[endpoint]
            kind: FaultKind = None
            decided = False
            for script in self._scripts:
                if script.kinds and script.endpoint in (None, endpoint, path):
                    kind = script.kinds.popleft()
                    decided = True
                    break
            if not decided:
                for rule in self._random:
                    if rule.endpoint in (None, endpoint, path):
                        if rule.rng.random() < rule.rate:
                            kind = rule.rng.choice(rule.kinds)
                        break
            if kind is not None:
                self._applied.append(AppliedFault(endpoint, call, kind))
            return kind
