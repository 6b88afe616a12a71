# What make-large-capture.sh and make-short-capture.sh share: the tools, the two network
# namespaces joined by a veth pair, the server and tcpdump started and stopped, the drop check.
# Sourced (not run); the caller sets CPU PORT WORK before calling and may set:
#   CAP_PREFIX=30          the prefix length of both veth addresses
#   CAP_CLIENT_EXTRA=()    more client addresses (same prefix) on the client veth
#   CAP_SYSCTL_C=() CAP_SYSCTL_S=()   more `sysctl -w` settings in the client / server namespace
# The processes it tracks (SRV_PID CLI_PID DUMP_PID) are stopped and the namespaces deleted
# on exit (cap_cleanup, installed as the EXIT trap by cap_namespaces).


# The two namespaces, their veth ends and addresses (RFC 2544's benchmarking range, only
# inside these namespaces).
NS_S=wsb-srv
NS_C=wsb-cli
IF_S=wsb-s
IF_C=wsb-c
IP_S=198.18.0.1
IP_C=198.18.0.2

# cap_install_missing [TOOL...]: apt-get install what is missing (plus the named commands'
# packages), and the Node peers' node_modules.
cap_install_missing() {
  local missing=()
  command -v tcpdump >/dev/null || missing+=(tcpdump)
  command -v ethtool >/dev/null || missing+=(ethtool)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v capinfos >/dev/null || missing+=(tshark)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  command -v taskset >/dev/null || missing+=(util-linux)
  local t
  for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ! -d "$PEERS/node_modules/ws" ]; then
    (cd "$PEERS" && npm ci --no-audit --no-fund --silent)
  fi
}

SRV_PID= CLI_PID= DUMP_PID=
cap_cleanup() {
  for p in $DUMP_PID $CLI_PID $SRV_PID; do
    kill "$p" 2>/dev/null || true
  done
  sleep 0.2
  for p in $DUMP_PID $CLI_PID $SRV_PID; do
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del $NS_S 2>/dev/null || true
  ip netns del $NS_C 2>/dev/null || true
  rm -rf "$WORK"
}

# cap_namespaces: the two namespaces and the veth pair (MTU 1500, offloads off).
cap_namespaces() {
  trap cap_cleanup EXIT
  trap 'exit 130' INT TERM
  local prefix=${CAP_PREFIX:-30} a s
  ip netns del $NS_S 2>/dev/null || true
  ip netns del $NS_C 2>/dev/null || true
  ip netns add $NS_S
  ip netns add $NS_C
  ip link add $IF_S netns $NS_S type veth peer name $IF_C netns $NS_C
  for side in "$NS_S $IF_S $IP_S" "$NS_C $IF_C $IP_C"; do
    set -- $side
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" mtu 1500
    ip -n "$1" addr add "$3/$prefix" dev "$2"
    ip -n "$1" link set "$2" up
    # no segmentation or coalescing offloads: what tcpdump sees is what an Ethernet link carries;
    # checksums computed in software, so the capture's checksums are right
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off >/dev/null 2>&1 ||
      ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null
  done
  for a in ${CAP_CLIENT_EXTRA[@]+"${CAP_CLIENT_EXTRA[@]}"}; do
    ip -n $NS_C addr add "$a/$prefix" dev $IF_C
  done
  ip netns exec $NS_C sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
  ip netns exec $NS_S sysctl -qw net.core.somaxconn=4096
  for s in ${CAP_SYSCTL_C[@]+"${CAP_SYSCTL_C[@]}"}; do ip netns exec $NS_C sysctl -qw "$s"; done
  for s in ${CAP_SYSCTL_S[@]+"${CAP_SYSCTL_S[@]}"}; do ip netns exec $NS_S sysctl -qw "$s"; done
}

