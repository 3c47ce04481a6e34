#!/usr/bin/env bash
# The README's first command: set up, build, and run a real `go build`
# through gocachefs on the default local store (~/.cache/gocachefs), twice:
# the second build, with an empty GOCACHE, comes entirely from the store.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="/usr/local/go/bin:$PATH"

bin="$PWD/build/gocachefs"
sample="$PWD/tests/e2e/sample"
for run in first second; do
  gocache=$(mktemp -d)
  start=$EPOCHREALTIME
  (cd "$sample" && GOCACHEPROG="$bin" GOCACHE="$gocache" GOTOOLCHAIN=local GOPROXY=off go build ./... && \
    GOCACHEPROG="$bin" GOCACHE="$gocache" GOTOOLCHAIN=local GOPROXY=off go test ./... >/dev/null)
  end=$EPOCHREALTIME
  rm -rf "$gocache"
  awk -v r="$run" -v s="$start" -v e="$end" 'BEGIN { printf "quickstart: %s go build + go test through gocachefs: %.1f s\n", r, e - s }'
done
"$bin" stats
