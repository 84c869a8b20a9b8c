"""The one Postmark gateway: the transactional pipe takes exactly one address
(invariant 1), and every failure is classified by what a caller may safely
do next — against the Postmark stand-in over real HTTP."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.postmark import (
    BroadcastMessage,
    FateUnknown,
    NotSent,
    PostmarkGateway,
    Refused,
)
from bot.standins.postmark import PostmarkStandIn

TEXT = {
    "subject": "お知らせ",
    "html": "<p>本文</p>",
    "text": "本文",
    "sender": "news@example.com",
    "tag": "t",
}


def gateway(
    postmark: PostmarkStandIn,
    *,
    url: str | None = None,
    token: str | None = None,
    read_timeout: float = 2.0,
) -> PostmarkGateway:
    return PostmarkGateway(
        server_token=token or postmark.server_token or "standin-server-token",
        api_url=url or postmark.url,
        broadcast_stream="broadcast",
        transactional_stream="outbound",
        read_timeout=read_timeout,
    )


def test_one_address_goes_out_on_the_transactional_stream(postmark: PostmarkStandIn):
    message_id = gateway(postmark).send_transactional("Hanako@Example.com", **TEXT)
    [stored] = postmark.messages()
    assert stored.MessageID == message_id
    assert stored.To == "hanako@example.com" and stored.MessageStream == "outbound"
    assert stored.Subject == "お知らせ"


@pytest.mark.parametrize(
    "recipients",
    [
        ["a@example.com"],
        ("a@example.com", "b@example.com"),
        {"a@example.com"},
        "a@example.com, b@example.com",
        "a@example.com;b@example.com",
        "a@example.com\nBcc: b@example.com",
        "a@example.com b@example.com",
        "",
        "not an address",
    ],
)
def test_anything_but_exactly_one_address_raises_and_sends_nothing(
    postmark: PostmarkStandIn, recipients
):
    with pytest.raises((TypeError, ValueError)):
        gateway(postmark).send_transactional(recipients, **TEXT)
    assert postmark.messages() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(r"[a-z]{1,8}@example\.com", fullmatch=True), min_size=2, max_size=5))
def test_joined_lists_of_addresses_are_refused(addresses: list[str]):
    gw = PostmarkGateway(
        server_token="x",
        api_url="http://127.0.0.1:9/",
        broadcast_stream="broadcast",
        transactional_stream="outbound",
    )
    for separator in (",", ";", " ", "\n", ", "):
        with pytest.raises(ValueError):
            gw.send_transactional(separator.join(addresses), **TEXT)


def test_a_batch_holds_one_to_five_hundred_messages(postmark: PostmarkStandIn):
    message = BroadcastMessage(
        to="a@example.com", subject="s", html="h", text="t", sender="news@example.com", tag="t"
    )
    with pytest.raises(ValueError):
        gateway(postmark).send_broadcast_batch([])
    with pytest.raises(ValueError):
        gateway(postmark).send_broadcast_batch([message] * 501)
    assert postmark.messages() == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", NotSent),
        ("500", FateUnknown),
        ("503", FateUnknown),
        ("reset", FateUnknown),
        ("reply_lost", FateUnknown),
    ],
)
def test_faults_are_classified_by_what_may_be_done_next(
    postmark: PostmarkStandIn, fault: str, error: type
):
    postmark.faults.script([fault])
    with pytest.raises(error):
        gateway(postmark, read_timeout=1.0).send_transactional("a@example.com", **TEXT)


def test_a_wrong_token_is_refused_not_retried(postmark: PostmarkStandIn):
    with pytest.raises(Refused) as refused:
        gateway(postmark, token="wrong-token").send_transactional("a@example.com", **TEXT)
    assert refused.value.status == 401 and refused.value.code == 10
    assert postmark.messages() == []


def test_nobody_listening_means_not_sent():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gw = PostmarkGateway(
        server_token="x",
        api_url=f"http://127.0.0.1:{port}/",
        broadcast_stream="broadcast",
        transactional_stream="outbound",
    )
    with pytest.raises(NotSent):
        gw.send_transactional("a@example.com", **TEXT)


def test_the_gateway_never_shows_its_token():
    gw = PostmarkGateway(
        server_token="secret-server-token",
        api_url="http://127.0.0.1:9/",
        broadcast_stream="broadcast",
        transactional_stream="outbound",
    )
    assert "secret-server-token" not in repr(gw) and "secret-server-token" not in str(gw)
