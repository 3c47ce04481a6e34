#!/usr/bin/env bash
# Trim and verify on a large store: a store of COUNT objects (default
# 100,000; sizes from 256 B to 1 MiB, log-uniform; last uses spread over ten
# days) is filled by tests/bench/store_fill, then timed with /usr/bin/time:
# `gocachefs trim` (5 days: about half goes) with its peak memory, and
# `gocachefs verify` and `verify --quick` with their throughput.
# Output: build/bench/store_care.txt. Needs a build (scripts/setup.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-100000}
bin=${GOCACHEFS_BIN:-$repo/build/gocachefs}
fill=$repo/build/tests/store_fill
[[ -x $bin && -x $fill ]] || { echo "bench: build first (scripts/setup.sh)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gocachefs-bench-store.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$repo/build/bench"
timed() {  # label, command...
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out"
  read -r seconds kib <"$work/time"
  printf '%-16s %7.2f s  peak %6.1f MiB  | %s\n' "$label" "$seconds" "$(echo "$kib / 1024" | bc -l)" \
    "$(head -1 "$work/out")"
}
{
  "$fill" "$work/store" "$count" 10
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  timed "verify (cold)" "$bin" verify --dir "$work/store"
  timed "verify (warm)" "$bin" verify --dir "$work/store"
  timed "verify --quick" "$bin" verify --quick --dir "$work/store"
  timed "trim (5 days)" "$bin" trim --dir "$work/store"
  timed "trim (nothing)" "$bin" trim --dir "$work/store"
} | tee "$repo/build/bench/store_care.txt"
