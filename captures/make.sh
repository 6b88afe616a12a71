#!/usr/bin/env bash
# (Re)create the real WebSocket captures in this folder: real servers and clients on loopback
# (and, for `unreachable`, inside a network namespace this script creates), recorded with
# tcpdump (dumpcap for the one pcapng). See README.md for what each capture shows.
#
#   captures/make.sh               install what is missing, then make every capture
#   captures/make.sh NAME...       make only these (NAME = file name without extension)
#   captures/make.sh --list        list the scenario names
#   captures/make.sh --setup       only install the tools and peers
#
# Needs root (tcpdump, ip netns, iptables, apt-get). Sends traffic only to 127.0.0.1 / ::1,
# or to 127.0.0.1 inside its own namespace. Logs of every peer go to $WORK (default
# /tmp/wsdiag-captures); the peers print what each endpoint saw (close codes, errors).
# The same failures with headless browsers as the client: captures/make-browsers.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS=$HERE/peers
WORK=${WORK:-/tmp/wsdiag-captures}
PY=$PEERS/.venv/bin/python
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
NETNS=wsdiag-unreach

log() { if [[ -t 2 ]]; then printf '\033[1m== %s\033[0m\n' "$*" >&2; else printf '== %s\n' "$*" >&2; fi; }

# ---------------------------------------------------------------- setup ----

