#!/usr/bin/env bash
# (Re)create the plain ws:// browser captures in captures/browsers/: headless Chromium and
# Firefox ESR (Debian's chromium, firefox-esr; as root, Chromium with --no-sandbox; a fresh
# profile each) open a WebSocket from a small page (peers/browsers/page.html) to the same real
# servers as captures/make.sh (Python websockets, Daphne, Django's runserver, Node ws, nginx,
# the misbehaving raw peers of peers/rawws.py), and the page reports every event it saw to a
# collector outside the capture filter. Each capture NAME (chromium-SCENARIO,
# firefox-SCENARIO) is NAME.pcap, NAME.browser.json (the page's report) and NAME.log (what the
# peers printed). See captures/browsers/README.md for what each capture shows.
#
#   captures/make-browsers.sh               install what is missing, then make every capture
#   captures/make-browsers.sh NAME...       make only these (NAME = file name without extension)
#   captures/make-browsers.sh --list        list the capture names
#   captures/make-browsers.sh --setup       only install the tools, browsers and peers
#
# Needs root (tcpdump, apt-get). Sends traffic only to 127.0.0.1. Ports 8800-8899 only: the
# WebSocket servers on 8801-8861 (one per scenario, the same for both browsers), the page server
# and report collector on 8899 (outside every capture filter, which names the WebSocket
# server's port only, and nginx's backend port behind it). Peer logs go to $WORK (default
# /tmp/wsdiag-captures-browsers); OUT_DIR=DIR writes the captures to DIR instead of
# captures/browsers/. The shared helpers are in captures/lib.sh.
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=${OUT_DIR:-$CAPS/browsers}
WORK=${WORK:-/tmp/wsdiag-captures-browsers}
COLLECTOR_PORT=8899
# shellcheck source=captures/lib.sh
source "$CAPS/lib.sh"          # log, bg, wait_log, stop, stop_all, cap_start/cap_stop, peers_log, lib_main
BP=$PEERS/browsers             # page.html, collector.py, wsserver.py, firefox-user.js

setup() {
    need_tools "${BROWSER_TOOLS[@]}" nginx:nginx
    peers_setup
}

# ------------------------------------------------------------- helpers ----

WS_PATH=/chat   # the WebSocket's path (Daphne's routes differ)
PAGE_T=10       # the page's own timeout (s)

page_url() {  # page_url PORT MODE: the page from the collector (plain HTTP, outside the filter)
    echo "http://127.0.0.1:$COLLECTOR_PORT/?name=$SCEN&mode=$2&t=$PAGE_T&url=ws://127.0.0.1:$1$WS_PATH"
}

collector_on() {
    rm -f "$HERE/$SCEN.browser.json"
    bg collector "$PY" "$BP/collector.py" "$HERE" "$COLLECTOR_PORT"
    wait_log collector listening
}

BROWSER=""   # the browser's pid (browser_start)

# browser_start chromium|firefox PORT MODE: open $(page_url PORT MODE) in a fresh headless
# browser (as lib.sh's browser_run does, without SSLKEYLOGFILE: nothing here is TLS)
browser_start() {
    local which=$1 port=$2 mode=$3
    local dir; dir=$(mktemp -d); TMPDIRS+=("$dir")
    if [[ $which == chromium ]]; then
        # --disable-popup-blocking: close-tab's page opens its second tab without a click
        bg browser chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --disable-popup-blocking --user-data-dir="$dir" "$(page_url "$port" "$mode")"
    else
        cat "$PEERS/tls/firefox-user.js" "$BP/firefox-user.js" >"$dir/user.js"
        bg browser env MOZ_HEADLESS=1 firefox-esr --headless --no-remote --profile "$dir" \
            "$(page_url "$port" "$mode")"
    fi
    BROWSER=$LAST_PID
}

# report_wait SECONDS [any]: wait for the page's final report (or one that says the page was
# left; with `any`: for any report)
report_wait() {
    local n=$(($1 * 10)) i f=$HERE/$SCEN.browser.json
    for ((i = 0; i < n; i++)); do
        if [[ -s $f ]]; then
            [[ ${2:-} == any ]] && return 0
            grep -q -E '"(final|left)": true' "$f" && return 0
        fi
        sleep 0.1
    done
    log "no (final) browser report for $SCEN after $1 s"; cat "$WORK/browser.log" >&2; return 1
}

# browser_end: 1 s more, then SIGTERM to the browser while the recorder still runs
browser_end() {
    chmod 644 "$HERE/$SCEN.browser.json"
    sleep 1
    stop "$BROWSER"
    sleep 0.3
}

# tree PID: PID and all its descendants (pids only)
tree() {
    local p c
    for p in "$@"; do
        echo "$p"
        for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree "$c"; done
    done
}

