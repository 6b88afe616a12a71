#!/usr/bin/env python3
"""Independent facts about every committed capture, taken from tshark, for cross-checking wsdiag.

    python3 captures/tshark_facts.py            # every capture in captures/ -> tests/tshark/
    python3 captures/tshark_facts.py FILE...    # only these

Writes tests/tshark/<capture file name>.json, e.g. tests/tshark/python-clean.pcap.json and
tests/tshark/nginx-proxy-any.pcap.gz.json (the full file name, so the .pcap and the .pcap.gz
of one scenario do not collide).

How it was run: as root on Debian 12 with TShark (Wireshark) 4.0.17 (Debian package
4.0.17-0+deb12u3), capinfos from the same package, Python 3.11; standard library only.

How it works, per capture:
  1. capinfos -t -E: file type and link type.
  2. tshark -T fields, first pass: TCP endpoints and SYN/ACK flags per tcp.stream, to find the
     server port of every stream (the port a SYN without ACK was sent to).
  3. tshark -T json, second pass, with
       -o tcp.reassemble_out_of_order:TRUE
       -d tcp.port==P,http   for every server port found in step 2 (the WebSocket dissector
                             only engages after an HTTP Upgrade it has seen; ports like 8765 or
                             18004 are not HTTP ports to tshark)
       plus the extra decode-as of EXTRA_DECODE_AS below (a capture with no handshake).
  4. tshark -q -z conv,tcp: the raw conversation table ("bytes_conv": frame bytes, headers
     included, retransmissions included).

Per stream: "client" is the SYN sender; without a SYN, the sender of the HTTP request; without
either, the sender of masked WebSocket frames. "bytes" is the sum of tcp.len per direction,
without the segments tshark flags as retransmissions ("bytes_all" includes them).
"ws_opcodes" counts WebSocket frames (not messages) per direction as tshark dissected them.
Packet numbers are 1-based Wireshark frame numbers. Where tshark cannot see something, the
JSON says so under "notes".
"""
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "tests", "tshark")
CAPTURE_EXT = (".pcap", ".pcapng", ".pcap.gz")

# Captures that need a decode-as the SYNs cannot tell us.
EXTRA_DECODE_AS = {
    # begins after the handshake: no SYN, no HTTP; tell tshark the port carries WebSocket
    "mid-connection.pcap": ["tcp.port==8765,websocket"],
}

# What tshark gets wrong or cannot see, checked by reading the captures.
NOTES = {
    "snaplen96.pcap": [
        "recorded with tcpdump -s 96: every packet keeps at most 30 bytes of TCP payload. tshark "
        "reads the request line and the 101 status line from the cut packets, but cannot reassemble "
        "the HTTP heads, so its WebSocket dissector never engages: ws_opcodes and close_frames are "
        "empty here although the capture has 3 text messages each way, a ping, a pong and Close "
        "frames both ways. tcp.len (and so bytes) comes from the IP header and is right.",
    ],
    "mid-connection.pcap": [
        "no SYN and no HTTP in the capture: decoded with -d tcp.port==8765,websocket; the client "
        "is the sender of masked frames.",
    ],
    "heartbeat.pcap": [
        "permessage-deflate was negotiated (websockets' default): data frames carry RSV1; "
        "tshark decompresses them but its opcode counts are per frame, as everywhere.",
    ],
    "node-deflate.pcap": [
        "permessage-deflate was negotiated (threshold 0): every data frame is compressed; the "
        "fragmented message counts as one text frame plus one continuation frame.",
    ],
    "daphne-close-4001.pcap": [
        "the consumer called close(code=4001, reason='role rejected'); Daphne 4.2.3 sent the code "
        "without the reason, so the Close frame's reason is empty.",
    ],
}

FIELDS = [
    "frame.number", "frame.len", "tcp.stream",
    "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
    "tcp.analysis.retransmission",
    "http.request.method", "http.request.uri", "http.response.code",
    "http.sec_websocket_extensions",
    "websocket.opcode", "websocket.mask",
    "websocket.payload.close.status_code", "websocket.payload.close.reason",
]
OPCODES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def tshark_version():
    return run(["tshark", "--version"]).splitlines()[0]


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def capinfo(path):
    out = run(["capinfos", "-t", "-E", "-c", "-M", path])
    info = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return {"file_type": info.get("File type"), "encapsulation": info.get("File encapsulation"),
            "packets": int(info.get("Number of packets", "0"))}


