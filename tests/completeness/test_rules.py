"""Every rule, positive and negative, on applications built from the generator's real files."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from award.calendar import default_calendar
from award.completeness.rules import RULES, CheckContext, evaluate, rules_for
from award.completeness.rules.findings import messages
from award.completeness.rules.publicity import proof_dates
from award.config import SeasonConfigError, load_season
from award.forms import parse_form
from award.forms.pdf import render_pdf_copy_bytes, text_pdf_bytes
from award.identity import credit_code_check_char
from tests.completeness.helpers import MemoryBlobs, read_files, transient_application
from tests.seasons import ZHEJIANG

SEASON = load_season()
CAL = default_calendar()
CATEGORIES = ("organization", "education", "sme", "team", "individual")
TODAY = date(2023, 5, 10)


@lru_cache(maxsize=8)
def _parsed(docx: bytes) -> dict[str, str]:
    return parse_form(docx).fields


def build(clean_set, category: str, *, fields: dict | None = None, drop: tuple[str, ...] = (),  # type: ignore[no-untyped-def]
          files: dict[str, bytes] | None = None, channel: str = "mail", today: date = TODAY) -> CheckContext:
    """A check context for the clean generated application of ``category``, changed as asked."""
    root, entry = clean_set[category]
    all_files = read_files(root, entry["files"])
    docx = next(d for n, d in all_files.items() if n.endswith(".docx"))
    values = {**_parsed(docx), **(fields or {})}
    kept = {n: d for n, d in all_files.items() if not any(marker in n for marker in drop)}
    kept.update(files or {})
    blobs = MemoryBlobs()
    app = transient_application(category, values, kept, blobs, channel=channel)
    return CheckContext(application=app, season=SEASON, calendar=CAL, load_blob=blobs.get_bytes, today=today)


def findings(ctx: CheckContext, rule_id: str) -> list:  # type: ignore[type-arg]
    return RULES[rule_id].run(ctx)


def one(ctx: CheckContext, rule_id: str, kind: str):  # type: ignore[no-untyped-def]
    found = findings(ctx, rule_id)
    assert [f.kind for f in found] == [kind], [f.message for f in found]
    return found[0]


# ------------------------------------------------------------------ registry and data


def test_registry_matches_season_and_messages() -> None:
    ids = {rule_id for cat in SEASON.categories.values() for rule_id in cat.rules}
    assert ids <= set(RULES)
    for rule in RULES.values():
        spec = messages()["rules"][rule.id]
        assert spec["title"] and spec["findings"], rule.id
        assert rule.severity in ("blocking", "warning")
        assert rule.categories


def test_unknown_rule_id_fails_the_season_load(tmp_path: Path) -> None:
    from award.config import DEFAULT_SEASON_FILE

    text = DEFAULT_SEASON_FILE.read_text(encoding="utf-8").replace(
        "      - eligibility.school_type\n", "      - eligibility.school_typo\n", 1
    )
    path = tmp_path / "season.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SeasonConfigError, match="categories.education.rules: unknown rule id 'eligibility.school_typo'"):
        load_season(path)


def test_checks_module_is_light() -> None:
    """award.config imports award.completeness.rules at DAG parse time: it must not pull in heavy modules."""
    code = ("import sys, award.config, award.completeness.rules; "
            "print([m for m in ('pandas', 'award.forms', 'award.store.models', 'jinja2', 'pypdf') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ.copy())
    assert out.stdout.strip() == "[]"


def test_rules_for_follows_the_season() -> None:
    assert [r.id for r in rules_for(SEASON, "education")] == list(SEASON.category("education").rules)
    assert "eligibility.school_type" not in [r.id for r in rules_for(SEASON, "organization")]


# ------------------------------------------------------------------ all rules pass on clean applications


@pytest.mark.parametrize("category", CATEGORIES)
def test_clean_application_passes_every_rule(clean_set, category: str) -> None:
    ctx = build(clean_set, category, fields={"school_type": "小学"} if category == "education" else None)
    result = evaluate(ctx)
    assert result.results == []
    assert result.outcome == "complete"
    assert result.passed_rules == list(SEASON.category(category).rules)


# ------------------------------------------------------------------ materials


@pytest.mark.parametrize(("marker", "label"), [("内部公示", "内部公示情况说明"), ("-申报表.pdf", "申报表 PDF 版"),
                                               ("证实性材料", "证实性材料")])
def test_materials_required(clean_set, marker: str, label: str) -> None:
    r = one(build(clean_set, "organization", drop=(marker,)), "materials.required", "missing")
    assert label in r.message and r.blocking and not r.ineligible
    assert "补充提交" in r.fix


def test_unit_opinion_required_for_teams_and_individuals_only(clean_set) -> None:
    for category in ("team", "individual"):
        r = one(build(clean_set, category, drop=("所在单位意见",)), "materials.unit_opinion", "missing")
        assert "所在单位申报推荐意见" in r.message
    assert findings(build(clean_set, "organization"), "materials.unit_opinion") == []


@pytest.mark.parametrize("category", ["organization", "education", "sme"])
def test_a_branch_says_so_on_the_form_and_needs_its_parents_publicity_and_opinion(clean_set, category: str) -> None:
    """分支、内设、派出等机构: the form has the field, and the parent's publicity + 申报推荐意见 are then required."""
    from award.forms.spec import form_for_category

    assert "branch" in form_for_category(category).keys and "parent_unit" in form_for_category(category).keys
    branch = build(clean_set, category, fields={"branch": "是", "parent_unit": "兰州示例集团有限公司"})
    r = one(branch, "materials.unit_opinion", "branch")
    assert "分支、内设、派出等机构" in r.message and "兰州示例集团有限公司" in r.message and "公示" in r.message
    assert r.blocking and not r.ineligible
    opinion = {"所在单位意见.pdf": text_pdf_bytes("申报推荐意见", ["经公示无异议，同意推荐。"])}
    assert findings(build(clean_set, category, fields={"branch": "是"}, files=opinion), "materials.unit_opinion") == []
    assert findings(build(clean_set, category, fields={"branch": "否"}), "materials.unit_opinion") == []


