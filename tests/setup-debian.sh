#!/usr/bin/env bash
# setup-debian.sh: install what building and testing sluice needs on
# Debian 12 (run as root, or it uses sudo). Idempotent. The fuzzing step
# (tests/fuzz/run.sh) needs clang (14 on Debian 12), libFuzzer and the
# sanitizer runtimes (libclang-rt-14-dev, only recommended by clang), and
# llvm-symbolizer (llvm) for readable stacks.
set -euo pipefail
packages=(
    # the packaging checks (tests/package): the Debian packages, lintian,
    # systemd-analyze and systemd's unit dir (pkg-config), a clean copy of the tree
    debhelper dh-autoreconf lintian systemd git
    build-essential autoconf automake libtool libltdl-dev pkg-config
    libzmq3-dev libjansson-dev libconfig-dev libcurl4-openssl-dev
    libsqlite3-dev libmicrohttpd-dev libssl-dev libcsv-dev libjemalloc-dev check
    # sd_notify for the unit's Type=notify (configure --with-systemd)
    libsystemd-dev
    # the NATS JetStream plugins and their tests (docs/nats.md)
    libnats-dev nats-server
    sqlite3 jq curl python3 procps valgrind openssl iproute2
    openssh-server openssh-client
    clang libclang-rt-14-dev llvm
    # the admin endpoint's tests: a real Prometheus scraping /metrics, its
    # Python parser, the status page in a headless browser
    prometheus python3-prometheus-client chromium bc
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-debian: all ${#packages[@]} packages present"
    exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup-debian: installed ${missing[*]}"
