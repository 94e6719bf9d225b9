"""Convert old Word/WPS documents (.doc, .wps, .rtf, .odt) to .docx with LibreOffice headless.

Each call runs its own ``soffice`` with a private profile (``-env:UserInstallation``) in a temporary
folder, so concurrent calls do not hand work to each other, and kills it (its whole process group) on
timeout. ``convert_many`` converts several files in one ``soffice`` start, which dominates the cost
(about a second). The input is checked first: LibreOffice would otherwise import any garbage as plain text.

An applicant's document must not reach the network (a linked image would make LibreOffice fetch an attacker's
URL): ``soffice`` runs in a network namespace of its own with only a loopback that is down (``unshare -n`` as
root, ``unshare -r -n`` in a user namespace otherwise; without either, a warning is logged and only the next
measures hold). Its profile blocks links (no link updates, untrusted referer links blocked, no macros), and
it runs under a memory limit (``RLIMIT_AS``) and a timeout per document.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from award.intake.filetypes import OLE_TYPES, extension, ole_entry_names, sniff
from award.templating import message_group

log = logging.getLogger(__name__)
_text = message_group("intake", "convert")

CONVERTIBLE = frozenset({"doc", "ole2", "rtf", "odt"})
DOCX_FILTER = "docx:MS Word 2007 XML"
TIMEOUT_PER_DOCUMENT = 60.0  # seconds, on top of the start
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of soffice (RLIMIT_AS), bytes
# fontconfig file mapping the office's fonts (仿宋_GB2312, 方正小标宋简体, 黑体, 楷体_GB2312, 宋体) to Debian's CJK fonts
FONTS_CONF = Path(__file__).resolve().parent.parent / "fonts" / "fonts.conf"
_PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")

# The profile's settings: no link is updated or followed, no macro runs (officecfg paths and values)
_SETTINGS = (
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "boolean", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "int", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "boolean", "true"),
    ("/org.openoffice.Office.Writer/Content/Update", "Link", "int", "0"),  # LinkUpdateModes.NEVER
    ("/org.openoffice.Office.Calc/Content/Update", "Link", "int", "0"),
    ("/org.openoffice.Office.Common/Misc", "UseSystemFileDialog", "boolean", "false"),
)


class ConversionError(Exception):
    """A document could not be converted; ``reason`` is a Chinese sentence for the applicant."""

    def __init__(self, reason: str, *, filename: str = "", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.filename = filename
        self.detail = detail


def _reason(filename: str, why: str) -> str:
    """The applicant's reason (``convert`` in ``templates/intake/messages.yaml``); ``why`` is one of its ``why``."""
    return _text("reason", name=filename, why=why)


@lru_cache(maxsize=1)
def sandbox_prefix() -> tuple[str, ...]:
    """The command prefix that gives ``soffice`` no network: ``unshare -n`` (root), ``unshare -r -n`` (a user
    namespace), or nothing when neither works here (logged)."""
    unshare = shutil.which("unshare")
    if unshare:
        candidates: list[tuple[str, ...]] = [(unshare, "-n")] if os.geteuid() == 0 else []
        candidates.append((unshare, "-r", "-n"))
        for prefix in candidates:
            try:
                ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                return prefix
    log.warning("no network namespace for LibreOffice (unshare unavailable): conversions rely on its settings only")
    return ()


def write_profile(profile: Path) -> None:
    """A LibreOffice user profile whose settings block links and macros (``registrymodifications.xcu``)."""
    items = "".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>'
        for path, name, _type, value in _SETTINGS
    )
    user = profile / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{items}</oor:items>\n", encoding="utf-8")


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def office_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every ``soffice`` run: ``home`` as HOME and TMPDIR, no proxies, and ``FONTCONFIG_FILE``
    set to the shipped fonts.conf, so the office's font names are laid out in the installed CJK fonts."""
    env = {**(os.environ if base is None else base), "HOME": str(home), "TMPDIR": str(home),
           "FONTCONFIG_FILE": str(FONTS_CONF)}
    for proxy in _PROXIES:
        env.pop(proxy, None)
    return env


def find_soffice() -> str | None:
    """Path of the LibreOffice binary (``AWARD_SOFFICE`` overrides), or None when not installed."""
    override = os.environ.get("AWARD_SOFFICE")
    if override:
        return override if Path(override).exists() else None
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_docx(data: bytes, filename: str, *, timeout: float = TIMEOUT_PER_DOCUMENT) -> bytes:
    """Convert one .doc/.wps/.rtf/.odt document to .docx bytes; a .docx is returned unchanged.

    Raises ``ConversionError`` (Chinese ``reason``) when the input is not a Word-type document, LibreOffice
    is missing, times out or produces no output.
    """
    result = convert_many({filename: data}, timeout=timeout)[filename]
    if isinstance(result, ConversionError):
        raise result
    return result


def convert_many(files: Mapping[str, bytes], *, timeout: float = TIMEOUT_PER_DOCUMENT
                 ) -> dict[str, bytes | ConversionError]:
    """Convert several documents in one LibreOffice run: ``{filename: docx bytes or ConversionError}``.

    ``timeout``: seconds per document (the run gets one start plus that much per document).
    """
    results: dict[str, bytes | ConversionError] = {}
    todo: dict[str, bytes] = {}
    for name, data in files.items():
        kind = sniff(data)
        if kind == "docx":
            results[name] = data
        elif kind in CONVERTIBLE and (kind not in OLE_TYPES or ole_entry_names(data)):
            todo[name] = data
        else:
            results[name] = ConversionError(_reason(name, _text("why.not_word")), filename=name, detail=kind)
    if not todo:
        return results
    soffice = find_soffice()
    if soffice is None:
        for name in todo:
            results[name] = ConversionError(
                _reason(name, _text("why.old_format")), filename=name, detail="soffice not installed"
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
        detail = _run_soffice(soffice, list(inputs.values()), outdir, root, timeout * (len(inputs) + 1))
        for name, path in inputs.items():
            out = outdir / (path.stem + ".docx")
            if detail == "timeout":
                results[name] = ConversionError(_reason(name, _text("why.timeout")), filename=name, detail="timeout")
            elif out.exists() and sniff(out.read_bytes()) == "docx":
                results[name] = out.read_bytes()
            else:
                results[name] = ConversionError(
                    _reason(name, _text("why.unreadable")), filename=name, detail=detail or "no output"
                )
    return results


def _run_soffice(soffice: str, inputs: list[Path], outdir: Path, root: Path, timeout: float) -> str:
    """Run one headless conversion; returns "" on a clean exit, "timeout", or a short error detail."""
    write_profile(root / "profile")
    profile = (root / "profile").as_uri()
    env = office_env(root)
    cmd = [
        *sandbox_prefix(),
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
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        preexec_fn=_limit_memory,  # noqa: PLW1509 - only setrlimit, before exec
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
