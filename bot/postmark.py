"""The one Postmark gateway: every call Countersign makes to Postmark goes here.

Two pipes, kept apart by the type of each method (invariant 1):
- `send_transactional(to, …)` takes exactly one address as a `str` and sends
  it on the transactional stream; anything else is a programming error and raises.
- `send_broadcast_batch(messages)` sends up to 500 prepared messages on the
  broadcast stream; only the delivery engine calls it, only for approved issues.
  A batch is bounded by bytes too (Postmark takes at most 50 MB a request):
  `batch_count(largest_message)` says how many messages fit one request, and a
  request over the limit is refused here (`BatchTooLarge`) before it is sent.
  JSON goes out as UTF-8 (RFC 8259's encoding, which Postmark reads): a Japanese
  character is 3 bytes instead of the 6 of a `\\uXXXX` escape.
  `send_broadcast_encoded(bodies, recipients)` is the same call for messages
  already encoded by a `BroadcastEncoder` the gateway handed out (the engine's
  fast path: a send's constant fields are JSON-encoded once); the gateway checks
  that every body ends with its own broadcast stream before anything is sent.

The content-once variants (bot.transports): `send_templated_encoded` posts
`/email/batchWithTemplates` messages from a `TemplatedEncoder` (each message
names a template and carries only its recipient's `TemplateModel`), and
`send_bulk_encoded` one `/email/bulk` request from a `BulkEncoder`; templates
are managed by `create_template`, `get_template`, `list_templates` and
`delete_template`, a bulk request is followed by `bulk_status`. Field names as
Postmark documents them (https://postmarkapp.com/developer/api/templates-api,
https://postmarkapp.com/developer/api/bulk-email) and as the official
postmark-python SDK's models spell them (`TemplateEmail`, `Template`,
`BulkEmail`, `BulkRecipient`, `BulkSendResponse`, `BulkSendStatus`). Requests
over Postmark's 50 MB are refused here (`BatchTooLarge`) on every path.

Errors are classified by what a caller may safely do next:
- `NotSent`: Postmark certainly did not take the request (429, connection
  refused, connect timeout) — retry after a pause.
- `FateUnknown`: the request may have been processed (read timeout, reset
  connection, 5xx) — reconcile through `search_outbound` before re-sending.
- `Refused`: Postmark answered with an error code (401, 422, …) — do not retry.

postmarker's client `repr()` contains the server token, so clients are never
logged or put in messages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, NamedTuple
from urllib.parse import urljoin

import requests
from postmarker.core import USER_AGENT, PostmarkClient
from postmarker.exceptions import ClientError

from bot.addresses import normalise

BATCH_LIMIT = 500
# "The batch endpoint accepts up to 500 messages per API call, and up to 50 MB payload
# size" (https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails).
# MB read as 10**6, the stricter reading; a request is filled to 90 % of it, so that
# headers and Postmark's own accounting never tip it over.
BATCH_BYTES_LIMIT = 50_000_000
BATCH_BYTES = 45_000_000
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 30.0


class PostmarkError(Exception):
    pass


class NotSent(PostmarkError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class FateUnknown(PostmarkError):
    pass


class Refused(PostmarkError):
    def __init__(self, code: int, message: str, status: int) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.status = status


class BatchTooLarge(Refused):
    """A batch over Postmark's request limit: refused here, before anything is sent
    (Postmark would refuse it too). Not worth retrying as it is."""

    def __init__(self, size: int) -> None:
        super().__init__(
            413,
            f"the batch is {size:,} bytes, over Postmark's {BATCH_BYTES_LIMIT:,}-byte limit",
            413,
        )


def batch_count(
    largest_message: int, *, count: int = BATCH_LIMIT, budget: int = BATCH_BYTES
) -> int:
    """How many messages of at most `largest_message` bytes each one `/email/batch`
    request may hold: at most `count`, and their JSON array ("[", the messages, a
    comma between each two, "]") at most `budget` bytes. Every transport that
    batches calls this. ValueError when not even one message fits."""
    if largest_message <= 0 or count <= 0:
        raise ValueError("a message has at least one byte, a batch at least one message")
    fits = (budget - 1) // (largest_message + 1)  # n messages: n * (size + 1) + 1 bytes
    if fits < 1:
        raise ValueError(f"one message of {largest_message:,} bytes is over the batch budget")
    return min(count, fits)


@dataclass(frozen=True)
class BroadcastMessage:
    to: str
    subject: str
    html: str
    text: str
    sender: str
    tag: str
    metadata: dict[str, str] = field(default_factory=dict)

    def wire(self, stream: str) -> dict[str, Any]:
        return {
            "From": self.sender,
            "To": self.to,
            "Subject": self.subject,
            "HtmlBody": self.html,
            "TextBody": self.text,
            "Tag": self.tag,
            "Metadata": self.metadata,
            "MessageStream": stream,
            "TrackOpens": False,
            "TrackLinks": "None",
        }


def json_string(value: str) -> str:
    """`value` as a JSON string literal, quotes included, non-ASCII kept: exactly
    what `json.dumps(value, ensure_ascii=False)` gives (the same C function),
    without its dispatch. Encoded as UTF-8 on the wire."""
    return str(encode_basestring(value))


_BROADCAST_TAIL = ',"MessageStream":{},"TrackOpens":false,"TrackLinks":"None"}}'


class BroadcastEncoder:
    """One send's broadcast messages as JSON objects, the send's constant fields
    (From, Tag, MessageStream, tracking) encoded once. The result is JSON-equal
    to `BroadcastMessage(...).wire(stream)`; only the gateway makes one (so the
    stream is its own), and `send_broadcast_encoded` checks the stream's tail."""

    __slots__ = ("_head", "_middle", "_tail")

    def __init__(self, *, sender: str, tag: str, stream: str) -> None:
        self._head = '{"From":' + json_string(sender) + ',"To":'
        self._middle = ',"Tag":' + json_string(tag) + ',"Metadata":'
        self._tail = _BROADCAST_TAIL.format(json_string(stream))

    def encode(
        self, to: str, subject_json: str, html_json: str, text_json: str, metadata_json: str
    ) -> bytes:
        """One message, as UTF-8; the `*_json` arguments are JSON literals
        (`json_string`, or a JSON object for the metadata)."""
        return "".join(
            (
                self._head,
                json_string(to),
                ',"Subject":',
                subject_json,
                ',"HtmlBody":',
                html_json,
                ',"TextBody":',
                text_json,
                self._middle,
                metadata_json,
                self._tail,
            )
        ).encode("utf-8", "replace")  # a lone surrogate (typed.storable drops them) as "?"


