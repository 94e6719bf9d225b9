"""A form whose key cannot be read (issue 16 §2): a stand-in key, staff review, and ``award review --key``.

Every test that touches the store runs on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import hashlib
import json
import mailbox
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from award.cli import main as award_main
from award.completeness.correction import run_checks
from award.forms import fill_form_bytes
from award.inbound.sources import MaildirSource, fetch_mail
from award.intake import process_pending
from award.intake.keyentry import is_pending, key_problem, stand_in_key
from award.runtime import Runtime
from award.storage.blobs import LocalBlobStore
from award.storage.shared import LocalStorage
from award.store.db import session_scope
from award.store.models import (
    Applicant,
    Application,
    AuditEvent,
    CheckResult,
    InboundItem,
    Material,
    OutboxEmail,
    Problem,
)
from tests.fixtures import build_raw_mail
from tests.office import edit_document, retype_label

IN_PERIOD = "2023-05-20T10:00:00+08:00"


@pytest.fixture()
def rt(tmp_path, season, db_url, monkeypatch) -> Runtime:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWARD_FAKE_NOW", IN_PERIOD)
    monkeypatch.setenv("AWARD_DB_URL", db_url)
    return Runtime(season, db_url, LocalBlobStore(tmp_path / "blobs"), LocalStorage(tmp_path / "shared"))


@pytest.fixture()
def gen(tmp_path, season) -> Any:  # type: ignore[no-untyped-def]
    from award.demo.generator import generate

    return generate(tmp_path / "gen", 8, 3, season=season, defect_share=0.0, channels=("mail",))


@pytest.fixture()
def orgs(gen) -> list[Any]:  # type: ignore[no-untyped-def]
    """Two organisations of the season (generated, each with its own valid credit code)."""
    found = [a for a in gen.applications if a.form_id in ("form1", "form2", "form3")][:2]
    assert len(found) == 2
    return found


def _raw(subject: str, files: dict[str, bytes], sender: str) -> bytes:
    return build_raw_mail(subject, "材料见附件", sender=sender, attachments=files)


def _send(tmp_path: Path, rt: Runtime, raw: bytes) -> Any:
    (tmp_path / "maildir").mkdir(exist_ok=True)
    mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True).add(raw)
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    with session_scope(rt.db_url) as s:
        return process_pending(s, rt)


def _no_label(app: Any) -> bytes:
    """The organisation's form with its credit-code label retyped to words no spec knows."""
    return edit_document(fill_form_bytes(app.form_id, app.fields), retype_label("统一社会信用代码", "备案编号"))


def _blank_key(app: Any) -> bytes:
    return fill_form_bytes(app.form_id, {**app.fields, "credit_code": ""})


def _files(tmp_path: Path, app: Any, form: bytes) -> dict[str, bytes]:
    """The generated application's files, its Word form replaced by ``form``."""
    folder = tmp_path / "gen" / app.folder
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "meta.json"}
    files[f"{app.name}-申报表.docx"] = form
    return files


def _check(rt: Runtime) -> Any:
    return run_checks(lambda: session_scope(rt.db_url), rt.season, rt.blobs.get_bytes)


def _only_app(rt: Runtime) -> tuple[str, str, str]:
    with session_scope(rt.db_url) as s:
        (app,) = s.scalars(select(Application)).all()
        return app.submission_no, app.applicant.key, app.state


# --------------------------------------------------------------------------- intake


def test_parser_names_the_key_problem(orgs) -> None:  # type: ignore[no-untyped-def]
    from award.forms import parse_form

    assert key_problem(parse_form(_no_label(orgs[0]))) == ("key_not_found", "统一社会信用代码")
    assert key_problem(parse_form(_blank_key(orgs[0]))) == ("key_unread", "统一社会信用代码")
    assert key_problem(parse_form(fill_form_bytes(orgs[0].form_id, orgs[0].fields))) is None


@pytest.mark.parametrize(("make", "code"), [(_no_label, "key_not_found"), (_blank_key, "key_unread")])
def test_form_without_a_readable_key_goes_to_staff_review(tmp_path, rt, orgs, make, code) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    form = make(org)
    result = _send(tmp_path, rt, _raw("申报材料", _files(tmp_path, org, form), org.sender))
    assert result.applications_created == 1 and result.refused_files == 0
    number, key, state = _only_app(rt)
    assert key == stand_in_key(hashlib.sha256(form).hexdigest()) and state == "received"
    with session_scope(rt.db_url) as s:
        (problem,) = s.scalars(select(Problem).where(Problem.code == code)).all()
        assert "“统一社会信用代码”" in problem.message and problem.application_id is not None
        (ack,) = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "ack")).all()
        assert number in ack.subject and "未能读到“统一社会信用代码”" in ack.body_text
        assert "工作人员将人工核对申报表" in ack.body_text
    # the completeness check sends it to staff review, with no 补正 demand for the key
    summary = _check(rt)
    assert summary.outcomes == {"review": 1}
    with session_scope(rt.db_url) as s:
        (finding,) = s.scalars(select(CheckResult).where(CheckResult.passed.is_(False))).all()
        assert finding.severity == "review" and "“统一社会信用代码”" in (finding.message or "")
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application))
        assert app.state == "needs_review" and app.correction_due is None
        assert "correction" not in {m.template for m in s.scalars(select(OutboxEmail))}
    # a review note alone cannot complete it: the key must be entered first
    assert award_main(["review", number, "--actor", "鲁永武", "--note", "看过了"]) == 2