setup() {
    local need=()
    command -v tcpdump >/dev/null || need+=(tcpdump)
    command -v tshark >/dev/null || need+=(tshark)
    command -v nginx >/dev/null || need+=(nginx)
    command -v ip >/dev/null || need+=(iproute2)
    command -v iptables >/dev/null || need+=(iptables)
    command -v gzip >/dev/null || need+=(gzip)
    command -v node >/dev/null || need+=(nodejs npm)
    python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
    if ((${#need[@]})); then
        log "apt-get install ${need[*]}"
        echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    if [[ ! -x $PY ]] || ! cmp -s "$PEERS/requirements.txt" "$PEERS/.venv/requirements.installed"; then
        log "python venv in peers/.venv (requirements.txt)"
        python3 -m venv "$PEERS/.venv"
        "$PY" -m pip install -q -r "$PEERS/requirements.txt"
        cp "$PEERS/requirements.txt" "$PEERS/.venv/requirements.installed"
    fi
    if [[ ! -d $PEERS/node/node_modules/ws ]]; then
        log "npm ci in peers/node"
        (cd "$PEERS/node" && npm ci --silent --no-audit --no-fund)
    fi
    mkdir -p "$WORK"
}

# ------------------------------------------------------ process helpers ----

PIDS=()      # every background process this script started
CAP_PID=""   # the running tcpdump / dumpcap
CAP_TMP=""
CAP_OUT=""

# bg NAME CMD...: start CMD in the background, output to $WORK/NAME.log
bg() {
    local name=$1; shift
    : >"$WORK/$name.log"   # truncate now, not in the background: wait_log must not see an old log
    "$@" >>"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

# wait_log NAME PATTERN: wait (up to 20 s) until $WORK/NAME.log contains PATTERN
wait_log() {
    local i
    for ((i = 0; i < 200; i++)); do
        grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0
        sleep 0.1
    done
    log "timeout waiting for '$2' in $WORK/$1.log"; cat "$WORK/$1.log" >&2; return 1
}

# stop PID...: SIGTERM, then wait for it
stop() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

stop_all() {
    [[ -n $CAP_PID ]] && { kill -INT "$CAP_PID" 2>/dev/null || true; wait "$CAP_PID" 2>/dev/null || true; CAP_PID=""; }
    if ((${#PIDS[@]})); then stop "${PIDS[@]}"; fi
    PIDS=()
    if [[ -f $WORK/nginx/nginx.pid ]]; then
        kill -QUIT "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
        rm -f "$WORK/nginx/nginx.pid"
    fi
    ip netns del "$NETNS" 2>/dev/null || true
}
trap stop_all EXIT

# cap_start OUTFILE FILTER [TCPDUMP-ARGS...]: record on lo (unless -i is given) with tcpdump -U.
# --immediate-mode matters: without it libpcap's TPACKET_V3 ring hands packets over in blocks
# (or after a timeout) and tcpdump, stopped with SIGINT, loses the last ones. In immediate
# mode libpcap uses one ring slot per packet, sized by the snaplen (256 KiB): with the default
# 2 MiB buffer that is 8 slots, and a burst on `-i any` overflows it ("dropped by kernel").
# -B 32768 (32 MiB) avoids that; cap_stop fails on any kernel drop.
cap_start() {
    CAP_OUT=$HERE/$1; local filter=$2; shift 2
    CAP_TMP=$WORK/$(basename "$CAP_OUT").tmp
    rm -f "$CAP_TMP" "$WORK/tcpdump.log" "$WORK/dumpcap.log"
    local iface=(-i lo)
    [[ " $* " == *" -i "* ]] && iface=()
    ${CAP_PREFIX:-} tcpdump --immediate-mode -B 32768 -U -Z root -n "${iface[@]}" "$@" -w "$CAP_TMP" "$filter" \
        >"$WORK/tcpdump.log" 2>&1 &
    CAP_PID=$!
    sleep 0.5
}

# cap_start_dumpcap OUTFILE FILTER: record pcapng on lo with dumpcap
cap_start_dumpcap() {
    CAP_OUT=$HERE/$1; CAP_TMP=$WORK/$(basename "$CAP_OUT").tmp
    rm -f "$CAP_TMP" "$WORK/tcpdump.log" "$WORK/dumpcap.log"
    dumpcap -q -i lo -f "$2" -w "$CAP_TMP" >"$WORK/dumpcap.log" 2>&1 &
    CAP_PID=$!
    sleep 0.5
}

# cap_stop: give the recorder 0.5 s (dumpcap: 1.5 s, it has no immediate mode switch) to see
# the last packets, SIGINT it, keep the file
cap_stop() {
    if [[ $CAP_OUT == *.pcapng ]]; then sleep 1.5; else sleep 0.5; fi
    kill -INT "$CAP_PID"; wait "$CAP_PID" || true; CAP_PID=""
    if grep -E "[1-9][0-9]* packets? dropped" "$WORK/tcpdump.log" "$WORK/dumpcap.log" 2>/dev/null; then
        log "the recorder dropped packets: $(basename "$CAP_OUT") is incomplete"; return 1
    fi
    chmod 644 "$CAP_TMP"
    mv -f "$CAP_TMP" "$CAP_OUT"
    log "$(basename "$CAP_OUT"): $(capinfos -c -M "$CAP_OUT" | awk -F': *' '/Number of packets/ {print $2}') packets, $(stat -c %s "$CAP_OUT") bytes"
}

pyserver() { bg "$1" "$PY" "$PEERS/pyserver.py" "$@"; wait_log "$1" listening; }
pyclient() { "$PY" "$PEERS/pyclient.py" "$@" 2>&1 | tee -a "$WORK/client.log"; }
rawserver() { bg "raw-$1" "$PY" "$PEERS/rawws.py" server "$@"; wait_log "raw-$1" listening; }
rawclient() { "$PY" "$PEERS/rawws.py" client "$@" 2>&1 | tee -a "$WORK/client.log"; }
nodeserver() { bg "node-$1" node "$PEERS/node/server.js" "$@"; wait_log "node-$1" listening; }
nodeclient() { node "$PEERS/node/client.js" "$@" 2>&1 | tee -a "$WORK/client.log"; }

daphne_up() {
    bg daphne env -C "$PEERS/djangoproj" "$PEERS/.venv/bin/daphne" -b 127.0.0.1 -p 8000 \
        wsproj.asgi:application
    wait_log daphne "Listening on TCP address"
}

nginx_up() {  # nginx_up CONF
    rm -rf "$WORK/nginx"; mkdir -p "$WORK/nginx/tmp"
    bg nginx nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$PEERS/nginx/$1" -g 'daemon off;'
    local i
    for ((i = 0; i < 50; i++)); do [[ -s $WORK/nginx/nginx.pid ]] && return 0; sleep 0.1; done
    log "nginx did not start"; cat "$WORK/nginx.log" "$WORK/nginx/error.log" >&2; return 1
}

# ------------------------------------------------------------ scenarios ----
# Each scenario starts its peers, records, stops everything (stop_all runs after each).

python-clean() {
    pyserver echo 127.0.0.1 8765
    cap_start python-clean.pcap "tcp port 8765"
    pyclient clean ws://127.0.0.1:8765/chat
    cap_stop
}

python-ipv6() {
    pyserver echo ::1 9033
    cap_start python-ipv6.pcap "tcp port 9033"
    pyclient clean "ws://[::1]:9033/chat"
    cap_stop
}

daphne-accept() {
    daphne_up
    cap_start_dumpcap daphne-accept.pcapng "tcp port 8000"
    pyclient echo2 ws://127.0.0.1:8000/ws/echo/
    cap_stop
}

daphne-403() {
    daphne_up
    cap_start daphne-403.pcap "tcp port 8000"
    pyclient connect ws://127.0.0.1:8000/ws/reject/
    cap_stop
}

daphne-close-4001() {
    daphne_up
    cap_start daphne-close-4001.pcap "tcp port 8000"
    pyclient send-wait ws://127.0.0.1:8000/ws/role/
    cap_stop
}

daphne-1011() {
    daphne_up
    cap_start daphne-1011.pcap "tcp port 8000"
    pyclient send-wait ws://127.0.0.1:8000/ws/crash/
    cap_stop
}

daphne-no-route-500() {
    daphne_up
    cap_start daphne-no-route-500.pcap "tcp port 8000"
    pyclient connect ws://127.0.0.1:8000/ws/nope/
    cap_stop
}

runserver-404() {
    bg runserver env -C "$PEERS/djangoproj" "$PY" manage.py runserver 127.0.0.1:8001 \
        --noreload --settings=wsproj.settings_wsgi
    wait_log runserver "Quit the server"
    cap_start runserver-404.pcap "tcp port 8001"
    pyclient connect ws://127.0.0.1:8001/ws/echo/
    cap_stop
}

node-deflate() {
    nodeserver deflate 127.0.0.1 18004
    cap_start node-deflate.pcap "tcp port 18004"
    nodeclient deflate ws://127.0.0.1:18004/chat
    cap_stop
}

node-terminate() {
    nodeserver terminate 127.0.0.1 18006
    cap_start node-terminate.pcap "tcp port 18006"
    nodeclient send-wait ws://127.0.0.1:18006/feed
    cap_stop
}

node-close-empty() {
    nodeserver echo 127.0.0.1 18007
    cap_start node-close-empty.pcap "tcp port 18007"
    nodeclient close-empty ws://127.0.0.1:18007/chat
    cap_stop
}

nginx-proxy-any() {
    pyserver echo 127.0.0.1 8765
    nginx_up proxy.conf
    cap_start nginx-proxy-any.pcap "tcp port 8080 or tcp port 8765" -i any
    pyclient clean ws://127.0.0.1:8080/chat
    cap_stop
    # the same capture gzip-compressed (-n: no name/time in the gzip header)
    gzip -9 -n -c "$HERE/nginx-proxy-any.pcap" >"$HERE/nginx-proxy-any.pcap.gz"
}

nginx-no-upgrade() {
    nodeserver plain 127.0.0.1 18005
    nginx_up no-upgrade.conf
    cap_start nginx-no-upgrade.pcap "tcp port 8080 or tcp port 18005"
    pyclient connect ws://127.0.0.1:8080/chat
    cap_stop
}

nginx-502() {
    nginx_up proxy.conf   # the backend 127.0.0.1:8765 is not running
    cap_start nginx-502.pcap "tcp port 8080 or tcp port 8765"
    pyclient connect ws://127.0.0.1:8080/chat
    cap_stop
}

nginx-idle-timeout() {
    pyserver echo 127.0.0.1 8765
    nginx_up idle.conf    # proxy_read_timeout 3s
    cap_start nginx-idle-timeout.pcap "tcp port 8080 or tcp port 8765"
    pyclient send-wait ws://127.0.0.1:8080/chat
    cap_stop
}

refused() {
    cap_start refused.pcap "tcp port 9999"
    pyclient connect ws://127.0.0.1:9999/
    cap_stop
}

unreachable() {
    # A namespace of our own: its loopback drops SYNs to port 9998 (a firewall that drops).
    ip netns del "$NETNS" 2>/dev/null || true
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    ip netns exec "$NETNS" iptables -A INPUT -p tcp --dport 9998 --syn -j DROP
    CAP_PREFIX="ip netns exec $NETNS" cap_start unreachable.pcap "tcp port 9998"
    ip netns exec "$NETNS" "$PY" "$PEERS/pyclient.py" connect ws://127.0.0.1:9998/ 2>&1 | tee -a "$WORK/client.log"
    cap_stop
    ip netns del "$NETNS"
}

server-killed() {
    pyserver echo 127.0.0.1 8765
    local server=$LAST_PID
    cap_start server-killed.pcap "tcp port 8765"
    bg client-sk "$PY" "$PEERS/pyclient.py" send-wait ws://127.0.0.1:8765/chat
    local client=$LAST_PID
    wait_log client-sk "open, waiting"
    sleep 0.5
    kill -KILL "$server"
    wait "$client" || true
    cat "$WORK/client-sk.log"
    cap_stop
}

client-killed() {
    pyserver echo 127.0.0.1 8765
    cap_start client-killed.pcap "tcp port 8765"
    bg client-ck "$PY" "$PEERS/pyclient.py" send-wait ws://127.0.0.1:8765/chat
    wait_log client-ck "open, waiting"
    sleep 0.5
    kill -KILL "$LAST_PID"
    cap_stop
}

close-unanswered() {
    rawserver close-ignored 127.0.0.1 8765
    cap_start close-unanswered.pcap "tcp port 8765"
    pyclient close-wait ws://127.0.0.1:8765/chat
    cap_stop
}

close-timeout() {
    rawserver close-silent 127.0.0.1 8765
    cap_start close-timeout.pcap "tcp port 8765"
    pyclient close-wait ws://127.0.0.1:8765/chat
    cap_stop
}

handshake-timeout() {
    rawserver no-answer 127.0.0.1 8765
    cap_start handshake-timeout.pcap "tcp port 8765"
    pyclient connect ws://127.0.0.1:8765/chat
    cap_stop
}

rst-after-close() {
    pyserver echo 127.0.0.1 8765
    cap_start rst-after-close.pcap "tcp port 8765"
    rawclient rst-after-close 127.0.0.1 8765
    cap_stop
}

still-open() {
    pyserver echo 127.0.0.1 8765
    cap_start still-open.pcap "tcp port 8765"
    bg client-so "$PY" "$PEERS/pyclient.py" chatty ws://127.0.0.1:8765/chat
    sleep 1.5
    cap_stop          # the recorder stops first; the peers are stopped afterwards
}

mid-connection() {
    pyserver echo 127.0.0.1 8765
    bg client-mc "$PY" "$PEERS/pyclient.py" stream ws://127.0.0.1:8765/chat
    local client=$LAST_PID
    sleep 1.0         # the handshake is long over when the recorder starts
    cap_start mid-connection.pcap "tcp port 8765"
    wait "$client"
    cat "$WORK/client-mc.log"
    cap_stop
}

snaplen96() {
    pyserver echo 127.0.0.1 8765
    cap_start snaplen96.pcap "tcp port 8765" -s 96
    pyclient clean-big ws://127.0.0.1:8765/chat
    cap_stop
}

heartbeat() {
    pyserver heartbeat 127.0.0.1 8765
    cap_start heartbeat.pcap "tcp port 8765"
    pyclient heartbeat ws://127.0.0.1:8765/chat
    cap_stop
}

reconnect-loop() {
    pyserver reject403 127.0.0.1 8765
    cap_start reconnect-loop.pcap "tcp port 8765"
    pyclient reconnect ws://127.0.0.1:8765/chat
    cap_stop
}

close-1009() {
    pyserver big 127.0.0.1 8765
    cap_start close-1009.pcap "tcp port 8765"
    pyclient max-size ws://127.0.0.1:8765/chat
    cap_stop
}

violation-unmasked-client() {
    pyserver echo 127.0.0.1 8765
    cap_start violation-unmasked-client.pcap "tcp port 8765"
    rawclient unmasked 127.0.0.1 8765
    cap_stop
}

violation-masked-server() {
    rawserver masked 127.0.0.1 8765
    cap_start violation-masked-server.pcap "tcp port 8765"
    pyclient send-wait ws://127.0.0.1:8765/chat
    cap_stop
}

bad-accept() {
    rawserver bad-accept 127.0.0.1 8765
    cap_start bad-accept.pcap "tcp port 8765"
    pyclient connect ws://127.0.0.1:8765/chat
    cap_stop
}

SCENARIOS=(
    python-clean python-ipv6
    daphne-accept daphne-403 daphne-close-4001 daphne-1011 daphne-no-route-500 runserver-404
    node-deflate node-terminate node-close-empty
    nginx-proxy-any nginx-no-upgrade nginx-502 nginx-idle-timeout
    refused unreachable server-killed client-killed
    close-unanswered close-timeout handshake-timeout rst-after-close
    still-open mid-connection snaplen96 heartbeat reconnect-loop close-1009
    violation-unmasked-client violation-masked-server bad-accept
)

main() {
    case "${1:-}" in
        --list) printf '%s\n' "${SCENARIOS[@]}"; return ;;
        --setup) setup; return ;;
    esac
    [[ $EUID -eq 0 ]] || { echo "make.sh: run as root (tcpdump, ip netns, iptables)" >&2; exit 2; }
    local names=("$@") name start=$SECONDS
    ((${#names[@]})) || names=("${SCENARIOS[@]}")
    for name in "${names[@]}"; do
        [[ " ${SCENARIOS[*]} " == *" $name "* ]] || { echo "make.sh: unknown scenario $name (see --list)" >&2; exit 2; }
    done
    setup
    : >"$WORK/client.log"
    for name in "${names[@]}"; do
        log "$name"
        "$name"
        stop_all
        sleep 0.3   # let sockets of the last scenario settle before the next one binds
    done
    log "done: ${#names[@]} capture(s) in $((SECONDS - start)) s"
}

main "$@"
