#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-check.sh: runs the storage and query benchmarks and the KausalDB
# side of the peers benchmark with --json and compares each with
# bench/baseline.json
# (kausal-bench check). Usage: bench-check.sh BENCH_BIN [full|small] [TIER]
#
#   full   the sizes the baseline was taken at (make bench-check)
#   small  a quick run for make test: a gross regression still shows
#   TIER   production, ci, parallel or local; default: from the environment
set -eu

bin=$1
size=${2:-full}
tier=${3:-}
out=${BUILD:-build}/bench
mkdir -p "$out"

case $size in
full)  storage_args="";  peers_args=""; query_args="" ;;
small) storage_args="-n 20000 --sync-n 100 --recovery-mib 64"; peers_args="-n 50000 --sync-n 50"
       query_args="-n 20000 --iterations 5000" ;;
*)     echo "bench-check.sh: size must be full or small" >&2; exit 2 ;;
esac

set -- ${tier:+--tier "$tier"}
status=0
# shellcheck disable=SC2086 # the argument lists are meant to split
"$bin" storage --json $storage_args > "$out/storage.json"
"$bin" check "$@" storage "$out/storage.json" || status=1
# shellcheck disable=SC2086
"$bin" peers --only kausal --json $peers_args > "$out/peers.json"
"$bin" check "$@" peers "$out/peers.json" || status=1
# shellcheck disable=SC2086
"$bin" query --json $query_args > "$out/query.json"
"$bin" check "$@" query "$out/query.json" || status=1
exit $status