# cap_start_server [VAR=VALUE...] -- CMD...: the server in the server namespace on $CPU, its
# output in $WORK/server.log; waits for its "listening" line.
cap_start_server() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  ip netns exec $NS_S env ${envs[@]+"${envs[@]}"} taskset -c "$CPU" node "$@" \
    >"$WORK/server.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 100); do grep -q '^listening' "$WORK/server.log" && break; sleep 0.1; done
  grep -q '^listening' "$WORK/server.log" || { cat "$WORK/server.log"; echo "server did not start" >&2; exit 1; }
}

# cap_start_tcpdump OUT [BUFFER_KIB [IMMEDIATE]]: tcpdump on the server-side veth, on $CPU,
# recording "tcp port $PORT" to OUT; -B BUFFER_KIB (default 65536), --immediate-mode unless
# IMMEDIATE is 0 (then libpcap hands packets over in blocks, which costs fewer wake-ups).
cap_start_tcpdump() {
  local out=$1 buf=${2:-65536} imm=()
  if [ "${3:-1}" != 0 ]; then imm=(--immediate-mode); fi
  rm -f "$out"
  ip netns exec $NS_S taskset -c "$CPU" tcpdump -i $IF_S -n -B "$buf" ${imm[@]+"${imm[@]}"} \
    -w "$out" "tcp port $PORT" 2>"$WORK/tcpdump.log" &
  DUMP_PID=$!
  for _ in $(seq 100); do grep -q 'listening on' "$WORK/tcpdump.log" && break; sleep 0.1; done
  grep -q 'listening on' "$WORK/tcpdump.log" || { cat "$WORK/tcpdump.log"; echo "tcpdump did not start" >&2; exit 1; }
  sleep 0.5
}

# cap_stop: tcpdump (SIGINT: it writes what it holds and its counts), then the client and the
# server (SIGTERM: the server prints its tally); prints the client's and the server's tallies.
cap_stop() {
  kill -INT $DUMP_PID
  wait $DUMP_PID || true
  DUMP_PID=
  kill $CLI_PID; wait $CLI_PID 2>/dev/null || true; CLI_PID=
  kill $SRV_PID; wait $SRV_PID 2>/dev/null || true; SRV_PID=
  sed -n '/^client tally/,$p' "$WORK/client.log"
  grep '^server tally' "$WORK/server.log" || true
}

# cap_drops: prints tcpdump's counts; sets DROPS and IFDROPS.
cap_drops() {
  cat "$WORK/tcpdump.log" | grep -E 'captured|received|dropped' || true
  DROPS=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$WORK/tcpdump.log")
  IFDROPS=$(sed -n 's/^\([0-9]*\) packets dropped by interface.*/\1/p' "$WORK/tcpdump.log")
}

# cap_check_drops: fails (exit 1) if tcpdump reported a drop.
cap_check_drops() {
  if [ "${DROPS:-0}" != 0 ] || [ "${IFDROPS:-0}" != 0 ]; then
    echo "WARNING: tcpdump dropped packets: ${DROPS:-?} by the kernel, ${IFDROPS:-?} by the interface" >&2
    exit 1
  fi
  echo "drops:       0 (tcpdump: 0 dropped by the kernel, 0 by the interface)"
}

# cap_report: what the capture holds (size, packets, SYNs, the client's connections and how long
# the load took: $start and $end, epoch seconds), as both makers print it.
cap_report() {
  local size packets syns conns
  size=$(stat -c %s "$OUT")
  packets=$(capinfos -M -c "$OUT" | awk -F': *' '/^Number of packets/ {print $2}')
  syns=$(tcpdump -n -r "$OUT" 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null | wc -l)
  conns=$(wc -l <"$FATES")
  echo
  echo "capture:     $OUT"
  awk -v s="$size" 'BEGIN {printf "size:        %d bytes (%.2f GB)\n", s, s/1e9}'
  echo "packets:     $packets"
  echo "connections: $conns attempted by the client, $syns SYNs in the capture"
  awk -v a="$start" -v b="$end" -v n="$conns" 'BEGIN {printf "load time:   %.1f s (%.0f connections/s)\n", b-a, n/(b-a)}'
  echo "fates:       $FATES"
}
