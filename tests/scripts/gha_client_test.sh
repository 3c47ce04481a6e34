#!/usr/bin/env bash
# Keeps the GitHub Actions cache service emulator (tests/gha_emulator) honest:
# a third-party client, build/tools/gha-client (tests/gha_client, built on
# tonistiigi/go-actions-cache and Azure's Go SDK), saves and restores through
# it, and curl checks the service rules that client does not exercise: a
# wrong token, immutable and invalid keys, restore-key prefixes (the newest
# entry wins), ranges, signed URLs, finalize sizes, the upload rate limit and
# the repository limit's eviction. Servers come from scripts/test_server.sh.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
client=$repo/build/tools/gha-client
if [[ ! -x $client ]]; then
  echo "SKIPPED: $client is not built (scripts/setup.sh builds it from tests/gha_client)" >&2
  exit 77
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: needs $tool" >&2; exit 77; }
done

tmp=$(mktemp -d)
export OWNER_PID=$$
cleanup() {
  "$repo/scripts/test_server.sh" stop "$tmp/main" || true
  "$repo/scripts/test_server.sh" stop "$tmp/limited" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

started=$("$repo/scripts/test_server.sh" start gha "$tmp/main")
url=$(sed -n 's/^url=//p' <<<"$started")
token=$(sed -n 's/^token=//p' <<<"$started")
[[ -n $url && -n $token ]] || fail "test_server.sh start gha printed: $started"

# value FILE FIELD: a field of a JSON file ("a.b" for nested), printed as JSON
# unless it is a string.
value() {
  python3 - "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    v = v[part]
print(v if isinstance(v, str) else json.dumps(v))
PY
}
stats_of() { curl -sf "$1/_emulator/stats" >"$tmp/stats.json" && value "$tmp/stats.json" "$2"; }

# --- The third-party client ---------------------------------------------------
if ! ACTIONS_RESULTS_URL=$url ACTIONS_RUNTIME_TOKEN=$token timeout 300 "$client" >"$tmp/client.out" 2>&1; then
  fail "gha-client against the emulator: $(cat "$tmp/client.out")"
fi
[[ $(cat "$tmp/client.out") == ok ]] || fail "gha-client printed: $(cat "$tmp/client.out")"
# Two saves and a refused third; the 5 MiB blob took six Put Block and a Put
# Block List, the tiny one one Put Blob.
for want in create_calls=4 finalize_calls=2 blob_put_requests=8 entries=2 rate_limited=0; do
  got=$(stats_of "$url" "${want%=*}")
  [[ $got == "${want#*=}" ]] || fail "after gha-client, stats ${want%=*} is $got, want ${want#*=}"
done
echo "gha_client_test: gha-client ok"

# --- Service rules, with curl --------------------------------------------------
version=$(printf 'curl-check' | sha256sum | cut -d' ' -f1)
# twirp BASE_URL METHOD JSON [TOKEN]: prints the HTTP status; the body in $tmp/body.
twirp() {
  curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer ${4-$token}" \
    -H 'Content-Type: application/json' --data "$3" "$1/twirp/github.actions.results.api.v1.CacheService/$2"
}
expect() {  # WHAT WANT_STATUS GOT_STATUS [WANT_TWIRP_CODE]
  [[ $3 == "$2" ]] || fail "$1: HTTP $3, want $2: $(cat "$tmp/body")"
  if [[ -n ${4:-} ]]; then
    local code
    code=$(value "$tmp/body" code)
    [[ $code == "$4" ]] || fail "$1: Twirp code $code, want $4: $(cat "$tmp/body")"
  fi
}
# save BASE_URL KEY FILE: create, Put Blob, finalize (size as protobuf JSON's string).
save() {
  expect "CreateCacheEntry $2" 200 "$(twirp "$1" CreateCacheEntry "{\"key\":\"$2\",\"version\":\"$version\"}")"
  local upload size code
  upload=$(value "$tmp/body" signed_upload_url)
  size=$(stat_size "$3")
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary "@$3" "$upload")
  expect "Put Blob $2" 201 "$code"
  expect "FinalizeCacheEntryUpload $2" 200 \
    "$(twirp "$1" FinalizeCacheEntryUpload "{\"key\":\"$2\",\"version\":\"$version\",\"size_bytes\":\"$size\"}")"
}
stat_size() { wc -c <"$1" | tr -d ' '; }
lookup() {  # BASE_URL KEY RESTORE_KEYS_JSON
  expect "GetCacheEntryDownloadURL $2" 200 \
    "$(twirp "$1" GetCacheEntryDownloadURL "{\"key\":\"$2\",\"restore_keys\":$3,\"version\":\"$version\"}")"
}

