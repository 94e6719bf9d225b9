"""Build applications in any state through the real state machine, with real materials in the blob store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from award.clock import TZ
from award.config import Season
from award.forms import fill_form_bytes, render_pdf_copy_bytes
from award.forms.pdf import text_pdf_bytes
from award.states import State
from award.storage.blobs import BlobStore
from award.store.models import Applicant, Application, Material, ReviewScore
from tests.factories import make_application

BASE_TIME = datetime(2023, 5, 10, 9, 0, tzinfo=TZ)


@dataclass
class Made:
    app_id: int
    submission_no: str
    name: str
    key: str


def form_values(category: str, name: str, key: str, city: str) -> tuple[str, dict[str, str]]:
    form = {"organization": "form1", "education": "form2", "sme": "form3", "team": "form4",
            "individual": "form5"}[category]
    if category == "individual":
        return form, {"name": name, "id_number": key, "city": city, "phone": "13900001111",
                      "email": "p@example.com"}
    if category == "team":
        return form, {"team_name": name, "credit_code": key.split("/")[0], "city": city,
                      "contact": "赵六", "contact_phone": "13900002222"}
    return form, {"org_name": name, "credit_code": key, "city": city, "contact": "钱七",
                  "contact_phone": "13900003333"}


def make_app(
    session: Any,
    season: Season,
    blobs: BlobStore,
    *,
    n: int,
    category: str = "organization",
    name: str | None = None,
    key: str | None = None,
    state: State = State.PUBLICITY_PASSED,
    score: float | None = None,
    complete_minutes: int = 0,
    materials: bool = True,
    evidence_bytes: bytes | None = None,
    email: str | None = None,
) -> Made:
    """An application of the season moved along the shortest path up to ``state`` (tests.factories)."""
    person = category == "individual"
    name = name or (f"测试人员{n:03d}" if person else f"测试单位{n:03d}有限公司")
    key = key or (f"33010619800101{n:03d}X" if person else f"91330100MA{n:07d}X")
    city = season.province.cities[n % len(season.province.cities)]
    applicant = Applicant(kind="person" if person else "organization", key=key, name=name, city=city,
                          email=email or f"app{n}@example.com", phone="13900001111",
                          contact_name=None if person else "钱七")
    at = BASE_TIME + timedelta(minutes=complete_minutes)

    def leave_behind(app: Application, target: State) -> None:
        """What the scores stage leaves before REVIEWED and the ranking before CANDIDATE."""
        if target == State.REVIEWED:
            session.add(ReviewScore(season=season.season_id, application_id=app.id,
                                    group=season.category(category).group, score=score or 0.0,
                                    source_sha256="0" * 64))
        if target == State.CANDIDATE:
            row = session.query(ReviewScore).filter_by(application_id=app.id).one()
            row.rank, row.placement = n, "award"

    app = make_application(session, season, state, category, n=n, applicant=applicant, on_enter=leave_behind,
                           submission_no=f"GS2023{n:04d}", city=city, fields={}, received_at=at, changed_at=at)
    if materials:
        form, values = form_values(category, name, key, city)
        docs = [("form_docx", f"{name}申报表.docx", fill_form_bytes(form, values)),
                ("form_pdf", f"{name}申报表.pdf", render_pdf_copy_bytes(form, values)),
                ("evidence", "证明材料.pdf", evidence_bytes or text_pdf_bytes("证实性材料", [name, "质量管理成效"])),
                ("publicity_proof", "公示证明.pdf", text_pdf_bytes("公示情况证明", [name]))]
        if "unit_opinion" in season.category(category).required_materials:
            docs.append(("unit_opinion", "单位意见.pdf", text_pdf_bytes("所在单位意见", [name])))
        for kind, filename, data in docs:
            add_material(session, blobs, app, kind, filename, data)
    session.flush()
    return Made(app.id, app.submission_no, name, key)


def add_material(session: Any, blobs: BlobStore, app: Application, kind: str, filename: str, data: bytes,
                 supersede: Material | None = None) -> Material:
    ref = blobs.put_bytes(data)
    material = Material(application_id=app.id, kind=kind, filename=filename, sha256=ref.sha256, size=ref.size,
                        source_channel="mail", storage_uri=ref.uri,
                        version=(supersede.version + 1) if supersede else 1)
    session.add(material)
    session.flush()
    if supersede is not None:
        supersede.superseded_by_id = material.id
    return material
