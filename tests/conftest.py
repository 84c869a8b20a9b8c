"""Shared fixtures. Each kind lives in its own plugin module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.postmark",
    "tests.fixtures.slack",
    "tests.fixtures.bot",
]
