"""Hostile-intake benchmark (`make bench`): peak RSS of one intake run over a batch of issue 13's hostile mails.

Set-up (not measured): a Maildir holding three mails of six zips each (every zip under every limit, each expanding
to about 40 MB: 240 MB per mail), a mail with a 60 MB attachment, a mail with 1,000 attachments, zip bombs (one
lying about its sizes), a traversal zip, an encrypted zip, a mail cut short, a multipart without a boundary,
messages nested 2,000 deep, a Word file with DDE, one with an embedded executable, PDFs with JavaScript and a
hidden Launch action, an executable named .pdf, and two ordinary applications. Then, in a child process (so its
peak RSS is its own): archive the mailbox and run intake on SQLite (``fetch_mail``, ``process_pending``).

Target: peak RSS < 400 MB, and intake finishes (both ordinary applications created). Before issue 13, one such
19 MB mail took 1.35 GB and three took 3.8 GB. A missed target prints ``TARGET MISSED``; exit 1 only on a crash.
Run: ``.venv/bin/python bench/hostile_bench.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import mailbox
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

FAKE_NOW = "2023-05-20T10:00:00+08:00"
ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def _mail(subject: str, files: dict[str, bytes], sender: str = "hostile@example.com") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "zlfzc@scjg.example.gov.cn", subject
    msg.set_content("材料见附件")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def _big_zip(seed: int) -> bytes:
    """A zip of one 40 MB PDF-like member, compressing about 80:1 (under the 100:1 ratio limit)."""
    member = b"%PDF-1.4\n1 0 obj\n<< /Note (" + os.urandom(480 * 1024) + b"\x00" * (40 * MB) + b") >>\nendobj\n%%EOF\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"证实性材料{seed}-检测报告.pdf", member)
    return out.getvalue()


def setup(root: Path) -> int:
    """Write the hostile mails (and two ordinary applications) into ``root/maildir/office``; returns the count."""
    sys.path.insert(0, str(ROOT))
    from award.config import load_season
    from award.demo.generator import generate
    from award.demo.setup import deliver
    from tests import mailcases as mc

    season = load_season()
    generate(root / "gen", 2, 7, season=season, defect_share=0.0, channels=("mail",))
    deliver(root / "gen", root / "maildir", root / "shared")
    box = mailbox.Maildir(str(root / "maildir" / "office"), create=True)
    mails: list[bytes] = []
    for n in range(3):
        mails.append(_mail("申报材料", {f"材料{n}-{i}.zip": _big_zip(n * 10 + i) for i in range(6)}))
    mails.append(_mail("大附件", {"扫描件.pdf": b"%PDF-1.4\n" + os.urandom(60 * MB) + b"\n%%EOF\n"}))
    mails.append(_mail("很多附件", {f"证明{i:04d}.pdf": mc.pdf_with(str(i).encode()) for i in range(1000)}))
    mails.append(_mail("压缩包", {"材料.zip": mc.zip_bomb(), "材料2.zip": mc.lying_zip_bomb(),
                                  "打包.zip": mc.traversal_zip(), "加密.zip": mc.encrypted_zip()}))
    cut = _mail("截断", {"证明.pdf": mc.pdf_with(b"/Note (" + b"x" * 200_000 + b")")})
    mails.append(cut[: len(cut) // 2])
    mails.append(b"From: nob@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
                 b"--x\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--x--\r\n")
    deep = b"From: deep@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    for i in range(2000):
        deep += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    mails.append(deep + b"Content-Type: text/plain\r\n\r\nx\r\n")
    mails.append(_mail("活动内容", {"说明.docx": mc.dde_docx(), "附件.docx": mc.ole_docx(), "证书.pdf": mc.pdf_javascript(),
                                    "报告.pdf": mc.pdf_hidden_launch(), "假的.pdf": mc.mismatched_pdf()}))
    for raw in mails:
        box.add(raw)
    return len(mails) + 2


def child(root: Path) -> None:
    """Archive the mailbox and run intake once; print JSON with the counts and the peak RSS of this process."""
    os.environ["AWARD_FAKE_NOW"] = FAKE_NOW
    from award.config import load_season
    from award.inbound.sources import MaildirSource, fetch_mail
    from award.intake import process_pending
    from award.runtime import Runtime
    from award.storage.blobs import LocalBlobStore
    from award.storage.shared import LocalStorage
    from award.store.db import migrate, session_scope

    url = f"sqlite:///{root / 'award.db'}"
    migrate(url)
    rt = Runtime(load_season(), url, LocalBlobStore(root / "blobs"), LocalStorage(root / "shared"))
    start = time.perf_counter()
    with session_scope(url) as s:
        mails = fetch_mail(s, rt, MaildirSource(root / "maildir", "office"))
    with session_scope(url) as s:
        result = process_pending(s, rt)
    print(json.dumps({"seconds": time.perf_counter() - start, "mails": len(mails), **result.as_dict(),
                      "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM). Not ru_maxrss: after fork + exec it keeps the forking parent's
    peak, and the parent here built hundreds of MB of mails."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="hostile-bench-") as tmp:
        root = Path(tmp)
        count = setup(root)
        out = subprocess.run([sys.executable, __file__, "--child", str(root)], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            print(f"CRASHED: the intake process exited with {out.returncode}")
            return 1
        res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"hostile intake: {res['mails']} of {count} mails archived and processed in {res['seconds']:.1f} s: "
          f"{res['applications_created']} applications, {res['materials_added']} materials, "
          f"{res['refused_files']} refusals, {res['failed']} unusable mails answered, {res['mails_queued']} mails queued")
    print(f"peak RSS of the hostile intake process: {res['peak_rss_mb']:.0f} MB (target < 400 MB)")
    missed = [text for ok, text in (
        (res["peak_rss_mb"] < 400, f"hostile intake peak RSS {res['peak_rss_mb']:.0f} MB, target < 400 MB"),
        (res["applications_created"] == 2, f"{res['applications_created']} ordinary applications created, expected 2"),
    ) if not ok]
    for text in missed:
        print(f"TARGET MISSED: {text}")
    if not missed:
        print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
