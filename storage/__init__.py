"""Persistence for Countersign: typed SQLAlchemy 2 models, the one session
factory, and the Alembic migrations that build the schema.

`storage` imports neither Slack nor Postmark; `bot` builds on it.
"""
