"""How a Japanese name reads (issue 12): its kana and romaji are needles too.

The dictionary (fugashi with unidic-lite) is read for real. The expected readings
are written out by hand; every spelling `readings.spellings` lists for a name must
be found, and short readings ("ken", "ai", "mana") must not flag ordinary text.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.preflight import PersonalDataIndex
from bot.preflight.disguise import fold
from bot.preflight.readings import readings, spellings, tagger
from tests.test_preflight_disguise import codes


@pytest.mark.parametrize(
    ("name", "kana", "romaji"),
    [
        ("山口 健太", ["やまぐちけんた", "けんたやまぐち"], ["yamaguchi kenta", "kenta yamaguchi"]),
        ("山口健太", ["やまぐちけんた", "けんたやまぐち"], ["yamaguchi kenta", "kenta yamaguchi"]),
        ("佐藤 翔太", ["さとうしょうた", "さとーしょーた", "しょうたさとう", "しょーたさとー"],
         ["sato shota", "shota sato"]),
        ("服部 半蔵", ["はっとりはんぞう", "はっとりはんぞー", "はんぞうはっとり", "はんぞーはっとり"],
         ["hattori hanzo", "hanzo hattori"]),
        ("森本さやか", ["もりもとさやか", "さやかもりもと"], ["morimoto sayaka", "sayaka morimoto"]),
        ("ヤマグチ ケンタ", ["やまぐちけんた", "けんたやまぐち"], ["yamaguchi kenta", "kenta yamaguchi"]),
        ("ひかり出版", ["ひかりしゅっぱん"], ["hikarishuppan"]),
        # the dictionary's other reading of a word, where it is a person's name
        ("中島 優", ["なかじまゆう", "なかじまゆー", "ゆうなかじま", "ゆーなかじま", "なかじままさる",
                     "まさるなかじま"], ["nakajima yu", "yu nakajima", "nakajima masaru",
                                       "masaru nakajima"]),
        ("高橋", [], ["takahashi"]),  # one word: no kana (たかはし is prose), romaji of 9 letters
        ("真奈", [], []),  # "mana": one word, too short
        ("健", [], ["takeshi"]),  # one word: "ken" is short, its next reading is not
        ("김민준", [], []),  # not Japanese: nothing to read
        ("Alice Example", [], []),
    ],
)  # fmt: skip
def test_the_dictionary_reads_a_name(name: str, kana: list[str], romaji: list[str]):
    read = readings(fold(name))
    assert list(read.kana) == kana
    assert list(read.romaji) == romaji


def test_a_companys_katakana_loanword_is_not_romanised():
    """リークウェル is written Leakwell, not riikuweru; a company in kanji reads on."""
    assert readings(fold("リークウェル"), katakana=False).romaji == ()
    assert readings(fold("みどり商店"), katakana=False).romaji == ("midorishoten",)


@pytest.mark.parametrize(
    ("kana", "pron", "expected"),
    [
        ("サトウ", "サトー", {"sato", "satou", "satoh", "satoo"}),
        ("シンペイ", "シンペー", {"shinpei", "shimpei", "sinpei", "simpei"}),
        ("ジュンイチロウ", "ジュンイチロー",
         {"junichiro", "junichirou", "junichiroh", "junichiroo", "zyunitiro", "zyunitirou"}),
        ("ツチヤ", "ツチヤ", {"tsuchiya", "tutiya"}),
        ("フジタ", "フジタ", {"fujita", "huzita"}),
        ("ハットリ", "ハットリ", {"hattori"}),
        ("ホッチ", "ホッチ", {"hotchi", "hotti"}),
        ("シュウヘイ", "シューヘー", {"shuhei", "shuuhei", "syuhei", "syuuhei"}),
    ],
)  # fmt: skip
def test_spellings_in_every_system_and_habit(kana: str, pron: str, expected: set[str]):
    assert expected <= set(spellings(kana, pron))


NAMES = ["山口 健太", "佐藤 翔太", "伊藤 純一郎", "本間 新平", "大野 智", "服部 半蔵", "土屋 修平",
         "藤田 涼子", "小野 雄一", "井上 優", "日向 蓮", "堀田 信吾"]  # fmt: skip
INDEX = PersonalDataIndex.from_values([("name", name) for name in NAMES])


def _words(name: str) -> list[tuple[str, str]]:
    """(kana, pronunciation) of each part of a name, from the dictionary."""
    parts = []
    for part in name.split():
        words = tagger()(part)  # type: ignore[operator]
        parts.append(
            ("".join(w.feature.kana for w in words), "".join(w.feature.pron for w in words))
        )
    return parts


@pytest.mark.parametrize("name", NAMES)
def test_every_spelling_of_a_name_is_found_in_both_orders(name: str):
    per_part = [spellings(kana, pron) for kana, pron in _words(name)]
    missed = []
    for combo in itertools.product(*per_part):
        for order in (combo, combo[::-1]):
            text = " ".join(word.title() for word in order)
            if INDEX.find(f"Thank you, {text}-san!") != [("name", name)]:
                missed.append(text)
    assert missed == []


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(NAMES),
    st.sampled_from(["", "・", "、", " ", "**", "  ", "-"]),
    st.sampled_from([str.upper, str.lower, str.title, str.swapcase]),
)
def test_a_romanised_name_is_found_between_any_marks(name: str, mark: str, case):
    kana, pron = _words(name)[0]
    family = spellings(kana, pron)[-1]  # the last: Kunrei-shiki, long vowels doubled
    given_kana, given_pron = _words(name)[1]
    given = spellings(given_kana, given_pron)[0]
    text = case(f"{family}{mark or ' '}{given}")
    assert INDEX.find(f"本日は{text}さんの件です。") == [("name", name)], text


SHORT = PersonalDataIndex.from_values(
    [("name", name) for name in ["健", "愛", "真奈", "花", "優", "蓮", "翔", "誠"]]
    + [("company", company) for company in ["日本", "花屋", "まる"]]
)
ORDINARY_EN = """Ken and Ai met at the mana pool. Our token spoken in Kenya: hana, sora,
yuki, mako, ren, sho, yu. Tokyo, Osaka, Kyoto, sushi, karaoke, tsunami, anime,
manga, ramen, sake, judo, karate, kimono, origami, tofu, wasabi, emoji, honda, sony."""
ORDINARY_JA = """健康のために、愛されるはなやさんで花を買いました。まなびのまど、はなしあい、
したなかで、あいさつ、しょうたい、けんたいかん、まことに。にほんの誠実な優勝チーム。"""


@pytest.mark.parametrize("text", [ORDINARY_EN, ORDINARY_JA])
def test_short_readings_do_not_flag_ordinary_words(text: str):
    assert SHORT.find(text) == []
    assert INDEX.find(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Inc.Hikari Syuppan",  # a legal form glued on with a dot (the h of Hikari stays)
        "ｉｎｃ.Ｈｉｋａｒｉ Ｓｙｕｐｐａｎ",
        "Itoo Jun-ichiroh",
        "Itō Jun'ichirō",
    ],
)
def test_romaji_through_marks_and_glued_legal_forms(text: str):
    index = PersonalDataIndex.from_values(
        [("name", "小林 翔太"), ("name", "伊藤 純一郎"), ("company", "株式会社ひかり出版")]
    )
    assert index.find(f"本日は{text}の件です。"), text


def test_markup_inside_a_romanised_name_is_read_as_the_reader_sees_it():
    """`Syo**uta**`: the HTML shows "Syouta" (the romaji view parts words at marks)."""
    assert "subscriber_data" in codes("本日は Kobayasi, Syo**uta** さんの件です。")


PEOPLE = PersonalDataIndex.from_values(
    [("name", name) for name in ["山崎 涼子", "中島 優", "佐藤 翔太", "伊藤 純一郎", "小林 翔太",
                                 "望月 千鶴", "Yamaguchi Kenta", "Satou Yuuko", "Homma Shimpei",
                                 "Kato Yuki", "Ito Shota"]]
    + [("company", "株式会社ひかり出版")]
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # the other reading of a name, voiced or not (rendaku): the dictionary knows one
        ("ヤマサキリョウコ", "山崎 涼子"),
        ("やまさき りょうこ", "山崎 涼子"),
        ("Yamasaki Ryoko", "山崎 涼子"),
        ("なかしまゆう", "中島 優"),
        ("Nakashima Yu", "中島 優"),
        ("ナカジマ マサル", "中島 優"),  # the dictionary's second reading of 優
        ("Masaru Nakajima", "中島 優"),
        # kana as written and as pronounced, mixed; hiragana and katakana mixed
        ("さとうしょーた", "佐藤 翔太"),
        ("サトーしょうた", "佐藤 翔太"),
        ("いとー じゅんいちろう", "伊藤 純一郎"),
        # jy for j, Nihon-shiki (di, du), letter by letter in Kunrei-shiki
        ("Ito Jyunichiro", "伊藤 純一郎"),
        ("Motiduki Tiduru", "望月 千鶴"),
        ("もちずき ちずる", "望月 千鶴"),  # ぢ and じ, づ and ず sound alike
        ("S y o u t a Kobayasi", "小林 翔太"),
        ("K.o.b.a.y.a.s.i S.y.o.t.a", "小林 翔太"),
        # a name typed in romaji, written in kana
        ("やまぐち けんた", "yamaguchi kenta"),
        ("ヤマグチケンタ", "yamaguchi kenta"),
        ("ケンタ・ヤマグチ", "yamaguchi kenta"),
        ("さとうゆうこ", "satou yuuko"),
        ("サトー ユーコ", "satou yuuko"),
        ("ほんま しんぺい", "homma shimpei"),
        ("かとう ゆうき", "kato yuki"),  # the long vowels it does not write, guessed
        ("ゆうき・カトウ", "kato yuki"),
        ("いとう しょうた", "ito shota"),
        # a Latin legal form that ends in a consonant glued before a romanised name
        ("LLCHikari Syuppan", "株式会社ひかり出版"),
        ("KKHikari Shuppan", "株式会社ひかり出版"),
        ("Inc.Hikari Syuppan", "株式会社ひかり出版"),
    ],
)
def test_a_reading_in_another_habit_is_found(text: str, found: str):
    assert [shown for _, shown in PEOPLE.find(f"本日は{text}の件です。")] == [found], text


# Ordinary Japanese with words whose kana, read as the views read them (voiced as
# unvoiced, ー as a vowel), come close to the readings of common names: none is a name.
ORDINARY_KANA = """このゆびわは大きな砂糖のかたまりのようです。しょうたいじょうをお送りします。
けいたいでんわ、ゆうびんきょく、こうのとり、きょうのよてい。本日は晴天なり。
やまざくら、なかじまの公園、ながしまの遊園地。コーヒーとケーキ、ゲームとスポーツ。
みんなでたのしく話しましょう。かんがえましょう、今一度。ありがとうございました。
それでは始めましょう。いまいちでしたか？もう一度やりましょう！いまいちど確認を。"""
COMMON = PersonalDataIndex.from_values(
    [("name", name) for name in ["河野 優", "小野 優", "伊藤 優", "佐藤 愛", "中島 蓮", "今井 翔",
                                 "大野 誠", "高野 恵", "中田 学", "島田 聡", "山崎 桜", "長島 茂",
                                 "小島 慶", "長谷 恵"]]
)  # fmt: skip


def test_readings_in_every_habit_do_not_flag_ordinary_words():
    assert COMMON.find(ORDINARY_KANA) == []
    assert SHORT.find(ORDINARY_KANA) == []


@pytest.mark.parametrize(
    "text",
    [
        "本日はいまい。しょうさんの話です。",  # a sentence's end between the parts, either order
        "本日はしょう。いまいさんの話です。",
        "今井。翔さんの話です。",
        "イマイ！ショウ",
        "考えましょう。今井翔さんの話です。",
    ],
)
def test_a_name_across_a_sentence_end_is_still_found_where_a_reader_reads_one(text: str):
    """「〜ましょう。いまいち」 holds しょう。いまい (今井 翔 given first), but as the
    dictionary reads it both its ends fall inside words (ましょ|う, いまいち): not a
    name. Where a word starts or ends with it, it is one."""
    assert [shown for _, shown in COMMON.find(text)] == ["今井 翔"], text


# A mark or a space inside a word of romaji; letters typed one by one where an h that
# lengthens a vowel meets a word that starts with one.
ROMAJI_GAPS = PersonalDataIndex.from_values(
    [("name", name) for name in ["小林 翔太", "伊藤 一郎", "大野 愛", "本間 新平"]]
    + [("company", "株式会社ひかり出版")]
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Kobayas-hi Syouta", "小林 翔太"),
        ("Kobayas hi Syouta", "小林 翔太"),
        ("Kobayasi Syo-uta", "小林 翔太"),
        ("Kobaya.shi Sho'uta", "小林 翔太"),
        ("Hikari Syup-pan", "株式会社ひかり出版"),
        ("I t o h I c h i r o", "伊藤 一郎"),
        ("I.t.o.h.I.c.h.i.r.o", "伊藤 一郎"),
        ("Itoh Ichiro", "伊藤 一郎"),
        ("O h n o A i", "大野 愛"),
        ("H o m m a S h i m p e i", "本間 新平"),
    ],
)
def test_a_gap_inside_a_romaji_word_is_read_through(text: str, found: str):
    assert [shown for _, shown in ROMAJI_GAPS.find(f"本日は{text}の件です。")] == [found], text


def test_words_of_romaji_a_reader_keeps_apart_are_still_found():
    """Read with its gaps as typed too: "Mr Hayashi" is not "mrayashi"."""
    index = PersonalDataIndex.from_values([("name", "林 健太"), ("name", "山田 優子")])
    for text in ["Mr Hayashi Kenta", "Dr. Yamada Yuko", "and Hayashi Kenta", "Ms Yamada Yuko"]:
        assert index.find(f"Thanks to {text}!"), text
