"""Ranking under the quota: one list per group (no award tier), priority winners, ties, empty groups, a quota larger
than the list, and a group that waits for every on-time application (none is stranded)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from award.clock import TZ
from award.config import Quota
from award.recommendation.ranking import RankingError, RankInput, rank, rank_group, ranking_table
from award.states import State, transition
from award.store import session_scope
from award.store.models import Application, AuditEvent, ReviewScore

from .factory import make_app

T0 = datetime(2023, 5, 1, 9, 0, tzinfo=TZ)


def entry(no: str, score: float, *, priority: bool = False, minutes: int = 0) -> RankInput:
    return RankInput(hash(no) % 10000, no, score, priority, T0 + timedelta(minutes=minutes))


def test_priority_first_then_score_then_time_then_number() -> None:
    entries = [
        entry("GS0005", 90),
        entry("GS0004", 95),
        entry("GS0003", 70, priority=True),
        entry("GS0002", 90, minutes=-10),  # same score as GS0005, complete earlier
        entry("GS0001", 90),  # same score and time as GS0005: the submission number decides
    ]
    ranked = rank_group(entries, Quota(places=3))
    assert [r.submission_no for r in ranked] == ["GS0003", "GS0004", "GS0002", "GS0001", "GS0005"]
    assert [r.placement for r in ranked] == ["candidate", "candidate", "candidate", "none", "none"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]


def test_tie_straddling_the_line_is_broken_not_stretched_and_flagged() -> None:
    entries = [entry("GS0001", 80), entry("GS0002", 88, minutes=5), entry("GS0003", 88, minutes=1)]
    ranked = rank_group(entries, Quota(places=1))
    by_no = {r.submission_no: r for r in ranked}
    assert by_no["GS0003"].placement == "candidate"  # earlier complete submission wins the last place
    assert by_no["GS0002"].placement == "none"  # the quota is a hard cap: no extra place for the tie
    assert by_no["GS0003"].tie_at_line and by_no["GS0002"].tie_at_line
    assert not by_no["GS0001"].tie_at_line


def test_quota_larger_than_list_and_empty() -> None:
    ranked = rank_group([entry("GS0001", 50), entry("GS0002", 60)], Quota(places=6))
    assert [r.placement for r in ranked] == ["candidate", "candidate"]
    assert rank_group([], Quota(places=6)) == []


def test_several_priority_winners_are_ordered_by_score() -> None:
    entries = [entry("GS0001", 99), entry("GS0002", 60, priority=True), entry("GS0003", 65, priority=True)]
    ranked = rank_group(entries, Quota(places=2))
    assert [(r.submission_no, r.placement) for r in ranked] == [
        ("GS0003", "candidate"), ("GS0002", "candidate"), ("GS0001", "none")]


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 3)), max_size=12),
       st.integers(0, 8))
def test_places_never_exceed_quota_and_order_is_total(rows, places) -> None:  # type: ignore[no-untyped-def]
    entries = [entry(f"GS{i:04d}", float(s), priority=p, minutes=m) for i, (s, p, m) in enumerate(rows)]
    ranked = rank_group(entries, Quota(places=places))
    assert {r.placement for r in ranked} <= {"candidate", "none"}  # no award tier: the national committee chooses
    assert sum(r.placement == "candidate" for r in ranked) == min(places, len(entries))
    assert sorted(r.rank for r in ranked) == list(range(1, len(entries) + 1))
    keys = [(not r.priority, -r.score) for r in ranked]
    assert keys == sorted(keys)
    assert ranked == rank_group(list(reversed(entries)), Quota(places=places))


def test_rank_in_store_moves_states_per_group(db_url, make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(db_url)
    season = rt.season
    winner_key = season.priority_winners[0].key
    with session_scope(db_url) as s:
        made = [make_app(s, season, rt.blobs, n=i, state=State.REVIEWED, score=score, materials=False,
                         complete_minutes=i)
                for i, score in enumerate([91, 85, 85, 80, 70, 60, 50], start=1)]
        made.append(make_app(s, season, rt.blobs, n=8, key=winner_key, state=State.REVIEWED, score=40,
                             materials=False))
        made.append(make_app(s, season, rt.blobs, n=9, category="team", state=State.REVIEWED, score=99,
                             materials=False, key="91330100MA0000009X/质量攻关QC小组"))
    # organization group: 6 places out of 9 (附件7); individuals: empty group
    with session_scope(db_url) as s:
        result = rank(s, rt)
    assert set(result.groups) == {"organization"}
    order = [r.submission_no for r in result.groups["organization"]]
    assert order[0] == made[7].submission_no  # the priority winner first despite the lowest score
    assert order[1] == made[8].submission_no  # then the highest score
    assert order[3:5] == [made[1].submission_no, made[2].submission_no]  # 85 vs 85: earlier complete first
    with session_scope(db_url) as s:
        states = {a.submission_no: a.state for a in s.scalars(select(Application))}
        scores = {r.application_id: r for r in s.scalars(select(ReviewScore))}
        assert sum(st_ == "candidate" for st_ in states.values()) == 6
        assert sum(st_ == "not_recommended" for st_ in states.values()) == 3
        assert scores[made[7].app_id].priority and scores[made[7].app_id].placement == "candidate"
        assert {r.placement for r in scores.values()} == {"candidate", "none"}
        assert s.get(Application, made[7].app_id).priority is True
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "rank")).all()
        assert len(events) == 1 and events[0].details["order"] == order
        winner = season.priority_winners[0]
        moved = s.scalars(select(AuditEvent).where(AuditEvent.entity_id == made[7].app_id,
                                                   AuditEvent.action == "transition")).all()
        details = [e.details for e in moved if e.details and e.details.get("placement")][0]
        assert (details["priority_award"], details["priority_year"]) == (winner.award, winner.year)
    table = ranking_table_rows(db_url, season)
    assert table[0]["priority_basis"] == f"{winner.year}年{winner.award}" and table[1]["priority_basis"] == ""


def ranking_table_rows(db_url: str, season) -> list[dict]:  # type: ignore[no-untyped-def]
    with session_scope(db_url) as s:
        return ranking_table(s, season)


def test_a_later_applicant_is_never_stranded_behind_a_ranked_list(rt) -> None:  # type: ignore[no-untyped-def]
    """Issue 12 §3: a 500-point applicant is scored while another is still in publicity; the group waits, so the
    later 990-point applicant takes its place in the list instead of being left out behind it."""
    season = rt.season.model_copy(update={"quotas": {"organization": Quota(places=1), "individual": Quota(places=1)}})
    rt.season = season
    with session_scope(rt.db_url) as s:
        early = make_app(s, season, rt.blobs, n=1, state=State.REVIEWED, score=500, materials=False)
        later = make_app(s, season, rt.blobs, n=2, state=State.IN_PUBLICITY, materials=False)
        refused = make_app(s, season, rt.blobs, n=3, state=State.RECEIVED, materials=False)
        transition(s, s.get(Application, refused.app_id), State.INCOMPLETE, actor="test", reason="缺材料")
    with pytest.raises(RankingError, match=later.submission_no) as info, session_scope(rt.db_url) as s:
        rank(s, rt)
    assert refused.submission_no in str(info.value)  # still in correction: on its way too
    with session_scope(rt.db_url) as s:  # nothing changed
        assert s.get(Application, early.app_id).state == "reviewed"
        transition(s, s.get(Application, refused.app_id), State.CLOSED_INCOMPLETE, actor="test", reason="补正逾期")
        app = s.get(Application, later.app_id)
        transition(s, app, State.PUBLICITY_PASSED, actor="test", reason="公示期满无异议")
        s.add(ReviewScore(season=season.season_id, application_id=app.id, group="organization", score=990,
                          source_sha256="0" * 64))
        transition(s, app, State.REVIEWED, actor="test", reason="评分")
    with session_scope(rt.db_url) as s:
        result = rank(s, rt)
    assert [(r.submission_no, r.placement) for r in result.groups["organization"]] == [
        (later.submission_no, "candidate"), (early.submission_no, "none")]
    with session_scope(rt.db_url) as s:
        assert s.get(Application, later.app_id).state == "candidate"
        assert s.get(Application, early.app_id).state == "not_recommended"


def test_rank_waits_while_a_score_is_missing_and_a_ranked_group_is_final(rt) -> None:  # type: ignore[no-untyped-def]
    season = rt.season
    with session_scope(rt.db_url) as s:
        make_app(s, season, rt.blobs, n=1, state=State.REVIEWED, score=80, materials=False)
        waiting = make_app(s, season, rt.blobs, n=2, state=State.PUBLICITY_PASSED, materials=False)
    with pytest.raises(RankingError, match=waiting.submission_no), session_scope(rt.db_url) as s:
        rank(s, rt)
    with session_scope(rt.db_url) as s:  # nothing changed
        assert {a.state for a in s.scalars(select(Application))} == {"reviewed", "publicity_passed"}
        app = s.get(Application, waiting.app_id)
        transition(s, app, State.WITHDRAWN, actor="test", reason="撤回")
    with session_scope(rt.db_url) as s:
        rank(s, rt)
    with session_scope(rt.db_url) as s:
        make_app(s, season, rt.blobs, n=3, state=State.REVIEWED, score=99, materials=False)
    with pytest.raises(RankingError, match="已排序"), session_scope(rt.db_url) as s:
        rank(s, rt)
