#!/usr/bin/env bash
# The Debian package and `cmake --install`, for real: builds herald_<version>_amd64.deb with
# CPack, checks its files and metadata, installs it with dpkg (root: this changes the machine,
# as installing a package does; it is purged at the end), verifies the unit with systemd-analyze
# when there is one, starts the installed binary as the package's user on its packaged config
# and talks to it, then purges the package and checks that nothing is left. Then installs the
# build with `cmake --install` into a temporary prefix and checks what it wrote.
#   tests/package/test_deb.sh BUILD_DIR        (exit 77: skipped, not root)
set -euo pipefail
BUILD=$(realpath "$1")
VERSION=$(sed -n 's/^project(herald VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
DEB="$BUILD/herald_${VERSION}_amd64.deb"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
hub=""
cleanup() {
  [ -n "$hub" ] && kill "$hub" 2>/dev/null || true
  if [ "$(id -u)" -eq 0 ] && dpkg-query -W herald >/dev/null 2>&1 \
     && dpkg-query -W -f='${Status}' herald | grep -q installed \
     && [ -f "$tmp/installed-by-test" ]; then
    dpkg --purge herald >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

rm -f "$DEB"
(cd "$BUILD" && cpack --config CPackConfig.cmake >/dev/null) || fail "cpack failed"
[ -f "$DEB" ] || fail "no $DEB"
dpkg-deb -c "$DEB" > "$tmp/files"
for f in ./usr/bin/herald ./etc/herald/herald.json ./usr/lib/systemd/system/herald.service \
         ./usr/share/doc/herald/operations.md; do
  grep -q " $f\$" "$tmp/files" || fail "$f is not in the package"
done
grep -q "include/herald\|libherald" "$tmp/files" && fail "the SDK is in the server package"
[ "$(dpkg-deb -f "$DEB" Package)" = herald ] || fail "package name"
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || fail "package version"
dpkg-deb -f "$DEB" Depends | grep -q "librocksdb" || fail "no library dependencies"
dpkg-deb -I "$DEB" conffiles | grep -qx /etc/herald/herald.json || fail "the config is no conffile"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/lib/systemd/system/herald.service > "$tmp/unit"
for line in "User=herald" "ExecStart=/usr/bin/herald serve --config /etc/herald/herald.json" \
            "NoNewPrivileges=yes" "ProtectSystem=strict" "LimitNOFILE=65536" \
            "ReadWritePaths=/var/lib/herald"; do
  grep -qx "$line" "$tmp/unit" || fail "the unit lacks $line"
done
echo "package built: $(du -h "$DEB" | cut -f1) $DEB"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing the package needs root"
  exit 77
fi
if dpkg-query -W -f='${Status}' herald 2>/dev/null | grep -q "install ok installed"; then
  echo "SKIP: a herald package is installed on this machine already; not touching it"
  exit 77
fi
touch "$tmp/installed-by-test"
dpkg -i "$DEB" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i failed"; }
getent passwd herald >/dev/null || fail "no user herald"
[ "$(stat -c '%U:%G %a' /var/lib/herald)" = "herald:herald 750" ] || fail "/var/lib/herald: $(stat -c '%U:%G %a' /var/lib/herald)"
[ "$(stat -c '%U:%G %a' /etc/herald/herald.json)" = "root:herald 640" ] || fail "config perms"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /usr/lib/systemd/system/herald.service 2> "$tmp/verify" \
    || { cat "$tmp/verify"; fail "systemd-analyze verify"; }
  grep -i "herald.service" "$tmp/verify" && fail "systemd-analyze warns about the unit"
  echo "unit verified by systemd-analyze"
fi
# The installed binary, as its user, on the packaged config (another port: 8080 may be taken).
runuser -u herald -- /usr/bin/herald config check /etc/herald/herald.json > "$tmp/check.json" \
  || fail "config check of the packaged config"
grep -q '"data_dir": "/var/lib/herald"' "$tmp/check.json" || fail "packaged data_dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd /var/lib/herald && exec setpriv --reuid herald --regid herald --init-groups /usr/bin/herald serve --config /etc/herald/herald.json \
   --listen "127.0.0.1:$port") > "$tmp/hub.log" 2>&1 &
hub=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$tmp/hub.log"; fail "not ready"; }
id=$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"topic":"pkg/test","data":{"ok":true}}' "http://127.0.0.1:$port/v1/publish")
echo "$id" | grep -q '"id"' || fail "publish: $id"
curl -sf "http://127.0.0.1:$port/v1/events?topic=pkg/test" | grep -q '"ok":true' || fail "read back"
kill -TERM "$hub"; wait "$hub" || fail "the hub did not stop cleanly"; hub=""
[ "$(stat -c %U /var/lib/herald/CURRENT)" = herald ] || fail "data not written as herald"
echo "installed hub answered on 127.0.0.1:$port"
dpkg --purge herald > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg --purge"; }
rm -f "$tmp/installed-by-test"
[ ! -e /usr/bin/herald ] || fail "/usr/bin/herald left"
[ ! -e /var/lib/herald ] || fail "/var/lib/herald left after purge"
getent passwd herald >/dev/null && fail "user herald left after purge"

# cmake --install of the build (server, unit, config, docs and the SDK) into a prefix.
cmake --install "$BUILD" --prefix "$tmp/prefix" > "$tmp/install.log" || fail "cmake --install"
for f in bin/herald etc/herald/herald.json lib/systemd/system/herald.service \
         share/doc/herald/operations.md include/herald/publisher.hpp; do
  [ -e "$tmp/prefix/$f" ] || fail "cmake --install did not write $f"
done
"$tmp/prefix/bin/herald" --version | grep -q "herald $VERSION" || fail "installed --version"
echo "PASS"
