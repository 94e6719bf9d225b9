"""`award blobs verify`: read every stored blob and check its content against its SHA-256."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award blobs verify``."""
    parser = sub.add_parser("blobs", help="the blob store (archived originals)")
    blobs_sub = parser.add_subparsers(dest="blobs_command", required=True)
    verify = blobs_sub.add_parser("verify", help="check every blob against its SHA-256; exit 1 if one is corrupt")
    verify.add_argument("--url", help="blob store (default $AWARD_BLOB_URL or <data>/blobs; a folder, file:///folder "
                        "or s3://bucket/prefix)")
    add_json_flag(verify)
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from award.runtime import data_dir
    from award.storage.blobs import verify_all
    from award.storage.registry import BLOB_URL_VAR, LOCAL_SCHEME, local_folder, open_blobs, scheme
    from award.templating import message, message_group

    _text = message_group("outbox", "blobs")
    url = args.url or os.environ.get(BLOB_URL_VAR) or str(data_dir(create=False) / "blobs")
    try:
        if scheme(url) == LOCAL_SCHEME and not Path(local_folder(url)).is_dir():  # not there: say so, make none
            raise CliError(message("cli", "status.no_blobs", where=url))
        store = open_blobs(url, variable="--url" if args.url else BLOB_URL_VAR)
    except ValueError as exc:  # an unknown scheme, an S3 URL without a bucket
        raise CliError(str(exc)) from None
    report = verify_all(store)
    data = {"checked": report.checked, "corrupt": report.corrupt, "missing": report.missing}
    lines = [_text("summary", checked=report.checked, corrupt=len(report.corrupt))]
    lines += [_text("corrupt", sha256=sha) for sha in report.corrupt]
    emit(data, as_json=args.json, human="\n".join(lines))
    return 1 if report.corrupt else 0
