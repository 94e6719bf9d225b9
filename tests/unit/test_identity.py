"""Tests for award.identity: credit codes, ID numbers, phones, e-mails, dates and masking."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from award.identity import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    id_check_digit,
    make_credit_code,
    make_id_number,
    mask_id_number,
    mask_phone,
    normalize,
    parse_date,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_phone,
)

seeds = st.integers(min_value=0, max_value=2**32)
FULLWIDTH = str.maketrans("0123456789ABCDEFGHJKLMNPQRTUWXY", "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＸＹ")


# --------------------------------------------------------------------------- credit codes


def test_known_credit_codes() -> None:
    assert validate_credit_code("91350100M000100Y43").valid
    assert credit_code_check_char("91350100M000100Y4") == "3"
    bad = validate_credit_code("91350100M000100Y44")
    assert not bad.valid and bad.reason == "统一社会信用代码校验码错误，应为3"


def test_credit_code_normalisation() -> None:
    v = validate_credit_code(" 9135 0100 m000 100y43 ")
    assert v.valid and v.normalized == "91350100M000100Y43"
    assert validate_credit_code("91350100M000100Y43".translate(FULLWIDTH)).valid


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "统一社会信用代码为空"),
        ("91350100M000100Y4", "统一社会信用代码应为18位，实为17位"),
        ("91350100M000100I43", "统一社会信用代码含非法字符“I”（不使用I、O、S、V、Z）"),
    ],
)
def test_credit_code_reasons(code: str, reason: str) -> None:
    v = validate_credit_code(code)
    assert not v.valid and v.reason == reason


@given(seeds)
def test_generated_credit_codes_validate(seed: int) -> None:
    code = make_credit_code(random.Random(seed))
    assert len(code) == 18 and validate_credit_code(code).valid


@given(seeds, st.integers(min_value=0, max_value=17), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_single_change_of_credit_code_is_rejected(seed: int, pos: int, char: str) -> None:
    code = make_credit_code(random.Random(seed))
    if code[pos] == char:
        char = CREDIT_CODE_ALPHABET[(CREDIT_CODE_ALPHABET.index(char) + 1) % 31]
    changed = code[:pos] + char + code[pos + 1 :]
    assert not validate_credit_code(changed).valid


# --------------------------------------------------------------------------- ID numbers


def test_known_id_numbers() -> None:
    assert validate_id_number("11010519491231002X").valid
    assert validate_id_number("11010519491231002x").normalized == "11010519491231002X"
    assert validate_id_number("１１０１０５１９４９１２３１００２ｘ").valid
    assert validate_id_number(" 110105 19491231 002X ").valid
    assert id_check_digit("11010519491231002") == "X"
    assert validate_id_number("110105194912310021").reason == "身份证号码校验码错误，应为X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "身份证号码为空"),
        ("11010519491231002", "身份证号码应为18位，实为17位"),
        ("1101051949123100AX", "身份证号码前17位应为数字，末位应为数字或X"),
        ("110105194902300021", "身份证号码中的出生日期无效"),
    ],
)
def test_id_number_reasons(number: str, reason: str) -> None:
    v = validate_id_number(number)
    assert not v.valid and v.reason == reason


@given(seeds, st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)))
def test_generated_id_numbers_validate(seed: int, birth: date) -> None:
    number = make_id_number(random.Random(seed), birth, region="330106")
    v = validate_id_number(number)
    assert v.valid and number[6:14] == f"{birth:%Y%m%d}" and number.startswith("330106")


@given(seeds, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_single_change_of_id_number_is_rejected(seed: int, pos: int, char: str) -> None:
    number = make_id_number(random.Random(seed))
    if number[pos] == char:
        char = "0123456789X"[("0123456789X".index(char) + 1) % 11]
    changed = number[:pos] + char + number[pos + 1 :]
    assert not validate_id_number(changed).valid


def test_make_id_number_sex_digit() -> None:
    rng = random.Random(1)
    assert int(make_id_number(rng, female=True)[16]) % 2 == 0
    assert int(make_id_number(rng, female=False)[16]) % 2 == 1


# --------------------------------------------------------------------------- phones, e-mail, dates


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("13800571234", "13800571234"),
        ("138 0057 1234", "13800571234"),
        ("+86 138-0057-1234", "13800571234"),
        ("１３８００５７１２３４", "13800571234"),
        ("0571-88888888", "0571-88888888"),
        ("057188888888", "0571-88888888"),
        ("(0571)88888888", "0571-88888888"),
        ("010-12345678-123", "010-12345678-123"),
        ("０５７１－８８８８８８８８", "0571-88888888"),
    ],
)
def test_valid_phones(raw: str, normalized: str) -> None:
    v = validate_phone(raw)
    assert v.valid and v.normalized == normalized


@pytest.mark.parametrize("raw", ["", "12345678901", "1380057123", "23800571234", "0571-123", "abc"])
def test_invalid_phones(raw: str) -> None:
    v = validate_phone(raw)
    assert not v.valid and v.reason


def test_email() -> None:
    assert validate_email(" Zhang.Wei@Example.COM ").normalized == "Zhang.Wei@example.com"
    assert validate_email("ｚｗ@example.com").valid
    for bad in ("", "zw", "zw@", "@example.com", "zw@example", "z w@example.com"):
        assert not validate_email(bad).valid


@pytest.mark.parametrize(
    "text",
    ["2023-05-20", "2023年5月20日", "2023.5.20", "2023/05/20", "２０２３年５月２０日", " 2023 年 05 月 20 日 ", "20230520"],
)
def test_parse_date(text: str) -> None:
    assert parse_date(text) == date(2023, 5, 20)


@pytest.mark.parametrize("text", ["", "2023-02-30", "五月二十日", "20/05/2023", "2023年5月"])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="日期"):
        parse_date(text)


def test_normalize() -> None:
    assert normalize(" ａｂ１ ２ ") == "AB12"


# --------------------------------------------------------------------------- masking


def test_masks() -> None:
    assert mask_id_number("33010619660801490X") == "330***********490X"
    assert mask_phone("13800571234") == "138****1234"
    assert mask_phone("0571-88881234") == "0571-****1234"
    assert mask_id_number("123") == "***"


@settings(max_examples=200)
@given(seeds)
def test_masks_hide_the_middle(seed: int) -> None:
    rng = random.Random(seed)
    number = make_id_number(rng)
    masked = mask_id_number(number)
    assert len(masked) == 18 and masked[3:14] == "*" * 11 and number[3:14] not in masked
    phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    masked_phone = mask_phone(phone)
    assert masked_phone[3:7] == "****" and masked_phone[:3] + masked_phone[7:] == phone[:3] + phone[7:]
