"""What the Postmark stand-in tells the webhook URL after a message: the payloads
and the plan of what becomes of each broadcast message.

Owns the payload builders — `delivery()`, `bounce()`, `spam_complaint()`,
`subscription_change()` — each shaped as Postmark documents it (field names
and types as in Postmark's examples and in its official Node.js client's
webhook types), and `Outcomes`, the plan a test sets so that a share of the
broadcast messages bounce, draw a complaint or an unsubscribe.

Postmark's documentation, checked for each payload:

- Delivery: https://postmarkapp.com/developer/webhooks/delivery-webhook —
  ``RecordType "Delivery"``, ``ServerID``, ``MessageStream``, ``MessageID``,
  ``Recipient``, ``Tag``, ``DeliveredAt`` (ISO 8601), ``Details``, ``Metadata``;
- Bounce: https://postmarkapp.com/developer/webhooks/bounce-webhook —
  ``ID``, ``Type``, ``TypeCode``, ``Name``, ``Email``, ``BouncedAt``,
  ``Inactive``, ``CanActivate``, ``Metadata``, … (types and codes:
  https://postmarkapp.com/developer/api/bounce-api#bounce-types: HardBounce 1,
  SoftBounce 4096, SpamComplaint 512);
- Spam complaint: https://postmarkapp.com/developer/webhooks/spam-complaint-webhook
  — sent for transactional streams only. On a Broadcasts stream a complaint
  reaches the webhook as a SubscriptionChange with ``SuppressionReason
  "SpamComplaint"`` (the stream's suppression list changed), never as a
  ``SpamComplaint`` record; the stand-in does the same;
- Subscription change:
  https://postmarkapp.com/developer/webhooks/subscription-change-webhook —
  ``SuppressSending`` says suppression or reactivation; ``SuppressionReason``
  is HardBounce, SpamComplaint or ManualSuppression (a reader's unsubscribe is
  ManualSuppression with Origin Recipient); on a reactivation
  SuppressionReason and Tag are null and Metadata is an empty object;
  MessageID is null for Customer/Admin suppressions and reactivations.

Every record carries the message's ``Metadata`` as it was sent, which is how
the bot attributes an event to one recipient of one send.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.standins.postmark_store import StoredMessage

Outcome = Literal["delivered", "hard_bounce", "soft_bounce", "complaint", "unsubscribe"]
# The order in which a message's outcome is decided when several shares are due.
OUTCOME_ORDER: tuple[Outcome, ...] = (
    "hard_bounce",
    "soft_bounce",
    "complaint",
    "unsubscribe",
)


def delivery(
    message: StoredMessage, recipient: str, server_id: int, when: datetime
) -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": server_id,
        "MessageStream": message.MessageStream,
        "MessageID": message.MessageID,
        "Recipient": recipient,
        "Tag": message.Tag or "",
        "DeliveredAt": when.isoformat(),
        "Details": "smtp;250 2.0.0 OK (Postmark stand-in)",
        "Metadata": dict(message.Metadata or {}),
    }


def bounce(
    message: StoredMessage,
    recipient: str,
    server_id: int,
    when: datetime,
    *,
    bounce_id: int,
    soft: bool = False,
) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "ID": bounce_id,
        "Type": "SoftBounce" if soft else "HardBounce",
        "TypeCode": 4096 if soft else 1,
        "Name": "Soft bounce" if soft else "Hard bounce",
        "Tag": message.Tag or "",
        "MessageID": message.MessageID,
        "Metadata": dict(message.Metadata or {}),
        "ServerID": server_id,
        "MessageStream": message.MessageStream,
        "Description": (
            "The server could not temporarily deliver your message (ex: Message is delayed "
            "due to network troubles)."
            if soft
            else "The server was unable to deliver your message (ex: unknown user, mailbox "
            "not found)."
        ),
        "Details": "Stand-in soft bounce" if soft else "Stand-in hard bounce",
        "Email": recipient,
        "From": message.From,
        "BouncedAt": when.isoformat(),
        "DumpAvailable": False,
        # A soft bounce leaves the address active; a hard one deactivates it.
        "Inactive": not soft,
        "CanActivate": True,
        "Subject": message.Subject or "",
        "Content": "",
    }


def spam_complaint(
    message: StoredMessage, recipient: str, server_id: int, when: datetime, *, bounce_id: int
) -> dict[str, Any]:
    """The SpamComplaint record (transactional streams only)."""
    return {
        "RecordType": "SpamComplaint",
        "ID": bounce_id,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": message.Tag or "",
        "MessageID": message.MessageID,
        "Metadata": dict(message.Metadata or {}),
        "ServerID": server_id,
        "MessageStream": message.MessageStream,
        "Description": "The subscriber explicitly marked this email as spam.",
        "Details": "Stand-in spam complaint",
        "Email": recipient,
        "From": message.From,
        "BouncedAt": when.isoformat(),
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": False,
        "Subject": message.Subject or "",
        "Content": "",
    }


def subscription_change(
    email: str,
    stream_id: str,
    server_id: int,
    when: datetime,
    *,
    origin: str,
    reason: str | None,
    suppress: bool,
    message: StoredMessage | None,
) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message.MessageID if message else None,
        "ServerID": server_id,
        "MessageStream": stream_id,
        "ChangedAt": when.isoformat(),
        "Recipient": email,
        "Origin": origin,
        "SuppressSending": suppress,
        "SuppressionReason": reason if suppress else None,
        "Tag": ((message.Tag or "") if message else "") if suppress else None,
        "Metadata": dict(message.Metadata or {}) if message and suppress else {},
    }


@dataclass
class Outcomes:
    """What becomes of each broadcast message the stand-in accepts from now on.

    Shares are fractions of the messages (0..1, together at most 1), and they
    are exact, not random: after each accepted batch, ``floor(n * share)`` of
    the n broadcast messages since the plan was set had that outcome — so 10 %
    of 300 messages is exactly 30, spread evenly over each batch.
    `deliver` sends a Delivery webhook for every message that did not bounce
    (complaints and unsubscribes come after a delivery, as with real readers).
    `only_stream` limits the plan to one stream (None: every Broadcasts one).
    """

    deliver: bool = True
    hard_bounce: float = 0.0
    soft_bounce: float = 0.0
    complaint: float = 0.0
    unsubscribe: float = 0.0
    only_stream: str | None = None
    _seen: int = field(default=0, init=False, repr=False)
    _given: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        shares = [getattr(self, kind) for kind in OUTCOME_ORDER]
        if any(not 0.0 <= s <= 1.0 for s in shares) or sum(shares) > 1.0 + 1e-9:
            raise ValueError("each share must be within 0..1, and together at most 1")

    def next_batch(self, count: int) -> list[Outcome]:
        """The outcomes of the next `count` messages, in order (thread-safe).

        Each kind gets what brings its total to ``floor(seen * share)``, placed
        evenly within the batch; a kind that finds no free place (a batch of
        one message, two kinds due) catches up in the next batch.
        """
        with self._lock:
            self._seen += count
            slots: list[Outcome | None] = [None] * count
            for kind in OUTCOME_ORDER:
                due = math.floor(self._seen * getattr(self, kind) + 1e-9) - self._given.get(kind, 0)
                placed = 0
                for j in range(max(0, due)):
                    spot = min(count - 1, int((j + 0.5) * count / due))
                    free = next(
                        (i for i in [*range(spot, count), *range(spot)] if slots[i] is None), None
                    )
                    if free is None:
                        break
                    slots[free] = kind
                    placed += 1
                self._given[kind] = self._given.get(kind, 0) + placed
            return [slot or "delivered" for slot in slots]

    def given(self) -> dict[str, int]:
        """How many messages had each outcome so far ("delivered" included)."""
        with self._lock:
            counted = dict(self._given)
            counted["delivered"] = self._seen - sum(counted.values())
            return counted
