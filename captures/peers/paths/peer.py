"""WebSocket peers for captures/make-paths.sh (Python `websockets`, asyncio API).

    python peer.py server HOST PORT [--tick S] [--ping-interval S --ping-timeout S] [--close-timeout S]
    python peer.py client URI PLAN [--period S] [--duration S] [--ping-interval S ...]

server: echoes every message; "big" is answered with one 64 KiB binary message; with --tick S it
        also sends its own {"tick": n} every S seconds (so it has data of its own in flight).
client PLAN:
  stream  a text message every --period s; after --duration s a Close 1000 (0: until it ends)
  big     like stream, and at 1 s asks the server for the 64 KiB message; closes 1000 --duration
          s after it has arrived (or when the connection ends)
  idle    one message, --duration s of silence (no keepalive pings), one more message, then
          waits up to 5 s for its echo and closes 1000

Each peer prints one line `REPORT {json}` per connection when it ends (the server also for a
connection still open when it gets SIGTERM): close code and reason, the Close frames sent and
received, the exception that ended it, the time of the last message sent and received, whether
the keepalive timed out, and every event with its wall-clock time (seconds since the epoch).
"""
import argparse
import asyncio
import json
import signal
import sys
import time

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

BIG = 64 * 1024


def now():
    return round(time.time(), 6)


class Record:
    def __init__(self, role, args):
        self.role = role
        self.events = []
        self.r = dict(role=role, library=f"websockets {websockets.__version__}",
                      settings=dict(ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
                                    close_timeout=args.close_timeout),
                      messages_sent=0, messages_received=0, last_sent_t=None, last_received_t=None,
                      largest_message_received=0)
        self.done = False

    def ev(self, ev, **kw):
        self.events.append(dict(t=now(), ev=ev, **kw))

    def sent(self, what):
        self.r["messages_sent"] += 1
        self.r["last_sent_t"] = now()
        self.ev("send", msg=what if len(what) < 80 else f"<{len(what)} bytes>")

    def received(self, msg):
        self.r["messages_received"] += 1
        self.r["last_received_t"] = now()
        self.r["largest_message_received"] = max(self.r["largest_message_received"], len(msg))
        self.ev("recv", msg=msg if isinstance(msg, str) and len(msg) < 80 else f"<{len(msg)} bytes>")

    def end(self, ws, exc=None, still_open=False):
        if self.done:
            return
        self.done = True
        r = self.r
        if ws is not None:
            r["local"] = "%s:%s" % ws.local_address[:2] if ws.local_address else None
            r["remote"] = "%s:%s" % ws.remote_address[:2] if ws.remote_address else None
            r["state"] = ws.protocol.state.name
            r["close_code"] = ws.close_code
            r["close_reason"] = ws.close_reason
            p = ws.protocol
            r["close_received"] = p.close_rcvd and dict(code=p.close_rcvd.code, reason=p.close_rcvd.reason)
            r["close_sent"] = p.close_sent and dict(code=p.close_sent.code, reason=p.close_sent.reason)
            r["close_received_then_sent"] = p.close_rcvd_then_sent
            r["keepalive_timeout"] = bool(p.close_sent and p.close_sent.code == 1011
                                          and "keepalive" in p.close_sent.reason)
        if exc is not None:
            r["exception"] = f"{type(exc).__name__}: {exc}"
            cause = exc.__cause__ or exc.__context__
            r["exception_cause"] = cause and f"{type(cause).__name__}: {cause}"
        else:
            r.setdefault("exception", None)
        r["still_open"] = still_open
        r["ended_t"] = now()
        r["events"] = self.events
        print("REPORT " + json.dumps(r), flush=True)


def kw(args):
    return dict(ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
                close_timeout=args.close_timeout, compression=None, max_size=None)


