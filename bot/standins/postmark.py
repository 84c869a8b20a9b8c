"""The Postmark stand-in: a local HTTP server that speaks Postmark's JSON API.

Owns `PostmarkStandIn` — the server the rehearsal room, every end-to-end test
and the benchmarks send mail through — and `main()`, which runs it alone.
Its outbox lives in `postmark_store.py`; its fault plan in `postmark_faults.py`.

Pointing the real client at it: postmarker's ``PostmarkClient`` takes the base
URL as its ``root_api_url`` constructor argument (and joins endpoints such as
"/email" onto it with ``urljoin``, so the base must have no path of its own)::

    client = PostmarkClient(server_token=standin.server_token,
                            root_api_url=standin.url, timeout=5)

What it speaks (server token in ``X-Postmark-Server-Token``; a wrong or
missing token is HTTP 401 with ErrorCode 10):

- ``POST /email`` — one message; whole-request errors are HTTP 422 with
  ``{"ErrorCode", "Message"}``: 300 invalid request (bad address, no
  recipient, more than 50 recipients, no body, metadata over Postmark's
  limits), 402 invalid JSON, 406 every recipient inactive, 1235 unknown
  stream, 1236 inbound stream. When only some recipients are inactive the
  message goes to the others with ErrorCode 0 and "Message OK, but will not
  deliver to these inactive addresses: ...", as Postmark does. Over 10 MB is
  HTTP 413.
- ``POST /email/batch`` — up to 500 messages and 50 MB (more: HTTP 422
  ErrorCode 410, or HTTP 413 before the body is read as JSON); HTTP 200 with
  one result per message, in order. A failed message's result is
  ``{"ErrorCode", "Message"}`` only, as Postmark's is; an accepted one has
  ErrorCode 0, Message "OK", MessageID, SubmittedAt and To. The size of every
  batch request is kept in `batch_sizes` (bytes, messages), for tests of how
  senders split.
- ``GET /message-streams`` (``MessageStreamType`` filter) and
  ``GET /message-streams/{id}`` (unknown: 422 ErrorCode 1226).
- ``GET /message-streams/{stream}/suppressions/dump`` (filters
  SuppressionReason, Origin, fromdate, todate, EmailAddress),
  ``POST .../suppressions`` (Origin "Customer", reason "ManualSuppression",
  Status "Suppressed") and ``POST .../suppressions/delete`` (Status "Deleted";
  a SpamComplaint cannot be deleted: Status "Failed"). At most 50 addresses
  per call (ErrorCode 1410).
- ``GET /messages/outbound`` — ``count`` (required, 1..500), ``offset``,
  ``recipient``, ``fromemail``, ``tag``, ``subject``, ``status``,
  ``messagestream``, ``fromdate``/``todate`` and ``metadata_<key>=value``;
  newest first; parameter errors are 422 ErrorCode 700. Without
  ``messagestream`` only the "outbound" stream is searched, as Postmark
  documents (constructor ``search_default_stream=None`` searches all).
  ``GET /messages/outbound/{id}/details`` (unknown: 422 ErrorCode 701).

- ``POST /templates``, ``GET /templates`` (``Count``, ``Offset``),
  ``GET|PUT|DELETE /templates/{id or alias}`` — Standard templates in
  Mustachio (postmark_templates.py), at most 100 per server (ErrorCode
  1105), unknown ones ErrorCode 1101
  (https://postmarkapp.com/developer/api/templates-api; field names as the
  official SDK's ``postmark.models.templates.schemas``). `edit_template` is
  what a change in Postmark's web editor does.
- ``POST /email/batchWithTemplates`` — ``{"Messages": [...]}``, each message
  with ``TemplateId`` or ``TemplateAlias`` and a ``TemplateModel``; up to 500
  messages, one result per message as ``/email/batch`` (a missing template is
  that message's ErrorCode 1101).
- ``POST /email/bulk`` — the content once (``Subject``/``HtmlBody``/``TextBody``
  or ``TemplateId``/``TemplateAlias``) and ``Messages`` of ``To``,
  ``TemplateModel``, ``Metadata`` (merged over the request's), up to 50 MB, on
  a Broadcasts stream only; the reply is ``{"ID", "Status": "Accepted",
  "SubmittedAt"}`` and the messages are made in the background
  (`bulk_delay` seconds first); ``GET /email/bulk/{id}`` tells ``Status``
  (Accepted, Processing, Completed) and ``PercentageCompleted``
  (https://postmarkapp.com/developer/api/bulk-email; the SDK's
  ``BulkEmail``/``BulkRecipient``/``BulkSendStatus``). Postmark enables the
  Bulk API per account on request: with ``bulk_enabled=False`` both answer
  HTTP 422 ErrorCode 405 (the code for an account that may not send this way;
  Postmark does not document the one it uses).

On a Broadcasts stream with Postmark's unsubscribe handling (the default; see
`configure_stream`) ``{{{ pm:unsubscribe }}}`` (spaces optional) in
HtmlBody and TextBody becomes ``{url}unsubscribe/{token}``, a link bound to
the message and its first recipient. GET on it shows a confirmation page with
a button; POST on it — or GET with ``?confirm=1`` — suppresses that recipient
on that stream (Origin "Recipient", ManualSuppression) and emits a
SubscriptionChange webhook. `trigger_bounce`, `trigger_soft_bounce`,
`trigger_spam_complaint`, `trigger_delivery` and `unsubscribe` do the same
from Python (a spam complaint on a Broadcasts stream is a SubscriptionChange
only: Postmark's SpamComplaint webhook is for transactional streams). Every
suppression change (also through the API) emits a SubscriptionChange, as
Postmark does. `set_outcomes(Outcomes(...))` makes exact shares of the
broadcast messages accepted from then on deliver, bounce (hard or soft), draw
a complaint or an unsubscribe, each with its webhooks (payloads and their
documentation: postmark_webhooks.py). Webhooks are POSTed as
JSON in a background thread to the configured URL with HTTP basic auth; each
event and its delivery outcome is kept in `webhook_events`.

Faults (`standin.faults`, see postmark_faults.py) and `standin.latency`
(seconds added before each API call is processed; calls run on their own
threads, so they overlap) are for testing senders against a misbehaving
Postmark. `standin.index_lag` (seconds) is how long an accepted message stays
out of `GET /messages/outbound` and its details: Postmark's search is an index
that shows a message some time after it was accepted, so a search soon after a
send (or after a late processing) does not prove that a message was not taken.
`standin.suppression_lag` (seconds) is how long a suppression created or
deleted through the API takes to apply (the answer, with its per-address
`Status`, comes at once): Postmark processes these asynchronously.
`standin.bandwidth` (bytes per second, None: unlimited) simulates the
sender's uplink: every request's bytes queue on one shared wire before it is
processed. `wire_bytes` counts the bytes of every API request received
(request line, headers and body). `reset()` returns everything to how it was
constructed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import queue
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import getaddresses
from typing import Any

import requests

from bot.standins import postmark_webhooks as webhook_payloads
from bot.standins.postmark_faults import AppliedFault, FaultKind, Faults
from bot.standins.postmark_store import MessageStore, StoredMessage
from bot.standins.postmark_templates import (
    BulkJob,
    BulkJobs,
    MustachioError,
    StoredTemplate,
    TemplateError,
    TemplateStore,
    render_mustachio,
)
from bot.standins.postmark_webhooks import Outcomes
from bot.standins.server import Reply, Request, StandIn
from bot.stopping import stop_on_signals

__all__ = [
    "DEFAULT_SERVER_TOKEN",
    "AppliedFault",
    "Faults",
    "MessageStore",
    "Outcomes",
    "PostmarkStandIn",
    "StoredMessage",
    "Suppression",
    "WebhookEvent",
    "main",
]

DEFAULT_SERVER_TOKEN = "standin-server-token"  # noqa: S105 - a public test token
DEFAULT_STREAMS: dict[str, str] = {"outbound": "Transactional", "broadcast": "Broadcasts"}
STREAM_TYPES = ("Transactional", "Broadcasts", "Inbound")
SUPPRESSION_REASONS = ("HardBounce", "SpamComplaint", "ManualSuppression")
SUPPRESSION_ORIGINS = ("Recipient", "Customer", "Admin")

# "up to 500 messages per API call, and up to 50 MB payload size, including
# attachments" (https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails);
# "Total message size, including attachments, can be 10 MB"
# (https://postmarkapp.com/support/article/1056-what-are-the-attachment-and-email-size-limits).
# MB as 10**6 bytes: the stricter reading, so nothing passes here that Postmark refuses.
MAX_BATCH_MESSAGES = 500
MAX_BATCH_BYTES = 50_000_000
MAX_EMAIL_BYTES = 10_000_000
MAX_RECIPIENTS = 50
MAX_SUPPRESSIONS_PER_CALL = 50
MAX_SEARCH_COUNT = 500
METADATA_MAX_FIELDS = 10
METADATA_MAX_KEY = 20
METADATA_MAX_VALUE = 80

INACTIVE_MESSAGE = (
    "You tried to send to recipient(s) that have been marked as inactive. "
    "Found inactive addresses: {addresses}. Inactive recipients are ones that have "
    "generated a hard bounce, a spam complaint, or a manual suppression."
)

_UNSUBSCRIBE_RE = re.compile(r"\{\{\{\s*pm:unsubscribe\s*\}\}\}")
_EMAIL_RE = re.compile(r"^[^@\s<>\",;()\[\]]+@[^@\s<>\",;()\[\]]+\.[^@\s<>\",;()\[\]]+$")
_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("POST", "/email", re.compile(r"^/email/?$")),
    ("POST", "/email/batch", re.compile(r"^/email/batch/?$")),
    ("POST", "/email/batchWithTemplates", re.compile(r"^/email/batchWithTemplates/?$")),
    ("POST", "/email/bulk", re.compile(r"^/email/bulk/?$")),
    ("GET", "/email/bulk/{id}", re.compile(r"^/email/bulk/(?P<id>[^/]+)/?$")),
    ("GET", "/templates", re.compile(r"^/templates/?$")),
    ("POST", "/templates", re.compile(r"^/templates/?$")),
    ("GET", "/templates/{id}", re.compile(r"^/templates/(?P<id>[^/]+)/?$")),
    ("PUT", "/templates/{id}", re.compile(r"^/templates/(?P<id>[^/]+)/?$")),
    ("DELETE", "/templates/{id}", re.compile(r"^/templates/(?P<id>[^/]+)/?$")),
    ("GET", "/message-streams", re.compile(r"^/message-streams/?$")),
    (
        "GET",
        "/message-streams/{stream}/suppressions/dump",
        re.compile(r"^/message-streams/(?P<stream>[^/]+)/suppressions/dump/?$"),
    ),
    (
        "POST",
        "/message-streams/{stream}/suppressions/delete",
        re.compile(r"^/message-streams/(?P<stream>[^/]+)/suppressions/delete/?$"),
    ),
    (
        "POST",
        "/message-streams/{stream}/suppressions",
        re.compile(r"^/message-streams/(?P<stream>[^/]+)/suppressions/?$"),
    ),
    ("GET", "/message-streams/{stream}", re.compile(r"^/message-streams/(?P<stream>[^/]+)/?$")),
    ("GET", "/messages/outbound", re.compile(r"^/messages/outbound/?$")),
    (
        "GET",
        "/messages/outbound/{id}/details",
        re.compile(r"^/messages/outbound/(?P<id>[^/]+)/details/?$"),
    ),
]


class _ApiError(Exception):
    def __init__(self, code: int, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def reply(self) -> Reply:
        return Reply.json({"ErrorCode": self.code, "Message": self.message}, status=self.status)


@dataclass(frozen=True)
class Suppression:
    """One address on a stream's suppression list."""

    EmailAddress: str
    SuppressionReason: str
    Origin: str
    CreatedAt: datetime

    def as_json(self) -> dict[str, str]:
        return {
            "EmailAddress": self.EmailAddress,
            "SuppressionReason": self.SuppressionReason,
            "Origin": self.Origin,
            "CreatedAt": self.CreatedAt.isoformat(),
        }


