"""The Postmark stand-in's outbox: its metadata index answers as a full scan would."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.standins.postmark_store import MessageStore, StoredMessage

KEYS = ("send_id", "batch_id", "delivery_id")
VALUES = ("1", "2", "13", "x")


def message(store: MessageStore, metadata: dict[str, str] | None) -> StoredMessage:
    return StoredMessage(
        MessageID=store.new_id(),
        To="reader@example.com",
        Cc=None,
        Bcc=None,
        From="news@example.com",
        Subject="s",
        HtmlBody=None,
        TextBody=None,
        MessageStream="broadcast",
        Tag=None,
        Metadata=metadata,
        Headers=None,
        ReceivedAt=datetime.now(UTC),
        Recipients=("reader@example.com",),
    )


def scanned(store: MessageStore, query: dict[str, str]) -> list[str]:
    return [
        m.MessageID
        for m in store.iter_newest_first()
        if all(
            k in (m.Metadata or {}) and str((m.Metadata or {})[k]) == v for k, v in query.items()
        )
    ]


metadata = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.lists(metadata, max_size=6), max_size=6),
    query=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=3),
)
def test_the_index_finds_what_a_scan_finds_newest_first(batches, query):
    store = MessageStore()
    for batch in batches:
        store.add_many([message(store, m) for m in batch])
        found = [m.MessageID for m in store.iter_with_metadata_newest_first(query)]
        assert found == scanned(store, query)
    store.reset()
    assert list(store.iter_with_metadata_newest_first(query)) == []


def test_a_search_running_while_messages_arrive_sees_a_consistent_prefix():
    store = MessageStore()
    store.add_many([message(store, {"batch_id": "7", "delivery_id": str(i)}) for i in range(50)])
    seen = store.iter_with_metadata_newest_first({"batch_id": "7"})
    first = next(seen)
    arriving = threading.Thread(
        target=store.add_many,
        args=([message(store, {"batch_id": "7", "delivery_id": str(i)}) for i in range(50, 99)],),
    )
    arriving.start()
    arriving.join()
    rest = list(seen)
    # The search reads the messages there were when it began, newest first, once each.
    assert [first.Metadata, *[m.Metadata for m in rest]] == [
        {"batch_id": "7", "delivery_id": str(i)} for i in range(49, -1, -1)
    ]
    assert len(list(store.iter_with_metadata_newest_first({"batch_id": "7"}))) == 99
