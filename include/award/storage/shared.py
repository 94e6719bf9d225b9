"""Shared storage (cities' uploads, reports, notices, exports): a local folder by default, or an S3 prefix.

Each backend carries its ``channel`` (the ``SourceChannel`` of what a source reads from it);
``award.storage.registry`` opens one from its URL. Objects are listed with an ETag so a source can take each object once and see a changed one as a new version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from award.enums import SourceChannel


@dataclass(frozen=True)
class ObjectInfo:
    """One object in shared storage."""

    key: str
    etag: str
    size: int


class SharedStorage(Protocol):
    """What every backend offers: everything callers use (no probing for optional methods)."""

    @property
    def channel(self) -> SourceChannel:
        """The backend (``SourceChannel.LOCAL`` or ``S3``), recorded on every inbound item read from it."""
        ...

    def list(self, prefix: str = "") -> list[ObjectInfo]: ...
    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes) -> str: ...
    def write_file(self, key: str, path: Path) -> str: ...
    def uri(self, key: str) -> str: ...


def _safe_key(key: str) -> str:
    parts = PurePosixPath(key.replace("\\", "/")).parts
    if not parts or any(p in ("..", "") for p in parts) or key.startswith("/"):
        raise ValueError(f"unsafe storage key: {key!r}")
    # checked as if a backslash separated folders, but kept: on POSIX and S3 it is a character of the name
    return "/".join(PurePosixPath(key).parts)


class LocalStorage:
    """A folder; the ETag is size + modification time (a rewritten file is a new version)."""

    channel = SourceChannel.LOCAL

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                st = path.stat()
                key = path.relative_to(self.root).as_posix()
                etag = hashlib.md5(f"{st.st_size}:{st.st_mtime_ns}".encode(), usedforsecurity=False).hexdigest()
                out.append(ObjectInfo(key, etag, st.st_size))
        return sorted(out, key=lambda o: o.key)

    def path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write(self, key: str, data: bytes) -> str:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path.as_uri()

    def write_file(self, key: str, path: Path) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return target.as_uri()

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()


class S3Storage:
    """An S3 bucket prefix through a boto3 client (from the S3Hook connection under Airflow)."""

    channel = SourceChannel.S3

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.prefix):]
                if key.endswith("/"):
                    continue
                out.append(ObjectInfo(key, obj["ETag"].strip('"'), obj["Size"]))
        return sorted(out, key=lambda o: o.key)

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self.prefix + _safe_key(key))["Body"].read()
        return body

    def write(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + _safe_key(key), Body=data)
        return self.uri(key)

    def write_file(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, self.prefix + _safe_key(key))
        return self.uri(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{_safe_key(key)}"