def test_recommending_unit_opinion_required_whatever_the_channel(clean_set) -> None:
    """Gansu: every application needs the recommending unit's 审核推荐意见, e-mailed ones too."""
    assert SEASON.process.unit_opinion == "every_application"
    for channel in ("mail", "city"):
        ctx = build(clean_set, "sme", channel=channel, drop=("审核推荐意见",))
        r = one(ctx, "materials.city_recommendation", "missing")
        assert "审核推荐意见" in r.message and ctx.fields["city"] in r.message  # names the unit (e.g. 兰州市…局)
    assert findings(build(clean_set, "sme"), "materials.city_recommendation") == []


def test_a_second_province_asks_the_opinion_of_city_uploads_only(clean_set) -> None:
    other = load_season(ZHEJIANG)
    ctx = build(clean_set, "sme", channel="mail", drop=("审核推荐意见",))
    ctx = CheckContext(application=ctx.application, season=other, calendar=CAL, load_blob=ctx.load_blob, today=TODAY)
    assert findings(ctx, "materials.city_recommendation") == []
    ctx.application.channel, ctx.application.channels = "city", ["city"]
    ctx = CheckContext(application=ctx.application, season=other, calendar=CAL, load_blob=ctx.load_blob, today=TODAY)
    assert [f.kind for f in findings(ctx, "materials.city_recommendation")] == ["missing"]
    assert findings(ctx, "recommender.opinion") == []  # the province consults and publicises itself there


def _opinion(*lines: str) -> dict[str, bytes]:
    return {"推荐单位审核推荐意见.pdf": text_pdf_bytes("审核推荐意见", list(lines))}


def test_recommending_unit_opinion_states_consultation_and_publicity_with_dates(clean_set) -> None:
    ok = _opinion("经审核，同意推荐。", "我局已于2023年5月4日征求生态环境、应急管理等部门意见，均无异议。",
                  "已于2023年5月8日至2023年5月12日在本地区进行了公示，公示无异议。")
    assert findings(build(clean_set, "sme", files=ok), "recommender.opinion") == []
    bare = build(clean_set, "sme", files=_opinion("经审核，同意推荐。"))
    assert [f.kind for f in findings(bare, "recommender.opinion")] == ["no_consultation", "no_publicity"]
    assert all(f.blocking and not f.ineligible for f in findings(bare, "recommender.opinion"))
    undated = build(clean_set, "sme", files=_opinion("已征求相关部门意见。", "于2023年5月8日至2023年5月12日进行了公示。"))
    assert [f.kind for f in findings(undated, "recommender.opinion")] == ["consultation_undated"]
    short = build(clean_set, "sme", files=_opinion("已于2023年4月20日征求相关部门意见。",
                                                   "于2023年4月27日至2023年5月4日进行了公示。"))  # May Day: 3 days
    r = one(short, "recommender.opinion", "publicity_too_short")
    assert "仅3个工作日" in r.message and "5个工作日" in r.message


