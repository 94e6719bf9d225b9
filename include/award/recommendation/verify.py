"""Verify a compiled version before it is sent: a list of rules over the approval, the zip, the documents, the
mail volumes, the disc folder and the store (``PACKAGE_RULES``, run in order by ``check_package``).

A failure marks the version failed, sends ops the problem list (outbox) and stops the export.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.config import Season
from award.enums import PackageStatus
from award.mail.outbox import enqueue
from award.recommendation.package import (
    ACTOR,
    APPROVED_STATES,
    PACKAGE_KINDS,
    PackageError,
    PackageVerificationError,
    local_copy,
    package_texts,
)
from award.recommendation.proposal import build_proposal
from award.recommendation.volumes import mail_size
from award.runtime import Runtime
from award.states import audit
from award.storage.blobs import CHUNK, sha256_file
from award.store import session_scope
from award.store.models import Application, Material, Package
from award.templating import message, message_group

_text = message_group("recommendation", "package")


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(name) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# The verification is a list of rules (``PACKAGE_RULES``), run in order by ``check_package``, in the style of
# ``award.completeness.rules.RULES``: each rule looks at one thing and adds its problems (``PackageCheck.add``). A gate rule
# that finds nothing to look at further (no zip compiled, or none stored) sets ``stop``. To check something new,
# write a rule with a docstring, add its message under ``recommendation.package`` in the catalogue and put the
# rule in the list.
@dataclass
class PackageCheck:
    """What the package rules look at (a compiled version, its manifest and zip), and the problems found."""

    session: Session
    rt: Runtime
    package: Package
    stack: ExitStack  # closes the zip (and its local copy) when the check ends
    problems: list[str] = field(default_factory=list)
    stop: bool = False  # a gate rule found nothing further to check

    def add(self, key: str, **params: Any) -> None:
        self.problems.append(_text(key, **params))

    @property
    def season(self) -> Season:
        season: Season = self.rt.season
        return season

    @cached_property
    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = self.package.manifest or {}
        return manifest

    @cached_property
    def expected(self) -> dict[str, dict[str, Any]]:
        """The files the manifest lists, by path."""
        return {f["path"]: f for f in self.manifest.get("files", [])}

    @cached_property
    def names(self) -> dict[str, str]:
        names: dict[str, str] = package_texts()["files"]
        return names

    @cached_property
    def documents(self) -> dict[str, Any]:
        docs: dict[str, Any] = self.manifest.get("documents", {})
        return docs

    @property
    def zip_sha256(self) -> str:
        """The compiled zip's SHA-256 (read only after the ``_rule_compiled`` gate, so never empty)."""
        return self.package.zip_sha256 or ""

    @cached_property
    def zip_path(self) -> Path:
        return self.stack.enter_context(local_copy(self.rt.blobs, self.zip_sha256))

    @cached_property
    def zip(self) -> zipfile.ZipFile:
        return self.stack.enter_context(zipfile.ZipFile(self.zip_path))

    @cached_property
    def members(self) -> list[str]:
        """The zip's file names (directories left out), in the zip's order."""
        return [i.filename for i in self.zip.infolist() if not i.is_dir()]

    @cached_property
    def inside(self) -> dict[str, str]:
        """The zip members under the package folder, by their path relative to it."""
        prefix = f"{self.manifest.get('folder', '')}/"
        return {name[len(prefix):]: name for name in self.members if name.startswith(prefix)}

    def stored(self, key: str) -> bool:
        """Whether the recorded document ``key`` is in the blob store."""
        return key in self.documents and bool(self.rt.blobs.exists(self.documents[key]["sha256"]))


def _rule_approved(v: PackageCheck) -> None:
    """The version was approved by a named person, at a recorded time, and not rejected since."""
    if not v.package.approved_by or v.package.approved_at is None or v.package.status == PackageStatus.REJECTED:
        v.add("not_approved")


def _rule_compiled(v: PackageCheck) -> None:
    """A zip was compiled (gate: without one there is nothing else to check)."""
    if not v.package.zip_sha256:
        v.add("not_compiled")
        v.stop = True


