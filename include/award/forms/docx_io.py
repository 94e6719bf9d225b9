"""Writing the five forms as Word files: blank templates (python-docx) and filled copies.

A blank template is built once per (form, edition) with python-docx and cached; filling edits its
``word/document.xml`` with lxml, which is much faster than re-building the document. Output zips
have fixed timestamps, so the same input gives byte-identical files.

With a ``messiness`` rng the filled form imitates what applicants send: stray spaces, full-width
colons and asterisks in labels, labels split over several runs, full-width digits and other date
formats in values, extra blank rows, and merged / split / duplicated cells.
"""

from __future__ import annotations

import copy
import io
import random
import zipfile
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from lxml import etree

from award.forms.spec import FORM_IDS, FieldSpec, declaration_text, form_spec, label_index, normalize_label
from award.identity import parse_date

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W = f"{{{W_NS}}}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
ZIP_EPOCH = (2023, 1, 1, 0, 0, 0)
_FIXED_DT = datetime(2023, 1, 1, 0, 0, 0)
_FULLWIDTH_DIGITS = str.maketrans("0123456789-", "０１２３４５６７８９－")


def write_zip(entries: list[tuple[str, bytes]]) -> bytes:
    """Zip entries in the given order with fixed timestamps (deterministic output)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _rows(fields: tuple[FieldSpec, ...]) -> list[tuple[FieldSpec, ...]]:
    """Group fields into table rows: single fields, or two fields side by side."""
    rows: list[tuple[FieldSpec, ...]] = []
    i = 0
    while i < len(fields):
        f = fields[i]
        nxt = fields[i + 1] if i + 1 < len(fields) else None
        if f.pair_with_next and nxt is not None and "long_text" not in (f.type, nxt.type):
            rows.append((f, nxt))
            i += 2
        else:
            rows.append((f,))
            i += 1
    return rows


_KEEP_STYLES = {"Normal", "TableNormal", "TableGrid", "DefaultParagraphFont", "NoList"}
_DROP_RELS = ("stylesWithEffects", "thumbnail", "customXml")


def _slim(doc: DocumentObject) -> None:
    """Drop the default template's unused bulk (~800 kB of styles, a thumbnail): smaller, faster files."""
    for rels in (doc.part.rels, doc.part.package.rels):
        for rel in list(rels.values()):
            if rel.reltype.endswith(_DROP_RELS):
                del rels[rel.rId]
    styles = doc.styles.element
    latent = styles.find(qn("w:latentStyles"))
    if latent is not None:
        styles.remove(latent)
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:styleId")) not in _KEEP_STYLES:
            styles.remove(style)


@lru_cache(maxsize=16)
def blank_value(field: FieldSpec) -> str:
    """What a blank form shows in a field's value cell: every option of a choice field as a check box."""
    return "  ".join(f"\u2610{option}" for option in field.options) if field.type == "choice" else ""


def template_bytes(form_id: str, edition: str = "第五届") -> bytes:
    """The blank form as .docx bytes (built with python-docx, cached, deterministic)."""
    spec = form_spec(form_id)
    doc = Document()
    _slim(doc)
    props = doc.core_properties
    props.author = props.last_modified_by = ""
    props.title = spec.title(edition)
    props.created = props.modified = _FIXED_DT
    props.revision = 1

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(spec.title(edition))
    run.bold = True
    run.font.size = Pt(16)

    table = doc.add_table(rows=0, cols=4)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for group in _rows(spec.fields):
        cells = table.add_row().cells
        if len(group) == 2:
            cells[0].text, cells[2].text = group[0].label, group[1].label
            cells[1].text, cells[3].text = blank_value(group[0]), blank_value(group[1])
        else:
            cells[0].text = group[0].label
            cells[1].merge(cells[3]).text = blank_value(group[0])
    declaration, signature = declaration_text()
    doc.add_paragraph(declaration)
    doc.add_paragraph(signature)

    buf = io.BytesIO()
    doc.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return write_zip([(i.filename, zf.read(i)) for i in zf.infolist()])


