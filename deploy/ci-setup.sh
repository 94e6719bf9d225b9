#!/usr/bin/env bash
# Idempotent CI set-up for tests/deploy: installs the Debian packages those tests need.
#   docker-compose  - `docker-compose config` validates docker-compose.yaml (no Docker engine needed)
#   postgresql-client, redis-tools - pg_isready / redis-cli used by the distributed-run test's preflight
# Safe to run repeatedly; does nothing when everything is already installed.
set -euo pipefail

need=()
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v pg_isready >/dev/null 2>&1 || need+=(postgresql-client)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)

if ((${#need[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Another apt process (a parallel job) may hold the dpkg lock: wait for it instead of failing.
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}"
fi

docker-compose version --short
