"""Where things are at run time (from the environment; the DAG layer fills it from Airflow connections).

Variables: AWARD_DATA_DIR (default ./var), AWARD_DB_URL (default SQLite in the data dir), AWARD_SEASON_FILE,
AWARD_BLOB_URL and AWARD_SHARED_URL (a folder path, ``file:///folder`` or ``s3://bucket/prefix``: the schemes of
``award.storage.registry``), AWARD_S3_ENDPOINT_URL (MinIO or moto), AWARD_MAILDIR (the embedded mailbox folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from award.config import Season, load_season
from award.storage.blobs import BlobStore
from award.storage.registry import BLOB_URL_VAR, SHARED_URL_VAR, open_blobs, open_shared, uses_s3
from award.storage.shared import SharedStorage
from award.store.db import default_url


def data_dir(*, create: bool = True) -> Path:
    """The embedded default's data folder (made when missing, unless ``create`` is false)."""
    path = Path(os.environ.get("AWARD_DATA_DIR", "var")).resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def blob_url() -> str:
    """The blob store's URL: AWARD_BLOB_URL, default <data>/blobs."""
    return os.environ.get(BLOB_URL_VAR) or str(data_dir() / "blobs")


def shared_url() -> str:
    """Shared storage's URL: AWARD_SHARED_URL, default <data>/shared."""
    return os.environ.get(SHARED_URL_VAR) or str(data_dir() / "shared")


def storage_uses_s3() -> bool:
    """Whether the blob store or shared storage is on S3 (the DAG layer then passes the ``award_s3`` client)."""
    return any(uses_s3(os.environ.get(var)) for var in (BLOB_URL_VAR, SHARED_URL_VAR))


def blob_store(url: str | None = None, client: Any = None) -> BlobStore:
    """The blob store named by ``url`` / AWARD_BLOB_URL (default <data>/blobs)."""
    return open_blobs(url or blob_url(), client)


def shared_storage(url: str | None = None, client: Any = None) -> SharedStorage:
    """The shared storage named by ``url`` / AWARD_SHARED_URL (default <data>/shared)."""
    return open_shared(url or shared_url(), client)


def maildir() -> Path:
    """The embedded mailbox (a Maildir folder)."""
    return Path(os.environ.get("AWARD_MAILDIR") or data_dir() / "maildir")


@dataclass
class Runtime:
    """Everything a domain function needs to reach its data."""

    season: Season
    db_url: str
    blobs: BlobStore
    shared: SharedStorage

    @classmethod
    def from_env(cls, *, season_file: str | None = None, client: Any = None, season: Season | None = None) -> Runtime:
        """Build from the environment variables above (``season``: one loaded already; ``client``: the S3 client
        for storage on S3, e.g. S3Hook's under Airflow)."""
        return cls(
            season=season if season is not None else load_season(season_file),
            db_url=default_url(),
            blobs=blob_store(client=client),
            shared=shared_storage(client=client),
        )