def server_ports(path):
    """Ports a SYN (without ACK) was sent to."""
    out = run(["tshark", "-r", path, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
               "-T", "fields", "-e", "tcp.dstport"])
    return sorted({int(p) for p in out.split()})


def conv_table(path):
    """tshark -z conv,tcp rows: A, B, frames/bytes B->A ("<-") and A->B ("->")."""
    out = run(["tshark", "-r", path, "-q", "-o", "tcp.reassemble_out_of_order:TRUE",
               "-z", "conv,tcp"])
    rows = []
    pat = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+) bytes\s+(\d+)\s+([\d,]+) bytes")
    for line in out.splitlines():
        m = pat.match(line)
        if m:
            a, b, f_ba, b_ba, f_ab, b_ab = m.groups()
            rows.append({"a": a, "b": b,
                         "a_to_b": {"frames": int(f_ab), "bytes": int(b_ab.replace(",", ""))},
                         "b_to_a": {"frames": int(f_ba), "bytes": int(b_ba.replace(",", ""))}})
    return rows


def first(layers, name):
    v = layers.get(name)
    return v[0] if v else None


def facts(path):
    name = os.path.basename(path)
    decode = [f"tcp.port=={p},http" for p in server_ports(path)] + EXTRA_DECODE_AS.get(name, [])
    args = ["tshark", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE"]
    for d in decode:
        args += ["-d", d]
    cmd = args + ["-T", "json"] + [x for f in FIELDS for x in ("-e", f)]
    packets = [p["_source"]["layers"] for p in json.loads(run(cmd) or "[]")]

    streams = defaultdict(list)
    for p in packets:
        if first(p, "tcp.stream") is not None:
            streams[int(first(p, "tcp.stream"))].append(p)

    conv = conv_table(path)
    result = {
        "capture": name,
        "tshark": tshark_version(),
        "command": " ".join(args + ["-T", "json", "-e", "..."]).replace(path, "captures/" + name),
        **capinfo(path),
        "notes": list(NOTES.get(name, [])),
        "streams": [],
    }
    result["packets"] = len(packets)

    for sid in sorted(streams):
        pk = streams[sid]

        def src(p):
            return endpoint(first(p, "ip.src") or first(p, "ipv6.src"), first(p, "tcp.srcport"))

        def dst(p):
            return endpoint(first(p, "ip.dst") or first(p, "ipv6.dst"), first(p, "tcp.dstport"))

        client = server = None
        how = None
        for p in pk:
            if first(p, "tcp.flags.syn") in ("1", "True") and first(p, "tcp.flags.ack") in ("0", "False"):
                client, server, how = src(p), dst(p), "syn"
                break
        if client is None:
            for p in pk:
                if first(p, "http.request.method"):
                    client, server, how = src(p), dst(p), "http_request"
                    break
        if client is None:
            for p in pk:
                if "1" in p.get("websocket.mask", []):
                    client, server, how = src(p), dst(p), "masked_frames"
                    break
        if client is None:  # cannot tell: first sender is "client", and say so
            client, server, how = src(pk[0]), dst(pk[0]), "first_packet"

        def side(p):
            return "client" if src(p) == client else "server"

        def flag(p, f):
            return first(p, f) in ("1", "True")

        nums = [int(first(p, "frame.number")) for p in pk]
        s = {
            "stream": sid,
            "client": client, "server": server, "client_by": how,
            "packets": len(pk), "first_packet": min(nums), "last_packet": max(nums),
            "bytes": {"client": 0, "server": 0},
            "bytes_all": {"client": 0, "server": 0},
            "frame_bytes": {"client": 0, "server": 0},
            "retransmissions": {"client": 0, "server": 0},
            "bytes_conv": None,
            "syn": False, "syn_ack": False,
            "fin_from": [], "first_fin": None, "first_rst": None, "rst_from": [],
            "http_request_uri": None, "http_request_packet": None,
            "http_status": None, "http_response_packet": None,
            "ws_extensions": None,
            "ws_opcodes": {w: {k: 0 for k in ("text", "binary", "cont", "ping", "pong", "close")}
                           for w in ("client", "server")},
            "close_frames": [],
        }
        for p in pk:
            who = side(p)
            n = int(first(p, "frame.number"))
            tcp_len = int(first(p, "tcp.len") or 0)
            s["bytes_all"][who] += tcp_len
            s["frame_bytes"][who] += int(first(p, "frame.len"))
            if "tcp.analysis.retransmission" in p:
                s["retransmissions"][who] += 1
            else:
                s["bytes"][who] += tcp_len
            if flag(p, "tcp.flags.syn"):
                if flag(p, "tcp.flags.ack"):
                    s["syn_ack"] = True
                else:
                    s["syn"] = True
            if flag(p, "tcp.flags.fin"):
                if who not in s["fin_from"]:
                    s["fin_from"].append(who)
                if s["first_fin"] is None:
                    s["first_fin"] = {"from": who, "packet": n}
            if flag(p, "tcp.flags.reset"):
                if who not in s["rst_from"]:
                    s["rst_from"].append(who)
                if s["first_rst"] is None:
                    s["first_rst"] = {"from": who, "packet": n}
            if first(p, "http.request.uri") and s["http_request_uri"] is None:
                s["http_request_uri"] = first(p, "http.request.uri")
                s["http_request_packet"] = n
            if first(p, "http.response.code") and s["http_status"] is None:
                s["http_status"] = int(first(p, "http.response.code"))
                s["http_response_packet"] = n
                s["ws_extensions"] = first(p, "http.sec_websocket_extensions")
            ops = [int(o) for o in p.get("websocket.opcode", [])]
            codes = p.get("websocket.payload.close.status_code", [])
            reasons = p.get("websocket.payload.close.reason", [])
            ci = 0
            for op in ops:
                kind = OPCODES.get(op)
                if kind is None:
                    s.setdefault("ws_other_opcodes", []).append({"from": who, "opcode": op, "packet": n})
                    continue
                s["ws_opcodes"][who][kind] += 1
                if op == 8:
                    # tshark puts status_code/reason only on close frames that carry them; with
                    # one close frame per packet (true in every capture here) they line up.
                    code = int(codes[ci]) if ci < len(codes) else None
                    reason = reasons[ci] if ci < len(reasons) else None
                    if code is not None and reason is None:
                        reason = ""
                    ci += 1
                    s["close_frames"].append({"from": who, "code": code, "reason": reason, "packet": n})
        for row in conv:
            if {row["a"], row["b"]} == {client.replace("[", "").replace("]", ""),
                                        server.replace("[", "").replace("]", "")}:
                a_is_client = row["a"] == client.replace("[", "").replace("]", "")
                s["bytes_conv"] = {
                    "client": row["a_to_b"] if a_is_client else row["b_to_a"],
                    "server": row["b_to_a"] if a_is_client else row["a_to_b"],
                    "raw": row,
                }
                # sanity: tshark's conv bytes are frame bytes per direction
                for w in ("client", "server"):
                    if s["bytes_conv"][w]["bytes"] != s["frame_bytes"][w]:
                        result["notes"].append(
                            f"stream {sid}: conv,tcp {w} bytes {s['bytes_conv'][w]['bytes']} != "
                            f"summed frame.len {s['frame_bytes'][w]}")
        result["streams"].append(s)
    return result


def out_name(path):
    return os.path.join(OUT, os.path.basename(path) + ".json")


def main(argv):
    paths = argv or sorted(os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(CAPTURE_EXT))
    os.makedirs(OUT, exist_ok=True)
    for path in paths:
        data = facts(path)
        with open(out_name(path), "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        print(f"{os.path.basename(path)}: {data['packets']} packets, {len(data['streams'])} stream(s)"
              f" -> {os.path.relpath(out_name(path), os.path.dirname(HERE))}")


if __name__ == "__main__":
    main(sys.argv[1:])
