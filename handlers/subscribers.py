"""`/newsletter subscribers …`: counts, and the privacy tools.

- `subscribers` — counts by state on each list, suppressions by reason, and
  how far local suppressions have reached Postmark (pending / pushed, the
  last push error). Counts only.
- `subscribers find TEXT` — who matches, by address, name or company
  (including what operators typed into unsubscribe requests). Ephemeral,
  audited without the searched text.
- `subscribers forget EMAIL` — erase a person, keeping the address's salted
  hash so it stays suppressed. Audited by hash. It cannot be undone, so the
  command only asks: the erasure happens on the "Forget for good" button
  (`action_id` `forget`), behind a confirm dialog that says what it does.
- `subscribers resubscribe EMAIL reason` — approvers only, audited; the one
  way back onto a list.
- `subscribers import` — a CSV from Slack, applied when a second team member
  confirms (`handlers.imports`).

Every reply is ephemeral (`Invocation.reply`), so addresses are seen only by
the person who asked (invariant 9).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import suppressions
from bot.desk import Desk
from bot.refusal import Refusal
from handlers import blocks, imports
from handlers.mrkdwn import Mrkdwn, plain
from handlers.newsletter import Invocation, subcommand
from handlers.replies import ephemeral, refusal_text
from handlers.texts import t

FORGET = "forget"  # the button's action_id


@subcommand("subscribers")
def subscribers(inv: Invocation) -> None:
    args = inv.parsed.args
    if not args:
        _overview(inv)
        return
    action, rest = args[0].lower(), list(args[1:])
    if action == "import" and not rest:
        inv.client.views_open(
            trigger_id=inv.trigger_id,
            view=imports.import_modal(
                channel=inv.channel, list_name=inv.desk.settings.NEWSLETTER_NAME
            ),
        )
    elif action == "find" and rest:
        _find(inv, " ".join(rest))
    elif action == "forget" and len(rest) == 1:
        # Only asks: the button erases. Normalised now, so the question names exactly
        # the address the button will erase, and a mistyped one is refused at once.
        address = suppressions.normalised(rest[0])
        inv.reply(t("subscribers.forget_ask", address=address), forget_blocks(address))
    elif action == "resubscribe" and rest:
        email, reason = rest[0], " ".join(rest[1:])
        done = suppressions.resubscribe(inv.desk, email, actor=inv.user, reason=reason)
        key = "subscribers.resubscribed" if done.subscribers else "subscribers.resubscribed_no_list"
        inv.reply(
            t(key, address=done.email, subscribers=done.subscribers, suppressions=done.suppressions)
        )
    else:
        inv.reply(t("subscribers.usage"))


def _overview(inv: Invocation) -> None:
    view = suppressions.overview(inv.desk)
    lines = [
        t(
            "subscribers.list_line",
            list_name=c.list_name,
            active=c.by_status.get("active", 0),
            unsubscribed=c.by_status.get("unsubscribed", 0),
            inactive=c.by_status.get("inactive", 0),
            invalid=c.by_status.get("invalid", 0),
            forgotten=c.forgotten,
        )
        for c in view.lists
    ] or [t("subscribers.no_lists")]
    known = ("unsubscribed", "hard_bounce", "spam_complaint")
    lines.append(
        t(
            "subscribers.suppressions_line",
            total=view.suppressions,
            unsubscribed=view.by_reason.get("unsubscribed", 0),
            bounced=view.by_reason.get("hard_bounce", 0),
            complaints=view.by_reason.get("spam_complaint", 0),
            other=sum(v for k, v in view.by_reason.items() if k not in known),
        )
    )
    push = view.push
    lines.append(
        t(
            "subscribers.push_line",
            pushed=push.pushed,
            not_needed=push.not_needed,
            pending=push.pending,
        )
    )
    if push.pending:
        lines.append(
            t(
                "subscribers.push_pending_line",
                pending=push.pending,
                since=blocks.when(push.oldest_pending_at, inv.desk.settings.tz),
                attempts=push.most_attempts,
                error=push.last_error or "—",
            )
        )
    title = t("subscribers.title")
    text = blocks.lines(lines)
    inv.reply(text, [blocks.header(title), blocks.section(text)])


def _find(inv: Invocation, text: str) -> None:
    found = suppressions.find(inv.desk, text, actor=inv.user)
    tz = inv.desk.settings.tz
    lines: list[Mrkdwn] = []
    if found.subscribers:
        lines.append(
            t("subscribers.find_title", total=found.subscriber_total, shown=len(found.subscribers))
        )
        lines += [
            t(
                "subscribers.find_line",
                address=s.email,
                name=s.name or "—",
                company=s.company or "—",
                list_name=s.list_name,
                status=s.status,
                suppressed=t("subscribers.find_suppressed") if s.suppressed else "",
            )
            for s in found.subscribers
        ]
    if found.requests:
        lines.append(t("subscribers.find_requests_title"))
        lines += [
            t(
                "subscribers.find_request_line",
                when=blocks.when(r.at, tz),
                actor=r.actor,
                address=r.email or "—",
                name=r.given_name or "—",
                company=r.given_company or "—",
            )
            for r in found.requests
        ]
    if found.suppressed_by_hash:
        lines.append(t("subscribers.find_forgotten"))
    if not lines:
        inv.reply(t("subscribers.find_none"))
        return
    inv.reply(lines[0], [blocks.section(blocks.lines(lines))])


def forget_blocks(address: str) -> blocks.Blocks:
    """The question, and the one button that erases (behind a confirm dialog)."""
    return [
        blocks.section(t("subscribers.forget_ask", address=address)),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": FORGET,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": plain(t("subscribers.forget_button"))},
                    "value": address[:2000],
                    "confirm": blocks.confirm(
                        t("subscribers.forget_confirm_title"),
                        t("subscribers.forget_confirm_text", address=address),
                        t("subscribers.forget_confirm_yes"),
                        t("subscribers.forget_confirm_no"),
                        danger=True,
                    ),
                }
            ],
        },
    ]


def register(app: App, desk: Desk) -> None:
    """The subcommand registered itself on import; the forget button is here."""

    @app.action(FORGET)
    def forget(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        address = str((body.get("actions") or [{}])[0].get("value") or "")
        try:
            gone = suppressions.forget(desk, address, actor=body["user"]["id"])
        except Refusal as exc:
            text = refusal_text(exc)
            ephemeral(respond, text)
            return
        ephemeral(
            respond,
            t(
                "subscribers.forgotten",
                address=gone.email,
                subscribers=gone.subscribers,
                requests=gone.requests,
            ),
        )
