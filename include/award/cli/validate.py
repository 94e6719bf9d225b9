"""`award validate credit-code CODE` / `award validate id-number NUMBER`: check one identifier."""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit

_KINDS = ("credit-code", "id-number", "phone", "email")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award validate``."""
    p = sub.add_parser("validate", help="校验统一社会信用代码/身份证号码 / validate an identifier")
    kinds = p.add_subparsers(dest="kind", required=True)
    for kind in _KINDS:
        k = kinds.add_parser(kind, help=f"validate a {kind.replace('-', ' ')}")
        k.add_argument("value", help="the value to check (full-width and spaces are tolerated)")
        add_json_flag(k)
        k.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print ``{"valid", "normalized", "reason"}``; exit 0 even when invalid, 2 for empty input."""
    from award import identity

    value: str = args.value
    if not value.strip():
        raise CliError("empty value", field=args.kind)
    check = {
        "credit-code": identity.validate_credit_code,
        "id-number": identity.validate_id_number,
        "phone": identity.validate_phone,
        "email": identity.validate_email,
    }[args.kind]
    result = check(value)
    data = {"valid": result.valid, "normalized": result.normalized, "reason": result.reason}
    human = ("valid" if result.valid else f"invalid: {result.reason}") + f" ({result.normalized})"
    emit(data, as_json=args.json, human=human)
    return 0
