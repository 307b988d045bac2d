#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: caf::test unit suites, integration tests
# against the real herald process, and the npm `eventsource` client test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure "$@"
