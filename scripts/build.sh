#!/usr/bin/env bash
# Configures and builds Herald into ./build (override with BUILD_DIR, BUILD_TYPE, HERALD_SANITIZE).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DHERALD_SANITIZE="${HERALD_SANITIZE:-}" > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
