"""`award intake release ITEM --actor NAME`: staff release a mail held for review (unknown sender)."""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``intake release``."""
    p = sub.add_parser("intake", help="收件 / intake")
    actions = p.add_subparsers(dest="action", required=True)
    r = actions.add_parser("release", help="release a mail held for review; the next intake run registers it")
    r.add_argument("item_id", type=int, help="the inbound item (named in the staff notice)")
    r.add_argument("--actor", required=True, help="who decides (recorded in the audit log)")
    add_json_flag(r)
    r.set_defaults(func=_release)


def _release(args: argparse.Namespace) -> int:
    from award.intake import ReleaseError, release_held
    from award.store import session_scope

    try:
        with session_scope(store_url()) as session:
            item = release_held(session, args.item_id, actor=args.actor)
            result = {"id": item.id, "status": item.status}
    except ReleaseError as exc:
        raise CliError(str(exc), field="item_id") from None
    emit(result, as_json=args.json, human=f"item {result['id']}: {result['status']}")
    return 0