def _rule_content_unchanged(v: PackageCheck) -> None:
    """The store still gives the approved content, and the proposal has no problems of its own."""
    prop = build_proposal(v.session, v.season)
    if prop.content_hash != v.package.content_hash:
        v.add("changed_since_approval")
    v.problems.extend(prop.problems)


def _rule_zip_stored(v: PackageCheck) -> None:
    """The zip is in the blob store (gate: the rules below read it)."""
    if not v.rt.blobs.exists(v.zip_sha256):
        v.add("zip_missing")
        v.stop = True


def _rule_zip_checksum(v: PackageCheck) -> None:
    """The zip's bytes have the recorded SHA-256."""
    sha, _size = sha256_file(v.zip_path)
    if sha != v.package.zip_sha256:
        v.add("zip_checksum")


def _rule_zip_one_folder(v: PackageCheck) -> None:
    """Every file in the zip lies inside the package folder."""
    prefix = f"{v.manifest.get('folder', '')}/"
    for name in v.members:
        if not name.startswith(prefix):
            v.add("outside_folder", name=name)


def _rule_zip_nothing_unlisted(v: PackageCheck) -> None:
    """The zip holds no file that the manifest does not list."""
    for rel in sorted(set(v.inside) - set(v.expected) - {v.names["manifest"]}):
        v.add("unlisted_file", path=rel)


def _rule_zip_files_match(v: PackageCheck) -> None:
    """Every listed file is in the zip, with its recorded SHA-256 and size."""
    for rel, entry in v.expected.items():
        if rel not in v.inside:
            v.add("missing_file", path=rel)
        elif _hash_member(v.zip, v.inside[rel]) != (entry["sha256"], entry["size"]):
            v.add("file_checksum", path=rel)


def _rule_zip_manifest(v: PackageCheck) -> None:
    """The manifest inside the zip lists the same files and volumes as the recorded one."""
    name = v.names["manifest"]
    if name not in v.inside:
        v.add("manifest_missing")
        return
    inner = json.loads(v.zip.read(v.inside[name]).decode("utf-8"))
    if inner.get("files") != v.manifest.get("files") or inner.get("volumes") != v.manifest.get("volumes"):
        v.add("manifest_differs")


_DOCUMENTS = ("letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest", "print_list", "cover_sheet")
_LOOSE_DOCUMENTS = ("letter", "audit_opinion", "summary_docx", "summary_xlsx")  # attached beside volume 1


def _rule_documents_stored(v: PackageCheck) -> None:
    """Both letters, the summary, the manifest, the print list and the cover sheet exist as recorded."""
    for key in _DOCUMENTS:
        doc = v.documents.get(key)
        if doc is None or not v.rt.blobs.exists(doc["sha256"]):
            v.add("document_missing", name=v.names[key])


def _rule_documents_packaged(v: PackageCheck) -> None:
    """Both letters and the summary (Word and Excel) are among the package's files."""
    for key in _LOOSE_DOCUMENTS:
        if v.names[key] not in v.expected:
            v.add("document_not_packaged", name=v.names[key])


def _docx_texts(rt: Runtime, sha256: str) -> list[str]:
    from docx import Document  # noqa: PLC0415 - python-docx loads only when a letter is read back

    with local_copy(rt.blobs, sha256) as path:
        return [p.text for p in Document(str(path)).paragraphs]


def _rule_letters_issuer(v: PackageCheck) -> None:
    """Each letter starts with the season's issuer and carries its signature."""
    letters = v.season.package_letters
    for key, spec in (("letter", letters.recommendation), ("audit_opinion", letters.audit_opinion)):
        if v.stored(key):
            lines = _docx_texts(v.rt, v.documents[key]["sha256"])
            if not lines or lines[0] != spec.issuer or spec.signature not in lines:
                v.add("letter_issuer", name=v.names[key], issuer=spec.issuer)


