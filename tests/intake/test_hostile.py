"""Hostile intake (issue 13), on SQLite and PostgreSQL: one bad item never stops intake for everyone, one applicant
never reaches another's file, active and broken content is refused or flagged and the sender is told why."""

from __future__ import annotations

import base64
import dataclasses
import json
import mailbox
from pathlib import Path

import pytest
from sqlalchemy import select

from award.clock import now
from award.demo.setup import build_message
from award.inbound.sources import MaildirSource, fetch_mail, fetch_storage
from award.intake import process_pending
from award.runtime import Runtime
from award.store.db import session_scope
from award.store.models import Application, InboundItem, Material, OutboxEmail, Problem
from tests.fixtures import build_raw_mail

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture()
def rt(fake_now, make_rt, tmp_path, season, db_url, monkeypatch) -> Runtime:
    fake_now("2023-05-20T10:00:00+08:00")
    return make_rt(db_url)


def _gen(tmp_path: Path, season, count: int = 3, channels: tuple[str, ...] = ("mail",)):  # type: ignore[no-untyped-def]
    from award.demo.generator import generate

    return generate(tmp_path / "gen", count, 13, season=season, defect_share=0.0, channels=channels)


def _box(tmp_path: Path) -> mailbox.Maildir:
    (tmp_path / "maildir").mkdir(exist_ok=True)
    return mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True)


def _files(tmp_path: Path, app) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    folder = tmp_path / "gen" / app.folder
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "meta.json"}


def _raw(subject: str | None, files: dict[str, bytes], sender: str | None = "a@example.com") -> bytes:
    return build_raw_mail(subject, "材料见附件", sender=sender, attachments=files)


def _mail_of(tmp_path: Path, app, **changes) -> bytes:  # type: ignore[no-untyped-def]
    folder = tmp_path / "gen" / app.folder
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    meta.update(changes)
    return build_message(meta, folder, now())


def _fetch(tmp_path: Path, rt: Runtime) -> list[int]:
    with session_scope(rt.db_url) as s:
        return fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office")) + fetch_storage(s, rt)