# ------------------------------------------------------------------ fields


def test_fields_required_empty_choice_and_number(clean_set) -> None:
    r = one(build(clean_set, "organization", fields={"contact": ""}), "fields.required", "empty")
    assert r.message == "申报表“联系人”未填写。"
    r = one(build(clean_set, "organization", fields={"org_nature": "私企"}), "fields.required", "choice")
    assert "私企" in r.message and "民营企业" in r.fix
    r = one(build(clean_set, "sme", fields={"employees": "三十"}), "fields.required", "number")
    assert "从业人数" in r.message


def test_credit_code(clean_set) -> None:
    ctx = build(clean_set, "organization")
    code = ctx.fields["credit_code"]
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    r = one(build(clean_set, "organization", fields={"credit_code": wrong}), "fields.credit_code", "invalid")
    assert "校验码错误" in r.message and wrong in r.message
    team = one(build(clean_set, "team", fields={"credit_code": wrong}), "fields.credit_code", "invalid")
    assert "所在单位统一社会信用代码" in team.message


def test_id_number_never_shown(clean_set) -> None:
    ctx = build(clean_set, "individual")
    number = ctx.fields["id_number"]
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    r = one(build(clean_set, "individual", fields={"id_number": wrong}), "fields.id_number", "invalid")
    assert "校验码错误" in r.message and wrong not in r.message and wrong not in str(r.details)
    r = one(build(clean_set, "individual", fields={"birth_date": "1950-01-01"}), "fields.id_number", "birth_mismatch")
    assert "出生日期" in r.message and number not in r.message


def test_an_individuals_form_is_called_a_recommendation_form(clean_set) -> None:
    """附件5 is the individuals' 推荐表: what an individual is told names it so; organisations keep 申报表."""
    r = one(build(clean_set, "individual", fields={"email": "zhang@"}), "fields.email", "invalid")
    assert "推荐表" in r.message + r.fix and "申报表" not in r.message + r.fix
    r = one(build(clean_set, "individual", drop=("-申报表.pdf",)), "materials.required", "missing")
    assert "推荐表 PDF 版" in r.message and "申报表" not in r.message + r.fix
    r = one(build(clean_set, "organization", fields={"contact": ""}), "fields.required", "empty")
    assert r.message == "申报表“联系人”未填写。"


def test_phone_and_email(clean_set) -> None:
    r = one(build(clean_set, "organization", fields={"contact_phone": "1380057"}), "fields.phone", "invalid")
    assert "1380057" not in r.message and "联系人手机" in r.message
    assert findings(build(clean_set, "organization", fields={"contact_phone": "0931-8533511"}), "fields.phone") == []
    r = one(build(clean_set, "individual", fields={"email": "zhang@"}), "fields.email", "invalid")
    assert "zhang@" in r.message


def test_dates(clean_set) -> None:
    one(build(clean_set, "organization", fields={"founded": "2023年2月30日"}), "fields.dates", "invalid")
    one(build(clean_set, "organization", fields={"founded": "2024-01-01"}), "fields.dates", "future")
    r = one(build(clean_set, "organization", fields={"publicity_start": "2023-04-10", "publicity_end": "2023-04-03"}),
            "fields.dates", "order")
    assert "2023-04-03" in r.message


# ------------------------------------------------------------------ eligibility


def _code(region: str) -> str:
    body = "91" + region + "MA2B3C4D5"
    return body + credit_code_check_char(body)


def test_established_in_china(clean_set) -> None:
    r = one(build(clean_set, "organization", fields={"credit_code": _code("710000")}),
            "eligibility.established_in_china", "not_mainland")
    assert r.ineligible
    r = one(build(clean_set, "organization", fields={"city": "苏州市"}), "eligibility.established_in_china",
            "other_province")
    assert not r.ineligible and r.blocking and "甘肃省" in r.message
    assert findings(build(clean_set, "organization", fields={"credit_code": _code("620100"), "city": "兰州"}),
                    "eligibility.established_in_china") == []


