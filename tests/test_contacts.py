"""One pattern for addresses and telephone numbers (`bot.contacts`, issue 12): what
preflight finds in a newsletter is what the channel's redaction removes from typed
text, and neither lost what it found before the two were made one."""

from __future__ import annotations

import time

import pytest

from bot.contacts import addresses, spelled_out, telephone_numbers
from bot.preflight.disguise import Haystack, emails, phones
from bot.typed import redact


def _redacted(text: str) -> str:
    return redact(text, address="[A]", phone="[P]")


# What the channel's old patterns (bot/typed.py's EMAIL and PHONE) found, and preflight's.
NUMBERS = [
    "+1 415 555 0100", "+44 20 7946 0958", "03-1234-5678", "090-1234-5678", "(03) 1234-5678",
    "(03)1234-5678", "09012345678", "0312345678", "+81 90 1234 5678", "+81-3-1234-5678",
    "080 9999 8888", "080.9999.8888", "０８０ー９９９９ー８８８８", "080–9999–8888", "O8O-9999-8888",
    "〇八〇-九九九九-八八八八", "0120-123-456", "zero eight zero nine nine nine nine eight eight eight eight",
    "Zero-Eight-Zero 9999 8888", "ゼロハチゼロ・キュウキュウキュウキュウ・ハチハチハチハチ",
    "ぜろはちぜろ きゅうきゅうきゅうきゅう はちはちはちはち", "oh three, one two three four, five six seven eight",
    # Said as people say them: tens, doubles, run together, a plus, other scripts' words.
    "oh eight oh, ninety-nine ninety-nine, eighty-eight eighty-eight",
    "zero eight zero, double nine double nine, double eight double eight",
    "oh eight oh triple nine nine eight eight eight eight", "zeroeightzeroninenineninenineeighteighteighteight",
    "plus eight one, eighty, nine nine nine nine, eight eight eight eight", "+81 eighty 9999 8888",
    "プラス81 80 9999 8888", "零8099998888", "공팔공 구구구구 팔팔팔팔", "ゼロ8099998888",
]  # fmt: skip
ADDRESSES = [
    "taro@example.com", "Taro.Yamada@Example.COM", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "taro at example dot com", "TARO AT EXAMPLE DOT COM", "taro [at] example.com",
    "taro(at)example.com", "taro (at) example (dot) com", "taro{at}example[dot]com",
    "taro @ example.com", "taro★example.com", "taro アットマーク example ドット com",
    "taro@\u200bexample.com",
]  # fmt: skip


@pytest.mark.parametrize("number", NUMBERS)
def test_a_telephone_number_is_found_by_both(number: str):
    text = f"お電話は {number} まで"
    assert phones(Haystack.of(text)), text
    assert _redacted(text) == "お電話は [P] まで"


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_is_found_by_both(address: str):
    text = f"連絡先 {address} まで"
    assert emails(Haystack.of(text)) == {"taro@example.com"} or emails(Haystack.of(text)) == {
        "taro.yamada@example.com"
    }
    assert _redacted(text) == "連絡先 [A] まで"


def test_two_numbers_next_to_each_other_are_two_numbers():
    assert [n.national for n in telephone_numbers("03-1234-5678 090 1234 5678")] == [
        "0312345678",
        "09012345678",
    ]
    assert _redacted("03-1234-5678 03-1234-5678") == "[P] [P]"


@pytest.mark.parametrize(
    ("written", "national"),
    [("TEL080-9999-8888", "08099998888"), ("Tel.03-1234-5678", "0312345678"),
     ("FAX03-1234-5678", "0312345678"), ("tel+81-90-1234-5678", "09012345678"),
     ("PHONE0312345678", "0312345678")],
)  # fmt: skip
def test_a_number_glued_to_the_word_that_labels_it_is_found(written: str, national: str):
    """As business cards and signatures write it: "TEL03-…" (a number right after other
    letters, "hotel0312345678" or "ID0312345678", is not taken for one)."""
    text = f"お問い合わせ（{written}）"
    assert [number.national for number in telephone_numbers(text)] == [national]
    assert phones(Haystack.of(text)), text
    assert "[P]" in _redacted(text) and national[-4:] not in _redacted(text)
    assert telephone_numbers(f"お問い合わせ（hotel{national}）") == []


def test_prose_with_at_is_an_address_only_for_the_channel():
    """ "Visit us at example.com" is prose in a newsletter (found only where it is a
    known person's address, through the index) but redacted in typed channel text."""
    text = "Visit us at example.com"
    assert emails(Haystack.of(text)) == set()
    assert addresses(spelled_out(text.lower()))  # what the index's address view reads
    assert _redacted(text) == "Visit [A]"


@pytest.mark.parametrize(
    "text",
    ["2026-12-01 10:00", "価格 1,000円", "第12号", "ISBN 978-4-00-000000-0", "★新商品★のご案内",
     "meet @ 5pm", "lol 2026", "oil", "one, two, three, four, five, six, seven, eight, nine, ten",
     "ゼロから始めるイチニサンシ体操", "zero to sixty in four point five", "double trouble",
     "twenty twenty-six", "plus one", "top ten", "oh, nineteen eighty-four", "영어 공부는 일이 많다",
     "plus 2 more"],
)  # fmt: skip
def test_ordinary_text_is_left_as_typed(text: str):
    assert _redacted(text) == text
    assert phones(Haystack.of(text)) == set() and emails(Haystack.of(text)) == set()


def test_redaction_keeps_the_rest_of_the_text():
    typed = "Call Ｔａｒｏ on 03-1234-5678 or taro@example.com ★ thanks"
    assert _redacted(typed) == "Call Taro on [P] or [A] ★ thanks"


@pytest.mark.parametrize(
    "text",
    ["a" + " " * 100_000 + "(at)", "x at " * 20_000, "x at y dot " * 9_000, "1 " * 50_000,
     "taro" * 25_000 + "@", "O" * 100_000 + "8", "a." * 50_000 + "@b", "zero " * 20_000,
     "ゼロ" * 50_000, "ぜろに" * 30_000, "zero one " * 10_000 + "x", "double " * 20_000,
     "ninety " * 20_000, "zeroeight" * 10_000, "plus " * 20_000, "공" * 50_000,
     "oh ninety-" * 10_000],
)  # fmt: skip
def test_both_take_linear_time_on_any_text(text: str):
    started = time.thread_time()
    _redacted(text)
    phones(Haystack.of(text))
    emails(Haystack.of(text))
    assert time.thread_time() - started < 1.5
