#!/usr/bin/env bash
# End-to-end timing of wsdiag against tshark and a bare libpcap read, in one run, on one file,
# on one core.
#
#   benches/e2e.sh CAPTURE [PORT]          (PORT: the WebSocket server port, default 8080)
#
# Times, each pinned to one core with `taskset -c $CPU`, output to /dev/null, the file in the
# page cache (dropped from it and read in once before the first run, see FRESH):
#   wsdiag CAPTURE                  the table
#   wsdiag --json CAPTURE           the JSON report
#   wsdiag CAPTURE.gz               the same capture compressed with gzip -1 (made next to
#                                   CAPTURE if missing and GZIP=1)
#   gzip -dc CAPTURE.gz             decompression alone (a floor for the row above)
#   wsdiag CAPTURE CAPTURE          the capture twice as one capture (flat-memory check)
#   wsdiag --ndjson CAPTURE [CAPTURE]   streamed output, once and twice (memory per connection)
#   tshark ... -Y websocket         tshark reading every packet, reassembling TCP, dissecting
#                                   HTTP and every WebSocket frame, one summary line per frame
#                                   (HTTP/2: -Y http2, every HTTP/2 frame; tshark 4.0 does not
#                                   dissect the WebSocket frames inside DATA)
#   tshark ... -T fields -e frame.number   the same with a fields output
#   tcpdump -r CAPTURE -w /dev/null the bare libpcap read (a floor for any pcap reader)
# For each: wall time (best of RUNS; tshark best of TSHARK_RUNS), GB/s (file bytes / wall),
# packets/s, peak RSS (/usr/bin/time's "Maximum resident set size" of the best run), and the
# ratios to tshark (the faster tshark row) and to tcpdump. Prints a markdown table.
# If CAPTURE.fates.jsonl exists (written by make-large-capture.sh or make-short-capture.sh),
# wsdiag's verdicts are checked connection by connection against what the client library saw:
# wsdiag --ndjson is read line by line (a million connections' JSON report would not fit in
# Python's memory), connections are matched by (client address if the fates record it, client
# port, HTTP/2 stream) and, where such a key repeats, by order (k-th use ↔ k-th connection).
#
# Short connections: TSHARK_CAP=FILE runs the tshark rows on FILE instead of CAPTURE (a smaller
# capture of the same load, e.g. short-100k.pcap for short-1m.pcap, when tshark would take too
# long or too much memory on CAPTURE); the table says so, their GB/s are of FILE, and the
# "speed vs tshark" ratios compare bytes per second (the same as connections per second when
# the two captures have the same mix).
#
# wss: with KEYS=FILE (an NSS key log), or if CAPTURE.keys exists (written by
# `TLS=1 make-large-capture.sh`), every wsdiag row gets `--keylog FILE` and a row without it is
# added (TLS records only, nothing decrypted); the tshark rows get `-o tls.keylog_file:FILE`
# and `-d tcp.port==PORT,tls -d tls.port==PORT,http` (TLS on the odd port, HTTP inside it);
# the verdict check also compares wsdiag's TLS version and cipher with the client's. KEYS=
# (empty) turns this off.
#
# Rows marked "two cores" run with `taskset -c $CPUS2` (0,1): wsdiag then reads the file (and
# inflates a gzip'd one) on a second thread, and diagnoses and renders finished connections on
# a third; the other rows have one core, where it does everything on one thread.
# "--no-inflate" shows what permessage-deflate inflation costs.
#
# HTTP/2: H2=1 (default: when the fates records name streams, as `H2=1 make-large-capture.sh`
# writes them) matches connections by (client port, stream) and gives tshark http2 on PORT.
#
# Environment: WSDIAG (default: target/release/wsdiag of this repo), CPU=1, CPUS2=0,1, RUNS=3,
# TSHARK_RUNS=1, GZIP=1 (0: skip the gzip row), TSHARK=1 (0: skip tshark), FRESH=1 (0: do not
# drop the capture from the page cache before reading it in), KEYS (default CAPTURE.keys if it
# exists), TSHARK_CAP (default CAPTURE).
set -euo pipefail

