"""Storage: the content-addressed blob store and shared storage, each a Protocol with a local and an S3 backend.

A URL opens a backend through one registry of schemes (``award.storage.registry``); every backend carries its own
``channel``. Entry points are listed in __all__.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.storage.blobs import BlobStore
    from award.storage.registry import open_blobs, open_shared, uses_s3
    from award.storage.shared import SharedStorage

__all__ = ["BlobStore", "SharedStorage", "open_blobs", "open_shared", "uses_s3"]
__getattr__ = lazy(__name__, {"BlobStore": ".blobs", "SharedStorage": ".shared", "open_blobs": ".registry",
                              "open_shared": ".registry", "uses_s3": ".registry"})
