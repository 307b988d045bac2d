#!/usr/bin/env bash
# Runs the whole test suite under sanitizers.
#   scripts/sanitize.sh asan   ASan + UBSan build (clang) in build-asan, all tests (CI runs this).
#   scripts/sanitize.sh tsan   TSan build in build-tsan, all tests, reports in $TSAN_LOG_DIR.
#
# TSan needs CAF itself instrumented: Debian's libcaf_core is not, so every message handed from
# one actor to another looks like a race. This script builds libcaf_core 0.17.6 with
# -fsanitize=thread from Debian's source package (once, into $CAF_TSAN_DIR) and runs the tests
# against it. RocksDB stays uninstrumented: races reported inside librocksdb (its lock-free
# memtable) are of the same kind and are listed separately.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-asan}"
case "$mode" in
  asan)
    # clang, ASan + UBSan (scripts/build-sanitized.sh). Every suite but the package test (it
    # would install the instrumented binary); the fuzz targets replay their corpora.
    BUILD_DIR=build-asan scripts/build-sanitized.sh
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    # UBSan's vptr check is suppressed inside Boost's Asio, Beast and System headers only
    # (scripts/ubsan.supp says why).
    # HERALD_SANITIZED=1: load tests scale their rates to the instrumented hub.
    HERALD_SANITIZED=1 \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan.supp" \
      ctest --test-dir build-asan --output-on-failure -E '^package$' "${@:2}"
    ;;
  tsan)
    CAF_TSAN_DIR="${CAF_TSAN_DIR:-/tmp/herald-caf-tsan}"
    lib="$CAF_TSAN_DIR/actor-framework-0.17.6/build-tsan/lib"
    if [ ! -f "$lib/libcaf_core.so.0.17.6" ]; then
      mkdir -p "$CAF_TSAN_DIR"
      src=/etc/apt/sources.list.d/herald-debsrc.sources
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src"
      apt-get update -qq
      (cd "$CAF_TSAN_DIR" && apt-get source -qq --download-only actor-framework || true)
      rm -f "$src"
      (cd "$CAF_TSAN_DIR" && tar xzf actor-framework_0.17.6.orig.tar.gz)
      cmake -S "$CAF_TSAN_DIR/actor-framework-0.17.6" -B "$CAF_TSAN_DIR/actor-framework-0.17.6/build-tsan" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAF_NO_IO=ON -DCAF_NO_OPENSSL=ON -DCAF_NO_OPENCL=ON \
        -DCAF_NO_PYTHON=ON -DCAF_NO_TOOLS=ON -DCAF_NO_EXAMPLES=ON -DCAF_NO_UNIT_TESTS=ON \
        -DCAF_NO_COMPILER_CHECK=ON -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
        -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" > /dev/null
      cmake --build "$CAF_TSAN_DIR/actor-framework-0.17.6/build-tsan" -j"$(nproc)" --target libcaf_core_shared
    fi
    BUILD_DIR=build-tsan BUILD_TYPE=Debug HERALD_SANITIZE=thread scripts/build.sh
    TSAN_LOG_DIR="${TSAN_LOG_DIR:-$(mktemp -d)}"
    export LD_LIBRARY_PATH="$lib" TSAN_OPTIONS="log_path=$TSAN_LOG_DIR/tsan"
    status=0
    ./build-tsan/tests/herald_unit_tests -r 300 || status=1
    for t in api resume lifecycle jobs sessions sdk pipelining metrics dashboard operations; do
      HERALD_BIN="$PWD/build-tsan/herald" python3 "tests/integration/test_$t.py" || status=1
    done
    # WebSocket and the JavaScript client, with real clients (npm ws, eventsource).
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
    HERALD_BIN="$PWD/build-tsan/herald" node --test tests/node/websocket.test.mjs \
      tests/node/js-client.test.mjs || status=1
    # Security (tokens, TLS, rate limits, expiry timers) needs Debian's python3 (python3-jwt).
    HERALD_BIN="$PWD/build-tsan/herald" /usr/bin/python3 tests/integration/test_security.py \
      || status=1
    HERALD_BIN="$PWD/build-tsan/herald" /usr/bin/python3 tests/integration/test_mercure.py \
      || status=1
    echo "TSan reports in $TSAN_LOG_DIR:"
    own=$(cat "$TSAN_LOG_DIR"/tsan.* 2>/dev/null | grep -c "SUMMARY: ThreadSanitizer" || true)
    inside_rocksdb=$(cat "$TSAN_LOG_DIR"/tsan.* 2>/dev/null | grep -c "SUMMARY: ThreadSanitizer.*librocksdb" || true)
    echo "  reports: $own, of which inside librocksdb (uninstrumented): $inside_rocksdb"
    [ "$own" -eq "$inside_rocksdb" ] || status=1
    exit $status
    ;;
  *) echo "usage: $0 asan|tsan" >&2; exit 2 ;;
esac
