"""The opinions tests run on the second province's season: there the province consults the departments itself
(``process.first_round: province``); in the shipped Gansu season the recommending units do it."""

from __future__ import annotations

import pytest


@pytest.fixture()
def season():  # type: ignore[no-untyped-def]
    from award.config import load_season
    from tests.seasons import ZHEJIANG

    season = load_season(ZHEJIANG)
    assert season.process.first_round == "province"
    return season
