"""The incident, replayed end to end.

A list of 3,120 readers with Japanese names and companies. The editor drafts
the monthly issue in the modal (it greets each reader by name), submits it,
an approver clicks Approve on the card, and the delivery engine starts
sending through the Postmark stand-in, whose batch endpoint is slow, so the
send is in flight. Meanwhile 9 readers ask to be unsubscribed, and an
operator processes each request in Slack — five in the modal, typing the
name and company the reader gave and ticking "send a confirmation", four
with `/unsubscribe EMAIL note`, the note holding the name and company.

What the company promised its readers, checked on everything Postmark
received and everything Slack showed:
- no message to anyone contains any of those names, companies or addresses;
- each confirmation went through the transactional stream, to exactly its
  own address;
- no broadcast was created by any unsubscribe;
- the 9 readers, not yet reached when they asked, received no newsletter;
- the ledger and the stand-in's store agree, recipient by recipient.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot import delivery, delivery_engine
from bot.delivery_engine import Engine
from bot.standins.slack import APPROVER_2
from bot.subscribers import get_or_create_list
from handlers.ids import Action
from storage.models import Delivery, DeliveryStatus, Send, SendState, Subscriber
from tests.e2e.helpers import create_issue, modal_errors, submit
from tests.e2e.test_unsubscribe import modal_values
from tests.fixtures.bot import Harness
from tests.fixtures.delivery import FAST
from tests.fixtures.postmark import SEND_ENDPOINTS

LIST_SIZE = 3_120
BATCH_LATENCY = 3.0  # seconds each batch call is held by the stand-in

SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
SURNAMES += ["吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "斎藤", "清水", "森"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健太", "陽子", "大輔", "真由美", "翔太", "愛子"]
GIVEN += ["直樹", "由美", "拓也", "恵", "誠", "裕子", "浩二", "明美", "聡", "優子"]
TRADES = ["商事", "工業", "製作所", "印刷", "運輸", "建設", "電機"]

# The nine readers: names and companies that appear nowhere else.
NINE = [
    ("asahina.mio@example.jp", "朝比奈 澪", "朝比奈精機株式会社"),
    ("shinonome.kaede@example.jp", "東雲 楓", "東雲デザイン事務所"),
    ("mikoshiba.ren@example.jp", "御子柴 蓮", "御子柴酒造"),
    ("teshigawara.rin@example.jp", "勅使河原 凛", "勅使河原硝子"),
    ("tsukumo.minato@example.jp", "九十九 湊", "九十九海運"),
    ("watanuki.tsumugi@example.jp", "四月一日 紬", "四月一日織物"),
    ("takanashi.aoi@example.jp", "小鳥遊 葵", "小鳥遊ベーカリー"),
    ("domeki.saku@example.jp", "百目鬼 朔", "百目鬼法律事務所"),
    ("chonoki.akari@example.jp", "一寸木 灯", "一寸木照明"),
]
# Where they sit in the list: near its end, so the send reaches them last.
POSITIONS = [3_010 + 12 * i for i in range(len(NINE))]
VIA_MODAL = 5  # the first five through the modal (with a confirmation), the rest by command

INCIDENT_ENGINE = replace(
    FAST,
    batch_size=500,
    in_flight=4,
    reconcile_window=0.5,
    reconcile_interval=0.1,
    backoff_initial=0.05,
    backoff_max=0.5,
    progress_seconds=0.5,
    start_retry_seconds=60.0,
)


def seed_list(harness: Harness) -> None:
    """3,120 readers in one statement; the nine at POSITIONS."""
    desk = harness.desk
    now = desk.clock.now()
    people = itertools.cycle(itertools.product(SURNAMES, GIVEN, TRADES))
    nine = dict(zip(POSITIONS, NINE, strict=True))
    with desk.db.transaction() as session:
        list_id = get_or_create_list(session, desk.settings.NEWSLETTER_NAME, now).id
        rows: list[dict[str, Any]] = []
        for n in range(LIST_SIZE):
            if n in nine:
                email, name, company = nine[n]
            else:
                surname, given, trade = next(people)
                email = f"reader{n:04d}@example.jp"
                name, company = f"{surname} {given}", f"{surname}{trade}"
            rows.append(
                {
                    "list_id": list_id,
                    "email": email,
                    "name": name,
                    "company": company,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(insert(Subscriber), rows)


@pytest.fixture
def running_bot(harness: Harness) -> Iterator[Harness]:
    """The bot's background duties running, as under `countersign run`. Until the
    front end wires the delivery engine in, the test wires it the same way."""
    if not harness.desk.approval_listeners:
        harness.desk.approval_listeners.append(delivery.approval_listener(harness.desk))
    harness.bot.start_background()
    own: Engine | None = None
    if not delivery_engine.active_engines():
        own = delivery.new_engine(harness.desk, INCIDENT_ENGINE)
        own.start()
    try:
        yield harness
    finally:
        if own is not None:
            own.stop(timeout=30)
        harness.bot.stop_background()


def current_send(harness: Harness) -> tuple[int, str] | None:
    with harness.desk.db.sessions() as session:
        row = session.execute(select(Send.id, Send.state).order_by(Send.id.desc())).first()
        return (int(row[0]), str(row[1])) if row else None


@pytest.mark.slow
def test_the_incident_cannot_happen_again(running_bot: Harness):
    harness = running_bot
    postmark = harness.postmark
    seed_list(harness)

    # The issue greets each reader by name: exactly the render context the
    # incident's form input leaked into.
    issue_id = create_issue(
        harness,
        harness.editor,
        subject="ナビゲート通信 12月号",
        body="{{ subscriber.name }} 様（{{ subscriber.company }}）\n\n今月のお知らせです。",
    )
    card = submit(harness, harness.editor, issue_id)
    # The default transport's batch endpoint (the product's default, templates).
    endpoint = SEND_ENDPOINTS[harness.desk.settings.POSTMARK_TRANSPORT]
    postmark.faults.script([f"latency:{BATCH_LATENCY}"] * 20, endpoint=endpoint)
    harness.approver.click(Action.APPROVE, message=card)

    # The send is in flight: Postmark has the first batch calls and is holding them.
    harness.slack.wait_for(lambda: postmark.faults.calls(endpoint) >= 1, timeout=20)
    assert current_send(harness) is not None and current_send(harness)[1] == SendState.SENDING  # type: ignore[index]

    # Meanwhile, nine unsubscribe requests, each with a name and company typed in.
    operator = harness.as_user(APPROVER_2)
    for email, name, company in NINE[:VIA_MODAL]:
        before = len(harness.slack.calls("views.open"))
        operator.command("/unsubscribe", "")
        calls = harness.slack.wait_for(lambda b=before: harness.slack.calls("views.open")[b:])
        view = dict(calls[0].response["view"])
        response = operator.submit_view(
            view,
            modal_values(email, name=name, company=company, note=f"{name}様より電話", confirm=True),
        )
        assert modal_errors(response) == {}
    for email, name, company in NINE[VIA_MODAL:]:
        operator.command("/unsubscribe", f"{email} {name}（{company}）よりメールで依頼")
    replies = harness.wait_for_ephemeral(APPROVER_2, count=len(NINE), timeout=20)

    # The premise: all nine were processed while the send was still under way.
    reached_so_far = {m.Recipients[0] for m in postmark.messages("broadcast") if m.Recipients}
    assert len(reached_so_far) < LIST_SIZE - len(NINE)
    assert not reached_so_far & {email for email, _, _ in NINE}
    assert all("is unsubscribed" in reply for reply in replies)

    # Let the send finish.
    send_id = harness.slack.wait_for(
        lambda: (s := current_send(harness)) and s[1] == SendState.FINISHED and s[0], timeout=60
    )

    messages = postmark.messages()
    broadcasts = postmark.messages("broadcast")
    confirmations = postmark.messages("outbound")
    assert len(messages) == len(broadcasts) + len(confirmations)

    # No message to anyone contains any of those names, companies or addresses.
    secrets = [s for row in NINE for s in row]
    for message in messages:
        content = "\n".join(
            part or ""
            for part in (
                message.Subject,
                message.HtmlBody,
                message.TextBody,
                message.Cc,
                message.Bcc,
            )
        )
        leaked = [s for s in secrets if s in content]
        assert not leaked, f"message {message.MessageID} contains {leaked}"
    # … nor anything in Slack but the operator's own ephemeral replies.
    slack_public = "\n".join(harness.channel_texts())
    assert not [s for s in secrets if s in slack_public]
    for _, name, company in NINE:
        assert all(name not in reply and company not in reply for reply in replies)

    # Each confirmation: transactional stream, exactly its own address, once.
    assert sorted(m.To for m in confirmations) == sorted(e for e, _, _ in NINE[:VIA_MODAL])
    for message in confirmations:
        assert message.Recipients == (message.To,) and not message.Cc and not message.Bcc
        assert (message.Metadata or {}).get("kind") == "unsubscribe_confirmation"

    # No broadcast was created by an unsubscribe: every broadcast belongs to the send.
    assert {(m.Metadata or {}).get("send_id") for m in broadcasts} == {str(send_id)}

    # The nine received no newsletter.
    for email, _, _ in NINE:
        assert postmark.messages_to(email, stream="broadcast") == []
        assert postmark.is_suppressed(email, "broadcast")

    # The ledger and the stand-in's store agree.
    with harness.desk.db.sessions() as session:
        ledger = session.execute(
            select(Delivery.status, Delivery.message_id, Subscriber.email)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.send_id == send_id)
        ).all()
    statuses = Counter(status for status, _, _ in ledger)
    # A reader is either skipped by the engine's own checks (at claim, or just
    # before the batch goes out) or, when their batch was already on the wire,
    # refused by Postmark, which had the pushed suppression by then. Either
    # way: no newsletter.
    stopped = statuses[DeliveryStatus.SKIPPED] + statuses[DeliveryStatus.SUPPRESSED]
    assert (statuses[DeliveryStatus.SENT], stopped) == (LIST_SIZE - len(NINE), len(NINE))
    assert sum(statuses.values()) == LIST_SIZE
    not_sent = {email for status, _, email in ledger if status != DeliveryStatus.SENT}
    assert not_sent == {email for email, _, _ in NINE}
    by_id = {m.MessageID: m for m in broadcasts}
    assert len(by_id) == len(broadcasts) == LIST_SIZE - len(NINE)
    for status, message_id, email in ledger:
        if status == DeliveryStatus.SENT:
            assert by_id[message_id].Recipients == (email,)
    per_address = Counter(m.Recipients[0] for m in broadcasts)
    assert max(per_address.values()) == 1
    assert set(per_address) == {email for status, _, email in ledger if status == "sent"}