def _run(tmp_path: Path, rt: Runtime):  # type: ignore[no-untyped-def]
    _fetch(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        return process_pending(s, rt)


def _put(rt: Runtime, key: str, data: bytes) -> None:
    """Write straight into the shared folder (a backslash stays a character of the name, as on S3)."""
    path = rt.shared.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ------------------------------------------------------------------------------------ intake never stops


def test_hostile_texts_are_normalised_and_intake_goes_on(tmp_path, rt, season) -> None:
    """A From address over 300 characters, a NUL in a decoded subject, an upload path over 300 characters and a
    form whose name is over 200 characters: all archived (originals in the raw bytes), and the mail after them too."""
    from award.forms import fill_form_bytes

    gen = _gen(tmp_path, season, 3)
    box = _box(tmp_path)
    long_from = "x" * 320 + "@example.com"
    box.add(_raw("材料", {"证明.pdf": PDF}, sender=long_from))
    nul = "=?utf-8?b?" + base64.b64encode("申报\x00材料\x07".encode()).decode() + "?="
    box.add(_raw(nul, {"证明.pdf": PDF + b"%2\n"}, sender="nul@example.com"))
    long_name = gen.applications[1]
    fields = {k: ("很长的名称" * 50 if k.endswith("name") else v) for k, v in long_name.fields.items()}
    files = _files(tmp_path, long_name)
    files = {n: d for n, d in files.items() if not n.endswith(".docx")}
    files["申报表.docx"] = fill_form_bytes(long_name.form_id, fields)
    box.add(_raw("申报材料", files, sender=long_name.sender))
    box.add(_mail_of(tmp_path, gen.applications[0]))  # an ordinary application after all of them
    deep = "incoming/" + season.province.cities[0] + "/" + "/".join(["目录" * 30] * 6) + "/证明.pdf"
    assert len(deep) > 300
    _put(rt, deep, PDF)

    ids = _fetch(tmp_path, rt)
    assert len(ids) == 5
    with session_scope(rt.db_url) as s:
        items = s.scalars(select(InboundItem).order_by(InboundItem.id)).all()
        assert all(i.status == "archived" for i in items)
        subjects = [i.subject for i in items if i.subject]
        assert "申报材料" in subjects and not any("\x00" in x or "\x07" in x for x in subjects)
        assert all(len(i.sender or "") <= 300 for i in items) and any(len(i.sender or "") == 300 for i in items)
        [upload] = [i for i in items if i.channel == "local"]
        assert len(upload.filename) == 300 and upload.problem.startswith("filename: incoming/")
        raws = {rt.blobs.get_bytes(i.sha256) for i in items}
    assert any(long_from.encode() in r for r in raws)  # the original is in the archived raw bytes
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    assert result.applications_created == 2
    with session_scope(rt.db_url) as s:
        names = sorted(a.applicant.name for a in s.scalars(select(Application)))
        assert any(len(n) == 200 for n in names), names
        assert all(i.status != "archived" for i in s.scalars(select(InboundItem)))


def test_an_item_that_still_fails_is_quarantined_and_the_batch_goes_on(tmp_path, rt, season, monkeypatch) -> None:
    """Mocked: a database error on one row (nothing left here makes PostgreSQL refuse one, by design)."""
    from sqlalchemy.exc import DataError

    import award.inbound.archive

    real = award.inbound.archive.item_texts

    def failing(*, filename, sender, subject):  # type: ignore[no-untyped-def]
        if sender == "evil@example.com":
            raise DataError("INSERT ...", {}, ValueError("value too long"))
        return real(filename=filename, sender=sender, subject=subject)

    monkeypatch.setattr(award.inbound.archive, "item_texts", failing)
    gen = _gen(tmp_path, season, 1)
    box = _box(tmp_path)
    box.add(_raw("材料", {"证明.pdf": PDF}, sender="evil@example.com"))
    box.add(_mail_of(tmp_path, gen.applications[0]))
    result = _run(tmp_path, rt)
    assert result.applications_created == 1
    with session_scope(rt.db_url) as s:
        statuses = sorted(i.status for i in s.scalars(select(InboundItem)))
        [bad] = s.scalars(select(InboundItem).where(InboundItem.status == "quarantined")).all()
        assert bad.problem == "quarantined: DataError" and bad.sender is None
        assert rt.blobs.get_bytes(bad.sha256).startswith(b"From: evil@example.com")
    assert statuses == ["parsed", "quarantined"]
    assert len(list((tmp_path / "maildir" / "office" / "new").iterdir())) == 0  # both taken from the mailbox


# ------------------------------------------------------------------------------------ LIKE wildcards


def test_wildcards_in_city_folder_and_file_names_match_exactly(tmp_path, rt, season) -> None:
    """City ``%`` with a letter ``%推荐函.pdf``, applicant folders ``%``, ``__``, ``ab`` and ``a\\b``: every file
    reaches its own application only, and the letter only the applications of its own city folder."""
    gen = _gen(tmp_path, season, 4, channels=("mail",))
    city = season.province.cities[0]
    folders = {f"incoming/{city}/ab": 0, f"incoming/{city}/__": 1, f"incoming/{city}/%": 2, "incoming/%/a\\b": 3}
    for folder, index in folders.items():
        app = gen.applications[index]
        for name, data in _files(tmp_path, app).items():
            _put(rt, f"{folder}/{name}", data)
    _put(rt, "incoming/%/%推荐函.pdf", PDF + b"%letter\n")
    result = _run(tmp_path, rt)
    assert result.applications_created == 4
    # files that come later, with no form: each joins the application of its own folder
    for folder in folders:
        _put(rt, f"{folder}/补充材料.pdf", PDF + folder.encode() + b"\n")
    _run(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        by_folder = {}
        for folder, index in folders.items():
            app = s.scalars(select(Application).join(Application.applicant)).all()
            app = next(a for a in app if a.applicant.name == gen.applications[index].name)
            by_folder[folder] = app
            extra = [m for m in app.materials if m.filename == "补充材料.pdf"]
            assert len(extra) == 1, folder
            assert rt.blobs.get_bytes(extra[0].sha256).endswith(folder.encode() + b"\n")
            letters = [m for m in app.materials if m.filename == "%推荐函.pdf"]
            assert len(letters) == (1 if folder.startswith("incoming/%/") else 0), folder
        assert s.scalar(select(InboundItem).where(InboundItem.status == "waiting")) is None
        assert len(s.scalars(select(Material).where(Material.filename == "补充材料.pdf")).all()) == 4
    assert {a.submission_no for a in by_folder.values()} == {f"GS-2023-000{i}" for i in range(1, 5)}


# ------------------------------------------------------------------------------------ executables


def test_an_executable_with_pdf_in_its_first_kilobyte_is_refused(tmp_path, rt, season) -> None:
    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    files = _files(tmp_path, app)
    files["证实性材料9-证书.pdf"] = b"MZ\x90\x00" + b"\x00" * 60 + b"%PDF-1.7 decoy\n" + b"\x00" * 2000
    _box(tmp_path).add(_raw("申报材料", files, sender=app.sender))
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files == 1
    with session_scope(rt.db_url) as s:
        [problem] = s.scalars(select(Problem)).all()
        assert problem.code == "type_mismatch" and "可执行程序" in problem.message
        assert s.scalar(select(Material).where(Material.filename == "证实性材料9-证书.pdf")) is None
        refused = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "refused_file"))
    assert "证实性材料9-证书.pdf" in refused.body_text


