#!/usr/bin/env bash
# Proves that scripts/netns.sh and scripts/delay_relay.py shape a link the
# way scripts/bench_network.sh says: the server is reachable only across the
# link, a request costs at least the round trip, bytes cross no faster than
# the rate, the relay counts what crossed it, and `down` leaves nothing.
# Only lower bounds on time are checked: a slow machine cannot fail them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "SKIPPED: needs root and iproute2 to make network namespaces" >&2
  exit 77
fi

export GCF_NETNS=gcft$$
rtt_ms=60 rate_mbit=8
tmp=$(mktemp -d)
pids=()
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$repo/scripts/netns.sh" down
  rm -rf "$tmp"
}
trap cleanup EXIT

shape=$("$repo/scripts/netns.sh" up "$rtt_ms" "$rate_mbit")
server_ip=$(sed -n 's/^server_ip=//p' <<<"$shape")
one_way_ms=0
grep -q "delay=relay" <<<"$shape" && one_way_ms=$((rtt_ms / 2))
echo "netns_test: $(grep '^delay=' <<<"$shape")"

# A file server on the server namespace's loopback, the relay on the link.
mkdir -p "$tmp/www"
head -c $((1 << 20)) /dev/urandom >"$tmp/www/one-mib"
echo hello >"$tmp/www/small"
port=8765
ip netns exec "$GCF_NETNS-server" python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" \
  >"$tmp/http.log" 2>&1 &
pids+=($!)
ip netns exec "$GCF_NETNS-server" python3 "$repo/scripts/delay_relay.py" "$server_ip:$port" "127.0.0.1:$port" \
  "$one_way_ms" "$tmp/relay.stats" >"$tmp/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec "$GCF_NETNS-server" curl -s -o /dev/null "http://127.0.0.1:$port/small" && [[ -s $tmp/relay.stats ]] && break
  sleep 0.1
done

in_client() { ip netns exec "$GCF_NETNS-client" "$@"; }
# Only across the link: the client namespace's loopback has no server.
in_client curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/small" && fail "server reachable on the client's loopback"

small=$(in_client curl -sf -o /dev/null -w '%{time_total}' "http://$server_ip:$port/small") || fail "server not reachable across the link"
awk -v t="$small" -v r="$rtt_ms" 'BEGIN { exit !(t * 1000 >= r) }' || fail "a request took ${small}s, less than the ${rtt_ms} ms round trip"

# 1 MiB at 8 Mbit/s is at least a second.
big=$(in_client curl -sf -o "$tmp/got" -w '%{time_total}' "http://$server_ip:$port/one-mib")
cmp -s "$tmp/got" "$tmp/www/one-mib" || fail "bytes changed crossing the link"
awk -v t="$big" -v r="$rate_mbit" 'BEGIN { exit !(t >= 8.0 / r * 0.9) }' || fail "1 MiB took ${big}s: faster than ${rate_mbit} Mbit/s"

sleep 1.2  # the relay saves its counters at least once a second
read -r _ connections _ requests _ bytes_up _ bytes_down <"$tmp/relay.stats"
[[ $connections -eq 2 && $requests -eq 2 ]] || fail "relay counted $connections connections, $requests requests; want 2 and 2"
((bytes_down > 1 << 20)) || fail "relay counted $bytes_down bytes down, want more than 1 MiB"

"$repo/scripts/netns.sh" down
ip netns list | grep -q "^$GCF_NETNS-" && fail "netns.sh down left namespaces behind"
echo "netns_test: ok (request ${small}s, 1 MiB ${big}s, $requests requests counted)"
