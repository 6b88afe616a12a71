#!/usr/bin/env bash
# (Re)create the heartbeat / keep-alive / proxy-tunnel captures in captures/heartbeats/: real
# Python peers (websockets, uvicorn, aiohttp, python-socketio) and a real squid on loopback,
# recorded with tcpdump. A client that "stops answering pings" is a real client process frozen
# with SIGSTOP after its handshake and thawed with SIGCONT a few seconds later, the way a
# suspended laptop, a stopped container or a long GC pause looks from the server. Each capture
# gets NAME.truth.json: the peers' own reports (every ping/pong or engine.io packet they saw,
# with times; the close code and reason sent or received; exceptions), tshark's facts (frame
# numbers of every Close frame, ping, pong, engine.io packet, FIN and RST) and wsdiag's table.
# See captures/heartbeats/README.md for what each capture shows.
#
#   captures/make-heartbeats.sh               install what is missing, then make every capture
#   captures/make-heartbeats.sh NAME...       make only these (NAME = file name without extension)
#   captures/make-heartbeats.sh --list        list the scenario names
#   captures/make-heartbeats.sh --setup       only install squid, tshark and the peers' venv
#
# Needs root (tcpdump, apt-get). Sends traffic only to 127.0.0.1, on ports 9401-9480 and
# 8870-8889 (the Node ws heartbeat and the socket.io polling-upgrade captures). Peer logs
# go to $WORK (default /tmp/wsdiag-captures-heartbeats). OUT_DIR=DIR writes the captures (and
# their .truth.json/.keys/.log) to DIR instead of captures/heartbeats/.
# The helpers shared with make-wss.sh and make-h2.sh are in captures/lib.sh; this script's peers
# and their own venv (peers/heartbeats/requirements.txt) are in captures/peers/heartbeats/; the
# Node socket.io-client in peers/heartbeats/node/ (package-lock.json, npm ci), the Node ws
# heartbeat peer in peers/node/heartbeat.js (the ws of peers/node).
set -euo pipefail

CAPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERE=${OUT_DIR:-$CAPS/heartbeats}
WORK=${WORK:-/tmp/wsdiag-captures-heartbeats}
COLLECTOR_PORT=9499            # unused here (no browsers), set as lib.sh documents
# shellcheck source=captures/lib.sh
source "$CAPS/lib.sh"          # log, bg, wait_log, stop, stop_all, cap_start/cap_stop, keys_for, peers_log, lib_main

HB=$PEERS/heartbeats
HBPY=$HB/.venv/bin/python
WSDIAG=${WSDIAG:-$(dirname "$CAPS")/target/release/wsdiag}
SQUID_PORT=9480

SCENARIOS=(websockets-keepalive-timeout uvicorn-ws-ping-timeout aiohttp-heartbeat aiohttp-heartbeat-ok
           socketio-ping-timeout socketio-clean squid-connect-ws squid-connect-refused
           squid-connect-auth squid-connect-wss node-ws-heartbeat-ok node-ws-heartbeat-timeout
           socketio-polling-upgrade socketio-polling-upgrade-timeout)

setup() {
    need_tools tcpdump:tcpdump tshark:tshark capinfos:wireshark-common openssl:openssl squid:squid
    venv_setup "$HB"
    command -v node >/dev/null || apt_install nodejs npm
    if [[ ! -d $PEERS/node/node_modules/ws ]]; then
        log "npm ci in peers/node"
        (cd "$PEERS/node" && npm ci --silent --no-audit --no-fund)
    fi
    if [[ ! -d $HB/node/node_modules/socket.io-client ]]; then
        log "npm ci in peers/heartbeats/node"
        (cd "$HB/node" && npm ci --silent --no-audit --no-fund)
    fi
    [[ -s $TLS/server.pem ]] || "$TLS/gen-certs.sh"
    if [[ ! -x $WSDIAG ]]; then
        log "cargo build --release (for wsdiag's table in the truth files)"
        (cd "$(dirname "$CAPS")" && nice cargo build --release)
    fi
    mkdir -p "$WORK" "$HERE"
}

# ------------------------------------------------------------- helpers ----

