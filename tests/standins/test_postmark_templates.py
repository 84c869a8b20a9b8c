"""The Postmark stand-in's templates, batchWithTemplates, bulk and uplink, over HTTP
(strict as Postmark documents them; see bot/standins/postmark_templates.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from bot.standins.postmark_templates import MustachioError, html_encode, render_mustachio

TOKEN = {"X-Postmark-Server-Token": "standin-server-token", "Accept": "application/json"}


def call(postmark: Any, method: str, path: str, body: Any = None, **params: Any) -> Any:
    return requests.request(
        method, postmark.url + path.lstrip("/"), json=body, params=params, headers=TOKEN, timeout=5
    )


def template(**fields: Any) -> dict[str, Any]:
    return {
        "Name": "News",
        "Alias": "news-1",
        "Subject": "Hello {{name}}",
        "HtmlBody": "<p>{{name}} / {{{name}}} {{{ pm:unsubscribe }}}</p>",
        "TextBody": "{{name}} {{{ pm:unsubscribe }}}",
        **fields,
    }


def test_mustachio_as_postmark_documents_it():
    model = {"n": "<b>&'\"é", "list": [{"x": 1}, {"x": 2}], "on": True, "off": "", "p": {"q": "v"}}
    assert render_mustachio("{{ n }}", model, html=True) == "&lt;b&gt;&amp;&#39;&quot;&#233;"
    assert render_mustachio("{{ n }}", model, html=False) == model["n"]
    assert render_mustachio("{{{ n }}}|{{& n }}", model, html=True) == f"{model['n']}|{model['n']}"
    assert render_mustachio("{{#each list}}[{{x}}]{{/each}}", model, html=True) == "[1][2]"
    assert render_mustachio("{{#on}}yes{{/on}}{{^off}}no{{/off}}", model, html=True) == "yesno"
    assert (
        render_mustachio("{{#p}}{{q}}{{../n}}{{/p}}", {"p": {"q": "v"}, "n": "N"}, html=0) == "vN"
    )
    assert render_mustachio("a{{! a comment }}b{{missing}}c", model, html=True) == "abc"
    assert render_mustachio("{{{ pm:unsubscribe }}}", model, html=True) == "{{{ pm:unsubscribe }}}"
    # A tag is {{…}} without braces inside (Mustachio's tokenizer), found anywhere: extra
    # braces around it stay text — why Countersign escapes every brace of an issue.
    assert render_mustachio("{ { {{{{n}} }", {"n": "x"}, html=False) == "{ { {{x }"
    for bad in ("{{#a}}", "{{/a}}", "{{#each}}{{/each}}", "{{ a b }}"):
        with pytest.raises(MustachioError):
            render_mustachio(bad, {}, html=False)
    assert html_encode("山") == "山"


def test_templates_create_get_edit_delete_and_list(postmark):
    created = call(postmark, "POST", "/templates", template())
    assert created.status_code == 200
    template_id = created.json()["TemplateId"]
    assert created.json()["Alias"] == "news-1" and created.json()["TemplateType"] == "Standard"
    by_alias = call(postmark, "GET", "/templates/news-1").json()
    assert by_alias["TemplateId"] == template_id and by_alias["HtmlBody"].startswith("<p>")
    assert call(postmark, "PUT", f"/templates/{template_id}", {"Subject": "Changed"}).ok
    assert call(postmark, "GET", f"/templates/{template_id}").json()["Subject"] == "Changed"
    listed = call(postmark, "GET", "/templates", Count=10, Offset=0).json()
    assert listed["TotalCount"] == 1 and listed["Templates"][0]["Alias"] == "news-1"
    assert call(postmark, "POST", "/templates", template()).json()["ErrorCode"] == 1122  # alias
    assert call(postmark, "DELETE", "/templates/news-1").json()["ErrorCode"] == 0
    missing = call(postmark, "GET", "/templates/news-1")
    assert missing.status_code == 422 and missing.json()["ErrorCode"] == 1101
    bad = call(postmark, "POST", "/templates", template(HtmlBody="{{#open}}"))
    assert bad.status_code == 422 and bad.json()["ErrorCode"] == 1122
    assert call(postmark, "POST", "/templates", {"Name": "x"}).json()["ErrorCode"] == 1120


def test_a_server_holds_at_most_100_templates(postmark):
    for i in range(100):
        assert call(postmark, "POST", "/templates", template(Alias=f"t-{i}")).ok
    refused = call(postmark, "POST", "/templates", template(Alias="t-100"))
    assert refused.status_code == 422 and refused.json()["ErrorCode"] == 1105


def test_batch_with_templates_renders_each_message(postmark):
    template_id = call(postmark, "POST", "/templates", template()).json()["TemplateId"]
    message = {
        "From": "news@example.com",
        "TemplateId": template_id,
        "MessageStream": "broadcast",
        "Metadata": {"k": "v"},
    }
    reply = call(
        postmark,
        "POST",
        "/email/batchWithTemplates",
        {
            "Messages": [
                {**message, "To": "a@example.com", "TemplateModel": {"name": "<A>"}},
                {**message, "To": "b@example.com", "TemplateAlias": "nope", "TemplateId": None},
            ]
        },
    ).json()
    assert reply[0]["ErrorCode"] == 0 and reply[1]["ErrorCode"] == 1101
    (stored,) = postmark.messages(stream="broadcast")
    assert stored.Subject == "Hello <A>"
    link = postmark.unsubscribe_url(stored.MessageID)
    assert stored.HtmlBody == f"<p>&lt;A&gt; / <A> {link}</p>"
    assert stored.TextBody == f"<A> {link}"
    too_many = call(postmark, "POST", "/email/batchWithTemplates", {"Messages": [message] * 501})
    assert too_many.json()["ErrorCode"] == 410


def test_bulk_makes_the_messages_after_the_reply_and_reports_its_status(postmark):
    call(postmark, "POST", "/templates", template())
    postmark.bulk_delay = 0.3
    reply = call(
        postmark,
        "POST",
        "/email/bulk",
        {
            "From": "news@example.com",
            "TemplateAlias": "news-1",
            "MessageStream": "broadcast",
            "Metadata": {"send": "1"},
            "Messages": [
                {
                    "To": f"r{i}@example.com",
                    "TemplateModel": {"name": f"R{i}"},
                    "Metadata": {"i": str(i)},
                }
                for i in range(3)
            ],
        },
    ).json()
    assert reply["Status"] == "Accepted"
    assert call(postmark, "GET", f"/email/bulk/{reply['ID']}").json()["Status"] == "Accepted"
    assert postmark.messages(stream="broadcast") == []
    deadline = time.monotonic() + 5
    while call(postmark, "GET", f"/email/bulk/{reply['ID']}").json()["Status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = call(postmark, "GET", f"/email/bulk/{reply['ID']}").json()
    assert status["TotalMessages"] == 3 and status["PercentageCompleted"] == 100
    stored = sorted(postmark.messages(stream="broadcast"), key=lambda m: m.To)
    assert [m.Subject for m in stored] == ["Hello R0", "Hello R1", "Hello R2"]
    assert stored[1].Metadata == {"send": "1", "i": "1"}
    on_outbound = call(
        postmark,
        "POST",
        "/email/bulk",
        {
            "From": "news@example.com",
            "MessageStream": "outbound",
            "Subject": "s",
            "TextBody": "t",
            "Messages": [{"To": "x@example.com"}],
        },
    )
    assert on_outbound.status_code == 422  # the Bulk API sends on Broadcasts streams only


def test_bulk_needs_the_account_to_have_it(postmark):
    postmark.bulk_enabled = False
    refused = call(postmark, "GET", "/email/bulk/00000000-0000-0000-0000-000000000000")
    assert refused.status_code == 422 and refused.json()["ErrorCode"] == 405


def test_the_uplink_holds_requests_by_their_bytes_and_counts_them(postmark):
    postmark.bandwidth = 200_000  # bytes per second
    body = [
        {
            "From": "news@example.com",
            "To": "a@example.com",
            "TextBody": "x" * 50_000,
            "MessageStream": "broadcast",
        }
    ]
    started = time.monotonic()
    assert call(postmark, "POST", "/email/batch", body).ok
    assert call(postmark, "POST", "/email/batch", body).ok
    elapsed = time.monotonic() - started
    assert elapsed >= 2 * 50_000 / 200_000
    assert 100_000 < postmark.wire_bytes < 102_000
