"""Convert old Word/WPS documents (.doc, .wps, .rtf, .odt) to .docx with LibreOffice headless.

Each call runs its own ``soffice`` with a private profile (``-env:UserInstallation``) in a temporary
folder, so concurrent calls do not hand work to each other, and kills it (its whole process group) on
timeout. ``convert_many`` converts several files in one ``soffice`` start, which dominates the cost
(about a second). The input is checked first: LibreOffice would otherwise import any garbage as plain text.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from award.filetypes import OLE_TYPES, extension, ole_entry_names, sniff

CONVERTIBLE = frozenset({"doc", "ole2", "rtf", "odt"})
DOCX_FILTER = "docx:MS Word 2007 XML"


class ConversionError(Exception):
    """A document could not be converted; ``reason`` is a Chinese sentence for the applicant."""

    def __init__(self, reason: str, *, filename: str = "", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.filename = filename
        self.detail = detail


def _reason(filename: str, why: str) -> str:
    return f"附件“{filename}”{why}，系统无法将其转换为.docx格式；请用Word或WPS“另存为”.docx后重新提交。"


def find_soffice() -> str | None:
    """Path of the LibreOffice binary (``AWARD_SOFFICE`` overrides), or None when not installed."""
    override = os.environ.get("AWARD_SOFFICE")
    if override:
        return override if Path(override).exists() else None
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_docx(data: bytes, filename: str, *, timeout: float = 60) -> bytes:
    """Convert one .doc/.wps/.rtf/.odt document to .docx bytes; a .docx is returned unchanged.

    Raises ``ConversionError`` (Chinese ``reason``) when the input is not a Word-type document, LibreOffice
    is missing, times out or produces no output.
    """
    result = convert_many({filename: data}, timeout=timeout)[filename]
    if isinstance(result, ConversionError):
        raise result
    return result


def convert_many(files: Mapping[str, bytes], *, timeout: float = 120) -> dict[str, bytes | ConversionError]:
    """Convert several documents in one LibreOffice run: ``{filename: docx bytes or ConversionError}``."""
    results: dict[str, bytes | ConversionError] = {}
    todo: dict[str, bytes] = {}
    for name, data in files.items():
        kind = sniff(data)
        if kind == "docx":
            results[name] = data
        elif kind in CONVERTIBLE and (kind not in OLE_TYPES or ole_entry_names(data)):
            todo[name] = data
        else:
            results[name] = ConversionError(_reason(name, "不是有效的Word/WPS文档"), filename=name, detail=kind)
    if not todo:
        return results
    soffice = find_soffice()
    if soffice is None:
        for name in todo:
            results[name] = ConversionError(
                _reason(name, "为旧版Word/WPS格式"), filename=name, detail="soffice not installed"
            )
        return results
    with tempfile.TemporaryDirectory(prefix="award-convert-") as tmp:
        root = Path(tmp)
        indir, outdir = root / "in", root / "out"
        indir.mkdir()
        outdir.mkdir()
        inputs: dict[str, Path] = {}
        for i, (name, data) in enumerate(todo.items()):
            # Plain ASCII names: LibreOffice and the shell need not see the applicant's file names.
            ext = extension(name) if extension(name) in {".doc", ".wps", ".rtf", ".odt", ".dot"} else ".doc"
            path = indir / f"in-{i}{ext}"
            path.write_bytes(data)
            inputs[name] = path
        detail = _run_soffice(soffice, list(inputs.values()), outdir, root, timeout)
        for name, path in inputs.items():
            out = outdir / (path.stem + ".docx")
            if detail == "timeout":
                results[name] = ConversionError(_reason(name, "转换超时"), filename=name, detail="timeout")
            elif out.exists() and sniff(out.read_bytes()) == "docx":
                results[name] = out.read_bytes()
            else:
                results[name] = ConversionError(
                    _reason(name, "无法打开（可能已损坏）"), filename=name, detail=detail or "no output"
                )
    return results


def _run_soffice(soffice: str, inputs: list[Path], outdir: Path, root: Path, timeout: float) -> str:
    """Run one headless conversion; returns "" on a clean exit, "timeout", or a short error detail."""
    profile = (root / "profile").as_uri()
    env = {**os.environ, "HOME": str(root), "TMPDIR": str(root)}
    cmd = [
        soffice,
        f"-env:UserInstallation={profile}",
        "--headless",
        "--invisible",
        "--norestore",
        "--nolockcheck",
        "--nodefault",
        "--convert-to",
        DOCX_FILTER,
        "--outdir",
        str(outdir),
        *[str(p) for p in inputs],
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return "timeout"
    if proc.returncode != 0:
        return f"soffice exit {proc.returncode}: {err.decode('utf-8', 'replace')[-300:]}"
    return ""
