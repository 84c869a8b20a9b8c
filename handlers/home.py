"""The App Home tab: the desk at a glance, redrawn on every `app_home_opened`.

Owns `summary(desk, viewer)` (what the tab shows: the next due date, issues
by state, open approval requests and whether the viewer may approve each,
the last three issues' figures as in their reports, list counts),
`home_view(summary, tz)` (pure Block Kit) and the event listener that
publishes it with `views.publish`.

The Home tab is private to its viewer, yet it shows counts only, never an
address (invariant 9 is kept even where it need not be). Whether the viewer
may approve is said here as a courtesy; the server decides again at the
click (`bot.approvals.approve`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot import approvals, outcomes, schedule
from bot.desk import Desk, DirectoryError
from bot.subscribers import counts_by_status
from handlers import blocks
from handlers.mrkdwn import Mrkdwn
from handlers.texts import state_name, t
from storage.models import (
    ApprovalRequest,
    ApprovalState,
    Issue,
    IssueState,
    Suppression,
)

log = logging.getLogger(__name__)

RECENT = 3  # issues whose figures the tab shows
SHOWN_APPROVALS = 10  # then "…and N more"


@dataclass(frozen=True)
class WaitingApproval:
    card: approvals.Card
    # "yes", "not_approver", "own_request", "own_version" or "unknown:<error>"
    may_approve: str


@dataclass(frozen=True)
class HomeSummary:
    viewer: str
    now: datetime
    next_due: datetime | None
    schedule: str
    issues_by_state: dict[str, int]
    waiting: list[WaitingApproval] = field(default_factory=list)
    recent: list[outcomes.Figures] = field(default_factory=list)
    list_name: str = ""
    list_counts: dict[str, int] = field(default_factory=dict)
    suppressions: int = 0


def next_due(desk: Desk) -> datetime | None:
    """When the next issue is due, as the scheduler counts it (`bot.schedule`)."""
    return schedule.due_at_or_after(desk.settings, desk.clock.now())


def _may_approve(desk: Desk, viewer: str, card: approvals.Card) -> str:
    # The order matches bot.approvals.approve's checks.
    try:
        if not desk.directory.is_approver(viewer):
            return "not_approver"
    except DirectoryError as exc:
        return f"unknown:{exc.params.get('error', exc.code)}"
    if viewer == card.requester:
        return "own_request"
    if viewer == card.author:
        return "own_version"
    return "yes"


def summary(desk: Desk, viewer: str) -> HomeSummary:
    now = desk.clock.now()
    list_name = desk.settings.NEWSLETTER_NAME
    with desk.db.sessions() as session:
        by_state: dict[str, int] = {
            state: n
            for state, n in session.execute(
                select(Issue.state, func.count()).group_by(Issue.state)
            ).all()
        }
        open_requests = (
            session.execute(
                select(ApprovalRequest)
                .where(
                    ApprovalRequest.state == ApprovalState.OPEN,
                    ApprovalRequest.expires_at > now,
                )
                .order_by(ApprovalRequest.id)
            )
            .scalars()
            .all()
        )
        cards = [approvals._card(session, r, desk.settings) for r in open_requests]
        list_counts = counts_by_status(session, list_name)
        suppressions = int(session.execute(select(func.count(Suppression.id))).scalar_one())
    waiting = [WaitingApproval(card, _may_approve(desk, viewer, card)) for card in cards]
    recent = outcomes.figures(desk, limit=RECENT)
    return HomeSummary(
        viewer=viewer,
        now=now,
        next_due=next_due(desk),
        schedule=desk.settings.ISSUE_SCHEDULE,
        issues_by_state=by_state,
        waiting=waiting,
        recent=recent,
        list_name=list_name,
        list_counts=list_counts,
        suppressions=suppressions,
    )


def _may_text(may: str) -> Mrkdwn:
    if may.startswith("unknown:"):
        return t("home.approver_unknown", error=may.split(":", 1)[1])
    return t(
        {
            "yes": "home.may_approve",
            "not_approver": "home.not_approver",
            "own_request": "home.own_request",
            "own_version": "home.own_version",
        }[may]
    )


def home_view(home: HomeSummary, tz: ZoneInfo) -> dict[str, Any]:
    """The Home tab's view (type "home"); pure, for tests."""
    out: blocks.Blocks = [blocks.header(t("home.title"))]
    if home.next_due is not None:
        out.append(
            blocks.section(
                t("home.next_due", when=blocks.when(home.next_due, tz), cron=home.schedule)
            )
        )
    else:
        out.append(blocks.section(t("home.next_due_unknown", cron=home.schedule)))
    out += [blocks.divider(), blocks.header(t("home.issues_title"))]
    if home.issues_by_state:
        order = [s.value for s in IssueState]
        lines = [
            t("home.issues_line", state=state_name(state), count=home.issues_by_state[state])
            for state in sorted(
                home.issues_by_state, key=lambda s: order.index(s) if s in order else len(order)
            )
        ]
        out.append(blocks.section(blocks.lines(lines)))
    else:
        out.append(blocks.section(t("home.issues_none")))
    out += [blocks.divider(), blocks.header(t("home.approvals_title"))]
    if not home.waiting:
        out.append(blocks.section(t("home.approvals_none")))
    for item in home.waiting[:SHOWN_APPROVALS]:  # a Home tab holds at most 100 blocks
        card = item.card
        out.append(
            blocks.section(
                t(
                    "home.approval_line",
                    issue=card.issue_id,
                    subject=card.subject,
                    recipients=card.recipients,
                    hash12=card.hash12,
                    requester=card.requester,
                    expires=blocks.when(card.expires_at, tz),
                )
            )
        )
        out.append(blocks.context(_may_text(item.may_approve)))
    if len(home.waiting) > SHOWN_APPROVALS:
        out.append(
            blocks.context(t("home.approvals_more", count=len(home.waiting) - SHOWN_APPROVALS))
        )
    out += [blocks.divider(), blocks.header(t("home.recent_title"))]
    if not home.recent:
        out.append(blocks.section(t("home.recent_none")))
    for figures in home.recent:
        if figures.state == "sending":
            handled = figures.total - figures.remaining
            bar, percent = blocks.progress_bar(handled, figures.total)
            out.append(blocks.section(t("send.progress.bar", bar=bar, percent=percent)))
        out.append(
            blocks.section(
                t(
                    "home.recent_line",
                    subject=figures.subject,
                    **{**figures.as_params(), "state": state_name(figures.state)},
                )
            )
        )
        out.append(
            blocks.context(
                t(
                    "home.recent_when",
                    issue=figures.issue_id,
                    started=blocks.when(figures.started_at, tz),
                    finished=blocks.when(figures.finished_at, tz),
                )
            )
        )
    c = home.list_counts
    out += [
        blocks.divider(),
        blocks.header(t("home.list_title")),
        blocks.section(
            t(
                "home.list_counts",
                list_name=home.list_name,
                active=c.get("active", 0),
                unsubscribed=c.get("unsubscribed", 0),
                inactive=c.get("inactive", 0),
                invalid=c.get("invalid", 0),
                suppressions=home.suppressions,
            )
        ),
        blocks.context(t("home.footer", when=blocks.when(home.now, tz))),
    ]
    return {"type": "home", "blocks": out}


def publish(desk: Desk, client: WebClient, user: str) -> None:
    client.views_publish(user_id=user, view=home_view(summary(desk, user), desk.settings.tz))


def register(app: App, desk: Desk) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab needs nothing drawn
        publish(desk, client, str(event["user"]))
