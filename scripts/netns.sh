#!/usr/bin/env bash
# A shaped network on one machine: two network namespaces joined by a veth
# pair, the cache servers in one and the go command in the other.
#
#   scripts/netns.sh up [RTT_MS] [RATE_MBIT]   default 20 ms round trip, 100 Mbit/s
#   scripts/netns.sh down                      removes everything `up` made
#   scripts/netns.sh status
#
#   namespace gcf-server: 10.87.0.1 (veth gcf-srv)
#   namespace gcf-client: 10.87.0.2 (veth gcf-cli)
#   GCF_NETNS=NAME replaces the "gcf" in the namespaces' names (tests use it
#   to stay apart from a benchmark that is running)
#
# Shaping: `tc netem` (delay and rate) on both ends when the kernel has it.
# Kernels without sch_netem (some VMs) get the rate from `tc tbf` and the
# delay from scripts/delay_relay.py, which the caller puts in front of each
# server; `up` prints "delay=netem" or "delay=relay" to say which.
set -euo pipefail
server_ns=${GCF_NETNS:-gcf}-server
client_ns=${GCF_NETNS:-gcf}-client
server_ip=10.87.0.1
client_ip=10.87.0.2

down() {
  ip netns del "$server_ns" 2>/dev/null || true
  ip netns del "$client_ns" 2>/dev/null || true
}

up() {
  local rtt_ms=${1:-20} rate_mbit=${2:-100}
  down
  ip netns add "$server_ns"
  ip netns add "$client_ns"
  ip link add gcf-srv netns "$server_ns" type veth peer name gcf-cli netns "$client_ns"
  ip -n "$server_ns" addr add "$server_ip/24" dev gcf-srv
  ip -n "$client_ns" addr add "$client_ip/24" dev gcf-cli
  for ns in "$server_ns" "$client_ns"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$server_ns" link set gcf-srv up
  ip -n "$client_ns" link set gcf-cli up
  # Half the round trip each way.
  local one_way_us=$((rtt_ms * 500))
  if ip netns exec "$server_ns" tc qdisc add dev gcf-srv root netem delay "${one_way_us}us" rate "${rate_mbit}mbit" 2>/dev/null &&
    ip netns exec "$client_ns" tc qdisc add dev gcf-cli root netem delay "${one_way_us}us" rate "${rate_mbit}mbit"; then
    echo "delay=netem"
  else
    # A bucket of a few milliseconds' worth of bytes; queue up to 200 ms.
    local burst=$((rate_mbit * 1000000 / 8 / 250))
    ((burst < 16384)) && burst=16384
    ip netns exec "$server_ns" tc qdisc replace dev gcf-srv root tbf rate "${rate_mbit}mbit" burst "$burst" latency 200ms
    ip netns exec "$client_ns" tc qdisc replace dev gcf-cli root tbf rate "${rate_mbit}mbit" burst "$burst" latency 200ms
    echo "delay=relay"
  fi
  echo "server_ns=$server_ns"
  echo "client_ns=$client_ns"
  echo "server_ip=$server_ip"
  echo "client_ip=$client_ip"
  echo "rtt_ms=$rtt_ms"
  echo "rate_mbit=$rate_mbit"
}

case ${1:-} in
  up) up "${2:-}" "${3:-}" ;;
  down) down ;;
  status)
    ip netns list | grep -E "^${GCF_NETNS:-gcf}-" || echo "no ${GCF_NETNS:-gcf} namespaces"
    ip netns exec "$client_ns" tc -s qdisc show dev gcf-cli 2>/dev/null || true
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
