"""Content-addressed blobs: local folder and S3 over a real HTTP endpoint (moto's server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from award.blobs import BlobNotFound, LocalBlobStore, S3BlobStore


def _stores(tmp_path: Path, s3_bucket) -> list:  # type: ignore[no-untyped-def]
    client, bucket = s3_bucket
    return [LocalBlobStore(tmp_path / "blobs"), S3BlobStore(client, bucket, "blobs/")]


@pytest.mark.parametrize("backend", [0, 1], ids=["local", "s3"])
def test_put_get_dedupe(tmp_path: Path, s3_bucket, backend: int) -> None:
    store = _stores(tmp_path, s3_bucket)[backend]
    data = "申报材料".encode() * 1000
    ref = store.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert store.put_bytes(data) == ref
    assert store.get_bytes(ref.sha256) == data
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * (3 * 1024 * 1024 + 7))
    fref = store.put_file(src)
    assert fref.size == src.stat().st_size and store.exists(fref.sha256)
    out = tmp_path / "copy.bin"
    store.copy_to(fref.sha256, out)
    assert out.read_bytes() == src.read_bytes()
    with pytest.raises(BlobNotFound):
        store.get_bytes("0" * 64)
    with pytest.raises(ValueError):
        store.get_bytes("../etc/passwd")


def test_s3_layout(s3_bucket) -> None:
    client, bucket = s3_bucket
    ref = S3BlobStore(client, bucket, "archive").put_bytes(b"abc")
    assert ref.uri == f"s3://{bucket}/archive/{ref.sha256[:2]}/{ref.sha256}"
    head = client.head_object(Bucket=bucket, Key=f"archive/{ref.sha256[:2]}/{ref.sha256}")
    assert head["Metadata"]["sha256"] == ref.sha256


def test_put_file_link_hard_links_instead_of_copying(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = tmp_path / "package.zip"
    src.write_bytes(b"PK" + b"z" * 1000)
    ref = store.put_file(src, link=True)
    assert ref.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.path(ref.sha256).stat().st_ino == src.stat().st_ino  # one file on disk, two names
    assert store.put_file(src, link=True) == ref