CAP=${1:?usage: e2e.sh CAPTURE [PORT]}
PORT=${2:-8080}
HERE=$(cd "$(dirname "$0")" && pwd)
WSDIAG=${WSDIAG:-$HERE/../target/release/wsdiag}
CPU=${CPU:-1}
CPUS2=${CPUS2:-0,1}
RUNS=${RUNS:-3}
TSHARK_RUNS=${TSHARK_RUNS:-1}
GZIP=${GZIP:-1}
TSHARK=${TSHARK:-1}
FRESH=${FRESH:-1}
TSHARK_CAP=${TSHARK_CAP:-$CAP}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ -x "$WSDIAG" ] || { echo "e2e.sh: no wsdiag at $WSDIAG (cargo build --release)" >&2; exit 2; }
[ -r "$CAP" ] || { echo "e2e.sh: cannot read $CAP" >&2; exit 2; }
if [ -z "${KEYS+set}" ] && [ -r "$CAP.keys" ]; then KEYS=$CAP.keys; fi
KEYS=${KEYS:-}
# HTTP/2 (RFC 8441): the fates of `H2=1 make-large-capture.sh` name each WebSocket's stream
if [ -z "${H2+set}" ]; then
  H2=0
  if [ -r "$CAP.fates.jsonl" ] && head -1 "$CAP.fates.jsonl" | grep -q '"stream":'; then H2=1; fi
fi
TS_FILTER=websocket
if [ "$H2" = 1 ]; then TS_FILTER=http2; fi
KEYLOG=()
if [ -n "$KEYS" ]; then
  [ -r "$KEYS" ] || { echo "e2e.sh: cannot read the key log $KEYS" >&2; exit 2; }
  KEYLOG=(--keylog "$KEYS")
fi
missing=()
command -v tshark >/dev/null || missing+=(tshark)
command -v tcpdump >/dev/null || missing+=(tcpdump)
[ -x /usr/bin/time ] || missing+=(time)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

size=$(stat -L -c %s "$CAP")
packets=$(capinfos -M -c "$CAP" | awk -F': *' '/^Number of packets/ {print $2}')
ts_size=$size ts_packets=$packets
if [ "$TSHARK_CAP" != "$CAP" ]; then
  [ -r "$TSHARK_CAP" ] || { echo "e2e.sh: cannot read $TSHARK_CAP" >&2; exit 2; }
  ts_size=$(stat -L -c %s "$TSHARK_CAP")
  ts_packets=$(capinfos -M -c "$TSHARK_CAP" | awk -F': *' '/^Number of packets/ {print $2}')
fi
# Into the page cache, from disk: every tool below reads from memory, and from the same state of
# it. How pages came to be cached changes how fast they are read back: on this VM, `dd bs=128k`
# of the benchmark capture took 0.21-0.22 s with the pages it happened to have, 0.14-0.18 s
# once the file was dropped from the cache and read again (fewer, larger page-cache folios).
# FRESH=0 keeps whatever is cached.
if [ "$FRESH" = 1 ]; then dd if="$CAP" iflag=nocache count=0 status=none; fi
cat "$CAP" >/dev/null

if [ "$GZIP" = 1 ]; then
  GZ=$CAP.gz
  if [ ! -e "$GZ" ] || [ "$GZ" -ot "$CAP" ]; then
    echo "making $GZ (gzip -1)..." >&2
    taskset -c "$CPU" gzip -1 -c "$CAP" >"$GZ.tmp" && mv "$GZ.tmp" "$GZ"
  fi
  gzsize=$(stat -L -c %s "$GZ")
  if [ "$FRESH" = 1 ]; then dd if="$GZ" iflag=nocache count=0 status=none; fi
  cat "$GZ" >/dev/null
fi

