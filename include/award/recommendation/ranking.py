"""The ranking under the province's quota, per group, once every score of the group is in.

Ranking (per group, ``season.categories[c].group``) is documented in docs/ranking.md: one ranked list per group
under the 附件7 quota (``quotas.<group>.places``); the province does not choose between 中国质量奖 and 提名奖 (the
national committee does). Winners of the provincial government quality award and of its nomination award come
first (recorded with award and year), then score descending, then the earlier complete submission, then the
submission number; the line is never stretched for a tie (see ``rank_group``). A group is ranked only when
every on-time application of it has reached a final state before ranking (scored, or refused/withdrawn/removed),
so an application still on its way can never be left out behind a ranked list. The scores come from
``award.recommendation.scores``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from award.config import PriorityWinner, Quota, Season
from award.runtime import Runtime
from award.states import TERMINAL, State, audit, transition
from award.store.models import Applicant, Application, ReviewScore
from award.templating import message_group

_text = message_group("recommendation", "ranking")


ACTOR = "recommendation"
RANKED = (
    State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_OBJECTION, State.CANDIDATE_CONFIRMED,
    State.RECOMMENDED, State.EXPORTED, State.NOT_RECOMMENDED,
)
# an on-time application in any other non-final state is still on its way to a score: its group waits for it
# (derived from the state machine, so a state added before ranking is waited for too)
ON_THE_WAY = tuple(s for s in State if s not in TERMINAL and s not in RANKED and s != State.REVIEWED)


@dataclass(frozen=True)
class RankInput:
    """What the ranking looks at for one application."""

    application_id: int
    submission_no: str
    score: float
    priority: bool
    complete_at: datetime


@dataclass(frozen=True)
class Ranked:
    """One application's place in its group."""

    application_id: int
    submission_no: str
    rank: int
    placement: str  # candidate (within the quota) | none
    score: float
    priority: bool
    tie_at_line: bool = False  # same priority and score as someone on the other side of the quota line


def rank_key(entry: RankInput) -> tuple[Any, ...]:
    """The sort key: priority winners first, higher score, earlier complete submission, submission number."""
    return (not entry.priority, -entry.score, entry.complete_at, entry.submission_no)


def rank_group(entries: Sequence[RankInput], quota: Quota) -> list[Ranked]:
    """Rank one group into one list and mark the first ``quota.places`` as candidates (no award tier).

    Ties are broken by ``rank_key`` so the order is total; the quota is a hard cap, so a tie straddling the
    line is never resolved by giving both places (nor by leaving a place empty): the tie-breakers decide and
    the entries on both sides of the line are flagged ``tie_at_line`` for the leadership group to see.
    """
    ordered = sorted(entries, key=rank_key)
    line = quota.places
    out: list[Ranked] = []
    for i, entry in enumerate(ordered):
        placement = "candidate" if i < line else "none"
        tie = False
        if 0 < line < len(ordered):
            above, below = ordered[line - 1], ordered[line]
            if (above.priority, above.score) == (below.priority, below.score) == (entry.priority, entry.score):
                tie = True
        out.append(Ranked(entry.application_id, entry.submission_no, i + 1, placement, entry.score,
                          entry.priority, tie))
    return out


@dataclass
class RankingResult:
    """What ``rank`` did, per group."""

    groups: dict[str, list[Ranked]] = field(default_factory=dict)

    @property
    def candidates(self) -> list[int]:
        return [r.application_id for g in self.groups.values() for r in g if r.placement != "none"]

    @property
    def not_recommended(self) -> list[int]:
        return [r.application_id for g in self.groups.values() for r in g if r.placement == "none"]


class RankingError(ValueError):
    """The ranking cannot run (e.g. an application still waits for its score); nothing was changed."""


def priority_keys(season: Season) -> set[str]:
    """The keys (credit codes / ID numbers) of provincial quality award winners, upper-case."""
    return {w.key.strip().upper() for w in season.priority_winners}


def priority_winner(season: Season, key: str) -> PriorityWinner | None:
    """The season's entry (award and year) for a provincial quality award winner's key, if it is one."""
    wanted = key.strip().upper()
    return next((w for w in season.priority_winners if w.key.strip().upper() == wanted), None)


def priority_label(winner: PriorityWinner | None) -> str:
    """“2021年某省人民政府质量奖” (year and award from the season) for the internal ranking sheet and the approval step; empty when none."""
    return _text("priority_label", year=winner.year, award=winner.award) if winner else ""


