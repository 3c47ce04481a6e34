#!/usr/bin/env bash
# Builds gocachefs from this checkout (the action's ref) on a GitHub-hosted
# Ubuntu runner, into the directory given: the binary only, no tests.
set -euo pipefail
out=${1:?directory for the binary}
repo=$(cd "$(dirname "$0")/../.." && pwd)
sudo apt-get update -qq
sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config libsqlite3-dev libssl-dev libcurl4-openssl-dev libzstd-dev \
  libspdlog-dev nlohmann-json3-dev libcli11-dev libmodpbase64-dev libfuse3-dev fuse3 >/dev/null
cmake -S "$repo" -B "$RUNNER_TEMP/gocachefs-build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGOCACHEFS_TESTS=OFF >/dev/null
ninja -C "$RUNNER_TEMP/gocachefs-build" gocachefs
mkdir -p "$out"
cp "$RUNNER_TEMP/gocachefs-build/gocachefs" "$out/"