def build_form_template(form_id: str, path: Path, *, edition: str = "第五届") -> None:
    """Write the blank .docx of a form (title, label|value table, declaration)."""
    Path(path).write_bytes(template_bytes(form_id, edition))


def build_all_templates(out_dir: Path, *, edition: str = "第五届") -> list[Path]:
    """Write the five blank forms as ``out_dir/form1.docx`` .. ``form5.docx``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for form_id in FORM_IDS:
        path = out_dir / f"{form_id}.docx"
        build_form_template(form_id, path, edition=edition)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- XML helpers


def _cell_text(tc: etree._Element) -> str:
    return "".join(t.text or "" for t in tc.iter(f"{W}t"))


def _set_runs(p: etree._Element, pieces: list[str]) -> None:
    for child in list(p):
        if child.tag != f"{W}pPr":
            p.remove(child)
    for piece in pieces:
        r = etree.SubElement(p, f"{W}r")
        t = etree.SubElement(r, f"{W}t")
        t.text = piece
        t.set(XML_SPACE, "preserve")


def _set_cell(tc: etree._Element, text: str, *, split_runs: random.Random | None = None) -> None:
    """Replace a cell's text (one paragraph per line; optionally split into several runs)."""
    paragraphs = tc.findall(f"{W}p")
    first = paragraphs[0]
    for extra in paragraphs[1:]:
        tc.remove(extra)
    lines = text.split("\n") if text else []
    if not lines:
        _set_runs(first, [])
        return
    anchor = first
    for n, line in enumerate(lines):
        p = first if n == 0 else copy.deepcopy(first)
        if n:
            anchor.addnext(p)
            anchor = p
        pieces = [line]
        if split_runs is not None and len(line) > 2:
            cut = split_runs.randint(1, len(line) - 1)
            pieces = [line[:cut], line[cut:]]
        _set_runs(p, pieces)


def _span(tc: etree._Element, n: int) -> None:
    tc_pr = tc.find(f"{W}tcPr")
    if tc_pr is None:
        tc_pr = etree.Element(f"{W}tcPr")
        tc.insert(0, tc_pr)
    grid = tc_pr.find(f"{W}gridSpan")
    if n <= 1:
        if grid is not None:
            tc_pr.remove(grid)
        return
    if grid is None:
        grid = etree.Element(f"{W}gridSpan")
        width = tc_pr.find(f"{W}tcW")
        tc_pr.insert(0 if width is None else tc_pr.index(width) + 1, grid)
    grid.set(f"{W}val", str(n))


def _vmerge(tc: etree._Element, restart: bool) -> None:
    tc_pr = tc.find(f"{W}tcPr")
    if tc_pr is None:
        tc_pr = etree.Element(f"{W}tcPr")
        tc.insert(0, tc_pr)
    vm = etree.SubElement(tc_pr, f"{W}vMerge")
    if restart:
        vm.set(f"{W}val", "restart")


def _blank_row(template_tr: etree._Element) -> etree._Element:
    tr = copy.deepcopy(template_tr)
    for tc in tr.findall(f"{W}tc"):
        _set_cell(tc, "")
    return tr


# --------------------------------------------------------------------------- messiness


def _messy_label(label: str, rng: random.Random) -> str:
    style = rng.randrange(6)
    if style == 0:
        return label + "："
    if style == 1:
        return " ".join(label) if len(label) <= 6 else label + " "
    if style == 2:
        return "*" + label
    if style == 3:
        return label + ":"
    if style == 4:
        return "＊" + label + "："
    return " " + label + "  "


def _messy_value(spec: FieldSpec, value: str, rng: random.Random) -> str:
    if not value:
        return value
    if spec.type == "date" and rng.random() < 0.6:
        try:
            d = parse_date(value)
        except ValueError:
            pass
        else:
            value = rng.choice([f"{d.year}年{d.month}月{d.day}日", f"{d:%Y.%m.%d}", f"{d:%Y/%m/%d}", f"{d.year}.{d.month}.{d.day}"])
    if spec.type in ("credit_code", "id_number", "phone", "date", "number") and rng.random() < 0.3:
        value = value.translate(_FULLWIDTH_DIGITS)
    if spec.type == "credit_code" and rng.random() < 0.15:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if spec.type == "id_number" and value.endswith("X") and rng.random() < 0.5:
        value = value[:-1] + "x"
    if spec.type in ("text", "email", "phone") and rng.random() < 0.2:
        value = " " + value + " "
    return value


