#!/bin/bash
# Private Docker engine for the e2e suite (test-only). Usage: engine.sh start|stop|status
# Own socket, data-root, exec-root and pidfile; --iptables=false --ip-forward=false --bridge=none,
# so the host firewall is never touched. The data-root persists (image cache between runs).
set -euo pipefail
BASE=${WEBSTACK_E2E_RUN:-/run/webstack-e2e}
DATA=${WEBSTACK_E2E_DATA:-/var/lib/webstack-e2e}
SOCK=$BASE/docker.sock
PIDFILE=$BASE/dockerd.pid
LOG=$DATA/dockerd.log
export DOCKER_HOST=unix://$SOCK

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
start)
  for b in dockerd containerd runc; do command -v $b >/dev/null || { echo "missing: $b (apt-get install docker.io)" >&2; exit 3; }; done
  mkdir -p "$BASE" "$DATA/docker"
  if running && docker version >/dev/null 2>&1; then echo "already running (pid $(cat "$PIDFILE"))"; exit 0; fi
  # dockerd starts its own containerd under exec-root unless told otherwise.
  nohup dockerd \
    --host "unix://$SOCK" \
    --data-root "$DATA/docker" \
    --exec-root "$BASE/exec" \
    --pidfile "$PIDFILE" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --userland-proxy=true \
    --storage-driver=overlay2 \
    --log-level=warn >>"$LOG" 2>&1 </dev/null &
  for i in $(seq 1 120); do
    if docker version >/dev/null 2>&1; then echo "dockerd up: $SOCK (pid $(cat "$PIDFILE"))"; exit 0; fi
    sleep 0.5
  done
  echo "dockerd did not come up; tail of $LOG:" >&2; tail -30 "$LOG" >&2; exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$PIDFILE")
    # Remove leftover containers of this suite only (the engine is ours alone).
    docker ps -aq --filter label=webstack.e2e=1 | xargs -r docker rm -f -v >/dev/null 2>&1 || true
    docker volume ls -q --filter label=webstack.e2e=1 | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter label=webstack.e2e=1 | xargs -r docker network rm >/dev/null 2>&1 || true
    # Anonymous volumes of image VOLUMEs (e.g. redis /data); this engine is the suite's alone.
    docker volume prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid"
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
  fi
  rm -f "$PIDFILE"
  # Unmount anything left under exec-root (netns, shm) and remove it; data-root stays for the cache.
  if [ -d "$BASE/exec" ]; then
    grep -o " $BASE/exec[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$BASE/exec"
  fi
  rm -f "$SOCK"
  if command -v iptables >/dev/null && iptables -S 2>/dev/null | grep -q DOCKER; then
    echo "WARNING: iptables DOCKER chains present" >&2; iptables -S | grep DOCKER >&2; exit 2
  fi
  echo "dockerd stopped"
  ;;
status) running && echo running || { echo stopped; exit 1; } ;;
*) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
