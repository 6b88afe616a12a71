// Load server for benches/make-large-capture.sh: a real Node `ws` server.
//   node server.js HOST PORT
// The request path chooses what the server does with the connection (the client picks it):
//   /bulk, /vanish, /vanish-rst, /open   echo every message (the client decides how it ends)
//   /deflate                             echo; permessage-deflate accepted (the client offers it)
//   /reject                              verifyClient refuses: HTTP 403, no upgrade
//   /notfound                            verifyClient refuses: HTTP 404, no upgrade
//   /terminate?n=N                       echo N-1 messages, on the Nth: ws.terminate()
//                                        (socket destroyed, FIN, no Close frame)
//   /terminate-rst?n=N                   as above but socket.resetAndDestroy(): RST, no Close
//   /close4001?n=N                       on the Nth message: ws.close(4001, "role rejected")
//   /close1011?n=N                       on the Nth message: ws.close(1011, "internal error")
//   /idle?n=N&ms=T                       on the Nth message: no echo, T ms of silence, then
//                                        ws.terminate() (an idle abort)
// Prints one line "listening HOST:PORT" when ready, and a tally of what it did on SIGTERM.
//
// wss: with TLS_KEY and TLS_CERT (PEM files) in the environment the `ws` server sits on an
// https.createServer (TLS 1.3 or 1.2, as the client offers); every TLS session's secrets are
// appended as NSS key log lines to TLS_KEYLOG (the server's 'keylog' event, written
// synchronously, so the file is complete when the capture stops). TLS_CIPHERS, if set, is the
// `ciphers` option (e.g. TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256; "mix" or
// unset: Node's defaults, which accept all three TLS 1.3 suites).
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const [host, port] = process.argv.slice(2);
const tally = {};
const count = (k) => { tally[k] = (tally[k] || 0) + 1; };

// RST instead of FIN. Under TLS the socket's handle is a TLSWrap and resetAndDestroy() throws
// ERR_INVALID_HANDLE_TYPE; destroying the TLS socket closes the TCP handle beneath it, so that
// handle's close() is made its reset() (RST, no close_notify; 'close' is still emitted).
function resetAndDestroy(sock) {
  const tcp = sock._handle && sock._handle._parent;
  if (!tcp || typeof tcp.reset !== 'function') { sock.resetAndDestroy(); return; }
  tcp.close = tcp.reset;
  sock.destroy();
}

let server = null;
if (process.env.TLS_KEY) {
  const opts = {
    key: fs.readFileSync(process.env.TLS_KEY),
    cert: fs.readFileSync(process.env.TLS_CERT),
  };
  const ciphers = process.env.TLS_CIPHERS;
  if (ciphers && ciphers !== 'mix') opts.ciphers = ciphers;
  server = https.createServer(opts);
  if (process.env.TLS_KEYLOG) {
    const fd = fs.openSync(process.env.TLS_KEYLOG, 'a');
    server.on('keylog', (line) => { fs.writeSync(fd, line); count('keylog_lines'); });
  }
  server.on('tlsClientError', () => count('tls_client_error'));
}

const wss = new WebSocketServer({
  ...(server ? { server } : { host, port: Number(port) }),
  backlog: 1024,
  maxPayload: 1 << 20,
  perMessageDeflate: { threshold: 0 },   // only used when a client offers it (fate "deflate")
  clientTracking: false,
  verifyClient: (info, cb) => {
    if (info.req.url.startsWith('/reject')) {
      count('rejected_403');
      cb(false, 403, 'Forbidden');
    } else if (info.req.url.startsWith('/notfound')) {
      count('rejected_404');
      cb(false, 404, 'Not Found');
    } else {
      cb(true);
    }
  },
}, () => console.log(`listening ${host}:${port}`));
if (server) {
  server.listen({ host, port: Number(port), backlog: 1024 },
    () => console.log(`listening ${host}:${port} (TLS)`));
}

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const fate = url.pathname.slice(1);
  const n = Number(url.searchParams.get('n') || 0);
  const ms = Number(url.searchParams.get('ms') || 0);
  let seen = 0;
  count(`upgraded_${fate}`);
  ws.on('error', () => count('socket_error'));
  ws.on('message', (data, isBinary) => {
    seen += 1;
    if (n > 0 && seen >= n) {
      switch (fate) {
        case 'terminate': count('terminated_fin'); ws.terminate(); return;
        case 'terminate-rst': count('terminated_rst'); resetAndDestroy(ws._socket); return;
        case 'close4001': count('closed_4001'); ws.close(4001, 'role rejected'); return;
        case 'close1011': count('closed_1011'); ws.close(1011, 'internal error'); return;
        case 'idle':
          if (seen === n) setTimeout(() => { count('idle_terminated'); ws.terminate(); }, ms);
          return;
        default: break;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

process.on('SIGTERM', () => {
  console.log(`server tally ${JSON.stringify(tally)}`);
  process.exit(0);
});
