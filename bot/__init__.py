"""Countersign's newsletter desk: drafts, rendering, preflight, approvals,
delivery, unsubscribes, reminders and the audit trail.

`bot` never imports Slack; the Slack front end lives in `handlers/`.
"""
