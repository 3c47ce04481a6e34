#!/usr/bin/env bash
# A fresh CI job with a warm team cache, on a shaped link, side by side with
# what people use today. Needs root (network namespaces).
#
#   scripts/bench_network.sh
#   BENCH_RTT_MS=50 BENCH_RATE_MBIT=1000 BENCH_RUNS=5 scripts/bench_network.sh
#   BENCH_ONLY="gocachefs-http native-warm" BENCH_WORKLOAD="test" scripts/bench_network.sh
#
# The cache servers run in one network namespace, the go command in another,
# joined by a veth pair shaped by scripts/netns.sh (default 20 ms round trip,
# 100 Mbit/s). Each server sits behind scripts/delay_relay.py, which counts
# connections, HTTP requests and bytes (and adds the delay where the kernel
# has no netem).
#
# First every remote is filled by a build in the server's namespace (not
# timed), gocachefs's with packs written (GOCACHEFS_PACKS=on; only the
# -pack configurations read them). For those, a second, warm job through the
# lazy mount then rewrites the packs as CI's second job would: heads only for
# the objects nobody read beyond them (on gha://, those bodies last, cold: the
# steady state of a CI key). Then each configuration runs BENCH_RUNS times on a machine with an
# empty local store and an empty GOCACHE, the workloads one after the other
# as one CI job would:
#   build   go build std cmd
#   vet     go vet std
#   test    go test ./... of tests/e2e/sample (all results cached)
# Configurations (BENCH_ONLY):
#   gocachefs-http   gocachefs, bazel-remote over HTTP, eager fetches (--lazy=off)
#   gocachefs-http-lazy  the same through the lazy mount (--lazy=on)
#   gocachefs-http-pack  the lazy mount, warmed by the packs the fill wrote
#   gocachefs-http-pack-eager  the same packs, eager fetches (no FUSE)
#   gocachefs-http-lazy-p8  no packs, the user's lever: GOMAXPROCS=8 -p=8
#   gocachefs-http-lazy-vetoff  no packs, the other lever: go test -vet=off
#   gocachefs-gha-pack  gocachefs, the GitHub Actions cache (gha://, its
#                    emulator tests/gha_emulator), packs through the lazy mount
#   gocachefs-gha-pack-eager  the same, eager (a runner without FUSE)
#   gocachefs-s3     gocachefs, MinIO over S3, eager fetches
#   gocachefs-s3-lazy    the same through the lazy mount
#   go-cacher        bradfitz/go-tool-cache's go-cacher with its gocached server
#   go-cache-plugin  tailscale/go-cache-plugin, MinIO over S3
#   tarball          download a zstd tarball of a warm GOCACHE from nginx,
#                    unpack it, native cache (the "restore" step)
#   tarball-gha      actions/cache's way: the same tarball saved as an entry
#                    of the GitHub Actions cache emulator, restored from it
#   native-warm      the native cache already warm on the machine: the floor
#
# Output in BENCH_RESULTS (build/bench/network): raw.tsv (every run),
# network.txt (the table: medians, MiB over the link, HTTP requests,
# gocachefs's own CPU seconds), network.png (chart).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

rtt_ms=${BENCH_RTT_MS:-20}
rate_mbit=${BENCH_RATE_MBIT:-100}
runs=${BENCH_RUNS:-3}
configs=${BENCH_ONLY:-gocachefs-http gocachefs-http-lazy gocachefs-s3 go-cacher go-cache-plugin tarball native-warm}
workloads=${BENCH_WORKLOAD:-build vet test}
results=${BENCH_RESULTS:-$repo/build/bench/network}
bin=${GOCACHEFS_BIN:-$repo/build/gocachefs}
tools=$repo/build/tools
sample=$repo/tests/e2e/sample

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: needs root to make network namespaces" >&2
  exit 1
fi
[[ -x $bin ]] || { echo "bench: $bin not found; run scripts/setup.sh" >&2; exit 1; }

