#!/usr/bin/env python3
"""Independent facts about the wss captures in captures/wss/, taken from tshark, for
cross-checking wsdiag's TLS work.

    python3 captures/wss/tshark_facts.py            # every capture in captures/wss/ -> tests/tshark/wss/
    python3 captures/wss/tshark_facts.py FILE...    # only these
    python3 captures/wss/tshark_facts.py --no-keys [FILE...]
        # the same without the key log -> tests/tshark/wss/NAME.no-keys.json: what tshark sees
        # of the TLS streams with no secrets (versions, cipher, SNI, record counts; "decrypted":
        # false). Skips pcapng files with a Decryption Secrets Block, which always decrypt.

Writes tests/tshark/wss/NAME.json for captures/wss/NAME.pcap (or NAME.pcapng). The per-stream
shape is the one of captures/tshark_facts.py (the plaintext captures), plus a "tls" object per
stream and "http_user_agent" / "http_server".

How it was run: as root on Debian 12 with TShark (Wireshark) 4.0.17, Python 3.11; standard
library only.

Per capture:
  1. capinfos: file type, link type, packet count.
  2. tshark -T fields, first pass: per stream, the server port (the port a SYN without ACK went
     to) and whether the client's first payload is a TLS record (0x16 0x03): such ports are
     decoded with -d tcp.port==P,tls, the others with -d tcp.port==P,http.
  3. tshark -T pdml, second pass, with -o tls.keylog_file:NAME.keys when that file exists (a
     pcapng with a Decryption Secrets Block gets no key file: tshark reads the block), and
     -o tcp.reassemble_out_of_order:TRUE. PDML keeps every TLS record and WebSocket frame of a
     packet in order, with its own fields.
  4. tshark -q -z conv,tcp: the conversation table, checked against the summed frame lengths.

Per stream, beside the plaintext script's keys: "ws_compressed_frames" (frames with RSV1 set,
i.e. permessage-deflate compressed, per direction), "http_user_agent", "http_server", and
"tls" (null for a plaintext stream):
  version          from the ServerHello (supported_versions if present, else its version)
  cipher           the ServerHello's cipher suite (IANA name, as tshark shows it)
  sni              the ClientHello's server_name (null: none sent, e.g. a browser given an IP)
  alpn_offered     the ClientHello's ALPN list; alpn: the one the server chose (ServerHello or,
                   in TLS 1.3, EncryptedExtensions: only seen when decrypted)
  client_hello_packet, server_hello_packet
  decrypted        tshark decrypted at least one record of the stream with the key log
  finished         {client, server}: packet of that side's Finished (only visible decrypted)
  alerts           [{from, level, description, code, packet, encrypted}]: "encrypted" = the
                   alert travelled in a protected record (TLS 1.3 after the ServerHello, or
                   TLS 1.2 after that side's ChangeCipherSpec); its description is only known
                   because the key log decrypted it
                   (description/code/level null: a TLS 1.2 alert record not decrypted)
  close_notify     {client, server}: packet of that side's close_notify alert, or null
  records          per side, records by content type (the inner type when decrypted;
                   "encrypted": a TLS 1.3 protected record tshark could not decrypt)
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "tshark", "wss")
CAPTURE_EXT = (".pcap", ".pcapng")

NOTES = {
    "wss-python-tls13-aes128-dsb.pcapng": [
        "the capture wss-python-tls13-aes128.pcap with its key log in a Decryption Secrets Block "
        "(editcap --inject-secrets): tshark decrypts it with no key log option.",
    ],
}

OPCODES = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
CONTENT = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data",
           24: "heartbeat"}
ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
          22: "record_overflow", 40: "handshake_failure", 42: "bad_certificate",
          43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
          46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
          49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
          71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
          90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
          112: "unrecognized_name", 113: "bad_certificate_status_response",
          115: "unknown_psk_identity", 116: "certificate_required",
          120: "no_application_protocol"}
VERSIONS = {"0x0304": "TLS 1.3", "0x0303": "TLS 1.2", "0x0302": "TLS 1.1", "0x0301": "TLS 1.0"}


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


def decode_as(path):
    """-d options: TLS for server ports whose client speaks first with a TLS record, else HTTP."""
    out = run(["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
               "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.payload"])
    server_port, first_payload = {}, {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 6 or not f[0]:
            continue
        stream, sport, dport, syn, ack, payload = f[:6]
        if syn in ("1", "True") and ack in ("0", "False"):
            server_port[stream] = dport
        if payload and stream in server_port and dport == server_port[stream] and stream not in first_payload:
            first_payload[stream] = payload.replace(":", "")
    ports = {}
    for stream, port in server_port.items():
        tls = first_payload.get(stream, "").startswith("1603")
        ports[port] = ports.get(port, False) or tls
    return [f"tcp.port=={p},{'tls' if t else 'http'}" for p, t in sorted(ports.items(), key=lambda x: int(x[0]))]


def conv_table(path):
    out = run(["tshark", "-r", path, "-q", "-o", "tcp.reassemble_out_of_order:TRUE", "-z", "conv,tcp"])
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


def fields_of(el, name):
    return [f for f in el.iter("field") if f.get("name") == name]


def show(el, name):
    f = fields_of(el, name)
    return f[0].get("show") if f else None


def parse_packet(pkt):
    """One PDML <packet> to a dict of what we need, TLS records and WS frames in order."""
    p = {"records": [], "ws": []}
    for proto in pkt.findall("proto"):
        n = proto.get("name")
        if n == "frame":
            p["number"] = int(show(proto, "frame.number"))
            p["len"] = int(show(proto, "frame.len"))
        elif n in ("ip", "ipv6"):
            p["src_ip"] = show(proto, f"{n}.src")
            p["dst_ip"] = show(proto, f"{n}.dst")
        elif n == "tcp":
            p["stream"] = int(show(proto, "tcp.stream"))
            p["sport"], p["dport"] = show(proto, "tcp.srcport"), show(proto, "tcp.dstport")
            p["len_tcp"] = int(show(proto, "tcp.len") or 0)
            for fl in ("syn", "ack", "fin", "reset"):
                p[fl] = show(proto, f"tcp.flags.{fl}") in ("1", "True")
            p["retrans"] = bool(fields_of(proto, "tcp.analysis.retransmission"))
        elif n == "tls":
            for rec in fields_of(proto, "tls.record"):
                # a TLS 1.3 protected record has an opaque_type (23); tshark adds its inner
                # content_type only when it decrypted the record
                ct = show(rec, "tls.record.content_type")
                r = {"opaque": show(rec, "tls.record.opaque_type") is not None,
                     "content_type": int(ct) if ct is not None else None,
                     "handshakes": []}
                for hs in fields_of(rec, "tls.handshake"):
                    t = show(hs, "tls.handshake.type")
                    if t is None:
                        continue
                    h = {"type": int(t)}
                    if h["type"] == 1:
                        h["sni"] = show(hs, "tls.handshake.extensions_server_name")
                        h["alpn"] = [f.get("show") for f in fields_of(hs, "tls.handshake.extensions_alpn_str")]
                        h["versions"] = [f.get("show") for f in fields_of(hs, "tls.handshake.extensions.supported_version")]
                        h["random"] = show(hs, "tls.handshake.random")
                    if h["type"] == 2:
                        cs = fields_of(hs, "tls.handshake.ciphersuite")
                        h["cipher"] = cs[0].get("showname").split(": ", 1)[1].rsplit(" (", 1)[0] if cs else None
                        sv = show(hs, "tls.handshake.extensions.supported_version")
                        h["version"] = sv or show(hs, "tls.handshake.version")
                        alpn = fields_of(hs, "tls.handshake.extensions_alpn_str")
                        h["alpn"] = alpn[0].get("show") if alpn else None
                    if h["type"] == 8:
                        alpn = fields_of(hs, "tls.handshake.extensions_alpn_str")
                        h["alpn"] = alpn[0].get("show") if alpn else None
                    r["handshakes"].append(h)
                lvl, desc = show(rec, "tls.alert_message.level"), show(rec, "tls.alert_message.desc")
                if desc is not None:
                    r["alert"] = {"level": "fatal" if lvl == "2" else "warning" if lvl == "1" else lvl,
                                  "code": int(desc), "description": ALERTS.get(int(desc), f"alert_{desc}")}
                elif r["content_type"] == 21:   # a TLS 1.2 alert record tshark could not decrypt
                    r["alert"] = {"level": None, "code": None, "description": None}
                p["records"].append(r)
        elif n == "http":
            for key, fname in (("method", "http.request.method"), ("uri", "http.request.uri"),
                               ("status", "http.response.code"), ("ext", "http.sec_websocket_extensions"),
                               ("ua", "http.user_agent"), ("server", "http.server")):
                v = show(proto, fname)
                if v is not None and key not in p:
                    p[key] = v
        elif n == "websocket":
            op = show(proto, "websocket.opcode")
            if op is None:
                continue
            p["ws"].append({"opcode": int(op), "mask": show(proto, "websocket.mask") in ("1", "True"),
                            # RSV1 of a frame on a permessage-deflate connection: tshark's
                            # "Per-Message Compressed" bit (websocket.rsv is all three bits)
                            "rsv1": show(proto, "websocket.pmc") in ("1", "True")
                            or (int(show(proto, "websocket.rsv") or "0", 16) & 4) != 0,
                            "code": show(proto, "websocket.payload.close.status_code"),
                            "reason": show(proto, "websocket.payload.close.reason"),
                            "has_payload": int(show(proto, "websocket.payload_length") or 0) > 0})
    return p


def facts(path, use_keys=True):
    name = os.path.basename(path)
    stem = name.rsplit(".", 1)[0]
    keys = os.path.join(os.path.dirname(path), stem + ".keys")
    if not use_keys:
        keys = os.path.join(os.path.dirname(path), "(no key log)")
    args = ["tshark", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE"]
    if os.path.exists(keys):
        args += ["-o", f"tls.keylog_file:{keys}"]
    for d in decode_as(path):
        args += ["-d", d]
    root = ET.fromstring(run(args + ["-T", "pdml"]))
    packets = [parse_packet(pkt) for pkt in root.iter("packet")]

    streams = defaultdict(list)
    for p in packets:
        if "stream" in p:
            streams[p["stream"]].append(p)

    conv = conv_table(path)
    shown = " ".join(args).replace(path, "captures/wss/" + name).replace(keys, "captures/wss/" + stem + ".keys")
    result = {
        "capture": name,
        "tshark": tshark_version(),
        "command": shown + " -T pdml",
        **capinfo(path),
        "key_log": os.path.relpath(keys, ROOT) if os.path.exists(keys) else None,
        "notes": list(NOTES.get(name, [])),
        "streams": [],
    }
    for sid in sorted(streams):
        pk = streams[sid]
        src = lambda p: endpoint(p["src_ip"], p["sport"])  # noqa: E731
        dst = lambda p: endpoint(p["dst_ip"], p["dport"])  # noqa: E731
        client = server = how = None
        for p in pk:
            if p["syn"] and not p["ack"]:
                client, server, how = src(p), dst(p), "syn"
                break
        if client is None:
            client, server, how = src(pk[0]), dst(pk[0]), "first_packet"
        side = lambda p: "client" if src(p) == client else "server"  # noqa: E731
        nums = [p["number"] for p in pk]
        s = {
            "stream": sid, "client": client, "server": server, "client_by": how,
            "packets": len(pk), "first_packet": min(nums), "last_packet": max(nums),
            "bytes": {"client": 0, "server": 0}, "bytes_all": {"client": 0, "server": 0},
            "frame_bytes": {"client": 0, "server": 0}, "retransmissions": {"client": 0, "server": 0},
            "bytes_conv": None, "syn": False, "syn_ack": False,
            "fin_from": [], "first_fin": None, "first_rst": None, "rst_from": [],
            "tls": None,
            "http_request_uri": None, "http_request_packet": None, "http_user_agent": None,
            "http_status": None, "http_response_packet": None, "http_server": None,
            "ws_extensions": None,
            "ws_opcodes": {w: {k: 0 for k in ("text", "binary", "cont", "ping", "pong", "close")}
                           for w in ("client", "server")},
            "ws_compressed_frames": {"client": 0, "server": 0},
            "close_frames": [],
        }
        tls = {"version": None, "cipher": None, "sni": None, "alpn_offered": None, "alpn": None,
               "client_hello_packet": None, "server_hello_packet": None, "decrypted": False,
               "finished": {"client": None, "server": None}, "alerts": [],
               "close_notify": {"client": None, "server": None},
               "records": {"client": {}, "server": {}}}
        any_tls = False
        ccs = {"client": False, "server": False}
        for p in pk:
            who, n = side(p), p["number"]
            s["bytes_all"][who] += p["len_tcp"]
            s["frame_bytes"][who] += p["len"]
            if p["retrans"]:
                s["retransmissions"][who] += 1
            else:
                s["bytes"][who] += p["len_tcp"]
            if p["syn"]:
                s["syn_ack" if p["ack"] else "syn"] = True
            if p["fin"]:
                if who not in s["fin_from"]:
                    s["fin_from"].append(who)
                if s["first_fin"] is None:
                    s["first_fin"] = {"from": who, "packet": n}
            if p["reset"]:
                if who not in s["rst_from"]:
                    s["rst_from"].append(who)
                if s["first_rst"] is None:
                    s["first_rst"] = {"from": who, "packet": n}
            for r in p["records"]:
                any_tls = True
                if r["content_type"] is None:
                    ct = "encrypted"            # TLS 1.3 record not decrypted: type unknown
                else:
                    ct = CONTENT.get(r["content_type"], str(r["content_type"]))
                tls["records"][who][ct] = tls["records"][who].get(ct, 0) + 1
                # decrypted: a TLS 1.3 record whose inner type tshark found, or a TLS 1.2
                # Finished it could read (without keys it is an "Encrypted Handshake Message")
                if (r["opaque"] and r["content_type"] is not None) or any(h["type"] == 20 for h in r["handshakes"]):
                    tls["decrypted"] = True
                if r["content_type"] == 20:
                    ccs[who] = True
                for h in r["handshakes"]:
                    if h["type"] == 1 and tls["client_hello_packet"] is None:
                        tls["client_hello_packet"] = n
                        tls["sni"] = h["sni"]
                        tls["alpn_offered"] = h["alpn"] or None
                    elif h["type"] == 2 and tls["server_hello_packet"] is None:
                        tls["server_hello_packet"] = n
                        tls["cipher"] = h["cipher"]
                        tls["version"] = VERSIONS.get(h["version"], h["version"])
                        if h["alpn"]:
                            tls["alpn"] = h["alpn"]
                    elif h["type"] == 8 and h.get("alpn"):
                        tls["alpn"] = h["alpn"]
                    elif h["type"] == 20 and tls["finished"][who] is None:
                        tls["finished"][who] = n
                if "alert" in r:
                    a = r["alert"]
                    enc = r["opaque"] or ccs[who]
                    tls["alerts"].append({"from": who, "level": a["level"], "description": a["description"],
                                          "code": a["code"], "packet": n, "encrypted": bool(enc)})
                    if a["code"] == 0 and tls["close_notify"][who] is None:
                        tls["close_notify"][who] = n
            if p.get("uri") and s["http_request_uri"] is None:
                s["http_request_uri"], s["http_request_packet"] = p["uri"], n
                s["http_user_agent"] = p.get("ua")
            if p.get("status") and s["http_status"] is None:
                s["http_status"], s["http_response_packet"] = int(p["status"]), n
                s["ws_extensions"], s["http_server"] = p.get("ext"), p.get("server")
            for f in p["ws"]:
                kind = OPCODES.get(f["opcode"])
                if kind is None:
                    s.setdefault("ws_other_opcodes", []).append({"from": who, "opcode": f["opcode"], "packet": n})
                    continue
                s["ws_opcodes"][who][kind] += 1
                if f["rsv1"]:
                    s["ws_compressed_frames"][who] += 1
                if kind == "close":
                    code = int(f["code"]) if f["code"] is not None else None
                    reason = f["reason"] if f["reason"] is not None else ("" if code is not None else None)
                    s["close_frames"].append({"from": who, "code": code, "reason": reason, "packet": n})
        s["tls"] = tls if any_tls else None
        for row in conv:
            if {row["a"], row["b"]} == {client.strip("[]"), server.strip("[]")}:
                a_is_client = row["a"] == client.strip("[]")
                s["bytes_conv"] = {"client": row["a_to_b"] if a_is_client else row["b_to_a"],
                                   "server": row["b_to_a"] if a_is_client else row["a_to_b"], "raw": row}
                for w in ("client", "server"):
                    if s["bytes_conv"][w]["bytes"] != s["frame_bytes"][w]:
                        result["notes"].append(f"stream {sid}: conv,tcp {w} bytes {s['bytes_conv'][w]['bytes']} "
                                               f"!= summed frame.len {s['frame_bytes'][w]}")
        result["streams"].append(s)
    return result


def out_name(path, use_keys=True):
    return os.path.join(OUT, os.path.basename(path).rsplit(".", 1)[0] + ("" if use_keys else ".no-keys") + ".json")


def main(argv):
    use_keys = "--no-keys" not in argv
    argv = [a for a in argv if a != "--no-keys"]
    paths = argv or sorted(os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(CAPTURE_EXT))
    if not use_keys:
        paths = [p for p in paths if not p.endswith("-dsb.pcapng")]
    os.makedirs(OUT, exist_ok=True)
    for path in paths:
        data = facts(path, use_keys)
        if not use_keys:
            data["notes"].append("made with no key log (tshark_facts.py --no-keys): what tshark sees "
                                 "of the TLS streams without secrets.")
        with open(out_name(path, use_keys), "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        brief = "; ".join(
            f"stream {s['stream']}: {(s['tls'] or {}).get('version') or 'plain'} {(s['tls'] or {}).get('cipher') or ''}"
            f" decrypted={(s['tls'] or {}).get('decrypted')} http={s['http_status']} close={[c['code'] for c in s['close_frames']]}"
            f" alerts={[(a['from'], a['description']) for a in (s['tls'] or {}).get('alerts', [])]}"
            f" fin={s['first_fin'] and s['first_fin']['from']} rst={s['first_rst'] and s['first_rst']['from']}"
            for s in data["streams"])
        print(f"{os.path.basename(path)}: {data['packets']} packets -> {os.path.relpath(out_name(path, use_keys), ROOT)}: {brief}")


if __name__ == "__main__":
    main(sys.argv[1:])