# job NAME BYTES PACKETS RUNS CMD...: queue a command. The jobs run in rounds (every job once per
# round, in order), so that whatever else the machine is doing weighs on all of them alike.
NJOBS=0
JOB_ON=$CPU
job() {
  JOB_NAME[NJOBS]=$1 JOB_BYTES[NJOBS]=$2 JOB_PKTS[NJOBS]=$3 JOB_RUNS[NJOBS]=$4 JOB_CPUS[NJOBS]=$JOB_ON; shift 4
  JOB_CMD[NJOBS]=$(printf '%q ' "$@")
  NJOBS=$((NJOBS + 1))
}
# run_once I: one timed run of job I; appends "I|wall_s|cpu_s|rss_kb" to $TMP/runs. Wall time
# from a ns clock around /usr/bin/time; CPU time (user + sys) and peak RSS from /usr/bin/time.
run_once() {
  local i=$1 t0 t1 wall cpu rss
  # Into the page cache again before every run: on this kind of VM the host takes file pages
  # back within minutes (a 1.2 GB capture was down to 817 MB cached ten minutes after it was
  # read), so a run after tshark's half minute would otherwise read part of the file from disk.
  cat "$CAP" >/dev/null
  if [ "$GZIP" = 1 ]; then cat "$GZ" >/dev/null; fi
  if [ "$TSHARK_CAP" != "$CAP" ]; then cat "$TSHARK_CAP" >/dev/null; fi
  t0=$(date +%s%N)
  if ! eval "/usr/bin/time -f '%U %S %M' -o \"\$TMP/time\" taskset -c \"\${JOB_CPUS[i]}\" ${JOB_CMD[i]}" \
      >/dev/null 2>"$TMP/err"; then
    echo "e2e.sh: '${JOB_CMD[i]}' failed:" >&2; tail -5 "$TMP/err" >&2; exit 1
  fi
  t1=$(date +%s%N)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  read -r u sy rss < <(tail -1 "$TMP/time")
  cpu=$(awk -v u="$u" -v s="$sy" 'BEGIN {printf "%.2f", u + s}')
  echo "  ${JOB_NAME[i]}: ${wall} s wall, ${cpu} s CPU, peak RSS ${rss} KB" >&2
  echo "$i|$wall|$cpu|$rss" >>"$TMP/runs"
}

echo "measuring on CPU $CPU (load average before: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
CMD_WSDIAG=$(basename "$WSDIAG")
W=("$WSDIAG" "${KEYLOG[@]}")
job "wsdiag (table)" "$size" "$packets" "$RUNS" "${W[@]}" "$CAP"
job "wsdiag --json" "$size" "$packets" "$RUNS" "${W[@]}" --json "$CAP"
job "wsdiag --ndjson" "$size" "$packets" "$RUNS" "${W[@]}" --ndjson "$CAP"
job "wsdiag --no-inflate (table)" "$size" "$packets" "$RUNS" "${W[@]}" --no-inflate "$CAP"
if [ -n "$KEYS" ]; then
  job "wsdiag (table), no key log" "$size" "$packets" "$RUNS" "$WSDIAG" "$CAP"
fi
# Both cores allowed: the file is read (a gzip'd one inflated) on a second thread
# (capture::open), and finished connections are diagnosed and rendered on another (main.rs).
JOB_ON=$CPUS2
job "wsdiag (table), two cores" "$size" "$packets" "$RUNS" "${W[@]}" "$CAP"
job "wsdiag --json, two cores" "$size" "$packets" "$RUNS" "${W[@]}" --json "$CAP"
job "wsdiag --ndjson, two cores" "$size" "$packets" "$RUNS" "${W[@]}" --ndjson "$CAP"
JOB_ON=$CPU
job "wsdiag (table), capture twice" "$((2 * size))" "$((2 * packets))" "$RUNS" "${W[@]}" "$CAP" "$CAP"
job "wsdiag --ndjson, capture twice" "$((2 * size))" "$((2 * packets))" "$RUNS" "${W[@]}" --ndjson "$CAP" "$CAP"
if [ "$GZIP" = 1 ]; then
  job "wsdiag (table), gzip -1 input" "$size" "$packets" "$RUNS" "${W[@]}" "$GZ"
  JOB_ON=$CPUS2
  job "wsdiag (table), gzip -1 input, two cores" "$size" "$packets" "$RUNS" "${W[@]}" "$GZ"
  JOB_ON=$CPU
  job "gzip -dc (decompression alone)" "$size" "$packets" "$RUNS" gzip -dc "$GZ"
