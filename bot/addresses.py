"""Email addresses: validation (syntax only, never DNS), normalisation,
the salted hash that identifies an address in suppressions and the audit log,
and the masked form that may be shown to people.

Normal form: surrounding white space removed and the whole address lower-cased.
Providers treat local parts case-insensitively in practice, and two spellings
of one reader must never be two subscribers (nor slip past a suppression).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254
_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104's ipad and opad, as translations
_OPAD = bytes(b ^ 0x5C for b in range(256))
# RFC 5322 dot-atom local parts in ASCII: what nearly every address looks like.
# Used with fullmatch: a `$` would also match before a final line feed, letting
# `a\n@example.com` through as an address.
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


class InvalidAddress(ValueError):
    """The text is not an email address; `reason` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=65_536)
def _domain(domain: str) -> str:
    # email-validator's domain check dominates its cost; lists share a few
    # thousand domains at most, so each is validated once per process.
    return validate_email(f"a@{domain}", check_deliverability=False).domain


def normalise(raw: str) -> str:
    """Return the normal form of `raw`, or raise InvalidAddress."""
    text = raw.strip()
    if not text:
        raise InvalidAddress("the address is empty")
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidAddress("an address needs one @ with text before it")
    try:
        if len(local) <= 64 and _SIMPLE_LOCAL.fullmatch(local):
            address = f"{local}@{_domain(domain)}"
        else:
            address = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    if len(address) > MAX_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_LENGTH} characters")
    return address.lower()


def is_valid(raw: str) -> bool:
    try:
        normalise(raw)
    except InvalidAddress:
        return False
    return True


def address_hash(salt: bytes, address: str) -> str:
    """The salted SHA-256 of a normalised address (hex)."""
    return hmac.digest(salt, address.encode("utf-8"), hashlib.sha256).hex()


def address_hasher(salt: bytes) -> Callable[[str], str]:
    """`address_hash` with the salt fixed, for hashing many addresses.

    HMAC-SHA256 as RFC 2104 defines it, H((K ^ opad) || H((K ^ ipad) || m)),
    with the two keyed SHA-256 states computed once and copied per address:
    the same value as `hmac`, without its Python-level object per address
    (the import hashes every row; the tests compare it with `address_hash`).
    """
    key = hashlib.sha256(salt).digest() if len(salt) > _SHA256_BLOCK else salt
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD)).copy
    outer = hashlib.sha256(key.translate(_OPAD)).copy

    def hash_of(address: str) -> str:
        state = inner()
        state.update(address.encode("utf-8"))
        result = outer()
        result.update(state.digest())
        return result.hexdigest()

    return hash_of


def mask(address: str) -> str:
    """`hanako@example.com` -> `h*****@example.com`: enough to recognise, not to use."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]
