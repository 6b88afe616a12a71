#!/usr/bin/env bash
# Real captures of what a middlebox on the path does to a WebSocket, recorded in a routed
# topology of three network namespaces this script creates (and removes on exit):
#
#   wsp-cli  wspc0 198.18.1.2/24  --  wspr0 198.18.1.1/24  wsp-rtr  wspr1 198.18.2.1/24  --  wsps0 198.18.2.2/24  wsp-srv
#   TTL 64                                        TTL 255 (forwards with TTL-1)                                   TTL 128
#
# The router plays the middlebox with iptables (REJECT --reject-with tcp-reset, DROP, a low
# MTU with ICMP frag-needed dropped or not, MASQUERADE). Every scenario is recorded twice, on
# the client's veth inside wsp-cli (NAME-client.pcap) and on the server's veth inside wsp-srv
# (NAME-server.pcap), and writes NAME.truth.json (see paths/README.md).
#
#   captures/make-paths.sh            make every capture in captures/paths/
#   captures/make-paths.sh NAME...    make only these
#   captures/make-paths.sh --list     list the scenario names
#
# Needs root (ip netns, iptables, tcpdump), tshark, and the Python venv of captures/peers
# (created from peers/requirements.txt when missing). No address outside 198.18.0.0/15 is
# used and nothing is routed out of the namespaces.
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=$CAPS/paths
WORK=${WORK:-/tmp/wsdiag-captures-paths}
COLLECTOR_PORT=0
SCENARIOS=(rst-injected drop-mid-session drop-one-way mtu-blackhole mtu-icmp-ok nat nat-idle-expired nat-idle-strict)
# shellcheck source=lib.sh
source "$CAPS/lib.sh"
PP=$PEERS/paths
WSDIAG=${WSDIAG:-$CAPS/../target/release/wsdiag}

CLI=198.18.1.2; RTR_C=198.18.1.1; RTR_S=198.18.2.1; SRV=198.18.2.2; PORT=8765
NS_C=wsp-cli; NS_R=wsp-rtr; NS_S=wsp-srv
TTL_C=64; TTL_R=255; TTL_S=128

inc() { ip netns exec "$1" "${@:2}"; }
rc() { inc $NS_R "$@"; }

# ------------------------------------------------------------ topology ----

topo_down() {
    local n
    for n in $NS_C $NS_R $NS_S; do ip netns del $n 2>/dev/null || true; done
}

topo_up() {
    topo_down
    local n
    for n in $NS_C $NS_R $NS_S; do ip netns add $n; inc $n ip link set lo up; done
    ip link add wspc0 netns $NS_C type veth peer name wspr0 netns $NS_R
    ip link add wspr1 netns $NS_R type veth peer name wsps0 netns $NS_S
    inc $NS_C ip addr add $CLI/24 dev wspc0
    rc ip addr add $RTR_C/24 dev wspr0
    rc ip addr add $RTR_S/24 dev wspr1
    inc $NS_S ip addr add $SRV/24 dev wsps0
    for n in "$NS_C wspc0" "$NS_R wspr0" "$NS_R wspr1" "$NS_S wsps0"; do
        set -- $n
        inc "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1
        inc "$1" ip link set "$2" up
    done
    inc $NS_C ip route add default via $RTR_C
    inc $NS_S ip route add default via $RTR_S
    rc sysctl -qw net.ipv4.ip_forward=1
    inc $NS_C sysctl -qw net.ipv4.ip_default_ttl=$TTL_C
    rc sysctl -qw net.ipv4.ip_default_ttl=$TTL_R
    inc $NS_S sysctl -qw net.ipv4.ip_default_ttl=$TTL_S
    : >"$WORK/rules.log"
    : >"$WORK/topology.log"
    # the router has no default route: nothing leaves 198.18.1.0/24 and 198.18.2.0/24
}

# rule DESCRIPTION IPTABLES-ARGS...: apply an iptables rule in the router, logged with its time
rule() {
    rc iptables "$@"
    printf '%s\t%s\n' "$(date +%s.%6N)" "iptables $*" >>"$WORK/rules.log"
}
# setting NS SYSCTL=VALUE: a sysctl, logged like a rule
setting() {
    inc "$1" sysctl -qw "$2"
    printf '%s\t%s\n' "$(date +%s.%6N)" "$1: sysctl $2" >>"$WORK/topology.log"
}

# ------------------------------------------------------------ recorder ----

