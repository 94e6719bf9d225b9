"""Storage URL -> backend: the one registry of schemes, used by ``award.runtime``, the DAGs, the plugins and the CLI.

A URL is a plain folder path or ``file:///folder`` (the local backend), or ``s3://bucket/prefix`` (S3, through a
boto3 client: S3Hook's under Airflow, else one made from AWARD_S3_ENDPOINT_URL). Adding a backend: its two classes,
each with its ``channel``, beside the others in ``blobs.py`` and ``shared.py``; the channel's member in
``award.enums.SourceChannel``; one entry in ``BACKENDS`` (``STORAGE_CHANNELS`` follows from it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from award.enums import SourceChannel
from award.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore
from award.storage.shared import LocalStorage, S3Storage, SharedStorage

BLOB_URL_VAR = "AWARD_BLOB_URL"
SHARED_URL_VAR = "AWARD_SHARED_URL"
S3_ENDPOINT_VAR = "AWARD_S3_ENDPOINT_URL"
LOCAL_SCHEME = "file"  # also what a URL without a scheme (a folder path) means
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class UnknownStorageScheme(ValueError):
    """A storage URL whose scheme no backend serves; names the URL, its variable and the known schemes."""


@dataclass(frozen=True)
class Backend:
    """What a scheme opens: a blob store and a shared storage from a URL (and a client, when it takes one)."""

    channel: SourceChannel  # the channel its stores carry (on every inbound item read through them)
    blobs: Callable[[str, Any], BlobStore]
    shared: Callable[[str, Any], SharedStorage]
    needs_client: bool = False  # takes a client made from an Airflow connection (S3: ``award_s3``)


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the environment (the DAG layer passes S3Hook's client instead)."""
    import boto3  # noqa: PLC0415 - boto3 loads only when S3 is configured (the embedded default never needs it)

    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get(S3_ENDPOINT_VAR))


def local_folder(url: str) -> str:
    """The folder of a local URL: a plain path as it is, ``file:///x`` as ``/x``."""
    if not _SCHEME.match(url):
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() != LOCAL_SCHEME or parts.netloc not in ("", "localhost"):
        raise ValueError(f"a file URL names a folder on this machine (file:///folder), not {url!r}")
    return unquote(parts.path)


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``."""
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix


def _s3_blobs(url: str, client: Any) -> BlobStore:
    bucket, prefix = s3_location(url)
    return S3BlobStore(client or s3_client(), bucket, prefix or "blobs/")


def _s3_shared(url: str, client: Any) -> SharedStorage:
    bucket, prefix = s3_location(url)
    return S3Storage(client or s3_client(), bucket, prefix)


BACKENDS: dict[str, Backend] = {
    LOCAL_SCHEME: Backend(SourceChannel.LOCAL, blobs=lambda url, _client: LocalBlobStore(local_folder(url)),
                          shared=lambda url, _client: LocalStorage(local_folder(url))),
    "s3": Backend(SourceChannel.S3, blobs=_s3_blobs, shared=_s3_shared, needs_client=True),
}
# The InboundItem channels of shared storage (what intake reads from storage rather than from a mailbox).
STORAGE_CHANNELS: tuple[SourceChannel, ...] = tuple(dict.fromkeys(b.channel for b in BACKENDS.values()))


def scheme(url: str) -> str:
    """The URL's scheme, lower case; ``file`` for a plain folder path."""
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else LOCAL_SCHEME


def backend(url: str, variable: str) -> Backend:
    """The backend serving ``url`` (the value of ``variable``), or ``UnknownStorageScheme``."""
    found = BACKENDS.get(scheme(url))
    if found is None:
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise UnknownStorageScheme(f"{variable}={url!r}: no storage backend for the scheme {scheme(url)!r} "
                                   f"(known: {known}, or a plain folder path)")
    return found


def open_blobs(url: str, client: Any = None, *, variable: str = BLOB_URL_VAR) -> BlobStore:
    """The blob store at ``url`` (``client``: the S3 client to use, when the backend takes one)."""
    return backend(url, variable).blobs(url, client)


def open_shared(url: str, client: Any = None, *, variable: str = SHARED_URL_VAR) -> SharedStorage:
    """The shared storage at ``url`` (``client``: the S3 client to use, when the backend takes one)."""
    return backend(url, variable).shared(url, client)


def uses_s3(url: str | None) -> bool:
    """Whether ``url`` is served by a backend that takes a client (S3): the DAGs then make one from ``award_s3``."""
    found = BACKENDS.get(scheme(url)) if url else None
    return found is not None and found.needs_client