fi
job "tcpdump -r (bare libpcap read)" "$size" "$packets" "$RUNS" tcpdump -r "$CAP" -w /dev/null
if [ "$TSHARK" = 1 ]; then
  TS=(tshark -r "$TSHARK_CAP" -o tcp.reassemble_out_of_order:TRUE)
  if [ -n "$KEYS" ]; then
    TS+=(-o "tls.keylog_file:$KEYS" -d "tcp.port==$PORT,tls")
    # HTTP/1.1 inside TLS on the odd port; h2 is chosen by ALPN
    if [ "$H2" != 1 ]; then TS+=(-d "tls.port==$PORT,http"); fi
  elif [ "$H2" = 1 ]; then
    TS+=(-d "tcp.port==$PORT,http2")
  else
    TS+=(-d "tcp.port==$PORT,http")
  fi
  TS_NOTE=
  if [ "$TSHARK_CAP" != "$CAP" ]; then TS_NOTE=" (on $(basename "$TSHARK_CAP"))"; fi
  job "tshark -Y $TS_FILTER$TS_NOTE" "$ts_size" "$ts_packets" "$TSHARK_RUNS" "${TS[@]}" -Y "$TS_FILTER"
  job "tshark -Y $TS_FILTER -T fields$TS_NOTE" "$ts_size" "$ts_packets" "$TSHARK_RUNS" \
    "${TS[@]}" -Y "$TS_FILTER" -T fields -e frame.number
fi
maxruns=$(printf '%s\n' "${JOB_RUNS[@]}" | sort -n | tail -1)
for ((r = 1; r <= maxruns; r++)); do
  echo " round $r/$maxruns" >&2
  for ((i = 0; i < NJOBS; i++)); do
    [ "$r" -le "${JOB_RUNS[i]}" ] && run_once "$i"
  done
done
# the best run of each job (least wall time), its CPU time and peak RSS
for ((i = 0; i < NJOBS; i++)); do
  best=$(awk -F'|' -v i="$i" '$1 == i' "$TMP/runs" | sort -t'|' -k2,2g | head -1)
  IFS='|' read -r _ wall cpu rss <<<"$best"
  echo "${JOB_NAME[i]}|$wall|$rss|${JOB_BYTES[i]}|${JOB_PKTS[i]}|${JOB_CMD[i]% }|$cpu|${JOB_CPUS[i]}" >>"$TMP/rows"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- the table -----------------------------------------------------------------------------
echo
echo "Capture: \`$(basename "$CAP")\`, $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.2f", s / 1e9}') GB), $packets packets$([ "$GZIP" = 1 ] && echo ", gzip -1: $gzsize bytes")$([ -n "$KEYS" ] && echo ", key log \`$(basename "$KEYS")\` ($(wc -l <"$KEYS") lines; wsdiag \`--keylog\`, tshark \`-o tls.keylog_file\`)"). One core (\`taskset -c $CPU\`) unless the row says two cores (\`taskset -c $CPUS2\`), file in the page cache, output to /dev/null; best wall time of $RUNS runs (tshark: of $TSHARK_RUNS), the runs interleaved; CPU = user + sys of that run; GB/s and packets/s from the wall time, GB per CPU-s from the CPU time (steadier when the machine is busy); the ratios compare wall times."
if [ "$TSHARK" = 1 ] && [ "$TSHARK_CAP" != "$CAP" ]; then
  echo
  echo "The tshark rows read \`$(basename "$TSHARK_CAP")\` ($ts_size bytes, $ts_packets packets) instead: their GB/s are of that file, and \"speed vs tshark\" compares bytes per second."
