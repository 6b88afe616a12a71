// Load client for benches/make-large-capture.sh: many real Node `ws` connections with a mix
// of fates, so that a large capture holds every common way a WebSocket connection ends.
//   node client.js URL_BASE FATES_OUT
//   e.g. node client.js ws://198.18.0.1:8080 /work/large/ws-large.pcap.fates.jsonl
// Environment (all optional):
//   CONNS=2400        connections in all
//   CONCURRENCY=64    connections in flight at once
//   BIN_MIN=2 BIN_MAX=7     binary messages (BIN_SIZE bytes each) a bulk client sends
//   BIN_SIZE=65536
//   SEED=1            the plan (which connection gets which fate) is reproducible
//   TLS_CIPHERS       wss only: the `ciphers` option of every connection (e.g.
//                     TLS_AES_256_GCM_SHA384); "mix": connection seq gets TLS_AES_128_GCM_SHA256,
//                     TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 in turn (seq % 3);
//                     unset: Node's defaults
//   TLS_SNI=bench     wss only: the server name sent (Node sends none for an IP address)
//   SHORT=0           1: short connections (make-short-capture.sh): each sends one text (two for
//                     "idle" and "open"), waits for the echo and ends by its fate; the mix is
//                     SHORT_SHARES below (no deflate), plus 404s ("notfound")
//   CLIENT_ADDRS      source addresses, "A.B.C.D-E" (a range of the last byte) or a comma list;
//                     connection seq uses address (seq - 1) % count (`localAddress`), so that a
//                     million connections do not run out of ephemeral ports. Unset: the kernel's
//                     choice. Each record gains "client_ip" (the socket's local address).
// With a wss:// URL_BASE the certificate is not checked (rejectUnauthorized: false) and each
// record gains "tls": {"version", "cipher"} as the client's TLS socket reported them.
// Every message is echoed by the server and the client waits for the echo before sending the
// next one. When every connection but the "open" ones is over, the client writes one JSON line
// per connection to FATES_OUT (what the client library saw), prints "HOLDING N open" and keeps
// the open ones open until SIGTERM (the capture is stopped before that).
'use strict';
const WebSocket = require('ws');
const { env, load, echoLoop, report, tlsOptions, tlsInfo } = require('./load');

// RST instead of FIN. Under TLS the socket's handle is a TLSWrap and resetAndDestroy() throws
// ERR_INVALID_HANDLE_TYPE; destroying the TLS socket closes the TCP handle beneath it, so that
// handle's close() is made its reset() (RST, no close_notify; 'close' is still emitted).
function resetAndDestroy(sock) {
  const tcp = sock._handle && sock._handle._parent;
  if (!tcp || typeof tcp.reset !== 'function') { sock.resetAndDestroy(); return; }
  tcp.close = tcp.reset;
  sock.destroy();
}

const [base, fatesOut] = process.argv.slice(2);
const CONNS = env('CONNS', 2400);
const CONCURRENCY = env('CONCURRENCY', 64);
const TLS = base.startsWith('wss:');

// Fates other than "bulk", as shares of CONNS (bulk takes the rest).
const SHARES = [
  ['reject', 0.05],          // 403 from verifyClient
  ['terminate', 0.025],      // server destroys the socket (FIN), no Close
  ['terminate-rst', 0.015],  // server resets the socket (RST), no Close
  ['vanish', 0.025],         // client destroys its socket (FIN), no Close
  ['vanish-rst', 0.015],     // client resets its socket (RST), no Close
  ['close4001', 0.025],      // server Close 4001, client answers, clean TCP teardown
  ['close1011', 0.025],      // server Close 1011, client answers
  ['deflate', 0.02],         // permessage-deflate, texts and binaries, client Close 1000
  ['idle', 0.008],           // a few messages, 1.3 s of silence, server destroys the socket
  ['open', 0.008],           // a few messages, still open when the capture stops
];
// SHORT=1: one-message connections; most clean closes, the rest the usual fates.
const SHORT_SHARES = [
  ['reject', 0.05],          // 403
  ['notfound', 0.01],        // 404
  ['terminate', 0.03],
  ['terminate-rst', 0.02],
  ['vanish', 0.03],
  ['vanish-rst', 0.02],
  ['close4001', 0.03],
  ['close1011', 0.03],
  ['idle', 0.002],           // 1.3 s of silence, then the server destroys the socket
  ['open', 0.0005],
];
const SHORT = process.env.SHORT === '1';
function addrs(spec) {
  if (!spec) return [];
  const m = /^(\d+\.\d+\.\d+\.)(\d+)-(\d+)$/.exec(spec);
  if (!m) return spec.split(',');
  const out = [];
  for (let i = Number(m[2]); i <= Number(m[3]); i++) out.push(m[1] + i);
  return out;
}
const ADDRS = addrs(process.env.CLIENT_ADDRS);
const { plan: makePlan, messages } = load();
const plan = makePlan(CONNS, SHORT ? SHORT_SHARES : SHARES);

