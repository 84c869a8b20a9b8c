"""Invariants 2 and 3 under random use: a hypothesis state machine drives
submit / edit / approve / reject / cancel / time passing by random team
members, and after every step checks that no issue is approved (or
scheduled) unless an approval exists by an approver who is neither the
requester nor the author of that exact version, bound to its hash."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from bot import approvals, issues
from bot.clock import FrozenClock
from bot.desk import Desk
from bot.refusal import Refusal
from bot.rendering import TemplateProblem
from storage.db import connect
from storage.models import ApprovalRequest, ApprovalState, Issue, IssueState, IssueVersion
from tests.fixtures.database import fresh_database_url
from tests.fixtures.desk import FixedDirectory, build_desk

EDITOR, A1, A2, A3 = "U0EDITOR1", "U0APPROV1", "U0APPROV2", "U0APPROV3"
USERS = (EDITOR, A1, A2, A3)
APPROVERS = frozenset({A1, A2, A3})


def make_desk(url: str, clock: FrozenClock) -> Desk:
    return build_desk(
        connect(url),
        clock,
        directory=FixedDirectory(APPROVERS),
        DATABASE_URL=url,
        APPROVERS=",".join(sorted(APPROVERS)),
    )


class ApprovalMachine(RuleBasedStateMachine):
    template: str = ""
    folder: Path = Path(".")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FrozenClock()
        self.desk = make_desk(fresh_database_url(self.template, self.folder), self.clock)
        self.issue_ids: list[int] = []
        self.request_ids: list[int] = []

    def teardown(self) -> None:
        self.desk.db.dispose()

    @rule(
        user=st.sampled_from(USERS),
        body=st.sampled_from(["本文", "{{ subscriber.name }}様", "改訂版"]),
    )
    def create(self, user: str, body: str) -> None:
        saved = issues.create(self.desk, actor=user, subject="件名", body=body)
        self.issue_ids.append(saved.issue_id)

    @rule(
        user=st.sampled_from(USERS),
        pick=st.integers(0, 50),
        body=st.sampled_from(["直し", "再修正", "{{ x }}"]),
    )
    def edit(self, user: str, pick: int, body: str) -> None:
        if not self.issue_ids:
            return
        with contextlib.suppress(Refusal, TemplateProblem):
            issues.save_version(
                self.desk,
                self.issue_ids[pick % len(self.issue_ids)],
                actor=user,
                subject="件名",
                body=body,
            )

    @rule(user=st.sampled_from(USERS), pick=st.integers(0, 50), later=st.booleans())
    def submit(self, user: str, pick: int, later: bool) -> None:
        if not self.issue_ids:
            return
        at = self.clock.now() + timedelta(days=30) if later else None
        try:
            card = approvals.submit(
                self.desk, self.issue_ids[pick % len(self.issue_ids)], actor=user, scheduled_at=at
            )
        except Refusal:
            return
        self.request_ids.append(card.request_id)

    @rule(user=st.sampled_from(USERS), pick=st.integers(0, 50))
    def approve(self, user: str, pick: int) -> None:
        if not self.request_ids:
            return
        request_id = self.request_ids[pick % len(self.request_ids)]
        try:
            card = approvals.approve(self.desk, request_id, actor=user)
        except Refusal:
            return
        # Whatever approve() accepted must satisfy the rules at that moment.
        assert card.decided_by == user and user in APPROVERS
        assert user != card.requester and user != card.author

    @rule(user=st.sampled_from(USERS), pick=st.integers(0, 50))
    def reject(self, user: str, pick: int) -> None:
        if not self.request_ids:
            return
        with contextlib.suppress(Refusal):
            approvals.reject(
                self.desk, self.request_ids[pick % len(self.request_ids)], actor=user, reason="no"
            )

    @rule(user=st.sampled_from(USERS), pick=st.integers(0, 50))
    def cancel(self, user: str, pick: int) -> None:
        if not self.issue_ids:
            return
        with contextlib.suppress(Refusal):
            approvals.cancel(self.desk, self.issue_ids[pick % len(self.issue_ids)], actor=user)

    @rule(hours=st.sampled_from([1, 12, 25]))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule()
    def sweep(self) -> None:
        approvals.expire_due(self.desk)

    @invariant()
    def approved_only_by_a_second_person_for_exactly_this_content(self) -> None:
        with self.desk.db.sessions() as session:
            live = (
                session.execute(
                    select(Issue).where(
                        Issue.state.in_(
                            (IssueState.APPROVED, IssueState.SCHEDULED, IssueState.SENDING)
                        )
                    )
                )
                .scalars()
                .all()
            )
            for issue in live:
                version = session.get(IssueVersion, issue.current_version_id)
                assert version is not None
                grants = (
                    session.execute(
                        select(ApprovalRequest).where(
                            ApprovalRequest.issue_id == issue.id,
                            ApprovalRequest.state == ApprovalState.APPROVED,
                            ApprovalRequest.version_id == version.id,
                        )
                    )
                    .scalars()
                    .all()
                )
                assert grants, (
                    f"issue {issue.id} is {issue.state} without an approval of its current version"
                )
                for grant in grants:
                    assert grant.decided_by in APPROVERS
                    assert grant.decided_by != grant.requester
                    assert grant.decided_by != version.author
                    assert (
                        grant.content_hash == issues.verified_hash(version) == version.content_hash
                    )

    @invariant()
    def at_most_one_live_request_per_issue(self) -> None:
        with self.desk.db.sessions() as session:
            rows = (
                session.execute(
                    select(ApprovalRequest.issue_id).where(
                        ApprovalRequest.state.in_((ApprovalState.OPEN, ApprovalState.APPROVED)),
                        ApprovalRequest.send_id.is_(None),
                    )
                )
                .scalars()
                .all()
            )
            assert len(rows) == len(set(rows))


@pytest.mark.slow
def test_approval_state_machine(database_template: str, tmp_path: Path):
    ApprovalMachine.template = database_template
    ApprovalMachine.folder = tmp_path
    run_state_machine_as_test(
        ApprovalMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
