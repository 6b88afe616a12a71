#!/usr/bin/env bash
# Sustained live analysis rate: replays a capture with tcpreplay onto a veth pair inside a
# network namespace made here, at increasing packet rates, while `wsdiag live` (built with
# --features live) analyses the other end; prints, per rate, what libpcap received and dropped.
# Usage: sudo benches/live-rate.sh CAPTURE [RATES...]      (RATES in packets/s; "top" = as fast as possible)
# SETTLE=S: seconds between the end of the replay and the SIGINT (default 1).
set -euo pipefail
cap=${1:?capture}; shift
rates=("${@:-50000 100000 200000 top}")
read -r -a rates <<<"${rates[*]}"
bin=${WSDIAG:-target/release/wsdiag}
ns=wsdiag-rate-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link add wsa type veth peer name wsb
ip netns exec "$ns" ip link set wsa up
ip netns exec "$ns" ip link set wsb up
pkts=$(capinfos -M -c "$cap" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
echo "| rate asked (pkt/s) | replayed | rate achieved (pkt/s) | Mbit/s | libpcap received | dropped by kernel | dropped by interface | wsdiag connections | exit after SIGINT (s) |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rates[@]}"; do
  out=$(mktemp); err=$(mktemp)
  ip netns exec "$ns" taskset -c 0 "$bin" live -i wsb --ndjson >"$out" 2>"$err" &
  pid=$!
  until grep -q "capturing on" "$err"; do sleep 0.1; done
  if [ "$r" = top ]; then speed=(--topspeed); else speed=(--pps="$r"); fi
  rep=$(ip netns exec "$ns" taskset -c 1 tcpreplay -i wsa "${speed[@]}" "$cap" 2>&1)
  sleep "${SETTLE:-1}"
  t0=$(date +%s.%N)
  kill -INT "$pid"; wait "$pid" || true
  t1=$(date +%s.%N)
  sent=$(grep -o 'Actual: [0-9]* packets' <<<"$rep" | grep -o '[0-9]*' | head -1)
  rated=$(grep -o 'Rated: [0-9.]* Bps, [0-9.]* Mbps, [0-9.]* pps' <<<"$rep" | head -1)
  rate=$(grep -o '[0-9.]* pps' <<<"$rated")
  mbps=$(grep -o '[0-9.]* Mbps' <<<"$rated")
  stats=$(grep -o 'libpcap: .*' "$err")
  recv=$(grep -o '[0-9]* received' <<<"$stats" | grep -o '[0-9]*')
  kdrop=$(grep -o '[0-9]* dropped by the kernel' <<<"$stats" | grep -o '^[0-9]*')
  idrop=$(grep -o '[0-9]* dropped by the interface' <<<"$stats" | grep -o '^[0-9]*')
  echo "| $r | $sent | ${rate% pps} | ${mbps% Mbps} | $recv | $kdrop | $idrop | $(wc -l <"$out") | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') |"
  rm -f "$out" "$err"
done
echo "(capture: $cap, ${pkts:-?} packets)"