def test_a_gansu_city_is_in_the_province() -> None:
    """A 兰州市 applicant was refused as 不属于浙江省所辖市州 while the shipped season was Zhejiang's."""
    assert SEASON.province.name == "甘肃省" and "兰州市" in SEASON.province.cities
    assert len(SEASON.province.cities) == 14


def test_no_violation_for_organisations_quotes_their_condition(clean_set) -> None:
    for category in ("organization", "education", "sme", "team"):
        r = one(build(clean_set, category, fields={"violations": "有"}), "eligibility.no_violation", "declared")
        assert r.ineligible and "近5年内无重大质量、安全、环保等事故" in r.message
    assert evaluate(build(clean_set, "sme", fields={"violations": "有"})).outcome == "ineligible"


def test_individuals_are_checked_against_their_own_condition(clean_set) -> None:
    ctx = build(clean_set, "individual", fields={"violations": "有"})
    assert "eligibility.no_violation" not in {r.rule_id for r in evaluate(ctx).results}  # not the orgs' accidents
    r = one(ctx, "eligibility.individual_conduct", "declared")
    assert r.ineligible and "无相关违法、违规、违纪行为" in r.message and "事故" not in r.message
    assert evaluate(ctx).outcome == "ineligible"


@pytest.mark.parametrize("category", CATEGORIES)
def test_defence_channel_for_organisations_and_individuals(clean_set, category: str) -> None:
    from award.forms.spec import form_for_category

    assert "defence" in form_for_category(category).keys  # the individual form asks too
    r = one(build(clean_set, category, fields={"defence": "是"}), "eligibility.defence_industry", "defence")
    assert r.ineligible and "国家国防科工局" in r.message and "中央军委装备发展部" in r.message
    assert "涉密" not in r.message + r.fix + form_for_category(category).field("defence").label  # not widened
    assert evaluate(build(clean_set, category, fields={"defence": "是"})).outcome == "ineligible"


@pytest.mark.parametrize("category", CATEGORIES)
def test_other_channels_refused_under_the_notice_rule(clean_set, category: str) -> None:
    from award.forms.spec import form_for_category

    assert form_for_category(category).field("other_channels").type == "choice"
    r = one(build(clean_set, category, fields={"other_channels": "是"}), "eligibility.other_channels", "declared")
    assert r.ineligible and "不得同时通过多渠道进行申报" in r.message
    assert findings(build(clean_set, category, fields={"other_channels": "否"}), "eligibility.other_channels") == []


@pytest.mark.parametrize("school", ["普通高中", "高等学校", "高中", "职业技术学院"])
def test_school_type_excluded_by_the_notice(clean_set, school: str) -> None:
    ctx = build(clean_set, "education", fields={"school_type": school})
    r = one(ctx, "eligibility.school_type", "not_allowed")
    assert r.ineligible and school in r.message and "仅限小学、初中和职业技术学校" in r.message
    assert findings(ctx, "fields.required") == []  # one finding, not a second "not an option" one


@pytest.mark.parametrize(("school", "word"), [("小学", "小学"), ("初中", "初中"), ("职业技术学校", "职业技术学校"),
                                              ("初级中学", "初中"), ("中等职业学校", "职业技术学校"),
                                              ("职业学校", "职业技术学校"), ("技工学校", "职业技术学校"),
                                              ("九年一贯制学校", "初中")])
def test_school_type_synonyms_normalised_to_the_notice(clean_set, school: str, word: str) -> None:
    ctx = build(clean_set, "education", fields={"school_type": school})
    assert ctx.fields["school_type"] == word
    assert findings(ctx, "eligibility.school_type") == [] and findings(ctx, "fields.required") == []
    assert evaluate(ctx).outcome == "complete"


def test_school_type_unknown_is_a_correction_not_ineligible(clean_set) -> None:
    ctx = build(clean_set, "education", fields={"school_type": "艺术<学校>&研究所"})  # plain text: no "&amp;"
    r = one(ctx, "fields.required", "choice")
    assert not r.ineligible and "艺术<学校>&研究所" in r.message and "小学、初中、职业技术学校" in r.fix
    assert evaluate(ctx).outcome == "incomplete"


def test_individual_group_in_the_notices_words(clean_set) -> None:
    r = one(build(clean_set, "individual", fields={"person_group": "企业家"}), "eligibility.individual_group",
            "not_allowed")
    assert r.blocking and not r.ineligible and "一线工作人员、各类组织质量管理人员、质量领域专家学者" in r.message
    for group in ("一线工作人员", "各类组织质量管理人员", "质量领域专家学者", "一线职工", "质量管理人员"):
        ctx = build(clean_set, "individual", fields={"person_group": group})
        assert findings(ctx, "eligibility.individual_group") == [] and findings(ctx, "fields.required") == []


