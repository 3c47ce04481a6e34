#!/usr/bin/env bash
# Installs everything gocachefs needs to build and to run its whole test
# suite on a fresh Debian 12 machine, then builds build/gocachefs.
#
#   scripts/setup.sh            install packages (needs root or sudo) and build
#   SKIP_APT=1 scripts/setup.sh build only
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler and tools; libraries for the binary; test frameworks.
# Tests: the go command (>= 1.24) must be on PATH; git for `go` VCS stamping;
# nginx (WebDAV), python3 (the fault proxy), curl and openssl for the test
# servers (scripts/test_server.sh). MinIO and bazel-remote come from the Go
# module proxy, below.
packages=(
  build-essential cmake ninja-build pkg-config git
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libzstd-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libmodpbase64-dev
  libgtest-dev libbenchmark-dev
  nginx-light python3 curl openssl zstd
)

if [[ -z "${SKIP_APT:-}" ]]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "setup: the go command (1.24 or newer) is not on PATH; install it from https://go.dev/dl/" >&2
  exit 1
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build

# Servers for the remote tests, from the Go module proxy, into build/tools.
tools=$PWD/build/tools
install_tool() {  # name module
  [[ -x $tools/$1 ]] && return 0
  echo "setup: installing $1 ($2) into $tools" >&2
  if ! GOBIN=$tools GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "$2" >build/tools-$1.log 2>&1; then
    echo "setup: WARNING: could not install $1: $(tail -n 2 build/tools-$1.log | tr '\n' ' ')" >&2
    echo "setup: WARNING: the tests that need $1 will be skipped" >&2
  fi
}
mkdir -p "$tools"
# Pinned: what the tests were run against.
install_tool minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
# bazel-remote: `go install` would read the module's version list, which this
# proxy refuses; build the module's own tree with its own go.sum instead.
install_bazel_remote() {
  [[ -x $tools/bazel-remote ]] && return 0
  echo "setup: building bazel-remote into $tools" >&2
  local module=github.com/buchgr/bazel-remote/v2@v2.6.1 src
  if ! src=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json "$module" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') ||
    ! (rm -rf build/bazel-remote-src && cp -r "$src" build/bazel-remote-src && chmod -R u+w build/bazel-remote-src &&
      cd build/bazel-remote-src && GOTOOLCHAIN=local GOFLAGS= go build -o "$tools/bazel-remote" .) >build/tools-bazel-remote.log 2>&1; then
    echo "setup: WARNING: could not build bazel-remote (see build/tools-bazel-remote.log); its tests will be skipped" >&2
  fi
  rm -rf build/bazel-remote-src
}
install_bazel_remote
