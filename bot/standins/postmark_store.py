"""The Postmark stand-in's outbox: every accepted message, kept compactly.

Owns `StoredMessage` (one accepted message, as rendered) and `MessageStore`
(the thread-safe, append-only list of them with a by-ID index and a metadata
index). Accepting a batch costs O(batch): the only work under the lock is
appending to lists and inserting into dicts. A metadata search
(`GET /messages/outbound?metadata_batch_id=13`, what reconciliation asks) reads
only the messages carrying the rarest of its pairs, so it costs what it finds,
not the size of the outbox: Postmark answers it in about the same time with a
million messages as with ten, and a stand-in that scans would make a
benchmark measure the stand-in. Other queries (`messages_to`) scan. With
`keep_bodies=False` the bodies are dropped on arrival, for benchmarks that
send a million messages.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Any


@dataclass(slots=True)
class StoredMessage:
    """One accepted message exactly as the recipients would receive it.

    `To`, `Cc` and `Bcc` are the strings the sender gave. `Recipients` are the
    lower-cased addresses it was delivered to (suppressed ones left out).
    `HtmlBody`/`TextBody` are rendered (the unsubscribe placeholder replaced)
    and are None when the stand-in was built with `keep_bodies=False`.
    """

    MessageID: str
    To: str
    Cc: str | None
    Bcc: str | None
    From: str
    Subject: str | None
    HtmlBody: str | None
    TextBody: str | None
    MessageStream: str
    Tag: str | None
    Metadata: dict[str, str] | None
    Headers: list[dict[str, str]] | None
    ReceivedAt: datetime
    Recipients: tuple[str, ...]
    ReplyTo: str | None = None
    TrackOpens: bool | None = None
    TrackLinks: str | None = None
    Attachments: tuple[str, ...] = ()

    def search_json(self) -> dict[str, Any]:
        """The message as `GET /messages/outbound` lists it."""
        return {
            "Tag": self.Tag or "",
            "MessageID": self.MessageID,
            "MessageStream": self.MessageStream,
            "To": _name_email_list(self.To),
            "Cc": _name_email_list(self.Cc),
            "Bcc": _name_email_list(self.Bcc),
            "Recipients": list(self.Recipients),
            "ReceivedAt": self.ReceivedAt.isoformat(),
            "From": self.From,
            "Subject": self.Subject or "",
            "Attachments": list(self.Attachments),
            "Status": "Sent",
            "TrackOpens": bool(self.TrackOpens),
            "TrackLinks": self.TrackLinks or "None",
            "Metadata": dict(self.Metadata or {}),
            "Sandboxed": False,
        }

    def details_json(self) -> dict[str, Any]:
        """The message as `GET /messages/outbound/{id}/details` returns it."""
        data = self.search_json()
        data.update(
            {
                "TextBody": self.TextBody or "",
                "HtmlBody": self.HtmlBody or "",
                "Body": "",
                "MessageEvents": [
                    {
                        "Recipient": recipient,
                        "Type": "Delivered",
                        "ReceivedAt": self.ReceivedAt.isoformat(),
                        "Details": {"DeliveryMessage": "Delivered by the Postmark stand-in"},
                    }
                    for recipient in self.Recipients
                ],
            }
        )
        return data


def _name_email_list(field: str | None) -> list[dict[str, str]]:
    if not field:
        return []
    return [{"Email": email, "Name": name} for name, email in getaddresses([field]) if email]


class MessageStore:
    """Thread-safe, append-only outbox with an index by MessageID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[StoredMessage] = []
        self._by_id: dict[str, StoredMessage] = {}
        # (key, value) -> the messages carrying that metadata pair, oldest first.
        # A pair that one message alone carries (a delivery_id) maps to the
        # message itself, not a one-element list: a million of those would
        # otherwise cost a million lists.
        self._by_metadata: dict[tuple[str, str], StoredMessage | list[StoredMessage]] = {}
        # MessageIDs look like Postmark's (UUID-shaped): a random prefix per
        # store and a counter, so minting one is cheap and never collides.
        self._id_prefix = secrets.token_hex(10)
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        """A fresh, unique MessageID (thread-safe: itertools.count is atomic)."""
        p = self._id_prefix
        return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{next(self._counter):012x}"

    def add_many(self, messages: list[StoredMessage]) -> None:
        with self._lock:
            self._messages.extend(messages)
            by_id, by_metadata = self._by_id, self._by_metadata
            for message in messages:
                by_id[message.MessageID] = message
                for pair in (message.Metadata or {}).items():
                    pair = (pair[0], str(pair[1]))
                    held = by_metadata.get(pair)
                    if held is None:
                        by_metadata[pair] = message
                    elif isinstance(held, list):
                        held.append(message)
                    else:
                        by_metadata[pair] = [held, message]

    def reset(self) -> None:
        with self._lock:
            # New objects, so that readers holding the old list finish safely.
            self._messages = []
            self._by_id = {}
            self._by_metadata = {}

    def _snapshot(self) -> list[StoredMessage]:
        with self._lock:
            return self._messages[:]

    def __len__(self) -> int:
        return len(self._messages)

    def get(self, message_id: str) -> StoredMessage | None:
        return self._by_id.get(message_id)

    def all(self) -> list[StoredMessage]:
        return self._snapshot()

    def iter_newest_first(self) -> Iterator[StoredMessage]:
        """Iterate without copying: the list only grows, so indices stay valid."""
        with self._lock:
            messages, count = self._messages, len(self._messages)
        for index in range(count - 1, -1, -1):
            yield messages[index]

    def iter_with_metadata_newest_first(self, metadata: dict[str, str]) -> Iterator[StoredMessage]:
        """The messages carrying every pair of `metadata` (non-empty), newest first.

        Reads the rarest pair's messages only; the other pairs are checked on
        each of them. Safe while messages arrive, like `iter_newest_first`."""
        with self._lock:
            held: list[list[StoredMessage]] = []
            for pair in metadata.items():
                carrying = self._by_metadata.get(pair)
                if carrying is None:
                    return  # no message carries this pair
                held.append(carrying if isinstance(carrying, list) else [carrying])
            messages = min(held, key=len)
            count = len(messages)  # the list only grows: indices below stay valid
        for index in range(count - 1, -1, -1):
            message = messages[index]
            have = message.Metadata or {}
            if all(key in have and str(have[key]) == value for key, value in metadata.items()):
                yield message

    def select(self, predicate: Callable[[StoredMessage], bool]) -> list[StoredMessage]:
        with self._lock:
            messages, count = self._messages, len(self._messages)
        return [messages[i] for i in range(count) if predicate(messages[i])]

    def count(self, stream: str | None = None) -> int:
        if stream is None:
            return len(self._messages)
        return len(self.select(lambda m: m.MessageStream == stream))
