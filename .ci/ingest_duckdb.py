#!/usr/bin/env python3
"""Loads the NDJSON of every shipped capture into DuckDB with the SQL of docs/ingest.md.

Runs target/release/wsdiag --ndjson on each capture (one run per file; sensor edge-a for all,
edge-b again for the plaintext captures of captures/), writes the lines into two files, runs the
```sql blocks of docs/ingest.md marked `<!-- duckdb: NAME -->` exactly as written (schema, load
twice, the `since` variable, the three fleet queries) and checks the tables and the answers
against what Python reads from the same lines. Then checks every connection line's community_id
with the `communityid` package. Exits 1 on any failure.
"""
import collections
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import communityid
import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WSDIAG = os.path.join(ROOT, "target", "release", "wsdiag")
DOC = os.path.join(ROOT, "docs", "ingest.md")

# Objects whose keys are data (maps), not fixed keys.
MAP_PATHS = {"h2.frames.client", "h2.frames.server", "outcomes"}

passed = 0
failures = []


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(f"{name}: {detail}" if detail else name)
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), file=sys.stderr)


def fatal(msg):
    print(f"FATAL {msg}", file=sys.stderr)
    print(f"ingest: {passed} passed, {len(failures) + 1} failed")
    sys.exit(1)


def doc_blocks():
    text = open(DOC, encoding="utf-8").read()
    blocks = {}
    for name, sql in re.findall(r"<!-- duckdb: ([^>]+?) -->\s*\n```sql\n(.*?)```", text, re.S):
        if name in blocks:
            fatal(f"docs/ingest.md: two duckdb blocks named {name!r}")
        blocks[name] = sql
    want = ["schema", "load", "since", "query verdicts_per_backend", "query handshake_latency", "query idle_cuts"]
    missing = [w for w in want if w not in blocks]
    if missing:
        fatal(f"docs/ingest.md has no ```sql block marked <!-- duckdb: X --> for {missing}")
    return blocks


def run_block(con, blocks, name, what=""):
    """Runs one duckdb block of docs/ingest.md; a SQL error is fatal, with the block's name."""
    try:
        return con.execute(blocks[name]).fetchall()
    except duckdb.Error as e:
        fatal(f"docs/ingest.md's duckdb block {name!r}{what} failed: {e}")


def captures():
    out = []
    for dirpath, dirnames, files in os.walk(os.path.join(ROOT, "captures")):
        dirnames[:] = sorted(d for d in dirnames if d != "peers")
        for f in sorted(files):
            if f.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz")):
                out.append(os.path.relpath(os.path.join(dirpath, f), ROOT))
    return out


