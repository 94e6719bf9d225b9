#!/usr/bin/env bash
# Idempotent CI set-up for tests/deploy: installs the Debian packages those tests need.
#   docker-compose - `docker-compose config` validates docker-compose.yaml (no Docker engine needed).
#     Debian bookworm ships Compose v1 (1.29.2) only; the `docker compose` v2 plugin is not packaged there.
# The distributed-run test needs no package: it uses the machine's PostgreSQL (127.0.0.1:5432) and Redis
# (127.0.0.1:6379) through the Python clients in .venv.
# Safe to run repeatedly; does nothing when everything is already installed.
set -euo pipefail

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)

if ((${#need[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Another apt process (a parallel job) may hold the dpkg lock: wait for it instead of failing.
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}"
fi

docker-compose version --short
