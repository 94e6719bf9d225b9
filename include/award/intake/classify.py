"""Classify a submission's files and choose its form (no database access).

Material kinds come from the file name (``award.intake.kinds``) and from the content: a .docx that parses as a
form is the form; an unnamed PDF whose text is a form copy is the PDF copy; a .doc/.wps form is converted with
LibreOffice (``award.intake.convert.convert_many``) and the converted .docx is the form.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import PurePosixPath

from award.forms import FormError, extract_pdf_fields, parse_document, parse_form
from award.intake.convert import convert_many
from award.intake.filetypes import CONTENT_TYPES, guess_content_type, sniff
from award.intake.keyentry import key_problem, stand_in_key
from award.intake.kinds import is_old_word, kind_by_name
from award.intake.submission import FileIn, Refused, Submission, norm_key
from award.templating import message_group

_IMAGES = frozenset({"png", "jpeg", "gif", "bmp", "tiff"})

_text = message_group("intake", "intake")


def classify(sub: Submission) -> None:
    """Set each file's kind; parse forms (.docx, and .doc/.wps after conversion)."""
    to_convert: dict[str, FileIn] = {}
    for f in sub.files:
        real = f.real = f.real or sniff(f.data)
        by_name = kind_by_name(f.name)
        f.content_type = _content_type(f.name, real)
        if real == "docx":
            f.kind = _docx_kind(sub, f, by_name)
        elif real == "pdf":
            f.kind = _pdf_kind(f, by_name)
        elif is_old_word(f.name, real):
            if by_name in (None, "form"):
                to_convert[f.name] = f
            else:
                f.kind = _named(by_name, "other")
        else:
            f.kind = _named(by_name, "evidence" if real in _IMAGES else "other")
    if to_convert:
        sub.files.extend(_convert_forms(sub, to_convert))
    sub.files = [f for f in sub.files if f.kind != "refused"]


def choose_form(sub: Submission) -> None:
    """Classify the files, parse the forms and choose the submission's form (the last one); a form of another
    applicant in the same submission is refused, and a form whose key cannot be read gets a stand-in key."""
    classify(sub)
    for f in sub.files:  # stored already: the batch does not hold their bytes until it is applied
        if f.uri is not None:
            f.data, f.document = b"", None
    forms = [f for f in sub.files if f.form is not None]
    form_file = forms[-1] if forms else None
    form = form_file.form if form_file else None
    for extra in forms[:-1]:
        if extra.form is not None and form is not None and norm_key(extra.form.key) != norm_key(form.key):
            sub.refused.append(Refused(extra.name, "several_applicants", _text(
                "several_applicants", name=PurePosixPath(extra.name).name,
                form_name=PurePosixPath(form_file.name).name), extra.item))  # type: ignore[union-attr]
            sub.files.remove(extra)
    if form is not None and form_file is not None and (problem := key_problem(form)) is not None:
        # registered under a stand-in key and sent to staff review, neither refused nor completed
        sub.stand_in, sub.key_problem = stand_in_key(form_file.sha256), problem
    sub.form_file, sub.form = form_file, form


def _named(by_name: str | None, otherwise: str) -> str:
    """The kind the file name gives, unless it names none or just "a form"."""
    return by_name if by_name is not None and by_name != "form" else otherwise


def _docx_kind(sub: Submission, f: FileIn, by_name: str | None) -> str:
    """A .docx: the form when it parses as one; refused when named a form and unreadable."""
    if by_name in (None, "form"):
        try:
            if f.document is not None:  # screened in unpack
                f.form = parse_document(f.document, filename=PurePosixPath(f.name).name)
            else:
                f.form = parse_form(f.data, filename=PurePosixPath(f.name).name)
            return "form_docx"
        except FormError as exc:
            if by_name == "form":
                sub.refused.append(Refused(f.name, "form_unreadable", _form_reason(f.name, exc), f.item))
                return "refused"
    return _named(by_name, "other")


def _pdf_kind(f: FileIn, by_name: str | None) -> str:
    """A PDF: the form copy when named so, or unnamed with a form's text; else what its name says."""
    if by_name == "form":
        return "form_pdf"
    if by_name is not None:
        return by_name
    return "form_pdf" if _is_form_copy(f.data) else "other"


def _convert_forms(sub: Submission, to_convert: dict[str, FileIn]) -> list[FileIn]:
    """Convert possible forms in old Word formats; the converted .docx forms (the originals are kept as "other").

    A file that cannot be converted is refused when it is named a form or the submission has no .docx form.
    """
    has_docx_form = any(f.kind == "form_docx" for f in sub.files)
    results = convert_many({n: f.data for n, f in to_convert.items()})
    converted: list[FileIn] = []
    for name, f in to_convert.items():
        out = results[name]
        if isinstance(out, bytes):
            try:
                form = parse_form(out, filename=PurePosixPath(name).name)
                # the original (.doc/.wps) is kept as "other"; the converted .docx is the form
                f.kind = "other"
                converted.append(FileIn(
                    _text("converted_name", stem=str(PurePosixPath(name).with_suffix(""))), out,
                    hashlib.sha256(out).hexdigest(),
                    f.item, "form_docx", form, guess_content_type("x.docx", out)))
                continue
            except FormError as exc:
                if kind_by_name(name) == "form":
                    sub.refused.append(Refused(name, "form_unreadable", _form_reason(name, exc), f.item))
                    f.kind = "refused"
                    continue
                f.kind = "other"
                continue
        if kind_by_name(name) == "form" or not has_docx_form:
            sub.refused.append(Refused(name, "conversion_failed", out.reason, f.item))
            f.kind = "refused"
        else:
            f.kind = "other"
    return converted


def _content_type(name: str, real: str) -> str:
    """``guess_content_type`` for a file whose type was sniffed already."""
    return CONTENT_TYPES.get(real) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _form_reason(name: str, exc: FormError) -> str:
    return _text("form_unreadable", name=PurePosixPath(name).name, problem=exc.message)


def _is_form_copy(data: bytes) -> bool:
    try:
        return bool(extract_pdf_fields(data))
    except Exception:  # noqa: BLE001 - any unreadable PDF is simply not a form copy
        return False
