"""Helpers for the opinions tests: applications put straight into the store and moved to COMPLETE."""

from __future__ import annotations

from dataclasses import dataclass

from award.clock import now
from award.config import Season
from award.states import State
from tests.factories import make_application
from tests.fixtures import build_raw_mail

OFFICE = "zlfzc@scjg.example.gov.cn"


@dataclass(frozen=True)
class Spec:
    """An application to create."""

    no: str
    name: str
    category: str
    city: str
    key: str
    kind: str = "organization"
    email: str | None = None


SPECS = [
    Spec("GS-2023-0001", "杭州示例精密机械股份有限公司", "organization", "杭州市", "91330100MA27XXXX1A",
         email="a@applicant.example.com"),
    Spec("GS-2023-0002", "宁波示例新材料有限公司", "sme", "宁波市", "91330200MA28YYYY2B", email="b@applicant.example.com"),
    Spec("GS-2023-0003", "温州示例职业技术学院", "education", "温州市", "12330300470000003C",
         email="c@applicant.example.com"),
    Spec("GS-2023-0004", "张示例", "individual", "嘉兴市", "330402198001011234", kind="person",
         email="d@applicant.example.com"),
]


def make_complete(session, season: Season, specs: list[Spec] = SPECS) -> list[int]:  # type: ignore[no-untyped-def]
    """Create the applications and move them RECEIVED -> COMPLETE; returns their ids."""
    ids = []
    for spec in specs:
        app = make_application(session, season, State.COMPLETE, spec.category, name=spec.name, key=spec.key,
                               city=spec.city, email=spec.email, submission_no=spec.no, received_at=now())
        ids.append(app.id)
    return ids


def reply_mail(sender: str, subject: str, body: str, attachments: dict[str, bytes] | None = None,
               quoted: str = "") -> bytes:
    """A department's reply as raw RFC 5322 bytes (UTF-8, attachments with Chinese names)."""
    text = body + ("\n\n-----原始邮件-----\n" + quoted if quoted else "")
    return build_raw_mail(subject, text, sender=sender, to=OFFICE, attachments=attachments, dated=now(),
                          attachment_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          msgid_domain="dept.example.gov.cn")