# What each pipe must be at Postmark (invariant 1). A Broadcasts stream whose
# unsubscribe handling is not Postmark's ("None", "Custom") gets neither the
# unsubscribe link for `{{{ pm:unsubscribe }}}` nor the List-Unsubscribe headers.
# Field names and values: GET /message-streams/{id}
# (https://postmarkapp.com/support/article/1215-managing-message-streams-with-postmarks-api)
# and postmark.js's MessageStream model (UnsubscribeHandlingTypes None | Postmark | Custom,
# https://app.unpkg.com/postmark@4.0.5/files/dist/client/models/streams/MessageStream.d.ts).
BROADCASTS = "Broadcasts"
TRANSACTIONAL = "Transactional"
UNSUBSCRIBE_BY_POSTMARK = "Postmark"
STREAM_NOT_FOUND = 1226  # Postmark's ErrorCode for an unknown stream id


@dataclass(frozen=True)
class StreamInfo:
    """A message stream as Postmark describes it."""

    id: str
    type: str
    unsubscribe_handling: str


@dataclass(frozen=True)
class PipeProblem:
    """Why one of the two pipes must not be used, and which setting to fix.

    `code`: `missing` (no such stream), `wrong_type`, `no_unsubscribe` (a
    Broadcasts stream without Postmark's unsubscribe handling)."""

    code: str
    setting: str
    stream: str
    found: str
    wanted: str

    def sentence(self) -> str:
        """One English line for the logs, `run` and `countersign check`."""
        if self.code == "missing":
            return (
                f"{self.setting}: there is no message stream {self.stream!r} on this Postmark "
                f"server; create a {self.wanted} stream or set {self.setting} to the one you have."
            )
        if self.code == "wrong_type":
            return (
                f"{self.setting}: {self.stream!r} is a {self.found} stream, not {self.wanted}; "
                f"point {self.setting} at a {self.wanted} stream (broadcasts and one-to-one "
                "mail never share a stream)."
            )
        return (
            f"{self.setting}: the broadcast stream {self.stream!r} has unsubscribe handling "
            f"{self.found!r}, not {self.wanted!r}, so Postmark would add neither the "
            "unsubscribe link nor the List-Unsubscribe headers; set it to Postmark in the "
            "stream's settings."
        )


