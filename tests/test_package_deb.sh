#!/usr/bin/env bash
# The install and the Debian package, from this build directory:
#   - `cmake --install --prefix P` puts the programs, the units, the config,
#     the sysusers.d and tmpfiles.d entries and the docs in their FHS places
#     under P, the units naming P's files;
#   - `cpack -G DEB` (what ops/package.sh runs, in a build of its own) makes
#     a .deb whose Depends are runtime libraries only (no -dev package);
#   - the .deb unpacked into a scratch root (dpkg -x): the installed
#     programs answer --version and --help, every unit's ExecStart= program
#     and Documentation= file is in the package, the installed config file
#     is accepted by a running coordinator and worker;
#   - systemd-analyze verify passes on the units (where systemd-analyze is
#     available), with ExecStart= pointed into the scratch root.
source "$(dirname "$0")/daemon_lib.sh" "$1"
command -v cpack >/dev/null && command -v dpkg-deb >/dev/null ||
  { echo "SKIP: no cpack or dpkg-deb on this machine"; exit 0; }

cmake --install "$B" --prefix "$T/inst" >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -3 "$T/install.log")"
for f in bin/hierbert bin/hierbert-coordinator bin/hierbert-worker lib/systemd/system/hierbert-coordinator.service \
  lib/systemd/system/hierbert-worker@.service lib/sysusers.d/hierbert.conf lib/tmpfiles.d/hierbert.conf \
  etc/hierbert/hierbert.conf share/doc/hierbert/README.md share/doc/hierbert/hierbert.conf.example; do
  [[ -f $T/inst/$f ]] || fail "cmake --install --prefix: no $f"
done
grep -q "^ExecStart=$T/inst/bin/hierbert-coordinator --config $T/inst/etc/hierbert/hierbert.conf" \
  "$T/inst/lib/systemd/system/hierbert-coordinator.service" || fail "the installed unit does not name the prefix's files"
ok "cmake --install --prefix: programs, units (naming the prefix), config, sysusers.d, tmpfiles.d, docs"

(cd "$B" && cpack -G DEB -B "$T/pkg") >"$T/cpack.log" 2>&1 || fail "cpack: $(tail -5 "$T/cpack.log")"
deb=$(ls "$T"/pkg/hierbert_*.deb)
deps=$(dpkg-deb -f "$deb" Depends)
[[ -n $deps ]] || fail "the .deb has no Depends"
if tr ',' '\n' <<<"$deps" | grep -q -- '-dev\b'; then fail "a -dev package in Depends: $deps"; fi
for lib in libzmq5 liblmdb0 libopenblas0-openmp libprotobuf-c1 libmicrohttpd12 libsystemd0; do
  [[ $deps == *"$lib"* ]] || fail "Depends lacks $lib: $deps"
done
ok "$(basename "$deb"): Depends are runtime libraries: $deps"

R=$T/root
dpkg -x "$deb" "$R"
for p in hierbert-coordinator hierbert-worker hierbert; do
  v=$("$R/usr/bin/$p" --version) || fail "$p --version"
  [[ $v == "$p 0."* ]] || fail "$p --version: $v"
  "$R/usr/bin/$p" --help >"$T/help.txt" || fail "$p --help"
  grep -q "usage: $p" "$T/help.txt" || fail "$p --help: $(head -1 "$T/help.txt")"
done
ok "installed programs answer --version ($("$R/usr/bin/hierbert-coordinator" --version)) and --help"

for u in "$R"/usr/lib/systemd/system/*.service; do
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
  [[ $exe == /usr/bin/* && -x $R$exe ]] || fail "$(basename "$u"): ExecStart $exe not in the package"
  grep -q '^WatchdogSec=' "$u" && grep -q '^Type=notify' "$u" || fail "$(basename "$u"): no WatchdogSec= / Type=notify"
  while read -r doc; do
    [[ -f $R${doc#file://} ]] || fail "$(basename "$u"): Documentation=$doc not installed"
  done < <(sed -n 's/^Documentation=//p' "$u")
done
[[ -f $R/etc/hierbert/hierbert.conf && -f $R/usr/lib/sysusers.d/hierbert.conf && -f $R/usr/lib/tmpfiles.d/hierbert.conf ]] ||
  fail "config, sysusers.d or tmpfiles.d entry missing in the .deb"
dpkg-deb -e "$deb" "$T/ctl"
grep -qx /etc/hierbert/hierbert.conf "$T/ctl/conffiles" || fail "/etc/hierbert/hierbert.conf is not a conffile"
ok "units: ExecStart= and Documentation= name files in the package; config is a conffile; sysusers.d, tmpfiles.d"

COORD=$R/usr/bin/hierbert-coordinator WORKER=$R/usr/bin/hierbert-worker CLI=$R/usr/bin/hierbert
start_coord c --config "$R/etc/hierbert/hierbert.conf" --heartbeat-ms 200
start_worker w1 c --config "$R/etc/hierbert/hierbert.conf" --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "the installed worker registered with the installed coordinator"
ok "the installed coordinator and worker run on the installed config (endpoints from flags)"

if command -v systemd-analyze >/dev/null; then
  mkdir -p "$T/units"
  for u in "$R"/usr/lib/systemd/system/*.service; do
    sed "s|^ExecStart=/usr/bin/|ExecStart=$R/usr/bin/|" "$u" >"$T/units/$(basename "$u")"
  done
  (cd "$T/units" && systemd-analyze verify ./*.service) >"$T/verify.log" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$T/verify.log")"
  ok "systemd-analyze verify: both units clean"
else
  echo "SKIP: systemd-analyze verify (not installed)"
fi
