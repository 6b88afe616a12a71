#!/usr/bin/env python3
"""Write captures/heartbeats/NAME.truth.json: the peers' reports, tshark facts, wsdiag's table.

    truth.py OUT.truth.json PCAP --port P [--port P...] [--tls-port P] [--keys K]
             [--report LABEL=FILE ...] [--wsdiag BIN] [--note TEXT ...]

tshark facts (TShark 4.0): every frame that has TCP flags SYN/FIN/RST, an HTTP request or
response, or WebSocket frames, with its frame number, time, stream, direction and, per frame,
the WebSocket opcodes, Close codes and reasons, ping/pong payloads and text payloads (engine.io
packets are named from their first character). Ports given with --port are decoded as HTTP
(-d tcp.port==P,http), --tls-port as TLS carrying HTTP (with --keys as tls.keylog_file).
Standard library only.
"""
import argparse
import json
import os
import subprocess

FIELDS = ["frame.number", "frame.time_relative", "frame.time_epoch", "tcp.stream", "tcp.srcport",
          "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
          "tcp.len", "http.request.method", "http.request.uri", "http.response.code",
          "http.response.phrase", "http.file_data", "websocket.opcode", "websocket.fin",
          "websocket.mask", "websocket.payload.close.status_code", "websocket.payload.close.reason",
          "websocket.payload.text", "websocket.payload.ping", "websocket.payload.pong",
          "tls.handshake.type", "tls.record.content_type"]

OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
EIO = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message", "5": "upgrade", "6": "noop"}
SIO = {"0": "CONNECT", "1": "DISCONNECT", "2": "EVENT", "3": "ACK", "4": "CONNECT_ERROR",
       "5": "BINARY_EVENT", "6": "BINARY_ACK"}


def eio_name(text):
    """engine.io v4 packet name of a text payload ("2probe" -> "ping probe", "42[...]" -> "message EVENT")."""
    if not text or text[0] not in EIO:
        return None
    name = EIO[text[0]]
    if text[0] == "4" and len(text) > 1 and text[1] in SIO:
        name += " " + SIO[text[1]]
    elif text[1:] == "probe":
        name += " probe"
    return name