hb() { "$HBPY" "$HB/hb.py" "$@"; }
# hb_bg NAME ARGS...: hb.py in the background, its report in $WORK/NAME.json; waits for "listening"
hb_server() { local n=$1; shift; rm -f "$WORK/$n.json"; bg "$n" "$HBPY" "$HB/hb.py" "$@" --report "$WORK/$n.json"; wait_log "$n" listening; }

# uvicorn_up NAME APP PORT UVICORN-ARGS...: uvicorn APP from peers/heartbeats, report in $WORK/NAME.json
uvicorn_up() {
    local n=$1 app=$2 port=$3; shift 3
    rm -f "$WORK/$n.json"
    bg "$n" env HB_REPORT="$WORK/$n.json" "$HB/.venv/bin/uvicorn" "$app" --app-dir "$HB" \
        --host 127.0.0.1 --port "$port" --no-access-log "$@"
    wait_log "$n" "Uvicorn running"
}

# frozen_client SECONDS ARGS...: run hb.py ARGS (a client) in the background; once it prints
# "ready", SIGSTOP it, SIGCONT it SECONDS later, wait for it to end (at most 20 s)
frozen_client() { local secs=$1; shift; frozen_cmd "$secs" "$HBPY" "$HB/hb.py" "$@"; }

# frozen_cmd SECONDS CMD...: the same for any client command (CMD prints "ready")
frozen_cmd() {
    local secs=$1; shift
    bg client "$@"
    local pid=$LAST_PID
    wait_log client ready
    kill -STOP "$pid"
    log "client $pid stopped (SIGSTOP) for $secs s"
    echo "{\"event\": \"SIGSTOP\", \"t\": $(date +%s.%N)}" >>"$WORK/signals.log"
    sleep "$secs"
    echo "{\"event\": \"SIGCONT\", \"t\": $(date +%s.%N)}" >>"$WORK/signals.log"
    kill -CONT "$pid"
    log "client $pid continued (SIGCONT)"
    local i
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null || true
}

# truth PORTS [TRUTH-ARGS...]: write $HERE/$SCEN.truth.json from the reports of client, server
# (and squid's access.log if it ran), tshark and wsdiag; keep the peers' output as $SCEN.log
truth() {
    local args=() p
    for p in $1; do args+=(--port "$p"); done; shift
    local r
    for r in server client client2; do [[ -e $WORK/$r.json ]] && args+=(--report "$r=$WORK/$r.json"); done
    if [[ -s $WORK/signals.log ]]; then
        "$HBPY" -c 'import json,sys; print(json.dumps({"role": "make-heartbeats.sh", "events": [json.loads(l) for l in open(sys.argv[1])]}))' \
            "$WORK/signals.log" >"$WORK/signals.json"
        args+=(--report "script=$WORK/signals.json")
    fi
    if [[ -s $WORK/squid/access.log ]]; then
        "$HBPY" -c 'import json,sys; print(json.dumps({"role": "squid access.log (native format)", "lines": open(sys.argv[1]).read().splitlines()}))' \
            "$WORK/squid/access.log" >"$WORK/squid.json"
        args+=(--report "squid=$WORK/squid.json")
    fi
    "$HBPY" "$HB/truth.py" "$HERE/$SCEN.truth.json" "$HERE/$SCEN.pcap" --scenario "$SCEN" \
        --wsdiag "$WSDIAG" "${args[@]}" "$@"
    sed -i "s|$WORK|\$WORK|g; s|$CAPS|captures|g" "$HERE/$SCEN.truth.json"
    chmod 644 "$HERE/$SCEN.truth.json"
    peers_log server client client2 squid-run
    [[ -s $WORK/squid/cache.log ]] && sed "s|$WORK|\$WORK|g" "$WORK/squid/cache.log" >>"$HERE/$SCEN.log"
    log "$SCEN.truth.json written"
}

