"""Property tests (hypothesis) for the validators as the rules use them."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from award.calendar import default_calendar
from award.completeness.rules import RULES, CheckContext
from award.config import load_season
from award.identity import CREDIT_CODE_ALPHABET, make_credit_code, make_id_number
from award.store.models import Applicant, Application

SEASON = load_season()
CAL = default_calendar()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ctx(category: str, **fields: str) -> CheckContext:
    app = Application(id=1, season=SEASON.season_id, category=category, submission_no="GS-2023-0001",
                      state="received", channel="mail", channels=["mail"], fields=fields)
    app.applicant = Applicant(kind="organization", key="k", name="n")
    return CheckContext(application=app, season=SEASON, calendar=CAL, load_blob=lambda _s: b"", today=date(2023, 5, 10))


def kinds(rule_id: str, c: CheckContext) -> list[str]:
    return [r.kind for r in RULES[rule_id].run(c)]


@FAST
@given(seed=st.integers(0, 2**32), spaces=st.booleans(), fullwidth=st.booleans())
def test_valid_credit_codes_pass_however_written(seed: int, spaces: bool, fullwidth: bool) -> None:
    code = make_credit_code(random.Random(seed))
    written = " ".join(code[i:i + 6] for i in range(0, 18, 6)) if spaces else code
    if fullwidth:
        written = "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in written)
    assert kinds("fields.credit_code", ctx("organization", credit_code=written)) == []
    assert kinds("eligibility.established_in_china", ctx("organization", credit_code=code, city="兰州市")) == []


@FAST
@given(seed=st.integers(0, 2**32), data=st.data())
def test_any_wrong_check_character_is_caught(seed: int, data: st.DataObject) -> None:
    code = make_credit_code(random.Random(seed))
    wrong = data.draw(st.sampled_from([c for c in CREDIT_CODE_ALPHABET if c != code[17]]))
    assert kinds("fields.credit_code", ctx("organization", credit_code=code[:17] + wrong)) == ["invalid"]


@FAST
@given(seed=st.integers(0, 2**32), birth=st.dates(date(1950, 1, 1), date(2000, 12, 31)), data=st.data())
def test_id_numbers(seed: int, birth: date, data: st.DataObject) -> None:
    number = make_id_number(random.Random(seed), birth)
    good = ctx("individual", id_number=number, birth_date=birth.isoformat())
    assert kinds("fields.id_number", good) == []
    wrong = data.draw(st.sampled_from([c for c in "0123456789X" if c != number[17]]))
    bad = ctx("individual", id_number=number[:17] + wrong, birth_date=birth.isoformat())
    found = RULES["fields.id_number"].run(bad)
    assert [r.kind for r in found] == ["invalid"]
    assert number[:17] not in found[0].message  # never echo an ID number
    other = ctx("individual", id_number=number, birth_date=(birth + timedelta(days=1)).isoformat())
    assert kinds("fields.id_number", other) == ["birth_mismatch"]


@FAST
@given(prefix=st.sampled_from("3456789"), rest=st.text("0123456789", min_size=9, max_size=9))
def test_mobile_numbers_pass(prefix: str, rest: str) -> None:
    assert kinds("fields.phone", ctx("organization", contact_phone=f"1{prefix}{rest}")) == []


@FAST
@given(digits=st.text("0123456789", min_size=1, max_size=20).filter(lambda s: len(s) not in (10, 11, 12)))
def test_wrong_length_numbers_fail_and_are_not_echoed(digits: str) -> None:
    phone = "2" + digits  # neither a mobile (1...) nor a landline (0...)
    found = RULES["fields.phone"].run(ctx("organization", contact_phone=phone))
    assert [r.kind for r in found] == ["invalid"]
    assert phone not in found[0].message


@FAST
@given(user=st.from_regex(r"[a-z][a-z0-9._]{0,15}[a-z0-9]", fullmatch=True).filter(lambda u: ".." not in u),
       domain=st.sampled_from(["163.com", "qq.com", "example.gov.cn", "mail.example.com"]))
def test_emails(user: str, domain: str) -> None:
    assert kinds("fields.email", ctx("organization", email=f"{user}@{domain}")) == []
    assert kinds("fields.email", ctx("organization", email=f"{user}@@{domain}")) == ["invalid"]


@FAST
@given(start=st.dates(date(2023, 1, 1), date(2023, 12, 1)), n=st.integers(1, 12))
def test_publicity_counts_chinese_working_days(start: date, n: int) -> None:
    """A span from a working day through its n-th working day passes exactly when n >= min_workdays."""
    first = CAL.next_workday(start, inclusive=True)
    end = CAL.add_workdays(first, n)
    c = ctx("organization", publicity_start=first.isoformat(), publicity_end=end.isoformat())
    expected = [] if n >= SEASON.publicity.min_workdays else ["too_short"]
    assert kinds("publicity.min_workdays", c) == expected
