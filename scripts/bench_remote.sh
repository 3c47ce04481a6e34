#!/usr/bin/env bash
# The two-machine figures for each remote backend, in one run: a first
# machine (empty local store, empty GOCACHE) builds the workload and uploads;
# a second one (another empty store and GOCACHE) builds it from the remote.
# Servers are real (scripts/test_server.sh) and on loopback.
#
#   scripts/bench_remote.sh                                   go build std cmd
#   BENCH_WORKLOAD="std" BENCH_BACKENDS="nginx" scripts/bench_remote.sh
#
# Prints, per backend: the first machine's wall time, bytes put, bytes sent
# (after zstd), upload throughput and how long close waited for the queue;
# the second machine's wall time, hit rate, remote hits and bytes fetched;
# and the backlog: the first machine's whole store queued again for a fresh
# remote prefix and sent by one no-op go command, which is what a CI job
# that ran with the remote down sends at its next start (throughput and the
# time its close waited).
# Writes the table to build/bench/remote.txt.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
bin=${GOCACHEFS_BIN:-$repo/build/gocachefs}
workload=${BENCH_WORKLOAD:-std cmd}
backends=${BENCH_BACKENDS:-file nginx bazel-remote minio}
results=$repo/build/bench
mkdir -p "$results"
tmp=$(mktemp -d)
servers=()
cleanup() {
  for s in "${servers[@]}"; do "$repo/scripts/test_server.sh" stop "$s" || true; done
  chmod -R u+w "$tmp" 2>/dev/null
  [[ -n ${BENCH_KEEP:-} ]] && echo "bench: kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
export OWNER_PID=$$

seconds_since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
counter() {  # store name: a lifetime counter from the index
  python3 -c 'import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute("select value from counters where name = ?", (sys.argv[2],)).fetchone()
print(row[0] if row else 0)' "$1/index.sqlite" "$2"
}

last_close_wait() {  # store: ms the last close waited for uploads
  awk '/close: waited/ { for (i = 1; i <= NF; i++) if ($i == "waited") w = $(i + 1) }
       /uploads still queued after/ { for (i = 1; i <= NF; i++) if ($i == "after") w = $(i + 1) }
       END { print w + 0 }' "$1/gocachefs.log"
}

run_machine() {  # name url env...; prints wall seconds
  local name=$1 url=$2
  shift 2
  local start=$EPOCHREALTIME
  env "$@" GOCACHE="$tmp/$name/gocache" GOCACHEPROG="$bin --dir $tmp/$name/store" GOCACHEFS_REMOTE="$url" GOCACHEFS_LAZY=off \
    GOTOOLCHAIN=local GOFLAGS= go build $workload >>"$tmp/go.log" 2>&1 || {
    echo "bench: go build failed on $name; see below" >&2
    tail -20 "$tmp/go.log" >&2
    exit 1
  }
  seconds_since "$start"
  # gocachefs writes its counters and last log lines after the go command
  # has its answer: wait for them.
  for _ in $(seq 50); do
    [[ $(grep -c "session ended" "$tmp/$name/store/gocachefs.log") -ge 1 ]] && break
    sleep 0.1
  done
}

printf '%-12s %9s %9s %9s %7s %10s | %9s %8s %11s %10s | %12s %10s\n' backend first_s put_MiB sent_MiB zstd close_wait \
  second_s hit_rate remote_hits fetch_MiB backlog_MiB/s backlog_s \
  | tee "$results/remote.txt"
for backend in $backends; do
  envs=()
  case $backend in
    file) url="file://$tmp/file-remote" ;;
    nginx | minio | bazel-remote)
      dir=$tmp/server-$backend
      servers+=("$dir")
      out=$("$repo/scripts/test_server.sh" start "$backend" "$dir")
      url=$(sed -n 's/^url=//p' <<<"$out")
      if [[ $backend == minio ]]; then
        envs=("AWS_ACCESS_KEY_ID=$(sed -n 's/^access_key=//p' <<<"$out")" "AWS_SECRET_ACCESS_KEY=$(sed -n 's/^secret_key=//p' <<<"$out")")
        url="s3://$(sed -n 's/^bucket=//p' <<<"$out")/go?endpoint=$url"
      fi
      ;;
    *) echo "bench: unknown backend $backend" >&2; exit 1 ;;
  esac
  echo "bench: $backend: first machine ..." >&2
  first_s=$(run_machine "$backend-1" "$url" "${envs[@]}")
  store1=$tmp/$backend-1/store
  put=$(counter "$store1" put_bytes)
  sent=$(counter "$store1" remote_upload_bytes)
  objects=$(counter "$store1" remote_upload_object_bytes)
  close_ms=$(last_close_wait "$store1")
  echo "bench: $backend: second machine ..." >&2
  second_s=$(run_machine "$backend-2" "$url" "${envs[@]}")
  store2=$tmp/$backend-2/store
  hits=$(counter "$store2" get_hits)
  misses=$(counter "$store2" get_misses)
  remote_hits=$(counter "$store2" remote_hits)
  fetched=$(counter "$store2" remote_fetch_bytes)
  echo "bench: $backend: backlog ..." >&2
  backlog=$tmp/$backend-backlog
  cp -a "$tmp/$backend-1" "$backlog"
  "$repo/scripts/queue_all_uploads.py" "$backlog/store"
  : >"$backlog/store/gocachefs.log"
  backlog_url=${url/\/go\?/\/backlog?}
  [[ $backlog_url == "$url" ]] && backlog_url=$url/backlog
  run_machine "$backend-backlog" "$backlog_url" "${envs[@]}" >/dev/null
  # The "uploads:" line: bytes on the wire, seconds with uploads in flight.
  read -r up_bytes up_seconds < <(awk '/uploads: .* actions/ { b += $(NF-10); s += $(NF-1) } END { print b + 0, s + 0 }' "$backlog/store/gocachefs.log")
  backlog_ms=$(last_close_wait "$backlog/store")

  printf '%-12s %9s %9s %9s %7s %8sms | %9s %7s%% %11s %10s | %12s %10s\n' "$backend" "$first_s" "$(mib "$put")" "$(mib "$sent")" \
    "$(awk -v o="$objects" -v s="$sent" 'BEGIN { if (s > 0) printf "%.2fx", o / s; else print "-" }')" "$close_ms" \
    "$second_s" "$(awk -v h="$hits" -v m="$misses" 'BEGIN { printf "%.1f", 100 * h / (h + m) }')" \
    "$remote_hits" "$(mib "$fetched")" \
    "$(awk -v b="$up_bytes" -v s="$up_seconds" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1048576; else print "-" }')" \
    "$(awk -v ms="$backlog_ms" 'BEGIN { printf "%.2f", ms / 1000 }')" | tee -a "$results/remote.txt"
done
{
  echo "(go build $workload; $(go env GOVERSION), $(nproc) cores, loopback, $(date -u +%Y-%m-%d))"
  echo "zstd = bytes of the objects sent (in records or cas/) / bytes sent; close_wait = the last go command's wait for its queue;"
  echo "backlog = the first machine's store queued again and sent by one no-op go command to a fresh prefix"
} | tee -a "$results/remote.txt"