CAPS_PIDS=()
caps_start() {
    CAPS_PIDS=()
    rm -f "$WORK/$SCEN"-{client,server}.pcap.tmp
    ip netns exec $NS_C tcpdump --immediate-mode -B 32768 -U -Z root -n -i wspc0 -w "$WORK/$SCEN-client.pcap.tmp" 'tcp or icmp' \
        >"$WORK/tcpdump-client.log" 2>&1 &
    CAPS_PIDS+=($!)
    ip netns exec $NS_S tcpdump --immediate-mode -B 32768 -U -Z root -n -i wsps0 -w "$WORK/$SCEN-server.pcap.tmp" 'tcp or icmp' \
        >"$WORK/tcpdump-server.log" 2>&1 &
    CAPS_PIDS+=($!)
    local i
    for i in {1..50}; do
        grep -q listening "$WORK/tcpdump-client.log" && grep -q listening "$WORK/tcpdump-server.log" && break
        sleep 0.1
    done
    sleep 0.5
}

caps_stop() {
    sleep 0.5
    local p side bad=0
    for p in "${CAPS_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${CAPS_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    CAPS_PIDS=()
    for side in client server; do
        if grep -E "[1-9][0-9]* packets? dropped by kernel" "$WORK/tcpdump-$side.log"; then
            log "tcpdump dropped packets: $SCEN-$side.pcap is incomplete"; bad=1
        fi
    done
    ((bad == 0)) || return 1
    for side in client server; do
        chmod 644 "$WORK/$SCEN-$side.pcap.tmp"
        mv -f "$WORK/$SCEN-$side.pcap.tmp" "$HERE/$SCEN-$side.pcap"
        log "$SCEN-$side.pcap: $(capinfos -c -M "$HERE/$SCEN-$side.pcap" | awk -F': *' '/Number of packets/ {print $2}') packets, $(stat -c %s "$HERE/$SCEN-$side.pcap") bytes"
    done
}

# ---------------------------------------------------------------- peers ----

server_up() {   # server_up PEER-ARGS...
    bg server ip netns exec $NS_S "$PY" "$PP/peer.py" server $SRV $PORT "$@"
    SERVER_PID=$LAST_PID
    wait_log server listening
}
client_start() {   # client_start PLAN PEER-ARGS...
    bg client ip netns exec $NS_C "$PY" "$PP/peer.py" client "ws://$SRV:$PORT/paths" "$@"
    CLIENT_PID=$LAST_PID
    START_T=$(date +%s.%6N)
}
# wait_report NAME TENTHS: until NAME printed its REPORT line (0 if it did)
wait_report() { wait_log "$1" '^REPORT ' "$2" 2>/dev/null; }
# peers_end: the client exits by itself; the server gets SIGTERM once it reported (or timed out)
peers_end() {
    local server_tenths=${1:-150}
    wait "$CLIENT_PID" 2>/dev/null || true
    wait_report server "$server_tenths" || log "the server had not reported; SIGTERM"
    stop "$SERVER_PID"
    PIDS=()
}

# truth NOTE: NAME.truth.json from the peers' reports, the rules, the captures, wsdiag
truth() {
    "$PY" "$PP/truth.py" --scenario "$SCEN" --dir "$HERE" --work "$WORK" --wsdiag "$WSDIAG" \
        --ttl client=$TTL_C --ttl router=$TTL_R --ttl server=$TTL_S \
        --addr client=$CLI --addr router=$RTR_C,$RTR_S --addr server=$SRV \
        --start "$START_T" --note "$1"
    log "$SCEN.truth.json written"
}

# ------------------------------------------------------------ scenarios ----

SAYS_S=(--ping-interval 2 --ping-timeout 4 --close-timeout 2)
SAYS_C=(--ping-interval 1 --ping-timeout 2 --close-timeout 2)

rst-injected() {
    topo_up
    caps_start
    server_up --tick 0.2
    client_start stream --period 0.2
    sleep 1
    # server -> client segments: dropped, the router answers the server with a RST;
    # client -> server segments: dropped, the router answers the client with a RST
    rule -I FORWARD -p tcp -s $SRV --sport $PORT -d $CLI -j REJECT --reject-with tcp-reset
    rule -I FORWARD -p tcp -s $CLI -d $SRV --dport $PORT -j REJECT --reject-with tcp-reset
    peers_end 50
    caps_stop
    truth "a WebSocket with messages both ways every 200 ms; after 1 s the router REJECTs the flow in both directions with tcp-reset"
}

drop-mid-session() {
    topo_up
    caps_start
    server_up --tick 0.2 "${SAYS_S[@]}"
    client_start stream --period 0.2 "${SAYS_C[@]}"
    sleep 1
    rule -I FORWARD -p tcp -s $SRV --sport $PORT -d $CLI -j DROP
    rule -I FORWARD -p tcp -s $CLI -d $SRV --dport $PORT -j DROP
    peers_end 150
    caps_stop
    truth "messages both ways every 200 ms; after 1 s the router silently DROPs the flow both ways; keepalive pings on both peers (client 1 s / 2 s, server 2 s / 4 s)"
}