# What the comparison needs, pinned to the versions measured.
go_tool_cache=github.com/bradfitz/go-tool-cache@v0.0.0-20260722201841-0bb331e19f64
"$repo/scripts/install_go_tool.sh" go-cacher $go_tool_cache ./cmd/go-cacher
"$repo/scripts/install_go_tool.sh" gocached $go_tool_cache ./cmd/gocached
"$repo/scripts/install_go_tool.sh" go-cache-plugin github.com/tailscale/go-cache-plugin@v0.1.1 ./cmd/go-cache-plugin
for tool in minio bazel-remote; do
  [[ -x $tools/$tool ]] || { echo "bench: $tools/$tool missing; run scripts/setup.sh" >&2; exit 1; }
done
if ! command -v gnuplot >/dev/null; then
  echo "bench: installing gnuplot (for the chart)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi

mkdir -p "$results"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for dir in "$tmp"/server-*; do "$repo/scripts/test_server.sh" stop "$dir" || true; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$repo/scripts/netns.sh" down
  chmod -R u+w "$tmp" 2>/dev/null
  # A server may still be flushing as it exits: what it leaves is only noise.
  [[ -n ${BENCH_KEEP:-} ]] && echo "bench: kept $tmp" >&2 || rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
export OWNER_PID=$$

shape=$("$repo/scripts/netns.sh" up "$rtt_ms" "$rate_mbit")
server_ip=$(sed -n 's/^server_ip=//p' <<<"$shape")
one_way_ms=0 delay_by=netem
if grep -q "delay=relay" <<<"$shape"; then
  delay_by=relay
  one_way_ms=$(awk -v r="$rtt_ms" 'BEGIN { print r / 2 }')
  echo "bench: this kernel has no tc netem: tbf shapes the rate, delay_relay.py adds the ${rtt_ms} ms round trip" >&2
fi
in_server() { ip netns exec gcf-server "$@"; }
# The client enters only the network namespace (not a mount namespace of
# its own, as `ip netns exec` makes): the lazy mount's daemon, started by one
# go command, must be seen by the next.
in_client() { nsenter --net=/var/run/netns/gcf-client "$@"; }

# --- Servers: each on its namespace's loopback, reached through a relay on
# the veth address with the same port number. (Background processes are
# started with `ip netns exec` itself, not a function, so $! is theirs.)
declare -A direct_url relayed_url
relay() {  # name port
  ip netns exec gcf-server python3 "$repo/scripts/delay_relay.py" "$server_ip:$2" "127.0.0.1:$2" "$one_way_ms" "$tmp/relay-$1.stats" \
    >>"$tmp/relay-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $tmp/relay-$1.stats ]] && break; sleep 0.05; done
  direct_url[$1]=http://127.0.0.1:$2
  relayed_url[$1]=http://$server_ip:$2
}
start_test_server() {  # name kind; prints test_server.sh's KEY=VALUE lines
  in_server "$repo/scripts/test_server.sh" start "$2" "$tmp/server-$1"
}
port_of() { sed -n 's/^url=.*:\([0-9]*\)$/\1/p' <<<"$1"; }

needs() { [[ " $configs " == *" $1 "* ]]; }
if [[ " $configs " == *" gocachefs-http"* ]]; then
  relay bazel-remote "$(port_of "$(start_test_server bazel-remote bazel-remote)")"
fi
if needs gocachefs-s3 || needs gocachefs-s3-lazy || needs go-cache-plugin; then
  minio=$(start_test_server minio minio)
  relay minio "$(port_of "$minio")"
  s3_env=("AWS_ACCESS_KEY_ID=$(sed -n 's/^access_key=//p' <<<"$minio")"
    "AWS_SECRET_ACCESS_KEY=$(sed -n 's/^secret_key=//p' <<<"$minio")" AWS_REGION=us-east-1)
  bucket=$(sed -n 's/^bucket=//p' <<<"$minio")
fi
if needs tarball; then
  relay nginx "$(port_of "$(start_test_server nginx nginx)")"
