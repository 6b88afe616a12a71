#!/usr/bin/env bash
# Record a capture of many short WebSocket connections (per-connection cost, not per-byte cost).
#
#   sudo benches/make-short-capture.sh OUT.pcap
#
# The namespaces, veth pair (MTU 1500, offloads off), Node `ws` server and tcpdump of
# make-large-capture.sh (shared in lib-capture.sh), with the load client in SHORT=1 mode
# (peers/node/client.js): CONNS connections (default 1,000,000), CONCURRENCY (default 512) at
# once, each opens, sends one text (20-400 bytes of JSON), gets its echo and ends by its fate:
# most close with 1000; 5 % are refused with 403 and 1 % with 404; 3 % closed by the server
# with 4001 and 3 % with 1011; 3 % terminated by the server (FIN, no Close) and 2 % reset
# (RST); 3 % abandoned by the client (FIN) and 2 % reset by it (RST); 0.2 % go idle 1.3 s and
# are then terminated by the server; 0.05 % are still open when the capture stops. What the
# client library saw for each one goes to OUT.fates.jsonl, with its source address and port
# ("client_ip", "client_port").
#
# Ports: a million connections from one address would run out of ephemeral ports, so the
# client connects from CLIENT_N addresses (default 40: 198.18.0.2-198.18.0.41, on the client
# veth, /24), connection seq from address (seq - 1) % CLIENT_N (`localAddress`); the client
# namespace has ip_local_port_range 10000-60999 and tcp_tw_reuse=1. A port repeats across
# addresses and, on one address, after it is freed: e2e.sh matches by (address, port, order).
#
# tcpdump: -B DUMP_BUFFER KiB (default 524288, 512 MiB) and, by default, without
# --immediate-mode (DUMP_IMMEDIATE=0: libpcap takes packets from the ring in blocks, which
# costs far fewer wake-ups at tens of thousands of packets per second on the shared core). The
# script fails if tcpdump reports a drop.
#
# Environment: CONNS=1000000, CONCURRENCY=512, CLIENT_N=40, SEED=1, CPU=1, PORT=8080,
# DUMP_BUFFER=524288, DUMP_IMMEDIATE=0.
set -euo pipefail

OUT=${1:?usage: make-short-capture.sh OUT.pcap}
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=$HERE/peers/node
CPU=${CPU:-1}
PORT=${PORT:-8080}
CONNS=${CONNS:-1000000}
CONCURRENCY=${CONCURRENCY:-512}
CLIENT_N=${CLIENT_N:-40}
[ "$CLIENT_N" -ge 1 ] && [ "$CLIENT_N" -le 250 ] || { echo "make-short-capture.sh: CLIENT_N is 1-250" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "make-short-capture.sh: run as root (network namespaces, tcpdump)" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
FATES=$OUT.fates.jsonl
WORK=$(mktemp -d)

. "$HERE/lib-capture.sh"
cap_install_missing
CAP_PREFIX=24
CAP_CLIENT_EXTRA=()
for ((k = 3; k <= CLIENT_N + 1; k++)); do CAP_CLIENT_EXTRA+=("198.18.0.$k"); done
CAP_SYSCTL_C=(net.ipv4.tcp_tw_reuse=1)
CAP_SYSCTL_S=(net.ipv4.tcp_max_syn_backlog=4096)
cap_namespaces

cap_start_server -- "$PEERS/server.js" $IP_S "$PORT"
cap_start_tcpdump "$OUT" "${DUMP_BUFFER:-524288}" "${DUMP_IMMEDIATE:-0}"

start=$(date +%s.%N)
ip netns exec $NS_C env SHORT=1 CONNS="$CONNS" CONCURRENCY="$CONCURRENCY" \
  CLIENT_ADDRS="198.18.0.2-$((CLIENT_N + 1))" NODE_OPTIONS=--max-old-space-size=8192 \
  taskset -c "$CPU" node "$PEERS/client.js" "ws://$IP_S:$PORT" "$FATES" >"$WORK/client.log" 2>&1 &
CLI_PID=$!
while ! grep -qs '^HOLDING' "$WORK/client.log"; do
  if ! kill -0 $CLI_PID 2>/dev/null; then cat "$WORK/client.log"; echo "client failed" >&2; exit 1; fi
  sleep 0.5
done
end=$(date +%s.%N)
sleep 2                         # the last FINs and ACKs, and tcpdump's last block (1 s timeout)
cap_stop

# --- report --------------------------------------------------------------------------------
cap_drops
cap_report
python3 - "$FATES" <<'EOF'
import collections, json, sys
c = collections.Counter()
tuples = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    c[(r["fate"], r["status"], r["close_code"])] += 1
    tuples[(r.get("client_ip"), r["client_port"])] += 1
for (fate, status, code), n in sorted(c.items(), key=lambda kv: -kv[1]):
    print(f"  {n:7d}  {fate:14s} HTTP {status}  client close code {code}")
print(f"client (address, port) pairs: {len(tuples)} distinct, {sum(1 for n in tuples.values() if n > 1)} used twice or more (at most {max(tuples.values())} times)")
EOF
cap_check_drops
