"""The values that say who may be mailed: subscriber statuses, suppression
reasons and origins, push states, and the scope of a suppression for every list.

Plain Python, no SQLAlchemy: the process that reads an import file
(`bot.import_reader`) needs the reasons and nothing of the database, and
starts faster without it. `storage.models` uses and re-exports them, so every
layer spells them alike.
"""

from __future__ import annotations

import enum


class SubscriberStatus(enum.StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    INACTIVE = "inactive"  # hard bounce, spam complaint, or suppressed by Postmark
    INVALID = "invalid"  # Postmark refused the address (ErrorCode 300)


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    SPAM_COMPLAINT = "spam_complaint"
    MANUAL = "manual"
    INVALID = "invalid"


class SuppressionOrigin(enum.StrEnum):
    SLACK = "slack"
    POSTMARK_WEBHOOK = "postmark_webhook"
    POSTMARK_SYNC = "postmark_sync"
    POSTMARK_SEND = "postmark_send"
    CLI = "cli"
    IMPORT = "import"  # a do-not-mail row of an imported file


class PushState(enum.StrEnum):
    """Whether a local suppression has reached Postmark's suppression list."""

    PENDING = "pending"
    PUSHED = "pushed"
    NOT_NEEDED = "not_needed"  # it came from Postmark in the first place


ALL_LISTS = "*"