def test_same_file_twice_is_one_application_and_another_pending_form_is_not_matched(  # type: ignore[no-untyped-def]
        tmp_path, rt, orgs) -> None:
    first, other = orgs
    form = _blank_key(first)
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": form}, first.sender))
    result = _send(tmp_path, rt, _raw("申报材料（重发）", {"申报表.docx": form}, first.sender))
    assert result.applications_created == 0 and result.materials_added == 0
    with session_scope(rt.db_url) as s:
        assert len(s.scalars(select(Application)).all()) == 1
        assert len(s.scalars(select(Problem).where(Problem.code == "key_unread")).all()) == 1
    # a different applicant's form without a key: its own application, never the first one's
    result = _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": _no_label(other)}, other.sender))
    assert result.applications_created == 1
    with session_scope(rt.db_url) as s:
        apps = s.scalars(select(Application).order_by(Application.id)).all()
        assert len(apps) == 2 and all(is_pending(a.applicant.key) for a in apps)
        assert apps[0].applicant.key != apps[1].applicant.key
        assert {a.applicant.name for a in apps} == {first.name, other.name}


# --------------------------------------------------------------------------- award review --key


def test_award_review_sets_the_key_and_the_checks_take_it(tmp_path, rt, orgs, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    code = org.fields["credit_code"]
    _send(tmp_path, rt, _raw("申报材料", _files(tmp_path, org, _blank_key(org)), org.sender))
    number, stand_in, _state = _only_app(rt)
    assert _check(rt).outcomes == {"review": 1}
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-21T10:00:00+08:00")  # staff look at it the next day
    assert award_main(["review", number, "--key", code.lower(), "--actor", "鲁永武", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"submission_no": number, "state": "needs_review", "key": code, "joined": None}
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application))
        assert app.applicant.key == code and app.fields["credit_code"] == code
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "key_entered")).all()
        assert event.actor == "鲁永武" and event.entity_id == app.id
        assert event.details["old_key"] == stand_in and event.details["new_key"] == code
    # the next completeness run picks it up: the key is no longer a finding
    assert _check(rt).outcomes == {"complete": 1}
    # entering it again is refused: the key is known now
    assert award_main(["review", number, "--key", code, "--actor", "鲁永武"]) == 2
    assert "已有申报对象代码" in capsys.readouterr().err


def test_invalid_code_is_refused_naming_the_field(tmp_path, rt, orgs, capsys) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": _no_label(org)}, org.sender))
    number, stand_in, _state = _only_app(rt)
    bad = org.fields["credit_code"][:17] + ("1" if org.fields["credit_code"][17] != "1" else "2")
    assert award_main(["review", number, "--key", bad, "--actor", "鲁永武"]) == 2
    err = capsys.readouterr().err
    assert "统一社会信用代码无效" in err and "校验码" in err and len(err.strip().splitlines()) == 1
    assert award_main(["review", number, "--key", org.fields["credit_code"], "--join", "--actor", "鲁永武"]) == 2
    assert "--join" in capsys.readouterr().err  # nothing to join: no application has this key
    assert award_main(["review", number, "--join", "--actor", "鲁永武"]) == 2
    assert _only_app(rt)[1] == stand_in  # nothing written
    with session_scope(rt.db_url) as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "key_entered")).all() == []


