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


_CACHED = 65_536  # domains remembered (a list shares a few thousand at most)
_DOMAINS: dict[str, str] = {}  # domain as written (ASCII ones lower-cased) -> normal form
_REFUSED: dict[str, str] = {}  # domain as written -> why email-validator refused it


def _domain(domain: str) -> str:
    """The normal form of an address's domain, or InvalidAddress.

    email-validator's domain check dominates its cost, so each domain is
    checked once per process: an accepted one under its lower-cased spelling
    when it is ASCII (every check before email-validator's own UTS-46
    case-folding accepts both cases of an ASCII letter alike, so EXAMPLE.COM
    and example.com get one answer), a refused one as written, so that its
    reason is the one email-validator gives for that spelling.
    """
    key = domain.lower() if domain.isascii() else domain
    known = _DOMAINS.get(key)
    if known is not None:
        return known
    refused = _REFUSED.get(domain)
    if refused is not None:
        raise InvalidAddress(refused)
    try:
        known = validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        if len(_REFUSED) >= _CACHED:
            _REFUSED.clear()
        _REFUSED[domain] = str(exc)
        raise InvalidAddress(str(exc)) from None
    if len(_DOMAINS) >= _CACHED:
        _DOMAINS.clear()
    _DOMAINS[key] = known
    return known


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
