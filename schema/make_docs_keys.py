#!/usr/bin/env python3
"""Rewrites the "## Keys" table of docs/report.md from schema/wsdiag-report.schema.json (run after
UPDATE_SCHEMA=1 cargo test --test schema). The meanings of keys are below; a key without one takes
the doc comment of its field. tests/schema.rs checks that docs/report.md names every key."""
import json, os
HERE = os.path.dirname(os.path.abspath(__file__))
M = {
"tool": "always `\"wsdiag\"`",
"version": "wsdiag's version",
"schema": "the contract's version: changes only with an incompatible change (1)",
"inputs": "one per capture file given, in the order read (the pieces of a rotation set in time order)",
"inputs[].capture": "the capture it is part of, from 0: each file is a capture of its own, except the pieces of a rotation set, which share one; null when it could not be read",
"inputs[].piece": "its piece of that capture, from 1 (in text, packet `2:17` is packet 17 of piece 2; in JSON every packet number is the one in its own file); null when it could not be read",
"connections[].input.last_index": "the input holding its last packet: `index`, unless the connection runs on into later pieces of a rotation set",
"inputs[].path": "the file as given (`-` for standard input)",
"inputs[].packets": "packets read from it",
"inputs[].warnings": "what was wrong with it (damaged records, packets that could not be decoded, key log lines), each naming the file and the byte offset or packet",
"inputs[].format": "`pcap` or `pcapng`; null when the file could not be read as a capture",
"connections": "one record per WebSocket (per upgrade attempt), sorted by `id`; with `--all`, one per TCP connection too",
"connections[].id": "the record's id: TCP connections counted in order of first packet (`--conn N` shows this one)",
"connections[].transport": "what the WebSocket rode on",
"connections[].transport.kind": "`h1` (an HTTP/1.1 upgrade); `h2` (RFC 8441) once wsdiag reads HTTP/2",
"connections[].transport.tcp_id": "the `id` of its TCP connection",
"connections[].transport.stream": "the HTTP/2 stream id; null for `h1`",
"reconnect_loops[].uids": "the `uid`s of those connections, in the same order (what NDJSON lines join on)",
"proxied[].front_uid": "the front leg's `uid`",
"proxied[].back_uid": "the back leg's `uid`",
"connections[].client": "the client's address and port (`10.0.0.5:51234`, `[::1]:40000`): the SYN's sender, else the side that sent the request, else the side whose frames are masked",
"connections[].server": "the server's address and port",
"connections[].first_packet": "the connection's first packet (1-based, as Wireshark numbers the frames of the file it is in)",
"connections[].last_packet": "its last packet",
"connections[].start": "its first packet's time, RFC 3339 UTC with microseconds",
"connections[].duration_ms": "milliseconds from its first packet to its last",
"connections[].tcp": "the TCP story",
"connections[].tcp.syn": "the client's SYN was captured",
"connections[].tcp.syn_ack": "the server's SYN-ACK was captured",
"connections[].tcp.refused": "the SYN was answered by a RST",
"connections[].tcp.first_teardown": "the first FIN or RST from either side; null if none",
"connections[].tcp.first_teardown.by": "`client` or `server`",
"connections[].tcp.first_teardown.kind": "`fin` or `rst`",
"connections[].tcp.first_teardown.at_ms": "ms from the first packet",
"connections[].tcp.first_teardown.packet": "its packet",
"connections[].tcp.first_teardown.origin": "`endpoint` (its TTL fits what its sender sent), `path` (it does not: forged on the way), `unknown` (one TTL for everything, e.g. loopback, or nothing to compare)",
"connections[].tcp.first_teardown.ttl": "its TTL or hop limit",
"connections[].tcp.first_teardown.sender_ttls": "[lowest, highest] TTL of its sender's other packets; null if none",
"connections[].tcp.bytes": "TCP payload bytes per side, retransmissions not counted twice",
"connections[].tcp.gaps": "stretches of bytes missing from the capture (loss, snaplen)",
"connections[].tcp.retransmissions": "segments carrying bytes already seen",
"connections[].tcp.partial": "the capture did not see the connection's start",
"connections[].tls": "the TLS story; null for a plaintext connection",
"connections[].tls.version": "`TLS 1.3`, `TLS 1.2`, …; null if no ServerHello was seen",
"connections[].tls.cipher": "the cipher suite's IANA name",
"connections[].tls.sni": "the server name the client asked for",
"connections[].tls.alpn_offered": "the ALPN protocols the client offered",
"connections[].tls.alpn": "the one chosen (TLS 1.3: seen only when decrypted)",
"connections[].tls.client_family": "the browser the ClientHello looks like: `chromium` (GREASE, as BoringSSL sends it) or `firefox` (NSS's delegated_credentials and record_size_limit); null for others (OpenSSL: Node, Python, curl)",
"connections[].verdict.client_clean": "what the client's `onclose` says in `wasClean`: a clean closing handshake as this client judges it (Chromium: false after a server's RST, even following a complete closing handshake); null when it reports nothing",
"connections[].tls.decrypted": "at least one record was decrypted with the key log",
"connections[].tls.why_not": "why not (all) decrypted, as a sentence; null when decrypted",
"connections[].tls.alerts": "TLS alerts, in order",
"connections[].tls.alerts[].description": "`close_notify`, `unknown_ca`, …; null when encrypted and not decrypted",
"connections[].tls.close_notify": "the packet of each side's close_notify, or null",
"connections[].tls.records": "TLS records and their bytes per side",
"connections[].handshake": "the HTTP upgrade exchange (or, on a connection that never asked to upgrade, its first exchange)",
"connections[].handshake.request": "the request head; null if not seen",
"connections[].handshake.request.uri": "the request target, tokens in it masked (`?token=…`) unless `--show-secrets`",
"connections[].websocket.engineio": "the engine.io (Socket.IO) session this WebSocket upgraded, when its request carried a `sid`; null otherwise",
"connections[].websocket.engineio.sid": "the engine.io session id",
"connections[].websocket.engineio.polling_requests": "long-polling requests that carried the sid before the upgrade request",
"connections[].websocket.engineio.polling_connections": "the ids of the TCP connections that carried them (`--all` lists them; at most 16)",
"connections[].handshake.response.software": "the server software, recognised from what it sent: its `Server` field (`daphne`, `django-runserver`, `uvicorn`, `python-websockets`, `aiohttp`, `nginx`, `apache`, `caddy`, `haproxy`, `squid`, …), else its signature (Daphne's bare `403 Access denied` / `500 Internal server error`, Node ws's 426, nginx's and HAProxy's error pages); null when unknown",
"connections[].handshake.request.client": "the client's family from its User-Agent: `chromium`, `firefox`, `safari`, a library's name, or null; `proxy` on a reverse proxy's back leg (the connection from the address that just received the same upgrade request on another port: it passes the browser's User-Agent on, but its client is the proxy)",
"connections[].handshake.response": "the response head; null if none came",
"connections[].handshake.response.status": "101, or the status that refused the upgrade",
"connections[].handshake.response.accept_valid": "`Sec-WebSocket-Accept` is right for the key sent; null when it cannot be checked",
"connections[].handshake.latency_ms": "ms from the request to the response",
"connections[].handshake.problems": "what is wrong with a 101 (RFC 6455 §4.1), as sentences",
"connections[].websocket": "what the frames said",
"connections[].websocket.messages": "data messages per side (fragments joined)",
"connections[].websocket.frames": "frames per side and opcode",
"connections[].websocket.compressed": "permessage-deflate messages were seen",
"connections[].websocket.close_frames": "every Close frame, in order",
"connections[].websocket.close_frames[].code": "its status code; null when the frame had no payload (its receiver reports 1005)",
"connections[].websocket.violations": "every breach of RFC 6455 / RFC 7692, with its sender and packet",
"connections[].verdict": "how the WebSocket ended",
"connections[].verdict.kind": "one of the verdict kinds below",
"connections[].verdict.outcome": "one of the outcomes below",
"connections[].verdict.client_sees": "the close code the client reports (RFC 6455 §7.1.5); null while open or when the capture cannot tell",
"connections[].verdict.server_sees": "the close code the server reports",
"connections[].verdict.summary": "one sentence",
"connections[].verdict.evidence": "the packets that show it",
"connections[].verdict.advice": "likely causes and what to check next",
"connections[].timeline": "the connection's events in order (at most 400; `timeline_events_dropped` counts the rest)",
"connections[].wireshark_filter": "a display filter for the connection",
"summary": "counts over the records",
"summary.by_verdict": "records per verdict kind",
"reconnect_loops": "the same client host asking the same server for the same path again and again, with at least two failures",
"proxied": "the two legs of one WebSocket through a proxy, when the capture holds both",
"stats": "counters over the whole analysis",
"stats.tls_hidden": "TLS connections left out: not decrypted, handshake complete, nothing that looks like a WebSocket (`--all` shows them)",
}
M.update({
"connections[].type": "always `\"connection\"` (NDJSON lines of other types may be added)",
"connections[].schema": "the contract's version, on every record so that each NDJSON line says it",
"connections[].client_ip": "the client's address alone (`::1` for IPv6, no brackets)",
"connections[].client_port": "the client's port",
"connections[].server_ip": "the server's address alone",
"connections[].server_port": "the server's port",
"connections[].end": "its last packet's time, RFC 3339 UTC with microseconds",
"connections[].community_id": "the Community ID (v1, seed 0) of the TCP connection, as Zeek's conn.log, Suricata's EVE and Arkime write it",
"connections[].uid": "unique across runs; the same when the same capture is analysed again on the same sensor",
"connections[].sensor": "the host the capture was taken on (`--sensor NAME`, default the host name)",
"connections[].input": "the capture file the connection's first packet came from",
"connections[].input.path": "its path as given",
"connections[].input.index": "its place among the inputs, from 0",
})
s = json.load(open(os.path.join(HERE, 'wsdiag-report.schema.json')))
defs = s.get('$defs', {})