fi
echo
awk -F'|' -v tsother="$([ "$TSHARK_CAP" != "$CAP" ] && echo 1)" '
  # ratios of rates (bytes per second): for rows on the same bytes, the ratio of wall times;
  # rows reading the capture twice, or tshark on TSHARK_CAP, compare per byte
  { name[NR] = $1; wall[NR] = $2; rss[NR] = $3; bytes[NR] = $4; pk[NR] = $5; cmd[NR] = $6; cpu[NR] = $7
    rate[NR] = $4 / $2
    if ($1 ~ /^tshark/ && (tshark == "" || rate[NR] > tshark)) tshark = rate[NR]
    if ($1 ~ /^tcpdump/) tcpdump = rate[NR] }
  END {
    print "| run | wall (s) | CPU (s) | GB/s | GB per CPU-s | M packets/s | peak RSS (MiB) | speed vs tshark | time vs tcpdump -r |"
    print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (i = 1; i <= NR; i++) {
      vt = (tshark == "" ? "–" : sprintf("%.1f× faster", rate[i] / tshark))
      if (name[i] ~ /^tshark/) vt = (rate[i] == tshark ? "1×" : sprintf("%.2f×", rate[i] / tshark))
      vd = (tcpdump == "" ? "–" : sprintf("%.2f×", tcpdump / rate[i]))
      if (name[i] ~ /twice/ || (tsother && name[i] !~ /^tshark/)) vt = (tshark == "" ? "–" : sprintf("%.1f× faster (per byte)", rate[i] / tshark))
      printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %s | %s |\n", name[i], wall[i], cpu[i], bytes[i] / wall[i] / 1e9, bytes[i] / cpu[i] / 1e9,
        pk[i] / wall[i] / 1e6, rss[i] / 1024, vt, vd
    }
  }' "$TMP/rows"
echo
echo "Commands (\`$CMD_WSDIAG\` = $WSDIAG):"
echo
awk -F'|' '{ printf "- %s: `taskset -c %s %s > /dev/null`\n", $1, $8, $6 }' "$TMP/rows" | sed "s|$WSDIAG|wsdiag|g; s|\\\\,|,|g"
echo
rss() { awk -F'|' -v n="$1" '$1 == n {printf "%.1f", $3 / 1024}' "$TMP/rows"; }
echo "Memory, 1× → 2× the capture (\`wsdiag CAP CAP\`, $((2 * packets)) packets): table $(rss "wsdiag (table)") → $(rss "wsdiag (table), capture twice") MiB; --ndjson $(rss "wsdiag --ndjson") → $(rss "wsdiag --ndjson, capture twice") MiB peak RSS."
echo

# --- verdicts against what the generator did ------------------------------------------------
FATES=$CAP.fates.jsonl
if [ -r "$FATES" ]; then
  echo
  cat >"$TMP/check.py" <<'EOF'
import collections, json, sys
fates = [json.loads(l) for l in open(sys.argv[1])]
# the fates of make-short-capture.sh name the client address (it uses several)
with_ip = any("client_ip" in f for f in fates[:1])
# wsdiag --ndjson on stdin, one connection per line; only what the check needs is kept
SLIM = ("id", "client", "first_packet", "transport", "verdict", "tls")
conns = []
for line in sys.stdin:
    c = json.loads(line)
    if c.get("type") != "connection":
        continue
    slim = {k: c.get(k) for k in SLIM}
    slim["status"] = ((c.get("handshake") or {}).get("response") or {}).get("status")
    v = c["verdict"]
    slim["verdict"] = {k: v.get(k) for k in ("kind", "client_sees", "summary")}
    conns.append(slim)
by_verdict = collections.Counter(c["verdict"]["kind"] for c in conns)
expected = {  # fate -> (verdict kind, client_sees)
    "bulk": ("clean_close", 1000), "deflate": ("clean_close", 1000),
    "close4001": ("clean_close", 4001), "close1011": ("clean_close", 1011),
    "reject": ("handshake_rejected", 1006), "notfound": ("handshake_rejected", 1006),
    "terminate": ("server_abort", 1006), "terminate-rst": ("server_abort", 1006),
    "vanish": ("client_abort", None), "vanish-rst": ("client_abort", None),  # null or 1006
    "idle": ("idle_timeout", 1006), "open": ("still_open", None),
    # HTTP/2: RST_STREAM from the server, a GOAWAY under an open stream
    "rst": ("server_abort", 1006), "goaway": ("server_abort", 1006),
}
# The kernel reuses client ports: match the k-th use of a port in the generator's order (seq)
# with the k-th connection from that port in the capture (by first packet).
# HTTP/2: the key is (client port, stream id); HTTP/1.1: (client port, None). With several
# client addresses (make-short-capture.sh) the address leads the key.
def ckey(c):
    ip, port = c["client"].rsplit(":", 1)
    return (ip.strip("[]") if with_ip else None, int(port), c["transport"]["stream"])
