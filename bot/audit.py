"""The audit trail: `record()` appends; nothing updates or deletes.

Addresses are recorded by `address_ref()` (a prefix of their salted hash), never
in clear, so the trail can be kept for ever and still honour "forget me".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent

SYSTEM = "countersign"


def address_ref(email_hash: str) -> str:
    return f"addr:{email_hash[:16]}"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    issue_id: int | None = None,
    subject: str = "",
    **detail: Any,
) -> AuditEvent:
    event = AuditEvent(
        at=at, actor=actor, action=action, issue_id=issue_id, subject=subject, detail=detail
    )
    session.add(event)
    return event


def trail(
    session: Session,
    *,
    issue_id: int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> Sequence[AuditEvent]:
    """Newest first; `before_id` pages back (events older than that one)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if issue_id is not None:
        query = query.where(AuditEvent.issue_id == issue_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return session.execute(query).scalars().all()