# go WHICH FILTER PORT MODE WAIT LOG...: the collector, the recorder, the browser, its report
# (up to WAIT s), then the peers' logs LOG... (and the collector's and browser's)
go() {
    local which=$1 filter=$2 port=$3 mode=$4 wait=$5; shift 5
    collector_on
    cap_start "$SCEN.pcap" "$filter"
    browser_start "$which" "$port" "$mode"
    report_wait "$wait"
    browser_end
    cap_stop
    peers_log "$@" collector browser
}

wsserver() { bg server "$PY" "$BP/wsserver.py" "$1" 127.0.0.1 "$2"; wait_log server listening; }
pyserver() { bg server "$PY" "$PEERS/pyserver.py" "$1" 127.0.0.1 "$2"; wait_log server listening; }
rawserver() { bg server "$PY" "$PEERS/rawws.py" server "$1" 127.0.0.1 "$2"; wait_log server listening; }
nodeserver() { bg server node "$PEERS/node/server.js" "$1" 127.0.0.1 "$2"; wait_log server listening; }

daphne_on() {   # the Channels project of make.sh's daphne-* captures, on 8810
    bg server env -C "$PEERS/djangoproj" "$PEERS/.venv/bin/daphne" -b 127.0.0.1 -p 8810 \
        wsproj.asgi:application
    wait_log server "Listening on TCP address"
}

# nginx_on CONF FRONT BACK: captures/peers/nginx/CONF with its ports (8080 in front, 8765 or
# 18005 behind) moved to FRONT and BACK, written to $WORK
nginx_on() {
    rm -rf "$WORK/nginx"; mkdir -p "$WORK/nginx/tmp"
    sed -e "s/127\.0\.0\.1:8080;/127.0.0.1:$2;/" -e "s/127\.0\.0\.1:8765;/127.0.0.1:$3;/" \
        -e "s/127\.0\.0\.1:18005;/127.0.0.1:$3;/" "$PEERS/nginx/$1" >"$WORK/nginx/$1"
    grep -q "127.0.0.1:$2;" "$WORK/nginx/$1" || { log "nginx_on: no port 8080 in $1"; return 1; }
    bg nginx nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$WORK/nginx/$1" -g 'daemon off;'
    local i
    for ((i = 0; i < 50; i++)); do [[ -s $WORK/nginx/nginx.pid ]] && return 0; sleep 0.1; done
    log "nginx did not start"; cat "$WORK/nginx.log" "$WORK/nginx/error.log" >&2; return 1
}
nginx_log() { cp "$WORK/nginx/error.log" "$WORK/nginx-error.log"; }

# ------------------------------------------------------------ scenarios ----
# Each takes the browser (chromium|firefox); chromium-NAME and firefox-NAME call it.

python-clean()       { wsserver echo 8801; go "$1" "tcp port 8801" 8801 clean 15 server; }
close-4000()         { wsserver echo 8852; go "$1" "tcp port 8852" 8852 code4000 15 server; }
close-empty()        { wsserver echo 8807; go "$1" "tcp port 8807" 8807 noargs 15 server; }
close-1009()         { wsserver maxsize 8846; go "$1" "tcp port 8846" 8846 big 15 server; }
heartbeat()          { pyserver heartbeat 8808; go "$1" "tcp port 8808" 8808 heartbeat 15 server; }

daphne-403()          { daphne_on; WS_PATH=/ws/reject/ go "$1" "tcp port 8810" 8810 wait 15 server; }
daphne-close-4001()   { daphne_on; WS_PATH=/ws/role/   go "$1" "tcp port 8810" 8810 wait 15 server; }
daphne-1011()         { daphne_on; WS_PATH=/ws/crash/  go "$1" "tcp port 8810" 8810 wait 15 server; }
daphne-no-route-500() { daphne_on; WS_PATH=/ws/nope/   go "$1" "tcp port 8810" 8810 wait 15 server; }
runserver-404() {
    bg server env -C "$PEERS/djangoproj" "$PY" manage.py runserver 127.0.0.1:8811 \
        --noreload --settings=wsproj.settings_wsgi
    wait_log server "Quit the server"
    WS_PATH=/ws/echo/ go "$1" "tcp port 8811" 8811 wait 15 server
}

node-deflate()   { nodeserver deflate 8821; go "$1" "tcp port 8821" 8821 deflate 15 server; }
node-terminate() { nodeserver terminate 8820; go "$1" "tcp port 8820" 8820 wait 15 server; }

