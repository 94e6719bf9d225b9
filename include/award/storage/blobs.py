"""Content-addressed blob store (SHA-256 keys): a local folder by default, or an S3 bucket through boto3.

Everything inbound is written here before it is parsed. Each backend carries its ``channel`` (the
``SourceChannel`` recorded on what is read through it); ``award.storage.registry`` opens one from its URL. Writing the same bytes twice stores them once.
Integrity: every read checks the content against its SHA-256 (``BlobCorrupt`` on a mismatch, an ops error);
putting bytes whose blob already exists checks the stored copy and replaces it when it is corrupt (a repair);
``verify_all`` scans the whole store (``award blobs verify``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from award.enums import SourceChannel

CHUNK = 1024 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlobRef:
    """Where a blob lives: its SHA-256, size and URI."""

    sha256: str
    size: int
    uri: str


class BlobNotFound(KeyError):
    """No blob with that SHA-256."""


class BlobCorrupt(RuntimeError):
    """A stored blob's content does not match its SHA-256: the store is damaged (ops), not the sender's file."""

    def __init__(self, sha256: str, actual: str) -> None:
        super().__init__(f"blob {sha256} is corrupt (its content hashes to {actual})")
        self.sha256 = sha256
        self.actual = actual


class _VerifyingReader(io.RawIOBase):
    """A read-only stream that hashes what passes through and raises ``BlobCorrupt`` at its end on a mismatch."""

    def __init__(self, raw: Any, sha256: str) -> None:
        self._raw, self._sha, self._digest = raw, sha256, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        if not data:
            actual = self._digest.hexdigest()
            if actual != self._sha:
                raise BlobCorrupt(self._sha, actual)
            return 0
        self._digest.update(data)
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _verified(sha256: str, data: bytes) -> bytes:
    actual = sha256_bytes(data)
    if actual != sha256:
        raise BlobCorrupt(sha256, actual)
    return data


class BlobStore(Protocol):
    """What every backend offers: everything callers use (no probing for optional methods)."""

    @property
    def channel(self) -> SourceChannel:
        """The backend (``SourceChannel.LOCAL`` or ``S3``)."""
        ...

    def put_bytes(self, data: bytes) -> BlobRef: ...
    def put_file(self, path: Path, *, link: bool = False) -> BlobRef: ...
    def get_bytes(self, sha256: str) -> bytes: ...
    def open(self, sha256: str) -> IO[bytes]: ...
    def exists(self, sha256: str) -> bool: ...
    def uri(self, sha256: str) -> str: ...
    def shas(self) -> Iterator[str]: ...
    def copy_to(self, sha256: str, dest: Path) -> None: ...

    def local_path(self, sha256: str) -> Path | None:
        """The blob's own file when the store is a local folder (read it, never change it), else None."""
        ...


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_sha(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


class LocalBlobStore:
    """Blobs as files ``<root>/<aa>/<sha256>``, written atomically."""

    channel = SourceChannel.LOCAL

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = os.fspath(self.root)  # string paths: intake writes thousands of small blobs
        self._uri_root = self.root.as_uri()

    def _file(self, sha256: str) -> str:
        _check_sha(sha256)
        return f"{self._root}/{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        return Path(self._file(sha256))

    def local_path(self, sha256: str) -> Path | None:
        return self.path(sha256)

    def uri(self, sha256: str) -> str:
        _check_sha(sha256)
        return f"{self._uri_root}/{sha256[:2]}/{sha256}"  # hex names need no quoting

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self._file(sha256))

    def _intact(self, sha256: str) -> bool:
        """Whether the stored blob exists with the right content (a corrupt one is logged for ops)."""
        try:
            actual, _size = sha256_file(Path(self._file(sha256)))
        except FileNotFoundError:
            return False
        if actual != sha256:
            log.error("blob %s is corrupt (content hashes to %s): replaced by the bytes put again", sha256, actual)
            return False
        return True

    def _install(self, tmp: Path | str, sha256: str, size: int) -> BlobRef:
        target = self._file(sha256)
        if self._intact(sha256):
            os.unlink(tmp)
        else:
            try:
                os.replace(tmp, target)
            except FileNotFoundError:  # the shard folder's first blob
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(tmp, target)
        return BlobRef(sha256, size, self.uri(sha256))

    def put_bytes(self, data: bytes) -> BlobRef:
        sha = sha256_bytes(data)
        if self.exists(sha) and self._intact(sha):
            return BlobRef(sha, len(data), self.uri(sha))
        fd, tmp = tempfile.mkstemp(dir=self._root, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return self._install(tmp, sha, len(data))

    def put_file(self, path: Path, *, link: bool = False) -> BlobRef:
        """Store a file; with ``link`` a hard link replaces the copy (the file must then never be modified)."""
        if link:
            sha, size = sha256_file(path)
            target = self.path(sha)
            if target.exists() and not self._intact(sha):
                return self.put_file(path)  # a copy replaces the corrupt blob
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:  # another file system: copy after all
                    return self.put_file(path)
            return BlobRef(sha, size, target.as_uri())
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        return self._install(Path(tmp), digest.hexdigest(), size)

    def get_bytes(self, sha256: str) -> bytes:
        try:
            return _verified(sha256, self.path(sha256).read_bytes())
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def open(self, sha256: str) -> IO[bytes]:
        """A stream of the blob; reading it to its end raises ``BlobCorrupt`` if the content does not match."""
        try:
            return io.BufferedReader(_VerifyingReader(open(self.path(sha256), "rb"), sha256), CHUNK)
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def shas(self) -> Iterator[str]:
        """Every stored blob's SHA-256 (for ``verify_all``)."""
        for shard in sorted(os.listdir(self._root)):
            if len(shard) == 2 and os.path.isdir(os.path.join(self._root, shard)):
                yield from sorted(n for n in os.listdir(os.path.join(self._root, shard)) if _SHA256.fullmatch(n))

    def copy_to(self, sha256: str, dest: Path) -> None:
        """Copy a blob to a file (streamed)."""
        with self.open(sha256) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)


