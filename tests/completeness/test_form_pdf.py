"""The Word/PDF consistency rule with PDFs applicants make, and staff review instead of 补正 (issue 16 §1, §2).

The PDFs are exported by Debian's LibreOffice from the filled .docx forms, as applicants do; the scan is those
pages rendered to images (pypdfium2) and written back as an image-only PDF (Pillow), as a scanner makes it.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from award.cli import main as award_main
from award.completeness.correction import ReviewError, confirm_review, run_checks
from award.completeness.report import report_frame
from award.completeness.rules import evaluate
from award.states import State
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.models import Application, AuditEvent, OutboxEmail
from tests.completeness.helpers import add_material, load_generated, read_files
from tests.completeness.test_rules import CATEGORIES, build, findings, one
from tests.office import W, edit_document, needs_soffice, scan_of, soffice


def _docx(clean_set, category: str) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    root, entry = clean_set[category]
    return next((n, d) for n, d in read_files(root, entry["files"]).items() if n.endswith(".docx"))


@pytest.fixture(scope="module")
def lo_pdfs(clean_set, tmp_path_factory) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """category -> the LibreOffice PDF of the clean generated form; also 'other' (another applicant's form)."""
    files = {f"{c}.docx": _docx(clean_set, c)[1] for c in CATEGORIES}
    root, entry = clean_set["individual"]
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    other = next(e for e in manifest["applications"] if e["category"] == "organization" and e is not entry
                 and e["folder"] != clean_set["organization"][1]["folder"])
    files["other.docx"] = next(d for n, d in read_files(root, other["files"]).items() if n.endswith(".docx"))
    pdfs = soffice(files, "pdf", tmp_path_factory.mktemp("lo"))
    return {Path(n).stem: d for n, d in pdfs.items()}


def _with_pdf(clean_set, category: str, pdf: bytes, **kw):  # type: ignore[no-untyped-def]
    return build(clean_set, category, files={"x-申报表.pdf": pdf}, drop=("-申报表.pdf",), **kw)


@needs_soffice
@pytest.mark.parametrize("category", CATEGORIES)
def test_libreoffice_pdf_of_the_form_is_consistent(clean_set, lo_pdfs, category: str) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_pdf(clean_set, category, lo_pdfs[category])
    assert findings(ctx, "consistency.form_pdf") == []


@needs_soffice
def test_another_applicants_pdf_differs_by_label(clean_set, lo_pdfs) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_pdf(clean_set, "organization", lo_pdfs["other"])
    found = findings(ctx, "consistency.form_pdf")
    labels = {f.details["label"] for f in found}
    assert {"单位名称", "统一社会信用代码"} <= labels and all(f.kind == "differs" and f.blocking for f in found)


@needs_soffice
def test_individual_pdf_mismatch_masks_the_id_number(clean_set, lo_pdfs) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_pdf(clean_set, "individual", lo_pdfs["individual"])
    number = ctx.fields["id_number"]
    other = number[:6] + "19800101" + number[14:]
    r = one(_with_pdf(clean_set, "individual", lo_pdfs["individual"], fields={"id_number": other}),
            "consistency.form_pdf", "differs")
    assert number not in r.message and other not in r.message and "*" in r.message


@needs_soffice
def test_scanned_pdf_goes_to_staff_review_not_correction(clean_set, lo_pdfs) -> None:  # type: ignore[no-untyped-def]
    ctx = _with_pdf(clean_set, "sme", scan_of(lo_pdfs["sme"]))
    r = one(ctx, "consistency.form_pdf", "no_text_layer")
    assert r.severity == "review" and not r.blocking and "人工核对" in r.message
    assert evaluate(ctx).outcome == "review"


def _drop_row(label: str):  # type: ignore[no-untyped-def]
    def edit(root) -> None:  # type: ignore[no-untyped-def]
        for tr in root.iter(f"{W}tr"):
            for tc in tr.iter(f"{W}tc"):
                if "".join(t.text or "" for t in tc.iter(f"{W}t")).strip() == label:
                    tr.getparent().remove(tr)
                    return
        raise AssertionError(label)
    return edit


def test_field_not_found_goes_to_staff_review(clean_set) -> None:  # type: ignore[no-untyped-def]
    name, docx = _docx(clean_set, "organization")
    edited = edit_document(docx, _drop_row("质量管理模式名称"))
    from award.forms import parse_form

    ctx = build(clean_set, "organization", files={name: edited}, fields=parse_form(edited).fields)
    r = one(ctx, "fields.required", "not_found")
    assert r.severity == "review" and "质量管理模式名称" in r.message
    assert evaluate(ctx).outcome == "review"
    # a field that is there but empty is still the applicant's to fill in
    empty = build(clean_set, "organization", fields={"quality_model": ""})
    assert one(empty, "fields.required", "empty").blocking and evaluate(empty).outcome == "incomplete"


# --------------------------------------------------------------------------- the loop: NEEDS_REVIEW, confirmation


@pytest.fixture()
def scanned_app(clean_set, tmp_path, sqlite_url, season, fake_now, lo_pdfs):  # type: ignore[no-untyped-def]
    """The clean organisation application in a fresh store, its PDF form a scan."""
    root, entry = clean_set["organization"]
    sub = tmp_path / "gen"
    keep = [f for f in entry["files"] if not f.endswith("-申报表.pdf")]
    for rel in keep:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, sub / rel)
    manifest = {"applications": [{**entry, "files": keep, "channel": "mail"}], "city_letters": {}}
    (sub / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    blobs = LocalBlobStore(tmp_path / "blobs")
    sessions = partial(session_scope, sqlite_url)
    with sessions() as session:
        (app_id,) = load_generated(session, blobs, season, sub).values()
        add_material(session, blobs, session.get(Application, app_id), "扫描-申报表.pdf",
                     scan_of(lo_pdfs["organization"]))
    return sessions, blobs, app_id


@needs_soffice
def test_staff_review_loop(scanned_app, season, fake_now, sqlite_url, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    sessions, blobs, app_id = scanned_app
    summary = run_checks(sessions, season, blobs.get_bytes)
    assert summary.outcomes == {"review": 1} and summary.mails_queued == 0
    with sessions() as session:
        app = session.get(Application, app_id)
        assert app.state == State.NEEDS_REVIEW.value and app.correction_due is None
        assert session.scalars(select(OutboxEmail)).all() == []  # no 补正 demand
        (row,) = report_frame(session, season).to_dict("records")
        assert row["state"] == "待人工核对" and "待人工核对：申报表 PDF 版" in row["problems"]
        with pytest.raises(ReviewError, match="note"):
            confirm_review(session, app, season, actor="鲁永武", note="")
        number = app.submission_no
    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    assert award_main(["review", number, "--actor", "鲁永武", "--note", "扫描件已与 Word 版逐项核对一致", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"submission_no": number, "state": "complete", "mail_queued": True}
    assert award_main(["review", number, "--actor", "鲁永武", "--note", "again", "--json"]) == 2
    assert "not needs_review" in json.loads(capsys.readouterr().out)["error"]
    with sessions() as session:
        assert session.get(Application, app_id).state == State.COMPLETE.value
    # new evidence, the same form files: checked again, the review still holds
    fake_now("2023-05-11T10:00:00")
    with sessions() as session:
        add_material(session, blobs, session.get(Application, app_id), "证实性材料9-补充.pdf", b"%PDF-1.4 more")
    assert run_checks(sessions, season, blobs.get_bytes).outcomes == {"review": 1}
    with sessions() as session:
        assert session.get(Application, app_id).state == State.COMPLETE.value
        assert "correction" not in {m.template for m in session.scalars(select(OutboxEmail))}
        confirmed = session.scalars(select(AuditEvent).where(AuditEvent.action == "review_confirmed")).all()
        assert [e.actor for e in confirmed] == ["鲁永武"]
    # a new scanned PDF: staff look again
    fake_now("2023-05-12T10:00:00")
    with sessions() as session:
        add_material(session, blobs, session.get(Application, app_id), "扫描2-申报表.pdf", b"%PDF-1.4\n%%EOF")
    run_checks(sessions, season, blobs.get_bytes)
    with sessions() as session:
        assert session.get(Application, app_id).state in (State.NEEDS_REVIEW.value, State.INCOMPLETE.value)
