"""The draft modal's sections: a body split for editing joins back to exactly
itself, every section fits Slack's 3,000-character box, and the modal never
offers more sections than it may hold (issue 13, item 1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.blocks import MAX_SECTIONS, SECTION_CHARS, body_block_id, draft_modal
from handlers.drafts import join_sections, sections_of
from handlers.ids import Action

paragraph = st.text(alphabet=st.sampled_from("あい漢字 \n*#-|ab"), max_size=3_200)


@given(st.lists(paragraph, max_size=60))
def test_a_body_split_into_sections_joins_back_to_itself(paragraphs: list[str]) -> None:
    body = "\n\n".join(paragraphs)
    sections = sections_of(body)
    if sections is None:  # never for a body that one box could hold as it is
        assert len(body) > SECTION_CHARS or not body.strip()
        return
    assert len(sections) <= MAX_SECTIONS
    assert all(0 < len(s) <= SECTION_CHARS for s in sections)
    assert join_sections([(body_block_id(i + 1), s) for i, s in enumerate(sections)]) == body


def test_the_modal_grows_to_30_sections_and_no_further() -> None:
    view = draft_modal(sections=["x"] * MAX_SECTIONS, count=MAX_SECTIONS + 5)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    ids = [b["block_id"] for b in inputs]
    assert ids[1 : MAX_SECTIONS + 1] == [body_block_id(n) for n in range(1, MAX_SECTIONS + 1)]
    assert ids[-1] == "body_file"
    assert not any(
        e.get("action_id") == Action.ADD_SECTION
        for b in view["blocks"]
        for e in b.get("elements", [])
    )
    assert all(b["element"].get("max_length", SECTION_CHARS) <= 3000 for b in inputs[1:-1])
    fewer = draft_modal(sections=["x"], count=2)
    (button,) = [e for b in fewer["blocks"] for e in b.get("elements", [])]
    assert button["action_id"] == Action.ADD_SECTION
