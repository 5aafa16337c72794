#!/bin/bash
# Builds the e2e images on the private engine (test-only). Usage: images.sh IMAGE...  (e.g. postgres:15)
# No registry: a debootstrap'd bookworm base, then one small Dockerfile per official image the
# library references (test/e2e/images/*), plus examples/app unchanged. Each image carries the label
# webstack.e2e.hash = sha256(Dockerfile + build context + base image id); a match skips the build.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE=${WEBSTACK_E2E_RUN:-/run/webstack-e2e}
DATA=${WEBSTACK_E2E_DATA:-/var/lib/webstack-e2e}
export DOCKER_HOST=unix://$BASE/docker.sock
BASE_IMAGE=webstack-e2e/bookworm-base

# The mirror apt uses on this machine (first deb URI of the main archive).
mirror() {
  local m
  m=$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

label_of() { docker image inspect --format '{{ index .Config.Labels "webstack.e2e.hash" }}' "$1" 2>/dev/null || true; }

ensure_base() {
  local m h
  m=$(mirror)
  h=$(printf 'debootstrap minbase bookworm %s v1' "$m" | sha256sum | cut -c1-16)
  if [ "$(label_of $BASE_IMAGE)" = "$h" ]; then
    echo "cached: $BASE_IMAGE ($h)"
  else
    command -v debootstrap >/dev/null || { echo "missing: debootstrap (apt-get install debootstrap)" >&2; exit 3; }
    local dir=$DATA/rootfs.$$
    rm -rf "$DATA"/rootfs.*; mkdir -p "$dir"
    trap 'rm -rf "'"$dir"'"' EXIT
    echo "debootstrap --variant=minbase bookworm from $m ..."
    local t0=$SECONDS
    debootstrap --variant=minbase bookworm "$dir" "$m" >"$DATA/debootstrap.log" 2>&1 \
      || { tail -20 "$DATA/debootstrap.log" >&2; rm -rf "$dir"; exit 1; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import \
      --change "LABEL webstack.e2e.hash=$h" --change 'CMD ["/bin/bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - "$BASE_IMAGE" >/dev/null
    rm -rf "$dir"
    echo "built: $BASE_IMAGE in $((SECONDS - t0))s"
  fi
  # The example app's Dockerfile starts FROM debian:bookworm-slim.
  docker tag "$BASE_IMAGE" debian:bookworm-slim
}

# image name -> build context directory
context_of() {
  case "$1" in
    haproxy:2.6) echo "$HERE/images/haproxy" ;;
    nginx:1.22) echo "$HERE/images/nginx" ;;
    postgres:15) echo "$HERE/images/postgres" ;;
    redis:7.0) echo "$HERE/images/redis" ;;
    rabbitmq:3.10) echo "$HERE/images/rabbitmq" ;;
    memcached:1.6) echo "$HERE/images/memcached" ;;
    pgbouncer:1.18) echo "$HERE/images/pgbouncer" ;;
    patroni:3.0) echo "$HERE/images/patroni" ;;
    quay.io/coreos/etcd:v3.4.23) echo "$HERE/images/etcd" ;;
    elasticsearch:7.17.25) echo "$HERE/images/elasticsearch-stub" ;;
    webstack-example-app:0.1) echo "$ROOT/examples/app" ;;
    webstack-django-site:0.1) echo "$ROOT/examples/django-site/app" ;;
    prom/prometheus:v2.42.0) echo "$HERE/images/prometheus" ;;
    prom/alertmanager:v0.25.0) echo "$HERE/images/alertmanager" ;;
    prom/blackbox-exporter:v0.23.0) echo "$HERE/images/blackbox-exporter" ;;
    quay.io/prometheuscommunity/postgres-exporter:v0.11.1) echo "$HERE/images/postgres-exporter" ;;
    oliver006/redis_exporter:v1.45.0-alpine) echo "$HERE/images/redis-exporter" ;;
    nginx/nginx-prometheus-exporter:0.11.0) echo "$HERE/images/nginx-exporter" ;;
    quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0) echo "$HERE/images/elasticsearch-exporter" ;;
    python:3.11-slim) echo "$HERE/images/python" ;;
    *) echo "no e2e build recipe for image '$1' (add one under test/e2e/images/)" >&2; return 3 ;;
  esac
}

hash_context() {
  local ctx=$1 base_id=$2
  ( cd "$ctx" && find . -type f -not -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "base $base_id" ) \
    | sha256sum | cut -c1-16
}

ensure_image() {
  local name=$1 ctx h base_id
  ctx=$(context_of "$name")
  base_id=$(docker image inspect --format '{{.Id}}' $BASE_IMAGE)
  h=$(hash_context "$ctx" "$base_id")
  if [ "$(label_of "$name")" = "$h" ]; then echo "cached: $name ($h)"; return 0; fi
  local t0=$SECONDS log=$DATA/build-${name//[:\/]/_}.log
  echo "building $name from ${ctx#$ROOT/} ..."
  if ! docker build --network host --label "webstack.e2e.hash=$h" -t "$name" "$ctx" >"$log" 2>&1; then
    echo "build of $name FAILED; tail of $log:" >&2; tail -30 "$log" >&2; return 1
  fi
  echo "built: $name in $((SECONDS - t0))s"
}

[ $# -gt 0 ] || { echo "usage: $0 IMAGE..." >&2; exit 64; }
mkdir -p "$DATA"
T0=$SECONDS
ensure_base
for img in "$@"; do ensure_image "$img"; done
echo "images ready in $((SECONDS - T0))s"
