#!/usr/bin/env bash
# Interleaved A/B of the warm no-op path: `go build std` (or BENCH_ARGS) with a
# warm GOCACHE and store through two gocachefs binaries and the floor helper,
# one after the other in each round, so that the machine's noise hits all
# three alike. Prints the median seconds of each and the ratios.
#
#   scripts/bench_ab.sh OLD_BINARY [NEW_BINARY]    (NEW defaults to build/gocachefs)
#   BENCH_ROUNDS=21 BENCH_ARGS="vet std" scripts/bench_ab.sh /tmp/old/gocachefs
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=
old=${1:?usage: scripts/bench_ab.sh OLD_BINARY [NEW_BINARY]}
new=${2:-$repo/build/gocachefs}
rounds=${BENCH_ROUNDS:-21}
read -r -a args <<<"${BENCH_ARGS:-build std}"
tools=$repo/build/tools
mkdir -p "$tools"
(cd "$repo/../shared/tools/floorhelper" && GOFLAGS=-mod=mod go build -o "$tools/floorhelper" .)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A prog=([old]="$old --dir $tmp/old-store" [new]="$new --dir $tmp/new-store" [floor]="$tools/floorhelper $tmp/floor-store")
run() { GOCACHE=$tmp/$1-gocache GOCACHEPROG=${prog[$1]} go "${args[@]}" >/dev/null; }
for c in old new floor; do run "$c"; run "$c"; done  # cold, then warm once
declare -A times
for ((i = 0; i < rounds; i++)); do
  for c in old new floor; do
    start=$EPOCHREALTIME
    run "$c"
    times[$c]+="$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.3f", e - s }') "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
o=$(median <<<"${times[old]}") n=$(median <<<"${times[new]}") f=$(median <<<"${times[floor]}")
echo "go ${args[*]}, warm no-op, median of $rounds interleaved rounds, $(nproc) cores, $(date -u +%Y-%m-%d)"
awk -v o="$o" -v n="$n" -v f="$f" 'BEGIN {
  printf "old %.3f s  new %.3f s  floor %.3f s   new/old %.3fx  new/floor %.3fx  old/floor %.3fx\n", o, n, f, n / o, n / f, o / f }'
