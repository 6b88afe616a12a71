// Load peers for `H2=1 benches/make-large-capture.sh`: WebSockets over HTTP/2 (RFC 8441), many
// per TCP connection, on Node's http2 module and the `ws` library.
//   node h2.js server HOST PORT             (TLS with TLS_KEY/TLS_CERT, else h2c)
//   node h2.js client URL_BASE FATES_OUT    (https://HOST:PORT or http://HOST:PORT)
//
// The server sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and answers each extended CONNECT
// (:method CONNECT, :protocol websocket) with :status 200; the stream then carries RFC 6455
// frames in DATA frames, spoken by `ws` on the stream (`new WebSocket(null)` + `setSocket`, as
// ws's WebSocketServer does with a TCP socket; ws only needs a Duplex). ws ends its side with
// socket.end(), which on an Http2Stream is END_STREAM. TLS: ALPN h2 only; every session's
// secrets go to TLS_KEYLOG as NSS key log lines (the server's 'keylog' event, written
// synchronously). TLS_CIPHERS as in server.js.
//
// The request :path picks what the server does with the WebSocket (the client picks it):
//   /bulk, /vanish, /open      echo every message (the client decides how it ends)
//   /reject                    :status 403 and a short body, END_STREAM; no WebSocket
//   /close4001?n=N             on the Nth message: close(4001, "role rejected")
//   /close1011?n=N             on the Nth message: close(1011, "internal error")
//   /rst?n=N                   on the Nth message: RST_STREAM (CANCEL), no Close, no END_STREAM
//   /goaway?n=N                on the Nth message: session.destroy(): one GOAWAY (NO_ERROR), then
//                              the TCP connection closes under the open stream (the client gives
//                              such a WebSocket a session of its own)
//
// The client opens CONNS WebSockets (default 400), STREAMS of them at once on each HTTP/2
// session (default 4; a "goaway" one alone), CONCURRENCY sessions at a time (default 8). Each
// WebSocket sends its messages one at a time (binary BIN_SIZE bytes and texts, as client.js),
// waiting for each echo; "bulk" then closes with 1000, "vanish" resets its stream (RST_STREAM
// CANCEL from the client, no Close), "open" stays open. A session whose streams are all over is
// closed (GOAWAY, then TCP FIN); one holding an "open" stream is kept. What the client saw for
// each WebSocket is one JSON line in FATES_OUT: seq, fate, path, client_port, stream (the
// HTTP/2 stream id), status, close_code, tls {version, cipher}. Then it prints "HOLDING N open"
// and waits for SIGTERM.
'use strict';
const fs = require('fs');
const http2 = require('http2');
const WebSocket = require('ws');
const { env, load, echoLoop, report, tlsOptions, tlsInfo } = require('./load');

const C = http2.constants;
const [role, ...args] = process.argv.slice(2);

// A ws WebSocket on an HTTP/2 stream; isServer false: the client side (it masks its frames).
function wsOnStream(stream, isServer) {
  const ws = new WebSocket(null, undefined, { autoPong: true, closeTimeout: 30000 });
  ws._isServer = isServer;
  ws.setSocket(stream, Buffer.alloc(0), { maxPayload: 1 << 20 });
  return ws;
}

// A bare RST_STREAM: stream.close(code) sends an empty DATA with END_STREAM first; nghttp2's
// rstStream on the stream's native handle (Node's internal Symbol(kHandle)) does not.
function rstStream(stream, code) {
  const k = Object.getOwnPropertySymbols(stream).find((s) => String(s) === 'Symbol(kHandle)');
  if (k && stream[k] && typeof stream[k].rstStream === 'function') stream[k].rstStream(code);
  else stream.close(code);
}

function server(host, port) {
  const tally = {};
  const count = (k) => { tally[k] = (tally[k] || 0) + 1; };
  const settings = { enableConnectProtocol: true };
  let srv;
  if (process.env.TLS_KEY) {
    const opts = {
      key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT),
      allowHTTP1: false, settings,
    };
    const ciphers = process.env.TLS_CIPHERS;
    if (ciphers && ciphers !== 'mix') opts.ciphers = ciphers;
    srv = http2.createSecureServer(opts);
    if (process.env.TLS_KEYLOG) {
      const fd = fs.openSync(process.env.TLS_KEYLOG, 'a');
      srv.on('keylog', (line) => { fs.writeSync(fd, line); count('keylog_lines'); });
    }
  } else {
    srv = http2.createServer({ settings });
  }
  srv.on('session', (s) => { count('sessions'); s.on('error', () => count('session_error')); });
  srv.on('stream', (stream, headers) => {
    stream.on('error', () => count('stream_error'));
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    const url = new URL(headers[':path'], 'http://x');
    const fate = url.pathname.slice(1);
    const n = Number(url.searchParams.get('n') || 0);
    if (fate === 'reject') {
      count('rejected_403');
      stream.respond({ ':status': 403, 'content-type': 'text/plain' });
      stream.end('forbidden\n');
      return;
    }
    stream.respond({ ':status': 200 });
    count(`upgraded_${fate}`);
    const ws = wsOnStream(stream, true);
    ws.on('error', () => count('ws_error'));
    let seen = 0;
    ws.on('message', (data, isBinary) => {
      seen += 1;
      if (n > 0 && seen >= n) {
        switch (fate) {
          case 'close4001': count('closed_4001'); ws.close(4001, 'role rejected'); return;
          case 'close1011': count('closed_1011'); ws.close(1011, 'internal error'); return;
          case 'rst': count('rst_stream'); rstStream(stream, C.NGHTTP2_CANCEL); return;
          case 'goaway': count('goaway'); stream.session.destroy(); return;
          default: break;
        }
      }
      ws.send(data, { binary: isBinary });
    });
  });
  srv.listen({ host, port: Number(port), backlog: 1024 }, () => console.log(`listening ${host}:${port}`));
  process.on('SIGTERM', () => { console.log(`server tally ${JSON.stringify(tally)}`); process.exit(0); });
}