def test_join_merges_into_the_application_with_that_key(tmp_path, rt, orgs, capsys) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    code = org.fields["credit_code"]
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": fill_form_bytes(org.form_id, org.fields),
                                         "证实性材料1-认证证书.pdf": b"%PDF-1.4 one\n%%EOF\n"}, org.sender))
    # the same organisation sends a corrected form whose credit code is blank, with more evidence, from another address
    corrected = fill_form_bytes(org.form_id, {**org.fields, "credit_code": "", "summary": org.fields["summary"] + "（更正）"})
    _send(tmp_path, rt, _raw("更正后的申报表", {"申报表.docx": corrected, "证实性材料2-检测报告.pdf": b"%PDF-1.4 two\n%%EOF\n"},
                             "office@example.org"))
    with session_scope(rt.db_url) as s:
        first, pending = s.scalars(select(Application).order_by(Application.id)).all()
        numbers = first.submission_no, pending.submission_no
        assert first.applicant.key == code and is_pending(pending.applicant.key)
    # without --join the key is refused, naming the application that has it
    assert award_main(["review", numbers[1], "--key", code, "--actor", "鲁永武"]) == 2
    assert numbers[0] in capsys.readouterr().err
    assert award_main(["review", numbers[1], "--key", code, "--join", "--actor", "鲁永武", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["joined"] == numbers[0]
    with session_scope(rt.db_url) as s:
        first, pending = s.scalars(select(Application).order_by(Application.id)).all()
        assert pending.state == "withdrawn" and first.state == "received"
        assert is_pending(pending.applicant.key)  # the stand-in stays on the closed application
        mats = s.scalars(select(Material).where(Material.application_id == first.id).order_by(Material.id)).all()
        assert {m.filename for m in mats} >= {"证实性材料1-认证证书.pdf", "证实性材料2-检测报告.pdf"}
        forms = [m for m in mats if m.kind == "form_docx"]
        assert [f.version for f in forms] == [1, 2] and forms[0].superseded_by_id == forms[1].id
        assert first.fields["summary"].endswith("（更正）") and first.fields["credit_code"] == code
        assert s.scalars(select(Material).where(Material.application_id == pending.id)).all() == []
        items = s.scalars(select(InboundItem).where(InboundItem.application_id == pending.id)).all()
        assert items == []
        actions = {(e.entity_id, e.action) for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == "鲁永武"))}
        assert {(first.id, "joined"), (pending.id, "key_entered")} <= actions
        withdrawn = s.scalar(select(AuditEvent).where(AuditEvent.entity_id == pending.id,
                                                      AuditEvent.action == "transition").order_by(AuditEvent.id.desc()))
        assert withdrawn.actor == "鲁永武" and numbers[0] in (withdrawn.reason or "")
    # the stand-in form sent again goes to the joined application, not to a new one
    result = _send(tmp_path, rt, _raw("重发", {"申报表.docx": corrected}, "office@example.org"))
    assert result.applications_created == 0
    # the next completeness run checks the joined application
    assert _check(rt).checked == 1


# --------------------------------------------------------------------------- the desk and award show


def test_desk_and_show_name_a_pending_key_plainly(tmp_path, rt, orgs, capsys) -> None:  # type: ignore[no-untyped-def]
    from award.desk.queries import applicant_key

    org = orgs[0]
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": _no_label(org)}, org.sender))
    number, _key, _state = _only_app(rt)
    with session_scope(rt.db_url) as s:
        applicant = s.scalar(select(Applicant))
        assert applicant_key(applicant, False, "organization") == "待核实（表内未读到统一社会信用代码）"
        assert applicant_key(applicant, True, "individual") == "待核实（表内未读到身份证号码）"
    assert award_main(["show", number]) == 0
    out = capsys.readouterr().out
    assert "待核实（表内未读到统一社会信用代码）" in out and "pending:" not in out


def test_same_file_in_two_mails_of_one_run_is_one_application(tmp_path, rt, orgs) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    form = _no_label(org)
    (tmp_path / "maildir").mkdir(exist_ok=True)
    box = mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True)
    box.add(_raw("申报材料", {"申报表.docx": form}, org.sender))
    box.add(_raw("申报材料（再发一次）", {"申报表.docx": form}, org.sender))
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    assert result.applications_created == 1
    with session_scope(rt.db_url) as s:
        assert len(s.scalars(select(Application)).all()) == 1
        assert len(s.scalars(select(Material)).all()) == 1


def test_person_and_team_keys(tmp_path, rt, gen, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.forms.test_forms import ID_NUMBER, VALUES

    person = fill_form_bytes("form5", {**VALUES["form5"], "id_number": ""})
    _send(tmp_path, rt, _raw("申报材料", {"推荐表.docx": person}, "wangfang@example.com"))
    team = next(a for a in gen.applications if a.form_id == "form4")
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": fill_form_bytes("form4", {**team.fields, "credit_code": ""})},
                             team.sender))
    with session_scope(rt.db_url) as s:
        p_app, t_app = s.scalars(select(Application).order_by(Application.id)).all()
        numbers = p_app.submission_no, t_app.submission_no
        messages = [p.message for p in s.scalars(select(Problem).where(Problem.code == "key_unread")
                                                 .order_by(Problem.id))]
        assert is_pending(p_app.applicant.key) and is_pending(t_app.applicant.key)
    assert "“身份证号码”" in messages[0] and "“所在单位统一社会信用代码”" in messages[1]
    assert award_main(["review", numbers[0], "--key", ID_NUMBER, "--actor", "鲁永武", "--json"]) == 0
    out = capsys.readouterr().out
    assert ID_NUMBER not in out and json.loads(out)["key"].endswith(ID_NUMBER[-4:])  # masked
    code = team.fields["credit_code"]
    assert award_main(["review", numbers[1], "--key", code, "--actor", "鲁永武"]) == 0
    with session_scope(rt.db_url) as s:
        p_app, t_app = s.scalars(select(Application).order_by(Application.id)).all()
        assert p_app.applicant.key == ID_NUMBER and p_app.applicant.kind == "person"
        assert t_app.applicant.key == f"{code}/{t_app.fields['team_name']}"


