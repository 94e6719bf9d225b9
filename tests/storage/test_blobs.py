"""Content-addressed blobs: local folder and S3 over a real HTTP endpoint (moto's server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from award.storage.blobs import BlobNotFound, LocalBlobStore, S3BlobStore


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


def _corrupt(store, sha: str, s3_bucket=None) -> None:  # type: ignore[no-untyped-def]
    """Damage a stored blob in place (a flipped disk block, a bad restore)."""
    if isinstance(store, LocalBlobStore):
        store.path(sha).write_bytes(b"%PDF-1.4 damaged")
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.key(sha), Body=b"%PDF-1.4 damaged")


@pytest.mark.parametrize("backend", [0, 1], ids=["local", "s3"])
def test_corruption_is_detected_on_read_and_repaired_by_putting_the_bytes_again(tmp_path: Path, s3_bucket,
                                                                                 backend: int) -> None:
    from award.storage.blobs import BlobCorrupt, verify_all

    store = _stores(tmp_path, s3_bucket)[backend]
    data = b"%PDF-1.4 the applicant's real file" * 100
    other = store.put_bytes(b"an intact neighbour")
    ref = store.put_bytes(data)
    _corrupt(store, ref.sha256)
    with pytest.raises(BlobCorrupt) as info:
        store.get_bytes(ref.sha256)
    assert info.value.sha256 == ref.sha256
    with pytest.raises(BlobCorrupt), store.open(ref.sha256) as fh:
        fh.read()
    with pytest.raises(BlobCorrupt):
        store.copy_to(ref.sha256, tmp_path / "out.pdf")
    report = verify_all(store)
    assert report.checked == 2 and report.corrupt == [ref.sha256] and not report.missing
    assert store.put_bytes(data) == ref  # archiving the same bytes again repairs the blob
    assert store.get_bytes(ref.sha256) == data and store.get_bytes(other.sha256) == b"an intact neighbour"
    assert verify_all(store).corrupt == []
    src = tmp_path / "again.pdf"
    src.write_bytes(data)
    _corrupt(store, ref.sha256)
    store.put_file(src)  # put_file repairs too
    assert store.get_bytes(ref.sha256) == data


def test_put_file_link_repairs_a_corrupt_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = tmp_path / "package.zip"
    src.write_bytes(b"PK" + b"z" * 1000)
    ref = store.put_file(src, link=True)
    store.path(ref.sha256).unlink()
    store.path(ref.sha256).write_bytes(b"PK damaged")
    assert store.put_file(src, link=True).sha256 == ref.sha256
    assert store.get_bytes(ref.sha256) == src.read_bytes()


def test_award_blobs_verify_scans_the_store(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    from award.cli import main

    store = LocalBlobStore(tmp_path / "blobs")
    good, bad = store.put_bytes(b"good"), store.put_bytes(b"bad")
    monkeypatch.setenv("AWARD_BLOB_URL", str(tmp_path / "blobs"))
    assert main(["blobs", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"checked": 2, "corrupt": [], "missing": []}
    store.path(bad.sha256).write_bytes(b"bAd")
    assert main(["blobs", "verify"]) == 1
    out = capsys.readouterr().out
    assert bad.sha256 in out and good.sha256 not in out
