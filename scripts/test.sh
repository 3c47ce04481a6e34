#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite. Extra arguments go
# to ctest, e.g. `scripts/test.sh -L unit` for the quick subset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="/usr/local/go/bin:$PATH"
cd build
exec ctest --output-on-failure -j2 "$@"
