"""Shared fixtures. Each kind lives in its own plugin module under tests/fixtures/."""

import os

from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.postmark",
    "tests.fixtures.slack",
    "tests.fixtures.bot",
]

# Hypothesis's deadline (200 ms an example) measures the machine as much as the code:
# on a busy shared machine an example waits for a core, and a property that holds
# fails as "Flaky". No property here is about time (the benchmarks under bench/ are),
# so no run has one: in CI Hypothesis's own "ci" profile (derandomized) already has
# none; every other run explores at random, as before, without it.
settings.register_profile("countersign", deadline=None)
if not os.environ.get("CI"):
    settings.load_profile("countersign")
