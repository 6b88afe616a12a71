#!/usr/bin/env bash
# One wsdiag per capture file, as a fleet runs it: the files one after another against
# N at a time (GNU parallel -j N, and xargs -P N), on every core of this machine.
#
#   benches/fanout.sh CAPTURE [PIECES]
#
# Splits CAPTURE into PIECES files (default 8, `editcap -c`, into a temporary directory), then
# times, each best of RUNS (default 3), output to one NDJSON file per input:
#   sequential      for f in pieces; do wsdiag --ndjson --sensor S f > out/f.ndjson; done
#   parallel -j J   GNU parallel, J = the number of cores (nproc) unless JOBS is set
#   xargs -P J      the same with xargs
# and checks that the three give the same lines (sorted). Prints a markdown table: wall time,
# GB/s over all pieces, the speed-up against sequential.
#
# Environment: WSDIAG (default target/release/wsdiag of this repo), RUNS=3, JOBS=$(nproc),
# KEYS (a key log given to every run as --keylog; default CAPTURE.keys if it exists).
set -euo pipefail

CAP=${1:?usage: fanout.sh CAPTURE [PIECES]}
PIECES=${2:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
WSDIAG=${WSDIAG:-$HERE/../target/release/wsdiag}
RUNS=${RUNS:-3}
JOBS=${JOBS:-$(nproc)}
if [ -z "${KEYS+set}" ] && [ -r "$CAP.keys" ]; then KEYS=$CAP.keys; fi
KEYS=${KEYS:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ -x "$WSDIAG" ] || { echo "fanout.sh: no wsdiag at $WSDIAG (cargo build --release)" >&2; exit 2; }
missing=()
command -v parallel >/dev/null || missing+=(parallel)
command -v editcap >/dev/null || missing+=(tshark)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

packets=$(capinfos -M -c "$CAP" | awk -F': *' '/^Number of packets/ {print $2}')
per=$(( (packets + PIECES - 1) / PIECES ))
mkdir -p "$TMP/in"
editcap -c "$per" "$CAP" "$TMP/in/piece.pcap"
bytes=$(cat "$TMP"/in/* | wc -c)
n=$(ls "$TMP/in" | wc -l)
KEYARG=()
if [ -n "$KEYS" ]; then KEYARG=(--keylog "$KEYS"); fi
export WSDIAG
K=${KEYARG[*]:-}

# one(FILE OUTDIR): what every mode runs per file
cat >"$TMP/one" <<EOF
#!/usr/bin/env bash
exec "$WSDIAG" $K --ndjson --sensor bench "\$1" > "\$2/\$(basename "\$1").ndjson"
EOF
chmod +x "$TMP/one"

run() {   # run NAME CMD...: best wall time of RUNS into $TMP/rows
  local name=$1 best= t0 t1 w
  shift
  for ((r = 1; r <= RUNS; r++)); do
    rm -rf "$TMP/out" && mkdir "$TMP/out"
    cat "$TMP"/in/* >/dev/null
    t0=$(date +%s%N)
    "$@"
    t1=$(date +%s%N)
    w=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
    echo "  $name: $w s" >&2
    if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$w; fi
  done
  cat "$TMP"/out/*.ndjson | sort >"$TMP/lines.$(printf %s "$name" | tr -c "a-z0-9" _)"
  echo "$name|$best" >>"$TMP/rows"
}
seq_all() { for f in "$TMP"/in/*; do "$TMP/one" "$f" "$TMP/out"; done; }
run "sequential" seq_all
run "parallel -j $JOBS" parallel -j "$JOBS" "$TMP/one" {} "$TMP/out" ::: "$TMP"/in/*
run "xargs -P $JOBS" sh -c "ls -d '$TMP'/in/* | xargs -P '$JOBS' -I{} '$TMP/one' {} '$TMP/out'"

same=yes
for f in "$TMP"/lines.*; do cmp -s "$f" "$TMP/lines.sequential" || same=no; done
lines=$(wc -l <"$TMP/lines.sequential")

echo
echo "\`$(basename "$CAP")\` split into $n files (\`editcap -c $per\`, $bytes bytes in all)$([ -n "$KEYS" ] && echo ", \`--keylog $(basename "$KEYS")\`"); \`wsdiag --ndjson\` per file, one NDJSON file each; $(nproc) cores; best of $RUNS."
echo
echo "| run | wall (s) | GB/s | speed-up |"
echo "| --- | ---: | ---: | ---: |"
awk -F'|' -v b="$bytes" 'NR == 1 {s = $2} {printf "| %s | %.2f | %.2f | %.2f× |\n", $1, $2, b / $2 / 1e9, s / $2}' "$TMP/rows"
echo
echo "NDJSON lines: $lines; the same lines in every mode: $same"
[ "$same" = yes ]
