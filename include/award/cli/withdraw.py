"""`award withdraw SUBMISSION_NO --actor NAME --reference TEXT [--request FILE]`: the applicant's written request."""

from __future__ import annotations

import argparse
from pathlib import Path

from award.cli.common import CliError, add_json_flag, emit, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``withdraw``."""
    p = sub.add_parser("withdraw", help="withdraw an application on the applicant's written request")
    p.add_argument("submission_no", help="the submission number, e.g. GS-2023-0017")
    p.add_argument("--actor", required=True, help="who records it (the audit log's actor)")
    p.add_argument("--reference", required=True, help="which written request: its date and how it came")
    p.add_argument("--request", type=Path, help="the written request itself (scan or .eml), archived first")
    add_json_flag(p)
    p.set_defaults(func=_withdraw)


def _withdraw(args: argparse.Namespace) -> int:
    from award.runtime import Runtime
    from award.store import session_scope
    from award.withdrawal import WithdrawalError, withdraw

    request = None
    if args.request is not None:
        try:
            request = (args.request.name, args.request.read_bytes())
        except OSError as exc:
            raise CliError(f"cannot read the request: {exc.strerror}", file=str(args.request)) from None
    store_url()  # no store: one line, exit 2, nothing created
    rt = Runtime.from_env()
    try:
        with session_scope(rt.db_url) as session:
            done = withdraw(session, rt, args.submission_no, actor=args.actor, reference=args.reference,
                            request_file=request)
    except WithdrawalError as exc:
        raise CliError(str(exc), field=str(exc).split(":", 1)[0]) from None
    emit({"submission_no": done.submission_no, "from_state": done.from_state, "changed": done.changed,
          "request_sha256": done.request_sha256}, as_json=args.json,
         human=f"{done.submission_no}: {done.from_state} -> withdrawn" if done.changed else
         f"{done.submission_no}: already withdrawn")
    return 0
