// A real Node `ws` client for the capture scenarios.
//   node client.js MODE URL
// MODE:
//   deflate      offer permessage-deflate (threshold 0); send texts (one of 2.5 KB), a
//                fragmented text (fin:false then fin:true), a binary message and a ping,
//                then ask the server to close ("please close"): it closes with 1001
//   close-empty  one echoed message, then ws.close() with no code: an empty Close frame
//   send-wait    one message, then wait until the server ends the connection
'use strict';
const WebSocket = require('ws');

const [mode, url] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: mode === 'deflate' ? { threshold: 0 } : false });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

ws.on('open', async () => {
  console.log(`node client ${mode}: open, extensions=${ws.extensions || '-'}`);
  if (mode === 'deflate') {
    ws.send('hello over permessage-deflate');
    ws.send('a second, rather repetitive message: ' + 'tick tock '.repeat(8));
    ws.send(JSON.stringify({ rows: Array.from({ length: 60 }, (_, i) => ({ id: i, name: `row ${i}`, ok: i % 3 === 0 })) }));
    await sleep(50);
    ws.send('part one of a fragmented message, ', { fin: false });
    await sleep(20);
    ws.send('part two (the end)', { fin: true });
    ws.send(Buffer.from(Array.from({ length: 64 }, (_, i) => i)), { binary: true });
    ws.ping('hb');
    await sleep(100);
    ws.send('please close');
  } else {
    ws.send('hello');
  }
});
let got = 0;
ws.on('message', (data, isBinary) => {
  got += 1;
  console.log(`node client: message ${got} ${isBinary ? 'binary' : 'text'} ${data.length} bytes`);
  if (mode === 'close-empty') setTimeout(() => ws.close(), 100);
});
ws.on('pong', (data) => console.log(`node client: pong ${data}`));
ws.on('unexpected-response', (req, res) => {
  console.log(`node client: unexpected-response ${res.statusCode}`);
  ws.terminate();
});
ws.on('error', (err) => console.log(`node client: error ${err.message}`));
ws.on('close', (code, reason) =>
  console.log(`node client: close code=${code} reason=${JSON.stringify(reason.toString())}`));
