"""The delivery engine against the Postmark stand-in, on the real database."""

from __future__ import annotations

from bot import delivery
from tests.test_delivery_support import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)


def test_an_approved_issue_reaches_every_recipient_once(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 230)
    request_id = approved_request(desk)
    send_id = delivery.start_approved(desk, request_id)
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    statuses = assert_exactly_once(desk, postmark, send_id)
    assert statuses == {"sent": 230}