def tshark(pcap, ports, tls_ports, keys):
    cmd = ["tshark", "-r", pcap, "-o", "tcp.reassemble_out_of_order:TRUE"]
    for p in ports:
        cmd += ["-d", f"tcp.port=={p},http"]
    for p in tls_ports:
        cmd += ["-d", f"tcp.port=={p},tls", "-d", f"tls.port=={p},http"]
    if keys:
        cmd += ["-o", f"tls.keylog_file:{keys}"]
    cmd += ["-Y", "tcp.flags.syn==1 || tcp.flags.fin==1 || tcp.flags.reset==1 || http || websocket",
            "-T", "json"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return cmd, json.loads(out or "[]")


def facts(pcap, ports, tls_ports, keys):
    cmd, pkts = tshark(pcap, ports, tls_ports, keys)
    frames, closes, pingpong, eio, ends, http = [], [], [], [], [], []
    for p in pkts:
        L = p["_source"]["layers"]
        g = lambda k: L.get(k, [])
        one = lambda k: (L.get(k) or [None])[0]
        n = int(one("frame.number"))
        t = round(float(one("frame.time_relative")), 6)
        d = f"{one('tcp.srcport')}->{one('tcp.dstport')}"
        st = int(one("tcp.stream"))
        flags = [f for f, k in (("SYN", "tcp.flags.syn"), ("ACK", "tcp.flags.ack"), ("FIN", "tcp.flags.fin"),
                                ("RST", "tcp.flags.reset")) if one(k) in ("1", "True", "true")]
        fr = {"frame": n, "time": t, "epoch": round(float(one("frame.time_epoch")), 6), "stream": st, "dir": d, "flags": flags, "tcp_len": int(one("tcp.len") or 0)}
        if "FIN" in flags or "RST" in flags:
            ends.append({"frame": n, "time": t, "stream": st, "dir": d, "flags": flags})
        if g("http.request.method") or g("http.response.code"):
            h = {"frame": n, "time": t, "stream": st, "dir": d}
            if g("http.request.method"):
                h.update(method=one("http.request.method"), uri=one("http.request.uri"))
            if g("http.response.code"):
                h.update(status=int(one("http.response.code")), phrase=one("http.response.phrase"))
            body = one("http.file_data")
            if body:
                h["body"] = body
                if "/socket.io/" in (h.get("uri") or "") or any(x["stream"] == st and "/socket.io/" in (x.get("uri") or "") for x in http):
                    h["engineio"] = [{"packet": pk, "type": eio_name(pk)} for pk in body.split("\x1e")]
            http.append(h)
            fr["http"] = h
        ops = [int(x) for x in g("websocket.opcode")]
        if ops:
            fr["ws_opcodes"] = [OPCODES.get(o, o) for o in ops]
            codes = g("websocket.payload.close.status_code")
            reasons = g("websocket.payload.close.reason")
            texts = g("websocket.payload.text")
            pings = g("websocket.payload.ping")
            pongs = g("websocket.payload.pong")
            for i, o in enumerate(ops):
                if o == 8:
                    c = {"frame": n, "time": t, "stream": st, "dir": d}
                    if codes:
                        c["code"] = int(codes.pop(0))
                    c["reason"] = reasons.pop(0) if reasons else ""
                    closes.append(c)
                elif o in (9, 10):
                    pl = (pings if o == 9 else pongs)
                    pingpong.append({"frame": n, "time": t, "stream": st, "dir": d, "opcode": OPCODES[o],
                                     "payload": pl.pop(0) if pl else ""})
            if texts:
                fr["texts"] = texts
                for x in texts:
                    name = eio_name(x)
                    if name:
                        eio.append({"frame": n, "time": t, "stream": st, "dir": d, "packet": x, "type": name})
        frames.append(fr)
    out = {"tshark_command": " ".join(cmd[:-2 * len(FIELDS)]) + " -e ...",
           "close_frames": closes, "ping_pong": pingpong, "fin_rst": ends, "http": http}
    if eio:
        out["engineio_ws"] = eio
    sessions = engineio_sessions(http, frames, ends)
    if sessions:
        out["engineio_sessions"] = sessions
    out["frames"] = frames
    return out


def engineio_sessions(http, frames, ends):
    """Per engine.io sid: the TCP connections (streams, client ports) whose requests carry
    `sid=` (and the stream whose answer announced it), each request's frame, and the websocket
    upgrade request; the first FIN / RST of each of those connections."""
    import re
    from urllib.parse import parse_qs, urlsplit
    first = {}
    for fr in frames:
        first.setdefault(fr["stream"], fr)
    sids, sio_ids = {}, []
    for h in http:
        body = h.get("body") or ""
        # the engine.io open packet 0{"sid":...}; a Socket.IO CONNECT answer 40{"sid":...}
        # names the Socket.IO session (another id), kept as socketio_sid
        m = re.match(r'0\{"sid":"([^"]+)"', body) if h.get("status") else None
        if m:
            s = sids.setdefault(m.group(1), {"sid": m.group(1), "requests": []})
            s["opened_by"] = {"frame": h["frame"], "stream": h["stream"]}
        m = re.search(r'(?:^|\x1e)40\{"sid":"([^"]+)"', body) if h.get("status") else None
        if m:
            sio_ids.append({"socketio_sid": m.group(1), "frame": h["frame"], "stream": h["stream"]})
        uri = h.get("uri") or ""
        if "/socket.io/" not in uri:
            continue
        q = parse_qs(urlsplit(uri).query)
        sid = (q.get("sid") or [None])[0]
        req = {"frame": h["frame"], "time": h["time"], "stream": h["stream"], "method": h.get("method"),
               "transport": (q.get("transport") or [None])[0], "uri": uri}
        if sid is None:
            sids.setdefault(None, {"sid": None, "requests": []})["requests"].append(req)
        else:
            sids.setdefault(sid, {"sid": sid, "requests": []})["requests"].append(req)
    out = []
    handshake = sids.pop(None, None)
    for sid, s in sids.items():
        streams = sorted({r["stream"] for r in s["requests"]} | ({s["opened_by"]["stream"]} if "opened_by" in s else set()))
        conns = []
        for st in streams:
            f = first[st]
            sport, dport = (int(x) for x in f["dir"].split("->"))
            conns.append({"stream": st, "client_port": sport if "SYN" in f["flags"] and "ACK" not in f["flags"] else None,
                          "first_frame": f["frame"],
                          "requests": [r["frame"] for r in s["requests"] if r["stream"] == st]
                          + ([handshake["requests"][0]["frame"]] if handshake and handshake["requests"][0]["stream"] == st and s.get("opened_by", {}).get("stream") == st else []),
                          "ends": [e for e in ends if e["stream"] == st][:2]})
        for c in conns:
            c["requests"].sort()
        up = [r for r in s["requests"] if r["transport"] == "websocket"]
        out.append({"sid": sid, "socketio_connect_answers": sio_ids, "opened_by": s.get("opened_by"),
                    "open_request": handshake["requests"][0] if handshake else None,
                    "connections": conns,
                    "polling_requests": [{k: r[k] for k in ("frame", "stream", "method")} for r in s["requests"] if r["transport"] == "polling"],
                    "websocket_upgrade_request": up[0] if up else None})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("pcap")
    ap.add_argument("--port", type=int, action="append", default=[])
    ap.add_argument("--tls-port", type=int, action="append", default=[])
    ap.add_argument("--keys")
    ap.add_argument("--report", action="append", default=[])
    ap.add_argument("--wsdiag", default="wsdiag")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--scenario")
    a = ap.parse_args()
    truth = {"capture": os.path.basename(a.pcap)}
    if a.scenario:
        truth["scenario"] = a.scenario
    if a.note:
        truth["notes"] = a.note
    truth["peers"] = {}
    for r in a.report:
        label, path = r.split("=", 1)
        try:
            with open(path) as f:
                truth["peers"][label] = json.load(f)
        except FileNotFoundError:
            truth["peers"][label] = {"missing": f"{label} wrote no report"}
    truth["tshark"] = facts(a.pcap, a.port, a.tls_port, a.keys)
    cmd = [a.wsdiag, "--color", "never", "--sensor", "lo"]
    if a.keys:
        cmd += ["--keylog", a.keys]
    res = subprocess.run(cmd + [a.pcap], capture_output=True, text=True)
    truth["wsdiag_now"] = {"command": "wsdiag --color never --sensor lo" + (" --keylog NAME.keys" if a.keys else "")
                           + " " + os.path.basename(a.pcap),
                           "exit": res.returncode, "table": res.stdout.rstrip("\n").split("\n"),
                           **({"stderr": res.stderr} if res.stderr else {})}
    with open(a.out, "w") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
