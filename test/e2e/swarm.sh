#!/bin/bash
# A three-node Docker Swarm for the e2e suite (test-only). Usage: swarm.sh up|down|status
# `up ROLES1 ROLES2 ROLES3` gives node N the labels of its roles (comma-separated; default edge,data,app).
# Each node is a dockerd in its own network namespace (nsenter --net: `ip netns exec` remounts /sys and
# dockerd then fails "Devices cgroup isn't mounted"), with its own data-root, exec-root, socket and
# pidfile; veth pairs join the nodes to a bridge in a fourth namespace. --iptables=true (host-mode
# ports need it) acts only inside each node's namespace: the machine's own firewall stays untouched
# (`down` compares `iptables -S` with the copy `up` took). Three managers: Raft keeps a majority when
# one node is drained or stopped. Images: `swarm.sh load IMAGE...` copies them from the suite's
# private engine (docker save | docker load), since there is no registry.
set -euo pipefail
RUN=${WEBSTACK_SWARM_RUN:-/run/webstack-swarm}
DATA=${WEBSTACK_SWARM_DATA:-/var/lib/webstack-swarm}
NET=10.231.0
NODES="1 2 3"
ns() { echo "wsw-$1"; }
sock() { echo "unix://$RUN/n$1/docker.sock"; }
d() { local n=$1; shift; docker -H "$(sock "$n")" "$@"; }

up() {
  mkdir -p "$RUN" "$DATA"
  iptables -S >"$RUN/iptables.before"
  ip netns add wsw-br
  ip -n wsw-br link add br0 type bridge
  ip -n wsw-br link set br0 up
  ip -n wsw-br addr add "$NET.1/24" dev br0 # the suite sends its requests from here
  ip -n wsw-br link set lo up
  for n in $NODES; do
    ip netns add "$(ns "$n")"
    ip link add "wsw$n" type veth peer name "wsw${n}p"
    ip link set "wsw$n" netns "$(ns "$n")"
    ip link set "wsw${n}p" netns wsw-br
    ip -n wsw-br link set "wsw${n}p" master br0 up
    ip -n "$(ns "$n")" link set "wsw$n" name eth0
    ip -n "$(ns "$n")" addr add "$NET.1$n/24" dev eth0
    ip -n "$(ns "$n")" link set eth0 up
    ip -n "$(ns "$n")" link set lo up
    mkdir -p "$RUN/n$n" "$DATA/n$n"
    nohup nsenter --net=/var/run/netns/"$(ns "$n")" dockerd \
      --host "$(sock "$n")" --data-root "$DATA/n$n/docker" --exec-root "$RUN/n$n/exec" --pidfile "$RUN/n$n/dockerd.pid" \
      --iptables=true --ip6tables=false --ip-forward=true --bridge=none --storage-driver=overlay2 \
      --log-level=warn >>"$DATA/n$n/dockerd.log" 2>&1 </dev/null &
  done
  for n in $NODES; do
    for i in $(seq 1 120); do d "$n" version >/dev/null 2>&1 && break; sleep 0.5; done
    d "$n" version >/dev/null || { echo "node $n did not come up:" >&2; tail -20 "$DATA/n$n/dockerd.log" >&2; exit 1; }
  done
  d 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" >/dev/null
  local token
  token=$(d 1 swarm join-token -q manager)
  for n in 2 3; do d "$n" swarm join --token "$token" --advertise-addr "$NET.1$n" --listen-addr "$NET.1$n:2377" "$NET.11:2377" >/dev/null; done
  # Node labels the stack's placement reads: webstack.host=nN and webstack.<role>=true per role given.
  local roles=("$@")
  for n in $NODES; do
    local id args=()
    id=$(d "$n" info --format '{{.Swarm.NodeID}}')
    for role in $(echo "${roles[$((n - 1))]:-edge,data,app}" | tr ',' ' '); do args+=(--label-add "webstack.$role=true"); done
    d 1 node update --label-add "webstack.host=n$n" "${args[@]}" "$id" >/dev/null
  done
  d 1 node ls
}

load() {
  local src=unix://${WEBSTACK_E2E_RUN:-/run/webstack-e2e}/docker.sock
  for image in "$@"; do
    for n in $NODES; do docker -H "$src" save "$image" | d "$n" load -q; done
  done
}

down() {
  for n in $NODES; do
    local pidfile="$RUN/n$n/dockerd.pid"
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      local pid
      pid=$(cat "$pidfile")
      kill -TERM "$pid"
      for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
    fi
    if [ -d "$RUN/n$n/exec" ]; then grep -o " $RUN/n$n/exec[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true; fi
    ip netns del "$(ns "$n")" 2>/dev/null || true
  done
  ip netns del wsw-br 2>/dev/null || true
  # Volumes live in the nodes' data roots: the swarm is made fresh for every run.
  grep -o " $DATA/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$DATA" "$RUN/n1" "$RUN/n2" "$RUN/n3"
  if [ -f "$RUN/iptables.before" ]; then
    if ! iptables -S | diff -q "$RUN/iptables.before" - >/dev/null; then echo "WARNING: the host's iptables changed:" >&2; iptables -S | diff "$RUN/iptables.before" - >&2 || true; exit 2; fi
    rm -f "$RUN/iptables.before"
  fi
  echo "swarm down"
}

case "${1:-}" in
up) shift; up "$@" ;;
load) shift; load "$@" ;;
down) down ;;
status) for n in $NODES; do d "$n" info --format "n$n: {{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}" 2>/dev/null || echo "n$n: down"; done ;;
*) echo "usage: $0 up [ROLES ROLES ROLES]|load IMAGE...|down|status" >&2; exit 64 ;;
esac
