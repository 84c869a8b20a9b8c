"""Address normalisation, hashing and masking (bot.addresses)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.addresses import InvalidAddress, address_hash, domain_of, is_valid, mask, normalise

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
LABEL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

atoms = st.text(ATEXT, min_size=1, max_size=12)
dot_atom_local = st.lists(atoms, min_size=1, max_size=4).map(".".join)
labels = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.text(LABEL_CHARS, min_size=1, max_size=1),
    st.text(LABEL_CHARS + "-", max_size=10),
    st.text(LABEL_CHARS, min_size=1, max_size=1),
) | st.text(LABEL_CHARS, min_size=1, max_size=3)
tlds = st.sampled_from(["com", "jp", "net", "org", "co.jp", "example", "xn--wgv71a"])
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]), st.lists(labels, min_size=1, max_size=3), tlds
)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", dot_atom_local, domains)
whitespace = st.text(" \t\r\n", max_size=3)
# Free text that often looks like an address: exercises every rejection path,
# line breaks and control characters inside included.
address_like = st.text(ATEXT + '@. "()<>[]:;,\\あ山\n\r\t\x00', max_size=40)


def _reference(text: str) -> str | None:
    """email-validator's own verdict, lower-cased; None when it rejects."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _flip_case(text: str, flips: list[bool]) -> str:
    return "".join(
        c.swapcase() if flip else c
        for c, flip in zip(text, (flips + [False] * len(text))[: len(text)], strict=True)
    )


@given(address_like | addresses)
@example("Hanako.Yamada@Example.COM")
@example("  hanako@example.com\n")
def test_normalise_is_idempotent(raw: str):
    try:
        once = normalise(raw)
    except InvalidAddress:
        return
    assert normalise(once) == once


@given(addresses, st.lists(st.booleans(), max_size=60), whitespace, whitespace)
def test_case_and_whitespace_variants_normalise_alike(
    address: str, flips: list[bool], before: str, after: str
):
    try:
        expected = normalise(address)
    except InvalidAddress:
        assume(False)
        raise
    variant = before + _flip_case(address, flips) + after
    assert normalise(variant) == expected
    assert normalise(address.upper()) == expected


@given(address_like | addresses)
def test_accepted_output_has_one_at_and_no_surrounding_space(raw: str):
    try:
        address = normalise(raw)
    except InvalidAddress as exc:
        assert exc.reason
        return
    assert address.count("@") == 1
    assert address == address.strip()
    assert address == address.lower()
    local, _, domain = address.partition("@")
    assert local and domain
    assert is_valid(raw)


@settings(max_examples=300)
@given(addresses, whitespace)
def test_fast_path_agrees_with_email_validator(address: str, padding: str):
    """Our fast path for dot-atom local parts gives email-validator's answer."""
    raw = padding + address + padding
    reference = _reference(raw)
    if reference is None:
        with pytest.raises(InvalidAddress):
            normalise(raw)
    else:
        assert normalise(raw) == reference


@given(address_like | addresses)
@example("hanako\n@example.com")  # a `$` in the fast path's pattern once let this through
@example("hanako\r\n@example.com")
def test_any_input_agrees_with_email_validator(raw: str):
    reference = _reference(raw)
    if reference is None:
        with pytest.raises(InvalidAddress) as caught:
            normalise(raw)
        assert caught.value.reason
    else:
        assert normalise(raw) == reference


def _domain_reference(domain: str) -> str | None:
    """email-validator's reason for refusing `domain` as it is spelt, or None."""
    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


@settings(max_examples=200)
@given(
    domains | st.text(LABEL_CHARS + ".-_", min_size=1, max_size=20),
    st.lists(st.booleans(), max_size=40),
    dot_atom_local,
)
@example("Example.COM", [], "hanako")
@example("EXAMPLE.INVALID", [True], "taro")
@example("XN--WGV71A.Example", [], "hanako")
def test_every_spelling_of_a_domain_gets_email_validators_own_answer(
    domain: str, flips: list[bool], local: str
):
    """Domains are checked once per process, an accepted ASCII one under its
    lower-cased spelling and a refused one as written: whichever spelling
    comes first, each gets email-validator's own answer, a refusal its reason."""
    for spelling in (domain, _flip_case(domain, flips), domain.upper(), domain.lower(), domain):
        raw = f"{local}@{spelling}"
        reason = _domain_reference(spelling)
        if reason is None and _reference(raw) is not None:
            assert normalise(raw) == _reference(raw)
        elif reason is not None:
            with pytest.raises(InvalidAddress) as caught:
                normalise(raw)
            assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hanako", "@"),
        ("@example.com", "@"),
        ("hanako@", ""),
        ("hanako@@example.com", ""),
        ("hana ko@example.com", ""),
        ("hanako@example", ""),
        ("hanako@exa_mple.com", ""),
        ("hanako@.example.com", ""),
        (".hanako@example.com", ""),
        ("hanako.@example.com", ""),
        ("han..ako@example.com", ""),
        ("hanako\n@example.com", "U+000A"),
        ("山田花子 <hanako@example.com>", ""),
        ("a@" + ".".join(["b" * 60] * 5) + ".com", ""),
    ],
)
def test_invalid_addresses_raise_with_a_reason(raw: str, fragment: str):
    with pytest.raises(InvalidAddress) as caught:
        normalise(raw)
    assert caught.value.reason
    assert str(caught.value) == caught.value.reason
    assert fragment in caught.value.reason
    assert not is_valid(raw)


def test_normal_form_examples():
    assert normalise("  Hanako.Yamada@Example.COM ") == "hanako.yamada@example.com"
    assert normalise("hanako+news@example.jp") == "hanako+news@example.jp"
    assert domain_of("hanako@example.jp") == "example.jp"


SALT = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)


def test_address_hash_is_a_stable_salted_hmac():
    digest = address_hash(SALT, "hanako@example.com")
    expected = hmac.new(SALT, b"hanako@example.com", hashlib.sha256).hexdigest()
    assert digest == expected
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert address_hash(SALT, "hanako@example.com") == digest
    assert address_hash(SALT[::-1], "hanako@example.com") != digest
    assert address_hash(SALT, "taro@example.com") != digest


def test_address_hash_of_japanese_text_is_utf8_based():
    expected = hmac.new(SALT, "山田@example.jp".encode(), hashlib.sha256).hexdigest()
    assert address_hash(SALT, "山田@example.jp") == expected


@given(addresses)
def test_mask_hides_the_local_part(address: str):
    address = address.lower()
    local, _, domain = address.rpartition("@")
    masked = mask(address)
    masked_local, _, masked_domain = masked.rpartition("@")
    assert masked_domain == domain
    assert masked_local[0] == local[0]
    assert set(masked_local[1:]) == {"*"}
    assert len(masked_local) == max(len(local), 2)  # only the first character and the length
    if set(local[1:]) - {"*"}:  # a local part such as "o*" is its own mask (found by hypothesis)
        assert local not in masked_local


def test_mask_examples():
    assert mask("hanako@example.com") == "h*****@example.com"
    assert mask("h@example.com") == "h*@example.com"