@dataclass
class WebhookEvent:
    """A webhook the stand-in emitted, and what became of its delivery.

    `status` is the receiver's HTTP status, `error` the exception text when it
    could not be reached, both None while pending or when no URL is set
    (`url` None: recorded only).
    """

    payload: dict[str, Any]
    url: str | None
    status: int | None = None
    error: str | None = None
    delivered: bool = False
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def record_type(self) -> str:
        return str(self.payload["RecordType"])


@dataclass(frozen=True)
class _Stream:
    id: str
    type: str
    created_at: datetime
    # Postmark's SubscriptionManagementConfiguration.UnsubscribeHandlingType:
    # "Postmark" (the default of a Broadcasts stream) replaces the unsubscribe
    # placeholder and adds the List-Unsubscribe headers; "None" (Transactional,
    # Inbound) and "Custom" do neither (the .NET SDK's model: "Broadcast Message
    # Streams require unsubscribe management, Postmark is default. For Inbound and
    # Transactional Streams default is none.",
    # https://github.com/ActiveCampaign/postmark-dotnet,
    # PostmarkSubscriptionManagementConfiguration).
    unsubscribe_handling: str = ""

    @property
    def handling(self) -> str:
        return self.unsubscribe_handling or ("Postmark" if self.type == "Broadcasts" else "None")

    def as_json(self, server_id: int) -> dict[str, Any]:
        return {
            "ID": self.id,
            "ServerID": server_id,
            "Name": {
                "Transactional": "Default Transactional Stream",
                "Broadcasts": "Default Broadcast Stream",
                "Inbound": "Default Inbound Stream",
            }[self.type]
            if self.id in ("outbound", "broadcast", "inbound")
            else self.id,
            "Description": None,
            "MessageStreamType": self.type,
            "CreatedAt": self.created_at.isoformat(),
            "UpdatedAt": None,
            "ArchivedAt": None,
            "ExpectedPurgeDate": None,
            "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": self.handling},
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_addresses(field_name: str, value: Any) -> list[tuple[str, str]]:
    """[(name, email)] of a To/Cc/Bcc string; raises _ApiError(300) when invalid."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise _ApiError(
            300, f"Invalid '{field_name}' address: a comma separated string is expected."
        )
    simple = not any(c in value for c in ',<";(')
    pairs = [("", value.strip())] if simple else getaddresses([value])
    result = []
    for name, email in pairs:
        if not _EMAIL_RE.match(email):
            shown = email or value
            raise _ApiError(
                300,
                f"Error parsing '{field_name}': Illegal email address '{shown}'. "
                "It must contain the '@' symbol and a valid domain.",
            )
        result.append((name, email))
    return result


def _parse_date(value: str, end_of_day: bool) -> datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end_of_day:
                moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
            return moment
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(value) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class PostmarkStandIn(StandIn):
    """A Postmark server on 127.0.0.1 that records what it is asked to send.

    Args:
        server_token: the token required in X-Postmark-Server-Token; None
            accepts any non-empty token.
        streams: message stream id -> "Transactional" | "Broadcasts" |
            "Inbound"; default {"outbound": Transactional, "broadcast":
            Broadcasts}.
        webhook_url, webhook_user, webhook_password: where webhooks are
            POSTed, with HTTP basic auth when a user is given.
        keep_bodies: False drops HtmlBody/TextBody/Headers on arrival (for
            benchmarks with a million messages).
        server_id: the ServerID reported in streams and webhooks.
        search_default_stream: the stream `GET /messages/outbound` searches
            when no `messagestream` is given (None: all streams).
        webhook_timeout: seconds a webhook delivery may take.
        bulk_enabled: whether the account has the Bulk API.
    """

    # The batch endpoint's 50 MB is Postmark's largest request
    # (https://postmarkapp.com/developer/api/email-api#send-batch-emails).
    max_body_bytes = MAX_BATCH_BYTES

    def refusal(self, status: int, error: str) -> Reply:
        if status == 413:
            return _ApiError(300, "Payload Too Large: the limit is 50 MB.", 413).reply()
        return _ApiError(402, f"Received invalid input ({error}).", status).reply()

    def __init__(
        self,
        server_token: str | None = DEFAULT_SERVER_TOKEN,
        streams: Mapping[str, str] | None = None,
        webhook_url: str | None = None,
        webhook_user: str | None = None,
        webhook_password: str | None = None,
        keep_bodies: bool = True,
        server_id: int = 1,
        search_default_stream: str | None = "outbound",
        webhook_timeout: float = 2.0,
        bulk_enabled: bool = True,
    ) -> None:
        super().__init__()
        streams = dict(DEFAULT_STREAMS if streams is None else streams)
        for stream_id, stream_type in streams.items():
            if stream_type not in STREAM_TYPES:
                raise ValueError(f"stream {stream_id!r}: type must be one of {STREAM_TYPES}")
        self._initial_token = server_token
        self._initial_streams = streams
        self._initial_webhook = (webhook_url, webhook_user, webhook_password)
        self._tokens: list[str] = []
        self._any_token = False
        self.server_token = server_token
        self.keep_bodies = keep_bodies
        self.server_id = server_id
        self.search_default_stream = search_default_stream
        self.webhook_timeout = webhook_timeout
        self.latency = 0.0
        self.index_lag = 0.0
        self.suppression_lag = 0.0
        self._lagging: list[tuple[float, str, str, bool]] = []  # (due, stream, email, create)
        self.bandwidth: float | None = None
        self.bulk_enabled = bulk_enabled
        self.bulk_delay = 0.0
        self.faults = Faults()
        self.store = MessageStore()
        self.batch_sizes: list[tuple[int, int]] = []  # (bytes, messages) of each batch call
        self.templates = TemplateStore()
        self.bulk_jobs = BulkJobs()
        self._wire_lock = threading.Lock()
        self._wire_free = 0.0
        self.wire_bytes = 0
        self._initial_bulk = bulk_enabled
        self._lock = threading.Lock()  # streams, suppressions, webhook config, events
        self._secret = secrets.token_bytes(16)
        created = _now()
        self._streams = {sid: _Stream(sid, st, created) for sid, st in streams.items()}
        self._suppressions: dict[str, dict[str, Suppression]] = {sid: {} for sid in streams}
        self._webhook_url, self._webhook_user, self._webhook_password = (
            webhook_url,
            webhook_user,
            webhook_password,
        )
        self._events: list[WebhookEvent] = []
        self._outcomes: Outcomes | None = None
        self._bounce_ids = 0
        self._generation = 0
        # (reset generation, event, basic-auth credentials): the credentials
        # travel beside the event so that the inspectable events never show them.
        self._outgoing: queue.Queue[tuple[int, WebhookEvent, tuple[str, str] | None]] = (
            queue.Queue()
        )
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ server API tokens

    # A server holds a list of API tokens ("ApiTokens" in the Servers API,
    # https://postmarkapp.com/developer/api/servers-api); its API Tokens tab has
    # "Generate another token", and the existing tokens remain until deleted
    # (https://postmarkapp.com/support/article/1212-can-you-have-more-than-one-account-api-token-at-a-time
    # describes the same page for account tokens). Every listed token is accepted.

    @property
    def server_token(self) -> str | None:
        """The server's first API token (None: any non-empty token is accepted)."""
        tokens = self._tokens
        return tokens[0] if tokens else None

    @server_token.setter
    def server_token(self, value: str | None) -> None:
        """The server's only token from now on (None: accept any)."""
        self._any_token = value is None
        self._tokens = [] if value is None else [value]

    @property
    def server_tokens(self) -> list[str]:
        return list(self._tokens)

    def generate_server_token(self) -> str:
        """API Tokens → "Generate another token": a new token, the old ones still valid."""
        token = str(uuid.uuid4())
        self._tokens = [*self._tokens, token]
        self._any_token = False
        return token

    def delete_server_token(self, token: str) -> None:
        """Delete one token: requests with it are refused (401, ErrorCode 10) from now on.
        The last one is kept (the stand-in's rule: a server without a token sends nothing)."""
        tokens = [t for t in self._tokens if not hmac.compare_digest(t, token)]
        if len(tokens) == len(self._tokens):
            raise ValueError("the server has no such token")
        if not tokens:
            raise ValueError("the server's last token cannot be deleted; generate another first")
        self._tokens = tokens

    def _token_accepted(self, token: str) -> bool:
        if not token:
            return False
        if self._any_token:
            return True
        return any(hmac.compare_digest(token, t) for t in self._tokens)

    # ------------------------------------------------------------------ life cycle

    def start(self, port: int = 0, host: str = "127.0.0.1") -> PostmarkStandIn:
        super().start(port=port, host=host)
        return self

    def reset(self) -> None:
        """Back to the constructed state: empty outbox, no suppressions, no
        faults or latency, no events, the initial token, streams and webhook."""
        self.store.reset()
        self.templates.reset()
        self.bulk_jobs.reset()
        self.faults.clear()
        self.latency = 0.0
        self.batch_sizes = []
        self.index_lag = 0.0
        self.suppression_lag = 0.0
        self.bandwidth = None
        self.bulk_enabled = self._initial_bulk
        self.bulk_delay = 0.0
        with self._wire_lock:
            self._wire_free = 0.0
            self.wire_bytes = 0
        streams = self._initial_streams
        with self._lock:
            self._generation += 1
            self.server_token = self._initial_token
            created = _now()
            self._streams = {sid: _Stream(sid, st, created) for sid, st in streams.items()}
            self._suppressions = {sid: {} for sid in streams}
            self._lagging = []
            self._webhook_url, self._webhook_user, self._webhook_password = self._initial_webhook
            self._events = []
            self._outcomes = None

    # ------------------------------------------------------------------ inspection

    def messages(self, stream: str | None = None) -> list[StoredMessage]:
        """Every accepted message, oldest first (of one stream if given)."""
        if stream is None:
            return self.store.all()
        return self.store.select(lambda m: m.MessageStream == stream)

    def messages_to(self, address: str, stream: str | None = None) -> list[StoredMessage]:
        """Messages delivered to `address` (case-insensitive), oldest first."""
        wanted = address.strip().lower()
        return self.store.select(
            lambda m: wanted in m.Recipients and (stream is None or m.MessageStream == stream)
        )

    def message(self, message_id: str) -> StoredMessage | None:
        return self.store.get(message_id)

    def stream_type(self, stream: str) -> str | None:
        found = self._streams.get(stream)
        return found.type if found else None

    def suppressions(self, stream: str) -> list[Suppression]:
        self._apply_lagging()
        with self._lock:
            return list(self._suppressions.get(stream, {}).values())

    def is_suppressed(self, email: str, stream: str) -> bool:
        self._apply_lagging()
        with self._lock:
            return email.strip().lower() in self._suppressions.get(stream, {})

    @property
    def webhook_events(self) -> list[WebhookEvent]:
        """Every webhook emitted since the last reset, in order."""
        with self._lock:
            return list(self._events)

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every emitted webhook has been delivered (or failed)."""
        deadline = time.monotonic() + timeout
        for event in self.webhook_events:
            if not event.done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def unsubscribe_url(self, message_id: str) -> str:
        """The link `{{{ pm:unsubscribe }}}` becomes in a broadcast message."""
        return f"{self.url}unsubscribe/{self._token(message_id)}"

    # ------------------------------------------------------------------ configuration

    def configure_stream(
        self, stream_id: str, stream_type: str, unsubscribe_handling: str = ""
    ) -> None:
        """Add or change a message stream until the next `reset()` (test set-up):
        `unsubscribe_handling` "Postmark", "None" or "Custom" ("": the type's default)."""
        if stream_type not in STREAM_TYPES:
            raise ValueError(f"stream {stream_id!r}: type must be one of {STREAM_TYPES}")
        if unsubscribe_handling not in ("", "Postmark", "None", "Custom"):
            raise ValueError("UnsubscribeHandlingType must be Postmark, None or Custom")
        with self._lock:
            self._streams = {
                **self._streams,
                stream_id: _Stream(stream_id, stream_type, _now(), unsubscribe_handling),
            }
            self._suppressions.setdefault(stream_id, {})

    def configure_webhook(
        self, url: str | None, user: str | None = None, password: str | None = None
    ) -> None:
        """Where webhooks go from now on (None: only recorded)."""
        with self._lock:
            self._webhook_url, self._webhook_user, self._webhook_password = url, user, password

    def webhook_config(self) -> tuple[str | None, str | None, str | None]:
        """(url, user, password) webhooks are POSTed with now (the rehearsal room, which
        plays Postmark's Webhooks page; never part of a recorded event)."""
        with self._lock:
            return self._webhook_url, self._webhook_user, self._webhook_password

    def suppress(
        self,
        email: str,
        stream: str = "outbound",
        reason: str = "ManualSuppression",
        origin: str = "Customer",
        notify: bool = False,
    ) -> bool:
        """Put an address on a stream's suppression list directly (test set-up).
        Returns False when it already was. `notify` emits a SubscriptionChange."""
        if stream not in self._streams:
            raise ValueError(f"no message stream {stream!r}")
        if reason not in SUPPRESSION_REASONS or origin not in SUPPRESSION_ORIGINS:
            raise ValueError("unknown SuppressionReason or Origin")
        return self._suppress(email, stream, reason, origin, None, notify)

    # ------------------------------------------------------------------ recipient actions

    def unsubscribe(self, message_id_or_email: str, stream: str | None = None) -> bool:
        """A recipient unsubscribes, as through the link: by MessageID (its
        first recipient, its stream) or by address (`stream`, default the
        first Broadcasts stream). Returns False when already suppressed."""
        message = self.store.get(message_id_or_email)
        if message is not None:
            return self._unsubscribe_message(message)
        if stream is None:
            stream = next((s.id for s in self._streams.values() if s.type == "Broadcasts"), None)
            if stream is None:
                raise ValueError("no Broadcasts stream; pass `stream`")
        if stream not in self._streams:
            raise ValueError(f"no message stream {stream!r}")
        return self._suppress(
            message_id_or_email, stream, "ManualSuppression", "Recipient", None, True
        )

    def trigger_bounce(self, message_id: str, email: str | None = None) -> WebhookEvent:
        """The message hard-bounces for `email` (default its first recipient):
        a Bounce webhook, a HardBounce suppression and a SubscriptionChange."""
        event = self._bounce(message_id, email, spam=False)
        assert event is not None  # a Bounce record is always emitted
        return event

    def trigger_spam_complaint(
        self, message_id: str, email: str | None = None
    ) -> WebhookEvent | None:
        """The recipient marks the message as spam: a SpamComplaint suppression and
        a SubscriptionChange; on a transactional stream a SpamComplaint webhook
        first. On a broadcast stream the SubscriptionChange (SuppressionReason
        SpamComplaint) is returned, None when the address was suppressed already."""
        return self._bounce(message_id, email, spam=True)

    # ------------------------------------------------------------------ HTTP

    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/unsubscribe/"):
            return self._unsubscribe_page(request)
        endpoint, params = self._route(request)
        self._apply_lagging()
        self._upload(request)
        kind = self.faults.next_for(endpoint, request.path)
        delay = self.latency
        if kind is not None and kind.startswith("latency:"):
            delay += float(kind.partition(":")[2])
        if delay > 0:
            self.stopping.wait(delay)
        if kind == "held":
            self.faults.hold()
        if kind == "reset":
            return Reply(reset=True)
        if kind == "process_late":
            threading.Thread(
                target=self._process_late,
                args=(request, endpoint, params, self.faults.late_process_seconds),
                name="postmark-process-late",
                daemon=True,
            ).start()
            return Reply(reset=True)
        if kind in ("429", "500", "503"):
            return self._fault_reply(kind)
        reply = self._serve_api(request, endpoint, params)
        if kind == "reply_lost":
            return Reply(reset=True)
        if kind == "reply_late":
            reply.delay = self.faults.late_reply_seconds
        return reply

    def _process_late(
        self, request: Request, endpoint: str, params: dict[str, str], delay: float
    ) -> None:
        generation = self._generation
        if self.stopping.wait(delay) or generation != self._generation:
            return  # stopped or reset meanwhile: the queue is gone too
        self._serve_api(request, endpoint, params)

    def _indexed(self, message: StoredMessage) -> bool:
        """Whether the search index shows the message yet (`index_lag`)."""
        lag = self.index_lag
        return lag <= 0 or (_now() - message.ReceivedAt).total_seconds() >= lag

    def _upload(self, request: Request) -> None:
        """Count the request's bytes and hold it while they cross the uplink."""
        size = (
            len(request.method)
            + len(request.path)
            + 12  # " HTTP/1.1\r\n" and the blank line
            + sum(len(k) + len(v) + 4 for k, v in request.headers.items())
            + len(request.body)
        )
        bandwidth = self.bandwidth
        with self._wire_lock:
            self.wire_bytes += size
            if not bandwidth:
                return
            now = time.monotonic()
            self._wire_free = max(now, self._wire_free) + size / bandwidth
            wait = self._wire_free - now
        self.stopping.wait(wait)

    @staticmethod
    def _fault_reply(kind: str) -> Reply:
        if kind == "429":
            return Reply.json(
                {"ErrorCode": 429, "Message": "Rate limit exceeded. Please retry later."}, 429
            )
        if kind == "500":
            return Reply.json(
                {"ErrorCode": 101, "Message": "Internal server error (stand-in fault)."}, 500
            )
        return Reply.json(
            {"ErrorCode": 100, "Message": "The Postmark API is offline for maintenance."}, 503
        )

    def _route(self, request: Request) -> tuple[str, dict[str, str]]:
        for method, template, pattern in _ROUTES:
            match = pattern.match(request.path)
            if match and method == request.method:
                return template, match.groupdict()
        return request.path, {}

    def _serve_api(self, request: Request, endpoint: str, params: dict[str, str]) -> Reply:
        token = request.headers.get("x-postmark-server-token", "")
        if not self._token_accepted(token):
            return Reply.json(
                {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."},
                401,
            )
        try:
            if endpoint == "/email":
                return self._send_one(request)
            if endpoint == "/email/batch":
                return self._send_batch(request)
            if endpoint == "/email/batchWithTemplates":
                return self._send_batch_with_templates(request)
            if endpoint in ("/email/bulk", "/email/bulk/{id}"):
                return self._bulk(request, params.get("id"))
            if endpoint.startswith("/templates"):
                return self._template_api(request, params.get("id"))
            if endpoint == "/message-streams":
                return self._list_streams(request)
            if endpoint == "/message-streams/{stream}":
                return Reply.json(self._check_stream(params["stream"]).as_json(self.server_id))
            if endpoint == "/message-streams/{stream}/suppressions/dump":
                return self._dump_suppressions(request, params["stream"])
            if endpoint == "/message-streams/{stream}/suppressions":
                return self._change_suppressions(request, params["stream"], delete=False)
            if endpoint == "/message-streams/{stream}/suppressions/delete":
                return self._change_suppressions(request, params["stream"], delete=True)
            if endpoint == "/messages/outbound":
                return self._search(request)
            if endpoint == "/messages/outbound/{id}/details":
                message = self.store.get(params["id"])
                if message is None or not self._indexed(message):
                    raise _ApiError(701, "This message was not found.")
                return Reply.json(message.details_json())
        except _ApiError as error:
            return error.reply()
        return Reply.json({"ErrorCode": 404, "Message": "Not found."}, 404)

    # ------------------------------------------------------------------ sending

    @staticmethod
    def _json_body(request: Request) -> Any:
        if not request.body.strip():
            raise _ApiError(409, "JSON data required. Please provide a request body.")
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise _ApiError(402, "Received invalid JSON input.") from exc

    def _send_one(self, request: Request) -> Reply:
        if len(request.body) > MAX_EMAIL_BYTES:
            raise _ApiError(300, "Payload Too Large: the limit is 10 MB.", status=413)
        data = self._json_body(request)
        if not isinstance(data, dict):
            raise _ApiError(402, "Received invalid JSON input.")
        now = _now()
        message, result = self._accept(data, now)
        if message is None:
            return Reply.json(result, 422)
        self.store.add_many([message])
        self._after_accepted([message])
        return Reply.json(result)

    def _send_batch(self, request: Request) -> Reply:
        if len(request.body) > MAX_BATCH_BYTES:
            raise _ApiError(300, "Payload Too Large: the limit is 50 MB.", status=413)
        data = self._json_body(request)
        if not isinstance(data, list):
            raise _ApiError(402, "Received invalid JSON input: a JSON array is expected.")
        self.batch_sizes.append((len(request.body), len(data)))
        if len(data) > MAX_BATCH_MESSAGES:
            raise _ApiError(
                410, "You may only send up to 500 messages in a single batched request."
            )
        now = _now()
        accepted: list[StoredMessage] = []
        results: list[dict[str, Any]] = []
        for item in data:
            if not isinstance(item, dict):
                results.append({"ErrorCode": 300, "Message": "Invalid email request."})
                continue
            message, result = self._accept(item, now)
            if message is not None:
                accepted.append(message)
            results.append(result)
        self.store.add_many(accepted)
        self._after_accepted(accepted)
        return Reply.json(results)

    # ------------------------------------------------------------------ templates

    def edit_template(self, id_or_alias: str | int, **fields: str) -> StoredTemplate:
        """Change a template as someone in Postmark's web editor would."""
        return self.templates.edit(id_or_alias, fields)

    def _template_api(self, request: Request, template: str | None) -> Reply:
        try:
            if template is None and request.method == "POST":
                created = self.templates.create(self._json_body(request))
                return Reply.json(created.summary())
            if template is None:
                count, offset = _arg(request, "Count"), _arg(request, "Offset") or "0"
                if count is None or not count.isdigit() or not offset.isdigit():
                    raise _ApiError(1100, "'Count' and 'Offset' are required whole numbers.")
                if not 1 <= int(count) <= 500:
                    raise _ApiError(1100, "'Count' must be between 1 and 500.")
                every = sorted(self.templates.all(), key=lambda t: t.TemplateId)
                page = every[int(offset) : int(offset) + int(count)]
                return Reply.json(
                    {"TotalCount": len(every), "Templates": [t.summary() for t in page]}
                )
            if request.method == "GET":
                return Reply.json(self.templates.get(template).as_json(self.server_id))
            if request.method == "PUT":
                edited = self.templates.edit(template, self._json_body(request))
                return Reply.json(edited.summary())
            removed = self.templates.delete(template)
            return Reply.json(
                {"ErrorCode": 0, "Message": f"Template {removed.TemplateId} removed."}
            )
        except TemplateError as error:
            raise _ApiError(error.code, error.message) from None

    def _templated(self, item: dict[str, Any], template: StoredTemplate) -> dict[str, Any]:
        """A templated message as a plain one: the template rendered with its model."""
        model = item.get("TemplateModel") or {}
        if not isinstance(model, dict):
            raise _ApiError(1122, "'TemplateModel' must be an object.")
        data = {
            k: v
            for k, v in item.items()
            if k not in ("TemplateId", "TemplateAlias", "TemplateModel", "InlineCss")
        }
        try:
            data["Subject"] = render_mustachio(template.Subject, model, html=False)
            if self.keep_bodies:
                data["HtmlBody"] = render_mustachio(template.HtmlBody or "", model, html=True)
                data["TextBody"] = render_mustachio(template.TextBody or "", model, html=False)
            else:  # dropped on arrival anyway: only whether there is a body matters
                data["HtmlBody"], data["TextBody"] = template.HtmlBody, template.TextBody
        except MustachioError as exc:
            raise _ApiError(1122, f"The template could not be rendered: {exc}.") from None
        return data

    def _template_of(self, item: dict[str, Any]) -> StoredTemplate:
        wanted = item.get("TemplateId") or item.get("TemplateAlias")
        found = self.templates.find(wanted) if wanted else None
        if found is None:
            raise _ApiError(1101, f"The template '{wanted}' was not found.")
        return found

    def _send_batch_with_templates(self, request: Request) -> Reply:
        if len(request.body) > MAX_BATCH_BYTES:
            raise _ApiError(300, "Payload Too Large: the limit is 50 MB.", status=413)
        data = self._json_body(request)
        messages = data.get("Messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise _ApiError(402, 'Received invalid JSON input: {"Messages": [...]} is expected.')
        if len(messages) > MAX_BATCH_MESSAGES:
            raise _ApiError(
                410, "You may only send up to 500 messages in a single batched request."
            )
        now = _now()
        accepted: list[StoredMessage] = []
        results: list[dict[str, Any]] = []
        for item in messages:
            try:
                if not isinstance(item, dict):
                    raise _ApiError(300, "Invalid email request.")
                plain = self._templated(item, self._template_of(item))
            except _ApiError as error:
                results.append({"ErrorCode": error.code, "Message": error.message})
                continue
            message, result = self._accept(plain, now)
            if message is not None:
                accepted.append(message)
            results.append(result)
        self.store.add_many(accepted)
        self._after_accepted(accepted)
        return Reply.json(results)

    # ------------------------------------------------------------------ bulk

    def _bulk(self, request: Request, job_id: str | None) -> Reply:
        if not self.bulk_enabled:
            raise _ApiError(
                405,
                "The Bulk API is not enabled for this account: contact Postmark's support "
                "to enable it.",
            )
        if job_id is not None:
            job = self.bulk_jobs.get(job_id)
            if job is None:
                return Reply.json({"ErrorCode": 404, "Message": "Bulk request not found."}, 404)
            return Reply.json(job.status_json())
        if len(request.body) > MAX_BATCH_BYTES:
            raise _ApiError(300, "Payload Too Large: the limit is 50 MB.", status=413)
        data = self._json_body(request)
        if not isinstance(data, dict):
            raise _ApiError(402, "Received invalid JSON input.")
        recipients = data.get("Messages")
        if not isinstance(recipients, list) or not recipients:
            raise _ApiError(300, "Zero recipients specified.")
        stream = self._streams.get(str(data.get("MessageStream") or "outbound"))
        if stream is None:
            raise _ApiError(1235, "The 'MessageStream' provided does not exist on this server.")
        if stream.type != "Broadcasts":
            raise _ApiError(300, "The Bulk API sends on Broadcasts message streams only.")
        common = {k: v for k, v in data.items() if k != "Messages"}
        if common.get("TemplateId") or common.get("TemplateAlias"):
            template = self._template_of(common)
        else:
            template = StoredTemplate(
                0,
                "bulk",
                None,
                str(common.get("Subject") or ""),
                common.get("HtmlBody"),
                common.get("TextBody"),
            )
        job = self.bulk_jobs.add(len(recipients), template.Subject)
        threading.Thread(
            target=self._process_bulk,
            args=(job, common, template, recipients),
            name="postmark-bulk",
            daemon=True,
        ).start()
        return Reply.json(
            {"ID": job.id, "Status": job.status, "SubmittedAt": job.submitted_at.isoformat()}
        )

    def _process_bulk(
        self,
        job: BulkJob,
        common: dict[str, Any],
        template: StoredTemplate,
        recipients: list[Any],
    ) -> None:
        if self.bulk_delay:
            self.stopping.wait(self.bulk_delay)
        job.status = "Processing"
        now = _now()
        base_metadata = common.get("Metadata") or {}
        accepted: list[StoredMessage] = []
        for item in recipients:
            if isinstance(item, dict):
                metadata = {**base_metadata, **(item.get("Metadata") or {})}
                data = {
                    **{
                        k: v
                        for k, v in common.items()
                        if k not in ("Subject", "HtmlBody", "TextBody", "Metadata")
                    },
                    **{k: v for k, v in item.items() if k != "Metadata"},
                    "Metadata": metadata,
                }
                try:
                    message, _ = self._accept(self._templated(data, template), now)
                except _ApiError:
                    message = None
                if message is not None:
                    accepted.append(message)
            job.done += 1
            if len(accepted) >= MAX_BATCH_MESSAGES:
                self.store.add_many(accepted)
                self._after_accepted(accepted)
                accepted = []
        self.store.add_many(accepted)
        self._after_accepted(accepted)
        job.status = "Completed"

    def _accept(
        self, data: dict[str, Any], now: datetime
    ) -> tuple[StoredMessage | None, dict[str, Any]]:
        """Validate and render one message; (message, result) or (None, error)."""
        try:
            return self._build(data, now)
        except _ApiError as error:
            return None, {"ErrorCode": error.code, "Message": error.message}

    def _build(self, data: dict[str, Any], now: datetime) -> tuple[StoredMessage, dict[str, Any]]:
        stream_id = data.get("MessageStream") or "outbound"
        stream = self._streams.get(stream_id) if isinstance(stream_id, str) else None
        if stream is None:
            raise _ApiError(1235, "The 'MessageStream' provided does not exist on this server.")
        if stream.type == "Inbound":
            raise _ApiError(
                1236,
                "Sending is not supported on the supplied 'MessageStream'. "
                "Sending is not possible with Inbound Message Streams.",
            )
        sender = data.get("From")
        if not sender or not isinstance(sender, str):
            raise _ApiError(300, "Invalid 'From' address: no sender specified.")
        _parse_addresses("From", sender)
        to, cc, bcc = data.get("To"), data.get("Cc"), data.get("Bcc")
        addresses = (
            _parse_addresses("To", to) + _parse_addresses("Cc", cc) + _parse_addresses("Bcc", bcc)
        )
        if not addresses:
            raise _ApiError(300, "Zero recipients specified.")
        if len(addresses) > MAX_RECIPIENTS:
            raise _ApiError(
                300,
                f"Too many recipients: {len(addresses)}. You can send to at most "
                f"{MAX_RECIPIENTS} recipients (To, Cc and Bcc combined) per message.",
            )
        html_body, text_body = data.get("HtmlBody"), data.get("TextBody")
        if not html_body and not text_body:
            raise _ApiError(300, "Provide either email TextBody or HtmlBody or both.")
        metadata = data.get("Metadata") or None
        if metadata is not None:
            _check_metadata(metadata)
            metadata = {sys.intern(k): _intern(v) for k, v in metadata.items()}
        emails = list(dict.fromkeys(email.lower() for _, email in addresses))
        if len(emails) == 1 and emails[0] == to:
            emails[0] = to  # share the string: a million messages add up
        suppressed = self._suppressions.get(stream.id, {})
        inactive = [email for email in emails if email in suppressed]
        if inactive and len(inactive) == len(emails):
            raise _ApiError(406, INACTIVE_MESSAGE.format(addresses=", ".join(inactive)))
        active = tuple(email for email in emails if email not in suppressed)
        message_id = self.store.new_id()
        if stream.type == "Broadcasts" and stream.handling == "Postmark" and self.keep_bodies:
            link = None
            if isinstance(html_body, str) and "pm:unsubscribe" in html_body:
                link = self.unsubscribe_url(message_id)
                html_body = _UNSUBSCRIBE_RE.sub(link, html_body)
            if isinstance(text_body, str) and "pm:unsubscribe" in text_body:
                link = link or self.unsubscribe_url(message_id)
                text_body = _UNSUBSCRIBE_RE.sub(link, text_body)
        headers = data.get("Headers") or None
        attachments = data.get("Attachments") or ()
        message = StoredMessage(
            MessageID=message_id,
            To=to or "",
            Cc=cc or None,
            Bcc=bcc or None,
            From=sys.intern(sender),
            Subject=_intern(data.get("Subject")),
            HtmlBody=html_body if self.keep_bodies else None,
            TextBody=text_body if self.keep_bodies else None,
            MessageStream=stream.id,
            Tag=_intern(data.get("Tag") or None),
            Metadata=metadata,
            Headers=headers if self.keep_bodies else None,
            ReceivedAt=now,
            Recipients=active,
            ReplyTo=data.get("ReplyTo") or None,
            TrackOpens=data.get("TrackOpens"),
            TrackLinks=data.get("TrackLinks"),
            Attachments=tuple(str(a.get("Name", "")) for a in attachments if isinstance(a, dict)),
        )
        result = {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "SubmittedAt": now.isoformat(),
            "To": to,
        }
        if inactive:
            result["Message"] = (
                "Message OK, but will not deliver to these inactive addresses: "
                + ", ".join(inactive)
            )
        return message, result

    # ------------------------------------------------------------------ streams & suppressions

    def _check_stream(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise _ApiError(1226, "The message stream for the provided 'ID' was not found.")
        return stream

    def _list_streams(self, request: Request) -> Reply:
        wanted = (_arg(request, "MessageStreamType") or "All").lower()
        if wanted not in ("all", "transactional", "broadcasts", "inbound"):
            raise _ApiError(
                1221, "The 'MessageStreamType' associated with this request was invalid."
            )
        streams = [
            s.as_json(self.server_id)
            for s in self._streams.values()
            if wanted == "all" or s.type.lower() == wanted
        ]
        return Reply.json({"MessageStreams": streams, "TotalCount": len(streams)})

    def _dump_suppressions(self, request: Request, stream_id: str) -> Reply:
        self._check_stream(stream_id)
        reason = _arg(request, "SuppressionReason")
        origin = _arg(request, "Origin")
        email = _arg(request, "EmailAddress")
        if reason and reason.lower() not in {r.lower() for r in SUPPRESSION_REASONS}:
            raise _ApiError(1404, "Parameter 'SuppressionReason' is invalid.")
        if origin and origin.lower() not in {o.lower() for o in SUPPRESSION_ORIGINS}:
            raise _ApiError(1405, "Parameter 'Origin' is invalid.")
        try:
            since = _parse_date(f, False) if (f := _arg(request, "fromdate")) else None
            until = _parse_date(t, True) if (t := _arg(request, "todate")) else None
        except ValueError as exc:
            raise _ApiError(1407, f"Invalid date: {exc}.") from exc
        rows = [
            s.as_json()
            for s in self.suppressions(stream_id)
            if (not reason or s.SuppressionReason.lower() == reason.lower())
            and (not origin or s.Origin.lower() == origin.lower())
            and (not email or s.EmailAddress.lower() == email.strip().lower())
            and (since is None or s.CreatedAt >= since)
            and (until is None or s.CreatedAt <= until)
        ]
        return Reply.json({"Suppressions": rows})

    def _change_suppressions(self, request: Request, stream_id: str, delete: bool) -> Reply:
        self._check_stream(stream_id)
        try:
            data = self._json_body(request)
        except _ApiError as exc:
            raise _ApiError(1409, "A proper request body must be provided.") from exc
        entries = data.get("Suppressions") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise _ApiError(1409, "A proper request body must be provided.")
        if len(entries) > MAX_SUPPRESSIONS_PER_CALL:
            raise _ApiError(
                1410, "You cannot provide more than 50 suppressions in a single request."
            )
        results = []
        for entry in entries:
            email = entry.get("EmailAddress") if isinstance(entry, dict) else None
            if not isinstance(email, str) or not _EMAIL_RE.match(email.strip()):
                results.append(
                    {
                        "EmailAddress": email,
                        "Status": "Failed",
                        "Message": "An invalid email address was provided.",
                    }
                )
                continue
            if delete:
                ok = self._unsuppress(email, stream_id, apply=not self.suppression_lag)
                results.append(
                    {"EmailAddress": email, "Status": "Deleted", "Message": None}
                    if ok
                    else {
                        "EmailAddress": email,
                        "Status": "Failed",
                        "Message": "You do not have the required authority to change this "
                        "suppression.",
                    }
                )
            elif self.suppression_lag:
                self._lag(stream_id, email, create=True)
                results.append({"EmailAddress": email, "Status": "Suppressed", "Message": None})
            else:
                self._suppress(email, stream_id, "ManualSuppression", "Customer", None, True)
                results.append({"EmailAddress": email, "Status": "Suppressed", "Message": None})
        return Reply.json({"Suppressions": results})

    def _suppress(
        self,
        email: str,
        stream_id: str,
        reason: str,
        origin: str,
        message: StoredMessage | None,
        notify: bool,
    ) -> bool:
        key = email.strip().lower()
        now = _now()
        with self._lock:
            table = self._suppressions.setdefault(stream_id, {})
            if key in table:
                return False
            # Copy-on-write, so that senders reading the table never see it change.
            table = dict(table)
            table[key] = Suppression(email.strip(), reason, origin, now)
            self._suppressions[stream_id] = table
        if notify:
            self._emit(
                self._subscription_change(key, stream_id, origin, reason, True, message, now)
            )
        return True

    def _lag(self, stream_id: str, email: str, *, create: bool) -> None:
        """Apply a suppression create/delete only `suppression_lag` seconds from
        now, as Postmark does: "Requests are processed asynchronously and can
        take a minute until they become active"
        (https://github.com/wildbit/postmark-php/wiki/Managing-Suppressions).
        Until then the dump and the sending path see the address as before."""
        due = time.monotonic() + self.suppression_lag
        with self._lock:
            self._lagging.append((due, stream_id, email, create))

    def _apply_lagging(self) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._lagging or self._lagging[0][0] > now:
                return
            due = [item for item in self._lagging if item[0] <= now]
            self._lagging = [item for item in self._lagging if item[0] > now]
        for _, stream_id, email, create in due:
            if create:
                self._suppress(email, stream_id, "ManualSuppression", "Customer", None, True)
            else:
                self._unsuppress(email, stream_id)

    def _unsuppress(self, email: str, stream_id: str, *, apply: bool = True) -> bool:
        """Lift a suppression (False: Postmark will not, a spam complaint);
        `apply=False` answers now and applies it after `suppression_lag`."""
        key = email.strip().lower()
        now = _now()
        with self._lock:
            table = self._suppressions.setdefault(stream_id, {})
            existing = table.get(key)
            if existing is not None and existing.SuppressionReason == "SpamComplaint":
                return False
            if existing is None:
                return True
        if not apply:
            self._lag(stream_id, email, create=False)
            return True
        with self._lock:
            table = self._suppressions.setdefault(stream_id, {})
            if key not in table:
                return True
            table = dict(table)
            del table[key]
            self._suppressions[stream_id] = table
        self._emit(self._subscription_change(key, stream_id, "Customer", None, False, None, now))
        return True

    # ------------------------------------------------------------------ search

    def _search(self, request: Request) -> Reply:
        args = {k.lower(): v[0] for k, v in request.query.items() if v}
        count_text, offset_text = args.get("count"), args.get("offset", "0")
        if count_text is None:
            raise _ApiError(700, "The 'count' parameter is required.")
        try:
            count, offset = int(count_text), int(offset_text)
        except ValueError as exc:
            raise _ApiError(700, "'count' and 'offset' must be integers.") from exc
        if not 1 <= count <= MAX_SEARCH_COUNT or offset < 0:
            raise _ApiError(
                700, f"'count' must be between 1 and {MAX_SEARCH_COUNT}, 'offset' at least 0."
            )
        status = args.get("status")
        if status is not None and status.lower() not in ("queued", "sent", "processed"):
            raise _ApiError(700, "Invalid 'status'.")
        metadata = {
            key[len("metadata_") :]: value
            for key, values in request.query.items()
            if key.lower().startswith("metadata_") and values
            for value in values[:1]
        }
        stream = args.get("messagestream") or self.search_default_stream
        recipient = (args.get("recipient") or "").strip().lower() or None
        tag, subject = args.get("tag"), args.get("subject")
        fromemail = (args.get("fromemail") or "").lower() or None
        try:
            since = _parse_date(args["fromdate"], False) if args.get("fromdate") else None
            until = _parse_date(args["todate"], True) if args.get("todate") else None
        except ValueError as exc:
            raise _ApiError(700, f"Invalid date: {exc}.") from exc
        if status is not None and status.lower() == "queued":
            return Reply.json({"TotalCount": 0, "Messages": []})

        def matches(m: StoredMessage) -> bool:
            if stream is not None and m.MessageStream != stream:
                return False
            if not self._indexed(m):
                return False
            if recipient is not None and recipient not in m.Recipients:
                return False
            if tag is not None and m.Tag != tag:
                return False
            if subject is not None and m.Subject != subject:
                return False
            if fromemail is not None and fromemail not in m.From.lower():
                return False
            if since is not None and m.ReceivedAt < since:
                return False
            return until is None or m.ReceivedAt <= until

        page: list[dict[str, Any]] = []
        total = 0
        # The metadata pairs are matched by the store's index, which yields only the
        # messages carrying all of them.
        candidates = (
            self.store.iter_with_metadata_newest_first(metadata)
            if metadata
            else self.store.iter_newest_first()
        )
        for message in candidates:
            if matches(message):
                if offset <= total < offset + count:
                    page.append(message.search_json())
                total += 1
        return Reply.json({"TotalCount": total, "Messages": page})

    # ------------------------------------------------------------------ unsubscribe link

    def _token(self, message_id: str) -> str:
        digest = hashlib.blake2b(message_id.encode(), key=self._secret, digest_size=8).hexdigest()
        return f"{message_id}.{digest}"

    def _message_for_token(self, token: str) -> StoredMessage | None:
        message_id, _, digest = token.partition(".")
        if not hmac.compare_digest(self._token(message_id), f"{message_id}.{digest}"):
            return None
        return self.store.get(message_id)

    def _unsubscribe_message(self, message: StoredMessage) -> bool:
        recipient = message.Recipients[0] if message.Recipients else None
        if recipient is None:
            return False
        return self._suppress(
            recipient, message.MessageStream, "ManualSuppression", "Recipient", message, True
        )

    def _unsubscribe_page(self, request: Request) -> Reply:
        token = request.path[len("/unsubscribe/") :].strip("/")
        message = self._message_for_token(token)
        if message is None or not message.Recipients:
            return Reply.html(
                _page("Link not valid", "<p>This unsubscribe link is not valid.</p>"), 404
            )
        email = html.escape(message.Recipients[0])
        stream = html.escape(message.MessageStream)
        if request.method == "POST" or request.arg("confirm") == "1":
            self._unsubscribe_message(message)
            body = f"<p>{email} will no longer receive messages from this list ({stream}).</p>"
            return Reply.html(_page("You have been unsubscribed", body))
        if request.method != "GET":
            return Reply.html(_page("Not allowed", "<p>Use GET or POST.</p>"), 405)
        body = (
            f"<p>Stop sending {email} messages from this list ({stream})?</p>"
            f'<form method="post" action="/unsubscribe/{html.escape(token)}">'
            '<button type="submit">Unsubscribe</button></form>'
        )
        return Reply.html(_page("Unsubscribe", body))

    # ------------------------------------------------------------------ webhooks

    def _subscription_change(
        self,
        email: str,
        stream_id: str,
        origin: str,
        reason: str | None,
        suppress: bool,
        message: StoredMessage | None,
        when: datetime,
    ) -> dict[str, Any]:
        return webhook_payloads.subscription_change(
            email,
            stream_id,
            self.server_id,
            when,
            origin=origin,
            reason=reason,
            suppress=suppress,
            message=message,
        )

    def _next_bounce_id(self) -> int:
        with self._lock:
            self._bounce_ids += 1
            return self._bounce_ids

    def _recipient(self, message_id: str, email: str | None) -> tuple[StoredMessage, str]:
        message = self.store.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id!r}")
        recipient = (email or (message.Recipients[0] if message.Recipients else "")).lower()
        if not recipient:
            raise ValueError("the message has no recipient")
        return message, recipient

    def _bounce(self, message_id: str, email: str | None, spam: bool) -> WebhookEvent | None:
        message, recipient = self._recipient(message_id, email)
        now = _now()
        bounce_id = self._next_bounce_id()
        if spam and self.stream_type(message.MessageStream) == "Broadcasts":
            # No SpamComplaint record on a broadcast stream: the complaint is
            # told as the stream's suppression list changing (see postmark_webhooks).
            created = self._suppress(
                recipient, message.MessageStream, "SpamComplaint", "Recipient", message, False
            )
            if not created:
                return None
            return self._emit(
                self._subscription_change(
                    recipient,
                    message.MessageStream,
                    "Recipient",
                    "SpamComplaint",
                    True,
                    message,
                    now,
                )
            )
        if spam:
            payload = webhook_payloads.spam_complaint(
                message, recipient, self.server_id, now, bounce_id=bounce_id
            )
        else:
            payload = webhook_payloads.bounce(
                message, recipient, self.server_id, now, bounce_id=bounce_id
            )
        event = self._emit(payload)
        self._suppress(
            recipient,
            message.MessageStream,
            "SpamComplaint" if spam else "HardBounce",
            "Recipient",
            message,
            True,
        )
        return event

    def trigger_soft_bounce(self, message_id: str, email: str | None = None) -> WebhookEvent:
        """The message soft-bounces: a Bounce webhook (Inactive false), no suppression."""
        message, recipient = self._recipient(message_id, email)
        payload = webhook_payloads.bounce(
            message, recipient, self.server_id, _now(), bounce_id=self._next_bounce_id(), soft=True
        )
        return self._emit(payload)

    def trigger_delivery(self, message_id: str, email: str | None = None) -> WebhookEvent:
        """The receiving server accepted the message: a Delivery webhook."""
        message, recipient = self._recipient(message_id, email)
        return self._emit(webhook_payloads.delivery(message, recipient, self.server_id, _now()))

    def set_outcomes(self, outcomes: Outcomes | None) -> None:
        """What becomes of each broadcast message accepted from now on (None: nothing,
        no webhooks — the default, so that a million-message benchmark sends none)."""
        with self._lock:
            self._outcomes = outcomes

    def _after_accepted(self, messages: list[StoredMessage]) -> None:
        """Play the outcome plan for newly accepted messages (after they are stored)."""
        plan = self._outcomes
        if plan is None:
            return
        planned = [
            m
            for m in messages
            if m.Recipients
            and self.stream_type(m.MessageStream) == "Broadcasts"
            and (plan.only_stream is None or m.MessageStream == plan.only_stream)
        ]
        for message, outcome in zip(planned, plan.next_batch(len(planned)), strict=True):
            if outcome == "hard_bounce":
                self.trigger_bounce(message.MessageID)
                continue
            if outcome == "soft_bounce":
                self.trigger_soft_bounce(message.MessageID)
                continue
            if plan.deliver:
                self.trigger_delivery(message.MessageID)
            if outcome == "complaint":
                self.trigger_spam_complaint(message.MessageID)
            elif outcome == "unsubscribe":
                self._unsubscribe_message(message)

    def _emit(self, payload: dict[str, Any]) -> WebhookEvent:
        with self._lock:
            event = WebhookEvent(payload=payload, url=self._webhook_url)
            auth = (
                (self._webhook_user, self._webhook_password or "")
                if self._webhook_user is not None
                else None
            )
            self._events.append(event)
            generation = self._generation
        if event.url is None:
            event.done.set()
            return event
        self._ensure_worker()
        self._outgoing.put((generation, event, auth))
        return event

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._deliver_forever, name="postmark-webhooks", daemon=True
                )
                self._worker.start()

    def _deliver_forever(self) -> None:
        while True:
            generation, event, auth = self._outgoing.get()
            try:
                if generation != self._generation or event.url is None:
                    event.error = "dropped by reset"
                    continue
                try:
                    response = requests.post(
                        event.url,
                        data=json.dumps(event.payload, ensure_ascii=False).encode("utf-8"),
                        headers={"Content-Type": "application/json; charset=utf-8"},
                        auth=auth,
                        timeout=self.webhook_timeout,
                    )
                    event.status = response.status_code
                    event.delivered = 200 <= response.status_code < 300
                except requests.RequestException as exc:
                    event.error = f"{type(exc).__name__}: {exc}"
            finally:
                event.done.set()


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise _ApiError(300, "'Metadata' must be an object of string values.")
    if len(metadata) > METADATA_MAX_FIELDS:
        raise _ApiError(300, f"'Metadata' may have at most {METADATA_MAX_FIELDS} fields.")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY:
            raise _ApiError(
                300, f"Metadata field name '{key}' is longer than {METADATA_MAX_KEY} characters."
            )
        if not isinstance(value, str | int | float) or len(str(value)) > METADATA_MAX_VALUE:
            raise _ApiError(
                300,
                f"Metadata value for '{key}' must be a string of at most "
                f"{METADATA_MAX_VALUE} characters.",
            )


def _intern(value: Any) -> Any:
    """Share equal strings (subjects, tags, metadata repeated across a send)."""
    return sys.intern(value) if isinstance(value, str) else value


def _arg(request: Request, name: str) -> str | None:
    """A query parameter by case-insensitive name (Postmark's are)."""
    wanted = name.lower()
    for key, values in request.query.items():
        if key.lower() == wanted and values:
            return values[0]
    return None


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _fault_kinds(kinds: Iterable[str]) -> list[FaultKind]:
    return [None if k in ("", "none", "None") else k for k in kinds]


def main(argv: list[str] | None = None) -> int:
    """Run the Postmark stand-in alone until Ctrl-C; prints its base URL."""
    parser = argparse.ArgumentParser(
        prog="postmark-standin", description="Run the local Postmark stand-in."
    )
    parser.add_argument("--port", type=int, default=8026, help="port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--token",
        default=DEFAULT_SERVER_TOKEN,
        help="server token to require; 'any' accepts every token",
    )
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-user", default=None)
    parser.add_argument("--webhook-password", default=None)
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated fault kinds for the next API calls, e.g. 503,reply_lost,none",
    )
    args = parser.parse_args(argv)
    standin = PostmarkStandIn(
        server_token=None if args.token == "any" else args.token,  # noqa: S105
        webhook_url=args.webhook_url,
        webhook_user=args.webhook_user,
        webhook_password=args.webhook_password,
    )
    if args.faults:
        standin.faults.script(_fault_kinds(args.faults.split(",")))
    standin.start(port=args.port, host=args.host)
    print(f"Postmark stand-in listening on {standin.url}", flush=True)
    stop_on_signals(on_stop=standin.stopping.set)
    try:
        standin.stopping.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
