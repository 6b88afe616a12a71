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
# each capture's peer output is also kept as captures/wss/NAME.log. OUT_DIR=DIR writes the
# captures (and their .keys/.log/.browser.json) to DIR instead of captures/wss/.
# The helpers shared with make-h2.sh are in captures/lib.sh.
# The test CA and certificate are in peers/tls/ (peers/tls/gen-certs.sh made them).
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=${OUT_DIR:-$CAPS/wss}     # OUT_DIR: write the captures elsewhere (to try the script out)
WORK=${WORK:-/tmp/wsdiag-captures-wss}
COLLECTOR_PORT=9499
# shellcheck source=captures/lib.sh
source "$CAPS/lib.sh"          # log, bg, wait_log, stop, stop_all, cap_start/cap_stop, keys_for,
                               # peers_log, collector_up, spki, browser_run, lib_main

setup() {
    need_tools "${BROWSER_TOOLS[@]}" nginx:nginx
    peers_setup
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

page_url() {  # page_url PORT MODE: page.html from the collector (plain HTTP, outside the filter)
    echo "http://127.0.0.1:$COLLECTOR_PORT/?name=$SCEN&mode=$2&url=wss://127.0.0.1:$1/chat"
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

lib_main make-wss.sh "$@"
