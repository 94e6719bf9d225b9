"""`award parse FILE`: read a filled application form (.docx, .doc, .wps or .pdf) and print its fields and problems.

A .doc or .wps form is converted with LibreOffice first (``award.intake.convert``). For a PDF the output says whether
the file has a text layer (a scan has none) and gives the fields it could read. ID numbers and phones are
masked unless ``--show-pii``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from award.cli.common import CliError, add_json_flag, emit

FORMATS = (".docx", ".doc", ".wps", ".pdf")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award parse``."""
    p = sub.add_parser("parse", help="解析申报表 (.docx/.doc/.wps/.pdf)：输出字段与问题 / parse an application form")
    p.add_argument("file", type=Path, help="the form: .docx, .doc, .wps or .pdf")
    p.add_argument("--show-pii", action="store_true", help="print ID numbers and phones unmasked")
    add_json_flag(p)
    p.set_defaults(func=run)


def _read(path: Path) -> dict[str, Any]:
    """The parse result of one file as a JSON-able dict (unmasked)."""
    from award.forms import FormError, parse_form
    from award.forms.pdf import read_pdf_form
    from award.intake.convert import ConversionError, to_docx

    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix == ".pdf":
        pdf = read_pdf_form(data, name=path.name)
        out: dict[str, Any] = {"form_id": pdf.form_id, "category": pdf.category, "text_layer": pdf.text_layer,
                               "fields": pdf.fields, "problems": [], "missing": []}
        if pdf.form is not None:
            parsed = pdf.form.as_dict()
            out["problems"], out["missing"] = parsed["problems"], parsed["missing"]
        return out
    if suffix in (".doc", ".wps"):
        try:
            data = to_docx(data, path.name)
        except ConversionError as exc:
            raise FormError(exc.reason, file=path.name) from None
    return {"text_layer": True, **parse_form(data, filename=path.name).as_dict()}


def run(args: argparse.Namespace) -> int:
    """Parse the form; a corrupt, hostile or unsupported file is a CliError (exit 2) naming the file and reason."""
    from award.desk.queries import masked_fields
    from award.forms import FormError

    path: Path = args.file
    if not path.is_file():
        raise CliError("file not found", file=str(path))
    if path.suffix.lower() not in FORMATS:
        raise CliError(f"unsupported file type {path.suffix or '(none)'}: expected {', '.join(FORMATS)}",
                       file=str(path))
    try:
        result = _read(path)
    except FormError as exc:
        raise CliError(exc.message, file=str(path), field=exc.field) from None
    result["fields"] = masked_fields(result["fields"], args.show_pii)
    data = {"file": str(path), "format": path.suffix.lower().lstrip("."), **result}
    head = f"{path}: {data['form_id'] or 'form not recognised'} ({data['category'] or '-'})"
    lines = [head + ("" if data["text_layer"] else ", no text layer (a scan): nothing to read")]
    lines += [f"  {k}: {v}" for k, v in data["fields"].items()]
    lines += [f"  ? {m['label']} ({m['field']}): not found" for m in data["missing"]]
    lines += [f"  ! {p['label']} ({p['field']}): {p['message']}" for p in data["problems"]] or ["  no problems"]
    emit(data, as_json=args.json, human="\n".join(lines))
    return 0