def resolve(n):
    return defs[n['$ref'].split('/')[-1]] if '$ref' in n else n


def typ(n):
    if 'anyOf' in n:
        return ' or '.join(typ(x) for x in n['anyOf'])
    if 'oneOf' in n:
        vals = []
        for x in n['oneOf']:
            if 'const' in x:
                vals.append(json.dumps(x['const']))
            elif 'enum' in x:
                vals += [json.dumps(v) for v in x['enum']]
            else:
                vals.append(typ(x))
        return ' \\| '.join(vals)
    if '$ref' in n:
        d = resolve(n)
        if 'enum' in d:
            return ' \\| '.join(json.dumps(v) for v in d['enum'])
        if 'oneOf' in d:
            return typ(d)
        return 'object'
    if 'enum' in n:
        return ' \\| '.join(json.dumps(v) for v in n['enum'])
    t = n.get('type')
    if isinstance(t, list):
        return ' or '.join(t)
    if t == 'array':
        return 'array of ' + typ(n.get('items', {}))
    if t == 'object' and 'additionalProperties' in n:
        return 'object (map)'
    return t or 'any'


rows, seen = [], set()


def walk(n, path):
    d = resolve(n)
    if 'anyOf' in n:
        for x in n['anyOf']:
            if x.get('type') != 'null':
                walk(x, path)
                return
    props = d.get('properties')
    if props is None and d.get('type') == 'array':
        walk(d['items'], path + '[]')
        return
    if props is None:
        return
    for k, v in props.items():
        p = f'{path}.{k}' if path else k
        rows.append((p, typ(v), (v.get('description') or '').replace('\n', ' ')))
        if p in seen:
            continue
        seen.add(p)
        inner = v
        if 'anyOf' in v:
            inner = [x for x in v['anyOf'] if x.get('type') != 'null'][0]
        r = resolve(inner)
        if r.get('type') == 'array' or 'items' in r:
            walk(r.get('items', {}), p + '[]')
        elif r.get('properties'):
            walk(inner, p)


walk(s, '')
out = ['| key | type | null | meaning |', '| --- | --- | --- | --- |']
for p, t, d in rows:
    null = 'may be null' if 'null' in t else ''
    out.append(f'| `{p}` | {t.replace(" or null", "")} | {null} | {M.get(p, d)} |')
path = os.path.join(HERE, '..', 'docs', 'report.md')
doc = open(path).read()
doc = doc[:doc.index('## Keys')] + '## Keys\n\n' + '\n'.join(out) + '\n'
open(path, 'w').write(doc)
