"""The two pipes checked where it matters (invariant 1): when a send starts or
resumes, the broadcast stream must be a Broadcasts stream with Postmark's
unsubscribe handling (or Postmark adds neither the unsubscribe link nor the
List-Unsubscribe headers) and the transactional stream a Transactional one;
otherwise the send is refused, saying which setting to fix, and nothing goes
out on any stream. `run` says the same at start-up."""

from __future__ import annotations

import io
import time

import pytest

from bot import approvals, delivery
from bot.desk import gateway_from
from bot.postmark import PipeProblem
from handlers.main import say_pipe_problems
from storage.models import ApprovalRequest, ApprovalState, Issue
from tests.fixtures.delivery import (
    add_subscribers,
    approved_request,
    assert_exactly_once,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import APPROVER_2, EDITOR
from tests.fixtures.desk import desk_settings as settings_for


def _refusal(desk) -> dict:
    refused = [n for n in desk.notifier.notices if n.kind == "send.refused"]  # type: ignore[attr-defined]
    assert refused, desk.notifier.kinds()  # type: ignore[attr-defined]
    return dict(refused[-1].params)


def _request_and_issue(desk, request_id: int) -> tuple[str, str]:
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None
        issue = session.get(Issue, request.issue_id)
        assert issue is not None
        return request.state, issue.state


def test_the_incident_setting_broadcasts_on_the_transactional_stream_sends_nothing(
    db, postmark, clock
):
    """POSTMARK_BROADCAST_STREAM=outbound: the issue is even approved for that
    stream, but the start looks at what the stream is and refuses."""
    desk = make_desk(db, postmark.url, clock, POSTMARK_BROADCAST_STREAM="outbound")
    add_subscribers(desk, 30)
    request_id = approved_request(desk)
    assert delivery.start_approved(desk, request_id) is None
    refusal = _refusal(desk)
    assert refusal["code"] == "stream_wrong_type"
    assert refusal["setting"] == "POSTMARK_BROADCAST_STREAM"
    assert (refusal["stream"], refusal["found"], refusal["wanted"]) == (
        "outbound",
        "Transactional",
        "Broadcasts",
    )
    assert postmark.messages() == []  # on no stream at all
    assert _request_and_issue(desk, request_id) == (ApprovalState.VOID, "draft")


@pytest.mark.parametrize("handling", ["None", "Custom"])
def test_a_broadcast_stream_without_postmarks_unsubscribe_link_sends_nothing(
    db, postmark, clock, handling
):
    postmark.configure_stream("broadcast", "Broadcasts", handling)
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 20)
    assert delivery.start_approved(desk, approved_request(desk)) is None
    refusal = _refusal(desk)
    assert refusal["code"] == "stream_no_unsubscribe" and refusal["found"] == handling
    assert postmark.messages() == []


def test_a_transactional_setting_that_names_a_broadcast_stream_sends_nothing(db, postmark, clock):
    postmark.configure_stream("news", "Broadcasts")
    desk = make_desk(
        db,
        postmark.url,
        clock,
        POSTMARK_BROADCAST_STREAM="news",
        POSTMARK_TRANSACTIONAL_STREAM="broadcast",
    )
    add_subscribers(desk, 20)
    assert delivery.start_approved(desk, approved_request(desk)) is None
    refusal = _refusal(desk)
    assert refusal["code"] == "stream_wrong_type"
    assert refusal["setting"] == "POSTMARK_TRANSACTIONAL_STREAM"
    assert postmark.messages() == []


def test_a_stream_that_does_not_exist_sends_nothing(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock, POSTMARK_BROADCAST_STREAM="newsletter")
    add_subscribers(desk, 20)
    assert delivery.start_approved(desk, approved_request(desk)) is None
    refusal = _refusal(desk)
    assert refusal["code"] == "stream_missing" and refusal["stream"] == "newsletter"
    assert postmark.messages() == []


def test_when_postmark_cannot_say_the_start_waits_and_then_goes(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 40)
    postmark.faults.script(["503"], endpoint="/message-streams/{stream}")
    request_id = approved_request(desk)
    assert delivery.start_approved(desk, request_id) is None
    assert "send.start_failed" in desk.notifier.kinds()  # type: ignore[attr-defined]
    assert _request_and_issue(desk, request_id) == (ApprovalState.APPROVED, "approved")
    send_id = delivery.start_approved(desk, request_id)  # the retry
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 40}


def test_a_resume_checks_the_pipes_again(db, postmark, clock):
    desk = make_desk(db, postmark.url, clock)
    add_subscribers(desk, 30)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    delivery.halt_all(desk, actor=EDITOR)
    postmark.configure_stream("broadcast", "Broadcasts", "None")  # someone changed it
    with desk.db.sessions() as session:
        issue_id = session.get(ApprovalRequest, 1).issue_id  # type: ignore[union-attr]
    card = approvals.request_resume(desk, issue_id, actor=EDITOR)
    approvals.approve(desk, card.request_id, actor=APPROVER_2)
    assert delivery.resume_approved(desk, card.request_id) is None
    assert _refusal(desk)["code"] == "stream_no_unsubscribe"
    assert send_state(desk, send_id) == "halted"
    with running(desk):
        time.sleep(0.3)
    assert postmark.messages() == []


def test_run_says_at_start_up_which_setting_to_fix(postmark):
    good = gateway_from(settings_for(POSTMARK_API_URL=postmark.url))
    out = io.StringIO()
    assert say_pipe_problems(good, out) is True
    assert out.getvalue() == ""
    crossed = gateway_from(
        settings_for(POSTMARK_API_URL=postmark.url, POSTMARK_BROADCAST_STREAM="outbound")
    )
    out = io.StringIO()
    assert say_pipe_problems(crossed, out) is False
    text = out.getvalue()
    assert "POSTMARK_BROADCAST_STREAM: 'outbound' is a Transactional stream, not Broadcasts" in text
    assert "No send will start until this is fixed." in text
    postmark.faults.script(["503"], endpoint="/message-streams/{stream}")
    out = io.StringIO()
    assert say_pipe_problems(good, out) is False
    assert "Could not check the Postmark message streams" in out.getvalue()


def test_every_problem_has_a_sentence_naming_its_setting():
    for code in ("missing", "wrong_type", "no_unsubscribe"):
        problem = PipeProblem(code, "POSTMARK_BROADCAST_STREAM", "x", "None", "Broadcasts")
        assert "POSTMARK_BROADCAST_STREAM" in problem.sentence()
