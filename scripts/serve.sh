#!/usr/bin/env bash
# Installs dependencies, builds, and starts the hub on its embedded default:
# RocksDB under ./data, listening on 127.0.0.1:8080. Extra arguments go to `herald serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec ./build/herald serve "$@"
