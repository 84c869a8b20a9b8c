"""The issue state machine of DESIGN.md, in one place.

    draft ──submit──> awaiting_approval ──approve──> approved ──start──> sending ──> sent
      ^                  │      │                      (or scheduled)      │
      └──edit (voids)────┘      └──reject──> rejected                     halt
                                                                           v
    cancelled <── cancel (from any state before sending, or halted)      halted
                                                   halted ──resume──> awaiting_approval

Every transition is audited; an illegal one raises `IllegalTransition`, whose
`code` and `params` the front end turns into a sentence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot import audit
from bot.refusal import Refusal
from storage.models import Issue, IssueState

S = IssueState

TRANSITIONS: dict[IssueState, frozenset[IssueState]] = {
    S.DRAFT: frozenset({S.AWAITING_APPROVAL, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset(
        {
            S.AWAITING_APPROVAL,
            S.APPROVED,
            S.SCHEDULED,
            S.SENDING,
            S.REJECTED,
            S.CANCELLED,
            S.DRAFT,
            S.HALTED,
        }
    ),
    S.APPROVED: frozenset({S.SENDING, S.DRAFT, S.CANCELLED, S.HALTED}),
    S.SCHEDULED: frozenset({S.SENDING, S.DRAFT, S.CANCELLED, S.HALTED}),
    S.SENDING: frozenset({S.SENT, S.HALTED}),
    S.HALTED: frozenset({S.AWAITING_APPROVAL, S.CANCELLED}),
    S.REJECTED: frozenset({S.AWAITING_APPROVAL, S.DRAFT, S.CANCELLED}),
    S.SENT: frozenset(),
    S.CANCELLED: frozenset(),
}

# States in which the content may still change (a new version voids approvals).
EDITABLE = frozenset({S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED, S.SCHEDULED, S.REJECTED})
# States that hold a live approval or request that an edit must void.
APPROVAL_PENDING_OR_GIVEN = frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.SCHEDULED})


class IllegalTransition(Refusal):
    def __init__(self, issue_id: int, current: str, wanted: str) -> None:
        super().__init__("illegal_transition", issue=issue_id, current=current, wanted=wanted)


def can_move(current: str, wanted: IssueState) -> bool:
    return wanted in TRANSITIONS[IssueState(current)]


def move(
    session: Session,
    issue: Issue,
    wanted: IssueState,
    *,
    actor: str,
    at: datetime,
    **detail: object,
) -> None:
    """Change `issue`'s state, or raise IllegalTransition. Audited."""
    current = IssueState(issue.state)
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(issue.id, current, wanted)
    issue.state = wanted
    issue.updated_at = at
    audit.record(
        session,
        actor=actor,
        action="issue.state",
        at=at,
        issue_id=issue.id,
        subject=f"issue:{issue.id}",
        before=str(current),
        after=str(wanted),
        **detail,
    )