fi
if needs go-cacher; then
  relay gocached "$(port_of "$(start_test_server gocached gocached)")"
fi
if [[ " $configs " == *" gocachefs-gha"* ]] || needs tarball-gha; then
  gha=$(start_test_server gha gha)
  relay gha "$(port_of "$(grep '^url=' <<<"$gha")")"
  gha_token=$(sed -n 's/^token=//p' <<<"$gha")
fi
# A Twirp call to the GitHub Actions cache service, printing one field of its answer.
gha_call() {  # base_url method json field
  curl -sSf -X POST -H "Authorization: Bearer $gha_token" -H "Content-Type: application/json" --data "$3" \
    "$1/twirp/github.actions.results.api.v1.CacheService/$2" |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$4"
}

# --- How each configuration runs the go command, one VAR=value per line.
# `machine` is the machine's directory; `urls` names direct_url (the fill, in
# the server's namespace) or relayed_url (the measured runs, over the link).
lazy_of() { [[ $1 == *-lazy* || $1 == *-pack ]] && echo on || echo off; }
# The fill writes packs; measured runs read them only in -pack configurations
# (and write one, as CI would, when the job used something they lack).
packs_of() { [[ -n ${filling:-} || $1 == *-pack* ]] && echo on || echo off; }
config_env() {  # config machine urls
  local -n urls=$3
  case $1 in
    gocachefs-*) printf '%s\n' "GOCACHEFS_PACKS=$(packs_of "$1")" ;;
  esac
  case $1 in
    *-p8) printf '%s\n' GOMAXPROCS=8 GOFLAGS=-p=8 ;;
    *) printf '%s\n' GOFLAGS= ;;
  esac
  case $1 in
    gocachefs-http*) printf '%s\n' "GOCACHEPROG=$bin --dir $2/store" "GOCACHEFS_REMOTE=${urls[bazel-remote]}" \
      "GOCACHEFS_LAZY=$(lazy_of "$1")" ;;
    gocachefs-gha*) printf '%s\n' "GOCACHEPROG=$bin --dir $2/store" "ACTIONS_RESULTS_URL=${urls[gha]}" \
      "ACTIONS_RUNTIME_TOKEN=$gha_token" "GOCACHEFS_REMOTE=gha://bench" "GOCACHEFS_LAZY=$(lazy_of "$1")" ;;
    gocachefs-s3*) printf '%s\n' "GOCACHEPROG=$bin --dir $2/store" "${s3_env[@]}" \
      "GOCACHEFS_REMOTE=s3://$bucket/gocachefs?endpoint=${urls[minio]}" "GOCACHEFS_LAZY=$(lazy_of "$1")" ;;
    go-cacher) printf '%s\n' "GOCACHEPROG=$tools/go-cacher --cache-dir $2/store --cache-server ${urls[gocached]}" ;;
    go-cache-plugin) printf '%s\n' "${s3_env[@]}" "GOCACHEPROG=$tools/go-cache-plugin --cache-dir $2/store --bucket $bucket \
--prefix go-cache-plugin --s3-endpoint-url ${urls[minio]} --s3-path-style --region us-east-1" ;;
    tarball | tarball-gha | native-warm) ;;
  esac
}

run_go() {  # namespace machine config urls workload
  local vars dir=/ args
  mapfile -t vars < <(config_env "$3" "$2" "$4")
  case $5 in
    build) args="build std cmd" ;;
    vet) args="vet std" ;;
    test) args="test ./..." dir=$sample
      [[ $3 == *-vetoff ]] && args="test -vet=off ./..." ;;
    *) echo "bench: unknown workload $5" >&2; exit 1 ;;
  esac
  # The network namespace only: a lazy mount made by one go command is seen by the next.
  nsenter --net="/var/run/netns/$1" env -C "$dir" GOCACHE="$2/gocache" GOTOOLCHAIN=local GOPROXY=off "${vars[@]}" go $args
}

