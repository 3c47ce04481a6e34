#!/usr/bin/env bash
# Upload throughput with and without a signing key: one store filled by a
# cold `go build std` (no remote), then ROUNDS interleaved rounds in which a
# copy of it has every action queued again and one no-op go command sends
# the lot to a fresh prefix of a local nginx (as bench_remote.sh's backlog).
# Prints per run: actions, MiB sent, seconds with uploads in flight.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${GOCACHEFS_BIN:-$repo/build/gocachefs}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
export OWNER_PID=$$
cleanup() { "$repo/scripts/test_server.sh" stop "$tmp/nginx" >/dev/null 2>&1 || true; chmod -R u+w "$tmp"; rm -rf "$tmp"; }
trap cleanup EXIT
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS= GOCACHEFS_LAZY=off GOCACHEFS_PACKS=off
url=$("$repo/scripts/test_server.sh" start nginx "$tmp/nginx" | sed -n 's/^url=//p')
printf 'team-1 %s\n' "$(head -c 32 /dev/urandom | xxd -p -c 64)" >"$tmp/key"; chmod 600 "$tmp/key"
GOCACHE=$tmp/seed/gocache GOCACHEPROG="$bin --dir $tmp/seed/store" go build std
for round in $(seq "$rounds"); do
  for mode in unsigned signed; do
    run=$tmp/run-$round-$mode
    cp -a "$tmp/seed" "$run"
    "$repo/scripts/queue_all_uploads.py" "$run/store"
    : >"$run/store/gocachefs.log"
    key=(); [[ $mode == signed ]] && key=(GOCACHEFS_SIGNING_KEY_FILE="$tmp/key")
    env "${key[@]}" GOCACHE="$run/gocache" GOCACHEPROG="$bin --dir $run/store" GOCACHEFS_REMOTE="$url/$round-$mode" go build std
    for _ in $(seq 100); do grep -q "session ended" "$run/store/gocachefs.log" && break; sleep 0.1; done
    awk -v mode="$mode" -v round="$round" '/uploads: .* actions/ { a += $(NF-12); b += $(NF-10); s += $(NF-1) }
      END { printf "%d %-8s %6d actions %8.1f MiB %7.2f s %8.0f objects/s %7.1f MiB/s\n", round, mode, a, b/1048576, s, a/s, b/s/1048576 }' \
      "$run/store/gocachefs.log"
    rm -rf "$run"
  done
done