# ------------------------------------------------------------------------------------ one applicant, one file


def test_a_stranger_quoting_a_submission_number_or_credit_code_is_held(tmp_path, rt, season) -> None:
    """Material for an existing application from an address not on it is held for staff review: nothing is
    replaced, the applicant's known address is told, the stranger's reply shows nothing of the applicant."""
    from award.forms import fill_form_bytes
    from award.intake import release_held

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    box = _box(tmp_path)
    box.add(_mail_of(tmp_path, app))
    assert _run(tmp_path, rt).applications_created == 1
    forged = fill_form_bytes(app.form_id, dict(app.fields, summary="被替换的事迹"))
    box.add(_raw("补充材料 GS-2023-0001", {"申报表.docx": forged}, sender="attacker@evil.example"))
    box.add(_raw("申报材料", {"申报表.docx": forged, "内部公示情况说明.pdf": PDF}, sender="other@evil.example"))
    result = _run(tmp_path, rt)
    assert result.held == 2 and result.materials_added == 0 and result.applications_created == 0
    with session_scope(rt.db_url) as s:
        application = s.scalar(select(Application))
        assert application.fields["summary"] != "被替换的事迹"
        assert all(m.superseded_by_id is None for m in application.materials)
        held = s.scalars(select(InboundItem).where(InboundItem.status == "held")).all()
        assert len(held) == 2 and all(i.application_id is None for i in held)
        assert {p.code for p in s.scalars(select(Problem))} == {"held_for_review"}
        mails = s.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
        to_stranger = [m for m in mails if m.template == "held_sender"]
        owner = [m for m in mails if m.template == "held_owner"]
        staff = [m for m in mails if m.template == "staff_notice"]
        assert sorted(m.to_addrs[0] for m in to_stranger) == ["attacker@evil.example", "other@evil.example"]
        for m in to_stranger:  # nothing of the application: no name, contact, phone, number or address
            text = m.subject + m.body_text
            for secret in (app.name, app.fields["contact"], app.fields["contact_phone"], "GS-2023-0001",
                           app.fields["email"], app.sender):
                assert secret not in text, secret
        assert len(owner) == 2 and all(app.sender in m.to_addrs for m in owner)
        assert sorted("attacker@evil.example" in m.body_text for m in owner) == [False, True] and len(staff) == 2
        assert all(m.template != "ack" or m.to_addrs == [app.sender] for m in mails)
        first = next(i.id for i in held if i.sender == "attacker@evil.example")  # Maildir order is not fixed
    # staff release the first one after checking: the next run registers it
    with session_scope(rt.db_url) as s:
        release_held(s, first, actor="王工作人员")
    result = _run(tmp_path, rt)
    assert result.materials_added == 1
    with session_scope(rt.db_url) as s:
        assert s.get(InboundItem, first).status == "parsed"