# --- Fill: one cold run of the workloads per remote, in the server's
# namespace, unshaped. The native cache it leaves is the tarball's content
# and native-warm's cache.
fill_job() {  # config machine what
  mkdir -p "$2/gocache"
  for workload in $workloads; do
    filling=1 run_go gcf-server "$2" "$1" direct_url "$workload" >>"$tmp/fill.log" 2>&1 || {
      echo "bench: $3 for $1 failed; see below" >&2
      tail -20 "$tmp/fill.log" >&2
      exit 1
    }
  done
}
fill() {  # config
  echo "bench: filling the remote for $1 ..." >&2
  fill_job "$1" "$tmp/fill-$1" "filling"
}
for config in $configs; do
  case $config in
    tarball | tarball-gha | native-warm) [[ -d $tmp/fill-native ]] || fill native ;;
    gocachefs-http-*) [[ -d $tmp/fill-gocachefs-http ]] || fill gocachefs-http ;;  # the same remote as eager
    gocachefs-gha-*) [[ -d $tmp/fill-gocachefs-gha ]] || fill gocachefs-gha ;;
    *-lazy) [[ -d $tmp/fill-${config%-lazy} ]] || fill "${config%-lazy}" ;;
    *) [[ -d $tmp/fill-$config ]] || fill "$config" ;;
  esac
done
refine() {  # config
  echo "bench: a warm job through the lazy mount rewrites the packs of $1 ..." >&2
  fill_job "$1-pack" "$tmp/refine-$1" "the second job"
  "$bin" stop --dir "$tmp/refine-$1/store" >/dev/null 2>&1 || true
}
if [[ " $configs " == *"gocachefs-http-pack"* ]]; then refine gocachefs-http; fi
if [[ " $configs " == *"gocachefs-gha-pack"* ]]; then refine gocachefs-gha; fi
if needs tarball || needs tarball-gha; then
  # As actions/cache does it: zstd with a long window, all cores.
  tar -C "$tmp/fill-native/gocache" -cf - . | zstd -q -T0 --long=30 -o "$tmp/gocache.tar.zst"
fi
if needs tarball; then cp "$tmp/gocache.tar.zst" "$tmp/server-nginx/data/gocache.tar.zst"; fi
tarball_version=$(printf 'gocache.tar.zst' | sha256sum | cut -c1-64)
# As actions/cache saves: create the entry, put the blob, finalize.
save_tarball_gha() {  # base_url file
  local upload_url
  upload_url=$(gha_call "$1" CreateCacheEntry "{\"key\": \"go-build-linux\", \"version\": \"$tarball_version\"}" \
    signed_upload_url)
  curl -sSf -X PUT -H "x-ms-blob-type: BlockBlob" --data-binary @"$2" "$upload_url" >/dev/null
  gha_call "$1" FinalizeCacheEntryUpload \
    "{\"key\": \"go-build-linux\", \"version\": \"$tarball_version\", \"size_bytes\": $(stat -c %s "$2")}" ok >/dev/null
}
# As actions/cache restores: by a restore key, then one download.
restore_tarball_gha() {  # base_url machine
  local url
  url=$(gha_call "$1" GetCacheEntryDownloadURL \
    "{\"key\": \"go-build-linux-x\", \"restore_keys\": [\"go-build-linux\"], \"version\": \"$tarball_version\"}" \
    signed_download_url)
  curl -sSf "$url" | zstd -dq --long=30 | tar -C "$2/gocache" -xf -
}
gha_functions=$(declare -f gha_call save_tarball_gha restore_tarball_gha)
in_gha() {  # namespace function args...: a function above, in a namespace
  nsenter --net="/var/run/netns/$1" bash -c "set -euo pipefail; $gha_functions; gha_token=$gha_token; \
tarball_version=$tarball_version; \"\$@\"" _ "${@:2}"
}
if needs tarball-gha; then in_gha gcf-server save_tarball_gha "${direct_url[gha]}" "$tmp/gocache.tar.zst"; fi

