"""`/newsletter` command text: every input is either understood or answered with usage."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import blocks
from handlers.parsing import SUBCOMMANDS, Parsed, UsageError, parse
from handlers.texts import t

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Parsed("help")),
        ("help", Parsed("help")),
        ("NEW", Parsed("new")),
        ("show 3", Parsed("show", issue_id=3)),
        ("show #12", Parsed("show", issue_id=12)),
        ("audit", Parsed("audit")),
        ("audit 4", Parsed("audit", issue_id=4)),
        ("submit 3", Parsed("submit", issue_id=3)),
        (
            'submit 3 at 2026-12-01 10:00 override "社長の確認済み"',
            Parsed(
                "submit",
                issue_id=3,
                at=datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO),
                override="社長の確認済み",
            ),
        ),
        ("subscribers find 山田", Parsed("subscribers", args=("find", "山田"))),
    ],
)
def test_understood(text: str, expected: Parsed):
    assert parse(text, TOKYO) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("sned 3", "usage.unknown"),
        ("show", "usage.bad_arguments"),
        ("show three", "usage.bad_arguments"),
        ("show 3 4", "usage.bad_arguments"),
        ("new 3", "usage.bad_arguments"),
        ("submit 3 at tomorrow", "refusal.bad_time"),
        ("submit 3 at 10:00", "refusal.bad_time"),
        ("submit 3 at", "refusal.bad_time"),
        ("submit 3 at 2026-13-01 10:00", "refusal.bad_time"),
        ('submit 3 override "', "usage.bad_arguments"),
        ('submit 3 override ""', "usage.bad_arguments"),
    ],
)
def test_refused_with_usage(text: str, key: str):
    with pytest.raises(UsageError) as error:
        parse(text, TOKYO)
    assert error.value.key == key
    sentence = t(error.value.key, **error.value.params)
    assert "{" not in sentence  # every placeholder was filled


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda sub, rest: f"{sub} {rest}",
            st.sampled_from(sorted(SUBCOMMANDS)),
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
        ),
    )
)
def test_fuzz_never_anything_but_parsed_or_usage(text: str):
    try:
        parsed = parse(text, TOKYO)
    except UsageError as error:
        # The usage reply can always be built and names no unfilled placeholder.
        intro = t(error.key, **error.params)
        assert blocks.help_blocks(intro)
        assert "{expected}" not in intro and "{word}" not in intro
        return
    assert parsed.sub in SUBCOMMANDS
    if parsed.issue_id is not None:
        assert parsed.issue_id >= 0