expect "a wrong token" 401 "$(twirp "$url" CreateCacheEntry "{\"key\":\"k\",\"version\":\"$version\"}" wrong)" \
  unauthenticated
expect "a key with a comma" 400 "$(twirp "$url" CreateCacheEntry "{\"key\":\"a,b\",\"version\":\"$version\"}")" \
  invalid_argument
long=$(printf 'k%.0s' $(seq 513))
expect "a key of 513 characters" 400 "$(twirp "$url" CreateCacheEntry "{\"key\":\"$long\",\"version\":\"$version\"}")" \
  invalid_argument

head -c 3000 /dev/urandom >"$tmp/older"
head -c 2000 /dev/urandom >"$tmp/newer"
save "$url" rk-a-1 "$tmp/older"
save "$url" rk-a-2 "$tmp/newer"
expect "creating rk-a-1 again" 409 "$(twirp "$url" CreateCacheEntry "{\"key\":\"rk-a-1\",\"version\":\"$version\"}")" \
  already_exists
expect "finalizing a key never reserved" 404 \
  "$(twirp "$url" FinalizeCacheEntryUpload "{\"key\":\"rk-none\",\"version\":\"$version\",\"size_bytes\":1}")" not_found

lookup "$url" rk-missing '["rk-b-","rk-a-"]'
[[ $(value "$tmp/body" matched_key) == rk-a-2 ]] || fail "restore-key prefix rk-a- matched $(cat "$tmp/body"), want the newest, rk-a-2"
lookup "$url" rk-a-1 '["rk-a-"]'
[[ $(value "$tmp/body" matched_key) == rk-a-1 ]] || fail "the exact key rk-a-1 matched $(cat "$tmp/body")"
download=$(value "$tmp/body" signed_download_url)
lookup "$url" rk-missing '["rk-c-"]'
[[ $(value "$tmp/body" ok) == false && $(value "$tmp/body" matched_key) == "" ]] || fail "a miss answered $(cat "$tmp/body")"
lookup "$url" rk-a-1 '[]'
[[ $(value "$tmp/body" ok) == true ]] || fail "the exact key rk-a-1 without restore keys missed: $(cat "$tmp/body")"
expect "a lookup of another version" 200 \
  "$(twirp "$url" GetCacheEntryDownloadURL "{\"key\":\"rk-a-1\",\"restore_keys\":[\"rk-\"],\"version\":\"other\"}")"
[[ $(value "$tmp/body" ok) == false ]] || fail "another version matched: $(cat "$tmp/body")"

# Ranges of rk-a-1 (3000 bytes).
code=$(curl -s -D "$tmp/headers" -o "$tmp/range" -w '%{http_code}' -r 100-1099 "$download")
[[ $code == 206 ]] || fail "a range GET answered $code"
cmp -s "$tmp/range" <(tail -c +101 "$tmp/older" | head -c 1000) || fail "a range GET returned the wrong bytes"
grep -qi '^content-range: bytes 100-1099/3000' "$tmp/headers" || fail "a range GET answered Content-Range $(grep -i content-range "$tmp/headers")"
code=$(curl -s -o "$tmp/range" -w '%{http_code}' -H 'x-ms-range: bytes=2500-' "$download")
if [[ $code != 206 ]] || ! cmp -s "$tmp/range" <(tail -c 500 "$tmp/older"); then
  fail "x-ms-range bytes=2500- answered $code or wrong bytes"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -r 3000-3010 "$download")
