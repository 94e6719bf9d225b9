"""Publicity fixtures: a runtime on a fresh store and applications ready for a publicity window."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from award.identity import make_credit_code, make_id_number
from award.runtime import Runtime
from award.states import State
from award.store import session_scope
from tests.factories import make_application


@dataclass(frozen=True)
class Made:
    """What the factory created (ids and the personal data the public notice must not show)."""

    id: int
    submission_no: str
    name: str
    key: str
    phone: str
    email: str


def make_applications(db_url: str, season_id: str = "cqa-5-2023", seed: int = 7) -> list[Made]:
    """One application per category, all in DEPT_CLEARED (tests.factories.make_application), with the personal
    data (ID number / credit code, phone, e-mail) the public notice must not show."""
    rng = random.Random(seed)
    specs = [
        ("organization", "杭州示例精密机械有限公司", "杭州市", {}),
        ("sme", "宁波示例电子科技有限公司", "宁波市", {}),
        ("education", "温州示例职业技术学院", "温州市", {}),
        ("team", "嘉兴示例化纤有限公司", "嘉兴市", {"team_name": "纺丝车间甲班", "org_name": "嘉兴示例化纤有限公司"}),
        ("individual", "张伟明", "湖州市", {"employer": "湖州示例建材有限公司"}),
    ]
    made = []
    with session_scope(db_url) as session:
        for i, (category, name, city, extra) in enumerate(specs, start=1):
            person = category == "individual"
            key = make_id_number(rng) if person else make_credit_code(rng)
            phone = f"139{rng.randint(10_000_000, 99_999_999)}"
            email = f"contact{i}@applicant{i}.example.com"
            fields = {"contact_phone": phone, "email": email, "id_number" if person else "credit_code": key, **extra}
            app = make_application(session, season_id, State.DEPT_CLEARED, category, n=i, name=name, key=key,
                                   city=city, email=email, channels=[], fields=fields, reason="测试")
            app.applicant.phone, app.applicant.contact_name = phone, f"联系人{i}"
            made.append(Made(app.id, app.submission_no, name, key, phone, email))
    return made


@pytest.fixture()
def rt(make_rt, db_url: str, season, tmp_path) -> Runtime:
    """A runtime on a fresh store with local blob and shared storage."""
    return make_rt(db_url)


@pytest.fixture()
def apps(rt: Runtime) -> list[Made]:
    """Five applications (one per category) in DEPT_CLEARED."""
    return make_applications(rt.db_url)
