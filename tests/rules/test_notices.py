"""Texts to therapists: a message without text is said to be one."""

from __future__ import annotations

import pytest

from rules.notices import EMPTY_BODY, digest_text, forward_text


@pytest.mark.parametrize("body", ["", " ", "\u200b"])
def test_a_forward_of_a_message_without_text_says_so(body: str) -> None:
    assert forward_text("Jordan D.", "c1001", body) == (
        f"Jordan D. (#c1001): {EMPTY_BODY}\nReply with #c1001 and your text."
    )


def test_a_digest_keeps_texts_and_marks_empty_ones() -> None:
    assert digest_text("Jordan D.", "c1001", ["running late", ""]) == (
        f"Jordan D. (#c1001), 2 messages:\n- running late\n- {EMPTY_BODY}\n"
        "Reply with #c1001 and your text."
    )
