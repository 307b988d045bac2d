#!/usr/bin/env bash
# Starts a 3-node NATS JetStream cluster on loopback for Herald's cluster tests (Debian's
# nats-server), each node with its own temporary store directory, and waits until every node
# knows JetStream's meta leader. Prints one line per node:
#   node=<n> client=nats://127.0.0.1:<port> monitor=http://127.0.0.1:<port> pid=<pid>
# and then `ready`. Stops every node (and removes the stores) when it exits: on SIGINT/SIGTERM,
# or when its standard input closes, so a test that starts it with a pipe cleans up by closing it.
#
#   scripts/nats-cluster.sh [BASE_DIR]     (default: a new directory under $TMPDIR)
# Environment: NATS_SERVER (default nats-server), NATS_CLUSTER_TIMEOUT (seconds, default 20).
set -euo pipefail
server="${NATS_SERVER:-nats-server}"
timeout_s="${NATS_CLUSTER_TIMEOUT:-20}"
base="${1:-$(mktemp -d "${TMPDIR:-/tmp}/herald-nats.XXXXXX")}"
mkdir -p "$base"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

declare -a client cluster monitor pids
for i in 1 2 3; do
  client[$i]=$(free_port)
  cluster[$i]=$(free_port)
  monitor[$i]=$(free_port)
done
routes="nats-route://127.0.0.1:${cluster[1]},nats-route://127.0.0.1:${cluster[2]},nats-route://127.0.0.1:${cluster[3]}"

stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$base"
}
trap stop EXIT INT TERM

for i in 1 2 3; do
  mkdir -p "$base/n$i"
  "$server" --name "herald-nats-$i" --addr 127.0.0.1 --port "${client[$i]}" \
    --http_port "${monitor[$i]}" --jetstream --store_dir "$base/n$i" \
    --cluster_name herald-test --cluster "nats://127.0.0.1:${cluster[$i]}" --routes "$routes" \
    > "$base/n$i.log" 2>&1 &
  pids[$i]=$!
done

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

for i in 1 2 3; do
  echo "node=$i client=nats://127.0.0.1:${client[$i]} monitor=http://127.0.0.1:${monitor[$i]} pid=${pids[$i]}"
done
echo ready
# Until our stdin closes (the test is done) or a signal arrives.
cat > /dev/null || true
