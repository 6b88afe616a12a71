#!/usr/bin/env bash
# (Re)create the real TLS WebSocket (wss://) captures in captures/wss/: real servers, clients
# and headless browsers on loopback, recorded with tcpdump, each with the NSS key log of its
# TLS sessions (only the lines for that capture) and what the peers printed. See
# captures/wss/README.md for what each capture shows.
#
#   captures/make-wss.sh               install what is missing, then make every capture
#   captures/make-wss.sh NAME...       make only these (NAME = file name without extension)
#   captures/make-wss.sh --list        list the scenario names
#   captures/make-wss.sh --setup       only install the tools, browsers and peers
#
# Needs root (tcpdump, apt-get). Sends traffic only to 127.0.0.1. Ports: TLS servers on
# 8443 and 8451-8467, the plaintext nginx backend on 8766, the page server / report collector on 9499
# (outside every capture filter). Peer logs go to $WORK (default /tmp/wsdiag-captures-wss);
# each capture's peer output is also kept as captures/wss/NAME.log.
# The test CA and certificate are in peers/tls/ (peers/tls/gen-certs.sh made them).
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=$CAPS/wss
PEERS=$CAPS/peers
TLS=$PEERS/tls
WORK=${WORK:-/tmp/wsdiag-captures-wss}
PY=$PEERS/.venv/bin/python
COLLECTOR_PORT=9499
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

log() { if [[ -t 2 ]]; then printf '\033[1m== %s\033[0m\n' "$*" >&2; else printf '== %s\n' "$*" >&2; fi; }

# ---------------------------------------------------------------- setup ----

setup() {
    local need=()
    command -v tcpdump >/dev/null || need+=(tcpdump)
    command -v tshark >/dev/null || need+=(tshark)
    command -v editcap >/dev/null || need+=(wireshark-common)
    command -v nginx >/dev/null || need+=(nginx)
    command -v openssl >/dev/null || need+=(openssl)
    command -v chromium >/dev/null || need+=(chromium)
    command -v firefox-esr >/dev/null || need+=(firefox-esr)
    command -v certutil >/dev/null || need+=(libnss3-tools)
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
    [[ -s $TLS/server.pem ]] || "$TLS/gen-certs.sh"
    mkdir -p "$WORK" "$HERE"
}

# ------------------------------------------------------ process helpers ----

PIDS=()      # every background process this script started
CAP_PID=""   # the running tcpdump
CAP_TMP=""
CAP_OUT=""
SCEN=""      # the scenario being made (its peer log: $WORK/$SCEN.peers.log)
TMPDIRS=()

