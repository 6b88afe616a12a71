#!/usr/bin/env bash
# Runs every fuzz target in turn, each for SECONDS (default 1800) or 10 M executions, whichever
# comes first, on one core at low priority. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks the nightly flags cargo-fuzz passes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Built with overflow checks (-a) and no sanitizer (-s none): the crate forbids unsafe code, so
# the bugs to find are panics, overflows, hangs and unbounded allocation, which libFuzzer's own
# -timeout and -rss_limit_mb catch. New corpus entries are written beside the committed seeds
# (ignored by git); crashes go to fuzz/artifacts/<target>/, logs to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-1800}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(capture_reader decode reassembly http_head ws_frames pipeline tls)
fi
export RUSTC_BOOTSTRAP=1
flags=(-O -a -s none)
nice -n 10 cargo fuzz build "${flags[@]}"
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    echo "== $t: up to ${secs}s or 10000000 runs"
    mkdir -p "fuzz/artifacts/$t"
    status=0
    # Whole captures need room: a head over 16 kB or a frame across many segments.
    max_len=4096
    case "$t" in capture_reader | pipeline) max_len=32768 ;; esac
    nice -n 10 cargo fuzz run "${flags[@]}" "$t" -- -max_len="$max_len" \
        -jobs=1 -workers=1 -runs=10000000 -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=512 -print_final_stats=1 \
        >"fuzz/logs/$t.log" 2>&1 || status=$?
    # With -jobs, libFuzzer writes the worker's output to fuzz-0.log in the working directory.
    if [ -f fuzz-0.log ]; then cat fuzz-0.log >>"fuzz/logs/$t.log"; rm -f fuzz-0.log; fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|==ERROR|panicked|SUMMARY' "fuzz/logs/$t.log" | awk '!seen[$0]++' | sed "s/^/   /" || true
    ls "fuzz/artifacts/$t" | sed "s/^/   artifact: /" || true
    [ "$status" -eq 0 ] || echo "   exit status $status"
done
