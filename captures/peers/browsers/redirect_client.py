"""The Python `websockets` client of captures/make-browsers.sh's python-redirect: it connects to
ws://HOST:PORT/old, follows the server's 301 (websockets' connect() follows up to 10 redirects
by default, each on a new TCP connection), sends one text, reads the echo and closes with 1000.

    python redirect_client.py URI

Prints the library's handshake lines (websockets.client, DEBUG) and what happened.
"""
import asyncio
import logging
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

URI = sys.argv[1]
T0 = time.monotonic()
logging.basicConfig(format="%(message)s", level=logging.DEBUG, stream=sys.stdout)
logging.getLogger("asyncio").setLevel(logging.WARNING)


def say(text):
    print(f"redirect_client [{time.monotonic() - T0:7.3f} s]: {text}", flush=True)


async def main():
    say(f"connect({URI})")
    try:
        async with connect(URI, ping_interval=None, compression=None, proxy=None) as ws:
            say(f"open: request path {ws.request.path}, response {ws.response.status_code}")
            await ws.send("hello after the redirect")
            say(f"received {await ws.recv()!r}")
            await ws.close(1000, "done")
        p = ws.protocol
        say(f"closed: sent={p.close_sent and (p.close_sent.code, p.close_sent.reason)} "
            f"rcvd={p.close_rcvd and (p.close_rcvd.code, p.close_rcvd.reason)}")
    except (ConnectionClosed, OSError, Exception) as e:
        say(f"{type(e).__name__}: {e}")


asyncio.run(main())