const results = [];
const held = [];

function run(seq, fate) {
  const msgs = messages(fate);
  const n = msgs.length;
  let path = `/${fate}`;
  if (['terminate', 'terminate-rst', 'close4001', 'close1011'].includes(fate)) path += `?n=${n}`;
  if (fate === 'idle') path += `?n=${n}&ms=1300`;
  const rec = {
    seq, fate, path, client_port: null, status: null, close_code: null, close_reason: null,
    error: null, sent: { binary: 0, text: 0 }, echoed: 0, t_open: null,
  };
  if (ADDRS.length) rec.client_ip = null;
  results.push(rec);
  return new Promise((resolve) => {
    let done = false;
    const finish = () => { if (!done) { done = true; resolve(); } };
    const opts = {
      perMessageDeflate: fate === 'deflate' ? { threshold: 0 } : false,
      handshakeTimeout: 20000,
    };
    if (ADDRS.length) opts.localAddress = ADDRS[(seq - 1) % ADDRS.length];
    if (TLS) {
      rec.tls = null;
      Object.assign(opts, tlsOptions(seq));
    }
    const ws = new WebSocket(base + path, opts);
    ws.on('unexpected-response', (req, res) => {
      rec.client_port = req.socket.localPort;
      if (ADDRS.length) rec.client_ip = req.socket.localAddress;
      if (TLS) rec.tls = tlsInfo(req.socket);
      rec.status = res.statusCode;
      res.resume();
      res.on('end', () => { req.destroy(); finish(); });
      res.on('error', finish);
    });
    ws.on('upgrade', (res) => { rec.status = res.statusCode; });
    ws.on('error', (e) => { rec.error = String(e.message || e); });
    ws.on('close', (code, reason) => {
      rec.close_code = code; rec.close_reason = reason.toString();
      finish();
    });
    ws.on('open', () => {
      rec.client_port = ws._socket.localPort;
      if (ADDRS.length) rec.client_ip = ws._socket.localAddress;
      if (TLS) rec.tls = tlsInfo(ws._socket);
      rec.t_open = Date.now();
      send();
    });
    const send = echoLoop(ws, rec, msgs, () => {
      switch (fate) {
        case 'vanish': ws.terminate(); break;                     // FIN, no Close
        case 'vanish-rst': resetAndDestroy(ws._socket); break;    // RST, no Close
        case 'open': held.push(ws); finish(); break;              // keep it open
        default: ws.close(1000, 'done'); break;                   // bulk, deflate
      }
    });
  });
}

async function main() {
  let i = 0;
  const workers = [];
  for (let w = 0; w < CONCURRENCY; w++) {
    workers.push((async () => {
      while (i < plan.length) {
        const seq = i++;
        await run(seq + 1, plan[seq]);
      }
    })());
  }
  await Promise.all(workers);
for (const r of results) {
    if (r.fate === 'open') r.still_open = held.some((ws) => ws._socket && ws._socket.localPort === r.client_port && (!r.client_ip || ws._socket.localAddress === r.client_ip) && ws.readyState === WebSocket.OPEN);
  }
  report(fatesOut, results, held.length);
}

process.on('SIGTERM', () => process.exit(0));
main().catch((e) => { console.error(e); process.exit(1); });