def _complete_at(app: Application) -> datetime:
    """When the complete application was in: its last material change (a correction), else its receipt."""
    return app.changed_at or app.received_at


def rank(session: Session, rt: Runtime, *, actor: str = ACTOR) -> RankingResult:
    """Rank every REVIEWED application of the season per group and move it to CANDIDATE / NOT_RECOMMENDED.

    A group waits (RankingError, nothing changed) while any of its on-time applications is still on its way to a
    score (``ON_THE_WAY``: in completeness, department review, publicity, or publicity passed without a score),
    so no application is ever left out of the list. Once a group is ranked its list is final.
    """
    season = rt.season
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id).options(selectinload(Application.applicant))
    ).all()
    scores = {
        s.application_id: s
        for s in session.scalars(select(ReviewScore).where(ReviewScore.season == season.season_id))
    }
    winners = priority_keys(season)
    result = RankingResult()
    for group in ("organization", "individual"):
        members = [a for a in apps if season.category(a.category).group == group]
        reviewed = [a for a in members if a.state == State.REVIEWED.value]
        if not reviewed:
            continue
        waiting = sorted((a.submission_no, a.state) for a in members if State(a.state) in ON_THE_WAY)
        if waiting:
            raise RankingError(_text("waiting", group=group, waiting=[f"{n}（{s}）" for n, s in waiting]))
        ranked_before = sorted(a.submission_no for a in members if State(a.state) in RANKED and a.id in scores)
        if ranked_before:
            raise RankingError(_text("already_ranked", group=group, ranked=ranked_before[:5],
                                     reviewed=sorted(a.submission_no for a in reviewed)))
        entries = []
        basis: dict[int, PriorityWinner | None] = {}
        for app in reviewed:
            basis[app.id] = priority_winner(season, app.applicant.key)
            prio = basis[app.id] is not None or app.applicant.key.strip().upper() in winners
            app.priority = prio
            entries.append(RankInput(app.id, app.submission_no, scores[app.id].score, prio, _complete_at(app)))
        ranked = rank_group(entries, season.quotas[group])
        by_id = {a.id: a for a in reviewed}
        for r in ranked:
            app = by_id[r.application_id]
            row = scores[r.application_id]
            row.rank, row.placement, row.priority = r.rank, r.placement, r.priority
            winner = basis[r.application_id]
            details = {"group": group, "rank": r.rank, "placement": r.placement, "score": r.score,
                       "priority": r.priority, "tie_at_line": r.tie_at_line,
                       "priority_award": winner.award if winner else None,
                       "priority_year": winner.year if winner else None}
            if r.placement == "none":
                transition(session, app, State.NOT_RECOMMENDED, actor=actor, reason=_text("audit.outside_quota"),
                           details=details)
            else:
                transition(session, app, State.CANDIDATE, actor=actor, reason=_text("audit.within_quota"),
                           details=details)
        audit(session, actor=actor, entity_type="ranking", entity_id=None, action="rank",
              reason=_text("audit.ranked", group=group), details={"group": group, "quota": season.quotas[group].model_dump(),
                                                  "order": [r.submission_no for r in ranked]})
        result.groups[group] = ranked
    session.flush()
    return result


def ranking_table(session: Session, season: Season) -> list[dict[str, Any]]:
    """The current ranking as rows (for reports and the approval step; no ID numbers or phones)."""
    rows = session.execute(
        select(ReviewScore, Application, Applicant)
        .join(Application, ReviewScore.application_id == Application.id)
        .join(Applicant, Application.applicant_id == Applicant.id)
        .where(ReviewScore.season == season.season_id, ReviewScore.rank.is_not(None))
        .order_by(ReviewScore.group, ReviewScore.rank)
    ).all()
    return [
        {"group": s.group, "rank": s.rank, "placement": s.placement, "score": s.score, "priority": s.priority,
         "priority_basis": priority_label(priority_winner(season, p.key)), "submission_no": a.submission_no,
         "name": p.name, "category": a.category, "city": a.city or p.city or "", "state": a.state}
        for s, a, p in rows
    ]


def new_candidates(session: Session, rt: Runtime) -> int:
    """How many applications of the season are CANDIDATE: within the quota, their candidate publicity not begun."""
    return int(session.scalar(select(func.count()).select_from(Application).where(
        Application.season == rt.season.season_id, Application.state == State.CANDIDATE)) or 0)
