// What client.js and h2.js share: the reproducible plan (which WebSocket gets which fate), the
// messages each one sends, and the loop that sends them one at a time, each after the echo
// of the one before.
'use strict';

const env = (k, d) => Number(process.env[k] || d);

// load(): SEED, BIN_MIN, BIN_MAX, BIN_SIZE from the environment. The random numbers are drawn
// in a fixed order (the plan's shuffle, then the binary payload, then each WebSocket's
// messages as it starts), so the same SEED gives the same capture plan.
function load() {
  const BIN_MIN = env('BIN_MIN', 2);
  const BIN_MAX = env('BIN_MAX', 7);
  const BIN_SIZE = env('BIN_SIZE', 65536);
  let seed = env('SEED', 1) >>> 0 || 1;
  // xorshift32: reproducible without a dependency
  function rnd() {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296;
  }
  const randint = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const shuffle = (a) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  let binary = null;

  // CONNS fates: each [fate, share] of shares at least once, "bulk" for the rest, shuffled.
  // Then the binary payload every binary message carries.
  function plan(conns, shares) {
    const p = [];
    for (const [fate, share] of shares) {
      for (let i = 0; i < Math.max(1, Math.round(conns * share)); i++) p.push(fate);
    }
    while (p.length < conns) p.push('bulk');
    shuffle(p);
    binary = Buffer.alloc(BIN_SIZE);
    for (let i = 0; i < BIN_SIZE; i++) binary[i] = Math.floor(rnd() * 256);
    return p;
  }

  function text(len) {
    const words = ['order', 'price', 'qty', 'ok', 'tick', 'user', 'sym', 'EURUSD', 'bid', 'ask'];
    let s = '';
    while (s.length < len) s += `{"${words[randint(0, 9)]}":${randint(0, 99999)},"t":"é✓"},`;
    return `[${s.slice(0, len)}]`;
  }

  // The messages one WebSocket sends, in order: [isBinary, payload]
  // SHORT=1 (make-short-capture.sh): one text of 20-400 bytes, two for "open" and "idle".
  function messages(fate) {
    const out = [];
    if (process.env.SHORT === '1') {
      const k = fate === 'open' || fate === 'idle' ? 2 : 1;
      for (let i = 0; i < k; i++) out.push([false, text(randint(20, 400))]);
      return out;
    }
    let nbin; let ntext; let textLen = 400;
    switch (fate) {
      case 'bulk': nbin = randint(BIN_MIN, BIN_MAX); ntext = randint(4, 12); break;
      case 'deflate': nbin = 2; ntext = 20; textLen = 4000; break;
      case 'open': case 'idle': nbin = 0; ntext = 2; break;
      default: nbin = randint(1, 3); ntext = randint(1, 4); break;
    }
    for (let i = 0; i < nbin; i++) out.push([true, binary]);
    for (let i = 0; i < ntext; i++) out.push([false, text(randint(20, textLen))]);
    return shuffle(out);
  }

  return { plan, messages };
}

// Sends msgs on ws one at a time, each after the echo of the one before, counting them in
// rec; when the last echo is in, lastEcho() decides how the WebSocket ends. Returns the
// function that sends the first message.
function echoLoop(ws, rec, msgs, lastEcho) {
  let next = 0;
  const send = () => {
    const [isBinary, payload] = msgs[next++];
    if (isBinary) rec.sent.binary++; else rec.sent.text++;
    ws.send(payload, { binary: isBinary });
  };
  ws.on('message', () => {
    rec.echoed++;
    if (next < msgs.length) { send(); return; }
    lastEcho();
  });
  return send;
}

// The client's report: one JSON line per WebSocket to fatesOut, a tally of fates on stdout, then
// "HOLDING N open" (what make-large-capture.sh waits for).
function report(fatesOut, results, held) {
  // in pieces: a million records would not fit in one string
  const fs = require('fs');
  const fd = fs.openSync(fatesOut, 'w');
  for (let i = 0; i < results.length; i += 10000) {
    fs.writeSync(fd, results.slice(i, i + 10000).map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  fs.closeSync(fd);
  const tally = {};
  for (const r of results) {
    const k = `${r.fate} status=${r.status} close=${r.close_code}`;
    tally[k] = (tally[k] || 0) + 1;
  }
  console.log(`client tally ${JSON.stringify(tally, null, 1)}`);
  console.log(`HOLDING ${held} open`);
}

// wss: TLS_CIPHERS (a suite for every connection, or "mix": seq % 3 picks one of the three
// TLS 1.3 suites) and TLS_SNI (default "bench"; Node sends none for an IP address) as client
// options, with the certificate not checked; and what a TLS socket negotiated.
const MIX = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
function tlsOptions(seq) {
  const ciphers = process.env.TLS_CIPHERS || '';
  const sni = process.env.TLS_SNI === undefined ? 'bench' : process.env.TLS_SNI;
  const opts = { rejectUnauthorized: false };
  if (sni) opts.servername = sni;
  if (ciphers === 'mix') opts.ciphers = MIX[seq % 3];
  else if (ciphers) opts.ciphers = ciphers;
  return opts;
}
function tlsInfo(sock) {
  const c = sock && sock.getCipher && sock.getCipher();
  return c ? { version: sock.getProtocol(), cipher: c.standardName || c.name } : null;
}

module.exports = { env, load, echoLoop, report, tlsOptions, tlsInfo };
