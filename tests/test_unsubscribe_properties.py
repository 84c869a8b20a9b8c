"""Invariants 1 and 7, for arbitrary operator input: whatever is typed as the
address, name, company and note (Japanese, markup, template syntax), processing
an unsubscribe produces at most one message, on the transactional stream, to
exactly that address, built from the fixed confirmation alone; it never
creates a broadcast; and a valid address ends up suppressed."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot import unsubscribe
from bot.addresses import InvalidAddress, normalise
from bot.clock import FrozenClock
from bot.refusal import Refusal
from bot.standins.postmark import PostmarkStandIn
from storage.db import Database
from storage.models import Subscriber, Suppression
from tests.test_unsubscribe import EDITOR, add_subscriber, make_desk

NASTY = [
    "{{ subscriber.name }}",
    "{{ subscriber.email }}",
    "{% for s in subscribers %}{{ s }}{% endfor %}",
    "{newsletter}",
    "{0}",
    "<script>alert(1)</script>",
    "<b>山田商事</b>",
    "山田 花子",
    "株式会社ナビゲート",
    "{{{ pm:unsubscribe }}}",
    "hanako@example.jp, taro@example.jp",
    "\r\nBcc: everyone@example.jp",
]
typed = st.one_of(
    st.sampled_from(NASTY),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.text(alphabet="山田花子株式会社ナビゲート{}%<>/ ", max_size=30),
)
addresses = st.one_of(
    st.sampled_from(
        ["hanako@example.jp", "Taro@Example.JP", " jiro@example.jp ", "a@b", "", "not an address"]
    ),
    st.emails(),
    st.builds(lambda local: f"{local}@example.jp", st.text("abcxyz.+-_", min_size=1, max_size=12)),
    st.sampled_from(NASTY),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    email=addresses,
    name=typed,
    company=typed,
    note=typed,
    confirm=st.booleans(),
)
def test_any_input_yields_at_most_one_fixed_message_to_that_address_and_no_broadcast(
    db: Database,
    clock: FrozenClock,
    postmark: PostmarkStandIn,
    email: str,
    name: str,
    company: str,
    note: str,
    confirm: bool,
):
    desk = make_desk(db, clock, postmark)
    # Someone else on the list, whose data must never travel anywhere either.
    with desk.db.sessions() as session:
        has_bystander = session.execute(select(Subscriber.id).limit(1)).first() is not None
    if not has_bystander:
        add_subscriber(desk, "bystander@example.jp", name="鈴木一郎", company="鈴木工業")
    before = len(postmark.messages())
    request = unsubscribe.Request(
        email=email, name=name, company=company, note=note, confirm=confirm
    )
    try:
        expected = normalise(email)
    except InvalidAddress:
        expected = None
    try:
        outcome = unsubscribe.process(desk, request, actor=EDITOR)
    except Refusal as refusal:
        assert expected is None and refusal.code == "invalid_address"
        assert len(postmark.messages()) == before
        return
    assert outcome.email == expected

    new = postmark.messages()[before:]
    assert len(new) <= 1
    assert postmark.messages("broadcast") == []  # never a broadcast
    if new:
        [message] = new
        assert confirm
        assert message.MessageStream == desk.settings.POSTMARK_TRANSACTIONAL_STREAM
        assert message.Recipients == (expected,)
        assert message.To == expected and not message.Cc and not message.Bcc
        fixed = unsubscribe.confirmation_message(desk.settings)
        assert (message.Subject, message.TextBody, message.HtmlBody) == (
            fixed.subject,
            fixed.text,
            fixed.html,
        )
        body = f"{message.Subject}\n{message.TextBody}\n{message.HtmlBody}"
        for text in (name.strip(), company.strip(), note.strip(), "鈴木一郎", "bystander@"):
            # Text that happens to be part of the fixed wording (say "の") proves nothing.
            if len(text) >= 2 and text not in fixed.text + fixed.html + fixed.subject:
                assert text not in body
    # Unsubscribes win: the address is suppressed, whatever happened to mail.
    with desk.db.sessions() as session:
        assert (
            session.execute(select(Suppression.id).where(Suppression.email == expected)).first()
            is not None
        )
