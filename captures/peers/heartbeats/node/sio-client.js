// A socket.io-client (Node) for captures/make-heartbeats.sh's socketio-polling-upgrade*: the
// default transports ["polling", "websocket"]: it opens with HTTP long-polling and upgrades to
// a WebSocket (2probe / 3probe / 5), as a browser's socket.io client does.
//
//   node sio-client.js URL clean|frozen REPORT
//
// clean:  after the upgrade, three "chat" events (0.3 s apart, the server answers "reply"),
//         2.5 s more (answering the server's engine.io pings), then socket.disconnect()
// frozen: the same three events, then prints "ready" and waits (the script SIGSTOPs it; the
//         server's pingTimeout ends the session)
//
// REPORT: a JSON file like captures/peers/heartbeats/hb.py's reports, written at every event:
// every engine.io packet sent (packetCreate) and received (packet) with its transport, the
// engine.io sid, the socket.io id, the upgrade, the disconnect reason.
'use strict';
const fs = require('fs');
const { io } = require('socket.io-client');

const [url, mode, reportPath] = process.argv.slice(2);
const START = Date.now() / 1000;
const report = { role: `socket.io-client (Node), transports ["polling", "websocket"] (${mode})`,
  pid: process.pid, started: START, versions: { node: process.versions.node,
    'socket.io-client': require('socket.io-client/package.json').version,
    'engine.io-client': require('engine.io-client/package.json').version }, events: [] };

function ev(event, extra = {}) {
  const t = Date.now() / 1000;
  const e = { t: Number(t.toFixed(6)), rel: Number((t - START).toFixed(6)), event, ...extra };
  report.events.push(e);
  console.log(JSON.stringify(e));
  if (reportPath) fs.writeFileSync(reportPath, JSON.stringify(report, null, 1) + '\n');
}

const socket = io(url, { reconnection: false, transports: ['polling', 'websocket'] });
const engine = socket.io.engine;
const tname = () => (engine.transport ? engine.transport.name : null);
engine.on('packetCreate', (p) => ev('eio packet sent', { type: p.type, data: p.data === undefined ? null : String(p.data), transport: tname() }));
engine.on('packet', (p) => ev('eio packet received', { type: p.type, data: p.data === undefined ? null : String(p.data), transport: tname() }));
engine.on('upgrading', (t) => ev('upgrading', { to: t.name }));
engine.on('upgrade', (t) => ev('upgrade', { to: t.name, eio_sid: engine.id }));
engine.on('upgradeError', (e) => ev('upgradeError', { error: String(e) }));
engine.on('close', (reason, desc) => ev('eio close', { reason, description: desc ? String(desc.message || desc) : null }));

socket.on('connect', () => ev('sio connect', { sio_id: socket.id, eio_sid: engine.id, transport: tname() }));
socket.on('connect_error', (e) => ev('connect_error', { error: String(e) }));
socket.on('reply', (data) => ev('sio reply', { data }));
socket.on('disconnect', (reason, desc) => {
  ev('sio disconnect', { reason, description: desc ? String(desc.description || desc.message || desc) : null });
  setTimeout(() => process.exit(0), 200);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  for (let i = 0; i < 100 && tname() !== 'websocket'; i++) await sleep(50);
  ev('transport', { transport: tname(), eio_sid: engine.id });
  for (let i = 0; i < 3; i++) {
    socket.emit('chat', `message ${i}`);
    ev('emit chat', { data: `message ${i}` });
    await sleep(300);
  }
  if (mode === 'clean') {
    await sleep(2500);
    ev('disconnecting');
    socket.disconnect();
  } else {
    ev('ready');
    console.log('ready');
    await sleep(20000);
    ev('no_disconnect_within_20s');
    process.exit(0);
  }
})();
