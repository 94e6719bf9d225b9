"""Department opinions, the whole round trip with the real SMTP server (aiosmtpd) and IMAP server (Dovecot).

Timeline around May Day 2023 (holiday 4/29-5/3, Saturday 5/6 an adjusted working day), AWARD_FAKE_NOW moved
day by day: letters go out on Thursday 4/27, due the 5th working day after it (5/8). Reminders: env and safety
2 working days before (5/5), tax 2 and 1 before (5/5 and Saturday 5/6). Defaults apply from 5/9.
"""

from __future__ import annotations

import io
from datetime import date
from functools import partial

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt
from openpyxl import load_workbook
from sqlalchemy import select

from award.connections import ImapSettings
from award.inbound.sources import ImapSource, fetch_mail
from award.opinions.clearing import OpinionError, current_opinions
from award.opinions.decisions import apply_decision, pending_decisions
from award.opinions.letters import TOKEN_RE
from award.opinions.reminders import apply_defaults, send_reminders
from award.opinions.replies import ReplyOutcome, ingest_pending, ingest_storage
from award.opinions.solicitation import solicit
from award.store.db import session_scope
from award.store.models import Application, AuditEvent, InboundItem, Opinion, OpinionRequest, Problem
from tests.opinions.helpers import SPECS, make_complete, reply_mail


def _drain(url: str, smtp, rt) -> None:  # type: ignore[no-untyped-def]
    from award.mail.outbox import drain

    drain(partial(session_scope, url), smtp.sender(), rt.blobs.get_bytes)


def _states(url: str) -> dict[str, str]:
    with session_scope(url) as s:
        return {a.submission_no: a.state for a in s.scalars(select(Application))}


def _fill(sheet: bytes, answers: dict[str, tuple[str, str]]) -> bytes:
    wb = load_workbook(io.BytesIO(sheet))
    ws = wb.active
    for row in ws.iter_rows():
        if row[0].value in answers:
            row[5].value, row[6].value = answers[row[0].value]
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _imap_ingest(url: str, rt, dovecot) -> list[ReplyOutcome]:  # type: ignore[no-untyped-def]
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password,
                            use_ssl=False)
    source = ImapSource(settings)
    try:
        with session_scope(url) as s:
            fetch_mail(s, rt, source)
    finally:
        source.close()
    with session_scope(url) as s:
        return ingest_pending(s, rt)


def _check_letter(data: bytes, token: str, names: list[str]) -> None:
    doc = Document(io.BytesIO(data))
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)  # A4
    assert [round(m.mm) for m in (sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin)] == [
        37, 35, 28, 26]
    paras = [p for p in doc.paragraphs if p.text.strip()]
    mark, number, title, addressee = paras[:4]
    assert mark.text == "浙江省市场监督管理局"
    assert str(mark.runs[0].font.color.rgb) == "FF0000"
    assert number.text == "浙市监质函〔2023〕3号"
    border = number._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert border.get(qn("w:color")) == "FF0000"  # the red separator line
    assert title.text == "浙江省市场监督管理局关于征求第五届中国质量奖推荐对象意见的函"
    title_fonts = title.runs[0]._element.rPr.rFonts
    assert title_fonts.get(qn("w:eastAsia")) == "方正小标宋简体" and title.runs[0].font.size == Pt(22)
    assert addressee.text == "国家税务总局浙江省税务局："
    body = paras[4]
    assert body.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    assert body.runs[0].font.size == Pt(16)
    texts = [p.text for p in paras]
    assert "附件：1. 申报对象名单" in texts  # the list is attachment 1, on its own page after the signature
    assert any(t.strip().startswith("2. 征求意见回复表") and token in t for t in texts)
    assert texts[-2:] == ["附件1", "申报对象名单"]
    assert "2023年4月27日" in texts and texts.count("浙江省市场监督管理局") == 2  # mark and signature
    assert any("2023年5月8日前" in t for t in texts)
    (table,) = doc.tables
    assert [c.text for c in table.rows[0].cells][2] == "名称"
    assert [r.cells[2].text for r in table.rows[1:]] == names
    assert "330402198001011234" not in data.decode("latin-1")  # the individual's ID number is masked
    assert table.rows[4].cells[3].text.startswith("330") and "*" in table.rows[4].cells[3].text