def test_key_of_an_applicant_known_from_an_earlier_season(tmp_path, rt, orgs) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    code = org.fields["credit_code"]
    with session_scope(rt.db_url) as s:
        s.add(Applicant(kind="organization", key=code, name=org.name))
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": _blank_key(org)}, org.sender))
    number, _key, _state = _only_app(rt)
    assert award_main(["review", number, "--key", code, "--actor", "鲁永武"]) == 0
    with session_scope(rt.db_url) as s:
        (applicant,) = s.scalars(select(Applicant)).all()  # the stand-in applicant is gone
        app = s.scalar(select(Application))
        assert applicant.key == code and app.applicant_id == applicant.id


def test_a_later_form_with_the_key_does_not_complete_it_silently(tmp_path, rt, orgs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    code = org.fields["credit_code"]
    _send(tmp_path, rt, _raw("申报材料", _files(tmp_path, org, _blank_key(org)), org.sender))
    number, stand_in, _state = _only_app(rt)
    assert _check(rt).outcomes == {"review": 1}
    # the applicant sends the form again with its credit code, naming the submission number
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-21T10:00:00+08:00")
    full = fill_form_bytes(org.form_id, org.fields)
    assert _send(tmp_path, rt, _raw(f"补充 {number}", {"申报表.docx": full}, org.sender)).materials_added == 1
    assert _only_app(rt)[1] == stand_in
    assert _check(rt).outcomes == {"review": 1}  # staff still enter the key: nothing completes by itself
    with session_scope(rt.db_url) as s:
        (finding,) = s.scalars(select(CheckResult).where(CheckResult.passed.is_(False))
                               .order_by(CheckResult.id.desc()).limit(1)).all()
        assert finding.details["kind"] == "key_pending" and finding.severity == "review"
        assert s.scalar(select(Application)).state == "needs_review"
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-22T10:00:00+08:00")
    assert award_main(["review", number, "--key", code, "--actor", "鲁永武"]) == 0
    assert _check(rt).outcomes == {"complete": 1}


def test_a_keyless_form_for_a_known_application_is_not_a_stand_in(tmp_path, rt, orgs) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": fill_form_bytes(org.form_id, org.fields)}, org.sender))
    number, key, _state = _only_app(rt)
    result = _send(tmp_path, rt, _raw(f"更正 {number}", {"申报表.docx": _blank_key(org)}, org.sender))
    assert result.applications_created == 0 and result.materials_added == 1
    with session_scope(rt.db_url) as s:
        assert s.scalar(select(Application)).applicant.key == key
        assert s.scalars(select(Problem).where(Problem.code.in_(["key_unread", "key_not_found"]))).all() == []
        assert all("未能读到" not in m.body_text for m in s.scalars(select(OutboxEmail)))


def test_no_name_and_no_key_shows_no_raw_stand_in(tmp_path, rt, orgs) -> None:  # type: ignore[no-untyped-def]
    org = orgs[0]
    form = fill_form_bytes(org.form_id, {**org.fields, "credit_code": "", "org_name": ""})
    assert _send(tmp_path, rt, _raw("申报材料", {"申报表.docx": form}, org.sender)).applications_created == 1
    with session_scope(rt.db_url) as s:
        applicant = s.scalar(select(Applicant))
        assert is_pending(applicant.key) and applicant.name == "待核实（表内未读到统一社会信用代码）"
        assert all("pending:" not in m.body_text + m.subject for m in s.scalars(select(OutboxEmail)))


def test_city_folder_with_a_keyless_form(tmp_path, rt, orgs) -> None:  # type: ignore[no-untyped-def]
    from award.inbound.sources import fetch_storage

    org = orgs[0]
    form = _blank_key(org)
    rt.shared.write(f"incoming/兰州市/{org.name}/申报表.docx", form)
    rt.shared.write(f"incoming/兰州市/{org.name}/证实性材料1-证书.pdf", b"%PDF-1.4 city\n%%EOF\n")
    with session_scope(rt.db_url) as s:
        fetch_storage(s, rt)
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    assert result.applications_created == 1 and result.refused_files == 0
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application))
        assert app.applicant.key == stand_in_key(hashlib.sha256(form).hexdigest()) and app.channel == "city"
        assert len(app.materials) == 2
        assert s.scalars(select(Problem).where(Problem.code == "key_unread")).one().application_id == app.id
