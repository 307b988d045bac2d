#!/usr/bin/env bash
# Installs what Herald needs to build and test on Debian (bookworm). Idempotent; root or sudo.
# chromium runs the browser tests; clang (with libFuzzer) builds the sanitizer and fuzz build.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
pkgs=(g++ cmake make libcaf-dev libboost-dev librocksdb-dev nlohmann-json3-dev libcli11-dev
      libspdlog-dev libfmt-dev libssl-dev libcpp-jwt-dev libsimdjson-dev libjemalloc-dev zlib1g-dev prometheus-cpp-dev libnats-dev pkg-config nats-server prometheus curl python3 python3-jwt
      python3-cryptography openssl libnss3-tools chromium dpkg-dev adduser
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Node.js and npm run the browser-grade client tests; install Debian's only when none is present.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
