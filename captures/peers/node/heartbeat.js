// The heartbeat of the `ws` README ("How to detect and close broken connections"), with a 1 s
// interval, and two clients, for captures/make-heartbeats.sh (node-ws-heartbeat-*).
//
//   node heartbeat.js server PORT REPORT       WebSocketServer on 127.0.0.1:PORT: echo; every
//                                              1 s, for each client: ws.terminate() if isAlive
//                                              is false, else isAlive = false and ws.ping()
//   node heartbeat.js client-ok URL REPORT     a ws client (autoPong: the default, true): sends
//                                              "hello", answers every ping, closes 1000 "done"
//                                              after 4 s
//   node heartbeat.js client-silent URL REPORT a ws client with autoPong: false: sends "hello",
//                                              never answers a ping, waits for the end
//
// REPORT: a JSON file like captures/peers/heartbeats/hb.py's reports (role, pid, started,
// events with unix time t and rel, seconds since the start), written at every event.
'use strict';
const fs = require('fs');
const { WebSocket, WebSocketServer } = require('ws');

const [mode, where, reportPath] = process.argv.slice(2);
const START = Date.now() / 1000;
const report = { role: '', pid: process.pid, started: START, versions: {
  node: process.versions.node, ws: require('ws/package.json').version }, events: [] };

function ev(event, extra = {}) {
  const t = Date.now() / 1000;
  const e = { t: Number(t.toFixed(6)), rel: Number((t - START).toFixed(6)), event, ...extra };
  report.events.push(e);
  console.log(JSON.stringify(e));
  if (reportPath) fs.writeFileSync(reportPath, JSON.stringify(report, null, 1) + '\n');
}

if (mode === 'server') {
  report.role = 'Node ws WebSocketServer with the README heartbeat (setInterval 1000 ms: ' +
    'terminate() if !isAlive, else isAlive = false; ping())';
  const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(where), perMessageDeflate: false },
    () => { ev('listening', { port: Number(where) }); console.log('listening'); });
  let n = 0;
  wss.on('connection', (ws, req) => {
    ws.id = ++n;
    ws.peer = `${req.socket.remotePort}`;
    ws.isAlive = true;
    ev('connection', { id: ws.id, url: req.url, client_port: req.socket.remotePort });
    ws.on('error', (e) => ev('error', { id: ws.id, error: String(e) }));
    ws.on('pong', (data) => { ws.isAlive = true; ev('pong', { id: ws.id, data: data.toString('hex') }); });
    ws.on('message', (data, isBinary) => {
      ev('message', { id: ws.id, data: data.toString() });
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => ev('close', { id: ws.id, code, reason: reason.toString() }));
  });
  const interval = setInterval(() => {
    wss.clients.forEach((ws) => {
      if (ws.isAlive === false) {
        ev('terminate', { id: ws.id, why: 'isAlive false: no pong since the last ping' });
        return ws.terminate();
      }
      ws.isAlive = false;
      ws.ping();
      ev('ping', { id: ws.id });
    });
  }, 1000);
  wss.on('close', () => clearInterval(interval));
  process.on('SIGTERM', () => { ev('sigterm'); process.exit(0); });
} else if (mode === 'client-ok' || mode === 'client-silent') {
  const silent = mode === 'client-silent';
  report.role = silent ? 'Node ws client, autoPong: false (answers no ping)'
    : 'Node ws client (autoPong: true, the default), closes 1000 "done" after 4 s';
  const ws = new WebSocket(where, { perMessageDeflate: false, autoPong: !silent });
  ws.on('open', () => {
    ev('open');
    ws.send('hello');
    if (!silent) setTimeout(() => { ev('closing', { code: 1000, reason: 'done' }); ws.close(1000, 'done'); }, 4000);
    else console.log('ready');
  });
  ws.on('ping', (data) => ev(silent ? 'ping (not answered)' : 'ping (answered by ws)', { data: data.toString('hex') }));
  ws.on('message', (data) => ev('message', { data: data.toString() }));
  ws.on('error', (e) => ev('error', { error: String(e) }));
  ws.on('close', (code, reason) => { ev('close', { code, reason: reason.toString() }); });
} else {
  console.error('usage: node heartbeat.js server PORT REPORT | client-ok|client-silent URL REPORT');
  process.exit(2);
}
