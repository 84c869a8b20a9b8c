"""Rendering: Markdown to templates, the sandbox, the variables an author may use."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import rendering
from bot.rendering import (
    MAX_BODY_CHARS,
    MAX_TAGS,
    UNSUBSCRIBE_PLACEHOLDER,
    Footer,
    RecipientContext,
    TemplateProblem,
    compile_issue,
    content_hash,
    render_message,
)

SENDER = "Countersign News <news@example.com>"


def compile_(subject: str = "11月号のお知らせ", body: str = "本文です。") -> object:
    return compile_issue(subject, body, sender=SENDER, stream="broadcast", list_name="Newsletter")


def recipient(name: str = "山田花子", company: str = "株式会社サンプル") -> RecipientContext:
    return RecipientContext(
        name=name, company=company, list_name="Newsletter", issue_date="2026-12-01"
    )


def test_markdown_becomes_html_with_inlined_css_and_a_text_part():
    compiled = compile_issue(
        "Hello",
        "# 見出し\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n**太字** [link](https://example.com/)",
        sender=SENDER,
        stream="broadcast",
        list_name="Newsletter",
    )
    message = render_message(compiled, recipient())
    assert "<h1" in message.html and "見出し" in message.html
    assert "<table>" in message.html or "<table " in message.html
    assert 'style="' in message.html  # css-inline moved the stylesheet into attributes
    assert "<style>" not in message.html
    assert "**太字**" in message.text  # the text part is the readable Markdown source


def test_every_message_carries_postmarks_unsubscribe_placeholder_in_both_parts():
    message = render_message(compile_(), recipient())
    assert UNSUBSCRIBE_PLACEHOLDER in message.html
    assert UNSUBSCRIBE_PLACEHOLDER in message.text


def test_recipient_fields_are_escaped_in_html_and_never_interpreted():
    compiled = compile_issue(
        "{{ subscriber.name }}様",
        "こんにちは {{ subscriber.name }} ({{ subscriber.company }})",
        sender=SENDER,
        stream="broadcast",
        list_name="Newsletter",
    )
    message = render_message(compiled, recipient(name="<script>x</script>", company="{{ 7*7 }}"))
    assert "<script>x</script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "{{ 7*7 }}" in message.html and "49" not in message.html  # data is never a template
    assert message.subject == "<script>x</script>様"


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ subscriber.__class__ }}",
        "{{ subscriber['name'] }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ range(10) }}",
        "{{ subscriber.name.upper() }}",
        "{{ subscriber.name|attr('__class__') }}",
        "{% set x = subscriber %}",
        "{% for x in subscriber %}{% endfor %}",
        "{{ config }}",
        "{{ subscriber.email }}",
        "{{ subscriber }}",
        # What printed someone's name in the review: a literal, a filter's fallback.
        "{{ '山口健太' }}",
        "{{ subscriber.name|default('Leakwell Holdings') }}",
        "{{ subscriber.name or '山口' }}",
        "{{ subscriber.name ~ '健太' }}",
        "{% if subscriber.name %}x{% endif %}",
        "{% autoescape false %}<b>{% endautoescape %}",
        "{% raw %}{{ x }}{% endraw %}",
        "{{- subscriber.name -}}",
        "{{{ pm:unsubscribe }}}",
        # Bombs: power, repetition, nesting.
        "{{ 9 ** 99999999 }}",
        "{{ 'a' * 50000000 }}",
        "{{ ((((((((((((((((((((1)))))))))))))))))))) }}",
        "{{ [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]] }}",
        "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}",
    ],
)
def test_anything_but_printing_a_documented_variable_is_refused_at_save_time(body: str):
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="一行目\n" + body)
    assert problem.value.field == "body"
    assert problem.value.line == 2
    assert problem.value.code in ("not_printable", "control_structure")
    assert "{{ subscriber.name }}, {{ subscriber.company }}, {{ list_name }}" in str(
        problem.value.params["allowed"]
    )


def test_the_template_check_is_linear_in_the_length_of_the_body():
    """A body of the largest size, every character a tag to look at, is judged at once."""
    for body in (
        "{{ subscriber.name }}" * (MAX_BODY_CHARS // 21),
        "{# #}" * (MAX_BODY_CHARS // 5),
        "{" * MAX_BODY_CHARS,
        "{{" + " " * (MAX_BODY_CHARS - 4) + "}}",
    ):
        started = time.perf_counter()
        with contextlib.suppress(TemplateProblem):
            compile_(body=body)
        assert time.perf_counter() - started < 2.0


def test_syntax_errors_name_the_line():
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="一行目\n二行目\n{{ subscriber.name ")
    assert problem.value.line == 3
    assert "at line 3" in str(problem.value)  # (the log's form)


def test_subject_problems_are_reported_against_the_subject():
    with pytest.raises(TemplateProblem) as problem:
        compile_(subject="{{ unknown }}")
    assert problem.value.field == "subject"
    with pytest.raises(TemplateProblem) as empty:
        compile_(subject="   ")
    assert empty.value.field == "subject"


def test_oversized_output_is_refused():
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="x" * 100_001)
    assert problem.value.code in ("subject_too_long", "body_too_long")


def test_the_documented_variables_render():
    compiled = compile_(
        body="{{ list_name }} {{ issue_date }} {{subscriber.name}}、{{ subscriber.company }} "
        "{# a note to myself #}[停止]({{ unsubscribe_url }})"
    )
    message = render_message(compiled, recipient(name="山田", company="acme"))
    assert "Newsletter 2026-12-01 山田、acme" in message.html
    assert "a note to myself" not in message.html + message.text
    assert f'href="{UNSUBSCRIBE_PLACEHOLDER}"' in message.html


def test_the_legal_footer_is_in_both_parts_with_the_unsubscribe_link():
    footer = Footer("Navigate", "〒100-0001 東京都千代田区見本町1-2-3", "info@example.com")
    compiled = compile_issue(
        "件名", "本文", sender=SENDER, stream="broadcast", list_name="Newsletter", footer=footer
    )
    message = render_message(compiled, recipient())
    for part in (message.html, message.text):
        assert "〒100-0001 東京都千代田区見本町1-2-3" in part
        assert "info@example.com" in part and "Navigate" in part
        assert UNSUBSCRIBE_PLACEHOLDER in part


def test_the_size_bound_counts_the_widest_fields_a_row_can_hold():
    """Each printed field may be 200 characters that escaping makes 5 bytes each: 310 KB
    of text and 95 fields pass with short names, but not with the widest a row holds."""
    text = "&" * 62_000  # 310 KB once escaped
    compile_(body=text + "{{ list_name }}" * 95)
    with pytest.raises(TemplateProblem) as problem:
        compile_(body=text + "{{ subscriber.name }}" * 95)
    assert problem.value.code in ("too_large", "rendered_too_long")


def test_a_body_may_hold_a_bounded_number_of_costly_marks():
    compile_(body="[リンク](https://example.com/) **太字** " * 1_000)  # 5,000 marks
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="[" * 5_001)
    assert problem.value.code == "too_many_marks" and problem.value.params["limit"] == 5_000


def test_building_a_version_has_a_hard_budget_of_processor_time(monkeypatch):
    """Whatever slips past the bounds on tags and marks: Markdown needs seconds for
    100,000 "[", and is interrupted after one second of this thread's time."""
    monkeypatch.setattr(rendering, "MAX_MARKS", 10**9)
    started = time.thread_time()
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="[" * 99_999)
    assert problem.value.code == "too_slow"
    assert time.thread_time() - started < rendering.COMPILE_CPU_SECONDS + 0.5
    time.sleep(0.1)  # and nothing is raised afterwards, here or anywhere
    assert compile_(body="本文").subject


