// WebSockets over HTTP/2 (RFC 8441) peers for captures/make-h2.sh, on Node's http2 module.
//   node h2ws.js server tls|h2c MODE HOST PORT [KEYLOG]
//   node h2ws.js client MODE URL                     (h2c with prior knowledge: http://HOST:PORT)
//
// The server sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (settings: {enableConnectProtocol:
// true}) and answers an extended CONNECT (:method CONNECT, :protocol websocket) on /chat...
// with :status 200; from then on the HTTP/2 stream carries RFC 6455 frames in DATA frames,
// spoken by the `ws` library of peers/node: `new WebSocket(null)` + `ws.setSocket(stream, ...)`,
// as ws's own WebSocketServer.completeUpgrade does with a TCP socket (ws only needs a Duplex;
// setTimeout is the stream's own, setNoDelay it skips when absent). ws ends its side of the
// connection with socket.end(), which on an Http2Stream is END_STREAM; 'close' of the stream is
// the TCP close for ws. tls: ALPN h2 only (no HTTP/1.1 fallback), certificate server.pem of
// peers/tls; h2c: cleartext HTTP/2, prior knowledge (no Upgrade: h2c).
// GET / serves page.html beside this file (so that a browser has an h2 connection to the
// origin before it opens a WebSocket); any other GET is a 404.
//
// Server MODE (what it does with each WebSocket):
//   echo       echo every message; the client closes
//   close1011  on the first message: close(1011, "internal error") (then END_STREAM)
//   rst        echo the first message, 0.5 s later RST_STREAM (CANCEL) on the stream: no Close,
//              no END_STREAM (see rstStream)
//   goaway     echo the first message, 0.5 s later session.destroy(): one GOAWAY (NO_ERROR,
//              last stream = the highest stream the client opened), then the TLS/TCP connection
//              is closed with the WebSocket stream still open: no Close, no RST_STREAM
//   reject403  answer the extended CONNECT with :status 403 (a short text body, END_STREAM)
//
// Client MODE (extended CONNECT to URL/chat, after the server's SETTINGS allowed it):
//   clean      send "hello over h2c", on the echo close(1000, "done"), then close the session
//   expect403  expect a non-200 answer; print it, close the session
// The client's WebSocket is ws's too: `new WebSocket(null)` makes a server-side object; its
// _isServer is set to false before setSocket so that it masks its frames and accepts unmasked
// ones, as a client must (RFC 6455 5.1).
'use strict';
const fs = require('fs');
const path = require('path');
const http2 = require('http2');
const WebSocket = require(path.join(__dirname, '..', 'node', 'node_modules', 'ws'));

const C = http2.constants;
const [role, ...args] = process.argv.slice(2);
const say = (...a) => console.log(`h2ws ${role}:`, ...a);
const hdrs = (h) => JSON.stringify(Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'user-agent')));

// a ws WebSocket on an HTTP/2 stream; isServer false: the client side (masks its frames)
function wsOnStream(stream, isServer, id) {
  // the options WebSocketServer gives its WebSockets: closeTimeout matters, without it the
  // close timer (socket.destroy() if the peer does not finish the closing handshake) fires at once
  const ws = new WebSocket(null, undefined, { autoPong: true, closeTimeout: 30000 });
  ws._isServer = isServer;
  ws.setSocket(stream, Buffer.alloc(0), { maxPayload: 100 * 1024 * 1024 });
  stream.on('close', () => say(`stream ${id} closed (rstCode=${stream.rstCode})`));
  ws.on('error', (err) => say(`stream ${id} ws error ${err.message}`));
  ws.on('close', (code, reason) => say(`stream ${id} ws close code=${code} reason=${JSON.stringify(reason.toString())}`));
  return ws;
}

// RST_STREAM on its own. The public stream.close(code) first ends the writable side (an empty
// DATA frame with END_STREAM, seen in a trial run) and only then sends RST_STREAM; a bare reset
// (what a proxy or an aborting server sends) needs nghttp2's rstStream on the stream's native
// handle (Node's internal Symbol(kHandle)), which the session then reports as a stream close.
function rstStream(stream, code) {
  const k = Object.getOwnPropertySymbols(stream).find((s) => String(s) === 'Symbol(kHandle)');
  if (k && stream[k] && typeof stream[k].rstStream === 'function') stream[k].rstStream(code);
  else { say('no native handle: stream.close(code) (END_STREAM first)'); stream.close(code); }
}

