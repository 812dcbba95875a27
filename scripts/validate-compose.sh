#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine: Debian's docker-compose (v1) parses and interpolates
# it (`config -q`), then a few checks that `--scale worker=N` and the health gates keep working.
# Installs docker-compose with apt-get when it is missing. Exit 0: valid.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "validate-compose: installing docker-compose (apt-get)" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null; }
fi

# The secrets compose requires (normally from .env): placeholders, for validation only.
export WEBHOOK_SECRET="${WEBHOOK_SECRET:-validate-only-webhook-secret-0123456789}"
export DASHBOARD_SESSION_SECRET="${DASHBOARD_SESSION_SECRET:-validate-only-session-secret-0123456789abcdef}"
export DASHBOARD_USERS="${DASHBOARD_USERS:-admin:operator:scrypt.16384.8.1.c2FsdA.a2V5}"

docker-compose -f docker-compose.yml config -q

rendered="$(docker-compose -f docker-compose.yml config)"
services="$(docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')"
if [ "$services" != "api dashboard redis s3 worker " ]; then
  echo "validate-compose: expected services api dashboard redis s3 worker, got: $services" >&2
  exit 1
fi
# The S3-protocol server is optional: only `--profile s3` starts it.
s3="$(printf '%s\n' "$rendered" | awk '/^  s3:/{w=1; next} /^  [a-z]/{w=0} w')"
if ! printf '%s\n' "$s3" | grep -Eq '^    profiles:' || ! printf '%s\n' "$s3" | grep -Eq '^    - s3$'; then
  echo "validate-compose: the s3 service must be in the profile \"s3\" (not started by a plain up)" >&2
  exit 1
fi
# A scalable worker: no fixed container name, no published host port.
worker="$(printf '%s\n' "$rendered" | awk '/^  worker:/{w=1; next} /^  [a-z]/{w=0} w')"
if printf '%s\n' "$worker" | grep -Eq '^\s+(container_name|ports):'; then
  echo "validate-compose: the worker service must have no container_name and no ports (docker compose up --scale worker=N)" >&2
  exit 1
fi
healthy="$(printf '%s\n' "$rendered" | grep -c 'condition: service_healthy' || true)"
if [ "$healthy" -lt 3 ]; then
  echo "validate-compose: api, worker and dashboard must wait for a healthy redis (found $healthy)" >&2
  exit 1
fi
# The image build installs from the lockfile with only the manifests copied first: each workspace package must be.
for manifest in apps/*/package.json packages/*/package.json; do
  if ! grep -q "^COPY $manifest " Dockerfile; then
    echo "validate-compose: the Dockerfile does not copy $manifest before its install (the build would fail)" >&2
    exit 1
  fi
done
echo "validate-compose: docker-compose.yml is valid ($(docker-compose version --short))"