# squid_up CONF: squid in the foreground (-N) with its pid/log dirs under $WORK/squid
squid_up() {
    local conf=$1
    rm -rf "$WORK/squid"; mkdir -p "$WORK/squid"
    sed "s|@WORK@|$WORK|g" "$HB/$conf" >"$WORK/squid/squid.conf"
    if [[ $conf == squid-auth.conf ]]; then
        printf 'wsdiag:%s\n' "$(openssl passwd -1 -salt wsdiag0 tunnel-pass)" >"$WORK/squid/passwd"
    fi
    chown -R proxy:proxy "$WORK/squid"
    bg squid-run squid -N -d 1 -f "$WORK/squid/squid.conf"
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "Accepting HTTP Socket connections" "$WORK/squid/cache.log" 2>/dev/null && return 0
        sleep 0.1
    done
    log "squid did not start"; cat "$WORK/squid-run.log" "$WORK/squid/cache.log" >&2; return 1
}

fresh() { rm -f "$WORK"/{server,client,client2,signals,squid}.json "$WORK/signals.log"; }

# ------------------------------------------------------------ scenarios ----

websockets-keepalive-timeout() {
    fresh
    hb_server server ws-server 9410
    cap_start "$SCEN.pcap" "tcp port 9410"
    frozen_client 5 ws-client ws://127.0.0.1:9410/chat --report "$WORK/client.json"
    sleep 1
    cap_stop
    stop_all
    truth 9410
}

uvicorn-ws-ping-timeout() {
    fresh
    uvicorn_up server hb:ws_app 9420 --ws websockets --ws-ping-interval 1 --ws-ping-timeout 1
    cap_start "$SCEN.pcap" "tcp port 9420"
    frozen_client 5 ws-client ws://127.0.0.1:9420/chat --report "$WORK/client.json"
    sleep 1
    cap_stop
    stop_all
    truth 9420
}

aiohttp-heartbeat() {
    fresh
    hb_server server aiohttp-server 9430
    cap_start "$SCEN.pcap" "tcp port 9430"
    frozen_client 5 aiohttp-client ws://127.0.0.1:9430/chat frozen --report "$WORK/client.json"
    sleep 1
    cap_stop
    stop_all
    truth 9430
}

aiohttp-heartbeat-ok() {
    fresh
    hb_server server aiohttp-server 9431
    cap_start "$SCEN.pcap" "tcp port 9431"
    hb aiohttp-client ws://127.0.0.1:9431/chat answer --report "$WORK/client.json" >"$WORK/client.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    truth 9431
}

socketio-ping-timeout() {
    fresh
    uvicorn_up server hb:sio_app 9440 --ws websockets
    cap_start "$SCEN.pcap" "tcp port 9440"
    frozen_client 5 sio-client http://127.0.0.1:9440 frozen --report "$WORK/client.json"
    sleep 1
    cap_stop
    stop_all
    truth 9440
}

socketio-clean() {
    fresh
    uvicorn_up server hb:sio_app 9441 --ws websockets
    cap_start "$SCEN.pcap" "tcp port 9441"
    hb sio-client http://127.0.0.1:9441 clean --report "$WORK/client.json" >"$WORK/client.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    truth 9441
}

squid-connect-ws() {
    fresh
    hb_server server echo-server 9401
    squid_up squid.conf
    cap_start "$SCEN.pcap" "tcp port $SQUID_PORT or tcp port 9401"
    hb proxy-client ws://127.0.0.1:9401/chat "http://127.0.0.1:$SQUID_PORT" --report "$WORK/client.json" \
        >"$WORK/client.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    truth "$SQUID_PORT 9401"
}

squid-connect-refused() {
    fresh
    squid_up squid.conf
    cap_start "$SCEN.pcap" "tcp port $SQUID_PORT or tcp port 9402"
    hb proxy-client ws://127.0.0.1:9402/chat "http://127.0.0.1:$SQUID_PORT" --report "$WORK/client.json" \
        >"$WORK/client.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    truth "$SQUID_PORT 9402"
}

squid-connect-auth() {
    fresh
    hb_server server echo-server 9401
    squid_up squid-auth.conf
    cap_start "$SCEN.pcap" "tcp port $SQUID_PORT or tcp port 9401"
    # first without credentials (407), then with them (200, the WebSocket inside the tunnel)
    hb proxy-client ws://127.0.0.1:9401/chat "http://127.0.0.1:$SQUID_PORT" --report "$WORK/client.json" \
        >"$WORK/client.log" 2>&1
    sleep 0.5
    hb proxy-client ws://127.0.0.1:9401/chat "http://wsdiag:tunnel-pass@127.0.0.1:$SQUID_PORT" \
        --report "$WORK/client2.json" >"$WORK/client2.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    truth "$SQUID_PORT 9401"
}

