"""Compile an approved version: the package folder, its zip, the mail volumes and the staff's documents.

The folder holds the electronic material (推荐函, 审核意见, 汇总表 .docx/.xlsx, one folder per candidate,
manifest.json), a ready-to-copy disc folder (光盘_U盘) with the same files, and the staff's 打印清单 and 邮寄封面;
the 内部排序表 is written next to it. Files are streamed from the blob store; every result is stored as a blob.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from award.clock import now
from award.config import Season
from award.enums import PackageStatus
from award.recommendation.documents import (
    write_cover_sheet,
    write_letter,
    write_ranking_sheet,
    write_summary_docx,
    write_summary_xlsx,
)
from award.recommendation.package import ACTOR, PackageError, package_texts, safe_name
from award.recommendation.proposal import Proposal, build_proposal
from award.recommendation.ranking import ranking_table
from award.recommendation.volumes import attachment_budget, plan_volumes
from award.runtime import Runtime, data_dir
from award.states import audit
from award.storage.blobs import BlobStore, sha256_file
from award.store import session_scope
from award.store.models import Package
from award.templating import message_group, render

log = logging.getLogger(__name__)

# already-compressed formats are stored, the rest deflated (the benchmark's baseline uses the same rule)
STORED_SUFFIXES = frozenset({".pdf", ".docx", ".xlsx", ".zip", ".jpg", ".jpeg", ".png", ".ofd", ".rar", ".7z",
                             ".doc", ".xls", ".mp4"})

_text = message_group("recommendation", "package")


def package_root(season_id: str, version: int) -> Path:
    """Where a version is built: <AWARD_DATA_DIR>/packages/<season>/v<NN>/."""
    return data_dir() / "packages" / season_id / f"v{version:02d}"


def compress_type(name: str) -> int:
    """ZIP_STORED for formats that are already compressed, ZIP_DEFLATED otherwise."""
    return zipfile.ZIP_STORED if PurePosixPath(name).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED


def zip_folder(folder: Path, zip_path: Path, order: list[str]) -> None:
    """Zip ``order`` (paths relative to ``folder``) under the folder's name, streaming each file."""
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as zf:
        for rel in order:
            zf.write(folder / rel, f"{folder.name}/{rel}", compress_type=compress_type(rel), compresslevel=6)


