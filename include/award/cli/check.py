"""`award check DIR --json`: one application's folder checked with the pipeline's rules under the current season.

Staff pre-check a USB stick before registering it. Prints ``{"category", "outcome", "findings": [{"rule",
"blocking", "message"}], "fields"}``; a file that cannot be read is a finding, never a crash. Exit 0 for any
verdict, 2 for bad usage (no such folder, a bad season file).
"""

from __future__ import annotations

import argparse
import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from award.cli.common import CliError, add_json_flag, emit
from award.enums import ApplicantKind, ApplicationChannel, CheckOutcome, State
from award.templating import message_group

_text = message_group("cli", "check")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``check``."""
    p = sub.add_parser("check", help="check one application's folder (completeness and eligibility)")
    p.add_argument("folder", help="a folder holding one application's files")
    p.add_argument("--channel", choices=["mail", "city"], default=None,
                   help="how it arrived (default: city when the folder is named after a recommending unit)")
    p.add_argument("--today", help="check as of this date (YYYY-MM-DD; default today, Asia/Shanghai)")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped season)")
    p.add_argument("--show-pii", action="store_true", help="print ID and phone numbers unmasked")
    add_json_flag(p)
    p.set_defaults(func=_check)


def _finding(rule: str, message: str, fix: str, *, blocking: bool = True) -> dict[str, Any]:
    return {"rule": rule, "blocking": blocking, "ineligible": False, "message": message, "fix": fix}


def check_folder(folder: Path, season: Any, *, channel: str | None = None, today: date | None = None,
                 show_pii: bool = False) -> dict[str, Any]:
    """The verdict on one application's folder (see the module docstring)."""
    from award.calendar import default_calendar
    from award.clock import now
    from award.completeness import CheckContext, evaluate
    from award.forms import FormError, parse_form
    from award.intake import kind_by_name
    from award.store.models import Applicant, Application, Material
    from award.units import unit_for_fields

    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    findings: list[dict[str, Any]] = []
    blobs: dict[str, bytes] = {}
    materials: list[tuple[str, str, str, int]] = []  # (kind, name, sha256, size)
    forms: list[tuple[str, Any]] = []
    for path in files:
        name = path.relative_to(folder).as_posix()
        try:
            data = path.read_bytes()
        except OSError as exc:
            findings.append(_finding("files.readable", _text("unreadable", filename=name, reason=exc.strerror or exc),
                                     _text("unreadable_fix")))
            continue
        sha = hashlib.sha256(data).hexdigest()
        blobs[sha] = data
        kind = kind_by_name(path.name) or "other"
        if kind == "form":
            suffix = path.suffix.lower()
            kind = "form_docx" if suffix == ".docx" else "form_pdf" if suffix == ".pdf" else "other"
        if kind == "form_docx":
            try:
                forms.append((name, parse_form(data, filename=name)))
            except FormError as exc:
                findings.append(_finding("files.readable", _text("unreadable", filename=name, reason=exc.message),
                                         _text("unreadable_fix")))
                continue
        materials.append((kind, name, sha, len(data)))
    if not forms:
        findings.append(_finding("materials.form", _text("no_form"), _text("no_form_fix")))
        return {"category": None, "outcome": "incomplete", "findings": findings, "fields": {}}
    if len(forms) > 1:
        findings.append(_finding("materials.form", _text("two_forms", count=len(forms),
                                                          names="、".join(n for n, _ in forms), used=forms[0][0]),
                                 "", blocking=False))
    parsed = forms[0][1]
    folder_unit = season.find_unit(folder.name) or season.find_unit(folder.parent.name)
    unit = folder_unit or unit_for_fields(season, parsed.fields)
    channel = channel or ("city" if folder_unit else "mail")
    at = now()
    app = Application(id=0, season=season.season_id, category=parsed.category, submission_no="(check)",
                      state=State.RECEIVED, channel=channel, channels=[channel],
                      city=(unit.city or unit.name) if (unit and channel == ApplicationChannel.CITY) else parsed.fields.get("city"),
                      fields=dict(parsed.fields))
    app.applicant = Applicant(kind=ApplicantKind.PERSON if parsed.category == "individual" else ApplicantKind.ORGANIZATION, key=parsed.key,
                              name=parsed.name)
    for i, (kind, name, sha, size) in enumerate(materials, start=1):
        app.materials.append(Material(id=i, kind=kind, filename=name, sha256=sha, size=size, source_channel=channel,
                                      storage_uri="check:", version=1, superseded_by_id=None,
                                      received_at=at + timedelta(microseconds=i)))
    ctx = CheckContext(application=app, season=season, calendar=default_calendar(tuple(season.calendar_overrides)),
                       load_blob=blobs.__getitem__, today=today or at.date())
    evaluation = evaluate(ctx)
    findings += [{"rule": r.rule_id, "blocking": r.blocking, "ineligible": r.ineligible, "message": r.message,
                  "fix": r.fix} for r in evaluation.results]
    outcome: str = evaluation.outcome
    if outcome == CheckOutcome.COMPLETE and any(f["blocking"] for f in findings):
        outcome = CheckOutcome.INCOMPLETE  # an unreadable file or a missing form blocks too
    return {"category": parsed.category, "outcome": outcome, "findings": findings,
            "fields": dict(ctx.fields) if show_pii else _masked(parsed.form_id, ctx.fields)}


def _masked(form_id: str, fields: dict[str, str]) -> dict[str, str]:
    """The fields with ID numbers and phone numbers masked (PII never in CLI output unless asked for)."""
    from award.forms.spec import form_spec
    from award.identity import mask_id_number, mask_phone

    types = {f.key: f.type for f in form_spec(form_id).fields}
    masks = {"id_number": mask_id_number, "phone": mask_phone}
    return {k: masks[types[k]](v) if v and types.get(k) in masks else v for k, v in fields.items()}


def _check(args: argparse.Namespace) -> int:
    from award.config import SeasonConfigError, load_season

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(_text("not_a_folder", path=args.folder), file=args.folder)
    try:
        season = load_season(args.season_file)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=args.season_file) from None
    today = None
    if args.today:
        try:
            today = datetime.strptime(args.today, "%Y-%m-%d").date()
        except ValueError:
            raise CliError(f"--today: {args.today!r} is not a date (YYYY-MM-DD)", field="today") from None
    result = check_folder(folder, season, channel=args.channel, today=today, show_pii=args.show_pii)
    lines = [f"{result['category'] or '-'}: {result['outcome']}"]
    lines += [f"  [{'×' if f['blocking'] else '!'}] {f['rule']}: {f['message']}" for f in result["findings"]]
    emit(result, as_json=args.json, human="\n".join(lines))
    return 0
