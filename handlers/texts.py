"""Every sentence the Slack front end shows, in one catalogue.

Whole sentences with named placeholders, never assembled from fragments, so
that a translation (the first users read Japanese) replaces this table and
nothing else. `t(key, **params)` fills one, in the language chosen with
`use_language()` (the LANGUAGE setting; `handlers.app.build` calls it), as
`Mrkdwn`: the sentence is the app's own markup, and every parameter that is not
`Mrkdwn` itself is typed text or data, escaped (`handlers.mrkdwn`). The
Japanese sentences live in `handlers.texts_ja`; a key it lacks falls back to
English rather than showing the bare key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from handlers.mrkdwn import Mrkdwn, escape
from handlers.texts_ja import JA

EN: dict[str, str] = {
    # --- help and usage ---------------------------------------------------------------
    "help.title": "Countersign: the newsletter desk",
    "help.body": (
        "*Write*\n"
        "`/newsletter new` opens the draft form; `/newsletter edit ID` changes a draft "
        "(an edit voids any approval).\n"
        "`/newsletter show ID` shows the whole issue as a reader gets it, with its preflight "
        "findings and audience (`show ID source`: the template as written); "
        "`/newsletter test ID` sends a [TEST] copy to your own address.\n"
        "*Send (two people)*\n"
        '`/newsletter submit ID [at YYYY-MM-DD HH:MM] [canary N%|canary off] [override "reason"]` '
        "asks the approvers; someone other than you and the author must approve. With a "
        "canary, a share of the list gets it first and the rest after a hold.\n"
        "`/newsletter cancel ID` withdraws it. `/newsletter status [ID]` shows progress.\n"
        "`/newsletter halt` stops every send now; `/newsletter resume ID` asks for approval "
        "to continue.\n"
        "*Look back*\n"
        "`/newsletter report ID` shows how an issue did. "
        "`/newsletter list`, `/newsletter audit [ID]`, `/newsletter schedule`, "
        "`/newsletter subscribers`.\n"
        "`/newsletter recipients ID` who received an issue: the CSV in your DM (approvers).\n"
        "*When something goes wrong*\n"
        "`/newsletter halt`, then `/newsletter recipients ID`, then `/newsletter correct ID` "
        "(a correction to exactly those readers). Runbooks for every case: {runbooks}\n"
        "*Readers*\n"
        "`/unsubscribe EMAIL [note]` processes an unsubscribe request; `/unsubscribe` alone "
        "opens a form."
    ),
    "usage.unknown": "I don't know the subcommand `{word}`. Here is what I can do:",
    "usage.bad_arguments": "`/newsletter {sub}` needs {expected}. For example: `{example}`.",
    "usage.expects.nothing": "nothing after it",
    "usage.expects.show": "an issue number, optionally followed by `source`",
    "usage.expects.issue": "an issue number",
    "usage.expects.optional_issue": "an optional issue number",
    "usage.expects.submit": (
        "an issue number, optionally `at YYYY-MM-DD HH:MM`, `canary N%` or `canary off`, "
        'and `override "reason"`'
    ),
    "usage.expects.subscribers": "nothing, or `import`, `find TEXT`, `forget EMAIL`, `resubscribe EMAIL reason`",
    # --- access -------------------------------------------------------------------------
    "access.not_team": (
        "Sorry, only members of the newsletter team can use Countersign. "
        "Ask whoever manages the team to add you."
    ),
    "access.directory_plan": (
        "I could not check who is on the team: user groups need a paid Slack plan. "
        "Set TEAM and APPROVERS to lists of user ids (U…) instead."
    ),
    "access.directory_error": (
        "I could not check who is on the team because Slack answered `{error}`. "
        "Please try again in a minute."
    ),
    # --- drafting -----------------------------------------------------------------------
    "draft.title_new": "New issue",
    "draft.title_edit": "Edit issue #{issue}",
    "draft.title_correction": "Correction of #{issue}",
    "draft.submit": "Save",
    "draft.cancel": "Cancel",
    "draft.subject_label": "Subject",
    "draft.body_label": "Body (Markdown)",
    "draft.body_hint": (
        "You may use {{{{ subscriber.name }}}}, {{{{ subscriber.company }}}}, {{{{ list_name }}}}, "
        "{{{{ issue_date }}}} and {{{{ unsubscribe_url }}}}. An unsubscribe link is added at the end. "
        'Slack lets a box hold {section_chars} characters: for more, press "Add a section" '
        "(up to {sections} sections, joined with a blank line), or attach the body as a file "
        "(up to {body_chars} characters)."
    ),
    "draft.saving": ":hourglass_flowing_sand: Saving… this takes a moment for a long issue.",
    "draft.saved_modal": ":white_check_mark: Saved. The details are in your messages from me.",
    "draft.problem_notice": ":warning: Not saved: {problem}",
    "draft.close": "Close",
    "draft.section_label": "Body (Markdown), section {number} of {count}",
    "draft.add_section": "Add a section",
    "draft.file_label": "Or attach the body as a file",
    "draft.file_hint": (
        "A Markdown (.md) or text (.txt) file in UTF-8, up to {body_chars} characters. "
        "Leave the sections empty when you attach one."
    ),
    "draft.too_long_for_sections": (
        ":warning: This issue's body ({chars} characters) does not fit the form's sections "
        "without changing it. To change it, attach the whole body again as a file; the "
        "sections below are left empty."
    ),
    "draft.body_empty": "Type the body in the sections, or attach it as a file.",
    "draft.file_and_sections": (
        "Attach a file or type the sections, not both: the file would replace what you typed."
    ),
    "draft.file_unreadable": "I could not read the attached file ({error}). Please attach it again.",
    "draft.file_type": "{name} is not a Markdown (.md, .markdown) or text (.txt) file.",
    "draft.file_too_large": (
        "The file is {size} bytes, more than a body of {body_chars} characters can be."
    ),
    "draft.file_not_utf8": (
        "The file is not UTF-8 text (byte {position} cannot be read). Save it as UTF-8 and "
        "attach it again."
    ),
    "draft.file_too_long": "The file has {chars} characters; a body may have at most {body_chars}.",
    "draft.saved": (
        "Saved issue #{issue}, version {version} (hash `{hash12}`). Next: "
        "`/newsletter show {issue}` to preview it, `/newsletter submit {issue}` to ask "
        "for approval."
    ),
    "draft.edit_voided": (
        "Saved issue #{issue}, version {version}. The approval request that was pending or "
        "given is now void. Next: `/newsletter show {issue}` to preview it, "
        "`/newsletter submit {issue}` to ask for approval again."
    ),
    "draft.no_such_issue": "There is no issue #{issue}.",
    # --- template problems (shown in the modal under the field, and in the preview) -----
    # {found}: what the author wrote; {allowed}: what a template may print.
    "template.too_many_tags": "Line {line}: a template may hold at most {limit} of {tags}.",
    "template.comment_unclosed": "Line {line}: the comment opened with {opener} is never closed.",
    "template.control_structure": (
        "Line {line}: control structures such as `{found}` are not allowed. "
        "A template may only print {allowed}."
    ),
    "template.not_printable": (
        "Line {line}: `{found}` is not allowed. A template may only print {allowed}."
    ),
    "template.subject_empty": "The subject is empty.",
    "template.subject_too_long": "The subject is longer than {limit} characters.",
    "template.body_too_long": "The body is longer than {limit} characters.",
    "template.too_many_marks": (
        "The body holds more than {limit} of the marks {marks}: simplify its Markdown."
    ),
    "template.too_large": "The message would be larger than {limit} KB.",
    "template.tag_unclosed": "A tag opened in the body ({openers}) is never closed.",
    "template.render_failed": "The template cannot be rendered ({error}).",
    "template.rendered_too_long": "The message would be longer than {limit} characters.",
    "template.too_slow": "The body takes too long to prepare: simplify its Markdown.",
    "template.unsubscribe_conditional": (
        "The unsubscribe link is printed only for some readers: every reader needs it."
    ),
    # --- preview ------------------------------------------------------------------------
    "preview.not_rendered": (
        ":no_entry: This version cannot be rendered for a reader; the findings below say why."
    ),
    "preview.title": "Preview of issue #{issue}, as a reader gets it",
    "preview.sample_reader": (
        ":bust_in_silhouette: Shown for a made-up sample reader, *{name}* of *{company}*: each "
        "reader sees their own name and company. The unsubscribe link here leads nowhere."
    ),
    "preview.subject": "*Subject:* {subject}",
    "preview.part": "Issue #{issue}: preview, part {part} of {parts}",
    "preview.source_hint": "The template exactly as written: `/newsletter show {issue} source`.",
    "preview.source_title": "Issue #{issue}: the template as written",
    "preview.source_part": "Issue #{issue}: source, part {part} of {parts}",
    "preview.facts": (
        "State: *{state}* · version {version} by <@{author}> · hash `{hash12}` · "
        "list {list_name}: {recipients} recipients"
    ),
    "preview.no_findings": "Preflight: all checks passed.",
    "preview.findings_title": "Preflight findings:",
    "preview.blocking": ":no_entry: {message}",
    "preview.warning": ":warning: {message}",
    "preview.detail": "Found: {detail}",
    # --- preflight findings (channel-safe: no personal data) ----------------------------
    "finding.subject_empty": "The subject is empty.",
    "finding.subject_multiline": "The subject has more than one line.",
    "finding.template_error": "The template cannot be rendered.",
    "finding.unsubscribe_missing": "The message lacks an unsubscribe link in its HTML or text part.",
    "finding.unresolved_variables": (
        "The message still contains {count} placeholder(s) that would reach readers unresolved."
    ),
    "finding.size_large": "The HTML part is {kilobytes} KB; Gmail clips messages over 102 KB.",
    "finding.insecure_link": "The message links to http:// addresses; prefer https://.",
    "finding.personal_email": "The message contains {count} email address(es) other than the sender's.",
    "finding.personal_phone": "The message contains {count} phone number(s).",
    "finding.subscriber_data": (
        "The message contains {count} piece(s) of personal data of subscribers or of people "
        "who asked to unsubscribe ({kinds})."
    ),
    "finding.kind.name": "names",
    "finding.kind.company": "companies",
    "finding.kind.address": "addresses",
    "finding.kind.note": "what was typed into an unsubscribe request's note",
    "finding.body_empty": (
        "The body has nothing to say: it is empty or holds only the unsubscribe link."
    ),
    "finding.postal_address_missing": (
        "The footer lacks the sender's postal address, which the law requires in every "
        "newsletter. Set NEWSLETTER_POSTAL_ADDRESS, then save the issue again."
    ),
    "finding.contact_missing": (
        "The footer lacks the contact for inquiries. Check NEWSLETTER_CONTACT, then save the "
        "issue again."
    ),
    # --- list ---------------------------------------------------------------------------
    "list.empty": "No issues yet. Start one with `/newsletter new`.",
    "list.title": "Issues, newest first:",
    "list.line": "#{issue} · *{state}* · {subject} (version {version})",
    # --- test copy ----------------------------------------------------------------------
    "test.sent": "Sent a [TEST] copy of issue #{issue} to {address}.",
    "refusal.test_no_email": "I could not find an email address in your Slack profile, so no test copy was sent.",
    "refusal.test_outside_domain": (
        "I won't send a test copy to {address}: test copies only go to addresses at {domains}. "
        "Set TEST_RECIPIENT_DOMAINS to allow another domain."
    ),
    "refusal.test_failed": "Postmark did not accept the test copy: {reason}. Nothing was sent.",
    # --- approval -----------------------------------------------------------------------
    "card.title": "Approval needed: issue #{issue}",
    "card.title_resume": "Approval needed to resume issue #{issue}",
    "card.subject": "*Subject:* {subject}",
    "card.facts": (
        "*List:* {list_name} · *Recipients:* {recipients} · *Hash:* `{hash12}` · "
        "*Version:* {version} by <@{author}>"
    ),
    "card.requested": "Requested by <@{requester}>. Expires {expires}.",
    "card.correction": (
        ":memo: *Correction of #{original} to its {recipients} readers*: only the readers who "
        "received issue #{original}, less anyone who unsubscribed or was suppressed since."
    ),
    "card.scheduled": (
        "*Scheduled for:* {when}. The approval holds until {until}: a send that has not "
        "started by then needs a new approval."
    ),
    "card.now": "*Sends:* as soon as it is approved",
    "card.override": ":red_circle: *Preflight overridden* ({codes}): {reason}",
    "card.canary": (
        ":hatching_chick: *Plan:* {percent} % first ({size} readers, drawn at random), then "
        "the rest after {minutes} minutes — unless bounces pass {bounces} % or complaints "
        "{complaints} % of the first, which halts the send."
    ),
    "card.canary_off": "*Plan:* all {recipients} recipients at once (no canary).",
    "card.preview_hint": (
        "Read the whole issue as a reader gets it (Preview, or `/newsletter show {issue}`), "
        "and get it in your own inbox (Send me a test copy) before you approve."
    ),
    "card.approve": "Approve",
    "card.reject": "Reject",
    "card.preview": "Preview",
    "card.test_copy": "Send me a test copy",
    "card.confirm_title": "Send issue #{issue}?",
    "card.confirm_now": "Send issue #{issue} to {recipients} readers now?",
    "card.confirm_at": "Send issue #{issue} to {recipients} readers at {when}?",
    "card.confirm_resume": "Resume issue #{issue}: send it to the {recipients} readers left now?",
    "card.confirm_yes": "Approve and send",
    "card.confirm_no": "Not yet",
    "card.confirm_canary": "{size} of them get it first, the rest after {minutes} minutes.",
    "card.state.approved": ":white_check_mark: Approved by <@{who}> at {when}.",
    "card.state.rejected": ":x: Rejected by <@{who}> at {when}: {note}",
    "card.state.cancelled": ":heavy_minus_sign: Cancelled by <@{who}> at {when}.",
    "card.state.expired": ":hourglass: This request expired at {when}. Submit again if it is still wanted.",
    "card.state.void": ":warning: Void: {note}. Any earlier approval no longer applies.",
    "card.void.edited": "the issue was edited after this request",
    "card.void.resubmitted": "a newer request replaced this one",
    "card.void.halted": "the kill switch was pressed before the send started",
    "submit.posted": "Asked for approval of issue #{issue} in <#{channel}> ({recipients} recipients).",
    "card.pending": (
        "Slack has not taken the request's card yet, so it is not in <#{channel}>. It is "
        "posted there as soon as Slack answers; the request is open meanwhile."
    ),
    "submit.blocked": (
        "Issue #{issue} cannot be submitted: preflight found blocking problems ({codes}). "
        'Fix them, or add `override "reason"` if you are sure; the override is shown in red.'
    ),
    "reject.title": "Reject issue #{issue}",
    "reject.label": "Why? The requester will see this.",
    "reject.submit": "Reject",
    "cancel.done": "Cancelled issue #{issue}.",
    # --- refusals (codes from bot services) ---------------------------------------------
    "refusal.issue_not_found": (
        "There is no issue #{issue}. `/newsletter list` shows the issues there are."
    ),
    "refusal.issue_has_no_version": "Issue #{issue} has no saved content yet.",
    "refusal.issue_not_editable": (
        "Issue #{issue} is {state} and can no longer be edited. For a corrected text, "
        "start a new issue with `/newsletter new`."
    ),
    "refusal.illegal_transition": "Issue #{issue} is {current}; it cannot become {wanted}.",
    "refusal.schedule_in_past": "The time you gave for issue #{issue} is in the past.",
    "refusal.preflight_blocked": (
        "Issue #{issue} cannot be submitted: preflight found blocking problems ({codes}). "
        'Fix them, or add `override "reason"` if you are sure; the override is shown in red.'
    ),
    "refusal.content_changed_during_submit": "Issue #{issue} changed while submitting; try again.",
    "refusal.use_resume": "Issue #{issue} has already been sent in part; use `/newsletter resume {issue}`.",
    "refusal.already_sent": (
        "Issue #{issue} is {state}: it has gone out and cannot be submitted again. "
        "To write to its readers again, start a new issue with `/newsletter new`."
    ),
    "refusal.not_halted": "Issue #{issue} is {state}, not halted, so there is nothing to resume.",
    "refusal.request_not_found": "That approval request no longer exists.",
    "refusal.request_not_open": "This request is already {state}; nothing was changed.",
    "refusal.request_expired": "This request has expired; ask for approval again with `/newsletter submit`.",
    "refusal.not_an_approver": "Only approvers may approve or reject. You are not one, so nothing was changed.",
    "refusal.self_approval": "You asked for this approval, so someone else must approve it.",
    "refusal.author_approval": "You wrote version {version} of this issue, so someone else must approve it.",
    "refusal.content_changed": "The issue changed after this request was made; this request cannot be approved.",
    "refusal.plan_upgrade_required": (
        "I could not check who is on the team: user groups need a paid Slack plan. "
        "Set TEAM and APPROVERS to lists of user ids (U…) instead."
    ),
    "refusal.slack_error": "Slack answered `{error}`; please try again in a minute.",
    "refusal.bad_time": (
        "I could not read the time in `{text}`. Write the date and time as YYYY-MM-DD HH:MM "
        "in {tz}, for example `at {example}`."
    ),
    # --- audit --------------------------------------------------------------------------
    "audit.empty": "Nothing recorded yet.",
    "audit.title": "Audit trail (newest first)",
    "audit.title_issue": "Audit trail of issue #{issue} (newest first)",
    # --- notices in the channel ---------------------------------------------------------
    "notice.approval.voided": (
        "Approval request for issue #{issue} is void: {reason_text}. It must be approved again."
    ),
    "notice.approval.expired": "The approval request for issue #{issue} expired without a decision.",
    "notice.approval.expired_unstarted": (
        "The approval of issue #{issue} expired before its send could start; nothing was "
        "sent. Submit it again if it should still go out."
    ),
    "refusal.not_yet_available": "`/newsletter {sub}` is not available in this version yet.",
    # --- state names (issues, approval requests, sends), shown inside sentences ----
    "state.draft": "draft",
    "state.awaiting_approval": "awaiting approval",
    "state.approved": "approved",
    "state.scheduled": "scheduled",
    "state.sending": "sending",
    "state.sent": "sent",
    "state.halted": "halted",
    "state.cancelled": "cancelled",
    "state.rejected": "rejected",
    "state.open": "open",
    "state.expired": "expired",
    "state.void": "void",
    "state.preparing": "preparing",
    "state.finished": "finished",
    "state.refused": "refused",
    "state.pending": "not sent yet",
    "state.batched": "being sent",
    "state.failed": "failed",
    "state.suppressed": "suppressed at Postmark",
    "state.invalid": "invalid address",
    "state.unknown": "unknown (Postmark could not say)",
    "state.skipped": "skipped (unsubscribed or suppressed before sending)",
    "generic.error": "Something went wrong on my side ({error}); nothing was changed. Please try again.",
    # --- what replaces personal data in typed text shown in the channel --------------
    "redacted.address": "[address removed]",
    "redacted.phone": "[phone number removed]",
}

# Catalogues by language code. Looked up on every `t()` call, never copied:
# modules register English sentences at import time, possibly after
# `use_language()` ran, and a copy would miss them.
CATALOGUES: dict[str, dict[str, str]] = {"en": EN, "ja": JA}

# The team's language (LANGUAGE, set once at start-up): channel posts, and
# people whose Slack locale has no catalogue. A request from a person whose
# locale has one answers in it: `speaking()` sets it for the request (the access
# middleware does, and Bolt's listener threads inherit it; see handlers.app).
_default = "en"
_speaking: ContextVar[str | None] = ContextVar("speaking", default=None)


def use_language(code: str) -> None:
    """Make `code` ("en" or "ja") the team's language."""
    global _default
    if code not in CATALOGUES:
        raise ValueError(f"no catalogue for language {code!r}")
    _default = code


