"""Send a verified version: upload it to the office's national-submission location and queue the national mail
(one per volume, never a link), once per version. Whether it went by its due time: ``alerts.export_state``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from award.clock import now
from award.config import Season
from award.enums import PackageStatus, State
from award.mail.outbox import enqueue
from award.recommendation.documents import mail_contact, mail_sender, mail_subject_base
from award.recommendation.package import ACTOR, PackageError, local_copy
from award.runtime import Runtime
from award.states import audit, transition
from award.store import session_scope
from award.store.models import Application, Package
from award.templating import message, message_group

log = logging.getLogger(__name__)

_text = message_group("recommendation", "package")


@dataclass
class ExportResult:
    """What the export did."""

    package_id: int
    version: int
    sent_now: bool
    email_ids: list[int]
    storage_prefix: str
    volumes: int


def national_prefix(season: Season, version: int) -> str:
    """The national-submission storage key prefix of a version (the office's own copy; never linked in mail)."""
    base = season.national.storage_uri.strip("/")
    return f"{base}/{season.season_id}/v{version:02d}/"


def _alert_mobile_missing(rt: Runtime, version: int) -> None:
    """Tell ops (outbox, once per version) that the national mail cannot go without a mobile number."""
    unit = rt.season.recommending_unit
    with session_scope(rt.db_url) as session:
        enqueue(
            session, key=f"recommendation:staff_notice:mobile-missing-{rt.season.season_id}-v{version}",
            template="staff_notice", to=[str(unit.ops_email)],
            context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                     "season_label": rt.season.label, "title": _text("mobile_missing_title"),
                     "text": _text("mobile_missing"), "items": []},
        )


def export_package(rt: Runtime, package_id: int) -> ExportResult:
    """Upload a verified version to the office's national-submission location and queue the e-mails to the
    national address: one per volume, subject 推荐单位名称+联系人+手机号码 (+ 第k卷/共N卷), never a link.

    Refused (PackageError, ops alerted) while the season has no mobile number for the subject. Re-running
    after the send does nothing (the Package is "sent"; the outbox keys are per version and volume).
    """
    season = rt.season
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        if package is None:
            raise PackageError(f"package {package_id} not found")
        if package.status == PackageStatus.SENT:
            return ExportResult(package_id, package.version, False, list(package.manifest.get("email_ids") or []),
                                national_prefix(season, package.version),
                                len(package.manifest.get("volume_docs") or []))
        if package.status != PackageStatus.VERIFIED:
            raise PackageError(_text("not_verified", version=package.version, status=package.status))
        version = package.version
        docs = dict(package.manifest["documents"])
        manifest = dict(package.manifest)
    try:
        subject_base = mail_subject_base(season)
    except PackageError:
        _alert_mobile_missing(rt, version)
        log.error("national mail refused: national.contact_mobile is not set in the season file")
        raise

    prefix = national_prefix(season, version)
    uploaded: dict[str, str] = {}
    volumes = manifest["volume_docs"]
    uploads = [docs[k] for k in ("zip", "letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest",
                                 "cover_sheet", "print_list")]
    uploads += [v for v in volumes if v["filename"] != docs["zip"]["filename"]]
    for doc in uploads:
        with local_copy(rt.blobs, doc["sha256"]) as local:
            uploaded[doc["filename"]] = rt.shared.write_file(prefix + doc["filename"], local)

    org = sum(1 for c in manifest["candidates"] if c["group"] == "organization")
    loose = ["letter", "audit_opinion", "summary_docx", "summary_xlsx"]
    national = season.national
    mails = []
    for vol in volumes:
        attach = ([{"sha256": docs[k]["sha256"], "filename": docs[k]["filename"]} for k in loose]
                  if vol["volume"] == 1 else [])
        attach.append({"sha256": vol["sha256"], "filename": vol["filename"]})
        contents = _volume_contents(manifest, vol["files"])
        context = {
            "greeting": national.recipient_name, "unit": season.recommending_unit, "sender": mail_sender(season),
            "contact": mail_contact(season), "mobile": national.contact_mobile, "subject_base": subject_base,
            "edition": season.award.edition, "award": season.award.name, "version": version,
            "doc_number": manifest.get("doc_number", ""), "org_count": org,
            "person_count": len(manifest["candidates"]) - org, "attached": [a["filename"] for a in attach],
            "contents": contents, "volume": vol["volume"], "volumes": vol["of"],
            "limit_mb": national.attachment_limit_mb, "recipient": national.recipient_name,
            "postal_address": national.postal_address, "postcode": national.postcode,
        }
        mails.append((vol, attach, context))
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        assert package is not None
        if package.status == PackageStatus.SENT:  # a concurrent run got here first
            return ExportResult(package_id, version, False, [], prefix, len(volumes))
        ids: list[int] = []
        created_any = False
        for vol, attach, context in mails:
            row, created = enqueue(
                session,
                key=(f"recommendation:national_submission:{season.season_id}-v{version}:"
                     f"{package.content_hash[:12]}:vol{vol['volume']}of{vol['of']}"),
                template="national_submission", to=[str(national.recipient_email)], context=context,
                attachments=attach,
            )
            ids.append(row.id)
            created_any = created_any or created
        package.status = PackageStatus.SENT
        package.sent_at = now()
        package.manifest = {**package.manifest, "uploaded": uploaded, "email_ids": ids}
        for cand in manifest["candidates"]:
            app = session.get(Application, cand["application_id"])
            if app is not None and app.state == State.RECOMMENDED:
                transition(session, app, State.EXPORTED, actor=ACTOR, reason=_text("audit.exported"),
                           details={"package_version": version})
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="export",
              details={"version": version, "prefix": prefix, "email_ids": ids, "volumes": len(volumes)})
        return ExportResult(package_id, version, created_any, ids, prefix, len(volumes))


def _volume_contents(manifest: dict[str, Any], files: list[str]) -> list[str]:
    """What one volume holds, for its mail: the letters and summaries by name, the candidates by folder."""
    folders = {c["folder"]: c for c in manifest["candidates"]}
    lines: list[str] = []
    seen: set[str] = set()
    for path in files:
        top = path.split("/", 1)[0]
        if top in folders:
            if top not in seen:
                seen.add(top)
                count = sum(1 for p in files if p.startswith(top + "/"))
                lines.append(_text("volume_candidate", folder=top, files=count))
        else:
            lines.append(path)
    return lines