def _mess_row(tr: etree._Element, rng: random.Random, n_label_cells: int) -> None:
    """Structural mess for a single-field row (label | value spanning 3 columns)."""
    tcs = tr.findall(f"{W}tc")
    if n_label_cells != 1 or len(tcs) != 2:
        return
    label, value = tcs
    roll = rng.random()
    if roll < 0.12:  # label and value each span two grid columns
        _span(label, 2)
        _span(value, 2)
    elif roll < 0.22:  # value split into the real value and an empty trailing cell
        tail = copy.deepcopy(value)
        _set_cell(tail, "")
        _span(value, 1)
        _span(tail, 2)
        value.addnext(tail)
    elif roll < 0.30:  # label cell duplicated (as some editors do when un-merging)
        dup = copy.deepcopy(label)
        label.addnext(dup)
        _span(value, 2)
    elif roll < 0.38:  # label merged vertically with an extra row below
        below = _blank_row(tr)
        b_label = below.findall(f"{W}tc")[0]
        _vmerge(label, restart=True)
        _vmerge(b_label, restart=False)
        tr.addnext(below)


# --------------------------------------------------------------------------- filling


@lru_cache(maxsize=16)
def _template_parts(form_id: str, edition: str) -> tuple[bytes, bytes]:
    """(zip of every template part except word/document.xml, the template's document.xml)."""
    with zipfile.ZipFile(io.BytesIO(template_bytes(form_id, edition))) as zf:
        entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    document = next(data for name, data in entries if name == "word/document.xml")
    return write_zip([(n, d) for n, d in entries if n != "word/document.xml"]), document


def fill_form_bytes(
    form_id: str,
    values: dict[str, str],
    *,
    messiness: random.Random | None = None,
    edition: str = "第五届",
) -> bytes:
    """The filled form as .docx bytes (see ``fill_form``)."""
    spec = form_spec(form_id)
    unknown = sorted(set(values) - set(spec.keys))
    if unknown:
        raise KeyError(f"{form_id} has no field(s) {', '.join(unknown)}")
    index = label_index(form_id)
    rng = messiness
    static_zip, document_xml = _template_parts(form_id, edition)
    root = etree.fromstring(document_xml)
    table = root.find(f".//{W}tbl")
    assert table is not None
    rows = table.findall(f"{W}tr")
    for tr in rows:
        tcs = tr.findall(f"{W}tc")
        n_labels = 0
        for i, tc in enumerate(tcs):
            key = index.get(normalize_label(_cell_text(tc)))
            if key is None:
                continue
            n_labels += 1
            fs = spec.field(key)
            value = str(values.get(key, "") or "")
            if rng is not None:
                value = _messy_value(fs, value, rng)
                if rng.random() < 0.35:
                    _set_cell(tc, _messy_label(fs.label, rng), split_runs=rng if rng.random() < 0.5 else None)
            _set_cell(tcs[i + 1], value)
        if rng is not None:
            _mess_row(tr, rng, n_labels)
            if rng.random() < 0.06:
                tr.addnext(_blank_row(rows[-1] if len(rows[-1].findall(f"{W}tc")) == 4 else tr))
    buf = io.BytesIO(static_zip)
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("word/document.xml", date_time=ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True))
    return buf.getvalue()


def fill_form(
    form_id: str,
    values: dict[str, str],
    path: Path,
    *,
    messiness: random.Random | None = None,
    edition: str = "第五届",
) -> None:
    """Write a filled form to ``path``; ``values`` maps field keys to text (unknown keys raise KeyError).

    With ``messiness`` (a seeded rng) the file gets realistic, parser-tolerable mess.
    """
    Path(path).write_bytes(fill_form_bytes(form_id, values, messiness=messiness, edition=edition))