def _copy_blob(blobs: BlobStore, sha256: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    blobs.copy_to(sha256, dest)


@dataclass
class Compiled:
    """A compiled version."""

    package_id: int
    version: int
    folder: Path
    zip_path: Path
    zip_sha256: str
    files: int
    volumes: int = 1


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link a file into the disc folder (same bytes, no extra space), or copy it across file systems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _print_items(season: Season, prop: Proposal, names: dict[str, str]) -> dict[str, Any]:
    """The print list: the letters and the summary once each (no .xlsx twin), and per candidate one bound set of
    the 申报表 (one format: the PDF when there is one) and its 证实性材料, 一式三份."""
    texts = package_texts()
    pr = texts["print"]
    letters = [
        {"path": names["letter"], "copies": pr["letter_copies"], "note": _text_print("note_sealed")},
        {"path": names["audit_opinion"], "copies": pr["letter_copies"], "note": _text_print("note_sealed")},
        {"path": names["summary_docx"], "copies": pr["letter_copies"], "note": _text_print("note_summary")},
    ]
    candidates = []
    for c in prop.candidates:
        forms = [f for f in c.files if f.kind in ("form_pdf", "form_docx")]
        form = next((f for f in forms if f.kind == "form_pdf"), forms[0] if forms else None)
        paths = ([form.path] if form else []) + [f.path for f in c.files if f.kind not in ("form_pdf", "form_docx")]
        candidates.append({"title": pr["candidate_title"].format(nn=f"{c.nn:02d}", name=c.name, folder=c.folder),
                           "paths": paths})
    per_set = sum(len(c["paths"]) for c in candidates)
    return {"letters": letters, "candidates": candidates, "copies": pr["copies"], "per_set": per_set,
            "material_prints": per_set * pr["copies"]}


def _text_print(key: str) -> str:
    return str(package_texts()["print"][key])


def _check_compilable(package: Package | None, package_id: int) -> Package:
    """The package, unless it is missing, already sent, rejected or not approved (``PackageError``)."""
    if package is None:
        raise PackageError(f"package {package_id} not found")
    if package.status == PackageStatus.SENT:
        raise PackageError(_text("already_sent", version=package.version))
    if package.status == PackageStatus.REJECTED or not package.approved_by:
        raise PackageError(_text("not_approved_version", version=package.version))
    return package


def _file_entries(folder: Path, generated: list[str], prop: Proposal) -> list[dict[str, Any]]:
    """The manifest's file list: the generated documents (hashed in ``folder``), then every candidate's material."""
    file_entries: list[dict[str, Any]] = []
    for rel in generated:
        sha, size = sha256_file(folder / rel)
        file_entries.append({"path": rel, "sha256": sha, "size": size, "source": "generated"})
    for cand in prop.candidates:
        for f in cand.files:
            file_entries.append({"path": f.path, "sha256": f.sha256, "size": f.size, "source": "material",
                                 "kind": f.kind, "material_id": f.material_id, "application_id": cand.application_id})
    return file_entries


def _material_paths(prop: Proposal) -> list[str]:
    """Every candidate's material files, relative to the package folder."""
    return [f.path for c in prop.candidates for f in c.files]


def _manifest_candidates(prop: Proposal) -> list[dict[str, Any]]:
    """The manifest's candidate list."""
    return [
        {"nn": c.nn, "submission_no": c.submission_no, "name": c.name, "group": c.group,
         "category": c.category, "folder": c.folder, "application_id": c.application_id,
         "files": [f.path for f in c.files]}
        for c in prop.candidates
    ]


def _volume_name(texts: dict[str, Any], folder_name: str, i: int, count: int) -> str:
    """The zip name of mail volume ``i`` of ``count`` (the package zip's name when there is one)."""
    if count == 1:
        return f"{folder_name}.zip"
    return str(texts["volume_zip"].format(folder=folder_name, volume=i, volumes=count))


def _store_volumes(
    blobs: BlobStore, folder: Path, base: Path, zip_path: Path, volumes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Zip each mail volume (the single volume is the package zip itself) and store it; their documents."""
    count = len(volumes)
    volume_docs = []
    for vol in volumes:
        vol_path = zip_path if count == 1 else base / vol["filename"]
        if count > 1:
            zip_folder(folder, vol_path, vol["files"])
        ref = blobs.put_file(vol_path, link=count > 1)
        volume_docs.append({"volume": vol["volume"], "of": count, "filename": vol["filename"],
                            "sha256": ref.sha256, "size": ref.size, "files": vol["files"]})
    return volume_docs


def _store_documents(blobs: BlobStore, folder: Path, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Store the package folder's documents; filename, hash and size by document key."""
    docs = {}
    for key in ("letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest", "print_list", "cover_sheet"):
        ref = blobs.put_file(folder / names[key])
        docs[key] = {"filename": names[key], "sha256": ref.sha256, "size": ref.size}
    return docs


def compile_package(rt: Runtime, package_id: int, *, root: Path | None = None) -> Compiled:
    """Build the approved version: the package folder, its zip, the mail volumes and the staff documents.

    The package folder holds the electronic material (推荐函, 审核意见, 汇总表 .docx/.xlsx, one folder per
    candidate, manifest.json), a ready-to-copy disc folder (光盘_U盘) with the same files, and the staff's
    打印清单 and 邮寄封面. The 内部排序表 is written next to the folder: it is never zipped, mailed or uploaded.
    Raises PackageError when the version is not approved or the store's content no longer matches the
    approved hash (a change after approval needs a new approval). Safe to repeat (the folder is rebuilt).
    """
    season = rt.season
    texts = package_texts()
    with session_scope(rt.db_url) as session:
        package = _check_compilable(session.get(Package, package_id), package_id)
        prop = build_proposal(session, season)
        if prop.content_hash != package.content_hash:
            raise PackageError(_text("changed_since_approval_version", version=package.version))
        version, doc_number = package.version, str(package.manifest.get("doc_number") or "")
        audit_number = str(package.manifest.get("audit_doc_number") or "")
        approved_at = package.approved_at or now()
        meta = dict(package.manifest)
        ranking_rows = ranking_table(session, season)

    base = (root or package_root(season.season_id, version))
    folder_name = texts["folder"].format(unit=safe_name(season.recommending_unit.name),
                                         edition=season.award.edition, award=season.award.name, version=version)
    if base.exists():
        shutil.rmtree(base)
    folder = base / folder_name
    folder.mkdir(parents=True)
    names = texts["files"]
    org = sum(1 for c in prop.candidates if c.group == "organization")
    person = len(prop.candidates) - org
    write_letter(folder / names["letter"], season, doc_number=doc_number, when=approved_at, org_count=org,
                 person_count=person, kind="recommendation")
    write_letter(folder / names["audit_opinion"], season, doc_number=audit_number, when=approved_at,
                 org_count=org, person_count=person, kind="audit_opinion")
    write_summary_docx(folder / names["summary_docx"], season, prop.candidates, approved_at)
    write_summary_xlsx(folder / names["summary_xlsx"], season, prop.candidates, approved_at)
    write_ranking_sheet(base / names["ranking_sheet"], season, ranking_rows, approved_at)
    for cand in prop.candidates:
        for f in cand.files:
            _copy_blob(rt.blobs, f.sha256, folder / f.path)

    # the electronic material: what the zip, the disc folder and the mail volumes carry
    generated = [names["letter"], names["audit_opinion"], names["summary_docx"], names["summary_xlsx"]]
    file_entries = _file_entries(folder, generated, prop)
    manifest: dict[str, Any] = {
        "season": season.season_id, "award": season.label, "unit": season.recommending_unit.name,
        "version": version, "doc_number": doc_number, "audit_doc_number": audit_number,
        "content_hash": prop.content_hash, "created_at": now().isoformat(), "folder": folder_name,
        "candidates": _manifest_candidates(prop),
        "files": file_entries,
    }
    # volumes: the first mail also carries the letters and the summary loose (easy to read at once)
    loose = ["letter", "audit_opinion", "summary_docx", "summary_xlsx"]
    loose_size = sum((folder / names[k]).stat().st_size for k in loose)
    draft_size = len(json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    entries = [(names["manifest"], draft_size * 2 + 8192)] + [(e["path"], e["size"]) for e in file_entries]
    planned = plan_volumes(entries, budget=attachment_budget(season.national.attachment_limit_mb),
                           first_extra=loose_size)
    count = len(planned)
    manifest["volumes"] = [
        {"volume": i, "of": count, "filename": _volume_name(texts, folder_name, i, count), "files": paths}
        for i, paths in enumerate(planned, start=1)
    ]
    (folder / names["manifest"]).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    electronic = [names["manifest"], *generated, *_material_paths(prop)]
    disc = folder / texts["disc_dir"]
    for rel in electronic:
        _link_or_copy(folder / rel, disc / rel)
    zip_path = base / f"{folder_name}.zip"
    zip_folder(folder, zip_path, [*generated, *_material_paths(prop), names["manifest"]])
    volume_docs = _store_volumes(rt.blobs, folder, base, zip_path, manifest["volumes"])

    # the staff's documents: the print list and the postal cover sheet (in the folder, not in the zip)
    print_list = render(
        "recommendation/print_list.txt.j2", edition=season.award.edition, award=season.award.name, version=version,
        unit=season.recommending_unit, national=season.national, disc_dir=texts["disc_dir"],
        content_hash=prop.content_hash, **_print_items(season, prop, names),
    )
    (folder / names["print_list"]).write_text(print_list, encoding="utf-8")
    write_cover_sheet(folder / names["cover_sheet"], season, version=version, count=len(prop.candidates),
                      volumes=count, when=approved_at)

    zip_ref = rt.blobs.put_file(zip_path, link=True)  # the package folder is never edited in place
    docs = _store_documents(rt.blobs, folder, names)
    ref = rt.blobs.put_file(base / names["ranking_sheet"])
    internal = {"ranking_sheet": {"filename": names["ranking_sheet"], "sha256": ref.sha256, "size": ref.size}}
    docs["zip"] = {"filename": zip_path.name, "sha256": zip_ref.sha256, "size": zip_ref.size}

    with session_scope(rt.db_url) as session:
        stored = session.get(Package, package_id)
        assert stored is not None
        stored.path = str(folder)
        stored.zip_sha256 = zip_ref.sha256
        stored.manifest = {**meta, **manifest, "documents": docs, "internal": internal,
                           "volume_docs": volume_docs, "disc_dir": texts["disc_dir"]}
        stored.status = PackageStatus.COMPILED
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="compile",
              details={"version": version, "zip_sha256": zip_ref.sha256, "files": len(file_entries),
                       "zip_size": zip_ref.size, "volumes": count})
    log.info("compiled package v%d: %d files, zip %d bytes, %d volume(s)", version, len(file_entries),
             zip_ref.size, count)
    return Compiled(package_id, version, folder, zip_path, zip_ref.sha256, len(file_entries), count)
