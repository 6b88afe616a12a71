"""Write captures/paths/NAME.truth.json for captures/make-paths.sh.

The peers' own REPORT lines, the iptables rules and sysctls with their times, the TTL each host
starts its packets with, facts from tshark for both captures (every RST and FIN, retransmissions
and the largest TCP payload per direction, ICMP messages, the TTLs seen per source), and what
wsdiag says of each capture today (its table output).
"""
import argparse
import collections
import json
import os
import subprocess


def tshark(pcap, flt, *fields):
    cmd = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    if flt:
        cmd += ["-Y", flt]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def facts(pcap, start):
    f = {}
    rows = tshark(pcap, "tcp.flags.reset==1 || tcp.flags.fin==1", "frame.number", "frame.time_epoch",
                  "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "ip.ttl", "tcp.flags.str",
                  "tcp.seq_raw", "tcp.ack_raw", "tcp.len")
    f["rst_and_fin"] = [dict(frame=int(r[0]), t=round(float(r[1]) - start, 6), src=f"{r[2]}:{r[3]}",
                             dst=f"{r[4]}:{r[5]}", ttl=int(r[6]), flags=r[7].replace("\u00b7", "."),
                             seq_raw=int(r[8]), ack_raw=int(r[9] or 0), len=int(r[10]))
                        for r in rows]
    retr = collections.Counter()
    for r in tshark(pcap, "tcp.analysis.retransmission", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport"):
        retr[f"{r[0]}:{r[1]} -> {r[2]}:{r[3]}"] += 1
    f["retransmissions"] = dict(retr)
    big = {}
    count = collections.Counter()
    ttls = collections.defaultdict(collections.Counter)
    for r in tshark(pcap, "ip", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tcp.len", "ip.ttl", "ip.proto"):
        ttls[r[0]][int(r[5])] += 1
        if r[6] != "6":
            continue
        d = f"{r[0]}:{r[1]} -> {r[2]}:{r[3]}"
        count[d] += 1
        big[d] = max(big.get(d, 0), int(r[4] or 0))
    f["tcp_packets"] = dict(count)
    f["largest_tcp_payload"] = big
    f["ttls_by_source"] = {src: dict(c) for src, c in ttls.items()}
    f["icmp"] = [dict(frame=int(r[0]), t=round(float(r[1]) - start, 6), src=r[2], dst=r[3], ttl=int(r[4]),
                      type=int(r[5]), code=int(r[6]), mtu=int(r[7]) if r[7] else None)
                 for r in tshark(pcap, "icmp", "frame.number", "frame.time_epoch", "ip.src", "ip.dst",
                                 "ip.ttl", "icmp.type", "icmp.code", "icmp.mtu")]
    n = tshark(pcap, "", "frame.number", "frame.time_epoch")
    f["packets"] = len(n)
    f["first_t"] = n and round(float(n[0][1]) - start, 6)
    f["last_t"] = n and round(float(n[-1][1]) - start, 6)
    return f


def reports(path):
    out, other = [], []
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("REPORT "):
                out.append(json.loads(line[7:]))
            elif line.strip():
                other.append(line.rstrip("\n"))
    return out, other


def timed(path, start):
    out = []
    if os.path.exists(path):
        for line in open(path):
            if "\t" in line:
                t, what = line.rstrip("\n").split("\t", 1)
                out.append(dict(t=round(float(t) - start, 6), t_epoch=float(t), what=what))
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("--scenario", "--dir", "--work", "--wsdiag", "--note"):
        ap.add_argument(a, required=True)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--ttl", action="append", default=[])
    ap.add_argument("--addr", action="append", default=[])
    a = ap.parse_args()
    s = a.start
    t = dict(scenario=a.scenario, note=a.note,
             times="t values are seconds after the client peer was started (start_epoch); "
                   "the peers' own events keep epoch times",
             start_epoch=s,
             hosts={k: dict(address=v) for k, v in (x.split("=", 1) for x in a.addr)},
             rules=timed(os.path.join(a.work, "rules.log"), s),
             settings=timed(os.path.join(a.work, "topology.log"), s))
    for x in a.ttl:
        k, v = x.split("=", 1)
        t["hosts"][k]["ip_default_ttl"] = int(v)
    ct = os.path.join(a.work, "conntrack.log")
    if os.path.exists(ct) and os.path.getsize(ct):
        snaps = []
        for line in open(ct):
            if line.startswith("@@\t"):
                _, ts, label = line.rstrip("\n").split("\t", 2)
                snaps.append(dict(t=round(float(ts) - s, 6), label=label, entries=[]))
            elif line.strip() and snaps:
                snaps[-1]["entries"].append(" ".join(line.split()))
        t["router_conntrack"] = snaps
    peers = {}
    for who in ("client", "server"):
        r, other = reports(os.path.join(a.work, f"{who}.log"))
        peers[who] = dict(reports=r, other_output=other)
    t["peers"] = peers
    t["captures"] = {}
    t["wsdiag_now"] = {}
    for side in ("client", "server"):
        pcap = os.path.join(a.dir, f"{a.scenario}-{side}.pcap")
        t["captures"][f"{a.scenario}-{side}.pcap"] = facts(pcap, s)
        w = subprocess.run([a.wsdiag, "--color", "never", pcap], capture_output=True, text=True)
        t["wsdiag_now"][f"{a.scenario}-{side}.pcap"] = (w.stdout.replace(a.dir + "/", "")).splitlines()
    path = os.path.join(a.dir, f"{a.scenario}.truth.json")
    with open(path, "w") as fh:
        json.dump(t, fh, indent=1)
        fh.write("\n")
    os.chmod(path, 0o644)


if __name__ == "__main__":
    main()
