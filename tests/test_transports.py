"""Every POSTMARK_TRANSPORT against the Postmark stand-in: exactly once through
the same faults as tests/test_delivery.py, the reader's message byte for byte
what `render_message` gives, and the template's life (invariant 3: a template
changed at Postmark refuses the send; the 100-template limit is a refusal)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from bot import approvals, delivery
from bot.check import BULK, Status, bulk_check
from bot.delivery_engine import EngineOptions
from bot.rendering import RecipientContext, compile_issue, render_message
from bot.speech import say
from bot.standins.postmark import PostmarkStandIn
from bot.standins.postmark_templates import render_mustachio
from bot.transports import SendContent
from bot.transports import templates as template_transport
from storage.models import ApprovalRequest
from tests.fixtures.delivery import (
    FAST,
    add_subscribers,
    approved_request,
    assert_exactly_once,
    ledger_rows,
    make_desk,
    running,
    send_state,
    wait_until,
)
from tests.fixtures.desk import build_desk
from tests.fixtures.postmark import SEND_ENDPOINTS

CONTENT_ONCE = ("templates", "bulk")
FAULTY = EngineOptions(**{**FAST.__dict__, "reconcile_window": 2.0})
FAULTS = ["429", "500", "503", "reset", "reply_lost", "reply_late", "latency:1.5"]


def _desk(db: Any, postmark: PostmarkStandIn, clock: Any, transport: str) -> Any:
    return make_desk(db, postmark.url, clock, read_timeout=1.0, POSTMARK_TRANSPORT=transport)


@pytest.fixture(autouse=True)
def _quick_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.transports.bulk import BulkChannel

    monkeypatch.setattr(BulkChannel, "poll_seconds", 0.05)
    monkeypatch.setattr(BulkChannel, "settle_seconds", 0.2)
    monkeypatch.setattr(BulkChannel, "quiet_seconds", 0.5)


@pytest.mark.parametrize("transport", CONTENT_ONCE)
@pytest.mark.parametrize("fault", FAULTS)
def test_exactly_once_through_each_postmark_fault(db, postmark, clock, transport, fault):
    desk = _desk(db, postmark, clock, transport)
    postmark.faults.late_reply_seconds = 1.5
    add_subscribers(desk, 160)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.script([None, fault, fault, None, fault], endpoint=SEND_ENDPOINTS[transport])
    with running(desk, FAULTY):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert any(f.kind == fault for f in postmark.faults.applied)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 160}
    assert len(postmark.templates) == 0  # deleted when the send finished


@pytest.mark.parametrize("transport", CONTENT_ONCE)
@pytest.mark.parametrize("fault", ["reply_lost", "process_late"])
def test_exactly_once_when_the_search_lags_and_postmark_processes_late(
    db, postmark, clock, transport, fault, monkeypatch
):
    from bot.transports.bulk import BulkChannel

    desk = _desk(db, postmark, clock, transport)
    add_subscribers(desk, 120)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.index_lag = 0.8
    postmark.faults.late_process_seconds = 1.0
    monkeypatch.setattr(BulkChannel, "settle_seconds", 1.5)  # longer than the index lag
    endpoint = SEND_ENDPOINTS[transport]
    postmark.faults.script([None, fault], endpoint=endpoint)
    options = EngineOptions(**{**FAST.__dict__, "reconcile_window": 2.5, "reconcile_interval": 0.1})
    with running(desk, options):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 120}
    assert postmark.faults.calls(endpoint) == 3  # the batch Postmark took was never re-sent


@pytest.mark.parametrize("transport", CONTENT_ONCE)
def test_exactly_once_under_random_faults_with_a_seed(db, postmark, clock, transport):
    desk = _desk(db, postmark, clock, transport)
    postmark.faults.late_reply_seconds = 1.2
    postmark.bulk_delay = 0.3  # bulk messages appear after the reply, as at Postmark
    add_subscribers(desk, 400)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.faults.randomly(
        0.4,
        ["429", "500", "503", "reset", "reply_lost", "reply_late"],
        seed=20261201,
        endpoint=SEND_ENDPOINTS[transport],
    )
    with running(desk, FAULTY):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=90)
    assert len(postmark.faults.applied) >= 3
    assert assert_exactly_once(desk, postmark, send_id) == {"sent": 400}


@pytest.mark.parametrize("transport", CONTENT_ONCE)
def test_per_message_errors_and_hostile_fields(db, postmark, clock, transport):
    desk = _desk(db, postmark, clock, transport)
    names = ("{{ list_name }}", "{{#each x}}{{{ b }}}"), ("<b>山田 & 'Co\"", "株式会社{")
    add_subscribers(desk, 20, names=lambda i: names[i % 2])
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.suppress("reader7@example.com", stream="broadcast", reason="HardBounce")
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "finished")
    rows = {email: status for _, status, _, email in ledger_rows(desk, send_id)}
    # The batch answers 406 for an inactive address; a bulk request simply makes no message.
    assert rows["reader7@example.com"] == ("suppressed" if transport == "templates" else "failed")
    counted = assert_exactly_once(desk, postmark, send_id)
    assert counted["sent"] == 19
    for message in postmark.messages(stream="broadcast"):
        i = int(message.Recipients[0].removeprefix("reader").split("@")[0])
        name, company = names[i % 2]
        # The reader's own fields are printed, never read as tags.
        assert f"Hello {name} of {company}." in (message.TextBody or "")
        assert f"Hello {escape(name)} of {escape(company)}." in (message.HtmlBody or "")


@pytest.mark.parametrize("transport", CONTENT_ONCE)
def test_a_template_changed_at_postmark_refuses_the_send(db, postmark, clock, transport):
    desk = _desk(db, postmark, clock, transport)
    desk.approval_listeners.append(delivery.approval_listener(desk))
    add_subscribers(desk, 300)
    postmark.latency = 0.1
    request_id = approved_request(desk)
    with desk.db.sessions() as session:
        request = session.get(ApprovalRequest, request_id)
        assert request is not None and request.send_id is not None
        send_id, issue_id = request.send_id, request.issue_id
    with running(desk):
        wait_until(lambda: any(s == "sent" for _, s, _, _ in ledger_rows(desk, send_id)))
        delivery.halt_all(desk, actor="U0EDITOR1")
        wait_until(lambda: not any(s == "batched" for _, s, _, _ in ledger_rows(desk, send_id)))
    sent_before = len(postmark.messages(stream="broadcast"))
    (template,) = postmark.templates.all()
    # Someone edits the template in Postmark's web editor while the send is halted.
    postmark.edit_template(template.TemplateId, TextBody="Click here: https://evil.example.com/")
    card = approvals.request_resume(desk, issue_id, actor="U0EDITOR1")
    with running(desk):
        approvals.approve(desk, card.request_id, actor="U0APPROV2")
        wait_until(lambda: send_state(desk, send_id) == "halted" and _halted_for(desk, send_id))
    assert len(postmark.messages(stream="broadcast")) == sent_before
    assert "evil" not in "".join(m.TextBody or "" for m in postmark.messages())


def _halted_for(desk: Any, send_id: int) -> bool:
    reports = delivery.status(desk, send_id=send_id)
    return bool(reports) and reports[0].halt_reason.startswith("postmark_template_changed")


def test_a_template_changed_before_the_first_batch_sends_nothing(db, postmark, clock):
    desk = _desk(db, postmark, clock, "templates")
    add_subscribers(desk, 30)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    content = _content(desk, send_id)
    wanted = template_transport.design(content)
    # The alias exists already, with other content (a leftover edited by hand).
    postmark.templates.create(
        {
            "Name": "edited",
            "Alias": f"countersign-send-{send_id}-{wanted.digest[:12]}",
            "Subject": wanted.subject,
            "HtmlBody": wanted.html.replace("Hello", "Hi"),
            "TextBody": wanted.text,
        }
    )
    with running(desk):
        wait_until(lambda: _halted_for(desk, send_id))
    assert postmark.messages(stream="broadcast") == []


def test_the_template_limit_is_a_clear_refusal(db, postmark, clock):
    desk = _desk(db, postmark, clock, "templates")
    for i in range(100):
        postmark.templates.create(
            {"Name": f"t{i}", "Alias": f"other-{i}", "Subject": "s", "TextBody": "x"}
        )
    add_subscribers(desk, 10)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "halted")
    report = delivery.status(desk, send_id=send_id)[0]
    assert report.halt_reason.startswith("postmark_template_limit")
    assert postmark.messages(stream="broadcast") == []  # never a silent fallback to batch


def test_leftover_templates_of_finished_sends_are_cleaned_up(db, postmark, clock):
    desk = _desk(db, postmark, clock, "templates")
    add_subscribers(desk, 10)
    first = delivery.start_approved(desk, approved_request(desk))
    assert first is not None
    with running(desk):
        wait_until(lambda: send_state(desk, first) == "finished")
    # A leftover: as if the delete after the first send had failed.
    postmark.templates.create(
        {
            "Name": "left over",
            "Alias": f"countersign-send-{first}-0123456789ab",
            "Subject": "s",
            "TextBody": "x",
        }
    )
    postmark.templates.create({"Name": "someone else's", "Subject": "s", "TextBody": "x"})
    second = delivery.start_approved(desk, approved_request(desk, subject="Next month"))
    assert second is not None
    with running(desk):
        wait_until(lambda: send_state(desk, second) == "finished")
    assert [t.Name for t in postmark.templates.all()] == ["someone else's"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    words=st.text(alphabet=st.sampled_from("a{}<>&\"'é山 *#\n`"), max_size=40),
    name=st.text(max_size=12),
    company=st.text(max_size=12),
)
def test_the_template_renders_exactly_what_render_message_gives(words, name, company):
    body = f"Hello {{{{ subscriber.name }}}} ({{{{ subscriber.company }}}}).\n\n{words}"
    try:
        compiled = compile_issue(
            "News {{ issue_date }}",
            body,
            sender="News <news@example.com>",
            stream="broadcast",
            list_name="Newsletter",
        )
    except Exception:  # a body Markdown or Jinja refuses is refused at save time
        return
    content = SendContent(1, 1, compiled, "Newsletter", "2026-12-01", "countersign-issue-1")
    made = template_transport.design(content)
    model = __import__("json").loads(made.model(name, company))
    expected = render_message(compiled, RecipientContext(name, company, "Newsletter", "2026-12-01"))
    assert render_mustachio(made.subject, model, html=False) == expected.subject
    assert render_mustachio(made.html, model, html=True) == expected.html
    assert render_mustachio(made.text, model, html=False) == expected.text


def test_the_check_tells_whether_bulk_is_enabled(db, postmark, clock):
    desk = build_desk(db, clock, POSTMARK_API_URL=postmark.url, POSTMARK_TRANSPORT="bulk")
    assert bulk_check(desk.settings, desk.postmark).status is Status.OK
    postmark.bulk_enabled = False
    result = bulk_check(desk.settings, desk.postmark)
    assert result.name == say(BULK) == "Postmark Bulk API" and result.status is Status.FAIL
    assert "not enabled" in result.detail
    other = build_desk(db, clock, POSTMARK_API_URL=postmark.url, POSTMARK_TRANSPORT="templates")
    assert bulk_check(other.settings, other.postmark).status is Status.OK


def test_bulk_not_enabled_halts_the_send_without_sending(db, postmark, clock):
    desk = _desk(db, postmark, clock, "bulk")
    postmark.bulk_enabled = False
    add_subscribers(desk, 10)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk):
        wait_until(lambda: send_state(desk, send_id) == "halted")
    assert delivery.status(desk, send_id=send_id)[0].halt_reason.startswith("postmark_refused")
    assert postmark.messages(stream="broadcast") == []


def _content(desk: Any, send_id: int) -> SendContent:
    from bot import issues
    from storage.models import IssueVersion, Send

    with desk.db.sessions() as session:
        send = session.get(Send, send_id)
        version = session.get(IssueVersion, send.version_id)
        return SendContent(
            send_id,
            send.issue_id,
            issues.compiled_of(version),
            "Newsletter",
            issues.issue_date(version, desk.settings.tz),
            f"countersign-issue-{send.issue_id}",
        )


def test_a_bulk_message_the_search_showed_too_late_is_counted_sent_when_its_webhook_comes(
    db, postmark, clock
):
    """Postmark does not say how far its search may lag behind a bulk request: a
    message shown later than `settle_seconds` is first recorded as not made, and
    its Delivery webhook, the proof that it was made, makes it sent (never a
    re-send: it was final either way)."""
    from bot import audit, webhooks
    from bot.standins.postmark_webhooks import Outcomes
    from storage.models import AuditEvent

    desk = _desk(db, postmark, clock, "bulk")
    postmark.set_outcomes(Outcomes())  # a Delivery webhook for every message
    add_subscribers(desk, 30)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    postmark.index_lag = 60.0  # far longer than the patched settle_seconds (0.2)
    with running(desk, FAST):
        # Every message "not made": the send ends, finished or halted by the
        # failure rate (whichever the engine sees first), with each row final.
        wait_until(lambda: send_state(desk, send_id) in ("finished", "halted"), timeout=60)
    rows = ledger_rows(desk, send_id)
    assert {status for _, status, _, _ in rows} == {"failed"}  # the search showed none in time
    assert len(postmark.messages("broadcast")) == 30  # Postmark made every one, once
    for event in postmark.webhook_events:
        assert webhooks.handle(desk, event.payload)[0] == 200
    rows = ledger_rows(desk, send_id)
    by_address = {m.Recipients[0]: m.MessageID for m in postmark.messages("broadcast")}
    assert [(status, message_id) for _, status, message_id, _ in rows] == [
        ("sent", by_address[address]) for _, _, _, address in rows
    ]
    for event in postmark.webhook_events:  # told twice: counted once, corrected once
        webhooks.handle(desk, event.payload)
    with desk.db.sessions() as session:
        made = session.query(AuditEvent).filter_by(action="delivery.made_after_all").all()
    assert len(made) == 30 and {e.actor for e in made} == {audit.SYSTEM}
    assert assert_exactly_once(desk, postmark, send_id, allow_open=True) == {"sent": 30}


def test_a_webhook_naming_a_failed_row_of_another_kind_changes_nothing(db, postmark, clock):
    """Only a row the bulk transport recorded as not made (no MessageID) is corrected."""
    from bot import outcomes, webhooks
    from bot.standins.postmark_webhooks import Outcomes
    from storage.models import Delivery

    desk = _desk(db, postmark, clock, "bulk")
    postmark.set_outcomes(Outcomes())
    add_subscribers(desk, 5)
    send_id = delivery.start_approved(desk, approved_request(desk))
    assert send_id is not None
    with running(desk, FAST):
        wait_until(lambda: send_state(desk, send_id) == "finished", timeout=60)
    with desk.db.sessions() as session, session.begin():
        session.query(Delivery).filter_by(send_id=send_id).update(
            {"status": "failed", "error_code": outcomes.NOT_MADE + 405, "message_id": None}
        )
    assert len(postmark.webhook_events) == 5
    for event in postmark.webhook_events:
        webhooks.handle(desk, event.payload)
    assert {status for _, status, _, _ in ledger_rows(desk, send_id)} == {"failed"}