async def run_server(args):
    open_recs = {}

    async def handler(ws):
        rec = Record("server", args)
        rec.ev("open", remote="%s:%s" % ws.remote_address[:2])
        open_recs[id(ws)] = (rec, ws)

        async def tick():
            n = 0
            while True:
                await asyncio.sleep(args.tick)
                n += 1
                m = json.dumps({"tick": n, "t": now()})
                await ws.send(m)
                rec.sent(m)

        ticker = asyncio.create_task(tick()) if args.tick else None
        exc = None
        try:
            async for msg in ws:
                rec.received(msg)
                if msg == "big":
                    m = bytes(BIG)
                    await ws.send(m)
                    rec.sent(m)
                else:
                    await ws.send(msg)
                    rec.sent(msg)
        except ConnectionClosed as e:
            exc = e
        except Exception as e:  # noqa: BLE001 - report whatever ended it
            exc = e
        finally:
            if ticker:
                ticker.cancel()
                try:
                    await ticker
                except (asyncio.CancelledError, ConnectionClosed):
                    pass
        open_recs.pop(id(ws), None)
        rec.ev("closed")
        rec.end(ws, exc)

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, args.target, args.port, **kw(args)):
        print(f"paths server listening on {args.target}:{args.port}", flush=True)
        await stop
        for rec, ws in list(open_recs.values()):
            rec.ev("sigterm")
            rec.end(ws, None, still_open=True)


async def run_client(args):
    rec = Record("client", args)
    rec.r["plan"] = args.plan
    ws = None
    big_got = asyncio.Event()

    async def receiver():
        async for msg in ws:
            rec.received(msg)
            if isinstance(msg, bytes) and len(msg) == BIG:
                big_got.set()

    async def sender():
        i = 0
        t0 = time.monotonic()
        if args.plan == "idle":
            for i in (1, 2):
                m = json.dumps({"seq": i, "t": now()})
                await ws.send(m)
                rec.sent(m)
                if i == 1:
                    await asyncio.sleep(args.duration)
            await asyncio.sleep(5)
            return
        asked = False
        big_t = None
        while True:
            el = time.monotonic() - t0
            if args.plan == "big":
                if not asked and el >= 1.0:
                    await ws.send("big")
                    rec.sent("big")
                    asked = True
                if big_got.is_set() and big_t is None:
                    big_t = time.monotonic()
                if big_t is not None and time.monotonic() - big_t >= args.duration:
                    return
            elif args.duration and el >= args.duration:
                return
            i += 1
            m = json.dumps({"seq": i, "t": now()})
            await ws.send(m)
            rec.sent(m)
            await asyncio.sleep(args.period)

    exc = None
    try:
        rec.ev("connect", uri=args.target)
        ws = await connect(args.target, open_timeout=5, **kw(args))
        rec.ev("open", local="%s:%s" % ws.local_address[:2])
        rt = asyncio.create_task(receiver())
        st = asyncio.create_task(sender())
        done, _ = await asyncio.wait({rt, st}, return_when=asyncio.FIRST_COMPLETED)
        if st in done and st.exception() is None:
            rec.ev("close", code=1000)
            await ws.close(1000, "done")
            await rt
        else:
            for t in (st, rt):
                if t in done and t.exception() is not None:
                    exc = t.exception()
                    break
            st.cancel()
            rt.cancel()
            for t in (st, rt):
                try:
                    await t
                except (asyncio.CancelledError, ConnectionClosed):
                    pass
                except Exception as e:  # noqa: BLE001
                    exc = exc or e
            if exc is None and ws.close_code is not None:
                exc = None
    except ConnectionClosed as e:
        exc = e
    except Exception as e:  # noqa: BLE001
        exc = e
    rec.ev("closed")
    rec.end(ws, exc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("target")            # server: HOST; client: URI
    ap.add_argument("port_or_plan")      # server: PORT; client: PLAN
    ap.add_argument("--tick", type=float, default=0)
    ap.add_argument("--period", type=float, default=0.2)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--ping-interval", type=float, default=None)
    ap.add_argument("--ping-timeout", type=float, default=None)
    ap.add_argument("--close-timeout", type=float, default=2)
    args = ap.parse_args()
    if args.role == "server":
        args.port = int(args.port_or_plan)
        asyncio.run(run_server(args))
    else:
        args.plan = args.port_or_plan
        asyncio.run(run_client(args))


if __name__ == "__main__":
    main()