def keylog_for(cap):
    base = cap
    for suffix in (".gz", ".pcapng", ".pcap", "-dsb"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    keys = base + ".keys"
    return keys if os.path.exists(os.path.join(ROOT, keys)) else None


def run_wsdiag(cap, sensor):
    cmd = [WSDIAG, "--ndjson", "--sensor", sensor]
    k = keylog_for(cap)
    if k:
        cmd += ["--keylog", k]
    cmd.append(cap)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        fatal(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    for l in lines:
        try:
            json.loads(l)
        except ValueError as e:
            fatal(f"{' '.join(cmd)}: a line is not JSON ({e}): {l[:200]}")
    return lines


def key_shapes(obj, path, shapes, typ):
    if isinstance(obj, dict):
        if path not in MAP_PATHS:
            shapes[(typ, path)].add(tuple(sorted(obj)))
        for k, v in obj.items():
            key_shapes(v, f"{path}.{k}" if path else k, shapes, typ)
    elif isinstance(obj, list):
        for v in obj:
            key_shapes(v, path + "[]", shapes, typ)


def get(d, *path):
    for p in path:
        if d is None:
            return None
        d = d.get(p)
    return d


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


# Column -> its value from a connection line, as docs/ingest.md describes the table.
CONNECTION_COLUMNS = {
    "uid": lambda d: d["uid"],
    "sensor": lambda d: d["sensor"],
    "schema_version": lambda d: d["schema"],
    "input_path": lambda d: d["input"]["path"],
    "id": lambda d: d["id"],
    "transport_kind": lambda d: d["transport"]["kind"],
    "tcp_id": lambda d: d["transport"]["tcp_id"],
    "h2_stream": lambda d: d["transport"]["stream"],
    "client": lambda d: d["client"],
    "client_ip": lambda d: d["client_ip"],
    "client_port": lambda d: d["client_port"],
    "server": lambda d: d["server"],
    "server_ip": lambda d: d["server_ip"],
    "server_port": lambda d: d["server_port"],
    "community_id": lambda d: d["community_id"],
    "start_ts": lambda d: ts(d["start"]),
    "end_ts": lambda d: ts(d["end"]),
    "duration_ms": lambda d: d["duration_ms"],
    "packets": lambda d: d["packets"],
    "verdict_kind": lambda d: d["verdict"]["kind"],
    "verdict_outcome": lambda d: d["verdict"]["outcome"],
    "client_sees": lambda d: d["verdict"]["client_sees"],
    "server_sees": lambda d: d["verdict"]["server_sees"],
    "verdict_summary": lambda d: d["verdict"]["summary"],
    "request_method": lambda d: get(d, "handshake", "request", "method"),
    "request_uri": lambda d: get(d, "handshake", "request", "uri"),
    "request_host": lambda d: get(d, "handshake", "request", "host"),
    "request_origin": lambda d: get(d, "handshake", "request", "origin"),
    "request_user_agent": lambda d: get(d, "handshake", "request", "user_agent"),
    "client_family": lambda d: get(d, "handshake", "request", "client"),
    "response_status": lambda d: get(d, "handshake", "response", "status"),
    "response_server": lambda d: get(d, "handshake", "response", "server"),
    "handshake_latency_ms": lambda d: d["handshake"]["latency_ms"],
    "teardown_by": lambda d: get(d, "tcp", "first_teardown", "by"),
    "teardown_kind": lambda d: get(d, "tcp", "first_teardown", "kind"),
    "teardown_origin": lambda d: get(d, "tcp", "first_teardown", "origin"),
    "teardown_at_ms": lambda d: get(d, "tcp", "first_teardown", "at_ms"),
    "tls_version": lambda d: get(d, "tls", "version"),
    "tls_cipher": lambda d: get(d, "tls", "cipher"),
    "tls_sni": lambda d: get(d, "tls", "sni"),
    "tls_alpn": lambda d: get(d, "tls", "alpn"),
    "tls_decrypted": lambda d: get(d, "tls", "decrypted"),
    "close_codes": lambda d: [f["code"] for f in d["websocket"]["close_frames"]],
    "violation_kinds": lambda d: [v["kind"] for v in d["websocket"]["violations"]],
    "line": lambda d: d,
}


def quantile_cont(values, q):
    a = sorted(values)
    pos = (len(a) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return a[lo] + (a[hi] - a[lo]) * (pos - lo)


def close(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, (int, float)) and abs(a - b) < 1e-9)


def rows_equal(got, want):
    if len(got) != len(want):
        return False
    return all(len(g) == len(w) and all(close(x, y) for x, y in zip(g, w)) for g, w in zip(got, want))


def expected_verdicts(conns, since):
    groups = collections.defaultdict(list)
    for d in conns:
        if ts(d["start"]) >= since:
            groups[(d["server"], d["verdict"]["kind"], get(d, "handshake", "response", "status"))].append(d)
    rows = [(s, k, st, len(v), len({d["sensor"] for d in v})) for (s, k, st), v in groups.items()]
    return sorted(rows, key=lambda r: (r[0], -r[3], r[1], r[2] is None, r[2] or 0))


def expected_latency(conns, since):
    groups = collections.defaultdict(list)
    for d in conns:
        lat = d["handshake"]["latency_ms"]
        if ts(d["start"]) >= since and lat is not None:
            groups[d["server"]].append(lat)
    rows = [(s, len(v), quantile_cont(v, 0.5), quantile_cont(v, 0.95), max(v)) for s, v in groups.items()]
    return sorted(rows, key=lambda r: (-r[3], r[0]))


def expected_idle_cuts(conns, proxied, since):
    by_uid = {d["uid"]: d for d in conns}
    groups = collections.defaultdict(list)
    for p in proxied:
        f, b = by_uid[p["front_uid"]], by_uid[p["back_uid"]]
        if ts(f["start"]) < since or "idle_timeout" not in (f["verdict"]["kind"], b["verdict"]["kind"]):
            continue
        fb, bb = get(f, "tcp", "first_teardown", "by"), get(b, "tcp", "first_teardown", "by")
        cut = {("back", "client"): "proxy", ("back", "server"): "upstream"}.get((p["ended_first"], bb))
        if p["ended_first"] == "front":
            cut = {"server": "proxy", "client": "client"}.get(fb)
        groups[(p["sensor"], p["proxy"], p["upstream"], p["ended_first"], cut)].append(f)
    rows = [k + (len(v),) for k, v in groups.items()]
    return sorted(rows, key=lambda r: (-r[5], r[0], r[1], r[2]))


def main():
    t0 = time.monotonic()
    if not os.access(WSDIAG, os.X_OK):
        fatal(f"{WSDIAG} is missing: cargo build --release")
    blocks = doc_blocks()

    caps = captures()
    plain = [c for c in caps if os.path.dirname(c) == "captures"]
    check("shipped captures found", len(caps) >= 60 and len(plain) >= 30, f"{len(caps)} captures, {len(plain)} in captures/")
    runs = {"edge-a": caps, "edge-b": plain}
    lines = {s: [] for s in runs}
    uids_of = {}
    for sensor, cs in runs.items():
        for c in cs:
            out = run_wsdiag(c, sensor)
            uids_of[(sensor, c)] = [json.loads(l)["uid"] for l in out]
            lines[sensor] += out
    objs = [json.loads(l) for s in runs for l in lines[s]]
    conns = [d for d in objs if d["type"] == "connection"]
    loops = [d for d in objs if d["type"] == "reconnect_loop"]
    proxied = [d for d in objs if d["type"] == "proxied"]
    check("only the three line types", len(conns) + len(loops) + len(proxied) == len(objs),
          str(collections.Counter(d["type"] for d in objs)))

    # The contract: every key present in every line of a type.
    shapes = collections.defaultdict(set)
    for d in objs:
        key_shapes(d, "", shapes, d["type"])
    varying = {k: v for k, v in shapes.items() if len(v) > 1}
    check("every line of a type has the same keys", not varying,
          "; ".join(f"{t} {p or '(top)'}: {sorted(map(list, v))}" for (t, p), v in list(varying.items())[:3]))

    # uids: unique across runs, stable for the same capture on the same sensor.
    all_uids = [d["uid"] for d in objs]
    check("uids unique across all lines", len(set(all_uids)) == len(all_uids),
          f"{len(all_uids) - len(set(all_uids))} repeated")
    rerun = run_wsdiag("captures/reconnect-loop.pcap", "edge-a")
    check("same capture, same sensor: same uids",
          [json.loads(l)["uid"] for l in rerun] == uids_of[("edge-a", "captures/reconnect-loop.pcap")])
    check("same capture, other sensor: other uids",
          not set(uids_of[("edge-a", "captures/reconnect-loop.pcap")]) & set(uids_of[("edge-b", "captures/reconnect-loop.pcap")]))

    work = tempfile.mkdtemp(prefix="wsdiag-ingest-")
    try:
        data = os.path.join(work, "data")
        os.mkdir(data)
        for sensor in runs:
            with open(os.path.join(data, f"wsdiag-{sensor}.ndjson"), "w") as f:
                f.write("\n".join(lines[sensor]) + "\n")
        con = duckdb.connect(os.path.join(work, "fleet.duckdb"))
        con.execute("SET TimeZone = 'UTC'")
        os.chdir(data)  # the doc's load reads 'wsdiag-*.ndjson' from the current folder
        run_block(con, blocks, "schema")
        run_block(con, blocks, "load")

        def counts():
            return tuple(con.execute(f"SELECT count(*), count(DISTINCT uid) FROM {t}").fetchone()
                         for t in ("wsdiag_connections", "wsdiag_reconnect_loops", "wsdiag_proxied"))

        first = counts()
        check("connection rows == connection lines == distinct uids",
              first[0] == (len(conns), len({d["uid"] for d in conns})) and len(conns) == len({d["uid"] for d in conns}),
              f"{first[0]} vs {len(conns)} lines")
        check("reconnect_loop rows == lines", first[1] == (len(loops), len(loops)), f"{first[1]} vs {len(loops)}")
        check("proxied rows == lines", first[2] == (len(proxied), len(proxied)), f"{first[2]} vs {len(proxied)}")
        run_block(con, blocks, "schema", " (run again)")  # IF NOT EXISTS: changes nothing
        run_block(con, blocks, "load", " (the same files again)")
        check("loading the same files again adds nothing", counts() == first, f"{counts()} vs {first}")

        # A capture analysed again on the same sensor, and one file twice in the same load.
        again = os.path.join(work, "again")
        os.mkdir(again)
        for n in (1, 2):
            with open(os.path.join(again, f"wsdiag-rerun-{n}.ndjson"), "w") as f:
                f.write("\n".join(rerun) + "\n")
        os.chdir(again)
        run_block(con, blocks, "load", " (a re-analysed capture)")
        check("a re-analysed capture adds nothing", counts() == first, f"{counts()} vs {first}")
        fresh = duckdb.connect()
        run_block(fresh, blocks, "schema")
        run_block(fresh, blocks, "load", " (one file twice)")
        n_rerun = fresh.execute("SELECT count(*) FROM wsdiag_connections").fetchone()[0]
        check("the same uid twice in one load: one row", n_rerun == sum(json.loads(l)["type"] == "connection" for l in rerun) == 4,
              f"{n_rerun} rows")
        fresh.close()
        os.chdir(data)

        # Every column holds what its key holds.
        cols = list(CONNECTION_COLUMNS)
        got = con.execute(f"SELECT {', '.join(cols)} FROM wsdiag_connections").fetchall()
        by_uid = {d["uid"]: d for d in conns}
        bad = collections.Counter()
        for row in got:
            d = by_uid[row[0]]
            for c, v in zip(cols, row):
                want = CONNECTION_COLUMNS[c](d)
                if c == "line":
                    v = json.loads(v)
                if not close(v, want):
                    bad[c] += 1
        check("every connection column equals its key, in every row", not bad and len(got) == len(conns), str(dict(bad)))
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'wsdiag_connections'").fetchall())
        check("start_ts/end_ts are TIMESTAMP WITH TIME ZONE",
              types.get("start_ts") == types.get("end_ts") == "TIMESTAMP WITH TIME ZONE", str(types.get("start_ts")))

        want_kinds = collections.Counter(d["verdict"]["kind"] for d in conns)
        got_kinds = dict(con.execute("SELECT verdict_kind, count(*) FROM wsdiag_connections GROUP BY 1").fetchall())
        check("rows per verdict kind == lines per verdict kind", got_kinds == dict(want_kinds), f"{got_kinds} vs {dict(want_kinds)}")
        got_sensors = dict(con.execute("SELECT sensor, count(*) FROM wsdiag_connections GROUP BY 1").fetchall())
        check("rows per sensor", got_sensors == dict(collections.Counter(d["sensor"] for d in conns)), str(got_sensors))
        got_transport = dict(con.execute("SELECT transport_kind, count(*) FROM wsdiag_connections GROUP BY 1").fetchall())
        check("rows per transport kind", got_transport == dict(collections.Counter(d["transport"]["kind"] for d in conns))
              and got_transport.get("h2", 0) > 0, str(got_transport))

        # The reconnect loop of captures/reconnect-loop.pcap: 4 attempts, all 403.
        loop = con.execute(
            "SELECT attempts, outcomes, connection_uids, path, server FROM wsdiag_reconnect_loops WHERE sensor = 'edge-a'"
        ).fetchall()
        check("edge-a's reconnect loop: 4 attempts, outcomes {403: 4}, /chat on 127.0.0.1:8765",
              len(loop) == 1 and loop[0][0] == 4 and dict(loop[0][1]) == {"403": 4} and loop[0][3:] == ("/chat", "127.0.0.1:8765"),
              str(loop))
        joined = con.execute(
            "SELECT c.verdict_kind, c.response_status, c.input_path FROM wsdiag_reconnect_loops r, "
            "unnest(r.connection_uids) AS u(uid) JOIN wsdiag_connections c ON c.uid = u.uid WHERE r.sensor = 'edge-a'"
        ).fetchall()
        check("its connection_uids join to 4 handshake_rejected 403 rows",
              joined == [("handshake_rejected", 403, "captures/reconnect-loop.pcap")] * 4, str(joined))
        idle_pair = con.execute(
            "SELECT p.ended_first, p.proxy, p.upstream FROM wsdiag_proxied p JOIN wsdiag_connections f ON f.uid = p.front_uid "
            "WHERE f.input_path = 'captures/nginx-idle-timeout.pcap' ORDER BY p.sensor"
        ).fetchall()
        check("nginx-idle-timeout.pcap: a proxied row per sensor, ended_first back",
              idle_pair == [("back", "127.0.0.1:8080", "127.0.0.1:8765")] * 2, str(idle_pair))

        # The fleet queries, as the doc writes them.
        run_block(con, blocks, "since")
        since_now = con.execute("SELECT getvariable('since')").fetchone()[0]
        check("the doc's since is an hour ago",
              abs((datetime.datetime.now(datetime.timezone.utc) - since_now).total_seconds() - 3600) < 600, str(since_now))
        queries = {
            "verdicts_per_backend": expected_verdicts,
            "handshake_latency": expected_latency,
            "idle_cuts": lambda c, s: expected_idle_cuts(c, proxied, s),
        }
        earliest = min(ts(d["start"]) for d in conns)
        newest = max(ts(d["start"]) for d in conns)
        windows = {"the last hour": since_now, "all captures": earliest, "the hour before the newest": newest - datetime.timedelta(hours=1)}
        results = {}
        for wname, since in windows.items():
            con.execute("SET VARIABLE since = ?::TIMESTAMPTZ", [since.isoformat()])
            for q, want_fn in queries.items():
                rows = run_block(con, blocks, "query " + q, f" over {wname}")
                want = want_fn(conns, since)
                if q == "idle_cuts":
                    rows_cmp = [r[:6] for r in rows]
                else:
                    rows_cmp = rows
                check(f"{q} over {wname} == Python's answer ({len(want)} rows)", rows_equal(rows_cmp, want),
                      f"got {rows_cmp[:5]}... want {want[:5]}...")
                results[(wname, q)] = rows
        # The windows really select: the hour before the newest capture holds some of the
        # connections, not all (the shipped captures were recorded on different days).
        hour = [d for d in conns if ts(d["start"]) >= windows["the hour before the newest"]]
        check("the hour before the newest capture holds some connections, not all",
              0 < len(hour) < len(conns), f"{len(hour)} of {len(conns)}")
        verd = results[("all captures", "verdicts_per_backend")]
        check("verdicts: 127.0.0.1:8765 handshake_rejected 403: 8 connections on 2 sensors",
              ("127.0.0.1:8765", "handshake_rejected", 403, 8, 2) in verd, str([r for r in verd if r[0] == "127.0.0.1:8765"]))
        check("verdicts: 127.0.0.1:8080 idle_timeout 101 on 2 sensors (nginx-idle-timeout.pcap)",
              ("127.0.0.1:8080", "idle_timeout", 101, 2, 2) in verd, str([r for r in verd if r[0] == "127.0.0.1:8080"]))
        lat = {r[0]: r for r in results[("all captures", "handshake_latency")]}
        check("latency: every server with an answered handshake has a p95, p50 <= p95 <= max",
              lat and all(r[2] <= r[3] <= r[4] for r in lat.values()) and "127.0.0.1:8765" in lat, str(list(lat)[:5]))
        cuts = results[("all captures", "idle_cuts")]
        # nginx's 3 s proxy_read_timeout: nginx-idle-timeout.pcap (both sensors), the wss one
        # (8443), and the browsers' nginx-idle-timeout captures (8834, Chromium and Firefox;
        # their silence is measured from the browser's last frame, 2.9 s before the cut).
        want_cuts = [
            ("edge-a", "127.0.0.1:8834", "127.0.0.1:8835", "back", "proxy", 2),
            ("edge-a", "127.0.0.1:8080", "127.0.0.1:8765", "back", "proxy", 1),
            ("edge-a", "127.0.0.1:8443", "127.0.0.1:8766", "back", "proxy", 1),
            ("edge-b", "127.0.0.1:8080", "127.0.0.1:8765", "back", "proxy", 1),
        ]
        check("idle cuts: nginx at 127.0.0.1:8080 (both sensors), 8443 and 8834 cut the back leg",
              [r[:6] for r in cuts] == want_cuts and all(r[6].startswith(("After 3", "After 2.9")) for r in cuts), str(cuts))
        con.close()
    finally:
        os.chdir(ROOT)
        shutil.rmtree(work, ignore_errors=True)

    # Community IDs against the reference implementation.
    cid = communityid.CommunityID(seed=0)
    checked = wrong = 0
    for d in conns:
        ok = True
        for a, b, pa, pb in ((d["client_ip"], d["server_ip"], d["client_port"], d["server_port"]),
                             (d["server_ip"], d["client_ip"], d["server_port"], d["client_port"])):
            if cid.calc(communityid.FlowTuple.make_tcp(a, b, pa, pb)) != d["community_id"]:
                ok = False
        checked += 1
        if not ok:
            wrong += 1
            if wrong <= 3:
                print(f"  community_id {d['community_id']} of {d['input']['path']} #{d['id']} "
                      f"({d['client']} -> {d['server']}) is not the reference's", file=sys.stderr)
    check(f"community_id == communityid's for {checked} connection lines (both directions)", wrong == 0 and checked >= 100,
          f"{wrong} wrong, {checked} checked")

    print(f"ingest: {len(caps)} captures on edge-a, {len(plain)} again on edge-b; "
          f"{len(conns)} connection, {len(loops)} reconnect_loop, {len(proxied)} proxied lines loaded twice "
          f"into DuckDB {duckdb.__version__} with docs/ingest.md's SQL; verdict kinds "
          f"{dict(sorted(collections.Counter(d['verdict']['kind'] for d in conns).items()))}; "
          f"{checked} community_ids checked; {time.monotonic() - t0:.1f} s")
    for f in failures:
        print(f"failed: {f}")
    print(f"ingest: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
