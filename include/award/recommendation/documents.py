"""The documents of the package: the two letters, the summary table (Word and Excel), the internal ranking sheet,
the postal cover sheet, and the national mail's sender line.

The letters and the cover sheet are rendered as YAML from their templates (templates/recommendation/) and laid out
by ``award.officialdoc`` (GB/T 9704-2012); file names and labels come from templates/recommendation/package.yaml.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from award.config import Season
from award.officialdoc import OfficialDocument
from award.recommendation.package import PackageError, package_texts
from award.recommendation.proposal import Candidate
from award.seasonfile import yaml_load
from award.templating import cn_date, message_group, render, render_text

_text = message_group("recommendation", "package")


LETTER_TEMPLATES = {"recommendation": "recommendation/recommendation_letter.yaml.j2",
                    "audit_opinion": "recommendation/audit_opinion.yaml.j2"}


def letter_text(season: Season, *, doc_number: str, when: date, org_count: int, person_count: int,
                kind: str = "recommendation") -> dict[str, Any]:
    """One letter's text: 推荐函 (``recommendation``, the leadership group's 推荐意见) or 审核意见
    (``audit_opinion``, the provincial market-regulation bureau's), from its template; issuer, signature and,
    when the season gives them, title and body wording come from ``season.letters``."""
    letters = season.package_letters
    spec = getattr(letters, kind)
    unit = season.recommending_unit
    context = {
        "spec": spec, "doc_number": doc_number, "edition": season.award.edition, "award": season.award.name,
        "recipient": season.national.recipient_name, "province": season.province.name,
        "audit_issuer": letters.audit_opinion.issuer, "recommendation_issuer": letters.recommendation.issuer,
        "org_count": org_count, "person_count": person_count, "date": when,
        "min_workdays": season.publicity.min_workdays, "contact": unit.contact, "phone": unit.phone,
    }
    text: dict[str, Any] = yaml_load(render(LETTER_TEMPLATES[kind], **context))
    if spec.title:
        text["title"] = render_text(spec.title, **context)
    if spec.body:
        text["body"] = [render_text(p, **context) for p in spec.body]
    return text


def write_letter(path: Path, season: Season, *, doc_number: str, when: datetime, org_count: int,
                 person_count: int, kind: str = "recommendation") -> None:
    """推荐函 or 审核意见 as .docx in the GB/T 9704-2012 layout (award.officialdoc)."""
    t = letter_text(season, doc_number=doc_number, when=when.date(), org_count=org_count,
                    person_count=person_count, kind=kind)
    doc = OfficialDocument(title=t["title"], when=when)
    doc.letterhead(t["issuer"], t["doc_number"])
    doc.heading(t["title"])
    doc.addressee(t["recipient"])
    doc.body(t["body"])
    doc.closing(attachments=t["attachments"], signature=t["signature"], date=t["date"], note=t["contact"])
    doc.save(path)


def summary_header(season: Season) -> list[str]:
    """The 汇总表's column headers: the season's columns, labelled by the season or the catalogue."""
    labels = package_texts()["summary"]["labels"]
    return [c.label or labels[c.field] for c in season.national.summary_columns]


def _summary_rows(season: Season, candidates: list[Candidate]) -> list[list[Any]]:
    """One row per candidate with the season's columns (no scores, no award tier: 附件8 describes candidates)."""
    values = {
        "nn": lambda c: c.nn, "name": lambda c: c.name, "category": lambda c: c.category_label,
        "city": lambda c: c.city, "work_unit": lambda c: c.work_unit,
        "recommending_unit": lambda c: c.recommending_unit, "contact": lambda c: c.contact,
        "phone": lambda c: c.phone, "code": lambda c: c.code, "submission_no": lambda c: c.submission_no,
    }
    return [[values[col.field](c) for col in season.national.summary_columns] for c in candidates]


# column widths in mm for the landscape summary table, scaled to the type area (243 mm) for any column set
SUMMARY_BASE_WIDTHS_MM = {"nn": 12, "name": 52, "category": 30, "city": 22, "work_unit": 40,
                          "recommending_unit": 36, "contact": 18, "phone": 33, "code": 48, "submission_no": 28}
SUMMARY_TYPE_AREA_MM = 243
SUMMARY_ONE_LINE = frozenset({"nn", "phone", "code", "submission_no"})  # codes and numbers never wrap in a cell
XLSX_WIDTHS = {"nn": 6, "name": 36, "category": 24, "city": 12, "work_unit": 28, "recommending_unit": 26,
               "contact": 10, "phone": 16, "code": 24, "submission_no": 16}


def summary_widths_mm(season: Season) -> list[float]:
    base = [SUMMARY_BASE_WIDTHS_MM[c.field] for c in season.national.summary_columns]
    return [round(w * SUMMARY_TYPE_AREA_MM / sum(base), 1) for w in base]


def _summary_fmt(season: Season, when: datetime) -> dict[str, str]:
    return {"edition": season.award.edition, "award": season.award.name, "unit": season.recommending_unit.name,
            "date": cn_date(when)}


def write_summary_docx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (附件8, .docx, landscape A4, award.officialdoc page set-up)."""
    texts = package_texts()["summary"]
    fmt = _summary_fmt(season, when)
    title = texts["title"].format(**fmt)
    doc = OfficialDocument(title=title, when=when, landscape=True)
    doc.paragraph(title, role="title", align="center")
    doc.paragraph(texts["unit_line"].format(**fmt) + "　　" + texts["date_line"].format(**fmt), align="left",
                  size=14)
    one_line = [i for i, c in enumerate(season.national.summary_columns) if c.field in SUMMARY_ONE_LINE]
    doc.table([summary_header(season), *_summary_rows(season, candidates)], widths_mm=summary_widths_mm(season),
              one_line=one_line)
    doc.save(path)


def write_summary_xlsx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (附件8, .xlsx): title row, unit/date row, header row, one row per candidate."""
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads only when a workbook is written
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415 - as above

    texts = package_texts()["summary"]
    fmt = _summary_fmt(season, when)
    wb = Workbook()
    ws = wb.active
    ws.title = texts["sheet"]
    columns = summary_header(season)
    ws.append([texts["title"].format(**fmt)])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([texts["unit_line"].format(**fmt) + "    " + texts["date_line"].format(**fmt)])
    ws.append(columns)
    for row in _summary_rows(season, candidates):
        ws.append(row)
    for i, col in enumerate(season.national.summary_columns, start=1):
        letter = ws.cell(row=3, column=i).column_letter
        ws.column_dimensions[letter].width = XLSX_WIDTHS[col.field]
        if col.field in ("phone", "code", "submission_no"):  # stay text (no scientific notation)
            for (cell,) in ws.iter_rows(min_row=4, min_col=i, max_col=i):
                cell.number_format = "@"
    wb.properties.created = wb.properties.modified = when.replace(microsecond=0, tzinfo=None)
    wb.save(str(path))


def write_ranking_sheet(path: Path, season: Season, rows: list[dict[str, Any]], when: datetime) -> None:
    """内部排序表 for the leadership group: every ranked application with its score, priority basis and place.

    Internal: it is never zipped, copied to the disc folder, uploaded to the national location or mailed.
    """
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads only when a workbook is written
    from openpyxl.styles import Font  # noqa: PLC0415 - as above

    texts = package_texts()["ranking_sheet"]
    wb = Workbook()
    ws = wb.active
    ws.title = texts["sheet"]
    ws.append([texts["title"].format(edition=season.award.edition, award=season.award.name)])
    ws["A1"].font = Font(size=14, bold=True)
    ws.append(texts["columns"])
    for r in rows:
        label = season.category(r["category"]).label
        ws.append([texts["groups"].get(r["group"], r["group"]), r["rank"], r["submission_no"], r["name"], label,
                   r.get("city") or "", r["score"], r["priority_basis"],
                   texts["placements"].get(r["placement"] or "none", r["placement"]), r["state"]])
    wb.properties.created = wb.properties.modified = when.replace(microsecond=0, tzinfo=None)
    wb.save(str(path))


def cover_sheet_text(season: Season, *, version: int, count: int, volumes: int) -> dict[str, Any]:
    """The postal cover sheet's text (templates/recommendation/cover_sheet.yaml.j2)."""
    texts = package_texts()
    sheet: dict[str, Any] = yaml_load(render(
        "recommendation/cover_sheet.yaml.j2", edition=season.award.edition, award=season.award.name, version=version,
        national=season.national, unit=season.recommending_unit, contact=mail_contact(season),
        mobile=season.national.contact_mobile, count=count, copies=texts["print"]["copies"],
        disc_dir=texts["disc_dir"], volumes=volumes,
    ))
    return sheet


def write_cover_sheet(path: Path, season: Season, *, version: int, count: int, volumes: int,
                      when: datetime) -> None:
    """邮寄封面 (.docx): the secretariat's postal address, the sender, and what the parcel holds."""
    t = cover_sheet_text(season, version=version, count=count, volumes=volumes)
    doc = OfficialDocument(title=t["title"], when=when)
    doc.paragraph(t["title"], role="title", align="center")
    doc.blank()
    for line in t["lines"]:
        doc.paragraph(line, align="left")
    doc.save(path)


def mail_sender(season: Season) -> str:
    """推荐单位名称 of the national mail's subject."""
    return season.national.sender_name or season.recommending_unit.name


def mail_contact(season: Season) -> str:
    """联系人 of the national mail's subject."""
    return season.national.contact_name or season.recommending_unit.contact


def mail_subject_base(season: Season) -> str:
    """推荐单位名称+联系人+手机号码; PackageError when the season has no mobile number for it."""
    if not season.national.contact_mobile:
        raise PackageError(_text("mobile_missing"))
    return f"{mail_sender(season)}+{mail_contact(season)}+{season.national.contact_mobile}"
