"""Batches sized by bytes as well as by count (issue 13, item 2).

A long Japanese issue makes every message large; Postmark takes at most 50 MB
a request. The engine sizes each send's batches so that a request of the
largest message a recipient could get still fits, the JSON goes out as UTF-8
(3 bytes a Japanese character, not the 6 of `\\uXXXX`), the gateway refuses an
oversized request before sending it, and the stand-in refuses one as Postmark
does.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bot import delivery
from bot.postmark import (
    BATCH_BYTES,
    BATCH_BYTES_LIMIT,
    BATCH_LIMIT,
    BatchTooLarge,
    PostmarkGateway,
    batch_count,
    json_string,
)
from bot.rendering import SendRenderer, compile_issue
from bot.standins.postmark import MAX_BATCH_BYTES
from bot.transports.batch import batch_size_for
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)

SENDER = "News <news@example.com>"
# A paragraph of ordinary Japanese prose (no template syntax), 100 characters.
PARAGRAPH = (
    "今月は新しい倉庫の稼働と、年末年始の営業日程についてお知らせします。"
    "配送の締め切りは例年より一日早くなりますので、ご注意ください。よろしくお願いします。"
)


def japanese_body(chars: int) -> str:
    """Markdown of about `chars` characters: headings, paragraphs, a table, the name."""
    parts = ["{{ subscriber.name }} 様\n"]
    section = 0
    while sum(len(p) for p in parts) < chars:
        section += 1
        parts.append(f"## 第{section}章\n")
        parts.extend(PARAGRAPH + "\n" for _ in range(8))
        parts.append("| 品目 | 数量 |\n|---|---|\n| 段ボール | 一〇 |\n")
    return "\n".join(parts)[:chars]


@given(
    size=st.integers(min_value=1, max_value=BATCH_BYTES - 2),  # "[" + one message + "]"
    count=st.integers(min_value=1, max_value=BATCH_LIMIT),
)
def test_batch_count_fills_a_request_without_passing_the_budget(size: int, count: int) -> None:
    n = batch_count(size, count=count)
    assert 1 <= n <= count
    assert n * (size + 1) + 1 <= BATCH_BYTES  # "[" + messages + commas + "]"
    if n < count:  # bytes were the bound: one more would not fit
        assert (n + 1) * (size + 1) + 1 > BATCH_BYTES


def test_batch_count_refuses_a_message_that_cannot_fit_alone() -> None:
    with pytest.raises(ValueError, match="over the batch budget"):
        batch_count(BATCH_BYTES - 1)
    with pytest.raises(ValueError):
        batch_count(0)


def test_a_100000_character_japanese_issue_gets_batches_under_50_mb() -> None:
    body = japanese_body(100_000)
    assert len(body) == 100_000
    compiled = compile_issue(
        "年末のお知らせ", body, sender=SENDER, stream="broadcast", list_name="ニュース"
    )
    renderer = SendRenderer(compiled, "ニュース", "2026-12-01")
    gateway = PostmarkGateway(
        server_token="t", api_url="http://127.0.0.1:9/", broadcast_stream="broadcast",
        transactional_stream="outbound",
    )  # fmt: skip
    encoder = gateway.broadcast_encoder(sender=SENDER, tag="countersign-issue-1")
    size = batch_size_for(renderer, encoder, BATCH_LIMIT)
    assert 1 < size < BATCH_LIMIT  # bytes, not the count, bound this send
    # A full batch of the worst recipients the probe stands for: within the budget.
    worst = "\x01" * 200
    literals = renderer.render_json(worst, worst)
    message = encoder.encode("\x01" * 254, *literals, '{"delivery_id":"' + "9" * 20 + '"}')
    assert size * (len(message) + 1) + 1 <= BATCH_BYTES < BATCH_BYTES_LIMIT
    # What ASCII escapes would have cost: every Japanese character six bytes.
    ascii_json = json.dumps(renderer.render("山田花子", "").html).encode()
    utf8_json = json_string(renderer.render("山田花子", "").html).encode()
    assert len(utf8_json) < 0.6 * len(ascii_json)
    assert 500 * len(ascii_json) > BATCH_BYTES_LIMIT  # the old batch was far over the limit


def test_the_gateway_refuses_an_oversized_batch_before_sending(postmark) -> None:
    gateway = PostmarkGateway(
        server_token=postmark.server_token or "standin-server-token",
        api_url=postmark.url,
        broadcast_stream="broadcast",
        transactional_stream="outbound",
    )
    encoder = gateway.broadcast_encoder(sender=SENDER, tag="t")
    big = json_string("あ" * 1_000_000)  # 3 MB as UTF-8
    message = encoder.encode("a@example.com", json_string("s"), big, big, "{}")  # ~6 MB
    count = BATCH_BYTES_LIMIT // len(message) + 1
    with pytest.raises(BatchTooLarge, match="50,000,000-byte limit"):
        gateway.send_broadcast_encoded([message] * count, ["a@example.com"] * count)
    assert postmark.messages() == [] and postmark.batch_sizes == []


def test_the_standin_refuses_a_request_over_50_mb_as_postmark_does(postmark) -> None:
    item = json.dumps({"From": SENDER, "To": "a@example.com", "TextBody": "x" * 1_000_000})
    count = MAX_BATCH_BYTES // len(item) + 1
    body = ("[" + ",".join([item] * count) + "]").encode()
    assert len(body) > MAX_BATCH_BYTES and count < 500
    response = requests.post(
        f"{postmark.url}/email/batch",
        data=body,
        headers={
            "X-Postmark-Server-Token": postmark.server_token or "standin-server-token",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == 413
    assert "50 MB" in response.json()["Message"]
    assert postmark.messages() == []


def test_a_100000_character_japanese_issue_reaches_every_recipient_whole(
    db, postmark, clock
) -> None:
    # A 45 MB request takes the stand-in seconds on a loaded machine: the timeouts of
    # production, so that no batch is taken for lost while it is still being read.
    desk = make_desk(db, postmark.url, clock, read_timeout=60.0)
    options = replace(FAST, reconcile_window=10.0)
    body = japanese_body(100_000)
    readers = 75  # more than one batch holds: 69 by bytes, not 500 by count
    add_subscribers(desk, readers, names=lambda i: (f"読者{i}", "株式会社サンプル"))
    send_id = delivery.start_approved(
        desk, approved_request(desk, subject="年末のお知らせ", body=body)
    )
    assert send_id is not None
    with running(desk, options):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=120)
    assert_exactly_once(desk, postmark, send_id)
    assert len(postmark.batch_sizes) >= 2  # split by bytes
    assert all(size <= BATCH_BYTES and n <= BATCH_LIMIT for size, n in postmark.batch_sizes)
    assert sum(n for _, n in postmark.batch_sizes) == readers
    last_paragraph = body.rsplit("\n", 1)[-1][-30:]
    for i in (0, readers - 1):
        (message,) = postmark.messages_to(f"reader{i}@example.com")
        assert message.TextBody is not None and message.HtmlBody is not None
        assert message.TextBody.startswith(f"読者{i} 様")
        assert last_paragraph in message.TextBody and last_paragraph in message.HtmlBody
