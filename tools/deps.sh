#!/bin/sh
# Install the Debian packages Tollgate needs to build, test and benchmark.
# Idempotent: only missing packages are installed; does nothing when all are present.
# Usage: tools/deps.sh [build|test|bench]
#   test adds node/npm, nginx, wrk (the integration tests); bench adds valgrind and python3 too
#   (bench/run: callgrind, free ports; Portkey's gateway comes from npm via bench/portkey).
set -eu
want="cmake make gcc pkg-config libevent-dev libcurl4-openssl-dev libmsgpack-dev liblmdb-dev \
libssl-dev check libjansson-dev libyaml-dev libhttp-parser-dev curl"
if [ "${1:-build}" = test ] || [ "${1:-build}" = bench ]; then
    want="$want curl nginx-light wrk lmdb-utils"
    command -v node >/dev/null 2>&1 || want="$want nodejs"
    command -v npm >/dev/null 2>&1 || want="$want npm"
fi
if [ "${1:-build}" = bench ]; then
    want="$want valgrind python3"
fi
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "tollgate: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "tollgate: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