def test_a_mail_without_from_is_answered_at_the_form_address(tmp_path, rt, season) -> None:
    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    _box(tmp_path).add(_raw("申报材料", _files(tmp_path, app), sender=None))
    assert _run(tmp_path, rt).applications_created == 1
    with session_scope(rt.db_url) as s:
        [ack] = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "ack")).all()
        assert ack.to_addrs == [app.fields["email"]]
        from award.store.models import AuditEvent

        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "reply_to_form_address"))
        assert event is not None and app.fields["email"] in event.reason


# ------------------------------------------------------------------------------------ limits


def _limited(rt: Runtime, **limits: int) -> Runtime:
    season = rt.season.model_copy(update={"limits": rt.season.limits.model_copy(update=limits)})
    return dataclasses.replace(rt, season=season)


def test_a_thousand_attachments_are_refused_with_one_short_reason(tmp_path, rt) -> None:
    files = {f"证明{i:04d}.pdf": PDF + str(i).encode() for i in range(1000)}
    _box(tmp_path).add(_raw("申报材料", files, sender="many@example.com"))
    result = _run(tmp_path, rt)
    assert result.materials_added == 0 and result.refused_files == 1
    with session_scope(rt.db_url) as s:
        [mail] = s.scalars(select(OutboxEmail)).all()
        [problem] = s.scalars(select(Problem)).all()
    assert problem.code == "too_many_attachments" and "1000个附件" in problem.message
    assert mail.template == "refused_file" and mail.to_addrs == ["many@example.com"]
    assert len(mail.body_text) < 2000


def test_per_submission_file_count_and_size_and_mail_size_limits(tmp_path, rt, season) -> None:
    import io
    import zipfile

    from tests import mailcases as mc

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as zf:
        for i in range(6):
            zf.writestr(f"证明{i}.pdf", mc.pdf_with(b"/Note (" + bytes([65 + i]) * 300_000 + b")"))
    box = _box(tmp_path)
    box.add(_raw("申报材料", {**_files(tmp_path, app), "材料.zip": bundle.getvalue()}, sender="count@example.com"))
    _fetch(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        assert process_pending(s, _limited(rt, submission_max_files=8)).applications_created == 0
        [problem] = s.scalars(select(Problem)).all()
        assert problem.code == "too_many_files"
    box.add(_raw("申报材料", {**_files(tmp_path, app), "材料.zip": bundle.getvalue()}, sender="size@example.com"))
    _fetch(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        assert process_pending(s, _limited(rt, submission_max_total_mb=1)).applications_created == 0
        assert s.scalar(select(Problem).where(Problem.code == "submission_too_large")) is not None
    box.add(_raw("申报材料", {**_files(tmp_path, app), "大文件.pdf": PDF + b"%" + b"x" * 1_500_000},
                 sender="big@example.com"))
    _fetch(tmp_path, rt)
    import award.inbound.mime

    def not_decoded(raw: bytes):  # type: ignore[no-untyped-def]
        raise AssertionError("a mail over the size limit must not be decoded")

    with session_scope(rt.db_url) as s, pytest.MonkeyPatch.context() as mp:
        mp.setattr(award.inbound.mime, "parse_message", not_decoded)
        assert process_pending(s, _limited(rt, max_mail_mb=1)).applications_created == 0
        problem = s.scalar(select(Problem).where(Problem.code == "mail_too_large"))
        assert problem is not None and "1MB" in problem.message
        told = sorted(m.to_addrs[0] for m in s.scalars(select(OutboxEmail)))
    assert told == ["big@example.com", "count@example.com", "size@example.com"]


# ------------------------------------------------------------------------------------ active and broken content


def test_active_content_is_kept_flagged_for_staff_and_told(tmp_path, rt, season) -> None:
    from tests import mailcases as mc

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    hostile = {"证实性材料7-说明.docx": mc.dde_docx(), "证实性材料8-附件.docx": mc.ole_docx(),
               "证实性材料9-证书.pdf": mc.pdf_javascript(), "证实性材料10-报告.pdf": mc.pdf_hidden_launch()}
    _box(tmp_path).add(_raw("申报材料", {**_files(tmp_path, app), **hostile}, sender=app.sender))
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files == 0
    with session_scope(rt.db_url) as s:
        materials = {m.filename: m for m in s.scalars(select(Material))}
        for name, data in hostile.items():  # nothing stripped: the very bytes are kept
            assert rt.blobs.get_bytes(materials[name].sha256) == data
        problems = {p.filename: p for p in s.scalars(select(Problem).where(Problem.code == "active_content"))}
        assert sorted(problems) == sorted(hostile)
        assert all(p.application_id == materials[n].application_id for n, p in problems.items())
        assert "DDE自动更新字段" in problems["证实性材料7-说明.docx"].message
        assert "嵌入的OLE对象" in problems["证实性材料8-附件.docx"].message
        assert "JavaScript脚本" in problems["证实性材料9-证书.pdf"].message
        assert "启动外部程序" in problems["证实性材料10-报告.pdf"].message
        [ack] = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "ack")).all()
    assert "含有活动内容" in ack.body_text
    assert all(name in ack.body_text.split("含有活动内容", 1)[1] for name in hostile)


