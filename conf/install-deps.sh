#!/usr/bin/env bash
# Install the Debian packages herald needs to build and run; with --test,
# also what its test suite needs (the real Alertmanager, PostgreSQL's server
# for the PostgreSQL store's tests, which start their own, HAProxy for
# tests/e2e/test_haproxy.py, which runs conf/haproxy.cfg, pytest, pytest-xdist
# to run the end-to-end tests in parallel workers (tests/run), aiosmtpd,
# nm from binutils, curl, make for the out-of-tree plugin example, openssl
# to make test certificates, wrk for the benchmark in tests/bench, clang
# and its runtime libraries for the libFuzzer harnesses in tests/fuzz:
# libclang-rt-14-dev holds libFuzzer, -fsanitize=fuzzer's library; groff,
# man and systemd-analyze for the install test, tests/e2e/test_install.py;
# debhelper, dpkg-dev, fakeroot and lintian to build and check the Debian
# package in tests/package).
#
#   bash conf/install-deps.sh [--test]
#
# Uses sudo when not root.  Does nothing (and needs no network) when every
# package is already installed.  Installing prometheus-alertmanager,
# postgresql or haproxy (whose tests start servers of their own) would start
# its service: while installing, a /usr/sbin/policy-rc.d that forbids
# starting services is put in place (only when none exists, and removed
# afterwards).
set -euo pipefail

packages=(build-essential meson ninja-build pkg-config libmicrohttpd-dev
          libcurl4-openssl-dev libcjson-dev libssl-dev liblua5.4-dev
          libsqlite3-dev libpq-dev tzdata ca-certificates)
test_packages=(prometheus-alertmanager python3-pytest python3-pytest-xdist python3-aiosmtpd binutils curl wrk make openssl
               clang libclang-rt-14-dev groff-base man-db systemd postgresql haproxy
               debhelper dpkg-dev fakeroot lintian)

with_test=0
for arg in "$@"; do
    case "$arg" in
        --test) with_test=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "install-deps.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
[ "$with_test" = 1 ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
    if [ "$own_policy" = 1 ]; then
        "${as_root[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# installed by herald conf/install-deps.sh while installing packages\nexit 101\n' \
        | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 755 "$policy"
    own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
