#!/usr/bin/env bash
# (Re)create the real WebSockets-over-HTTP/2 (RFC 8441) captures in captures/h2/: a Node http2
# server with SETTINGS_ENABLE_CONNECT_PROTOCOL (peers/h2/h2ws.js) that serves the test page over
# h2 and speaks RFC 6455 on each extended CONNECT stream, headless Chromium and Firefox ESR
# opening WebSockets over that h2 connection, and a Node h2c client (prior knowledge, no TLS).
# Recorded on loopback with tcpdump; each TLS capture keeps the browser's NSS key log lines for
# its sessions (NAME.keys), every capture what the peers printed (NAME.log), every browser one
# what the page saw (NAME.browser.json). See captures/h2/README.md for what each capture shows.
#
#   captures/make-h2.sh               install what is missing, then make every capture
#   captures/make-h2.sh NAME...       make only these (NAME = file name without extension)
#   captures/make-h2.sh --list        list the scenario names
#   captures/make-h2.sh --setup       only install the tools, browsers and peers
#
# Needs root (tcpdump, apt-get). Sends traffic only to 127.0.0.1. Ports: the h2 servers on
# 8470-8485 (one per scenario), the browser report collector on 9498 (outside every capture
# filter). Peer logs go to $WORK (default /tmp/wsdiag-captures-h2); OUT_DIR=DIR writes the
# captures to DIR instead of captures/h2/. The shared helpers are in captures/lib.sh.
# After a run: python3 captures/wss/tshark_facts.py --h2  (-> tests/tshark/h2/NAME.json)
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=${OUT_DIR:-$CAPS/h2}
WORK=${WORK:-/tmp/wsdiag-captures-h2}
COLLECTOR_PORT=9498
# shellcheck source=captures/lib.sh
source "$CAPS/lib.sh"
H2WS=$PEERS/h2/h2ws.js

setup() {
    need_tools "${BROWSER_TOOLS[@]}"
    peers_setup
}

# the page comes from the h2 server itself, so that the browser has an h2 connection (with the
# server's SETTINGS_ENABLE_CONNECT_PROTOCOL) to the origin before it opens the WebSocket
# (PAGE_FROM=collector: the wss page, peers/tls/page.html, from the collector over plain HTTP
# instead: then the browser has no h2 connection to the WebSocket's origin)
page_url() {  # page_url PORT MODE
    if [[ ${PAGE_FROM:-} == collector ]]; then
        echo "http://127.0.0.1:$COLLECTOR_PORT/?name=$SCEN&mode=$2&url=wss://127.0.0.1:$1/chat"
    else
        echo "https://127.0.0.1:$1/?name=$SCEN&mode=$2&collector=$COLLECTOR_PORT"
    fi
}

h2server() {  # h2server tls|h2c MODE PORT
    bg server node "$H2WS" server "$1" "$2" 127.0.0.1 "$3"
    wait_log server listening
}

# h2_browser chromium|firefox SERVER-MODE PORT PAGE-MODE: the server, the collector, the
# browser (Chromium trusts the certificate by its SPKI, Firefox's profile trusts the test CA).
# The WebSocket must have gone over h2 (the server saw an extended CONNECT); if not, the whole
# scenario is made again, up to 3 times: Chromium uses an h2 connection for a WebSocket only if
# it has an h2 session to the origin at that moment, and in about one run in ten it had just
# closed the page's connection (captures/h2/README.md; h2-chromium-no-h2-session shows what
# it does then). PAGE_FROM=collector: no such check (the WebSocket is not meant to use h2).
h2_browser() {
    local which=$1 smode=$2 port=$3 pmode=$4 try
    for try in 1 2 3; do
        h2server tls "$smode" "$port"
        ((try == 1)) || echo "make-h2.sh: attempt $try (attempt $((try - 1)): no extended CONNECT reached the server)" >>"$WORK/server.log"
        collector_up
        cap_start "$SCEN.pcap" "tcp port $port"
        if [[ $which == chromium ]]; then
            browser_run chromium "$port" "$pmode" "$(spki)"
        else
            browser_run firefox "$port" "$pmode" --trust-ca
        fi
        cap_stop
        if [[ ${PAGE_FROM:-} == collector ]] || grep -q '":protocol":"websocket"' "$WORK/server.log"; then
            break
        fi
        ((try < 3)) || { log "$SCEN: the browser never opened the WebSocket over h2"; return 1; }
        log "$SCEN: no extended CONNECT reached the server (the WebSocket did not use h2): again"
        cp "$WORK/server.log" "$WORK/server.try$try.log"
        stop_all
        sleep 0.3
    done
    if [[ -s $WORK/$SCEN.sslkeys ]]; then
        keys_for "$WORK/$SCEN.sslkeys"
    else   # every handshake failed before the ServerHello: the browser logged no secret
        log "$SCEN: the browser logged no TLS secrets: no $SCEN.keys"
        rm -f "$HERE/$SCEN.keys"
    fi
    peers_log server collector browser
}

# h2c_client CLIENT-MODE SERVER-MODE PORT: the Node client over cleartext h2 (prior knowledge)
h2c_client() {
    local cmode=$1 smode=$2 port=$3
    h2server h2c "$smode" "$port"
    cap_start "$SCEN.pcap" "tcp port $port"
    node "$H2WS" client "$cmode" "http://127.0.0.1:$port" >"$WORK/client.log" 2>&1 || true
    cat "$WORK/client.log"
    cap_stop
    peers_log client server
}

# ------------------------------------------------------------ scenarios ----

h2-chromium-clean()             { h2_browser chromium echo      8470 clean; }
h2-chromium-server-close-1011() { h2_browser chromium close1011 8471 wait; }
h2-chromium-server-rst()        { h2_browser chromium rst       8472 wait; }
h2-chromium-server-goaway()     { h2_browser chromium goaway    8473 wait; }
h2-chromium-two-streams()       { h2_browser chromium echo      8474 two; }
h2-chromium-reject-403()        { h2_browser chromium reject403 8475 wait; }
h2-firefox-clean()              { h2_browser firefox  echo      8476 clean; }
h2-firefox-server-close-1011()  { h2_browser firefox  close1011 8477 wait; }
h2-firefox-server-rst()         { h2_browser firefox  rst       8478 wait; }
h2-firefox-server-goaway()      { h2_browser firefox  goaway    8479 wait; }
h2-firefox-two-streams()        { h2_browser firefox  echo      8480 two; }
h2-firefox-reject-403()         { h2_browser firefox  reject403 8481 wait; }
h2-chromium-no-h2-session()     { PAGE_FROM=collector h2_browser chromium echo 8484 clean; }
h2-firefox-no-h2-session()      { PAGE_FROM=collector h2_browser firefox  echo 8485 clean; }
h2c-node-clean()                { h2c_client clean     echo      8482; }
h2c-node-reject-403()           { h2c_client expect403 reject403 8483; }

SCENARIOS=(
    h2-chromium-clean h2-chromium-server-close-1011 h2-chromium-server-rst h2-chromium-server-goaway
    h2-chromium-two-streams h2-chromium-reject-403
    h2-firefox-clean h2-firefox-server-close-1011 h2-firefox-server-rst h2-firefox-server-goaway
    h2-firefox-two-streams h2-firefox-reject-403
    h2-chromium-no-h2-session h2-firefox-no-h2-session
    h2c-node-clean h2c-node-reject-403
)

lib_main make-h2.sh "$@"
