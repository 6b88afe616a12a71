# Shared helpers of captures/make-wss.sh and captures/make-h2.sh (sourced, not run).
#
# The sourcing script sets, before `source lib.sh`:
#   CAPS            the captures/ folder
#   HERE            where its captures go (captures/wss, captures/h2, or elsewhere to try it out)
#   WORK            scratch folder for the peers' logs and temporary files
#   COLLECTOR_PORT  the port of the browser report collector (outside every capture filter)
# and defines page_url PORT MODE (the URL the browser opens) if it uses browser_run, and
# SCENARIOS (the scenario function names) for lib_main.
# Root is needed (tcpdump, apt-get). Only 127.0.0.1 / ::1 are used.

PEERS=$CAPS/peers
TLS=$PEERS/tls
PY=$PEERS/.venv/bin/python
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

log() { if [[ -t 2 ]]; then printf '\033[1m== %s\033[0m\n' "$*" >&2; else printf '== %s\n' "$*" >&2; fi; }

# ---------------------------------------------------------------- setup ----

# apt_install PACKAGE...: apt-get install (non-interactive; Wireshark without setuid dumpcap)
apt_install() {
    log "apt-get install $*"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# need_tools CMD:PACKAGE...: apt-get install the packages whose command is missing
need_tools() {
    local need=() t
    for t in "$@"; do
        command -v "${t%%:*}" >/dev/null || need+=(${t#*:})
    done
    if ((${#need[@]})); then apt_install "${need[@]}"; fi
}

# the tools every browser capture needs
BROWSER_TOOLS=(tcpdump:tcpdump tshark:tshark editcap:wireshark-common capinfos:wireshark-common
               openssl:openssl chromium:chromium firefox-esr:firefox-esr certutil:libnss3-tools
               "node:nodejs npm")

# venv_setup DIR: a Python venv in DIR/.venv from DIR/requirements.txt (pinned), made again
# when the requirements change
venv_setup() {
    local dir=$1
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    if [[ ! -x $dir/.venv/bin/python ]] || ! cmp -s "$dir/requirements.txt" "$dir/.venv/requirements.installed"; then
        log "python venv in ${dir#"$CAPS"/}/.venv (requirements.txt)"
        python3 -m venv "$dir/.venv"
        "$dir/.venv/bin/python" -m pip install -q -r "$dir/requirements.txt"
        cp "$dir/requirements.txt" "$dir/.venv/requirements.installed"
    fi
}

# peers_setup: the Python venv (peers/requirements.txt), ws from peers/node, the test certificate
peers_setup() {
    venv_setup "$PEERS"
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
SCEN=""      # the scenario being made (its files: $HERE/$SCEN.*)
TMPDIRS=()

# bg NAME CMD...: start CMD in the background, output to $WORK/NAME.log ($LAST_PID: its pid)
bg() {
    local name=$1; shift
    : >"$WORK/$name.log"   # truncate now, not in the background: wait_log must not see an old log
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

# stop PID...: SIGTERM, then wait for it
stop() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# stop_all: the recorder, every process bg started, nginx if one runs, the temporary profiles
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

# cap_start OUTFILE FILTER [TCPDUMP-ARGS...]: record on lo (unless -i is given) into
# $HERE/OUTFILE, as in make.sh: immediate mode (else libpcap hands packets over in blocks and
# tcpdump, stopped with SIGINT, loses the last ones), a 32 MiB buffer (immediate mode uses one
# ring slot per packet), -U
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

# peers_log LOG...: keep what the peers printed ($WORK/LOG.log, in this order) as $HERE/$SCEN.log
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

# ------------------------------------------------------------- browsers ----

# collector_up: peers/tls/collector.py on 127.0.0.1:$COLLECTOR_PORT, writing $HERE/NAME.browser.json
collector_up() {
    rm -f "$HERE/$SCEN.browser.json"
    bg collector "$PY" "$TLS/collector.py" "$HERE" "$COLLECTOR_PORT"
    wait_log collector listening
}

# spki: Chromium's flag to accept the test certificate (base64 sha256 of its SPKI)
spki() { echo "--ignore-certificate-errors-spki-list=$(cat "$TLS/server.spki")"; }

# browser_run chromium|firefox PORT MODE [EXTRA-ARGS...]: open $(page_url PORT MODE) in a
# headless browser with SSLKEYLOGFILE=$WORK/$SCEN.sslkeys and a fresh profile, wait (up to 20 s)
# for its report, give it 1 s more, then end the browser (SIGTERM) while the recorder still
# runs, so that what the browser still had open ends in the capture too. Firefox: --trust-ca
# makes the profile's NSS store trust the test CA (certutil); the other EXTRA-ARGS go to Chromium.
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

# ----------------------------------------------------------------- main ----

# lib_main SCRIPT-NAME ARGS...: --list, --setup (calls setup), or make the named scenarios
# (default: every one in SCENARIOS), each with SCEN set, stop_all after each
lib_main() {
    local me=$1; shift
    case "${1:-}" in
        --list) printf '%s\n' "${SCENARIOS[@]}"; return ;;
        --setup) setup; return ;;
    esac
    [[ $EUID -eq 0 ]] || { echo "$me: run as root (tcpdump, apt-get)" >&2; exit 2; }
    local names=("$@") name start=$SECONDS
    ((${#names[@]})) || names=("${SCENARIOS[@]}")
    for name in "${names[@]}"; do
        [[ " ${SCENARIOS[*]} " == *" $name "* ]] || { echo "$me: unknown scenario $name (see --list)" >&2; exit 2; }
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
