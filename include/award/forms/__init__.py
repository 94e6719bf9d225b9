"""The five application forms: field specs, Word templates, filling, parsing and PDF copies."""

from __future__ import annotations

from award.forms.docx_io import (
    build_all_templates,
    build_form_template,
    fill_form,
    fill_form_bytes,
    template_bytes,
)
from award.forms.parser import FieldProblem, ParsedForm, parse_document, parse_form, screen_docx
from award.forms.pdf import extract_pdf_fields, render_pdf_copy, render_pdf_copy_bytes
from award.forms.spec import (
    FORM_IDS,
    FieldSpec,
    FormError,
    FormSpec,
    all_forms,
    applicant_key,
    applicant_name,
    form_for_category,
    form_spec,
    normalize_label,
)

__all__ = [
    "FORM_IDS",
    "FieldProblem",
    "FieldSpec",
    "FormError",
    "FormSpec",
    "ParsedForm",
    "all_forms",
    "applicant_key",
    "applicant_name",
    "build_all_templates",
    "build_form_template",
    "extract_pdf_fields",
    "fill_form",
    "fill_form_bytes",
    "form_for_category",
    "form_spec",
    "normalize_label",
    "parse_document",
    "parse_form",
    "render_pdf_copy",
    "render_pdf_copy_bytes",
    "screen_docx",
    "template_bytes",
]
