#!/usr/bin/env bash
# Microbenchmarks of gocachefs's hot paths (tests/bench/cache_bench.cpp):
# put ingestion in MiB/s (in memory and to disk, pinned to one core), local
# get latency, and a get's round trip through a Session over pipes.
# Output: build/bench/micro.txt. Needs a build (scripts/setup.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bench=$repo/build/tests/cache_bench
[[ -x $bench ]] || { echo "bench: $bench not found; run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$repo/build/bench"
# Put ingestion and local get are single-threaded work: measure them on one core.
{
  echo "# one core (taskset -c 0)"
  taskset -c 0 "$bench" --benchmark_filter='BM_PutIngest|BM_LocalGet' --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true 2>/dev/null
  echo "# two cores: client and session on different CPUs, as with cmd/go"
  "$bench" --benchmark_filter='BM_GetRoundTrip' --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true 2>/dev/null
} | tee "$repo/build/bench/micro.txt"
