"""What every step of the national package shares: its vocabulary, errors, file names and small helpers.

The package goes through these modules, one per step: ``proposal`` (the candidates and files a package would
hold, and the hash the approval binds), ``approval`` (the leadership group's decision: a new ``Package``
version), ``documents`` (the letters, the summary, the cover sheet), ``volumes`` (the mail-sized parts),
``compile`` (the versioned folder and zip), ``verify`` (the rule list checking a compiled version), ``export``
(the upload and the national mail) and ``results`` (the result mail to each ranked applicant). The export
schedule (its due time, whether the current content was sent, the deadline alert) is the cheap module
``award.recommendation.alerts``; the scores and the ranking before all this are ``scores``, ``score_sheet`` and
``ranking``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from award.enums import State
from award.seasonfile import yaml_load
from award.storage.blobs import BlobStore
from award.store.models import Application
from award.templating import message_group, template_path

ACTOR = "recommendation"
PACKAGE_KINDS = ("form_docx", "form_pdf", "evidence", "publicity_proof", "unit_opinion")
CANDIDATE_STATES = (State.CANDIDATE_CONFIRMED, State.RECOMMENDED, State.EXPORTED)
APPROVED_STATES = (State.RECOMMENDED, State.EXPORTED)
# the package version statuses before compile (award.enums.PackageStatus has the later ones)
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')

_text = message_group("recommendation", "package")


class PackageError(RuntimeError):
    """The package cannot go on (e.g. the content changed since the approval); nothing was sent."""


class PackageVerificationError(PackageError):
    """Verification failed; the package is marked failed and ops were sent the report."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(_text("verification_failed", problems=problems[:10]))


@lru_cache(maxsize=1)
def package_texts() -> dict[str, Any]:
    """File names and labels (templates/recommendation/package.yaml)."""
    texts: dict[str, Any] = yaml_load(template_path("recommendation/package.yaml").read_text(encoding="utf-8"))
    return texts


def safe_name(name: str) -> str:
    """A file-system-safe version of a name (Chinese kept; separators and control characters replaced)."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned[:80] or _text("unnamed")



def form_field(app: Application, *keys: str) -> str:
    """The first non-empty of the application's form fields ``keys`` ("" when none is filled in)."""
    for key in keys:
        value = (app.fields or {}).get(key)
        if value:
            return str(value)
    return ""


@contextmanager
def local_copy(blobs: BlobStore, sha256: str) -> Iterator[Path]:
    """A local file with the blob's bytes (the store's own file when it is local)."""
    own = blobs.local_path(sha256)
    if own is not None:
        yield own
        return
    with tempfile.TemporaryDirectory(prefix="award-pkg-") as tmp:
        dest = Path(tmp) / sha256
        blobs.copy_to(sha256, dest)
        yield dest
