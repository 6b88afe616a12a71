"""A Python `websockets` server for captures/make-browsers.sh that prints what it saw.

    python wsserver.py MODE HOST PORT

MODE:
  echo     echo every message back (no compression, no keepalive pings); print each message
           and, when the connection ends, the Close frames received and sent
  maxsize  the same with max_size=64: a longer message makes the server close with 1009
  redirect the same echo on /chat; process_request answers an upgrade for /old with
           301 Moved Permanently + Location: /chat (any other path: 404)
"""
import asyncio
import sys
import time
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

MODE, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
T0 = time.monotonic()


def say(text):
    print(f"wsserver {MODE} [{time.monotonic() - T0:7.3f} s]: {text}", flush=True)


async def echo(ws):
    say(f"upgrade {ws.request.path} from {ws.request.headers.get('User-Agent', '-')[:60]}"
        f" extensions={ws.request.headers.get('Sec-WebSocket-Extensions', '-')}")
    try:
        async for msg in ws:
            say(f"received {type(msg).__name__} of {len(msg)}: {msg[:40]!r}")
            await ws.send(msg)
    except ConnectionClosed as e:
        say(f"ConnectionClosed: {e}")
    p = ws.protocol
    say(f"closed: rcvd={p.close_rcvd and (p.close_rcvd.code, p.close_rcvd.reason)} "
        f"sent={p.close_sent and (p.close_sent.code, p.close_sent.reason)}")


def redirect(connection, request):
    """process_request of MODE redirect: /old -> 301 Location: /chat, /chat -> the echo."""
    say(f"request {request.path} from {request.headers.get('User-Agent', '-')[:60]}")
    if request.path == "/chat":
        return None
    if request.path == "/old":
        response = connection.respond(HTTPStatus.MOVED_PERMANENTLY, "Moved to /chat\n")
        response.headers["Location"] = "/chat"
        say("answered 301 Moved Permanently, Location: /chat")
        return response
    say("answered 404")
    return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")


async def main():
    kwargs = dict(ping_interval=None, compression=None)
    if MODE == "maxsize":
        kwargs["max_size"] = 64
    if MODE == "redirect":
        kwargs["process_request"] = redirect
    async with serve(echo, HOST, PORT, **kwargs) as server:
        say(f"listening on {HOST}:{PORT}")
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
