#!/usr/bin/env bash
# Builds the Debian package: build-pkg/hierbert_VERSION_ARCH.deb.
#   ops/package.sh            portable build (no -march=native), Release, prefix /usr
#   ops/package.sh --native   tuned for this machine's CPU (a package for this cluster only)
# Depends: the runtime libraries dpkg-shlibdeps finds (no -dev packages) and
# systemd. Install with `apt install ./build-pkg/hierbert_*.deb`; the
# postinst creates the hierbert user and /var/lib/hierbert, and enables
# nothing: set the endpoints in /etc/hierbert/hierbert.conf, then
# `systemctl enable --now hierbert-coordinator` / `hierbert-worker@1`.
set -euo pipefail
cd "$(dirname "$0")/.."
native=OFF
case "${1:-}" in
  --native) native=ON ;;
  "") ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
ops/install-deps.sh
cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DHB_NATIVE=$native >/dev/null
cmake --build build-pkg -j "$(nproc 2>/dev/null || echo 2)" --target hierbert hierbert-coordinator hierbert-worker
(cd build-pkg && cpack -G DEB)
deb=$(ls -t build-pkg/hierbert_*.deb | head -1)
dpkg-deb -f "$deb" Package Version Architecture Depends
echo "package: $deb"
