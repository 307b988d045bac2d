#!/usr/bin/env bash
# Configures and builds the sanitizer build in $BUILD_DIR (default build-asan): clang with ASan
# and UBSan, libFuzzer's coverage in every library and the fuzz targets of fuzz/, at -O1 (ASan's
# usual trade of speed for readable reports); no benchmark tools. scripts/sanitize.sh asan runs
# the tests on it, scripts/fuzz.sh the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-asan}"
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DHERALD_SANITIZE=address,undefined -DHERALD_FUZZ=ON -DHERALD_BENCH=OFF > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
