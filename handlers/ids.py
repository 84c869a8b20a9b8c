"""Every Slack id the app uses — action, block and callback ids — in one place.

The values are public (CONTRACT.md: `draft`, `subject`, `body`, `value`,
`approve`, `reject`, `preview`, `test_copy`, `halt`; the draft modal's
`body_2`… and `body_file`); tests and the rehearsal room rely on them.
"""

from __future__ import annotations

import enum


class Command(enum.StrEnum):
    NEWSLETTER = "/newsletter"
    UNSUBSCRIBE = "/unsubscribe"


class Callback(enum.StrEnum):
    DRAFT = "draft"
    REJECT = "reject_reason"
    UNSUBSCRIBE = "unsubscribe"
    SUBSCRIBERS_IMPORT = "subscribers_import"


class Block(enum.StrEnum):
    SUBJECT = "subject"
    BODY = "body"  # the first section; the others are body_2, body_3, … (blocks.body_block_id)
    BODY_FILE = "body_file"
    BODY_ACTIONS = "body_actions"
    REASON = "reason"
    EMAIL = "email"
    NAME = "name"
    COMPANY = "company"
    NOTE = "note"
    CONFIRM = "confirm"
    APPROVAL_ACTIONS = "approval_actions"
    PROGRESS_ACTIONS = "progress_actions"
    AUDIT_ACTIONS = "audit_actions"
    IMPORT_FILE = "import_file"
    IMPORT_LIST = "import_list"
    IMPORT_ACTIONS = "import_actions"


class Action(enum.StrEnum):
    VALUE = "value"  # the one input inside each modal block
    APPROVE = "approve"
    REJECT = "reject"
    PREVIEW = "preview"
    TEST_COPY = "test_copy"
    ADD_SECTION = "add_section"
    HALT = "halt"
    AUDIT_OLDER = "audit_older"
    SEND_REST = "send_rest"  # "Send the rest now" during a canary's hold
    IMPORT_CONFIRM = "import_confirm"
    IMPORT_CANCEL = "import_cancel"