def test_a_mail_cut_short_tells_the_sender_which_file_is_incomplete(tmp_path, rt, season) -> None:
    from tests import mailcases as mc

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    evidence = mc.pdf_with(b"/Pages 2 0 R /Note (" + b"x" * 6000 + b")")
    raw = _raw("申报材料", {**_files(tmp_path, app), "证实性材料9-证书.pdf": evidence}, sender=app.sender)
    cut = raw[: raw.rindex(b"\n--") - 1001]  # in the middle of the last attachment's base64; no closing boundary
    _box(tmp_path).add(cut)
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files == 1
    with session_scope(rt.db_url) as s:
        [problem] = s.scalars(select(Problem)).all()
        assert problem.code in ("truncated", "broken_pdf") and problem.filename == "证实性材料9-证书.pdf"
        assert s.scalar(select(Material).where(Material.filename == "证实性材料9-证书.pdf")) is None
        refused = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "refused_file"))
        ack = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "ack"))
    assert "证实性材料9-证书.pdf" in refused.body_text and "截断" in refused.body_text
    assert "另有1个文件未予接收" in ack.body_text


def test_a_mail_cut_on_a_base64_line_end_is_not_registered_silently(tmp_path, rt, season) -> None:
    """A photo cut where a base64 line ends decodes cleanly: only the missing closing boundary shows the cut."""
    from tests import mailcases as mc

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    photo = mc.JPEG_BYTES[:-2] + bytes(range(256)) * 40 + b"\xff\xd9"
    raw = _raw("申报材料", {**_files(tmp_path, app), "证实性材料9-证书照片.jpg": photo}, sender=app.sender)
    closing = raw.rindex(b"\n--")
    _box(tmp_path).add(raw[: raw.rindex(b"\n", 0, closing - 1000) + 1])
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files == 1
    with session_scope(rt.db_url) as s:
        [problem] = s.scalars(select(Problem)).all()
        assert (problem.code, problem.filename) == ("truncated", "证实性材料9-证书照片.jpg")
        assert s.scalar(select(Material).where(Material.filename == "证实性材料9-证书照片.jpg")) is None
        refused = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "refused_file"))
        ack = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "ack"))
    assert "证实性材料9-证书照片.jpg" in refused.body_text and "截断" in refused.body_text
    assert "另有1个文件未予接收" in ack.body_text


def _deep(levels: int) -> bytes:
    raw = b"From: deep@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    for i in range(levels):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    raw += b"Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n"
    for i in reversed(range(levels)):
        raw += b"--b%d--\r\n" % i
    return raw


@pytest.mark.parametrize(("case", "said"), [
    ("no_boundary", "缺少分隔标记"), ("deep_40", "嵌套超过"), ("deep_2000", "嵌套超过")])
