#!/usr/bin/env bash
# Starts a 3-node NATS JetStream cluster on loopback for Herald's cluster tests (Debian's
# nats-server), each node with its own temporary store directory, and waits until every node
# knows JetStream's meta leader. With HERALD_BIN set it then starts HERALD_NODES (default 3)
# Herald nodes in cluster mode on it (loopback ports, a data dir each, logs beside them) and waits
# until each is ready. Prints one line per server and per hub:
#   node=<n> client=nats://127.0.0.1:<port> monitor=http://127.0.0.1:<port> pid=<pid>
#   hub=<n> url=http://127.0.0.1:<port> pid=<pid> log=<file>
# and then `ready`. Then it reads commands, one per line, and answers each with `ok <command>`
# (after a hub= or node= line for a start) or `error <why>`:
#   kill nats N | start nats N | kill hub N | start hub N     (kill is kill -9; start reuses the
#                                                               ports and the store or data dir)
# Stops everything (and removes the stores) when it exits: on SIGINT/SIGTERM, or when its
# standard input closes, so a test that starts it with a pipe cleans up by closing it.
#
#   scripts/nats-cluster.sh [BASE_DIR]     (default: a new directory under $TMPDIR)
# Environment: NATS_SERVER (default nats-server), NATS_CLUSTER_TIMEOUT (seconds, default 20),
# HERALD_BIN, HERALD_NODES; the hubs inherit the environment (HERALD_* settings apply to them).
set -euo pipefail
server="${NATS_SERVER:-nats-server}"
timeout_s="${NATS_CLUSTER_TIMEOUT:-20}"
base="${1:-$(mktemp -d "${TMPDIR:-/tmp}/herald-nats.XXXXXX")}"
mkdir -p "$base"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

declare -a client cluster monitor pids hub_port hub_pid
for i in 1 2 3; do
  client[$i]=$(free_port)
  cluster[$i]=$(free_port)
  monitor[$i]=$(free_port)
done
hubs=0
if [ -n "${HERALD_BIN:-}" ]; then hubs="${HERALD_NODES:-3}"; fi
for ((h = 1; h <= hubs; h++)); do hub_port[$h]=$(free_port); done
routes="nats-route://127.0.0.1:${cluster[1]},nats-route://127.0.0.1:${cluster[2]},nats-route://127.0.0.1:${cluster[3]}"

stop() {
  trap - EXIT INT TERM
  for pid in "${hub_pid[@]:-}"; do
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$base"
}
trap stop EXIT INT TERM

start_nats() {
  local i=$1
  mkdir -p "$base/n$i"
  "$server" --name "herald-nats-$i" --addr 127.0.0.1 --port "${client[$i]}" \
    --http_port "${monitor[$i]}" --jetstream --store_dir "$base/n$i" \
    --cluster_name herald-test --cluster "nats://127.0.0.1:${cluster[$i]}" --routes "$routes" \
    >> "$base/n$i.log" 2>&1 &
  pids[$i]=$!
}

servers="nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]},nats://127.0.0.1:${client[3]}"

# Starts hub $1 and waits (bounded) until its /readyz answers 200.
start_hub() {
  local h=$1
  HERALD_CLUSTER_NATS_SERVERS="$servers" HERALD_CLUSTER_NODE_NAME="hub$h" \
    "$HERALD_BIN" serve --listen "127.0.0.1:${hub_port[$h]}" --data-dir "$base/hub$h" \
    >> "$base/hub$h.log" 2>&1 &
  hub_pid[$h]=$!
  local until=$((SECONDS + timeout_s))
  until curl -sf -o /dev/null "http://127.0.0.1:${hub_port[$h]}/readyz"; do
    if [ "$SECONDS" -ge "$until" ] || ! kill -0 "${hub_pid[$h]}" 2>/dev/null; then
      echo "hub $h did not become ready; its log:" >&2
      tail -n 20 "$base/hub$h.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "hub=$h url=http://127.0.0.1:${hub_port[$h]} pid=${hub_pid[$h]} log=$base/hub$h.log"
}

for i in 1 2 3; do start_nats "$i"; done

# JetStream is usable when every node's /jsz names the meta leader of a 3-node meta group.
deadline=$((SECONDS + timeout_s))
for i in 1 2 3; do
  until python3 - "${monitor[$i]}" <<'PY' 2>/dev/null
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/jsz", timeout=1))
meta = doc.get("meta_cluster") or {}
ok = bool(meta.get("leader")) and meta.get("cluster_size") == 3
sys.exit(0 if ok else 1)
PY
  do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the cluster did not form in ${timeout_s}s; logs in $base" >&2
      tail -n 5 "$base"/n*.log >&2 || true
      curl -s "http://127.0.0.1:${monitor[$i]}/jsz" >&2 || true
      stop
      exit 1
    fi
    sleep 0.2
  done
done

node_line() {
  echo "node=$1 client=nats://127.0.0.1:${client[$1]} monitor=http://127.0.0.1:${monitor[$1]} pid=${pids[$1]}"
}
for i in 1 2 3; do node_line "$i"; done
for ((h = 1; h <= hubs; h++)); do
  start_hub "$h" || { stop; exit 1; }
done
echo ready
# Commands until our stdin closes (the test is done) or a signal arrives.
while read -r verb what n; do
  case "$verb $what" in
    "kill nats") kill -9 "${pids[$n]}" 2>/dev/null; wait "${pids[$n]}" 2>/dev/null || true ;;
    "start nats") start_nats "$n"; node_line "$n" ;;
    "kill hub") kill -9 "${hub_pid[$n]}" 2>/dev/null; wait "${hub_pid[$n]}" 2>/dev/null || true ;;
    "start hub") start_hub "$n" || { echo "error hub $n did not start"; continue; } ;;
    *) echo "error unknown command: $verb $what $n"; continue ;;
  esac
  echo "ok $verb $what $n"
done || true