# ------------------------------------------------------------------ publicity


def _proof(start: str, end: str) -> dict[str, bytes]:
    return {"内部公示情况说明.pdf": text_pdf_bytes("内部公示情况说明", [
        f"本单位于{start}至{end}进行了内部公示。", f"公示开始日期：{start}", f"公示结束日期：{end}"])}


def test_publicity_over_may_day_is_too_short(clean_set) -> None:
    """2023-04-28 .. 2023-05-06 spans 9 days but only 4 working days (May Day holiday, adjusted Saturday)."""
    ctx = build(clean_set, "organization", fields={"publicity_start": "2023-04-28", "publicity_end": "2023-05-06"},
                files=_proof("2023-04-28", "2023-05-06"))
    r = one(ctx, "publicity.min_workdays", "too_short")
    assert "仅4个工作日" in r.message and "5个工作日" in r.message


def test_publicity_of_five_working_days_passes(clean_set) -> None:
    ctx = build(clean_set, "organization", fields={"publicity_start": "2023-04-24", "publicity_end": "2023-04-28"},
                files=_proof("2023-04-24", "2023-04-28"))
    assert findings(ctx, "publicity.min_workdays") == []


def test_publicity_proof_and_form_disagree(clean_set) -> None:
    ctx = build(clean_set, "organization", fields={"publicity_start": "2023-04-03", "publicity_end": "2023-04-14"},
                files=_proof("2023-04-04", "2023-04-14"))
    r = one(ctx, "publicity.min_workdays", "mismatch")
    assert "2023-04-04" in r.message and "2023-04-03" in r.message


def test_publicity_proof_without_dates(clean_set) -> None:
    ctx = build(clean_set, "organization", fields={"publicity_start": "", "publicity_end": ""},
                files={"内部公示情况说明.pdf": text_pdf_bytes("内部公示情况说明", ["已公示。"])})
    one(ctx, "publicity.min_workdays", "unreadable")


def test_proof_dates_formats() -> None:
    assert proof_dates("于2023年4月3日至2023年4月10日公示") == (date(2023, 4, 3), date(2023, 4, 10))
    assert proof_dates("公示开始日期：2023-04-03\n公示结束日期：2023.4.12") == (date(2023, 4, 3), date(2023, 4, 12))
    assert proof_dates("没有日期") is None


# ------------------------------------------------------------------ Word vs PDF


def test_pdf_copy_differs(clean_set) -> None:
    ctx = build(clean_set, "organization")
    values = dict(ctx.fields, org_name=ctx.fields["org_name"] + "分公司")
    r = one(build(clean_set, "organization", files={"x-申报表.pdf": render_pdf_copy_bytes("form1", values)},
                  drop=("-申报表.pdf",)), "consistency.form_pdf", "differs")
    assert "单位名称" in r.message and "分公司" in r.message


def test_pdf_copy_id_number_is_masked(clean_set) -> None:
    ctx = build(clean_set, "individual")
    number = ctx.fields["id_number"]
    other = number[:14] + "1234"
    pdf = render_pdf_copy_bytes("form5", dict(ctx.fields, id_number=other))
    r = one(build(clean_set, "individual", files={"x-申报表.pdf": pdf}, drop=("-申报表.pdf",)),
            "consistency.form_pdf", "differs")
    assert number not in r.message and other not in r.message and "*" in r.message


def test_pdf_copy_of_another_form_or_not_a_form(clean_set) -> None:
    ctx = build(clean_set, "sme")
    wrong_form = render_pdf_copy_bytes("form1", ctx.fields)
    one(build(clean_set, "sme", files={"x-申报表.pdf": wrong_form}, drop=("-申报表.pdf",)), "consistency.form_pdf",
        "not_a_form")
    evidence = text_pdf_bytes("证书", ["编号"])
    one(build(clean_set, "sme", files={"x-申报表.pdf": evidence}, drop=("-申报表.pdf",)), "consistency.form_pdf",
        "not_a_form")
    r = one(build(clean_set, "sme", files={"x-申报表.pdf": b"not a pdf"}, drop=("-申报表.pdf",)),
            "consistency.form_pdf", "unreadable")
    assert "x-申报表.pdf" in r.message
