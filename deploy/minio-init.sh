#!/bin/sh
# minio-init (image minio/mc): create the pipeline's buckets once MinIO is healthy. Idempotent.
set -eu
mc alias set cqa http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for bucket in $MINIO_BUCKETS; do
  mc mb --ignore-existing "cqa/$bucket"
  # Archived materials are evidence: keep every version of an object.
  mc version enable "cqa/$bucket" >/dev/null 2>&1 || true
done
mc ls cqa
