#!/usr/bin/env bash
# Record a large capture of real WebSocket traffic for wsdiag's end-to-end benchmark.
#
#   sudo benches/make-large-capture.sh OUT.pcap
#
# Two network namespaces (wsb-srv, wsb-cli) joined by a veth pair with a 1500-byte MTU and
# the offloads off (so every captured packet is at most 1514 bytes on the wire, as on a real
# Ethernet link), a Node `ws` server in one (benches/peers/node/server.js) and a Node `ws`
# load client in the other (client.js), tcpdump on the server-side veth. The client opens
# CONNS connections (default 2400) with a mix of fates: most exchange 64 KiB binary messages and
# texts then close with 1000; some are refused with 403, some terminated by the server (FIN or
# RST, no Close), some abandoned by the client (FIN or RST, no Close), some closed by the server
# with 4001 or 1011, some use permessage-deflate, some go idle and are then terminated, and a few
# are still open when the capture stops. What the client library saw for each connection is
# written to OUT.fates.jsonl.
#
# Addresses: 198.18.0.1 (server) and 198.18.0.2 (client), the benchmarking range of RFC 2544,
# only inside the two namespaces this script makes; nothing is routed anywhere else.
# Everything runs on one core (CPU, default 1) to leave the other free.
#
# wss: with TLS=1 the same load runs over TLS (`wss://`): the server is an https.createServer
# with a self-signed P-256 certificate made for the run (CN=bench, in the temporary directory),
# the client does not check it, and every TLS session's secrets are written as NSS key log lines
# to OUT.keys (by the server's 'keylog' event), for `wsdiag --keylog OUT.keys OUT.pcap` and
# `tshark -o tls.keylog_file:OUT.keys`. TLS_CIPHERS (both sides' `ciphers` option; unset: Node's
# defaults, which settle on TLS_AES_256_GCM_SHA384 between two Node peers) picks the suite, e.g.
# TLS_AES_128_GCM_SHA256 or TLS_CHACHA20_POLY1305_SHA256; TLS_CIPHERS=mix gives the client's
# connections the three TLS 1.3 suites in turn. Each fates record gains "tls": {version, cipher}.
#
# HTTP/2: with H2=1 the WebSockets ride on HTTP/2 streams (RFC 8441), several per TCP connection:
# the server and client are peers/node/h2.js (Node's http2 with SETTINGS_ENABLE_CONNECT_PROTOCOL
# and `ws` on each stream); with TLS=1 too, h2 inside TLS (ALPN h2) with the key log as above,
# else cleartext h2c with prior knowledge. CONNS (default 400) WebSockets, STREAMS (default 4)
# at once on each session; fates: clean closes, 403, server Close 4001 and 1011, RST_STREAM from
# the server and from the client, a GOAWAY that cuts an open stream, a few still open. Each fates
# record gains "stream" (its HTTP/2 stream id).
#
# Environment: CONNS, CONCURRENCY, BIN_MIN, BIN_MAX, BIN_SIZE, SEED (see peers/node/client.js),
# STREAMS (h2.js), CPU=1, PORT=8080, TLS=0, TLS_CIPHERS, H2=0.
set -euo pipefail

OUT=${1:?usage: make-large-capture.sh OUT.pcap}
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=$HERE/peers/node
CPU=${CPU:-1}
PORT=${PORT:-8080}

[ "$(id -u)" = 0 ] || { echo "make-large-capture.sh: run as root (network namespaces, tcpdump)" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
FATES=$OUT.fates.jsonl
KEYS=$OUT.keys
TLS=${TLS:-0}
H2=${H2:-0}
WORK=$(mktemp -d)

# --- install what is missing, namespaces -------------------------------------------------
. "$HERE/lib-capture.sh"
if [ "$TLS" = 1 ]; then cap_install_missing openssl; else cap_install_missing; fi
cap_namespaces

# --- server, recorder, client --------------------------------------------------------------
SCHEME=ws
SRV_ENV=()
SERVER=("$PEERS/server.js")
CLIENT=("$PEERS/client.js")
if [ "$H2" = 1 ]; then
  SCHEME=http
  SERVER=("$PEERS/h2.js" server)
  CLIENT=("$PEERS/h2.js" client)
fi
if [ "$TLS" = 1 ]; then
  SCHEME=wss
  if [ "$H2" = 1 ]; then SCHEME=https; fi
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench \
    -days 30 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>"$WORK/openssl.log" ||
    { cat "$WORK/openssl.log"; exit 1; }
  rm -f "$KEYS"
  : >"$KEYS"
  SRV_ENV=(TLS_KEY="$WORK/key.pem" TLS_CERT="$WORK/cert.pem" TLS_KEYLOG="$KEYS"
    TLS_CIPHERS="${TLS_CIPHERS:-}")
fi
cap_start_server ${SRV_ENV[@]+"${SRV_ENV[@]}"} -- "${SERVER[@]}" $IP_S "$PORT"

cap_start_tcpdump "$OUT"

start=$(date +%s.%N)
ip netns exec $NS_C env TLS_CIPHERS="${TLS_CIPHERS:-}" taskset -c "$CPU" node "${CLIENT[@]}" \
  "$SCHEME://$IP_S:$PORT" "$FATES" >"$WORK/client.log" 2>&1 &
CLI_PID=$!
while ! grep -qs '^HOLDING' "$WORK/client.log"; do
  if ! kill -0 $CLI_PID 2>/dev/null; then cat "$WORK/client.log"; echo "client failed" >&2; exit 1; fi
  sleep 0.2
done
end=$(date +%s.%N)
sleep 0.5                       # let the last FINs and ACKs through
cap_stop

# --- report --------------------------------------------------------------------------------
cap_drops
cap_report
if [ "$TLS" = 1 ]; then
  echo "key log:     $KEYS ($(wc -l <"$KEYS") lines, $(grep -c '^CLIENT_TRAFFIC_SECRET_0 ' "$KEYS") TLS 1.3 sessions, $(grep -c '^CLIENT_RANDOM ' "$KEYS") TLS 1.2)"
fi
python3 - "$FATES" <<'EOF'
import collections, json, sys
c = collections.Counter()
s = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    c[(r["fate"], r["status"], r["close_code"])] += 1
    if "tls" in r:
        t = r["tls"] or {}
        s[(t.get("version"), t.get("cipher"))] += 1
for (fate, status, code), n in sorted(c.items(), key=lambda kv: -kv[1]):
    print(f"  {n:6d}  {fate:14s} HTTP {status}  client close code {code}")
if s:
    print("tls suites (as the client saw them):")
for (version, cipher), n in sorted(s.items(), key=lambda kv: -kv[1]):
    print(f"  {n:6d}  {version} {cipher}")
EOF
cap_check_drops