squid-connect-wss() {
    fresh
    hb_server server echo-server 9401 --tls
    squid_up squid.conf
    rm -f "$WORK/$SCEN.sslkeys"
    cap_start "$SCEN.pcap" "tcp port $SQUID_PORT or tcp port 9401"
    hb proxy-client wss://127.0.0.1:9401/chat "http://127.0.0.1:$SQUID_PORT" --report "$WORK/client.json" \
        --keylog "$WORK/$SCEN.sslkeys" >"$WORK/client.log" 2>&1
    sleep 0.5
    cap_stop
    stop_all
    keys_for "$WORK/$SCEN.sslkeys"
    truth "$SQUID_PORT" --tls-port 9401 --keys "$HERE/$SCEN.keys"
}

# the heartbeat of the ws README: every 1 s terminate() if the last ping got no pong, else ping
node_hb_server() {
    rm -f "$WORK/server.json"
    bg server node "$PEERS/node/heartbeat.js" server "$1" "$WORK/server.json"
    wait_log server listening
}

node-ws-heartbeat-ok() {      # a ws client (autoPong) that closes 1000 "done" after 4 s
    fresh
    node_hb_server 8870
    cap_start "$SCEN.pcap" "tcp port 8870"
    timeout 15 node "$PEERS/node/heartbeat.js" client-ok ws://127.0.0.1:8870/chat "$WORK/client.json" \
        >"$WORK/client.log" 2>&1 || true
    sleep 0.5
    cap_stop
    stop_all
    truth 8870 --note "server: Node ws $(node -p "require('$PEERS/node/node_modules/ws/package.json').version") with the README heartbeat (setInterval 1000 ms); client: ws, autoPong true, close(1000, 'done') after 4 s"
}

node-ws-heartbeat-timeout() { # a ws client with autoPong: false: the server terminate()s it
    fresh
    node_hb_server 8871
    cap_start "$SCEN.pcap" "tcp port 8871"
    timeout 15 node "$PEERS/node/heartbeat.js" client-silent ws://127.0.0.1:8871/chat "$WORK/client.json" \
        >"$WORK/client.log" 2>&1 || true
    sleep 0.5
    cap_stop
    stop_all
    truth 8871 --note "server: Node ws $(node -p "require('$PEERS/node/node_modules/ws/package.json').version") with the README heartbeat (setInterval 1000 ms); client: ws with autoPong: false (never answers a ping); the server's ws.terminate() (socket.destroy(): FIN, no Close frame) at the first tick that finds isAlive false"
}

# python-socketio (ping_interval=1, ping_timeout=1) under uvicorn; the Node socket.io-client
# starts with HTTP long-polling and upgrades to a WebSocket carrying the same engine.io sid
socketio-polling-upgrade() {
    fresh
    uvicorn_up server hb:sio_app 8880 --ws websockets
    cap_start "$SCEN.pcap" "tcp port 8880"
    timeout 20 node "$HB/node/sio-client.js" http://127.0.0.1:8880 clean "$WORK/client.json" \
        >"$WORK/client.log" 2>&1 || true
    sleep 0.5
    cap_stop
    stop_all
    truth 8880 --note "client: Node socket.io-client, transports ['polling', 'websocket'] (the default); clean: three chat events after the upgrade, 2.5 s, socket.disconnect()"
}

socketio-polling-upgrade-timeout() {   # the same, then the client is frozen (SIGSTOP) for 5 s
    fresh
    uvicorn_up server hb:sio_app 8881 --ws websockets
    cap_start "$SCEN.pcap" "tcp port 8881"
    frozen_cmd 5 node "$HB/node/sio-client.js" http://127.0.0.1:8881 frozen "$WORK/client.json"
    sleep 1
    cap_stop
    stop_all
    truth 8881 --note "client: Node socket.io-client, transports ['polling', 'websocket']; frozen with SIGSTOP after the upgrade and three chat events, SIGCONT 5 s later; the server's pingInterval 1 s / pingTimeout 1 s"
}

lib_main "$(basename "$0")" "$@"
