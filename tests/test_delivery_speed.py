"""The delivery engine's fast paths give exactly what the slow ones gave: a send's
renderer against `render_message`, the gateway's pre-encoded batch body against
the old payload, the send's pre-encoded message JSON against the old path's
payload, and the claim's range UPDATE (SQLite) against the rows it claimed."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import delivery, suppressions
from bot import delivery_ledger as ledger
from bot.postmark import BroadcastEncoder, BroadcastMessage, PostmarkGateway, json_string
from bot.rendering import (
    TEST_COPY_UNSUBSCRIBE,
    CompiledIssue,
    RecipientContext,
    SendRenderer,
    TemplateProblem,
    compile_issue,
    render_message,
)
from storage.models import Delivery, Subscriber, SuppressionOrigin, SuppressionReason
from tests.fixtures.delivery import add_subscribers, approved_request, make_desk

SENDER = "Countersign News <news@example.com>"

# (subject, body, whether the renderer can splice instead of running Jinja)
TEMPLATES = [
    (
        "【ニュースレター】{{ list_name }} {{ issue_date }}号",
        "{{ subscriber.name }} 様（{{ subscriber.company }}）\n\n本文 **太字**",
        True,
    ),
    (
        "{{ subscriber.name }}様へ",
        "<b>{{ subscriber.company }}</b> {{ unsubscribe_url }} & {{ list_name }}",
        True,
    ),
    ("Hello", "# 見出し\n\n| a | b |\n|---|---|\n| {{ subscriber.name }} | 2 |", True),
    ("{{ subscriber.name | upper }}", "{{ subscriber.company | default('-') }}", False),
    ("件名", "{% if subscriber.company %}御中 {{ subscriber.company }}{% endif %}", False),
    ("件名", "{{ subscriber.name ~ '!' }}", False),
]

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",))
    | st.sampled_from("<>&'\"山田花子株式会社\x00{}%#"),
    max_size=30,
)


def compiled_of(subject: str, body: str, fast: bool) -> CompiledIssue:
    """A version as saved today, or (for the slow path) as one saved before the
    template language was narrowed to printing: filters and conditions, which
    `compile_issue` now refuses, stored as they were."""
    if fast:
        return compile_issue(
            subject, body, sender=SENDER, stream="broadcast", list_name="ニュース<&>"
        )
    plain = compile_issue("件名", "本文", sender=SENDER, stream="broadcast", list_name="N")
    return dataclasses.replace(
        plain, subject=subject, html=plain.html.replace("本文", body), text=body
    )


@pytest.mark.parametrize(("subject", "body", "fast"), TEMPLATES)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, company=names)
def test_a_sends_renderer_gives_exactly_what_render_message_gives(
    subject: str, body: str, fast: bool, name: str, company: str
) -> None:
    compiled = compiled_of(subject, body, fast)
    for url in ("{{{ pm:unsubscribe }}}", TEST_COPY_UNSUBSCRIBE):
        renderer = SendRenderer(compiled, "ニュース<&>", "2026-12-01", url)
        assert renderer.fast is fast
        expected = render_message(
            compiled, RecipientContext(name, company, "ニュース<&>", "2026-12-01", url)
        )
        assert renderer.render(name, company) == expected


def test_a_template_that_fails_per_recipient_fails_alike() -> None:
    # Compiles (the sample recipient is a str), then fails in the sandbox: a problem
    # raised for the recipient, as render_message raises it, never a crash.
    compiled = compile_issue("件名", "本文", sender=SENDER, stream="broadcast", list_name="N")
    broken = type(compiled)(
        subject=compiled.subject,
        html="{{ subscriber.name.__class__ }}",
        text=compiled.text,
        sender=compiled.sender,
        stream=compiled.stream,
    )
    renderer = SendRenderer(broken, "N", "2026-12-01")
    assert not renderer.fast
    with pytest.raises(TemplateProblem):
        render_message(broken, RecipientContext("a", "b", "N", "2026-12-01"))
    with pytest.raises(TemplateProblem):
        renderer.render("a", "b")


# Japanese names and companies with everything JSON or HTML must escape.
tricky = st.lists(
    st.characters(blacklist_categories=("Cs",))
    | st.sampled_from(
        ['"', "\\", "\x00", "\x1f", "\n", "\t", "\u2028", "\x7f", "</script>", "🎌", "😀"]
    )
    | st.sampled_from([*"山田花子株式会社サンプル商事<>&'", "株式会社「例示」"]),
    max_size=20,
).map("".join)


@pytest.mark.parametrize(("subject", "body", "fast"), TEMPLATES)
@settings(max_examples=80, deadline=None)
@given(name=tricky, company=tricky, delivery_id=st.integers(min_value=1, max_value=10**12))
def test_the_pre_encoded_message_is_json_equal_to_the_old_payload(
    subject: str, body: str, fast: bool, name: str, company: str, delivery_id: int
) -> None:
    compiled = compiled_of(subject, body, fast)
    renderer = SendRenderer(compiled, "ニュース<&>", "2026-12-01")
    assert renderer.fast is fast
    to = f"reader{delivery_id}@example.com"
    metadata = {"send_id": "7", "batch_id": "42", "delivery_id": str(delivery_id)}
    rendered = renderer.render(name, company)
    old = BroadcastMessage(
        to=to,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=SENDER,
        tag="countersign-issue-3",
        metadata=metadata,
    ).wire("broadcast")
    literals = renderer.render_json(name, company)
    # Each literal is exactly json.dumps of the rendered field, non-ASCII kept.
    assert literals == tuple(json.dumps(v, ensure_ascii=False) for v in rendered.__dict__.values())
    encoder = BroadcastEncoder(sender=SENDER, tag="countersign-issue-3", stream="broadcast")
    encoded = encoder.encode(to, *literals, json.dumps(metadata, separators=(",", ":")))
    assert json.loads(encoded) == old
    # Byte for byte what json.dumps gives as UTF-8: no \uXXXX escapes for Japanese.
    assert encoded == json.dumps(old, ensure_ascii=False, separators=(",", ":")).encode()


def test_the_encoded_pipe_refuses_what_was_not_encoded_for_its_broadcast_stream(
    postmark,
) -> None:
    gateway = PostmarkGateway(
        server_token=postmark.server_token or "standin-server-token",
        api_url=postmark.url,
        broadcast_stream="broadcast",
        transactional_stream="outbound",
    )
    other = BroadcastEncoder(sender=SENDER, tag="t", stream="outbound")
    ours = gateway.broadcast_encoder(sender=SENDER, tag="t")
    args = (json_string("s"), json_string("h"), json_string("t"), "{}")
    with pytest.raises(ValueError, match="broadcast stream"):
        gateway.send_broadcast_encoded([other.encode("a@example.com", *args)], ["a@example.com"])
    with pytest.raises(ValueError):
        gateway.send_broadcast_encoded([], [])
    with pytest.raises(ValueError):
        gateway.send_broadcast_encoded([ours.encode("a@example.com", *args)] * 501, ["a"] * 501)
    with pytest.raises(ValueError):
        gateway.send_broadcast_encoded([ours.encode("a@example.com", *args)], [])
    assert postmark.messages() == []
    [result] = gateway.send_broadcast_encoded(
        [ours.encode("a@example.com", *args)], ["a@example.com"]
    )
    assert result.error_code == 0 and result.to == "a@example.com"
    [stored] = postmark.messages()
    assert (stored.MessageStream, stored.Subject, stored.HtmlBody) == ("broadcast", "s", "h")


def _messages(count: int) -> list[BroadcastMessage]:
    return [
        BroadcastMessage(
            to=f"reader{i}@example.com",
            subject="【11月号】山田花子様へ 🎌",
            html=f'<p>こんにちは、{i} 番目の読者様。"引用" & <b>太字</b>\u2028</p>',
            text=f"こんにちは\n{i}\t番目 \\ 🎌",
            sender=SENDER,
            tag="countersign-issue-1",
            metadata={"send_id": "1", "batch_id": "2", "delivery_id": str(i)},
        )
        for i in range(count)
    ]


def test_the_batch_body_means_what_the_old_payload_meant_and_japanese_arrives_intact(
    db, postmark, clock
):
    desk = make_desk(db, postmark.url, clock)
    gateway = desk.postmark
    sent: list[dict[str, Any]] = []
    session = gateway._client.session  # the thread's postmarker session
    request = session.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        sent.append({"method": method, "url": url, **kwargs})
        return request(method, url, **kwargs)

    session.request = recording  # type: ignore[method-assign]
    messages = _messages(3)
    results = gateway.send_broadcast_batch(messages)
    assert [r.error_code for r in results] == [0, 0, 0]
    (call,) = sent
    assert call["method"] == "POST" and call["url"].endswith("/email/batch")
    assert call["timeout"] == gateway.timeout
    assert call["headers"]["Content-Type"] == "application/json"
    assert isinstance(call["data"], bytes) and "json" not in call
    assert json.loads(call["data"]) == [m.wire(gateway.broadcast_stream) for m in messages]
    assert len(postmark.messages()) == 3
    for message in messages:
        (got,) = postmark.messages_to(message.to)
        assert got.Subject == message.subject
        assert got.HtmlBody == message.html
        assert got.TextBody == message.text
        assert got.Metadata == message.metadata


def test_a_claim_marks_exactly_its_rows_with_skipped_ones_in_between(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 12)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with desk.db.transaction() as session:
        for i in (2, 5, 9):
            suppressions.add(
                session,
                email=f"reader{i}@example.com",
                reason=SuppressionReason.UNSUBSCRIBED,
                origin=SuppressionOrigin.SLACK,
                actor="U0EDITOR1",
                at=clock.now(),
            )
    claim = ledger.claim(
        desk.db, send_id, list_name="Newsletter", worker="w", size=7, now=clock.now()
    )
    assert claim is not None and claim.batch_id is not None
    with desk.db.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.status, Delivery.batch_id, Subscriber.email)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id)
            .order_by(Delivery.id)
        ).all()
    suppressed = {f"reader{i}@example.com" for i in (2, 5, 9)}
    claimed = {r.delivery_id for r in claim.recipients}
    batched = [r for r in rows if r.status == "batched"]
    skipped = [r for r in rows if r.status == "skipped"]
    pending = [r for r in rows if r.status == "pending"]
    # Seven rows looked at: each either in the batch or skipped as suppressed.
    assert len(claimed) + claim.skipped == 7
    assert {r.id for r in batched} == claimed
    assert {r.batch_id for r in batched} == {claim.batch_id}
    assert len(skipped) == claim.skipped
    assert all(r.email in suppressed and r.batch_id is None for r in skipped)
    assert not any(r.email in suppressed for r in batched)
    # Every other row is untouched, pending and in no batch.
    assert len(pending) == 12 - 7 and all(r.batch_id is None for r in pending)
    if desk.db.is_sqlite:  # rows are claimed in id order there
        assert claim.skipped == 2 and [r.status for r in rows[7:]] == ["pending"] * 5
