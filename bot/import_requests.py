"""An import from Slack: a dry run for the person, a second team member to apply it.

An import changes who receives the next issue, and wrong imports are why the
audience-drift guard exists; so a file brought in from Slack is never applied
by the person who brought it:

- `request()` runs the dry run (nothing changes), keeps the file's bytes and
  what the dry run found, and is audited;
- `confirm()` applies it — refused to the requester, refused once decided,
  refused after `APPROVAL_TTL_HOURS`; the request is claimed before the import
  runs, so two clicks never apply it twice;
- `cancel()` drops it.

Once decided, the file's bytes are erased; the counts stay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from bot import audit
from bot.desk import Desk
from bot.refusal import Refusal
from bot.subscribers import ImportOptions, ImportReport, import_bytes
from storage.models import ImportRequest, ImportRequestState

COUNTED = (
    "rows",
    "added",
    "updated",
    "unchanged",
    "merged",
    "skipped_suppressed",
    "passed",
    "suppressed",
    "already_suppressed",
    "stopped",
    "rejected_count",
)


def counts_of(report: ImportReport) -> dict[str, Any]:
    """What a card may show: counts, the format and the encoding — no address."""
    out: dict[str, Any] = {key: int(getattr(report, key)) for key in COUNTED}
    out["file_format"] = report.file_format
    out["encoding"] = report.encoding
    return out


@dataclass(frozen=True)
class ImportCard:
    """Everything the channel card shows (counts only)."""

    id: int
    state: str
    requester: str
    list_name: str
    file_name: str
    dry_run: dict[str, Any]
    result: dict[str, Any]
    decided_by: str | None
    expires_at: datetime
    card_channel: str | None
    card_ts: str | None


def _card(row: ImportRequest, ttl: timedelta) -> ImportCard:
    return ImportCard(
        id=row.id,
        state=row.state,
        requester=row.requester,
        list_name=row.list_name,
        file_name=row.file_name,
        dry_run=dict(row.dry_run),
        result=dict(row.result),
        decided_by=row.decided_by,
        expires_at=row.created_at + ttl,
        card_channel=row.card_channel,
        card_ts=row.card_ts,
    )


def _ttl(desk: Desk) -> timedelta:
    return timedelta(hours=desk.settings.APPROVAL_TTL_HOURS)


def request(
    desk: Desk, *, actor: str, file_name: str, content: bytes, list_name: str
) -> tuple[ImportReport, ImportCard]:
    """Dry-run `content`; keep it for a second person. Raises UnreadableFile."""
    report = import_bytes(
        desk.db,
        content,
        file_name,
        list_name=list_name,
        actor=actor,
        clock=desk.clock,
        options=ImportOptions(dry_run=True),
    )
    now = desk.clock.now()
    with desk.db.transaction() as session:
        row = ImportRequest(
            requester=actor,
            list_name=list_name,
            file_name=file_name[:255],
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            dry_run=counts_of(report),
            result={},
            state=ImportRequestState.OPEN,
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="subscribers.import_requested",
            at=now,
            subject=f"import:{row.id}",
            list=list_name,
            sha256=row.sha256,
            **{k: v for k, v in row.dry_run.items() if k in COUNTED},
        )
        return report, _card(row, _ttl(desk))


def card(desk: Desk, request_id: int) -> ImportCard:
    with desk.db.sessions() as session:
        row = session.get(ImportRequest, request_id)
        if row is None:
            raise Refusal("import_not_found")
        return _card(row, _ttl(desk))


def set_card(desk: Desk, request_id: int, *, channel: str, ts: str) -> None:
    with desk.db.transaction() as session:
        session.execute(
            update(ImportRequest)
            .where(ImportRequest.id == request_id)
            .values(card_channel=channel, card_ts=ts)
        )


def _claim(desk: Desk, request_id: int, *, actor: str, to: ImportRequestState) -> ImportRequest:
    """Move an open request to `to` (once: a second click finds it decided)."""
    now = desk.clock.now()
    with desk.db.transaction() as session:
        row = session.get(ImportRequest, request_id)
        if row is None:
            raise Refusal("import_not_found")
        if row.state != ImportRequestState.OPEN:
            raise Refusal("import_decided", state=row.state)
        expired = now >= row.created_at + _ttl(desk)
        if expired:
            row.state, row.content, row.decided_at = ImportRequestState.EXPIRED, None, now
            audit.record(
                session,
                actor=audit.SYSTEM,
                action="subscribers.import_expired",
                at=now,
                subject=f"import:{row.id}",
            )
    if expired:
        raise Refusal("import_expired", hours=desk.settings.APPROVAL_TTL_HOURS)
    with desk.db.transaction() as session:
        row = session.get(ImportRequest, request_id)
        assert row is not None
        if to == ImportRequestState.APPLYING and actor == row.requester:
            raise Refusal("import_needs_second_person")
        claimed = session.execute(
            update(ImportRequest)
            .where(ImportRequest.id == request_id, ImportRequest.state == ImportRequestState.OPEN)
            .values(state=to, decided_by=actor, decided_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            raise Refusal("import_decided", state="applying")
        session.expunge(row)
        return row


def confirm(desk: Desk, request_id: int, *, actor: str) -> tuple[ImportReport, ImportCard]:
    """Apply the request as the second team member `actor`."""
    row = _claim(desk, request_id, actor=actor, to=ImportRequestState.APPLYING)
    assert row.content is not None
    try:
        report = import_bytes(
            desk.db,
            row.content,
            row.file_name,
            list_name=row.list_name,
            actor=actor,
            clock=desk.clock,
        )
    except BaseException:
        with desk.db.transaction() as session:
            session.execute(
                update(ImportRequest)
                .where(ImportRequest.id == request_id)
                .values(state=ImportRequestState.OPEN, decided_by=None, decided_at=None)
            )
        raise
    now = desk.clock.now()
    with desk.db.transaction() as session:
        stored = session.get(ImportRequest, request_id)
        assert stored is not None
        stored.state = ImportRequestState.APPLIED
        stored.content = None
        stored.result = counts_of(report)
        audit.record(
            session,
            actor=actor,
            action="subscribers.import_confirmed",
            at=now,
            subject=f"import:{request_id}",
            requester=row.requester,
            list=row.list_name,
            sha256=row.sha256,
            **{k: v for k, v in stored.result.items() if k in COUNTED},
        )
        session.flush()
        return report, _card(stored, _ttl(desk))


def cancel(desk: Desk, request_id: int, *, actor: str) -> ImportCard:
    _claim(desk, request_id, actor=actor, to=ImportRequestState.CANCELLED)
    with desk.db.transaction() as session:
        stored = session.get(ImportRequest, request_id)
        assert stored is not None
        stored.content = None
        audit.record(
            session,
            actor=actor,
            action="subscribers.import_cancelled",
            at=desk.clock.now(),
            subject=f"import:{request_id}",
        )
        session.flush()
        return _card(stored, _ttl(desk))
