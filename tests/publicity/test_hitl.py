"""The decision form (publicity/forms.yaml): its options are the decisions, and an answer's label maps back."""

from __future__ import annotations

import pytest

from award.enums import ObjectionStatus
from award.publicity.decisions import DECISIONS
from award.publicity.errors import PublicityError
from award.publicity.hitl import decision_form, decision_of


def test_the_options_are_the_decisions() -> None:
    form = decision_form()
    assert list(form["options"]) == list(DECISIONS)
    assert set(form["required"]) <= set(form["params"]) == {"reason", "submission_no"}


def test_an_option_label_maps_to_its_decision() -> None:
    assert decision_of("异议成立") is ObjectionStatus.UPHELD
    assert decision_of("异议不成立") is ObjectionStatus.DISMISSED
    with pytest.raises(PublicityError, match="unknown decision option"):
        decision_of("成立")
