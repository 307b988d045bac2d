#!/usr/bin/env bash
# Runs libFuzzer targets (fuzz/) on their corpora.
#   scripts/fuzz.sh TARGET SECONDS   one target, e.g. scripts/fuzz.sh http_request 600
#   scripts/fuzz.sh all SECONDS      every target for SECONDS each, FUZZ_JOBS (default: the number
#                                    of cores) at a time; CI runs `scripts/fuzz.sh all 60`
#   scripts/fuzz.sh list             the targets
# Builds $BUILD_DIR (default build-asan: clang, ASan + UBSan, coverage) first, unless
# FUZZ_NO_BUILD=1. Seeds are read from fuzz/corpus/TARGET (never written); the corpus libFuzzer
# grows is kept in $BUILD_DIR/fuzz/corpus/TARGET across runs. A crash, leak or hang leaves its
# input in $BUILD_DIR/fuzz/crashes/TARGET/ and fails the run; once fixed, copy the input into
# fuzz/corpus/TARGET/regress-<what>.txt so ctest replays it (fuzz_corpus_TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-asan}"
targets=$(sed -n '/^set(HERALD_FUZZ_TARGETS/,/^)/p' fuzz/CMakeLists.txt | sed '1d;$d' | awk '{print $1}')

what="${1:-}"
if [ "$what" = list ]; then
  echo "$targets"
  exit 0
fi
seconds="${2:-}"
if [ -z "$what" ] || ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS, or scripts/fuzz.sh list" >&2
  exit 2
fi
if [ "$what" != all ] && ! grep -qx "$what" <<< "$targets"; then
  echo "no fuzz target '$what'; the targets: $(echo $targets)" >&2
  exit 2
fi

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  BUILD_DIR="$BUILD_DIR" scripts/build-sanitized.sh > /dev/null
fi

# One target for `seconds`; prints one summary line (runs, executions per second, coverage).
run_one() {
  local t="$1" seconds="$2"
  local work="$BUILD_DIR/fuzz/corpus/$t" crashes="$BUILD_DIR/fuzz/crashes/$t"
  local log="$BUILD_DIR/fuzz/$t.log"
  mkdir -p "$work" "$crashes"
  local status=0
  # -rss_limit_mb: the hub target holds a real hub (RocksDB, actors); 4 GiB is its bound.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan.supp" \
    "$BUILD_DIR/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$crashes/" \
      "$work" "fuzz/corpus/$t" > "$log" 2>&1 || status=$?
  local runs cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  printf '%-15s %4ss  runs=%-9s %-22s corpus=%s  %s\n' "$t" "$seconds" "${runs:-?}" "${cov:-}" \
    "$(ls "$work" | wc -l)" "$([ $status -eq 0 ] && echo ok || echo "FAILED (see $log)")"
  if [ $status -ne 0 ]; then
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20 >&2
  fi
  return $status
}

if [ "$what" = all ]; then
  export -f run_one
  export BUILD_DIR
  echo "$targets" | xargs -P "${FUZZ_JOBS:-$(nproc)}" -I{} bash -c 'run_one "$@"' _ {} "$seconds"
else
  run_one "$what" "$seconds"
fi
