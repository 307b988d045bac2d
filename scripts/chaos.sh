#!/usr/bin/env bash
# Chaos, on demand (not in CI): kill -9 the hub at random moments while SDK publishers,
# subscribers, a durable session and a job run, then count losses, duplicates, gaps, reorderings
# and acknowledged events delivered again (scripts/chaos.py says exactly what is counted).
#   scripts/chaos.sh [--kills 20] [--publishers 3] [--seed S]
# Builds the release binary first (HERALD_BIN: another one). Exit status 1 if anything went wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HERALD_BIN:-}" ]; then
  scripts/build.sh > /dev/null
  export HERALD_BIN="$PWD/build/herald"
fi
python3 scripts/chaos.py "$@"