def test_a_body_may_hold_a_bounded_number_of_tags():
    compile_(body="{{ subscriber.name }}" * MAX_TAGS)
    with pytest.raises(TemplateProblem) as problem:
        compile_(body="{{ subscriber.name }}" * MAX_TAGS + "{# one more #}")
    assert problem.value.code == "too_many_tags" and problem.value.params["limit"] == MAX_TAGS


def test_content_hash_covers_every_part():
    base = ("s", "<p>h</p>", "t", "a@example.com", "broadcast")
    seen = {content_hash(*base)}
    for index in range(5):
        changed = list(base)
        changed[index] = changed[index] + "!"
        seen.add(content_hash(*changed))
    assert len(seen) == 6


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_body_either_compiles_or_is_refused_with_a_problem(body: str):
    try:
        compiled = compile_(body=body)
    except TemplateProblem as problem:
        assert problem.field == "body"
        return
    rendered = render_message(compiled, recipient())
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.html


@settings(max_examples=40, deadline=None)
@given(
    st.text(
        alphabet="山田花子株式会社サンプルあいうえおabcXYZ <>&\"'{}%#", min_size=1, max_size=30
    ),
    st.text(alphabet="山田花子株式会社サンプルあいうえおabcXYZ <>&\"'{}%#", max_size=30),
)
def test_japanese_subject_and_body_round_trip_exactly(subject: str, body: str):
    subject = subject.strip() or "件名"
    if "{" in subject or "{" in body or "#" in body:
        return  # template syntax and Markdown headings are covered elsewhere
    compiled = compile_issue(
        subject, body, sender=SENDER, stream="broadcast", list_name="Newsletter"
    )
    message = render_message(compiled, recipient())
    assert message.subject == subject
    assert message.text.startswith(body.rstrip())


@pytest.mark.parametrize("body", ["{#", "本文 {# メモ", "{% raw %}", "{#}"])
def test_a_tag_left_open_at_the_end_of_the_body_is_refused_at_save_time(body: str):
    """Found by the fuzz test above: `{#` alone parses, but swallows the footer."""
    with pytest.raises(TemplateProblem) as problem:
        compile_(body=body)
    assert problem.value.field == "body"
    assert "line 9" not in str(problem.value)  # never a line of the layout