# bg NAME CMD...: start CMD in the background, output to $WORK/NAME.log
bg() {
    local name=$1; shift
    : >"$WORK/$name.log"
    "$@" >>"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

# wait_log NAME PATTERN [TENTHS]: wait (default 20 s) until $WORK/NAME.log contains PATTERN
wait_log() {
    local i n=${3:-200}
    for ((i = 0; i < n; i++)); do
        grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0
        sleep 0.1
    done
    log "timeout waiting for '$2' in $WORK/$1.log"; cat "$WORK/$1.log" >&2; return 1
}

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
    if ((${#TMPDIRS[@]})); then rm -rf "${TMPDIRS[@]}"; fi
    TMPDIRS=()
}
trap stop_all EXIT

# cap_start OUTFILE FILTER [TCPDUMP-ARGS...]: as in make.sh (immediate mode, 32 MiB buffer, -U)
cap_start() {
    CAP_OUT=$HERE/$1; local filter=$2; shift 2
    CAP_TMP=$WORK/$(basename "$CAP_OUT").tmp
    rm -f "$CAP_TMP" "$WORK/tcpdump.log"
    local iface=(-i lo)
    [[ " $* " == *" -i "* ]] && iface=()
    tcpdump --immediate-mode -B 32768 -U -Z root -n "${iface[@]}" "$@" -w "$CAP_TMP" "$filter" \
        >"$WORK/tcpdump.log" 2>&1 &
    CAP_PID=$!
    sleep 0.5
}

# cap_stop: give tcpdump 0.5 s to see the last packets, SIGINT it, fail on kernel drops
cap_stop() {
    sleep 0.5
    kill -INT "$CAP_PID"; wait "$CAP_PID" || true; CAP_PID=""
    if grep -E "[1-9][0-9]* packets? dropped" "$WORK/tcpdump.log"; then
        log "tcpdump dropped packets: $(basename "$CAP_OUT") is incomplete"; return 1
    fi
    chmod 644 "$CAP_TMP"
    mv -f "$CAP_TMP" "$CAP_OUT"
    log "$(basename "$CAP_OUT"): $(capinfos -c -M "$CAP_OUT" | awk -F': *' '/Number of packets/ {print $2}') packets, $(stat -c %s "$CAP_OUT") bytes"
}

# keys_for RAWKEYLOG: write $HERE/$SCEN.keys with only the key log lines whose client random
# is in a ClientHello of the capture just made (a browser, or a server keeping its log open
# across connections, may log other sessions too)
keys_for() {
    local raw=$1 pcap=$HERE/$SCEN.pcap decode=() p
    [[ -s $raw ]] || { log "no key log in $raw"; return 1; }
    for p in $(tshark -r "$pcap" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport | sort -u); do
        decode+=(-d "tcp.port==$p,tls")
    done
    tshark -r "$pcap" "${decode[@]}" -Y 'tls.handshake.type==1' -T fields -e tls.handshake.random \
        | tr -d ':' | tr 'A-F' 'a-f' | sort -u >"$WORK/randoms"
    awk 'NR==FNR {r[$1]; next} !/^#/ && (tolower($2) in r)' "$WORK/randoms" "$raw" >"$HERE/$SCEN.keys"
    chmod 644 "$HERE/$SCEN.keys"
    log "$SCEN.keys: $(wc -l <"$HERE/$SCEN.keys") lines for $(wc -l <"$WORK/randoms") ClientHello(s)"
}

# browser chatter that says nothing about the connection: D-Bus, the chromium launcher script's
# shell warning, Firefox's content processes leaving at SIGTERM ("Exiting due to channel error")
NOISE='dbus|Running as user|DevTools listening|Fontconfig|GFX1-|headless mode|^\s*$|Failed to connect to the bus|sandbox|gpu_init|viz_main|ERROR:.*(object_proxy|bus\.cc)|WARNING:.*(sandbox|dbus)|/usr/bin/chromium: [0-9]+: \[|Exiting due to channel error'

# peers_log LOG...: keep what the peers printed as $HERE/$SCEN.log
peers_log() {
    local f
    : >"$HERE/$SCEN.log"
    for f in "$@"; do
        [[ -s $WORK/$f.log ]] || continue
        grep -v -E "$NOISE" \
            "$WORK/$f.log" | sed "s|$WORK|\$WORK|g; s|$CAPS|captures|g" >>"$HERE/$SCEN.log" || true
    done
    chmod 644 "$HERE/$SCEN.log"
}

pytls() { bg "$1" env ${OPENSSL_CONF:+OPENSSL_CONF=$OPENSSL_CONF} "$PY" "$TLS/wsspy.py" server "${@:2}"; wait_log "$1" listening; }
pytls_client() { "$PY" "$TLS/wsspy.py" client "$@" >"$WORK/client.log" 2>&1 || true; cat "$WORK/client.log"; }
nodetls() { bg "$1" node "$TLS/wss.js" server "${@:2}"; wait_log "$1" listening; }
nodetls_client() { node "$TLS/wss.js" client "$@" >"$WORK/client.log" 2>&1 || true; cat "$WORK/client.log"; }

nginx_up() {  # nginx_up CONF (in peers/tls)
    rm -rf "$WORK/nginx"; mkdir -p "$WORK/nginx/tmp"
    bg nginx nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$TLS/$1" -g 'daemon off;'
    local i
    for ((i = 0; i < 50; i++)); do [[ -s $WORK/nginx/nginx.pid ]] && return 0; sleep 0.1; done
    log "nginx did not start"; cat "$WORK/nginx.log" "$WORK/nginx/error.log" >&2; return 1
}

collector_up() {
    rm -f "$HERE/$SCEN.browser.json"
    bg collector "$PY" "$TLS/collector.py" "$HERE" "$COLLECTOR_PORT"
    wait_log collector listening
}

page_url() {  # page_url PORT MODE
    echo "http://127.0.0.1:$COLLECTOR_PORT/?name=$SCEN&mode=$2&url=wss://127.0.0.1:$1/chat"
}

# browser_run chromium|firefox PORT MODE [EXTRA-ARGS...]: open the page in a headless browser
# with SSLKEYLOGFILE, wait (up to 20 s) for its report, give it 1 s more, then end the browser
# (SIGTERM) while the recorder still runs, so that what the browser still had open ends in the
# capture too.
browser_run() {
    local which=$1 port=$2 mode=$3; shift 3
    local dir; dir=$(mktemp -d); TMPDIRS+=("$dir")
    rm -f "$WORK/$SCEN.sslkeys"
    if [[ $which == chromium ]]; then
        bg browser env SSLKEYLOGFILE="$WORK/$SCEN.sslkeys" chromium --headless --no-sandbox \
            --disable-gpu --disable-quic --no-first-run --disable-background-networking \
            --disable-component-update --disable-sync --user-data-dir="$dir" "$@" "$(page_url "$port" "$mode")"
    else
        cp "$TLS/firefox-user.js" "$dir/user.js"
        if [[ " $* " == *" --trust-ca "* ]]; then   # a profile whose NSS store trusts the test CA
            certutil -N -d "sql:$dir" --empty-password
            certutil -A -d "sql:$dir" -n "wsdiag test CA" -t "C,," -i "$TLS/ca.pem"
        fi
        bg browser env SSLKEYLOGFILE="$WORK/$SCEN.sslkeys" MOZ_HEADLESS=1 firefox-esr --headless \
            --no-remote --profile "$dir" "$(page_url "$port" "$mode")"
    fi
    local browser=$LAST_PID i
    for ((i = 0; i < 200; i++)); do [[ -s $HERE/$SCEN.browser.json ]] && break; sleep 0.1; done
    [[ -s $HERE/$SCEN.browser.json ]] || { log "no browser report for $SCEN"; cat "$WORK/browser.log" >&2; return 1; }
    chmod 644 "$HERE/$SCEN.browser.json"
    sleep 1
    stop "$browser"
    sleep 0.3
}

# ------------------------------------------------------------ scenarios ----

wss-python-tls13-aes128() {
    OPENSSL_CONF=$TLS/tls13-aes128.cnf pytls server echo 127.0.0.1 8451
    cap_start "$SCEN.pcap" "tcp port 8451"
    pytls_client clean wss://127.0.0.1:8451/chat --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
    # the same capture as pcapng with the key log in a Decryption Secrets Block
    rm -f "$HERE/$SCEN-dsb.pcapng"
    editcap --inject-secrets "tls,$HERE/$SCEN.keys" "$HERE/$SCEN.pcap" "$HERE/$SCEN-dsb.pcapng"
    chmod 644 "$HERE/$SCEN-dsb.pcapng"
}

wss-node-tls13-chacha() {
    nodetls server close4001 127.0.0.1 8452 TLSv1.3 TLS_CHACHA20_POLY1305_SHA256
    cap_start "$SCEN.pcap" "tcp port 8452"
    nodetls_client clean wss://127.0.0.1:8452/chat TLSv1.3 "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-node-tls13-aes256() {
    nodetls server reset 127.0.0.1 8453 TLSv1.3 TLS_AES_256_GCM_SHA384
    cap_start "$SCEN.pcap" "tcp port 8453"
    nodetls_client send-wait wss://127.0.0.1:8453/chat TLSv1.3 "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-python-tls12-aes128() {
    pytls server echo 127.0.0.1 8454 --tls12 ECDHE-RSA-AES128-GCM-SHA256
    cap_start "$SCEN.pcap" "tcp port 8454"
    pytls_client clean wss://127.0.0.1:8454/chat --tls12 DEFAULT --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-node-tls12-aes256() {
    nodetls server echo 127.0.0.1 8455 TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384
    cap_start "$SCEN.pcap" "tcp port 8455"
    nodetls_client clean wss://127.0.0.1:8455/chat TLSv1.2 "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-node-tls12-chacha() {
    nodetls server deflate 127.0.0.1 8456 TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305
    cap_start "$SCEN.pcap" "tcp port 8456"
    nodetls_client deflate wss://127.0.0.1:8456/chat TLSv1.2 "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-cert-refused() {          # websockets' threading client: OpenSSL sends its alert
    pytls server echo 127.0.0.1 8457
    cap_start "$SCEN.pcap" "tcp port 8457"
    pytls_client connect-sync wss://127.0.0.1:8457/chat --no-ca --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-cert-refused-asyncio() {  # websockets' asyncio client: no alert, the transport just closes
    pytls server echo 127.0.0.1 8460
    cap_start "$SCEN.pcap" "tcp port 8460"
    pytls_client connect wss://127.0.0.1:8460/chat --no-ca --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-chromium-cert-refused() {
    pytls server echo 127.0.0.1 8458
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8458"
    browser_run chromium 8458 clean        # no --ignore-certificate-errors-spki-list
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-firefox-cert-refused() {
    pytls server echo 127.0.0.1 8459
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8459"
    browser_run firefox 8459 clean         # a fresh profile: the test CA is unknown
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-nginx-terminate() {
    pyserver_plain
    nginx_up nginx-terminate.conf
    cap_start "$SCEN.pcap" "tcp port 8443 or tcp port 8766" -i any
    pytls_client clean wss://127.0.0.1:8443/chat --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    cp "$WORK/nginx/error.log" "$WORK/nginx-error.log"
    peers_log client backend nginx-error
}

wss-nginx-idle() {
    pyserver_plain
    nginx_up nginx-idle.conf     # proxy_read_timeout 3s
    cap_start "$SCEN.pcap" "tcp port 8443 or tcp port 8766" -i any
    pytls_client send-wait wss://127.0.0.1:8443/chat --keylog "$WORK/$SCEN.sslkeys"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    cp "$WORK/nginx/error.log" "$WORK/nginx-error.log"
    peers_log client backend nginx-error
}

pyserver_plain() {  # the plaintext backend behind nginx: captures/peers/pyserver.py echo on 8766
    bg backend "$PY" "$PEERS/pyserver.py" echo 127.0.0.1 8766
    wait_log backend listening
}

spki() { echo "--ignore-certificate-errors-spki-list=$(cat "$TLS/server.spki")"; }

wss-chromium-clean() {
    pytls server echo 127.0.0.1 8461
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8461"
    browser_run chromium 8461 clean "$(spki)"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-chromium-server-close-1011() {
    pytls server close1011 127.0.0.1 8462
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8462"
    browser_run chromium 8462 wait "$(spki)"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-chromium-server-rst() {
    pytls server rst 127.0.0.1 8463
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8463"
    browser_run chromium 8463 wait "$(spki)"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-firefox-clean() {
    pytls server echo 127.0.0.1 8464
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8464"
    browser_run firefox 8464 clean --trust-ca
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-python-server-killed() {   # SIGKILL of the server: the kernel's FIN, no close_notify, no Close
    pytls server echo 127.0.0.1 8465
    local server=$LAST_PID
    cap_start "$SCEN.pcap" "tcp port 8465"
    bg client "$PY" "$TLS/wsspy.py" client send-wait wss://127.0.0.1:8465/chat --keylog "$WORK/$SCEN.sslkeys"
    local client=$LAST_PID
    wait_log client "open, waiting"
    sleep 0.5
    kill -KILL "$server"
    wait "$server" 2>/dev/null || true   # (reaped here, so bash prints no "Killed" line)
    echo "make-wss.sh: kill -KILL of the server (pid $server) 0.5 s after the echo" >>"$WORK/server.log"
    wait "$client" || true
    cat "$WORK/client.log"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log client server
}

wss-firefox-server-rst() {
    pytls server rst 127.0.0.1 8466
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8466"
    browser_run firefox 8466 wait --trust-ca
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

wss-chromium-tls12() {         # the Python server allows at most TLS 1.2
    pytls server echo 127.0.0.1 8467 --tls12 ECDHE-RSA-AES128-GCM-SHA256
    collector_up
    cap_start "$SCEN.pcap" "tcp port 8467"
    browser_run chromium 8467 clean "$(spki)"
    cap_stop
    keys_for "$WORK/$SCEN.sslkeys"
    peers_log server collector browser
}

SCENARIOS=(
    wss-python-tls13-aes128 wss-node-tls13-chacha wss-node-tls13-aes256
    wss-python-tls12-aes128 wss-node-tls12-aes256 wss-node-tls12-chacha
    wss-cert-refused wss-cert-refused-asyncio wss-chromium-cert-refused wss-firefox-cert-refused
    wss-nginx-terminate wss-nginx-idle
    wss-chromium-clean wss-chromium-server-close-1011 wss-chromium-server-rst wss-firefox-clean
    wss-python-server-killed wss-firefox-server-rst wss-chromium-tls12
)

main() {
    case "${1:-}" in
        --list) printf '%s\n' "${SCENARIOS[@]}"; return ;;
        --setup) setup; return ;;
    esac
    [[ $EUID -eq 0 ]] || { echo "make-wss.sh: run as root (tcpdump, apt-get)" >&2; exit 2; }
    local names=("$@") name start=$SECONDS
    ((${#names[@]})) || names=("${SCENARIOS[@]}")
    for name in "${names[@]}"; do
        [[ " ${SCENARIOS[*]} " == *" $name "* ]] || { echo "make-wss.sh: unknown scenario $name (see --list)" >&2; exit 2; }
    done
    setup
    for name in "${names[@]}"; do
        log "$name"
        SCEN=$name
        "$name"
        stop_all
        sleep 0.3
    done
    log "done: ${#names[@]} capture(s) in $((SECONDS - start)) s"
}

main "$@"