[[ $code == 416 ]] || fail "a range past the end answered $code, want 416"
code=$(curl -s -o "$tmp/whole" -w '%{http_code}' "$download")
if [[ $code != 200 ]] || ! cmp -s "$tmp/whole" "$tmp/older"; then fail "a whole GET answered $code or wrong bytes"; fi

# Signed URLs: a changed signature, and the download URL used to upload.
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "${download%&sig=*}&sig=AAAA")
if [[ $code != 403 ]] || ! grep -q '<Code>AuthenticationFailed</Code>' "$tmp/body"; then
  fail "a wrong sig answered $code: $(cat "$tmp/body")"
fi
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary x "$download")
[[ $code == 403 ]] || fail "uploading with a download URL answered $code"

# Finalize checks the committed size; a finalized entry's blob never changes.
expect "CreateCacheEntry sized" 200 "$(twirp "$url" CreateCacheEntry "{\"key\":\"sized\",\"version\":\"$version\"}")"
upload=$(value "$tmp/body" signed_upload_url)
expect "finalizing before any upload" 404 \
  "$(twirp "$url" FinalizeCacheEntryUpload "{\"key\":\"sized\",\"version\":\"$version\",\"size_bytes\":5}")" not_found
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary 12345 "$upload")
[[ $code == 201 ]] || fail "Put Blob answered $code"
expect "finalizing with the wrong size" 400 \
  "$(twirp "$url" FinalizeCacheEntryUpload "{\"key\":\"sized\",\"version\":\"$version\",\"size_bytes\":6}")" invalid_argument
expect "finalizing with the right size" 200 \
  "$(twirp "$url" FinalizeCacheEntryUpload "{\"key\":\"sized\",\"version\":\"$version\",\"size_bytes\":5}")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary 54321 "$upload")
[[ $code == 409 ]] || fail "uploading to a finalized entry answered $code, want 409"
echo "gha_client_test: service rules ok"

# --- Limits: 3 uploads a minute, 250 bytes a repository ------------------------
started=$("$repo/scripts/test_server.sh" start gha "$tmp/limited" 3 250)
limited=$(sed -n 's/^url=//p' <<<"$started")
token=$(sed -n 's/^token=//p' <<<"$started")  # each directory has its own
for i in 1 2 3; do
  expect "create $i of 3" 200 "$(twirp "$limited" CreateCacheEntry "{\"key\":\"rate-$i\",\"version\":\"$version\"}")"
done
expect "create 4 of 3" 429 "$(twirp "$limited" CreateCacheEntry "{\"key\":\"rate-4\",\"version\":\"$version\"}")" \
  resource_exhausted
[[ $(stats_of "$limited" rate_limited) == 1 ]] || fail "stats rate_limited is $(stats_of "$limited" rate_limited), want 1"
curl -sf -X POST "$limited/_emulator/reset-rate" >/dev/null || fail "reset-rate failed"

head -c 100 /dev/urandom >"$tmp/hundred"
save "$limited" evict-1 "$tmp/hundred"
save "$limited" evict-2 "$tmp/hundred"
lookup "$limited" evict-1 '[]'  # now evict-2 is the least recently accessed
save "$limited" evict-3 "$tmp/hundred"  # 300 bytes > 250: evicts evict-2
lookup "$limited" evict-2 '[]'
[[ $(value "$tmp/body" ok) == false ]] || fail "evict-2 survived the repository limit"
for key in evict-1 evict-3; do
  lookup "$limited" "$key" '[]'
  [[ $(value "$tmp/body" ok) == true ]] || fail "$key was evicted, want evict-2 (least recently accessed) only"
done
[[ $(stats_of "$limited" evicted) == 1 && $(stats_of "$limited" total_bytes) == 200 ]] ||
  fail "after eviction stats are $(curl -s "$limited/_emulator/stats")"
echo "gha_client_test: ok"