def fkey(f):
    return (f.get("client_ip"), f["client_port"], f.get("stream"))
by_port = collections.defaultdict(list)
for c in sorted(conns, key=lambda c: c["first_packet"]):
    by_port[ckey(c)].append(c)
gen_by_port = collections.defaultdict(list)
for f in sorted(fates, key=lambda f: f["seq"]):
    gen_by_port[fkey(f)].append(f)
pairs = []
for port, fs in gen_by_port.items():
    cs = by_port.get(port, [])
    for k, f in enumerate(fs):
        pairs.append((f, cs[k] if k < len(cs) and len(cs) == len(fs) else None, len(cs)))
reused = sum(1 for fs in gen_by_port.values() if len(fs) > 1)
print("wsdiag verdicts (--ndjson):", json.dumps(dict(sorted(by_verdict.items()))))
gen = collections.Counter(expected[f["fate"]][0] for f in fates)
print("generator's fates as verdicts:", json.dumps(dict(sorted(gen.items()))))
what = "client (address, port) pairs" if with_ip else "client ports"
print(f"{len(fates)} connections made, {len(conns)} reported; {reused} {what} were used twice or more")
bad = collections.Counter()
examples = {}
for f, c, ncap in pairs:
    kind, sees = expected[f["fate"]]
    if c is None:
        got = f"{ncap} connections from client {f.get('client_ip') or ''}:{f['client_port']} in the capture, {len(gen_by_port[fkey(f)])} made"
    else:
        v = c["verdict"]
        if kind == "client_abort":
            ok = v["kind"] == kind and v["client_sees"] in (None, 1006)
        else:
            ok = v["kind"] == kind and v["client_sees"] == sees
        if kind == "handshake_rejected":
            ok = ok and c["status"] == (404 if f["fate"] == "notfound" else 403)
        if ok:
            continue
        got = f"{v['kind']} client_sees={v['client_sees']} (id {c['id']}: {v['summary']})"
    key = (f["fate"], got.split(" (")[0])
    bad[key] += 1
    examples.setdefault(key, got)
# wss: the TLS version and cipher wsdiag read against the client's TLS socket, and decryption
tls_bad = collections.Counter()
tls_seen = collections.Counter()
for f, c, ncap in pairs:
    if "tls" not in f or c is None:
        continue
    t = c.get("tls") or {}
    want = ((f["tls"] or {}).get("version", "").replace("TLSv", "TLS "), (f["tls"] or {}).get("cipher"))
    got = (t.get("version"), t.get("cipher"))
    tls_seen[(got, t.get("decrypted"))] += 1
    if got != want or t.get("decrypted") is not True:
        tls_bad[(f["fate"], want, got, t.get("decrypted"), t.get("why_not"))] += 1
if tls_seen:
    print("wsdiag's tls (version, cipher, decrypted):",
          "; ".join(f"{n} {v} {ci} decrypted={d}" for ((v, ci), d), n in tls_seen.most_common()))
    if not tls_bad:
        print(f"tls: all {sum(tls_seen.values())} connections decrypted, version and cipher as the client saw them")
    else:
        print(f"tls: {sum(tls_bad.values())} connections differ from the client's TLS socket or are not decrypted:")
        for (fate, want, got, dec, why), n in tls_bad.most_common():
            print(f"  {n:5d}  fate {fate}: client {want}, wsdiag {got} decrypted={dec} why_not={why}")
if not bad:
    print(f"verdicts: all {len(fates)} connections match what the client library saw")
else:
    print(f"verdicts: {sum(bad.values())} of {len(fates)} connections disagree with the generator:")
    for (fate, got), n in bad.most_common():
        print(f"  {n:5d}  fate {fate} (expected {expected[fate][0]}): {examples[(fate, got)]}")
EOF
  "$WSDIAG" ${KEYLOG[@]+"${KEYLOG[@]}"} --ndjson "$CAP" | python3 "$TMP/check.py" "$FATES"
fi