function client(base, fatesOut) {
  const CONNS = env('CONNS', 400);
  const STREAMS = env('STREAMS', 4);
  const CONCURRENCY = env('CONCURRENCY', 8);
  const TLS = base.startsWith('https:');
  const SHARES = [
    ['reject', 0.05], ['close4001', 0.03], ['close1011', 0.03], ['rst', 0.03],
    ['vanish', 0.03], ['goaway', 0.02], ['open', 0.01],
  ];
  const { plan: makePlan, messages } = load();
  const plan = makePlan(CONNS, SHARES);
  // sessions: STREAMS WebSockets each, in plan order; a "goaway" one alone
  const sessions = [];
  let cur = [];
  plan.forEach((fate, i) => {
    if (fate === 'goaway') { sessions.push([[i + 1, fate]]); return; }
    cur.push([i + 1, fate]);
    if (cur.length === STREAMS) { sessions.push(cur); cur = []; }
  });
  if (cur.length) sessions.push(cur);

  const results = [];
  const held = [];
  function runStream(session, seq, fate, info) {
    const msgs = messages(fate);
    const n = msgs.length;
    let path = `/${fate}`;
    if (['close4001', 'close1011', 'rst', 'goaway'].includes(fate)) path += `?n=${n}`;
    const rec = {
      seq, fate, path, client_port: session.socket.localPort, stream: null, status: null,
      close_code: null, close_reason: null, error: null, sent: { binary: 0, text: 0 }, echoed: 0,
    };
    if (TLS) rec.tls = info;
    results.push(rec);
    return new Promise((resolve) => {
      let done = false;
      const finish = () => { if (!done) { done = true; resolve(); } };
      const u = new URL(base);
      const req = session.request({
        ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': u.protocol.slice(0, -1),
        ':path': path, ':authority': u.host, 'sec-websocket-version': '13',
      }, { endStream: false });
      req.on('error', (e) => { rec.error = String(e.message || e); });
      req.on('close', finish);   // a stream that ends before any WebSocket was made
      req.on('response', (h) => {
        rec.stream = req.id;
        rec.status = h[':status'];
        if (rec.status !== 200) { req.resume(); req.on('end', finish); return; }
        const ws = wsOnStream(req, false);
        ws.on('error', (e) => { rec.error = String(e.message || e); });
        ws.on('close', (code, reason) => {
          rec.close_code = code; rec.close_reason = reason.toString();
          finish();
        });
        const send = echoLoop(ws, rec, msgs, () => {
          switch (fate) {
            case 'vanish': rstStream(req, C.NGHTTP2_CANCEL); break;   // no Close
            case 'open': held.push(ws); finish(); break;
            default: ws.close(1000, 'done'); break;
          }
        });
        send();
      });
    });
  }
  function runSession(streams) {
    return new Promise((resolve) => {
      const opts = TLS ? tlsOptions(streams[0][0]) : {};
      const session = http2.connect(base, opts);
      session.on('error', () => {});
      session.once('remoteSettings', async () => {
        const info = TLS ? tlsInfo(session.socket) : null;
        await Promise.all(streams.map(([seq, fate]) => runStream(session, seq, fate, info)));
        if (!streams.some(([, fate]) => fate === 'open')) session.close();
        resolve();
      });
      session.on('close', resolve);
    });
  }
  (async () => {
    let i = 0;
    const workers = [];
    for (let w = 0; w < CONCURRENCY; w++) {
      workers.push((async () => {
        while (i < sessions.length) await runSession(sessions[i++]);
      })());
    }
    await Promise.all(workers);
    results.sort((a, b) => a.seq - b.seq);
    for (const r of results) if (r.fate === 'open') r.still_open = true;
    report(fatesOut, results, held.length);
  })().catch((e) => { console.error(e); process.exit(1); });
  process.on('SIGTERM', () => process.exit(0));
}

if (role === 'server') server(...args);
else if (role === 'client') client(...args);
else { console.error('usage: h2.js server HOST PORT | client URL_BASE FATES_OUT'); process.exit(2); }