def pipe_problem(
    role: str, setting: str, stream: str, info: StreamInfo | None
) -> PipeProblem | None:
    """What is wrong with `stream` as the `role` pipe (BROADCASTS or TRANSACTIONAL)."""
    if info is None:
        return PipeProblem("missing", setting, stream, "", role)
    if info.type != role:
        return PipeProblem("wrong_type", setting, stream, info.type, role)
    if role == BROADCASTS and info.unsubscribe_handling != UNSUBSCRIBE_BY_POSTMARK:
        return PipeProblem(
            "no_unsubscribe", setting, stream, info.unsubscribe_handling, UNSUBSCRIBE_BY_POSTMARK
        )
    return None


_TRACKING = ',"TrackOpens":false,"TrackLinks":"None","InlineCss":false'


class TemplatedEncoder:
    """One send's `/email/batchWithTemplates` messages, the constant fields
    encoded once: From, the template, Tag, stream and tracking. `InlineCss` is
    false: the approved HTML is already inlined, and Postmark must not rewrite it."""

    __slots__ = ("_head", "_middle", "_tail")

    def __init__(self, *, sender: str, tag: str, stream: str, template_id: int) -> None:
        self._head = '{"From":' + json_string(sender) + ',"To":'
        self._middle = f',"TemplateId":{int(template_id)},"TemplateModel":'
        self._tail = (
            ',"Tag":' + json_string(tag) + ',"Metadata":',
            ',"MessageStream":' + json_string(stream) + _TRACKING + "}",
        )

    def encode(self, to: str, model_json: str, metadata_json: str) -> bytes:
        """One message; `model_json` and `metadata_json` are JSON objects."""
        return "".join(
            (
                self._head,
                json_string(to),
                self._middle,
                model_json,
                self._tail[0],
                metadata_json,
                self._tail[1],
            )
        ).encode("utf-8", "replace")  # a lone surrogate as "?", as BroadcastEncoder


class BulkEncoder:
    """One send's `/email/bulk` requests: the head (From, the template, Tag,
    stream, tracking) encoded once, each recipient as `{"To", "TemplateModel",
    "Metadata"}` (the SDK's `BulkRecipient`)."""

    __slots__ = ("head",)

    def __init__(self, *, sender: str, tag: str, stream: str, template_id: int) -> None:
        self.head = (
            '{"From":'
            + json_string(sender)
            + f',"TemplateId":{int(template_id)},"Tag":'
            + json_string(tag)
            + ',"MessageStream":'
            + json_string(stream)
            + _TRACKING
            + ',"Messages":['
        ).encode("utf-8", "replace")

    @staticmethod
    def encode(to: str, model_json: str, metadata_json: str) -> bytes:
        return "".join(
            (
                '{"To":',
                json_string(to),
                ',"TemplateModel":',
                model_json,
                ',"Metadata":',
                metadata_json,
                "}",
            )
        ).encode("utf-8", "replace")


