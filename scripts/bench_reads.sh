#!/usr/bin/env bash
# What the fresh CI job of scripts/bench_network.sh really reads of a warm
# cache, and how small those bytes can get: the floor under any way of
# warming a machine over a link (issue 10). Needs root (it drops the page
# cache) and fincore (Debian: util-linux-extra).
#
#   scripts/bench_reads.sh                       # fills a GOCACHE first (cold job, minutes)
#   BENCH_GOCACHE=~/.cache/go-build scripts/bench_reads.sh   # reuse a warm one
#
# With the page cache dropped, the job (go build std cmd, go vet std) runs on
# the native cache; afterwards the pages of each cache file that are resident
# are what the job (and the kernel's read-ahead) read. Large files fall in
# three groups: read (nearly) whole, read only within their first 16 KiB
# (the head a pack or record carries), and read in part. The bytes read
# whole are then compressed as packs frame them (independent 4 MiB zstd
# frames, at the levels of BENCH_LEVELS: "3 6 19" by default) and as one
# zstd stream with a long window, which bounds what any pack layout could
# save.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "bench_reads: needs root to drop the page cache" >&2; exit 2; }
command -v fincore >/dev/null || { echo "bench_reads: needs fincore (apt-get install util-linux-extra)" >&2; exit 2; }
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gocache=${BENCH_GOCACHE:-$tmp/gocache}
job() { GOCACHE=$gocache go build std cmd && GOCACHE=$gocache go vet std; }
if [[ -z ${BENCH_GOCACHE:-} ]]; then
  echo "bench_reads: filling $gocache with a cold job ..." >&2
fi
job >/dev/null 2>&1  # fills what is missing, so the measured run only reads

sync
echo 3 >/proc/sys/vm/drop_caches
start=$(date +%s.%N)
job >/dev/null 2>&1
echo "bench_reads: the warm job took $(echo "$(date +%s.%N) - $start" | bc) s" >&2

find "$gocache" -type f -name '*-d' -print0 |
  xargs -0 fincore --bytes --noheadings --output RES,SIZE,FILE >"$tmp/resident"
awk -v whole="$tmp/whole" '
  $1 == 0 { next }
  $2 <= 65536 { small++; small_bytes += $1; next }
  $1 >= 0.9 * $2 { n_whole++; whole_bytes += $1; print $3 >whole; next }
  $1 <= 16384 { n_head++; head_size += $2; next }
  { n_part++; part_read += $1; part_size += $2 }
  END {
    mib = 1048576
    printf "files read at all:      %d\n", small + n_whole + n_head + n_part
    printf "  small (<= 64 KiB):    %d, %.1f MiB\n", small, small_bytes / mib
    printf "  large, read whole:    %d, %.1f MiB\n", n_whole, whole_bytes / mib
    printf "  large, head only:     %d, %.1f MiB of %.1f MiB\n", n_head, n_head * 16384 / mib, head_size / mib
    printf "  large, read in part:  %d, %.1f MiB of %.1f MiB\n", n_part, part_read / mib, part_size / mib
  }' "$tmp/resident"

# The bytes read whole, in the order the find gave (not first use).
xargs cat <"$tmp/whole" >"$tmp/whole.bin"
split --bytes=4M "$tmp/whole.bin" "$tmp/frame."
raw=$(stat -c %s "$tmp/whole.bin")
printf 'read whole, raw:                       %7.1f MiB\n' "$(awk -v b="$raw" 'BEGIN { print b / 1048576 }')"
# Packs use level 3 (store/pack.cpp); higher levels cost the pack's writer
# CPU (one core here) at the close of a job.
for level in ${BENCH_LEVELS:-3 6 19}; do
  start=$(date +%s.%N)
  framed=0
  for frame in "$tmp"/frame.*; do framed=$((framed + $(zstd -q "-$level" -c "$frame" | wc -c))); done
  awk -v level="$level" -v framed="$framed" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {
    printf "  %-9s independent 4 MiB frames: %7.1f MiB (%.1f s at 100 Mbit/s), %.0f s to compress\n",
      "zstd -" level ",", framed / 1048576, framed / (100e6 / 8), e - s }'
done
stream=$(zstd -q -3 --long=27 -T1 -c "$tmp/whole.bin" | wc -c)
awk -v stream="$stream" 'BEGIN {
  printf "  zstd -3 --long=27, one stream:      %7.1f MiB (%.1f s at 100 Mbit/s)\n", stream / 1048576, stream / (100e6 / 8)
}'
