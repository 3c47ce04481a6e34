#!/usr/bin/env bash
# Times real go workloads with the native cache, with gocachefs, with
# ../shared/tools/floorhelper (the protocol floor: the least any GOCACHEPROG
# helper can cost cmd/go) and with bradfitz/go-tool-cache's go-cacher (disk
# mode), in one run, and prints the ratios. Each workload runs three ways per cache:
#   cold      empty cache
#   warm      the same cache again: a no-op rebuild (median of BENCH_RUNS)
#   new-dir   helpers only: warm store, brand-new empty GOCACHE, as on a
#             second machine sharing the store (median of BENCH_RUNS)
#
#   scripts/bench_workload.sh                       all workloads, all caches
#   BENCH_WORKLOAD="build-std" BENCH_RUNS=1 scripts/bench_workload.sh   quick
#
# Settings: BENCH_WORKLOAD (build-std-cmd vet-std build-std), BENCH_RUNS (3),
# BENCH_ONLY (native gocachefs floor go-cacher), GOCACHEFS_BIN (build/gocachefs).
# Output: a table on stdout, also written to build/bench/workload.txt;
# the go commands' output goes to build/bench/workload.log.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

bin=${GOCACHEFS_BIN:-$repo/build/gocachefs}
runs=${BENCH_RUNS:-3}
workloads=${BENCH_WORKLOAD:-build-std-cmd vet-std}
configs=${BENCH_ONLY:-native gocachefs floor go-cacher}
tools=$repo/build/tools
results=$repo/build/bench
mkdir -p "$results"
log=$results/workload.log
: >"$log"

if [[ " $configs " == *" gocachefs "* && ! -x $bin ]]; then
  echo "bench: $bin not found; build it first (scripts/setup.sh)" >&2
  exit 1
fi
if [[ " $configs " == *" floor "* ]]; then
  floor_src=$repo/../shared/tools/floorhelper
  if [[ ! -d $floor_src ]]; then
    echo "bench: $floor_src not found; leaving out the floor helper" >&2
    configs=${configs/floor/}
  else
    mkdir -p "$tools"
    (cd "$floor_src" && GOFLAGS=-mod=mod go build -o "$tools/floorhelper" .)
  fi
fi
if [[ " $configs " == *" go-cacher "* ]]; then
  "$repo/scripts/install_go_tool.sh" go-cacher github.com/bradfitz/go-tool-cache@v0.0.0-20260722201841-0bb331e19f64 ./cmd/go-cacher
fi

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

workload_args() {
  case $1 in
    build-std-cmd) echo "build std cmd" ;;
    vet-std) echo "vet std" ;;
    build-std) echo "build std" ;;
    *) echo "bench: unknown workload $1" >&2; exit 1 ;;
  esac
}

gocacheprog() {  # config store
  case $1 in
    native) echo "" ;;
    gocachefs) echo "$bin --dir $2" ;;
    floor) echo "$tools/floorhelper $2" ;;
    go-cacher) echo "$tools/go-cacher --cache-dir $2" ;;
  esac
}

# Runs one go command; prints its wall time in seconds.
timed_go() {  # config gocache store args...
  local prog
  prog=$(gocacheprog "$1" "$3")
  local gocache=$2
  shift 3
  echo "### GOCACHEPROG='$prog' GOCACHE=$gocache go $*" >>"$log"
  local start=$EPOCHREALTIME
  GOCACHE=$gocache GOCACHEPROG=$prog GOTOOLCHAIN=local GOFLAGS="" go "$@" >>"$log" 2>&1
  local end=$EPOCHREALTIME
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }'
}

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A t  # t[workload,phase,config] = seconds
for w in $workloads; do
  read -r -a args <<<"$(workload_args "$w")"
  for c in $configs; do
    gocache=$tmp/$w-$c-gocache store=$tmp/$w-$c-store
    mkdir -p "$gocache" "$store"
    echo "bench: $w, $c ..." >&2
    t[$w,cold,$c]=$(timed_go "$c" "$gocache" "$store" "${args[@]}")
    samples=()
    for ((i = 0; i < runs; i++)); do samples+=("$(timed_go "$c" "$gocache" "$store" "${args[@]}")"); done
    t[$w,warm,$c]=$(echo "${samples[*]}" | median)
    if [[ $c != native ]]; then
      samples=()
      for ((i = 0; i < runs; i++)); do
        fresh=$tmp/$w-$c-fresh-$i
        mkdir -p "$fresh"
        samples+=("$(timed_go "$c" "$fresh" "$store" "${args[@]}")")
      done
      t[$w,new-dir,$c]=$(echo "${samples[*]}" | median)
    fi
  done
done

ratio() {  # a b
  if [[ -z $1 || -z $2 || $1 == - || $2 == - ]]; then echo "-"; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; fi
}

{
  echo "go $(go env GOVERSION), $(nproc) cores, median of $runs warm runs, $(date -u +%Y-%m-%d)"
  printf '%-15s %-8s %9s %10s %8s %10s %17s %16s %20s\n' workload phase native gocachefs floor go-cacher \
    gocachefs/native gocachefs/floor gocachefs/go-cacher
  for w in $workloads; do
    for p in cold warm new-dir; do
      n=${t[$w,$p,native]:--} g=${t[$w,$p,gocachefs]:--} f=${t[$w,$p,floor]:--} c=${t[$w,$p,go-cacher]:--}
      printf '%-15s %-8s %9s %10s %8s %10s %17s %16s %20s\n' "$w" "$p" "$n" "$g" "$f" "$c" "$(ratio "$g" "$n")" \
        "$(ratio "$g" "$f")" "$(ratio "$g" "$c")"
    done
  done
  echo "(seconds of wall time; new-dir = warm store with a brand-new empty GOCACHE)"
} | tee "$results/workload.txt"
