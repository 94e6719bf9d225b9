"""Rule ``consistency.form_pdf``: the PDF form says what the Word form says (key fields)."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, phrase
from award.identity import mask_id_number, mask_phone, normalize

if TYPE_CHECKING:
    from award.forms.spec import FormSpec


def consistency_keys(spec: FormSpec) -> list[str]:
    """The fields the Word and PDF forms must agree on: name, credit code or ID number, contact and phone."""
    keys = [spec.name_field, spec.code_field, *(k for k in ("contact",) if k in spec.keys)]
    keys += [f.key for f in spec.fields if f.type == "phone"]
    return list(dict.fromkeys(keys))


def _comparable(ftype: str, value: str) -> str:
    if ftype in ("credit_code", "id_number"):
        return normalize(value)
    if ftype == "phone":
        return re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).casefold()


def _shown(ftype: str, value: str) -> str:
    """A value as a finding may show it: ID numbers and phones masked."""
    if not value:
        return ""
    if ftype == "id_number":
        return mask_id_number(value)
    if ftype == "phone":
        return mask_phone(value)
    return value


def form_pdf(ctx: CheckContext) -> list[Finding]:
    """The PDF form says what the Word form says (key fields); a scan without text goes to staff review.

    The PDF is read as applicants make it (``award.forms.pdf.read_pdf_form``). A key field agrees when the
    PDF's value under its label matches the Word value, or, when the label was not found in the PDF, when the
    Word value is printed somewhere in it. ID numbers and phones are masked in the finding.
    """
    from award.forms import FormError  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path
    from award.forms.pdf import read_pdf_form  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

    pdf = ctx.latest("form_pdf")
    if pdf is None:
        return []  # materials.required reports it
    try:
        read = read_pdf_form(ctx.load_blob(pdf.sha256), name=pdf.filename)
    except FormError as exc:
        return [Finding("unreadable", {"filename": pdf.filename, "reason": exc.message})]
    if not read.text_layer:
        return [Finding("no_text_layer", {"filename": pdf.filename})]
    spec = ctx.form
    if read.category is not None and read.category != ctx.category:
        return [Finding("not_a_form", {"filename": pdf.filename})]
    out = []
    printed_fields = read.fields
    for key in consistency_keys(spec):
        word = ctx.fields.get(key, "")
        if not word:
            continue  # fields.required reports it
        ftype = spec.field(key).type
        printed = printed_fields.get(key, "")
        if printed and _comparable(ftype, printed) == _comparable(ftype, word):
            continue
        if not printed and read.contains(word):
            continue  # the label was not found in the PDF, but the value is printed in it
        if read.form is None and not any(read.contains(ctx.fields.get(k, "")) for k in consistency_keys(spec)):
            return [Finding("not_a_form", {"filename": pdf.filename})]
        out.append(Finding("differs", {"key": key, "label": spec.field(key).label, "word": _shown(ftype, word),
                                       "pdf": _shown(ftype, printed) or phrase("not_found")}))
    return out