def _check_sheet(data: bytes, token: str, numbers: list[str]) -> None:
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws["A2"].value == "征求意见编号" and ws["B2"].value == token
    header = [c.value for c in ws[6]]
    assert header == ["申报编号", "名称", "统一代码", "所在地区", "类别", "意见", "理由"]
    assert [ws.cell(row=r, column=1).value for r in range(7, 7 + len(numbers))] == numbers
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"无异议,有异议"' and str(dv.sqref) == f"F7:F{6 + len(numbers)}"


def test_round_trip(make_rt, sqlite_url, season, tmp_path, smtp_server, dovecot, fake_now) -> None:  # type: ignore[no-untyped-def]
    url = sqlite_url
    rt = make_rt(url)
    fake_now("2023-04-27")
    with session_scope(url) as s:
        make_complete(s, season)
    with session_scope(url) as s:
        result = solicit(s, rt)
    assert len(result.requests) == 3 and len(result.applications) == 4
    # each department's letter and reply sheet are also files staff can print, beside the season's documents
    printable = [o.key for o in rt.shared.list(f"documents/{season.season_id}/")]
    assert len(printable) == 6 and all("/征求意见函/" in k for k in printable)
    assert sum(k.endswith(".docx") for k in printable) == 3
    with session_scope(url) as s:  # nothing left to ask: a second run sends nothing
        assert solicit(s, rt).requests == []
    assert set(_states(url).values()) == {"dept_review"}
    _drain(url, smtp_server, rt)

    with session_scope(url) as s:
        reqs = {r.department: r for r in s.scalars(select(OpinionRequest))}
    assert {r.due_date for r in reqs.values()} == {date(2023, 5, 8)}
    tokens = {code: r.token for code, r in reqs.items()}
    assert all(TOKEN_RE.fullmatch(t) and t.startswith(f"YJ-2023-{c}-") for c, t in tokens.items())

    # letters sent and opened: the tax letter lists all four applicants
    (tax_mail,) = smtp_server.to("sw@tax.example.gov.cn")
    assert tokens["tax"] in tax_mail.subject
    files = tax_mail.attachments()
    letter = next(v for k, v in files.items() if k.endswith(".docx"))
    sheets = {code: next(v for k, v in smtp_server.to(addr)[0].attachments().items() if k.endswith(".xlsx"))
              for code, addr in (("env", "hbt@env.example.gov.cn"), ("tax", "sw@tax.example.gov.cn"))}
    _check_letter(letter, tokens["tax"], [s.name for s in SPECS])
    _check_sheet(sheets["tax"], tokens["tax"], [s.no for s in SPECS])
    _check_sheet(sheets["env"], tokens["env"], [s.no for s in SPECS[:3]])

    # 4/28: env answers in the body "无异议" (token in the subject), the quoted letter below is ignored
    fake_now("2023-04-28")
    env_subject = smtp_server.to("hbt@env.example.gov.cn")[0].subject
    dovecot.append(reply_mail("hbt@env.example.gov.cn", f"回复：{env_subject}", "经核查，以上单位均无异议。",
                              quoted=smtp_server.to("hbt@env.example.gov.cn")[0].text() + "\n某单位有异议"))
    dovecot.append(reply_mail("someone@example.com", "回复：YJ-2023-env-000000", "无异议"))  # unknown token
    outcomes = _imap_ingest(url, rt, dovecot)
    assert [len(o.opinions) for o in outcomes] == [3, 0] and outcomes[1].problems
    with session_scope(url) as s:
        assert s.scalar(select(Problem).where(Problem.code == "opinion_reply")).message.startswith("征求意见编号")
        assert send_reminders(s, rt) == []
    smtp_server.messages.clear()
    _drain(url, smtp_server, rt)  # staff are told about the unknown token
    (notice,) = smtp_server.messages
    assert notice.rcpt_tos == ["ops@scjg.example.gov.cn"] and "YJ-2023-env-000000" in notice.text()
    # 5/4: still no reminder (first working day after the holiday)
    fake_now("2023-05-04")
    with session_scope(url) as s:
        assert send_reminders(s, rt) == []
    # 5/5: safety and tax reminded (2 working days before the due date); env has answered
    fake_now("2023-05-05")
    with session_scope(url) as s:
        assert len(send_reminders(s, rt)) == 2
        assert send_reminders(s, rt) == []  # idempotent
    smtp_server.messages.clear()
    _drain(url, smtp_server, rt)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["sw@tax.example.gov.cn", "yjt@safety.example.gov.cn"]
    assert all("催办" in m.subject and len(m.attachments()) == 2 for m in smtp_server.messages)
    # 5/6 (Saturday, adjusted working day): tax's second reminder only
    fake_now("2023-05-06")
    with session_scope(url) as s:
        assert len(send_reminders(s, rt)) == 1
    smtp_server.messages.clear()
    _drain(url, smtp_server, rt)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["sw@tax.example.gov.cn"]]

    # 5/6: env sends the filled sheet (supersedes its first reply: B now objected, with an unknown row)
    filled = _fill(sheets["env"], {"GS-2023-0001": ("无异议", None), "GS-2023-0002": ("有异议", "2022年受到环保行政处罚"),
                                   "GS-2023-0003": ("无异议", None)})
    wb = load_workbook(io.BytesIO(filled))
    wb.active.append(["GS-2023-9999", "不存在的公司", None, None, None, "无异议", None])
    buf = io.BytesIO()
    wb.save(buf)
    dovecot.append(reply_mail("hbt@env.example.gov.cn", f"回复：{env_subject}", "见附件回复表。",
                              {f"征求意见回复表（{tokens['env']}）.xlsx": buf.getvalue()}))
    # safety replies in the body, naming one applicant with an objection and a reason
    dovecot.append(reply_mail(
        "yjt@safety.example.gov.cn", f"Re: 征求意见函（征求意见编号 {tokens['safety']}）",
        "经查：\n宁波示例新材料有限公司有异议，理由：2022年发生一般生产安全事故。\n其余单位无异议。"))
    outcomes = _imap_ingest(url, rt, dovecot)
    assert [len(o.opinions) for o in outcomes] == [3, 2]  # the sheet replaces env's whole first reply
    assert any("GS-2023-9999" in p for p in outcomes[0].problems)
    # tax hands in a filled sheet through shared storage (A, B, C; nothing on D)
    rt.shared.write(f"opinions/tax/回复表-{tokens['tax']}.xlsx", _fill(sheets["tax"], {
        "GS-2023-0001": ("无异议", None), "GS-2023-0002": ("无异议", None), "GS-2023-0003": ("无异议", None)}))
    with session_scope(url) as s:
        (tax_outcome,) = ingest_storage(s, rt)
    assert len(tax_outcome.opinions) == 3 and not tax_outcome.problems
    with session_scope(url) as s:  # taken once per key and ETag
        assert ingest_storage(s, rt) == []
        item = s.get(InboundItem, tax_outcome.item_id)
        assert (item.channel, item.purpose, item.status) == ("local", "opinion", "parsed")

    assert _states(url) == {"GS-2023-0001": "dept_cleared", "GS-2023-0002": "dept_objection",
                            "GS-2023-0003": "dept_cleared", "GS-2023-0004": "dept_review"}
    with session_scope(url) as s:  # env's first opinion on B is kept, superseded by the sheet's
        env_b = s.scalars(select(Opinion).where(Opinion.department == "env", Opinion.application_id == 2)
                          .order_by(Opinion.id)).all()
        assert [(o.verdict, o.superseded_by_id) for o in env_b] == [("no_objection", env_b[1].id), ("objection", None)]
        assert env_b[1].reason == "2022年受到环保行政处罚" and env_b[1].source == "reply"
        safety_b = current_opinions(s, 2)["safety"]
        assert safety_b.reason == "2022年发生一般生产安全事故。"

    # 5/8 (due date): no default yet; 5/9: tax's default (follow_up) on D, which goes to an ops decision
    fake_now("2023-05-08")
    with session_scope(url) as s:
        assert apply_defaults(s, rt) == []
    fake_now("2023-05-09")
    with session_scope(url) as s:
        (default_id,) = apply_defaults(s, rt)
        default = s.get(Opinion, default_id)
        assert (default.source, default.verdict, default.late, default.application_id) == ("default", "follow_up",
                                                                                           False, 4)
        assert s.scalar(select(OpinionRequest.status).where(OpinionRequest.department == "tax")) == "defaulted"
        assert send_reminders(s, rt) == []  # past the due date
    assert _states(url)["GS-2023-0004"] == "dept_objection"

    # 5/10: a late objection from safety on A reopens the decision
    fake_now("2023-05-10")
    dovecot.append(reply_mail("yjt@safety.example.gov.cn", f"补充意见（{tokens['safety']}）",
                              "GS-2023-0001 有异议：2023年5月发现重大事故隐患未整改。"))
    (late,) = _imap_ingest(url, rt, dovecot)
    with session_scope(url) as s:
        op = s.get(Opinion, late.opinions[0])
        assert op.late and op.verdict == "objection"
        reopen = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == 1, AuditEvent.action == "transition")
                           .order_by(AuditEvent.id.desc())).first()
        assert (reopen.from_state, reopen.to_state) == ("dept_cleared", "dept_objection")
    assert _states(url)["GS-2023-0001"] == "dept_objection"

    # the ops decisions (the DAG's human-in-the-loop step calls these; see test_dag.py for the Airflow side)
    with session_scope(url) as s:
        pending = pending_decisions(s, rt, ref="run-1", still_waiting=lambda ref: True)
        assert [p["application_id"] for p in pending] == [1, 2, 4]
        assert "有异议" in pending[1]["body"] and "2022年受到环保行政处罚" in pending[1]["body"]
        assert "逾期未回复" in pending[2]["body"]
        # another run sees them asked in run-1, still waiting there
        assert pending_decisions(s, rt, ref="run-2", still_waiting=lambda ref: True) == []
        rounds = {p["application_id"]: p["round_id"] for p in pending}
        assert apply_decision(s, rt, 2, round_id=rounds[2], choice="remove", reason="存在环保行政处罚",
                              user="李处长", user_id="li") == "removed"
        assert apply_decision(s, rt, 4, round_id=rounds[4], choice="continue", reason="经电话核实无欠税",
                              user="李处长", user_id="li") == "cleared"
        with pytest.raises(OpinionError, match="reason"):
            apply_decision(s, rt, 1, round_id=rounds[1], choice="continue", reason=" ", user="李处长")
    assert _states(url) == {"GS-2023-0001": "dept_objection", "GS-2023-0002": "removed",
                            "GS-2023-0003": "dept_cleared", "GS-2023-0004": "dept_cleared"}
    smtp_server.messages.clear()
    _drain(url, smtp_server, rt)
    (removed,) = smtp_server.to("b@applicant.example.com")
    assert "不再推荐" in removed.text() and "存在环保行政处罚" in removed.text()
    (kept,) = smtp_server.to("d@applicant.example.com")
    assert "继续推荐" in kept.text()
    staff = smtp_server.to("ops@scjg.example.gov.cn")
    assert staff and any("GS-2023-9999" in m.text() for m in staff)
    with session_scope(url) as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == 2, AuditEvent.to_state == "removed")).one()
        assert event.actor == "李处长" and event.reason == "存在环保行政处罚"
        assert event.details["decision"] == "remove" and event.details["responded_at"].startswith("2023-05-10")
