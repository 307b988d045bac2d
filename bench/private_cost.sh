#!/usr/bin/env bash
# The cost of private events in the fan-out: the same hub (with a key), the same subscribers and
# publisher (one token granting bench), events published public and then "private": true, in
# turn. Every private event is decided per subscriber (auth/principal.hpp may_see).
#   bench/private_cost.sh [build-dir] [rounds]
set -euo pipefail
BUILD=$(realpath "${1:-build}")
ROUNDS=${2:-3}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
head -c 48 /dev/urandom | base64 | tr -d '\n' > "$dir/secret"
echo "{\"auth\":{\"keys\":[{\"alg\":\"HS256\",\"secret_file\":\"$dir/secret\"}]},\"limits\":{\"max_connections\":5000}}" > "$dir/cfg.json"
token=$("$BUILD/herald" token --key-file "$dir/secret" --sub bench --publish 'bench' \
  --subscribe 'bench' --ttl 1h)
for r in $(seq "$ROUNDS"); do
  for private in 0 1; do
    for point in "1000 1500 1 100" "1000 10000 10 1000"; do
      read -r subs events batch rate <<<"$point"
      port=$((20000 + RANDOM % 20000))
      rm -rf "$dir/db"
      "$BUILD/herald" serve --config "$dir/cfg.json" --listen "127.0.0.1:$port" \
        --data-dir "$dir/db" >"$dir/hub.log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do grep -q event=listening "$dir/hub.log" && break; sleep 0.05; done
      printf '{"private":%s,"point":"%sk subs x %s ev/s","result":' "$private" \
        "$((subs / 1000))" "$rate"
      "$BUILD/sse_load" --port "$port" --subs "$subs" --events "$events" --batch "$batch" \
        --rate "$rate" --size 100 --token "$token" --private "$private" | tr -d '\n'
      echo "}"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
