// A real Node `ws` server for the capture scenarios.
//   node server.js MODE HOST PORT
// MODE:
//   deflate    permessage-deflate with threshold 0 (every message compressed); echo every
//              message; on the text "please close" close with 1001 "going away"
//   plain      echo server on ws's own HTTP server (answers 426 to requests without Upgrade)
//   terminate  echo the first message, then ws.terminate(): socket destroyed, no Close frame
//   echo       echo server, no compression (for the empty Close frame scenario)
'use strict';
const { WebSocketServer } = require('ws');

const [mode, host, port] = process.argv.slice(2);
const options = { host, port: Number(port), perMessageDeflate: false };
if (mode === 'deflate') options.perMessageDeflate = { threshold: 0 };

const wss = new WebSocketServer(options, () =>
  console.log(`node server ${mode} listening on ${host}:${port}`));

wss.on('connection', (ws, req) => {
  console.log(`node server: upgrade ${req.url} extensions=${ws.extensions || '-'}`);
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'please close') {
      ws.close(1001, 'going away');
      return;
    }
    ws.send(data, { binary: isBinary });
    if (mode === 'terminate') setTimeout(() => ws.terminate(), 500);
  });
  ws.on('close', (code, reason) =>
    console.log(`node server: close code=${code} reason=${JSON.stringify(reason.toString())}`));
});
