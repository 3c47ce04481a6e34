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
# nginx (WebDAV), python3 (the fault proxy, the OpenID provider and AWS
# metadata endpoints of the credential tests), curl and openssl (which also
# signs the OpenID tokens) for the test servers (scripts/test_server.sh); iproute2 (ip, tc) for the shaped-link
# test. MinIO and bazel-remote come from the Go module proxy, below.
# The lazy mount: libfuse3 to build, fuse3 (fusermount3) to mount.
# Fuzzing (scripts/fuzz.sh): clang, and libFuzzer with the sanitizer runtimes,
# which clang-14 only recommends (libclang-rt-14-dev).
packages=(
  build-essential cmake ninja-build pkg-config git
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libzstd-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libmodpbase64-dev
  libgtest-dev libbenchmark-dev
  libfuse3-dev fuse3
  clang libclang-rt-14-dev
  nginx-light python3 curl openssl zstd iproute2
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

# Servers for the remote tests, from the Go module proxy, into build/tools;
# pinned to what the tests were run against. Without one, its tests skip.
install_tool() {  # name module@version
  scripts/install_go_tool.sh "$@" ||
    echo "setup: WARNING: the tests that need $1 will be skipped" >&2
}
install_tool minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
# MinIO's client, for a user with a policy of its own (tests/e2e/minio_user_test.cpp).
install_tool mc github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9
install_tool bazel-remote github.com/buchgr/bazel-remote/v2@v2.6.1
# IMDSv2 for the S3 credential tests (tests/remote/aws_credentials_servers_test.cpp).
install_tool ec2-metadata-mock github.com/aws/amazon-ec2-metadata-mock@v1.13.0 ./cmd/ec2-metadata-mock
# A third-party client of the GitHub Actions cache service, to check the
# emulator with (tests/scripts/gha_client_test.sh): a local module, pinned by
# its go.mod and go.sum.
mkdir -p build/tools
GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -C tests/gha_client -o ../../build/tools/gha-client . \
  >build/tools-gha-client.log 2>&1 ||
  echo "setup: WARNING: the tests that need gha-client will be skipped (build/tools-gha-client.log)" >&2