drop-one-way() {
    topo_up
    caps_start
    server_up --tick 0.2 "${SAYS_S[@]}"
    client_start stream --period 0.2 "${SAYS_C[@]}"
    sleep 1
    rule -I FORWARD -p tcp -s $SRV --sport $PORT -d $CLI -j DROP
    peers_end 150
    caps_stop
    truth "messages both ways every 200 ms; after 1 s the router DROPs only server -> client; keepalive pings on both peers (client 1 s / 2 s, server 2 s / 4 s)"
}

mtu_common() {
    topo_up
    rc ip link set wspr0 mtu 1400
    printf '%s\t%s\n' "$(date +%s.%6N)" "$NS_R: ip link set wspr0 mtu 1400 (the router's veth toward the client)" >>"$WORK/topology.log"
    setting $NS_S net.ipv4.ip_no_pmtu_disc=0
    setting $NS_S net.ipv4.tcp_mtu_probing=0
}

mtu-blackhole() {
    mtu_common
    rule -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP
    caps_start
    server_up "${SAYS_S[@]}"
    client_start big --period 0.2 --duration 1 "${SAYS_C[@]}"
    peers_end 150
    caps_stop
    truth "the router's veth toward the client has MTU 1400 and the router drops its own ICMP frag-needed; at 1 s the client asks for a 64 KiB message"
}

mtu-icmp-ok() {
    mtu_common
    caps_start
    server_up "${SAYS_S[@]}"
    client_start big --period 0.2 --duration 1 "${SAYS_C[@]}"
    peers_end 150
    caps_stop
    truth "the control of mtu-blackhole: MTU 1400 toward the client, ICMP frag-needed allowed; at 1 s the client asks for a 64 KiB message"
}

nat() {
    topo_up
    rule -t nat -A POSTROUTING -o wspr1 -j MASQUERADE
    caps_start
    server_up
    client_start stream --period 0.2 --duration 1
    peers_end 50
    caps_stop
    truth "MASQUERADE on the router's veth toward the server: a clean WebSocket (messages every 200 ms for 1 s, Close 1000)"
}

# ct_snap LABEL: the router's conntrack table (198.18 entries) into the truth file
ct_snap() {
    { printf '@@\t%s\t%s\n' "$(date +%s.%6N)" "$1"; rc grep 198.18 /proc/net/nf_conntrack || true; } >>"$WORK/conntrack.log"
}

# nat_idle LOOSE SERVER-TENTHS: MASQUERADE with a 3 s established timeout, 6 s of silence, one more message
nat_idle() {
    topo_up
    rule -t nat -A POSTROUTING -o wspr1 -j MASQUERADE
    setting $NS_R net.netfilter.nf_conntrack_tcp_timeout_established=3
    setting $NS_R net.netfilter.nf_conntrack_tcp_loose=$1
    caps_start
    server_up
    client_start idle --duration 6 --close-timeout 2
    sleep 0.5; ct_snap "after the first message"
    sleep 4.5; ct_snap "4.5 s into the silence"
    sleep 1.5; ct_snap "after the second message"
    peers_end "$2"
    ct_snap "at the end"
    caps_stop
}

nat-idle-expired() {
    nat_idle 1 30
    truth "MASQUERADE with nf_conntrack_tcp_timeout_established=3 (nf_conntrack_tcp_loose=1, the default) on the router: one message, 6 s idle (no keepalive), one more message"
}

nat-idle-strict() {
    nat_idle 0 30
    truth "like nat-idle-expired but nf_conntrack_tcp_loose=0: conntrack does not pick up the mid-stream segment after the entry expired"
}

# ----------------------------------------------------------------- main ----

stop_paths() { stop_all; topo_down; }
trap stop_paths EXIT

if [[ ${1:-} == --list ]]; then printf '%s\n' "${SCENARIOS[@]}"; exit 0; fi
need_tools tcpdump:tcpdump tshark:tshark capinfos:wireshark-common iptables:iptables ethtool:ethtool ip:iproute2
if [[ ! -x $PY ]] || ! cmp -s "$PEERS/requirements.txt" "$PEERS/.venv/requirements.installed"; then
    log "python venv in peers/.venv (requirements.txt)"
    python3 -m venv "$PEERS/.venv"
    "$PY" -m pip install -q -r "$PEERS/requirements.txt"
    cp "$PEERS/requirements.txt" "$PEERS/.venv/requirements.installed"
fi
[[ -x $WSDIAG ]] || (cd "$CAPS/.." && nice cargo build --release)
mkdir -p "$WORK" "$HERE"
names=("$@"); ((${#names[@]})) || names=("${SCENARIOS[@]}")
for SCEN in "${names[@]}"; do
    [[ " ${SCENARIOS[*]} " == *" $SCEN "* ]] || { log "unknown scenario $SCEN (--list)"; exit 2; }
    log "$SCEN"
    : >"$WORK/conntrack.log"
    "$SCEN"
    topo_down
done
