"""Benchmark: compile a recommendation package for 100 candidates with 5 MB of materials each.

Materials are random (incompressible) PDFs-to-be in a temporary local blob store. Measures the compile (letter,
summary tables, per-candidate folders streamed from the blob store, manifest, zip, zip into the blob store)
and verification, the peak RSS of this process (target < 300 MB: files are streamed, never held in memory),
and the ratio to a plain baseline: copying the same files and zipping them with zipfile under the same
per-file compression rule. Run: ``.venv/bin/python bench/package_bench.py [--candidates N] [--mb M]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--mb", type=float, default=5.0, help="materials per candidate (MB)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="award-pkg-bench-"))
    os.environ["AWARD_DATA_DIR"] = str(tmp / "data")
    os.environ["AWARD_FAKE_NOW"] = "2023-06-12T10:00:00+08:00"
    try:
        from award.config import load_season
        from award.recommendation.approval import record_approval
        from award.recommendation.compile import compile_package, compress_type
        from award.recommendation.proposal import pending_work
        from award.recommendation.verify import verify_package
        from award.runtime import Runtime
        from award.states import State, create_application_state, transition
        from award.storage.blobs import LocalBlobStore
        from award.storage.shared import LocalStorage
        from award.store import session_scope
        from award.store.db import migrate
        from award.store.models import Applicant, Application, Material

        season = load_season()
        url = f"sqlite:///{tmp / 'award.db'}"
        migrate(url)
        blobs = LocalBlobStore(tmp / "blobs")
        rt = Runtime(season=season, db_url=url, blobs=blobs, shared=LocalStorage(tmp / "shared"))
        path = [State.COMPLETE, State.DEPT_REVIEW, State.DEPT_CLEARED, State.IN_PUBLICITY, State.PUBLICITY_PASSED,
                State.REVIEWED, State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_CONFIRMED]
        per_file = int(args.mb * 1024 * 1024) // 5
        t0 = time.perf_counter()
        with session_scope(url) as s:
            for n in range(1, args.candidates + 1):
                person = n % 10 == 0
                cat = "individual" if person else "organization"
                applicant = Applicant(kind="person" if person else "organization",
                                      key=f"33010619800101{n:03d}X" if person else f"91330100MA{n:07d}X",
                                      name=f"基准单位{n:03d}", city=season.province.cities[n % 11], phone="13900001111",
                                      email=f"a{n}@example.com", contact_name="联系人")
                s.add(applicant)
                s.flush()
                app = Application(season=season.season_id, applicant_id=applicant.id, category=cat,
                                  submission_no=f"GS2023{n:04d}", channel="mail", channels=["mail"], fields={})
                create_application_state(s, app, State.RECEIVED, actor="bench", reason="bench")
                for target in path:
                    transition(s, app, target, actor="bench", reason="bench")
                kinds = ["form_docx", "form_pdf", "evidence", "evidence", "publicity_proof"]
                if person:
                    kinds[3] = "unit_opinion"
                for i, kind in enumerate(kinds):
                    ref = blobs.put_bytes(os.urandom(per_file))
                    suffix = ".docx" if kind == "form_docx" else ".pdf"
                    s.add(Material(application_id=app.id, kind=kind, filename=f"f{i}{suffix}", sha256=ref.sha256,
                                   size=ref.size, source_channel="mail", storage_uri=ref.uri))
        setup_s = time.perf_counter() - t0
        rss_before = peak_rss_mb()

        work = pending_work(rt)
        pid = record_approval(rt, content_hash=work["content_hash"], approved=True, approver="基准", opinion="同意",
                              doc_number="1号")
        t0 = time.perf_counter()
        compiled = compile_package(rt, pid, root=tmp / "package")
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = verify_package(rt, pid)
        verify_s = time.perf_counter() - t0
        assert report.ok, report.problems

        # baseline: copy the same files (blob -> folder) and zip them with the same per-file compression
        base = tmp / "baseline" / compiled.folder.name
        t0 = time.perf_counter()
        rels = sorted(p.relative_to(compiled.folder).as_posix() for p in compiled.folder.rglob("*") if p.is_file())
        for rel in rels:
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(compiled.folder / rel, base / rel)
        with zipfile.ZipFile(tmp / "baseline.zip", "w", allowZip64=True) as zf:
            for rel in rels:
                zf.write(base / rel, f"{base.name}/{rel}", compress_type=compress_type(rel), compresslevel=6)
        baseline_s = time.perf_counter() - t0

        total_mb = sum((compiled.folder / r).stat().st_size for r in rels) / 1048576
        print(f"package bench: {args.candidates} candidates x {args.mb:g} MB materials "
              f"({total_mb:.0f} MB in {compiled.files} files)")
        print(f"  setup (random materials into the blob store): {setup_s:.1f} s")
        print(f"  compile (folder + zip + zip into blob store): {compile_s:.2f} s")
        print(f"  verify (re-hash zip members vs store):         {verify_s:.2f} s")
        print(f"  baseline copy + zip:                           {baseline_s:.2f} s")
        print(f"  ratio compile / baseline:                      {compile_s / baseline_s:.2f}")
        print(f"  peak RSS: {peak_rss_mb():.0f} MB (after setup {rss_before:.0f} MB; target < 300 MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
