"""Helpers for the checks tests: applications built from the generator's real files.

``load_generated`` puts generated submissions into the store the way intake does (parse the Word form, one
application per season + applicant key, files as materials classified by name, a city's letter as the
``city_recommendation`` of each application in its batch, late mail as LATE, defence-industry applicants as
INELIGIBLE, a second channel merged and flagged). It is a small stand-in used until the intake module lands; the checks only read the store.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from award.clock import now
from award.forms import parse_form
from award.forms.spec import form_for_category
from award.states import State
from award.store.models import Applicant, Application, Material
from tests.factories import make_application

KINDS = (
    ("-申报表.docx", "form_docx"),
    ("-申报表.pdf", "form_pdf"),
    ("证实性材料", "evidence"),
    ("内部公示", "publicity_proof"),
    ("所在单位意见", "unit_opinion"),
    ("推荐函", "city_recommendation"),
    ("审核推荐意见", "city_recommendation"),
)
SUPERSEDING = ("form_docx", "form_pdf", "publicity_proof", "unit_opinion")


def kind_of(filename: str) -> str:
    """A material kind from a generated file's name."""
    for marker, kind in KINDS:
        if marker in filename:
            return kind
    return "other"


class MemoryBlobs:
    """An in-memory blob lookup for rule tests without a store."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        self.data[sha] = data
        return sha

    def get_bytes(self, sha256: str) -> bytes:
        return self.data[sha256]


def transient_application(
    category: str, fields: dict[str, str], files: dict[str, bytes], blobs: MemoryBlobs, *, channel: str = "mail"
) -> Application:
    """An Application (not in any session) with materials for rule tests."""
    name = fields.get(form_for_category(category).name_field, "")
    app = Application(id=1, season="cqa-5-2023", category=category, submission_no="GS-2023-0001", state="received",
                      channel=channel, channels=[channel], city=fields.get("city"), fields=dict(fields))
    app.applicant = Applicant(kind="person" if category == "individual" else "organization", key="k", name=name,
                              email=fields.get("email"))
    at = datetime(2023, 5, 1, 9, 0, tzinfo=now().tzinfo)
    for i, (filename, data) in enumerate(files.items(), start=1):
        app.materials.append(Material(id=i, kind=kind_of(filename), filename=filename, sha256=blobs.put(data),
                                      size=len(data), source_channel=channel, storage_uri="mem:", version=1,
                                      superseded_by_id=None, received_at=at + timedelta(seconds=i)))
    return app


def read_files(root: Path, rels: list[str]) -> dict[str, bytes]:
    return {Path(rel).name: (root / rel).read_bytes() for rel in rels}


def add_material(session: Session, blobs: Any, app: Application, filename: str, data: bytes, *,
                 channel: str = "mail") -> Material:
    """Add a file to an application (a newer form/proof supersedes the older one) and mark it changed."""
    ref = blobs.put_bytes(data)
    kind = kind_of(filename)
    existing = [m for m in app.materials if m.sha256 == ref.sha256]
    if existing:
        return existing[0]
    material = Material(application_id=app.id, kind=kind, filename=filename, sha256=ref.sha256, size=ref.size,
                        source_channel=channel, storage_uri=ref.uri, received_at=now())
    session.add(material)
    session.flush()
    if kind in SUPERSEDING:
        for old in app.materials:
            if old.kind == kind and old.id != material.id and old.superseded_by_id is None:
                old.superseded_by_id = material.id
                material.version = max(material.version, old.version + 1)
    app.materials.append(material)
    app.changed_at = now()
    return material


def load_generated(session: Session, blobs: Any, season: Any, root: Path) -> dict[str, int]:
    """Create applications from ``root/manifest.json``; returns applicant key -> application id."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    by_key: dict[str, Application] = {}
    number = 0
    for entry in manifest["applications"]:
        files = read_files(root, entry["files"])
        docx = next(data for name, data in files.items() if name.endswith(".docx"))
        parsed = parse_form(docx, filename=entry["folder"])
        channel = entry["channel"]
        app = by_key.get(parsed.key)
        if app is None:
            number += 1
            person = parsed.category == "individual"
            applicant = Applicant(kind="person" if person else "organization", key=parsed.key, name=parsed.name,
                                  city=parsed.fields.get("city"), email=parsed.fields.get("email"))
            session.add(applicant)
            session.flush()
            late = "late" in entry["defects"]
            defence = parsed.fields.get("defence") == "是"  # intake answers defence-industry applicants itself
            state = State.LATE if late else State.INELIGIBLE if defence else State.RECEIVED
            app = make_application(session, season, state, parsed.category, applicant=applicant,
                                   submission_no=f"{season.submission_prefix}-{season.year}-{number:04d}",
                                   channel=channel, city=parsed.fields.get("city"), fields=parsed.fields,
                                   received_at=now(), changed_at=now(), actor="test-intake",
                                   reason=f"intake: {state.value}")
            by_key[parsed.key] = app
        else:
            app.channels = sorted({*app.channels, channel})
            app.multi_channel = True
        for name, data in files.items():
            add_material(session, blobs, app, name, data, channel=channel)
        if channel == "city":
            letter = manifest["city_letters"][entry["city"]]
            add_material(session, blobs, app, Path(letter).name, (root / letter).read_bytes(), channel="city")
    session.flush()
    return {key: app.id for key, app in by_key.items()}