def _rule_cover_sheet(v: PackageCheck) -> None:
    """The season names the secretariat's postal address, and the postal cover sheet shows it."""
    national = v.season.national
    if not national.postal_address or not national.postcode:
        v.add("postal_address_missing")
    elif v.stored("cover_sheet"):
        cover = "".join(_docx_texts(v.rt, v.documents["cover_sheet"]["sha256"]))
        for part in (national.recipient_name, national.postal_address, national.postcode):
            if part not in cover:
                v.add("cover_sheet_differs", part=part)


def _rule_ranking_sheet_internal(v: PackageCheck) -> None:
    """The internal ranking sheet stays out of the package."""
    if v.names["ranking_sheet"] in v.expected:
        v.add("internal_in_package", name=v.names["ranking_sheet"])


def _rule_volumes(v: PackageCheck) -> None:
    """Every mail volume exists, fits the mail size limit, and together they carry exactly the files listed."""
    volumes = v.manifest.get("volume_docs") or []
    if not volumes:
        v.add("volumes_missing")
        return
    carried: list[str] = []
    for vol in volumes:
        carried += _check_volume(v, vol)
    if sorted(carried) != sorted([*v.expected, v.names["manifest"]]):
        v.add("volumes_differ")


def _check_volume(v: PackageCheck, vol: dict[str, Any]) -> list[str]:
    """One volume: stored, within the mail size limit, its files unchanged. Returns the paths it carries."""
    if not v.rt.blobs.exists(vol["sha256"]):
        v.add("volume_missing", volume=vol["volume"], volumes=vol["of"])
        return []
    _check_volume_size(v, vol)
    return _check_volume_files(v, vol)


def _check_volume_size(v: PackageCheck, vol: dict[str, Any]) -> None:
    """The volume fits the mail size limit (volume 1 with the letters and the summary attached beside it)."""
    limit_mb = v.season.national.attachment_limit_mb
    loose = sum(v.documents[k]["size"] for k in _LOOSE_DOCUMENTS if k in v.documents) if vol["volume"] == 1 else 0
    if mail_size(vol["size"] + loose) > limit_mb * 1024 * 1024:
        biggest = max(vol["files"], key=lambda p: v.expected.get(p, {}).get("size", 0))
        v.add("volume_too_large", volume=vol["volume"], volumes=vol["of"], limit_mb=limit_mb, path=biggest)


def _check_volume_files(v: PackageCheck, vol: dict[str, Any]) -> list[str]:
    """The volume's listed files have their recorded SHA-256 and size. Returns the paths it carries."""
    carried: list[str] = []
    with local_copy(v.rt.blobs, vol["sha256"]) as path, zipfile.ZipFile(path) as zf:
        for name in (i.filename for i in zf.infolist() if not i.is_dir()):
            rel = name.removeprefix(f"{v.manifest.get('folder', '')}/")
            carried.append(rel)
            entry = v.expected.get(rel)
            if entry is not None and _hash_member(zf, name) != (entry["sha256"], entry["size"]):
                v.add("file_checksum", path=f"{vol['filename']}:{rel}")
    return carried


def _rule_disc(v: PackageCheck) -> None:
    """The ready-to-copy disc folder holds every listed file unchanged (checked where the folder is)."""
    if not v.package.path or not Path(v.package.path).is_dir():
        return
    disc = Path(v.package.path) / v.manifest.get("disc_dir", package_texts()["disc_dir"])
    for rel, entry in v.expected.items():
        target = disc / rel
        if not target.is_file():
            v.add("disc_missing", path=rel)
        elif sha256_file(target) != (entry["sha256"], entry["size"]):
            v.add("disc_differs", path=rel)
    if not (disc / v.names["manifest"]).is_file():
        v.add("disc_missing", path=v.names["manifest"])


def _rule_materials_current(v: PackageCheck) -> None:
    """Each packaged material is its candidate's current version, and its original is still stored."""
    for entry in v.expected.values():
        if entry.get("source") != "material":
            continue
        material = v.session.get(Material, entry["material_id"])
        if material is None or material.application_id != entry["application_id"]:
            v.add("foreign_file", path=entry["path"])
        elif material.sha256 != entry["sha256"] or material.superseded_by_id is not None:
            v.add("stale_file", path=entry["path"])
        elif not v.rt.blobs.exists(material.sha256):
            v.add("original_missing", path=entry["path"])