nginx-no-upgrade() {
    nodeserver plain 8831
    nginx_on no-upgrade.conf 8830 8831
    go "$1" "tcp port 8830 or tcp port 8831" 8830 wait 15 server; nginx_log; peers_log server nginx-error collector browser
}
nginx-502() {
    nginx_on proxy.conf 8832 8833     # nothing listens on 8833
    go "$1" "tcp port 8832 or tcp port 8833" 8832 wait 15; nginx_log; peers_log nginx-error collector browser
}
nginx-idle-timeout() {
    wsserver echo 8835
    nginx_on idle.conf 8834 8835      # proxy_read_timeout 3s
    go "$1" "tcp port 8834 or tcp port 8835" 8834 wait 15 server; nginx_log; peers_log server nginx-error collector browser
}

refused()                 { go "$1" "tcp port 8847" 8847 wait 15; }     # nothing listens on 8847
close-unanswered()        { rawserver close-ignored 8841; go "$1" "tcp port 8841" 8841 clean 15 server; }
# the server never answers the Close and never ends TCP: the browser gives up on its own
close-timeout()           { rawserver close-silent 8842; PAGE_T=75 go "$1" "tcp port 8842" 8842 clean 85 server; }
# the server never answers the upgrade: the page gives up after 30 s (if the browser has not)
handshake-timeout()       { rawserver no-answer 8843; PAGE_T=30 go "$1" "tcp port 8843" 8843 wait 40 server; }
violation-masked-server() { rawserver masked 8844; go "$1" "tcp port 8844" 8844 wait 15 server; }
bad-accept()              { rawserver bad-accept 8845; go "$1" "tcp port 8845" 8845 wait 15 server; }

server-killed() {   # SIGKILL of the server 0.5 s after it echoed: the kernel's FIN, no Close
    wsserver echo 8840
    local server=$LAST_PID
    collector_on
    cap_start "$SCEN.pcap" "tcp port 8840"
    browser_start "$1" 8840 wait
    wait_log server "received"
    sleep 0.5
    kill -KILL "$server"
    wait "$server" 2>/dev/null || true
    echo "make-browsers.sh: kill -KILL of the server (pid $server) 0.5 s after the echo" >>"$WORK/server.log"
    report_wait 15
    browser_end
    cap_stop
    peers_log server collector browser
}

# the page navigates to /away (on the collector) after the echo
navigate-away() { wsserver echo 8850; go "$1" "tcp port 8850" 8850 away 15 server; }
# the page opens a second tab that opens the WebSocket; after the echo it closes that tab
close-tab()     { wsserver echo 8851; go "$1" "tcp port 8851" 8851 tab 15 server; }

# wsserver.py redirect: the upgrade for /old is answered 301 Moved Permanently, Location: /chat;
# browsers do not follow it (the page sees error + close 1006)
redirect() { wsserver redirect 8860; WS_PATH=/old go "$1" "tcp port 8860" 8860 wait 15 server; }

# the counterpart: the Python websockets client (peers/browsers/redirect_client.py), which
# follows the 301 on a second TCP connection to /chat (no page, no .browser.json)
python-redirect() {
    wsserver redirect 8861
    cap_start "$SCEN.pcap" "tcp port 8861"
    bg client "$PY" "$BP/redirect_client.py" ws://127.0.0.1:8861/old
    wait "$LAST_PID" || true
    cap_stop
    peers_log server client
}

browser-killed() {  # SIGKILL of every process of the browser 0.5 s after the echo
    wsserver echo 8853
    collector_on
    cap_start "$SCEN.pcap" "tcp port 8853"
    browser_start "$1" 8853 hold
    report_wait 15 any
    sleep 0.5
    # the leaves first (Chromium's network service and renderer before its browser process,
    # so that none of them lives on to notice that another one died)
    local pids; pids=$(tree "$BROWSER" | tac | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$BROWSER" 2>/dev/null || true
    echo "make-browsers.sh: kill -KILL of the browser's processes ($pids) 0.5 s after the echo" >>"$WORK/server.log"
    curl -s -X POST "http://127.0.0.1:$COLLECTOR_PORT/left/$SCEN?how=kill%20-KILL%20of%20every%20browser%20process" >/dev/null
    sleep 1
    chmod 644 "$HERE/$SCEN.browser.json"
    cap_stop
    peers_log server collector browser
}

BASE=(
    python-clean close-4000 close-empty close-1009 heartbeat
    daphne-403 daphne-close-4001 daphne-1011 daphne-no-route-500 runserver-404
    node-deflate node-terminate
    nginx-no-upgrade nginx-502 nginx-idle-timeout
    refused server-killed close-unanswered close-timeout handshake-timeout
    violation-masked-server bad-accept
    navigate-away close-tab browser-killed redirect
)
SCENARIOS=()
for b in "${BASE[@]}"; do
    for w in chromium firefox; do
        SCENARIOS+=("$w-$b")
        eval "$w-$b() { $b $w; }"
    done
done
SCENARIOS+=(python-redirect)

lib_main make-browsers.sh "$@"
