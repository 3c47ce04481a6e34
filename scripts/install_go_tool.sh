#!/usr/bin/env bash
# Installs a Go program from the Go module proxy into build/tools, once.
#
#   scripts/install_go_tool.sh NAME MODULE@VERSION [PACKAGE_DIR]
#
# `go install MODULE/PACKAGE_DIR@VERSION` reads the module's version list,
# which some proxies refuse for some modules; then the module itself is
# downloaded at VERSION and built in a copy of its own tree with its own
# go.sum, which needs nothing else.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
name=${1:?name} module=${2:?module@version} package=${3:-.}
tools=$repo/build/tools
[[ -x $tools/$name ]] && exit 0
mkdir -p "$tools"
log=$repo/build/tools-$name.log
echo "install: $name ($module) into $tools" >&2

path=${module%@*} version=${module#*@}
package_path=$path
[[ $package != . ]] && package_path=$path/${package#./}
if GOBIN=$tools GOTOOLCHAIN=local GOFLAGS=-mod=mod go install "$package_path@$version" >"$log" 2>&1; then
  exit 0
fi
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
if dir=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json "$module" 2>>"$log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') &&
  cp -r "$dir/." "$src" && chmod -R u+w "$src" &&
  (cd "$src" && GOTOOLCHAIN=local GOFLAGS= go build -o "$tools/$name" "$package") >>"$log" 2>&1; then
  exit 0
fi
echo "install: could not install $name: $(tail -n 2 "$log" | tr '\n' ' ')" >&2
exit 1
