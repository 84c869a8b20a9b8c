"""Installation-wide facts kept in the database (the address-hash salt)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import KeyValue

_SALT_KEY = "address_salt"


def address_salt(session: Session) -> bytes:
    """The salt for address hashes, created on first use and never changed."""
    row = session.get(KeyValue, _SALT_KEY)
    if row is None:
        try:
            with session.begin_nested():
                session.add(KeyValue(key=_SALT_KEY, value=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another process created it first
        row = session.execute(select(KeyValue).where(KeyValue.key == _SALT_KEY)).scalar_one()
    return bytes.fromhex(row.value)
