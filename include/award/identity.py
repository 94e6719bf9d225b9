"""Identity checks: unified social credit codes, resident ID numbers, phones, e-mails and dates.

* Credit codes follow GB 32100-2015 (18 characters, 31-character alphabet, mod-31 check character).
* ID numbers follow GB 11643-1999 (18 characters, valid birth date, ISO 7064 MOD 11-2 check digit).
* ``make_*`` functions generate valid test data from a seeded ``random.Random``.
* ``mask_*`` functions hide personal data for logs and public notices: an ID number keeps its first 3
  and last 4 characters (``330***********123X``), a mobile phone its first 3 and last 4 digits
  (``138****5678``), a landline its area code and last 4 digits (``0XXX-****8888``).

Reasons are written in Chinese because they are shown to applicants.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "Validation",
    "credit_code_check_char",
    "id_check_digit",
    "make_credit_code",
    "make_id_number",
    "has_pii",
    "mask_email",
    "mask_id_number",
    "mask_pii_text",
    "mask_phone",
    "normalize",
    "parse_date",
    "validate_credit_code",
    "validate_email",
    "validate_id_number",
    "validate_phone",
]

# GB 32100-2015: digits and upper-case letters without I, O, S, V, Z.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}
_CC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Registration authority (position 1) and institution type (position 2) pairs in common use.
_CC_PREFIXES = ("91", "91", "91", "92", "93", "11", "12", "51", "52", "53", "Y1")
# GB 11714-1997 organisation code (positions 9-17 of a credit code): 8 characters + check.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# GB 11643-1999 / ISO 7064 MOD 11-2.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"

_SPACES = re.compile(r"\s+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area code (010, 02x, 0xxx) + 7-8 digit subscriber number + optional extension.
_LANDLINE = re.compile(r"^(0(?:10|2\d|[3-9]\d{2}))-?(\d{7,8})(?:-(\d{1,6}))?$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-./]\s*(\d{1,2})\s*[-./]\s*(\d{1,2})$"),
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


@dataclass(frozen=True)
class Validation:
    """Result of a check: the normalised value and, when invalid, a reason in Chinese."""

    valid: bool
    normalized: str
    reason: str | None = None


def normalize(s: str) -> str:
    """NFKC-normalise (full-width to half-width), strip and drop inner whitespace; upper-case.

    Meant for codes (credit codes, ID numbers); use ``unicodedata.normalize`` for free text.
    """
    if not isinstance(s, str):
        raise TypeError(f"expected a string, got {type(s).__name__}")
    return _SPACES.sub("", unicodedata.normalize("NFKC", s)).upper()


# --------------------------------------------------------------------------- credit codes


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a credit code."""
    body = normalize(first17)
    if len(body) != 17:
        raise ValueError(f"credit code body must have 17 characters, got {len(body)}")
    try:
        total = sum(_CC_VALUE[c] * w for c, w in zip(body, _CC_WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not allowed in a credit code") from None
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(s: str) -> Validation:
    """Check a unified social credit code (统一社会信用代码) per GB 32100-2015."""
    code = normalize(s)
    if not code:
        return Validation(False, code, "统一社会信用代码为空")
    if len(code) != 18:
        return Validation(False, code, f"统一社会信用代码应为18位，实为{len(code)}位")
    bad = [c for c in code if c not in _CC_VALUE]
    if bad:
        return Validation(False, code, f"统一社会信用代码含非法字符“{bad[0]}”（不使用I、O、S、V、Z）")
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return Validation(False, code, f"统一社会信用代码校验码错误，应为{expected}")
    return Validation(True, code, None)


def _org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code (8 characters + check), used inside credit codes."""
    body = "".join(rng.choice("0123456789") if i else rng.choice("3456789MN") for i in range(8))
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("0" if check == 11 else "X" if check == 10 else str(check))


def make_credit_code(rng: random.Random, region: str = "330106") -> str:
    """Generate a valid, realistic-looking credit code (prefix + region + organisation code + check)."""
    first17 = rng.choice(_CC_PREFIXES) + region + _org_code(rng)
    return first17 + credit_code_check_char(first17)


# --------------------------------------------------------------------------- ID numbers


def id_check_digit(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check digit for the first 17 digits of an ID number."""
    body = normalize(first17)
    if len(body) != 17 or not body.isdigit():
        raise ValueError("ID number body must be 17 digits")
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(s: str) -> Validation:
    """Check an 18-digit resident ID number (居民身份证号码) per GB 11643-1999."""
    num = normalize(s)
    if not num:
        return Validation(False, num, "身份证号码为空")
    if len(num) != 18:
        return Validation(False, num, f"身份证号码应为18位，实为{len(num)}位")
    if not (num[:17].isdigit() and num[:17].isascii()) or not (num[17].isdigit() or num[17] == "X"):
        return Validation(False, num, "身份证号码前17位应为数字，末位应为数字或X")
    if num[0] == "0":
        return Validation(False, num, "身份证号码地址码无效")
    try:
        birth = date(int(num[6:10]), int(num[10:12]), int(num[12:14]))
    except ValueError:
        return Validation(False, num, "身份证号码中的出生日期无效")
    if birth.year < 1900 or birth > date.today():
        return Validation(False, num, "身份证号码中的出生日期无效")
    expected = id_check_digit(num[:17])
    if num[17] != expected:
        return Validation(False, num, f"身份证号码校验码错误，应为{expected}")
    return Validation(True, num, None)


def id_birth_date(s: str) -> date | None:
    """Birth date encoded in a valid ID number, else None."""
    v = validate_id_number(s)
    if not v.valid:
        return None
    n = v.normalized
    return date(int(n[6:10]), int(n[10:12]), int(n[12:14]))


def make_id_number(
    rng: random.Random, birth: date | None = None, region: str = "330106", *, female: bool | None = None
) -> str:
    """Generate a valid ID number; ``female`` fixes the sex digit (odd = male, even = female)."""
    if birth is None:
        birth = date(rng.randint(1960, 1995), rng.randint(1, 12), rng.randint(1, 28))
    seq = rng.randint(0, 99) * 10
    if female is None:
        female = rng.random() < 0.5
    sex = rng.choice((0, 2, 4, 6, 8)) if female else rng.choice((1, 3, 5, 7, 9))
    first17 = f"{region}{birth:%Y%m%d}{seq // 10:02d}{sex}"
    return first17 + id_check_digit(first17)


# --------------------------------------------------------------------------- phones and e-mail


def validate_phone(s: str) -> Validation:
    """Check a mainland mobile (1[3-9] + 9 digits) or landline with area code (0XXX-XXXXXXXX[-123])."""
    text = unicodedata.normalize("NFKC", s or "").strip()
    text = re.sub(r"^\+?86[\s-]*", "", text) if re.match(r"^\+?86[\s-]*1", text) else text
    text = re.sub(r"^\((0\d{2,3})\)\s*", r"\1-", text)  # (0XXX)XXXXXXXX
    compact = re.sub(r"[\s\u2010-\u2015]", lambda m: "" if m.group().isspace() else "-", text)
    if not compact:
        return Validation(False, compact, "电话号码为空")
    if _MOBILE.match(compact.replace("-", "")) and compact.replace("-", "").startswith("1"):
        return Validation(True, compact.replace("-", ""), None)
    m = _LANDLINE.match(compact)
    if m:
        normalized = f"{m.group(1)}-{m.group(2)}" + (f"-{m.group(3)}" if m.group(3) else "")
        return Validation(True, normalized, None)
    return Validation(False, compact, "电话号码格式不正确，应为11位手机号或带区号的固定电话（区号-号码）")


def validate_email(s: str) -> Validation:
    """Check an e-mail address (pragmatic syntax check; the domain is lower-cased)."""
    text = unicodedata.normalize("NFKC", s or "").strip()
    if not text:
        return Validation(False, text, "电子邮箱为空")
    if "@" in text:
        local, _, domain = text.rpartition("@")
        text = f"{local}@{domain.lower()}"
    if len(text) > 254 or not _EMAIL.match(text):
        return Validation(False, text, "电子邮箱格式不正确")
    return Validation(True, text, None)


# --------------------------------------------------------------------------- dates


def parse_date(s: str) -> date:
    """Parse 2023-05-20, 2023年5月20日, 2023.5.20, 2023/05/20 or 20230520 (full-width digits too).

    Raises ValueError with a message quoting the input when the text is not such a date.
    """
    text = unicodedata.normalize("NFKC", s or "").strip()
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            try:
                return date(y, mo, d)
            except ValueError:
                raise ValueError(f"不存在的日期：{s!r}") from None
    raise ValueError(f"无法识别的日期：{s!r}（应如 2023-05-20 或 2023年5月20日）")


# --------------------------------------------------------------------------- masking


def mask_id_number(s: str) -> str:
    """Mask an ID number, keeping the first 3 and last 4 characters (others become ``*``)."""
    text = normalize(s or "")
    if len(text) < 10:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def listed_code(kind: str, key: str) -> str:
    """The code an applicant is listed under in the office's letters and sheets: a person's ID number masked, a
    team's unit credit code alone (a team's key is ``code/名称``; its name has its own column), an organisation's
    credit code as it is."""
    key = (key or "").strip()
    if kind == "person":
        return mask_id_number(key)
    return key.split("/", 1)[0].strip()


def mask_phone(s: str) -> str:
    """Mask a phone: mobile ``138****5678``; landline keeps area code and last 4 digits."""
    v = validate_phone(s or "")
    text = v.normalized
    if v.valid and text.startswith("1"):
        return text[:3] + "****" + text[-4:]
    if v.valid:
        area, number, *ext = text.split("-")
        return f"{area}-{'*' * (len(number) - 4)}{number[-4:]}" + (f"-{ext[0]}" if ext else "")
    digits = re.sub(r"\D", "", text)
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


# Personal data inside free text (not anchored): ID numbers (18 characters, or the old 15 digits), mobiles,
# landlines and e-mail addresses, with the separators people type. Full-width digits and dashes count too.
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９－＋", "0123456789-+")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9])")
_LANDLINE_IN_TEXT = re.compile(r"(?<![0-9])0\d{2,3}[-－ ]?\d{7,8}(?![0-9])")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


def mask_email(s: str) -> str:
    """Mask an e-mail address, keeping its first character and its domain (``w***@qq.com``)."""
    local, _, domain = (s or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "*" * len(local)


def mask_pii_text(text: str) -> str:
    """Mask every ID number, phone and e-mail address found in free text (for logs and public notices)."""
    if not text:
        return text
    plain = text.translate(_FULLWIDTH_DIGITS)
    out = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), plain)
    out = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), out)
    out = _MOBILE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group())[-11:]), out)
    out = _LANDLINE_IN_TEXT.sub(lambda m: mask_phone(m.group()), out)
    return text if out == plain else out  # full-width digits stay as written where nothing was masked


def has_pii(text: str) -> bool:
    """Whether free text holds an ID number, a phone or an e-mail address."""
    return mask_pii_text(text) != text