if (role === 'server') {
  const [kind, mode, host, port, keylog] = args;
  const settings = { enableConnectProtocol: true };
  const server = kind === 'tls'
    ? http2.createSecureServer({
      key: fs.readFileSync(path.join(__dirname, '..', 'tls', 'server.key')),
      cert: fs.readFileSync(path.join(__dirname, '..', 'tls', 'server.pem')),
      allowHTTP1: false, settings,
    })
    : http2.createServer({ settings });
  if (keylog) server.on('keylog', (line) => fs.appendFileSync(keylog, line));
  server.on('session', (session) => {
    const s = session.socket;
    const who = `${s.remoteAddress}:${s.remotePort}`;
    say(`session from ${who} alpn=${session.alpnProtocol}`);
    session.on('close', () => say(`session from ${who} closed`));
    session.on('goaway', (code, last) => say(`session from ${who}: GOAWAY received code=${code} last_stream=${last}`));
    session.on('error', (err) => say(`session error ${err.message}`));
  });
  server.on('stream', (stream, headers) => {
    const id = stream.id;
    const method = headers[':method'];
    say(`stream ${id} ${hdrs(headers)}`);
    stream.on('error', (err) => say(`stream ${id} error ${err.message}`));
    if (method === 'GET') {
      if (headers[':path'].split('?')[0] === '/') {
        stream.respond({ ':status': 200, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        stream.end(fs.readFileSync(path.join(__dirname, 'page.html')));
      } else {
        stream.respond({ ':status': 404, 'content-type': 'text/plain' });
        stream.end('not found\n');
      }
      return;
    }
    if (method !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    if (mode === 'reject403') {
      say(`stream ${id} answering :status 403`);
      stream.respond({ ':status': 403, 'content-type': 'text/plain' });
      stream.end('forbidden\n');
      return;
    }
    stream.respond({ ':status': 200 });
    const ws = wsOnStream(stream, true, id);
    say(`stream ${id} websocket open ${headers[':path']}`);
    let n = 0;
    ws.on('message', (data, isBinary) => {
      n += 1;
      say(`stream ${id} message ${n} ${isBinary ? 'binary' : 'text'} ${JSON.stringify(data.toString())}`);
      if (mode === 'close1011') {
        say(`stream ${id} close(1011, "internal error")`);
        ws.close(1011, 'internal error');
        return;
      }
      ws.send(data, { binary: isBinary });
      if (n !== 1) return;
      if (mode === 'rst') {
        setTimeout(() => { say(`stream ${id} RST_STREAM CANCEL`); rstStream(stream, C.NGHTTP2_CANCEL); }, 500);
      } else if (mode === 'goaway') {
        setTimeout(() => {
          // destroy() sends one GOAWAY (NO_ERROR, the last stream it processed) and closes the
          // connection at once; goaway() + destroy() would send two GOAWAYs (seen in a trial)
          say('session.destroy(): GOAWAY NO_ERROR, then the connection closes');
          stream.session.destroy();
        }, 500);
      }
    });
  });
  server.listen(Number(port), host, () => say(`listening on ${host}:${port} ${kind} mode=${mode}`));
} else if (role === 'client') {
  const [mode, url] = args;
  const session = http2.connect(url);
  session.on('error', (err) => say(`session error ${err.message}`));
  session.on('goaway', (code, last) => say(`GOAWAY received code=${code} last_stream=${last}`));
  session.on('close', () => say('session closed'));
  session.once('remoteSettings', (st) => {
    say(`server SETTINGS enableConnectProtocol=${st.enableConnectProtocol}`);
    const u = new URL(url);
    const req = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http',
      ':path': '/chat', ':authority': u.host, 'sec-websocket-version': '13',
    }, { endStream: false });
    req.on('error', (err) => say(`stream error ${err.message}`));
    req.on('response', (h) => {
      say(`stream ${req.id} response ${JSON.stringify(h)}`);
      if (h[':status'] !== 200) {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d) => { body += d; });
        req.on('end', () => { say(`stream ${req.id} body ${JSON.stringify(body)}`); session.close(); });
        if (mode !== 'expect403') process.exitCode = 1;
        return;
      }
      const ws = wsOnStream(req, false, req.id);
      say(`stream ${req.id} websocket open`);
      ws.on('message', (data) => {
        say(`stream ${req.id} message ${JSON.stringify(data.toString())}`);
        say(`stream ${req.id} close(1000, "done")`);
        ws.close(1000, 'done');
      });
      ws.on('close', () => session.close());
      ws.send('hello over h2c');
    });
  });
} else {
  console.error('usage: h2ws.js server tls|h2c MODE HOST PORT [KEYLOG] | client MODE URL');
  process.exit(2);
}
