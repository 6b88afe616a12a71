// Node `ws` peers over TLS for captures/make-wss.sh.
//   node wss.js server MODE HOST PORT TLSVER CIPHERS [KEYLOG]
//   node wss.js client MODE URL TLSVER [KEYLOG]
// TLSVER: TLSv1.3 or TLSv1.2 (minVersion = maxVersion). CIPHERS (server only): the one suite
// it accepts, e.g. TLS_CHACHA20_POLY1305_SHA256 or ECDHE-RSA-AES256-GCM-SHA384; the client
// offers Node's defaults and the server's restriction decides. KEYLOG: the 'keylog' event's
// lines appended to this file (NSS key log). The server uses server.pem/server.key beside this
// file; the client trusts ca.pem and sends SNI "localhost".
// Server MODE:
//   echo       echo every message
//   close4001  on the first message: close(4001, "unauthorized")
//   reset      echo the first message, 0.5 s later reset TCP (resetAndDestroy() of the TCP
//              socket under the TLS one: RST, no Close frame, no close_notify)
//   deflate    echo, permessage-deflate (threshold 0: every message compressed)
// Client MODE:
//   clean      3 texts (one of 1.2 KB) each way, a ping, close(1000, "bye")
//   send-wait  one message, then wait until the server ends the connection
//   deflate    like clean, offering permessage-deflate (threshold 0)
'use strict';
const fs = require('fs');
const path = require('path');
const https = require('https');
const net = require('net');
// ws from peers/node (package-lock there)
const WebSocket = require(path.join(__dirname, '..', 'node', 'node_modules', 'ws'));

const dir = __dirname;
const [role, mode, ...rest] = process.argv.slice(2);
const say = (...a) => console.log(`node ${role} ${mode}:`, ...a);
const tlsOf = (s) => `${s.getProtocol()} ${s.getCipher().standardName}`;

if (role === 'server') {
  const [host, port, tlsver, ciphers, keylog] = rest;
  const server = https.createServer({
    key: fs.readFileSync(path.join(dir, 'server.key')),
    cert: fs.readFileSync(path.join(dir, 'server.pem')),
    minVersion: tlsver, maxVersion: tlsver, ciphers,
  });
  if (keylog) server.on('keylog', (line) => fs.appendFileSync(keylog, line));
  server.on('tlsClientError', (err) => say(`TLS error: ${err.message}`));
  const wss = new WebSocket.Server({
    server, perMessageDeflate: mode === 'deflate' ? { threshold: 0 } : false,
  });
  wss.on('connection', (ws, req) => {
    say(`open ${req.url} ${tlsOf(req.socket)} extensions=${ws.extensions || '-'}`);
    let n = 0;
    ws.on('message', (data, isBinary) => {
      n += 1;
      say(`message ${n} ${isBinary ? 'binary' : 'text'} ${data.length} bytes`);
      if (mode === 'close4001') { ws.close(4001, 'unauthorized'); return; }
      ws.send(data, { binary: isBinary });
      if (mode === 'reset' && n === 1) {
        // the TLSSocket's handle is a TLSWrap, which cannot reset: reset the TCP socket under it
        setTimeout(() => { say('tcp socket.resetAndDestroy()'); ws._socket._parent.resetAndDestroy(); }, 500);
      }
    });
    ws.on('ping', (d) => say(`ping ${d}`));
    ws.on('error', (err) => say(`error ${err.message}`));
    ws.on('close', (code, reason) => say(`close code=${code} reason=${JSON.stringify(reason.toString())}`));
  });
  // a plain TCP server in front hands each socket to the HTTPS server, so that the TLSSocket
  // keeps the net.Socket under it as _parent (for resetAndDestroy in the reset mode)
  net.createServer((sock) => server.emit('connection', sock))
    .listen(Number(port), host, () => say(`listening on ${host}:${port} ${tlsver} ${ciphers}`));
} else {
  const [url, tlsver, keylog] = rest;
  const ws = new WebSocket(url, {
    ca: fs.readFileSync(path.join(dir, 'ca.pem')), servername: 'localhost',
    minVersion: tlsver, maxVersion: tlsver,
    perMessageDeflate: mode === 'deflate' ? { threshold: 0 } : false,
  });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const queue = [];
  let waiter = null;
  ws.on('message', (data, isBinary) => {
    say(`message ${isBinary ? 'binary' : 'text'} ${data.length} bytes`);
    queue.push(data);
    if (waiter) { const w = waiter; waiter = null; w(); }
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift())
    : new Promise((r) => { waiter = () => r(queue.shift()); }));
  ws.on('open', async () => {
    say(`open ${tlsOf(ws._socket)} extensions=${ws.extensions || '-'}`);
    ws.send('hello');
    await next();
    if (mode === 'send-wait') { say('open, waiting'); return; }
    ws.send('second message: ' + 'tick tock '.repeat(120));
    await next();
    ws.send('third');
    await next();
    ws.ping('hb');
    await sleep(50);
    ws.close(1000, 'bye');
  });
  ws.on('pong', (d) => say(`pong ${d}`));
  ws.on('error', (err) => say(`error ${err.message}`));
  ws.on('close', (code, reason) => say(`close code=${code} reason=${JSON.stringify(reason.toString())}`));
  if (keylog) {
    // the ClientRequest's socket is the TLSSocket; 'keylog' fires during the handshake
    ws._req.on('socket', (s) => s.on('keylog', (line) => fs.appendFileSync(keylog, line)));
  }
}
