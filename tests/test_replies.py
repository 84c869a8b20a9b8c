"""One sentence for every refusal, a Slack directory failure included."""

from __future__ import annotations

from bot.desk import DirectoryError
from bot.refusal import Refusal
from handlers import texts
from handlers.replies import refusal_text


def test_a_directory_failure_is_explained_as_the_directory_s_and_escaped():
    with texts.speaking("en"):
        plan = refusal_text(DirectoryError("plan_upgrade_required"))
        assert plan == texts.t("access.directory_plan")
        failed = str(refusal_text(DirectoryError("slack_error", error="<!channel> ratelimited")))
        assert "&lt;!channel&gt; ratelimited" in failed and "<!channel>" not in failed
        unknown = str(refusal_text(DirectoryError("slack_error")))
        assert "unknown_error" in unknown


def test_any_other_refusal_reads_its_own_sentence():
    with texts.speaking("en"):
        assert refusal_text(Refusal("issue_not_found", issue=999)) == texts.t(
            "refusal.issue_not_found", issue=999
        )
