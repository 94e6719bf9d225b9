"""`award mail inspect FILE.eml`: decode a message and list its attachments (and zip members)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award mail`` and its ``inspect`` sub-command."""
    parser = sub.add_parser("mail", help="入站邮件工具 / inbound mail tools")
    mail_sub = parser.add_subparsers(dest="mail_command", required=True)
    inspect = mail_sub.add_parser("inspect", help="解码一封邮件并列出附件 / decode a message and list attachments")
    inspect.add_argument("file", help="an .eml file (raw RFC 5322 message)")
    add_json_flag(inspect)
    inspect.set_defaults(func=run_inspect)


def _refusal(ref: Any) -> dict[str, str]:
    return {"path": ref.path, "reason_code": ref.reason_code, "reason": ref.reason_text_zh}


def inspect_message(raw: bytes) -> dict[str, Any]:
    """The JSON document printed by ``award mail inspect``."""
    from award.inbound.mime import format_sender, parse_message
    from award.intake.filetypes import guess_content_type
    from award.intake.unzip import ArchiveLimits, check_standalone_file, expand, is_archive

    msg = parse_message(raw)
    limits = ArchiveLimits()
    attachments: list[dict[str, Any]] = []
    for att in msg.attachments:
        entry: dict[str, Any] = {
            "filename": att.filename,
            "size": att.size,
            "sha256": att.sha256,
            "content_type": att.content_type,
            "origin": att.origin,
            "members": [],
            "refusals": [],
        }
        if is_archive(att.filename, att.data):
            result = expand(att.data, att.filename, limits)
            entry["members"] = [
                {
                    "filename": m.path,
                    "size": m.size,
                    "sha256": m.sha256,
                    "content_type": guess_content_type(m.path, m.data),
                }
                for m in result.files
            ]
            entry["refusals"] = [_refusal(r) for r in result.refusals]
        else:
            refusal = check_standalone_file(att.filename, att.data, limits)
            if refusal is not None:
                entry["refusals"] = [_refusal(refusal)]
        attachments.append(entry)
    return {
        "subject": msg.subject,
        "from": format_sender(msg.sender_name, msg.sender_addr),
        "from_name": msg.sender_name,
        "from_addr": msg.sender_addr,
        "date": msg.date.isoformat() if msg.date else None,
        "message_id": msg.message_id,
        "attachments": attachments,
        "problems": msg.problems,
    }


def _human(doc: dict[str, Any]) -> str:
    lines = [f"主题: {doc['subject']}", f"发件人: {doc['from']}", f"日期: {doc['date'] or '-'}"]
    for att in doc["attachments"]:
        lines.append(f"附件: {att['filename']}  {att['size']} 字节  {att['content_type']}  [{att['origin']}]")
        for m in att["members"]:
            lines.append(f"    {m['filename']}  {m['size']} 字节")
        for r in att["refusals"]:
            lines.append(f"    拒收 {r['path']} ({r['reason_code']}): {r['reason']}")
    for p in doc["problems"]:
        lines.append(f"problem: {p}")
    return "\n".join(lines)


def run_inspect(args: argparse.Namespace) -> int:
    """Read the file named on the command line and print what it contains."""
    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CliError(f"file not found: {path}", file=str(path)) from exc
    except OSError as exc:
        raise CliError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
    doc = inspect_message(raw)
    emit(doc, as_json=args.json, human=_human(doc))
    return 0