class MessageResult(NamedTuple):
    """Postmark's answer for one message of a batch (a tuple: one per recipient,
    and a frozen dataclass took three times as long to build)."""

    to: str
    error_code: int
    message: str
    message_id: str | None


class SuppressionChange(NamedTuple):
    """Postmark's answer for one address of a suppression create or delete."""

    email: str  # as Postmark echoed it, lower-cased
    status: str  # "Suppressed", "Deleted" or "Failed"
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status not in (SUPPRESSED, DELETED)


SUPPRESSED = "Suppressed"
DELETED = "Deleted"


class PostmarkGateway:
    def __init__(
        self,
        *,
        server_token: str,
        api_url: str,
        broadcast_stream: str,
        transactional_stream: str,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._token = server_token
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.broadcast_stream = broadcast_stream
        self.transactional_stream = transactional_stream
        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        self._local = threading.local()
        self._broadcast_head = b'{"From":'
        self._broadcast_tail = _BROADCAST_TAIL.format(json_string(broadcast_stream)).encode()

    def __repr__(self) -> str:
        return f"<PostmarkGateway {self.api_url}>"

    @property
    def _client(self) -> PostmarkClient:
        # requests.Session is not meant to be shared between threads.
        client = getattr(self._local, "client", None)
        if client is None:
            client = PostmarkClient(
                server_token=self._token or "missing-token",
                timeout=self.timeout,
                root_api_url=self.api_url,
            )
            self._local.client = client
        return client

    def _call(self, method: str, endpoint: str, data: Any = None, **params: Any) -> Any:
        with _classified():
            return self._client.call(method, endpoint, data=data, **params)

    def _post_encoded(self, endpoint: str, body: bytes) -> Any:
        """POST an already JSON-encoded body through postmarker's own session and
        response check (what `PostmarkClient.call` does, minus encoding the body
        again and decoding the reply twice for its debug log)."""
        client = self._client
        with _classified():
            response = client.session.request(
                "POST",
                urljoin(client.root_api_url, endpoint),
                data=body,
                headers={
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-Postmark-Server-Token": client.server_token,
                },
                timeout=self.timeout,
            )
            client.check_response(response)
            return response.json()

    # --- the transactional pipe ------------------------------------------------------

    def send_transactional(
        self,
        to: str,
        *,
        subject: str,
        html: str,
        text: str,
        sender: str,
        tag: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Send one message to exactly one address; return Postmark's MessageID."""
        if not isinstance(to, str):
            raise TypeError("send_transactional takes exactly one address, as a str")
        if any(sep in to for sep in ",;\n") or to.count("@") != 1:
            raise ValueError("send_transactional takes exactly one address")
        address = normalise(to)
        reply = self._call(
            "POST",
            "/email",
            data={
                "From": sender,
                "To": address,
                "Subject": subject,
                "HtmlBody": html,
                "TextBody": text,
                "Tag": tag,
                "Metadata": metadata or {},
                "MessageStream": self.transactional_stream,
            },
        )
        if reply.get("ErrorCode", 0) != 0:
            raise Refused(int(reply["ErrorCode"]), str(reply.get("Message", "")), 200)
        return str(reply["MessageID"])

    # --- the broadcast pipe ----------------------------------------------------------

    def send_broadcast_batch(self, messages: Sequence[BroadcastMessage]) -> list[MessageResult]:
        """One `/email/batch` call on the broadcast stream; one result per message."""
        if not 0 < len(messages) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} messages")
        stream = self.broadcast_stream
        # Encoded once, compactly, as UTF-8: half the bytes of ASCII escapes for
        # Japanese, and measured no slower (fewer bytes to build and copy).
        body = json.dumps(
            [m.wire(stream) for m in messages], separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        return self._post_batch(body, [m.to for m in messages])

    def broadcast_encoder(self, *, sender: str, tag: str) -> BroadcastEncoder:
        """An encoder for one send's messages on this gateway's broadcast stream."""
        return BroadcastEncoder(sender=sender, tag=tag, stream=self.broadcast_stream)

    def send_broadcast_encoded(
        self, bodies: Sequence[bytes], recipients: Sequence[str]
    ) -> list[MessageResult]:
        """`send_broadcast_batch` for messages from `broadcast_encoder()`: one
        `/email/batch` call, one result per message, the same errors. `recipients[i]`
        is the `To` of `bodies[i]` (it labels the results)."""
        if not 0 < len(bodies) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} messages")
        if len(recipients) != len(bodies):
            raise ValueError("one recipient per message")
        head, tail = self._broadcast_head, self._broadcast_tail
        # Invariant 1: the broadcast pipe carries the broadcast stream only.
        if not all(b.startswith(head) and b.endswith(tail) for b in bodies):
            raise ValueError("a message was not encoded for this gateway's broadcast stream")
        return self._post_batch(b"[" + b",".join(bodies) + b"]", recipients)

    def _post_batch(self, body: bytes, recipients: Sequence[str]) -> list[MessageResult]:
        if len(body) > BATCH_BYTES_LIMIT:
            raise BatchTooLarge(len(body))
        return self._results(self._post_encoded("/email/batch", body), recipients)

    @staticmethod
    def _results(reply: Any, recipients: Sequence[str]) -> list[MessageResult]:
        if not isinstance(reply, list) or len(reply) != len(recipients):
            raise FateUnknown("Postmark's batch reply does not match the batch")
        return [
            MessageResult(
                to=to,
                error_code=int(r.get("ErrorCode", 0)),
                message=str(r.get("Message", "")),
                message_id=r.get("MessageID") or None,
            )
            for to, r in zip(recipients, reply, strict=True)
        ]

    # --- the broadcast pipe, content once ------------------------------------------

    def templated_encoder(self, *, sender: str, tag: str, template_id: int) -> TemplatedEncoder:
        return TemplatedEncoder(
            sender=sender, tag=tag, stream=self.broadcast_stream, template_id=template_id
        )

    def send_templated_encoded(
        self, bodies: Sequence[bytes], recipients: Sequence[str]
    ) -> list[MessageResult]:
        """One `/email/batchWithTemplates` call of messages from `templated_encoder()`:
        one result per message, the errors of `send_broadcast_encoded`."""
        if not 0 < len(bodies) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} messages")
        if len(recipients) != len(bodies):
            raise ValueError("one recipient per message")
        tail = (',"MessageStream":' + json_string(self.broadcast_stream) + _TRACKING + "}").encode()
        if not all(b.startswith(b'{"From":') and b.endswith(tail) for b in bodies):
            raise ValueError("a message was not encoded for this gateway's broadcast stream")
        body = b'{"Messages":[' + b",".join(bodies) + b"]}"
        if len(body) > BATCH_BYTES_LIMIT:
            raise BatchTooLarge(len(body))
        return self._results(self._post_encoded("/email/batchWithTemplates", body), recipients)

    def bulk_encoder(self, *, sender: str, tag: str, template_id: int) -> BulkEncoder:
        return BulkEncoder(
            sender=sender, tag=tag, stream=self.broadcast_stream, template_id=template_id
        )

    def send_bulk_encoded(self, encoder: BulkEncoder, bodies: Sequence[bytes]) -> str:
        """One `/email/bulk` request of recipients from `encoder`; Postmark's id of it."""
        if not bodies:
            raise ValueError("a bulk request needs at least one recipient")
        stream_field = b'"MessageStream":' + json_string(self.broadcast_stream).encode() + b","
        if stream_field not in encoder.head or not all(b.startswith(b'{"To":') for b in bodies):
            raise ValueError("the bulk request was not encoded for this gateway's broadcast stream")
        body = encoder.head + b",".join(bodies) + b"]}"
        if len(body) > BATCH_BYTES_LIMIT:
            raise BatchTooLarge(len(body))
        reply = self._post_encoded("/email/bulk", body)
        if not isinstance(reply, dict) or not reply.get("ID"):
            raise FateUnknown("Postmark's bulk reply has no ID")
        return str(reply["ID"])

    def bulk_status(self, bulk_id: str) -> dict[str, Any]:
        """`GET /email/bulk/{id}`: Status (Accepted, Processing, Completed, Failed),
        TotalMessages, PercentageCompleted."""
        return dict(self._call("GET", f"/email/bulk/{bulk_id}"))

    def bulk_enabled(self) -> bool:
        """Whether the account has the Bulk API: asks for the status of a bulk
        request that does not exist (sends nothing). Postmark answers an account
        without it with a refusal (ErrorCode 405 on the stand-in); one with it,
        that the request was not found."""
        try:
            self._call("GET", "/email/bulk/00000000-0000-0000-0000-000000000000")
        except Refused as exc:
            return exc.code != 405 and exc.status != 403
        return True

    # --- templates ---------------------------------------------------------------

    def create_template(self, *, name: str, alias: str, subject: str, html: str, text: str) -> int:
        """`POST /templates` (a Standard template); its TemplateId."""
        reply = self._call(
            "POST",
            "/templates",
            data={
                "Name": name,
                "Alias": alias,
                "Subject": subject,
                "HtmlBody": html,
                "TextBody": text,
                "TemplateType": "Standard",
            },
        )
        return int(reply["TemplateId"])

    def get_template(self, id_or_alias: int | str) -> dict[str, Any]:
        return dict(self._call("GET", f"/templates/{id_or_alias}"))

    def delete_template(self, id_or_alias: int | str) -> None:
        self._call("DELETE", f"/templates/{id_or_alias}")

    def list_templates(self) -> list[dict[str, Any]]:
        """Every template of the server (summaries: TemplateId, Name, Alias, …)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", "/templates", Count=500, Offset=len(found))
            templates = page.get("Templates", [])
            found.extend(templates)
            if not templates or len(found) >= int(page.get("TotalCount", 0)):
                return found

    def search_outbound(
        self, *, metadata: dict[str, str], stream: str | None = None
    ) -> list[dict[str, Any]]:
        """All outbound messages carrying `metadata` (paged through)."""
        params: dict[str, Any] = {f"metadata_{k}": v for k, v in metadata.items()}
        if stream:
            params["messagestream"] = stream
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._call("GET", "/messages/outbound", count=500, offset=offset, **params)
            messages = page.get("Messages", [])
            found.extend(messages)
            offset += len(messages)
            if not messages or offset >= int(page.get("TotalCount", 0)):
                return found

    # --- streams and suppressions ----------------------------------------------------

    def stream_info(self, stream: str) -> StreamInfo | None:
        """The stream as Postmark has it; None when there is no such stream."""
        try:
            reply = self._call("GET", f"/message-streams/{stream}")
        except Refused as exc:
            if exc.code == STREAM_NOT_FOUND:
                return None
            raise
        management = reply.get("SubscriptionManagementConfiguration") or {}
        return StreamInfo(
            id=str(reply.get("ID", stream)),
            type=str(reply.get("MessageStreamType", "")),
            unsubscribe_handling=str(management.get("UnsubscribeHandlingType") or "None"),
        )

    def pipe_problems(self) -> list[PipeProblem]:
        """Whether both pipes are what they must be at Postmark (checked at
        start-up and whenever a send starts). Raises PostmarkError when
        Postmark cannot tell."""
        problems = []
        for role, setting, stream in (
            (BROADCASTS, "POSTMARK_BROADCAST_STREAM", self.broadcast_stream),
            (TRANSACTIONAL, "POSTMARK_TRANSACTIONAL_STREAM", self.transactional_stream),
        ):
            problem = pipe_problem(role, setting, stream, self.stream_info(stream))
            if problem is not None:
                problems.append(problem)
        return problems

    def dump_suppressions(
        self, stream: str | None = None, *, email: str | None = None
    ) -> list[dict[str, Any]]:
        """The stream's suppressions (only `email`'s, if given: the dump's
        `EmailAddress` filter)."""
        stream = stream or self.broadcast_stream
        params = {"EmailAddress": email} if email else {}
        reply = self._call("GET", f"/message-streams/{stream}/suppressions/dump", **params)
        return list(reply.get("Suppressions", []))

    def suppress(
        self, addresses: Sequence[str], stream: str | None = None
    ) -> list[SuppressionChange]:
        """Ask Postmark to suppress `addresses`; its answer per address (`Status`
        `Suppressed` or `Failed` with a `Message`). An address Postmark did not
        answer for is absent from the list."""
        return self._change_suppressions("suppressions", addresses, stream)

    def unsuppress(
        self, addresses: Sequence[str], stream: str | None = None
    ) -> list[SuppressionChange]:
        """Ask Postmark to lift its suppressions of `addresses` (reactivate them);
        its answer per address (`Deleted`, or `Failed`: e.g. a spam complaint,
        which only Postmark's support may lift)."""
        return self._change_suppressions("suppressions/delete", addresses, stream)

    def _change_suppressions(
        self, endpoint: str, addresses: Sequence[str], stream: str | None
    ) -> list[SuppressionChange]:
        # https://postmarkapp.com/developer/api/suppressions-api: at most 50
        # addresses per call; the reply lists {EmailAddress, Status, Message} per
        # address (postmark.js's SuppressionStatus model). Postmark applies the
        # changes asynchronously: "Requests are processed asynchronously and can
        # take a minute until they become active"
        # (https://github.com/wildbit/postmark-php/wiki/Managing-Suppressions).
        stream = stream or self.broadcast_stream
        answers: list[SuppressionChange] = []
        for start in range(0, len(addresses), 50):
            chunk = addresses[start : start + 50]
            reply = self._call(
                "POST",
                f"/message-streams/{stream}/suppressions" + endpoint[len("suppressions") :],
                data={"Suppressions": [{"EmailAddress": a} for a in chunk]},
            )
            for entry in reply.get("Suppressions", []) if isinstance(reply, dict) else []:
                if not isinstance(entry, dict):
                    continue
                answers.append(
                    SuppressionChange(
                        email=str(entry.get("EmailAddress") or "").strip().lower(),
                        status=str(entry.get("Status") or ""),
                        message=str(entry.get("Message") or ""),
                    )
                )
        return answers


@contextmanager
def _classified() -> Iterator[None]:
    """Turn what requests and postmarker raise into NotSent / FateUnknown / Refused."""
    try:
        yield
    except ClientError as exc:
        response = getattr(exc.__cause__, "response", None)
        message = str(exc).split("] ", 1)[-1]
        raise _classify(response, exc.error_code, message) from None
    except requests.HTTPError as exc:
        raise _classify(exc.response, 0, "no JSON in the reply") from None
    except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
        raise NotSent(f"could not connect: {type(exc).__name__}") from None
    except requests.ConnectionError as exc:
        if _refused_before_sending(exc):
            raise NotSent("connection refused") from None
        raise FateUnknown(f"connection lost: {type(exc).__name__}") from None
    except (requests.Timeout, requests.exceptions.ChunkedEncodingError, ValueError) as exc:
        raise FateUnknown(f"no complete reply: {type(exc).__name__}") from None


def _classify(response: requests.Response | None, code: int, message: str) -> PostmarkError:
    status = response.status_code if response is not None else 0
    if status == 429:
        retry = response.headers.get("Retry-After") if response is not None else None
        return NotSent("rate limited (HTTP 429)", float(retry) if retry else None)
    if status >= 500 or status == 0:
        return FateUnknown(f"HTTP {status} from Postmark: {message}")
    return Refused(code, message, status)


def _refused_before_sending(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made, so nothing reached Postmark."""
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "Connection refused", "Name or service not known")
    )
