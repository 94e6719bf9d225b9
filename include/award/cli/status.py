"""`award status`: applications per state for the current season; `award db upgrade`; `award states`."""

from __future__ import annotations

import argparse
from typing import Any

from award.cli.common import CliError, add_json_flag, emit, season_from, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``status``, ``db`` and ``states``."""
    p = sub.add_parser("status", help="applications per state for the current season")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    add_json_flag(p)
    p.set_defaults(func=_status)

    db = sub.add_parser("db", help="domain store migrations")
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("--url", help="SQLAlchemy URL (default $AWARD_DB_URL or the SQLite file)")
    add_json_flag(db)
    db.set_defaults(func=_db)

    st = sub.add_parser("states", help="the application state machine")
    st.add_argument("--mermaid", action="store_true", help="print the diagram as Mermaid")
    add_json_flag(st)
    st.set_defaults(func=_states)


def _status(args: argparse.Namespace) -> int:
    from sqlalchemy import func, inspect, select

    from award.states import LABELS_ZH, State
    from award.store import session_scope
    from award.store.db import get_engine
    from award.store.models import Application
    from award.templating import message_group

    _text = message_group("cli", "status")
    url = store_url()
    if not inspect(get_engine(url)).has_table(Application.__tablename__):
        raise CliError(_text("not_migrated", where=url.split("@")[-1]))
    season = season_from(args)
    with session_scope(url) as session:
        rows = session.execute(
            select(Application.state, func.count()).where(Application.season == season.season_id)
            .group_by(Application.state)
        ).all()
    counts: dict[str, int] = {state: n for state, n in rows}
    data: dict[str, Any] = {"season": season.season_id, "total": sum(counts.values()),
                            "states": {s.value: counts.get(s.value, 0) for s in State if counts.get(s.value)}}
    title = _text("title", edition=season.award.edition, award=season.award.name, season=season.season_id,
                 total=data["total"])
    human = "\n".join([title] + [f"  {LABELS_ZH[State(s)]:<12} {s:<20} {n}" for s, n in data["states"].items()])
    emit(data, as_json=args.json, human=human)
    return 0


def _db(args: argparse.Namespace) -> int:
    from award.store.db import default_url, migrate

    url = args.url or default_url()
    migrate(url)
    emit({"upgraded": True, "url": url.split("@")[-1]}, as_json=args.json, human="domain store at head")
    return 0


def _states(args: argparse.Namespace) -> int:
    from award.states import LABELS_ZH, TRANSITIONS, mermaid

    if args.mermaid:
        print(mermaid())
        return 0
    emit({s.value: {"label": LABELS_ZH[s], "to": sorted(t.value for t in ts)} for s, ts in TRANSITIONS.items()},
         as_json=args.json)
    return 0
