"""A real Python `websockets` client for the capture scenarios.

    python pyclient.py MODE URI

MODE:
  clean      3 text messages each way (echo server), one ping/pong, close 1000 "bye"
  clean-big  like clean, but every message is 150-300 bytes (for the snaplen capture)
  echo2      2 text messages each way, close 1000 (default compression offer)
  send-wait  send "hello", read one message, then wait until the peer ends the connection
  stream     a text message every 200 ms for 4 s (echoed), then close 1000
  chatty     a text message every 100 ms until killed
  heartbeat  library pings every 0.5 s plus app {"type":"ping"} every 0.5 s for 3 s, close 1000
  reconnect  4 connection attempts, 0.3 s apart, each expected to be rejected
  max-size   max_size=16: the server's 100-byte message makes the client close with 1009
  connect    just try to connect (open_timeout 2.5 s) and report what happened
  close-wait send "hello", read one message, close 1000 (close_timeout 2 s)

Prints one line per outcome: what this endpoint saw (for captures/README.md).
"""
import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

MODE, URI = sys.argv[1], sys.argv[2]
PLAIN = dict(ping_interval=None, compression=None)


def report(ws_or_exc):
    if isinstance(ws_or_exc, ConnectionClosed):
        e = ws_or_exc
        print(f"pyclient {MODE}: closed rcvd={e.rcvd and (e.rcvd.code, e.rcvd.reason)} "
              f"sent={e.sent and (e.sent.code, e.sent.reason)} -> {type(e).__name__}", flush=True)
    elif isinstance(ws_or_exc, BaseException):
        print(f"pyclient {MODE}: {type(ws_or_exc).__name__}: {ws_or_exc}", flush=True)
    else:
        ws = ws_or_exc
        print(f"pyclient {MODE}: close_code={ws.close_code} close_reason={ws.close_reason!r}",
              flush=True)


async def clean(size=0):
    async with connect(URI, **PLAIN) as ws:
        for i in range(3):
            msg = f"message {i + 1}" if not size else (f"message {i + 1} " * 40)[: size + 50 * i]
            await ws.send(msg)
            await ws.recv()
        pong = await ws.ping(b"are-you-there")
        await pong
        await ws.close(1000, "bye")
    report(ws)


async def echo2():
    async with connect(URI, ping_interval=None) as ws:
        for i in range(2):
            await ws.send(f"hello {i + 1}")
            print("pyclient echo2 got:", await ws.recv(), flush=True)
        await ws.close(1000)
    report(ws)


async def send_wait():
    async with connect(URI, **PLAIN) as ws:
        await ws.send("hello")
        await ws.recv()
        print(f"pyclient {MODE}: open, waiting", flush=True)
        try:
            await ws.recv()
        except ConnectionClosed as e:
            report(e)
            return
        await ws.wait_closed()
        report(ws)


async def close_wait():
    async with connect(URI, close_timeout=2, **PLAIN) as ws:
        await ws.send("hello")
        await ws.recv()
        t = time.monotonic()
        await ws.close(1000, "done")
        print(f"pyclient close-wait: close() returned after {time.monotonic() - t:.2f} s", flush=True)
    report(ws)


async def stream(period=0.2, duration=4.0, close=True):
    async with connect(URI, **PLAIN) as ws:
        i = 0
        t_end = time.monotonic() + duration
        try:
            while not close or time.monotonic() < t_end:
                i += 1
                await ws.send(json.dumps({"seq": i, "t": round(time.time(), 3)}))
                await ws.recv()
                await asyncio.sleep(period)
            await ws.close(1000)
        except ConnectionClosed as e:
            report(e)
            return
    report(ws)


async def heartbeat():
    async with connect(URI, ping_interval=0.5, ping_timeout=5) as ws:
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
            await asyncio.sleep(0.5)
        await ws.close(1000)
    report(ws)


async def reconnect():
    for attempt in range(4):
        try:
            async with connect(URI, **PLAIN) as ws:
                await ws.close()
        except InvalidHandshake as e:
            report(e)
        if attempt < 3:
            await asyncio.sleep(0.3)


async def max_size():
    async with connect(URI, max_size=16, **PLAIN) as ws:
        try:
            await ws.recv()
        except ConnectionClosed as e:
            report(e)


async def just_connect():
    try:
        async with connect(URI, open_timeout=2.5, **PLAIN) as ws:
            await ws.close()
        report(ws)
    except BaseException as e:  # noqa: BLE001 - we report whatever happened
        report(e)


async def main():
    try:
        await {
            "clean": clean,
            "clean-big": lambda: clean(size=150),
            "echo2": echo2,
            "send-wait": send_wait,
            "close-wait": close_wait,
            "stream": stream,
            "chatty": lambda: stream(period=0.1, close=False),
            "heartbeat": heartbeat,
            "reconnect": reconnect,
            "max-size": max_size,
            "connect": just_connect,
        }[MODE]()
    except (ConnectionClosed, InvalidHandshake, OSError) as e:
        report(e)


if __name__ == "__main__":
    asyncio.run(main())
