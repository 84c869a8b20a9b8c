"""A [TEST] copy of an issue to the person who asks, and to nobody else.

It goes through the transactional pipe (one recipient, `send_transactional`),
only to an address whose domain is in TEST_RECIPIENT_DOMAINS, rendered for the
caller with an unsubscribe link that leads nowhere (a `.invalid` host), and
tagged so it can never be mistaken for a broadcast. Audited.
"""

from __future__ import annotations

from bot import audit, issues
from bot.addresses import InvalidAddress, address_hash, domain_of, normalise
from bot.desk import Desk
from bot.installation import address_salt
from bot.postmark import PostmarkError
from bot.refusal import Refusal
from bot.rendering import TEST_COPY_UNSUBSCRIBE, RecipientContext, render_message

TEST_TAG = "countersign-test-copy"


def send_test_copy(
    desk: Desk, issue_id: int, *, actor: str, address: str | None, name: str = ""
) -> str:
    """Send the copy; return the address it went to. Raises Refusal."""
    if not address:
        raise Refusal("test_no_email")
    try:
        to = normalise(address)
    except InvalidAddress:
        raise Refusal("test_no_email") from None
    allowed = desk.settings.test_recipient_domains
    if domain_of(to) not in allowed:
        raise Refusal("test_outside_domain", address=to, domains=", ".join(sorted(allowed)))
    with desk.db.sessions() as session:
        issue = issues.load(session, issue_id)
        version = issues.current_version(session, issue)
        compiled = issues.compiled_of(version)
        context = RecipientContext(
            name=name,
            company="",
            list_name=issue.mailing_list.name,
            issue_date=issues.issue_date(version, desk.settings.tz),
            unsubscribe_url=TEST_COPY_UNSUBSCRIBE,
        )
        number, content_hash = version.number, version.content_hash
    message = render_message(compiled, context)
    try:
        message_id = desk.postmark.send_transactional(
            to,
            subject=f"[TEST] {message.subject}",
            html=message.html,
            text=message.text,
            sender=compiled.sender,
            tag=TEST_TAG,
            metadata={"issue_id": str(issue_id), "version": str(number), "kind": "test_copy"},
        )
    except PostmarkError as exc:
        raise Refusal("test_failed", reason=str(exc)) from None
    with desk.db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="issue.test_copy",
            at=desk.clock.now(),
            issue_id=issue_id,
            subject=audit.address_ref(address_hash(address_salt(session), to)),
            version=number,
            hash=content_hash,
            message_id=message_id,
        )
    return to
