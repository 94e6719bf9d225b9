"""The results to applicants: once a package has been sent, every ranked applicant is e-mailed its result
(recommended to the national regulator, or not), once each."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from award.clock import now
from award.enums import PackageStatus, State
from award.mail.outbox import enqueue
from award.recommendation.package import form_field
from award.runtime import Runtime
from award.store import session_scope
from award.store.models import Application, Package, ReviewScore


def notify_applicants(rt: Runtime) -> dict[str, int]:
    """E-mail every ranked applicant the result, once each, after a package has been sent."""
    season = rt.season
    counts = {"recommended": 0, "not_recommended": 0, "skipped": 0}
    with session_scope(rt.db_url) as session:
        sent = session.scalar(select(Package)
                              .where(Package.season == season.season_id, Package.status == PackageStatus.SENT)
                              .order_by(Package.version).limit(1))
        if sent is None:
            return counts
        rows = session.execute(
            select(Application, ReviewScore)
            .join(ReviewScore, ReviewScore.application_id == Application.id)
            .where(Application.season == season.season_id,
                   Application.state.in_((State.EXPORTED, State.NOT_RECOMMENDED)))
            .options(selectinload(Application.applicant))
        ).all()
        for app, _score in rows:
            to = app.applicant.email or form_field(app, "email")
            if not to:
                counts["skipped"] += 1
                continue
            template = "result_recommended" if app.state == State.EXPORTED else "result_not_recommended"
            _, created = enqueue(
                session, key=f"recommendation:{template}:{app.id}:{season.season_id}", template=template, to=[to],
                application_id=app.id,
                context={"greeting": app.applicant.contact_name or app.applicant.name, "unit": season.recommending_unit,
                         "season_label": season.label, "applicant_name": app.applicant.name,
                         "submission_no": app.submission_no, "edition": season.award.edition,
                         "award": season.award.name, "recipient": season.national.recipient_name,
                         "exported_at": sent.sent_at or now()},
            )
            if created:
                counts["recommended" if template == "result_recommended" else "not_recommended"] += 1
    return counts
