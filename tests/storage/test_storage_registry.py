"""The storage seam: one scheme registry opens every backend, each backend carries its channel, and each satisfies
the Protocol its callers use (local folder, and S3 over moto's HTTP server)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from award.enums import SourceChannel
from award.storage import registry
from award.storage.blobs import BlobStore, LocalBlobStore, S3BlobStore
from award.storage.registry import UnknownStorageScheme, open_blobs, open_shared, uses_s3
from award.storage.shared import LocalStorage, S3Storage, SharedStorage


def _protocol_members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


@pytest.mark.parametrize("url", ["var/blobs", "/srv/award/blobs", "file:///srv/award/blobs"])
def test_a_folder_or_file_url_opens_the_local_backends(tmp_path: Path, url: str) -> None:
    folder = tmp_path / url.removeprefix("file://").lstrip("/")
    target = f"file://{folder}" if url.startswith("file://") else str(folder)
    blobs, shared = open_blobs(target), open_shared(target)
    assert isinstance(blobs, LocalBlobStore) and blobs.root == folder
    assert isinstance(shared, LocalStorage) and shared.root == folder
    assert not uses_s3(target)


def test_an_s3_url_opens_the_s3_backends_with_the_given_client() -> None:
    client = object()
    blobs = open_blobs("s3://cqa-blobs/archive", client)
    shared = open_shared("s3://cqa-shared/", client)
    assert isinstance(blobs, S3BlobStore) and (blobs.client, blobs.bucket, blobs.prefix) == (client, "cqa-blobs",
                                                                                               "archive/")
    assert isinstance(shared, S3Storage) and (shared.bucket, shared.prefix) == ("cqa-shared", "")
    assert isinstance(open_blobs("s3://cqa-blobs", client), S3BlobStore)  # default prefix
    assert open_blobs("s3://cqa-blobs", client).prefix == "blobs/"  # type: ignore[attr-defined]
    assert uses_s3("s3://cqa-blobs/") and uses_s3("S3://x") and not uses_s3(None) and not uses_s3("")


def test_an_unknown_scheme_names_the_url_the_variable_and_the_known_schemes() -> None:
    with pytest.raises(UnknownStorageScheme) as blob_error:
        open_blobs("gs://bucket/blobs")
    text = str(blob_error.value)
    assert "AWARD_BLOB_URL" in text and "gs://bucket/blobs" in text and "file://" in text and "s3://" in text
    with pytest.raises(UnknownStorageScheme, match="AWARD_SHARED_URL='gs://x'"):
        open_shared("gs://x")
    assert not uses_s3("gs://x")  # not S3: opening it is what fails, with the message above


def test_the_runtime_opens_storage_through_the_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from award.runtime import blob_store, shared_storage, storage_uses_s3

    monkeypatch.setenv("AWARD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AWARD_BLOB_URL", raising=False)
    monkeypatch.setenv("AWARD_SHARED_URL", "gs://nowhere")
    assert blob_store().root == tmp_path / "blobs"  # type: ignore[attr-defined]
    assert not storage_uses_s3()
    with pytest.raises(UnknownStorageScheme, match="AWARD_SHARED_URL"):
        shared_storage()
    monkeypatch.setenv("AWARD_BLOB_URL", "s3://cqa-blobs/blobs/")
    assert storage_uses_s3()


def test_each_backend_carries_its_channel(tmp_path: Path) -> None:
    from award.inbound.sources import MAIL_CHANNELS
    from award.storage.registry import BACKENDS, STORAGE_CHANNELS

    assert STORAGE_CHANNELS == (SourceChannel.LOCAL, SourceChannel.S3)
    assert MAIL_CHANNELS == (SourceChannel.MAILDIR, SourceChannel.IMAP)
    for name, entry in BACKENDS.items():
        url = str(tmp_path / name) if name == "file" else f"{name}://bucket/x"
        assert entry.blobs(url, object()).channel == entry.shared(url, object()).channel == entry.channel
    assert LocalBlobStore(tmp_path / "b").channel is SourceChannel.LOCAL
    assert LocalStorage(tmp_path / "s").channel is SourceChannel.LOCAL
    assert S3BlobStore(object(), "b").channel is SourceChannel.S3
    assert S3Storage(object(), "s").channel is SourceChannel.S3


def test_every_backend_has_every_protocol_member() -> None:
    """What callers use is declared on the Protocol, and every backend has it (no probing with hasattr)."""
    for protocol, backends in ((BlobStore, (LocalBlobStore, S3BlobStore)), (SharedStorage, (LocalStorage, S3Storage))):
        members = _protocol_members(protocol)
        assert "channel" in members
        for backend in backends:
            missing = {m for m in members if not hasattr(backend, m)}
            assert not missing, f"{backend.__name__} lacks {missing}"
            for name in members - {"channel"}:
                declared = inspect.signature(getattr(protocol, name)).parameters
                assert list(inspect.signature(getattr(backend, name)).parameters) == list(declared), name


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_the_backends_work_through_their_protocols(tmp_path: Path, s3_bucket, backend: str) -> None:  # type: ignore[no-untyped-def]
    client, bucket = s3_bucket
    base = str(tmp_path) if backend == "local" else f"s3://{bucket}"
    blobs: BlobStore = open_blobs(f"{base}/blobs", client)
    shared: SharedStorage = open_shared(f"{base}/shared", client)
    ref = blobs.put_bytes(b"%PDF-1.4 application")
    assert blobs.exists(ref.sha256) and blobs.get_bytes(ref.sha256) == b"%PDF-1.4 application"
    assert list(blobs.shas()) == [ref.sha256] and blobs.uri(ref.sha256) == ref.uri
    blobs.copy_to(ref.sha256, tmp_path / "copy.pdf")
    assert (tmp_path / "copy.pdf").read_bytes() == b"%PDF-1.4 application"
    local = blobs.local_path(ref.sha256)
    assert (local is not None and local.read_bytes() == b"%PDF-1.4 application") == (backend == "local")
    uri = shared.write("incoming/杭州市/申报表.pdf", b"form")
    assert shared.uri("incoming/杭州市/申报表.pdf") == uri
    assert [o.key for o in shared.list("incoming/")] == ["incoming/杭州市/申报表.pdf"]
    assert shared.read("incoming/杭州市/申报表.pdf") == b"form"
    assert blobs.channel == shared.channel == (SourceChannel.LOCAL if backend == "local" else SourceChannel.S3)


def test_a_new_backend_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The registry is the one place a scheme is known: adding an entry is enough to open it."""
    monkeypatch.setitem(registry.BACKENDS, "mem", registry.Backend(
        SourceChannel.LOCAL, blobs=lambda url, _client: LocalBlobStore(tmp_path / "mem-blobs"),
        shared=lambda url, _client: LocalStorage(tmp_path / "mem-shared")))
    assert isinstance(open_blobs("mem://x"), LocalBlobStore)
    with pytest.raises(UnknownStorageScheme, match="mem://"):
        open_blobs("gs://x")


def test_the_cli_names_an_unknown_scheme(tmp_path: Path) -> None:
    """``award blobs verify`` opens its store through the registry: a wrong URL is one clear line, exit 2."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "AWARD_DATA_DIR": str(tmp_path), "AWARD_BLOB_URL": "gs://bucket/blobs"}
    out = subprocess.run([sys.executable, "-m", "award.cli", "blobs", "verify", "--json"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    error = json.loads(out.stdout or out.stderr)["error"]
    assert "AWARD_BLOB_URL='gs://bucket/blobs'" in error and "s3://" in error
    out = subprocess.run([sys.executable, "-m", "award.cli", "blobs", "verify", "--url", f"file://{tmp_path}/b"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and "找不到存档文件夹" in out.stderr, out.stderr  # a missing local store, as before
