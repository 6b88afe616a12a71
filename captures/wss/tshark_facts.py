#!/usr/bin/env python3
"""Independent facts about the wss captures in captures/wss/, taken from tshark, for
cross-checking wsdiag's TLS work.

    python3 captures/wss/tshark_facts.py            # every capture in captures/wss/ -> tests/tshark/wss/
    python3 captures/wss/tshark_facts.py FILE...    # only these
    python3 captures/wss/tshark_facts.py --no-keys [FILE...]
        # the same without the key log -> tests/tshark/wss/NAME.no-keys.json: what tshark sees
        # of the TLS streams with no secrets (versions, cipher, SNI, record counts; "decrypted":
        # false). Skips pcapng files with a Decryption Secrets Block, which always decrypt.

    python3 captures/wss/tshark_facts.py --h2 [FILE...]
        # the WebSocket-over-HTTP/2 captures of captures/h2/ -> tests/tshark/h2/NAME.json: the
        # same facts plus an "h2" object per TCP connection (see "HTTP/2 mode" below)

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

HTTP/2 mode (--h2, captures/h2/, RFC 8441 WebSockets over HTTP/2). tshark decodes the HTTP/2
frames (over TLS once decrypted, chosen by ALPN h2; cleartext h2c with prior knowledge is
decoded with -d tcp.port==P,http2 for the ports whose client begins with the preface "PRI *
HTTP/2.0"), including HPACK and the extended CONNECT's :protocol pseudo-header, and labels the
DATA of a CONNECT stream "tunneled data", but TShark 4.0 does NOT dissect the WebSocket frames
in it (no websocket layer: "tshark_websocket_frames" is 0 in every h2 capture). So this script
takes the DATA payloads (http2.data.data) of each extended-CONNECT stream that got a 2xx answer,
concatenates them per direction and decodes RFC 6455 framing itself (2-byte header, 16/64-bit
lengths, the client's masking key, unmasked to read a Close frame's code and UTF-8 reason). A
WebSocket frame's "packet" is the packet whose DATA completed it. Per TCP connection, "h2":
  preface            {from, packet} of the client's connection preface (Magic)
  frames             per side, HTTP/2 frames by type
  settings           per side, [{packet, ack, values}] (values: {SETTING_NAME: value}; unknown
                     ids, e.g. Chromium's GREASE settings, as "0xID")
  enable_connect_protocol  per side: {value, packet} of SETTINGS_ENABLE_CONNECT_PROTOCOL (8),
                     or null if that side never sent it
  goaway             [{from, last_stream_id, error, error_name, packet}]
  streams            per HTTP/2 stream, in id order: id, opened_by, request (the first HEADERS
                     of the client: :method, :protocol, :scheme, :path, :authority and the
                     sec-websocket-* / origin headers, and its packet), response (the first
                     HEADERS of the server: :status, ... and packet), end_stream {client,
                     server}: packet of the first frame with END_STREAM from that side (null:
                     none), rst_stream [{from, error, error_name, packet}], data {frames,
                     bytes} per side, and for a WebSocket (extended CONNECT + 2xx) "websocket":
                     {frames: [{from, opcode, fin, masked, length, packet} (+ text of short
                     text frames)], opcodes per side, close_frames [{from, code, reason,
                     packet}], incomplete_bytes per side (DATA bytes left that end no frame)}
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
H2_DIR = os.path.join(ROOT, "captures", "h2")
H2_OUT = os.path.join(ROOT, "tests", "tshark", "h2")
CAPTURE_EXT = (".pcap", ".pcapng")

NOTES = {
    "wss-python-tls13-aes128-dsb.pcapng": [
        "the capture wss-python-tls13-aes128.pcap with its key log in a Decryption Secrets Block "
        "(editcap --inject-secrets): tshark decrypts it with no key log option.",
    ],
}

# what tshark does not show in an h2 capture, or what a reader should know (filled in by hand
# after reading the captures; see captures/h2/README.md)
H2_NOTES = {}

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
H2_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
            5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
H2_ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
             4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
             8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
             12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}
H2_SETTINGS = {1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS",
               4: "INITIAL_WINDOW_SIZE", 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE",
               8: "ENABLE_CONNECT_PROTOCOL", 9: "NO_RFC7540_PRIORITIES"}
H2_REQUEST_HEADERS = (":method", ":protocol", ":scheme", ":path", ":authority", "origin",
                      "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions")
H2_RESPONSE_HEADERS = (":status", "content-type", "sec-websocket-protocol", "sec-websocket-extensions")
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
    """-d options: TLS for server ports whose client speaks first with a TLS record, HTTP/2 for
    those whose client begins with the HTTP/2 preface (h2c, prior knowledge), else HTTP."""
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
        first = first_payload.get(stream, "")
        kind = "tls" if first.startswith("1603") else "http2" if first.startswith("505249202a20") else "http"
        if ports.get(port) in (None, "http"):   # a port some client spoke TLS (or h2c) to stays so
            ports[port] = kind
    return [f"tcp.port=={p},{k}" for p, k in sorted(ports.items(), key=lambda x: int(x[0]))]


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
    p = {"records": [], "ws": [], "h2": []}
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
        elif n == "http2":
            p["h2"].extend(parse_h2(proto))
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


def parse_h2(proto):
    """The HTTP/2 frames of one PDML <proto name="http2">, in order."""
    frames = []
    for st in proto.findall("field"):
        if st.get("name") != "http2.stream":
            continue
        t = show(st, "http2.type")
        if t is None:   # the connection preface ("Magic")
            if fields_of(st, "http2.magic"):
                frames.append({"type": None})
            continue
        f = {"type": int(t), "sid": int(show(st, "http2.streamid")), "flags": int(show(st, "http2.flags"), 16)}
        if f["type"] in (1, 9):
            f["headers"] = [(show(h, "http2.header.name"), show(h, "http2.header.value"))
                            for h in fields_of(st, "http2.header")]
        elif f["type"] == 0:
            d = fields_of(st, "http2.data.data")
            f["data"] = bytes.fromhex(d[0].get("value") or "") if d else b""
        elif f["type"] == 3:
            f["error"] = int(show(st, "http2.rst_stream.error"))
        elif f["type"] == 7:
            f["last_stream_id"] = int(show(st, "http2.goaway.last_stream_id"))
            f["error"] = int(show(st, "http2.goaway.error"))
        elif f["type"] == 4:
            f["settings"] = []
            for se in fields_of(st, "http2.settings"):
                kids = se.findall("field")
                if len(kids) >= 2:
                    f["settings"].append((int(kids[0].get("show")), int(kids[1].get("show"))))
        frames.append(f)
    return frames


def ws_frames(buf):
    """Decode the complete RFC 6455 frames at the start of buf: ([frame], bytes used)."""
    out, pos = [], 0
    while len(buf) - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        n, hl = b1 & 0x7F, 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n, hl = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n, hl = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(buf) - pos < hl + 4:
                break
            key, hl = buf[pos + hl:pos + hl + 4], hl + 4
        if len(buf) - pos < hl + n:
            break
        payload = bytes(buf[pos + hl:pos + hl + n])
        if masked:
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        out.append({"fin": bool(b0 & 0x80), "rsv": (b0 >> 4) & 7, "opcode": b0 & 0x0F,
                    "masked": masked, "payload": payload})
        pos += hl + n
    return out, pos


def h2_facts(pk, side):
    """The "h2" object of one TCP connection (see the docstring), or None without HTTP/2."""
    if not any(p["h2"] for p in pk):
        return None
    h = {"preface": None, "frames": {"client": {}, "server": {}}, "settings": {"client": [], "server": []},
         "enable_connect_protocol": {"client": None, "server": None}, "goaway": [], "streams": []}
    streams, bufs = {}, {}
    for p in pk:
        who, n = side(p), p["number"]
        for f in p["h2"]:
            if f["type"] is None:
                if h["preface"] is None:
                    h["preface"] = {"from": who, "packet": n}
                continue
            tname = H2_TYPES.get(f["type"], f"0x{f['type']:02x}")
            h["frames"][who][tname] = h["frames"][who].get(tname, 0) + 1
            if f["type"] == 4:
                ack = bool(f["flags"] & 1)
                e = {"packet": n, "ack": ack}
                if not ack:
                    e["values"] = {H2_SETTINGS.get(i, f"0x{i:x}"): v for i, v in f["settings"]}
                    for i, v in f["settings"]:
                        if i == 8 and h["enable_connect_protocol"][who] is None:
                            h["enable_connect_protocol"][who] = {"value": v, "packet": n}
                h["settings"][who].append(e)
            elif f["type"] == 7:
                h["goaway"].append({"from": who, "last_stream_id": f["last_stream_id"], "error": f["error"],
                                    "error_name": H2_ERRORS.get(f["error"]), "packet": n})
            if f["sid"] == 0:
                continue
            st = streams.get(f["sid"])
            if st is None:
                st = streams[f["sid"]] = {
                    "id": f["sid"], "opened_by": who, "request": None, "response": None,
                    "end_stream": {"client": None, "server": None}, "rst_stream": [],
                    "data": {w: {"frames": 0, "bytes": 0} for w in ("client", "server")}, "websocket": None}
            if f["type"] == 1:
                hd = dict(f["headers"])
                if who == "client" and st["request"] is None:
                    st["request"] = {k: hd.get(k) for k in H2_REQUEST_HEADERS}
                    st["request"]["packet"] = n
                elif who == "server" and st["response"] is None:
                    st["response"] = {k: hd.get(k) for k in H2_RESPONSE_HEADERS}
                    st["response"]["packet"] = n
                    req = st["request"] or {}
                    status = hd.get(":status") or ""
                    if req.get(":method") == "CONNECT" and req.get(":protocol") == "websocket" and status.startswith("2"):
                        st["websocket"] = {"frames": [], "opcodes": {w: {k: 0 for k in ("text", "binary", "cont", "ping", "pong", "close")}
                                                                   for w in ("client", "server")},
                                           "close_frames": [], "incomplete_bytes": {"client": 0, "server": 0}}
            if f["type"] in (0, 1) and f["flags"] & 1 and st["end_stream"][who] is None:
                st["end_stream"][who] = n
            if f["type"] == 3:
                st["rst_stream"].append({"from": who, "error": f["error"], "error_name": H2_ERRORS.get(f["error"]),
                                         "packet": n})
            if f["type"] == 0:
                st["data"][who]["frames"] += 1
                st["data"][who]["bytes"] += len(f["data"])
                ws = st["websocket"]
                if ws is not None:
                    buf = bufs.setdefault((f["sid"], who), bytearray())
                    buf += f["data"]
                    got, used = ws_frames(buf)
                    del buf[:used]
                    ws["incomplete_bytes"][who] = len(buf)
                    for w in got:
                        kind = OPCODES.get(w["opcode"], f"0x{w['opcode']:x}")
                        e = {"from": who, "opcode": kind, "fin": w["fin"], "masked": w["masked"],
                             "length": len(w["payload"]), "packet": n}
                        if w["rsv"]:
                            e["rsv"] = w["rsv"]
                        if kind == "text" and len(w["payload"]) <= 80:
                            e["text"] = w["payload"].decode("utf-8", "replace")
                        ws["frames"].append(e)
                        if kind in ws["opcodes"][who]:
                            ws["opcodes"][who][kind] += 1
                        if kind == "close":
                            pl = w["payload"]
                            ws["close_frames"].append({
                                "from": who, "code": int.from_bytes(pl[:2], "big") if len(pl) >= 2 else None,
                                "reason": pl[2:].decode("utf-8", "replace") if len(pl) >= 2 else None, "packet": n})
    h["streams"] = [streams[k] for k in sorted(streams)]
    return h


def facts(path, use_keys=True, h2=False):
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
    where = os.path.relpath(os.path.dirname(os.path.abspath(path)), ROOT) + "/"
    shown = " ".join(args).replace(path, where + name).replace(keys, where + stem + ".keys")
    result = {
        "capture": name,
        "tshark": tshark_version(),
        "command": shown + " -T pdml",
        **capinfo(path),
        "key_log": os.path.relpath(keys, ROOT) if os.path.exists(keys) else None,
        "notes": list((H2_NOTES if h2 else NOTES).get(name, [])),
        "streams": [],
    }
    if h2:
        result["tshark_websocket_frames"] = sum(len(p["ws"]) for p in packets)
        result["notes"].append(
            "HTTP/2 capture: \"ws_opcodes\" and \"close_frames\" of each TCP stream are tshark's own WebSocket "
            "dissection, empty because TShark 4.0 does not dissect WebSocket inside HTTP/2 streams "
            f"(tshark_websocket_frames: {result['tshark_websocket_frames']}); the WebSocket frames are under "
            "h2.streams[].websocket, decoded by tshark_facts.py from tshark's http2.data.data.")
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
        if h2:
            s["h2"] = h2_facts(pk, side)
            refusals = [a for a in (s["tls"] or {}).get("alerts", []) if a["from"] == "server" and a["level"] == "fatal"]
            if s["tls"] and s["tls"]["server_hello_packet"] is None and refusals:
                result["notes"].append(
                    f"stream {sid}: no ServerHello: the server answered the ClientHello (ALPN offered: "
                    f"{s['tls']['alpn_offered']}) with a fatal {refusals[0]['description']} alert: no secrets, "
                    "nothing to decrypt, no HTTP/2.")
            elif s["tls"] and s["tls"]["server_hello_packet"] is None:
                result["notes"].append(
                    f"stream {sid}: the client sent a ClientHello and ended the connection before any ServerHello "
                    "arrived: no secrets for it in the key log, nothing to decrypt, no HTTP/2.")
            elif s["tls"] and not s["tls"]["decrypted"]:
                result["notes"].append(
                    f"stream {sid}: the client ended the connection during the TLS handshake (after the ServerHello "
                    f"of packet {s['tls']['server_hello_packet']}, without a Finished): no secrets for it in the key "
                    "log, nothing to decrypt, no HTTP/2.")
            elif s["tls"] and (s["h2"] is None or s["h2"]["preface"] is None):
                result["notes"].append(
                    f"stream {sid}: TLS handshake done (ALPN {s['tls']['alpn']}), but the client sent no HTTP/2 "
                    "connection preface and no frame: it ended an unused connection"
                    + (" (the server's SETTINGS are all there is of HTTP/2)." if s["h2"] else "."))
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


def out_name(path, use_keys=True, h2=False):
    return os.path.join(H2_OUT if h2 else OUT,
                        os.path.basename(path).rsplit(".", 1)[0] + ("" if use_keys else ".no-keys") + ".json")


def h2_brief(s):
    h = s.get("h2")
    if not h:
        return ""
    parts = []
    for st in h["streams"]:
        req, resp, ws = st["request"] or {}, st["response"] or {}, st["websocket"]
        parts.append(f"[{st['id']} {req.get(':method')}{'/' + req[':protocol'] if req.get(':protocol') else ''}"
                     f" {resp.get(':status')} close={[(c['from'][0], c['code']) for c in (ws or {}).get('close_frames', [])]}"
                     f" rst={[(r['from'][0], r['error_name']) for r in st['rst_stream']]}]")
    return (f" h2: ecp={(h['enable_connect_protocol']['server'] or {}).get('value')} "
            f"goaway={[(g['from'][0], g['error_name'], g['last_stream_id']) for g in h['goaway']]} " + " ".join(parts))


def main(argv):
    use_keys = "--no-keys" not in argv
    h2 = "--h2" in argv
    argv = [a for a in argv if a not in ("--no-keys", "--h2")]
    src = H2_DIR if h2 else HERE
    paths = argv or sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith(CAPTURE_EXT))
    if not use_keys:
        paths = [p for p in paths if not p.endswith("-dsb.pcapng")]
    os.makedirs(H2_OUT if h2 else OUT, exist_ok=True)
    for path in paths:
        data = facts(path, use_keys, h2)
        if not use_keys:
            data["notes"].append("made with no key log (tshark_facts.py --no-keys): what tshark sees "
                                 "of the TLS streams without secrets.")
        out = out_name(path, use_keys, h2)
        with open(out, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        brief = "; ".join(
            f"stream {s['stream']}: {(s['tls'] or {}).get('version') or 'plain'} {(s['tls'] or {}).get('cipher') or ''}"
            f" decrypted={(s['tls'] or {}).get('decrypted')} http={s['http_status']} close={[c['code'] for c in s['close_frames']]}"
            f" alerts={[(a['from'], a['description']) for a in (s['tls'] or {}).get('alerts', [])]}"
            f" fin={s['first_fin'] and s['first_fin']['from']} rst={s['first_rst'] and s['first_rst']['from']}"
            + h2_brief(s)
            for s in data["streams"])
        print(f"{os.path.basename(path)}: {data['packets']} packets -> {os.path.relpath(out, ROOT)}: {brief}")


if __name__ == "__main__":
    main(sys.argv[1:])