def default_language() -> str:
    return _default


def language() -> str:
    """The language `t()` currently answers in."""
    return _speaking.get() or _default


def language_of_locale(locale: str | None) -> str | None:
    """The catalogue for a Slack locale (`ja-JP` -> "ja", `en-GB` -> "en"), or None."""
    code = (locale or "").split("-")[0].split("_")[0].lower()
    return code if code in CATALOGUES else None


def answer_request_in(code: str | None) -> None:
    """Answer the request being handled in `code` (None: the team's language).

    Bolt runs its global middleware one after another and the listener after all of
    them, so a block around `next()` would end before the listener runs. The access
    middleware calls this first thing for every request instead, so no request
    inherits the previous one's language from a reused thread.
    """
    _speaking.set(code if code in CATALOGUES else None)


@contextmanager
def speaking(code: str | None) -> Iterator[None]:
    """Answer in `code` within the block (None: the team's language)."""
    token = _speaking.set(code if code in CATALOGUES else None)
    try:
        yield
    finally:
        _speaking.reset(token)


def register(entries: dict[str, str]) -> None:
    """Add a module's sentences (kept beside its Block Kit builders) to the catalogue.

    Keys must be new: two modules never define the same sentence.
    """
    clash = sorted(set(entries) & set(EN))
    if clash:
        raise ValueError(f"sentences defined twice: {', '.join(clash)}")
    EN.update(entries)


def t(key: str, **params: Any) -> Mrkdwn:
    """The sentence `key`, filled with `params` (missing ones stay visible as {name}).

    Text parameters that are not `Mrkdwn` are escaped; numbers keep their format specs.
    """
    template = CATALOGUES[language()].get(key) or EN.get(key)  # English beats a bare key
    if template is None:  # keys are built from data too (codes, states): never markup
        return escape(key)
    safe = {
        name: value if isinstance(value, int | float) else escape(value)
        for name, value in params.items()
    }
    return Mrkdwn(template.format_map(_Keep(safe)))


def state_name(value: str) -> Mrkdwn:
    """The shown name of a stored state (`awaiting_approval` -> "awaiting approval")."""
    key = f"state.{value}"
    return t(key) if key in EN else escape(value)


class _Keep(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"