class S3BlobStore:
    """Blobs as objects ``s3://<bucket>/<prefix><aa>/<sha256>`` through a boto3 S3 client."""

    channel = SourceChannel.S3

    def __init__(self, client: Any, bucket: str, prefix: str = "blobs/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def key(self, sha256: str) -> str:
        _check_sha(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def uri(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha256)}"

    def local_path(self, sha256: str) -> Path | None:
        """None: an object has no local file (``copy_to`` makes one)."""
        return None

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore only with the S3 backend

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def _intact(self, sha256: str) -> bool:
        """Whether the object exists with the right content (a corrupt one is logged for ops)."""
        try:
            with self.open(sha256) as fh:
                while fh.read(CHUNK):
                    pass
            return True
        except BlobNotFound:
            return False
        except BlobCorrupt as exc:
            log.error("%s: replaced by the bytes put again", exc)
            return False

    def put_bytes(self, data: bytes) -> BlobRef:
        sha = sha256_bytes(data)
        if not self._intact(sha):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(sha), Body=data, Metadata={"sha256": sha}
            )
        return BlobRef(sha, len(data), self.uri(sha))

    def put_file(self, path: Path, *, link: bool = False) -> BlobRef:
        sha, size = sha256_file(path)
        if not self._intact(sha):
            self.client.upload_file(str(path), self.bucket, self.key(sha), ExtraArgs={"Metadata": {"sha256": sha}})
        return BlobRef(sha, size, self.uri(sha))

    def get_bytes(self, sha256: str) -> bytes:
        with self.open(sha256) as fh:
            return fh.read()

    def open(self, sha256: str) -> IO[bytes]:
        """A stream of the object; reading it to its end raises ``BlobCorrupt`` if the content does not match."""
        from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore only with the S3 backend

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
            return io.BufferedReader(_VerifyingReader(body, sha256), CHUNK)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise BlobNotFound(sha256) from None
            raise

    def copy_to(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)

    def shas(self) -> Iterator[str]:
        """Every stored object's SHA-256 (for ``verify_all``)."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if _SHA256.fullmatch(name):
                    yield name


def iter_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    """Read a stream in 1 MiB chunks."""
    while chunk := fh.read(CHUNK):
        yield chunk


@dataclass
class VerifyReport:
    """What ``verify_all`` found."""

    checked: int
    corrupt: list[str]
    missing: list[str]


def verify_all(store: BlobStore) -> VerifyReport:
    """Read every blob of ``store`` and check its content against its SHA-256 (``award blobs verify``)."""
    checked, corrupt, missing = 0, [], []
    for sha in store.shas():
        checked += 1
        try:
            with store.open(sha) as fh:
                while fh.read(CHUNK):
                    pass
        except BlobCorrupt:
            corrupt.append(sha)
        except BlobNotFound:
            missing.append(sha)
    if corrupt:
        log.error("blob store: %d of %d blobs corrupt", len(corrupt), checked)
    return VerifyReport(checked, corrupt, missing)
