#!/usr/bin/env bash
# TLS against plain HTTP, same hub build, same client (build/tls_load), same run: broadcast to
# 1,000 subscribers and single-event publishing on one keep-alive connection. A throwaway test CA
# and certificate are made with openssl. Results: one JSON line per case on stdout.
#   bench/tls_vs_plain.sh [build-dir] [rounds]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-2}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
  -out ca.pem -days 2 -subj "/CN=Bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout hub.key -out hub.csr \
  -subj "/CN=localhost" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > ext.cnf
openssl x509 -req -in hub.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out hub.pem -days 2 \
  -extfile ext.cnf 2>/dev/null
cd - >/dev/null
bin=$(realpath "$BUILD")
run_case() { # mode(plain|tls) label args...
  local mode=$1 label=$2; shift 2
  local port=$((20000 + RANDOM % 20000)) cfg="$dir/$mode.json"
  if [ "$mode" = tls ]; then
    echo "{\"tls\":{\"cert_file\":\"$dir/hub.pem\",\"key_file\":\"$dir/hub.key\"},\"limits\":{\"max_connections\":5000}}" > "$cfg"
  else
    echo "{\"limits\":{\"max_connections\":5000}}" > "$cfg"
  fi
  rm -rf "$dir/db"
  "$bin/herald" serve --config "$cfg" --listen "127.0.0.1:$port" --data-dir "$dir/db" \
    >"$dir/hub.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q event=listening "$dir/hub.log" && break; sleep 0.05; done
  local extra=()
  [ "$mode" = tls ] && extra=(--tls --ca "$dir/ca.pem")
  printf '{"case":"%s","mode":"%s","result":' "$label" "$mode"
  "$bin/tls_load" --port "$port" --pid "$pid" "${extra[@]}" "$@" | tr -d '\n'
  echo "}"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for r in $(seq "$ROUNDS"); do
  for mode in plain tls; do
    run_case "$mode" broadcast-1k --subs 1000 --events 1000 --rate 500 --pipeline 16
    run_case "$mode" publish-single --subs 0 --events 30000 --pipeline 64
  done
done