def _rule_candidates_approved(v: PackageCheck) -> None:
    """The package carries exactly the approved candidates of the season."""
    in_package = {c["application_id"]: c for c in v.manifest.get("candidates", [])}
    approved = v.session.scalars(select(Application).where(
        Application.season == v.season.season_id, Application.state.in_(APPROVED_STATES))).all()
    for app in approved:
        if app.id not in in_package:
            v.add("approved_not_packaged", submission_no=app.submission_no)
    approved_ids = {a.id for a in approved}
    for app_id, cand in in_package.items():
        if app_id not in approved_ids:
            v.add("unapproved_packaged", submission_no=cand["submission_no"], name=cand["name"])


def _rule_required_materials(v: PackageCheck) -> None:
    """Each candidate's packaged files include every material its category requires."""
    for cand in v.manifest.get("candidates", []):
        app = v.session.get(Application, cand["application_id"])
        if app is None:
            continue
        kinds = {v.expected[p]["kind"] for p in cand["files"] if p in v.expected}
        for kind in v.season.category(app.category).required_materials:
            if kind in PACKAGE_KINDS and kind not in kinds:
                v.add("packaged_missing_material", submission_no=cand["submission_no"], name=cand["name"],
                      label=package_texts()["kinds"][kind])


PACKAGE_RULES: tuple[Callable[[PackageCheck], None], ...] = (
    _rule_approved,
    _rule_compiled,
    _rule_content_unchanged,
    _rule_zip_stored,
    _rule_zip_checksum,
    _rule_zip_one_folder,
    _rule_zip_nothing_unlisted,
    _rule_zip_files_match,
    _rule_zip_manifest,
    _rule_documents_stored,
    _rule_documents_packaged,
    _rule_letters_issuer,
    _rule_cover_sheet,
    _rule_ranking_sheet_internal,
    _rule_volumes,
    _rule_disc,
    _rule_materials_current,
    _rule_candidates_approved,
    _rule_required_materials,
)


def check_package(session: Session, rt: Runtime, package: Package) -> list[str]:
    """Every problem with a compiled version (empty list: fine to send), in ``PACKAGE_RULES`` order."""
    with ExitStack() as stack:
        check = PackageCheck(session, rt, package, stack)
        for rule in PACKAGE_RULES:
            rule(check)
            if check.stop:
                break
    return list(dict.fromkeys(check.problems))


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    package_id: int
    version: int
    ok: bool
    problems: list[str]


def verify_package(rt: Runtime, package_id: int, *, raise_on_failure: bool = True) -> VerifyReport:
    """Check a compiled version; a failure marks it failed, sends ops a report (outbox) and raises."""
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        if package is None:
            raise PackageError(f"package {package_id} not found")
        if package.status == PackageStatus.SENT:
            return VerifyReport(package_id, package.version, True, [])
        problems = check_package(session, rt, package)
        report = VerifyReport(package_id, package.version, not problems, problems)
        package.status = PackageStatus.VERIFIED if report.ok else PackageStatus.FAILED
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id,
              action="verify" if report.ok else "verify_failed", details={"problems": problems[:50]})
        if problems:
            digest = hashlib.sha256("\n".join(problems).encode()).hexdigest()[:12]
            unit = rt.season.recommending_unit
            enqueue(
                session, key=f"recommendation:staff_notice:package-{rt.season.season_id}-v{package.version}:{digest}",
                template="staff_notice", to=[str(unit.ops_email)],
                context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                         "season_label": rt.season.label,
                         "title": _text("verify_failed_title", version=package.version),
                         "text": _text("verify_failed_text"), "items": problems[:50]},
            )
    if problems and raise_on_failure:
        raise PackageVerificationError(problems)
    return report
