"""Where things are at run time (from the environment; the DAG layer fills it from Airflow connections).

Variables: AWARD_DATA_DIR (default ./var), AWARD_DB_URL (default SQLite in the data dir), AWARD_SEASON_FILE,
AWARD_BLOB_URL and AWARD_SHARED_URL (a folder path, or s3://bucket/prefix), AWARD_S3_ENDPOINT_URL (MinIO or moto),
AWARD_MAILDIR (the embedded mailbox folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from award.config import Season, load_season
from award.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore
from award.storage.shared import LocalStorage, S3Storage, SharedStorage
from award.store.db import default_url


def data_dir(*, create: bool = True) -> Path:
    """The embedded default's data folder (made when missing, unless ``create`` is false)."""
    path = Path(os.environ.get("AWARD_DATA_DIR", "var")).resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the environment (the DAG layer passes S3Hook's client instead)."""
    import boto3  # noqa: PLC0415 - boto3 loads only when S3 is configured (the embedded default never needs it)

    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get("AWARD_S3_ENDPOINT_URL"))


def _split_s3(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix


def blob_store(url: str | None = None, client: Any = None) -> BlobStore:
    """The blob store named by ``url`` / AWARD_BLOB_URL (default <data>/blobs)."""
    url = url or os.environ.get("AWARD_BLOB_URL") or str(data_dir() / "blobs")
    if url.startswith("s3://"):
        bucket, prefix = _split_s3(url)
        return S3BlobStore(client or s3_client(), bucket, prefix or "blobs/")
    return LocalBlobStore(url)


def shared_storage(url: str | None = None, client: Any = None) -> SharedStorage:
    """The shared storage named by ``url`` / AWARD_SHARED_URL (default <data>/shared)."""
    url = url or os.environ.get("AWARD_SHARED_URL") or str(data_dir() / "shared")
    if url.startswith("s3://"):
        bucket, prefix = _split_s3(url)
        return S3Storage(client or s3_client(), bucket, prefix)
    return LocalStorage(url)


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
    def from_env(cls, *, season_file: str | None = None, client: Any = None) -> Runtime:
        """Build from the environment variables above."""
        return cls(
            season=load_season(season_file),
            db_url=default_url(),
            blobs=blob_store(client=client),
            shared=shared_storage(client=client),
        )