def test_a_broken_mime_structure_is_named_to_the_sender(case: str, said: str, tmp_path, rt) -> None:
    if case == "no_boundary":
        raw = (b"From: nob@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
               b"--x\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--x--\r\n")
    else:
        raw = _deep(int(case.split("_")[1]))
    _box(tmp_path).add(raw)
    result = _run(tmp_path, rt)
    assert result.failed == 1
    with session_scope(rt.db_url) as s:
        [mail] = s.scalars(select(OutboxEmail)).all()
        problem = s.scalar(select(Problem).where(Problem.code == "no_form"))
    assert mail.template == "no_form" and said in mail.body_text and said in problem.message
    assert mail.to_addrs == [("nob" if case == "no_boundary" else "deep") + "@example.com"]


def test_expanded_members_go_to_the_blob_store_not_the_batch(tmp_path, rt, season) -> None:
    """Members are stored as they are read; a read submission holds no file bytes once classified."""
    import io
    import zipfile

    from award.intake.processing import Intake
    from tests import mailcases as mc

    gen = _gen(tmp_path, season, 1)
    app = gen.applications[0]
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zf.writestr(f"证实性材料{i}-证明.pdf", mc.pdf_with(b"/Note (" + bytes([65 + i]) * 200_000 + b")"))
    _box(tmp_path).add(_raw("申报材料", {**_files(tmp_path, app), "材料.zip": bundle.getvalue()}, sender=app.sender))
    _fetch(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        intake = Intake(s, rt)
        sub = intake.read_mail(s.scalar(select(InboundItem)))
        members = [f for f in sub.files if f.name.endswith("-证明.pdf")]
        assert len(members) == 5 and all(f.data == b"" and f.size > 200_000 for f in members)
        assert all(rt.blobs.get_bytes(f.sha256).startswith(b"%PDF-") for f in members)
        intake.prepare(sub)
        assert sub.form is not None and all(f.data == b"" for f in sub.files)
    result = _run(tmp_path, rt)
    assert result.applications_created == 1
    with session_scope(rt.db_url) as s:
        stored = {m.filename: m.size for m in s.scalars(select(Material))}
    assert all(stored[f"证实性材料{i}-证明.pdf"] > 200_000 for i in range(5))


def test_a_city_folder_without_a_form_is_reported_after_the_grace_period(fake_now, tmp_path, rt, season, monkeypatch) -> None:
    city = season.province.cities[0]
    _put(rt, f"incoming/{city}/某公司/证实性材料1-证书.pdf", PDF)
    result = _run(tmp_path, rt)
    assert result.waiting == 1
    with session_scope(rt.db_url) as s:
        assert s.scalars(select(OutboxEmail)).all() == []  # within the grace period: nothing yet
    fake_now("2023-05-22T11:00:00+08:00")  # 49 hours later
    _run(tmp_path, rt)
    _run(tmp_path, rt)  # told once
    with session_scope(rt.db_url) as s:
        [notice] = s.scalars(select(OutboxEmail)).all()
        assert s.scalar(select(InboundItem)).status == "waiting"
    assert notice.to_addrs == [str(season.recommending_unit.ops_email)]
    assert f"incoming/{city}/某公司" in notice.subject and "证实性材料1-证书.pdf" in notice.body_text


def test_a_city_folder_without_a_form_is_reported_to_the_citys_contact_too(tmp_path, rt, season, monkeypatch) -> None:
    """When the season names the city bureau's e-mail, the city is told as well as ops, in one notice."""
    city = season.province.cities[1]
    units = [u.model_copy(update={"email": "zlk@city.example"}) if u.city == city else u
             for u in season.recommending_units]
    told = Runtime(season.model_copy(update={"recommending_units": units}), rt.db_url, rt.blobs, rt.shared)
    _put(rt, f"incoming/{city}/某公司/证实性材料1-证书.pdf", PDF)
    _run(tmp_path, told)
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-22T11:00:00+08:00")  # 49 hours later
    _run(tmp_path, told)
    with session_scope(rt.db_url) as s:
        [notice] = s.scalars(select(OutboxEmail)).all()
    assert notice.to_addrs == [str(season.recommending_unit.ops_email), "zlk@city.example"]
    assert f"incoming/{city}/某公司" in notice.subject
