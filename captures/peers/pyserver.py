"""A real Python `websockets` server for the capture scenarios.

    python pyserver.py MODE HOST PORT

MODE:
  echo       echo every message back (text stays text, binary stays binary)
  heartbeat  answer the app-level {"type":"ping"} with {"type":"pong"};
             library keepalive pings every 0.5 s; default compression
  reject403  process_request answers 403 Forbidden to every upgrade
  big        send one 100-byte text message after the handshake, then echo
  silent     send one "hello" after the first message, then never speak again
"""
import asyncio
import json
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

MODE, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def heartbeat(ws):
    try:
        async for msg in ws:
            if json.loads(msg).get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
    except ConnectionClosed:
        pass


async def big(ws):
    await ws.send("x" * 100)
    await echo(ws)


async def silent(ws):
    try:
        await ws.recv()
        await ws.send("hello")
        await ws.wait_closed()
    except ConnectionClosed:
        pass


def forbid(connection, request):
    return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")


async def main():
    kwargs = dict(ping_interval=None, compression=None)
    handler = {"echo": echo, "heartbeat": heartbeat, "big": big,
               "silent": silent, "reject403": echo}[MODE]
    if MODE == "heartbeat":
        kwargs = dict(ping_interval=0.5, ping_timeout=5)   # compression: library default
    if MODE == "reject403":
        kwargs["process_request"] = forbid
    async with serve(handler, HOST, PORT, **kwargs) as server:
        print(f"pyserver {MODE} listening on {HOST}:{PORT}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