# --- Measured runs.
seconds_since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }
link_bytes() {  # both directions at the client's end of the link (/proc/net is per network namespace)
  in_client cat /proc/net/dev | awk '{ sub(/^ +/, ""); split($0, f, /[: ]+/) } f[1] == "gcf-cli" { printf "%.0f\n", f[2] + f[10] }'
}
relay_requests() { cat "$tmp"/relay-*.stats | awk '{ s += $4 } END { print s + 0 }'; }
gocachefs_cpu() {  # machine: CPU seconds over all gocachefs sessions so far
  awk '/session ended/ { for (i = 1; i <= NF; i++) if ($i == "cpu") { u += $(i + 1); s += $(i + 3) } }
       END { printf "%.2f", u + s }' "$1/store/gocachefs.log" 2>/dev/null || echo 0
}

raw=$results/raw.tsv
printf 'config\trun\tstep\tseconds\tlink_bytes\trequests\tgocachefs_cpu_s\n' >"$raw"
measure() {  # config run machine step command...
  local config=$1 run=$2 machine=$3 step=$4
  shift 4
  local bytes0 requests0 cpu0 start seconds
  bytes0=$(link_bytes)
  requests0=$(relay_requests)
  cpu0=$(gocachefs_cpu "$machine")
  start=$EPOCHREALTIME
  "$@" >"$tmp/step.log" 2>&1 || {
    echo "bench: $config $step failed; see below" >&2
    tail -20 "$tmp/step.log" >&2
    exit 1
  }
  seconds=$(seconds_since "$start")
  cat "$tmp/step.log" >>"$results/go.log"
  if [[ $step == test ]] && grep -E '^ok ' "$tmp/step.log" | grep -vq '(cached)'; then
    echo "bench: WARNING: $config: not every test result came from the cache" >&2
  fi
  # Counters settle once the helper has exited and the relays have saved (a
  # lazy machine's daemon stays, as it would on a real one).
  while pgrep -f "gocachefs --dir $machine/store" >/dev/null; do sleep 0.1; done
  sleep 1.2
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$run" "$step" "$seconds" $(($(link_bytes) - bytes0)) \
    $(($(relay_requests) - requests0)) "$(awk -v a="$(gocachefs_cpu "$machine")" -v b="$cpu0" 'BEGIN { printf "%.2f", a - b }')" \
    >>"$raw"
  echo "bench: run $run $config $step: ${seconds} s" >&2
}

restore_tarball() {  # machine
  in_client bash -c "set -o pipefail; curl -sSf '${relayed_url[nginx]}/gocache.tar.zst' | zstd -dq --long=30 | tar -C '$1/gocache' -xf -"
}

: >"$results/go.log"
for run in $(seq "$runs"); do
  for config in $configs; do
    machine=$tmp/run-$config-$run
    mkdir -p "$machine/gocache"
    case $config in
      tarball) measure "$config" "$run" "$machine" restore restore_tarball "$machine" ;;
      tarball-gha) measure "$config" "$run" "$machine" restore in_gha gcf-client restore_tarball_gha \
        "${relayed_url[gha]}" "$machine" ;;
      native-warm) cp -a "$tmp/fill-native/gocache/." "$machine/gocache/" ;;
    esac
    for workload in $workloads; do
      measure "$config" "$run" "$machine" "$workload" run_go gcf-client "$machine" "$config" relayed_url "$workload"
    done
    "$bin" stop --dir "$machine/store" || true  # a lazy machine's daemon unmounts
    chmod -R u+w "$machine" && rm -rf "$machine"
  done
done

python3 "$repo/scripts/bench_network_report.py" "$raw" "$results" \
  "go $(go env GOVERSION | sed 's/^go//'), $(nproc) cores, ${rtt_ms} ms round trip (by $delay_by), ${rate_mbit} Mbit/s, median of $runs runs, $(date -u +%Y-%m-%d)" \
  | tee "$results/network.txt"
