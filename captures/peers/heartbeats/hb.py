#!/usr/bin/env python3
"""Peers of captures/make-heartbeats.sh: servers and clients whose keep-alive pings,
heartbeats and proxy tunnels end up in captures/heartbeats/.

Every peer writes a JSON report (--report FILE) of what it saw: each ping/pong or engine.io
packet with its time (unix seconds, "t", and seconds since the peer started, "rel"), the close
code/reason it sent or got, exceptions. The library's own debug log lines are recorded
verbatim ("log" events) where the library writes one for each frame or packet (websockets,
python-engineio, python-socketio); aiohttp writes none, so its heartbeats are recorded by
wrapping its ping callbacks.

    hb.py ws-server PORT --report F            websockets server, ping_interval=1 ping_timeout=1
    hb.py ws-client URI --report F             websockets client without its own pings;
                                               prints "ready" once open (the script SIGSTOPs it)
    hb.py aiohttp-server PORT --report F       aiohttp, WebSocketResponse(heartbeat=1.0)
    hb.py aiohttp-client URI MODE --report F   MODE frozen: answers pings itself until SIGSTOP;
                                               MODE answer: answers every ping, closes after 4 s
    hb.py sio-client URL MODE --report F       python-socketio AsyncClient (polling, then the
                                               websocket upgrade); MODE frozen | clean
    hb.py echo-server PORT --report F [--tls]  websockets echo server (behind squid)
    hb.py proxy-client URI PROXY --report F [--keylog F]
                                               websockets client through an HTTP proxy (CONNECT)
The ASGI apps for uvicorn: hb:ws_app (echo, reports to $HB_REPORT) and hb:sio_app
(python-socketio, ping_interval=1 ping_timeout=1, reports to $HB_REPORT).
"""
import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time
import traceback

START = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
TLS = os.path.join(os.path.dirname(HERE), "tls")


class Report:
    def __init__(self, role, path, autosave=False):
        self.path = path
        self.autosave = autosave  # save at every event (under uvicorn, which owns SIGTERM)
        self.data = {"role": role, "pid": os.getpid(), "started": round(START, 6), "events": []}

    def ev(self, kind, **kw):
        now = time.time()
        e = {"t": round(now, 6), "rel": round(now - START, 6), "event": kind}
        e.update(kw)
        self.data["events"].append(e)
        print(json.dumps(e), flush=True)
        if self.autosave:
            self.save()
        return e

    def set(self, **kw):
        self.data.update(kw)

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path)


class LogToReport(logging.Handler):
    """Every record of the given loggers becomes a "log" event of the report."""

    def __init__(self, report):
        super().__init__(logging.DEBUG)
        self.report = report

    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        self.report.ev("log", logger=record.name, level=record.levelname, msg=msg)


def hook_logs(report, *names):
    h = LogToReport(report)
    for n in names:
        lg = logging.getLogger(n)
        lg.setLevel(logging.DEBUG)
        lg.addHandler(h)
        lg.propagate = False


def versions():
    out = {"python": sys.version.split()[0], "openssl": ssl.OPENSSL_VERSION}
    for mod in ("websockets", "aiohttp", "uvicorn", "socketio", "engineio"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", None)
        except Exception:
            pass
    if out.get("socketio") is None or out.get("engineio") is None:
        from importlib.metadata import version
        out["socketio"] = version("python-socketio")
        out["engineio"] = version("python-engineio")
    return out


def exc_info(e):
    return {"type": type(e).__module__ + "." + type(e).__name__, "str": str(e)}


def save_on_term(report):
    def handler(*_):
        report.ev("sigterm")
        report.save()
        os._exit(0)
    signal.signal(signal.SIGTERM, handler)


# ---------------------------------------------------------------- websockets ----

async def ws_server(args):
    from websockets.asyncio.server import serve
    rep = Report("websockets server (ping_interval=1, ping_timeout=1)", args.report)
    rep.set(versions=versions())
    hook_logs(rep, "websockets")
    save_on_term(rep)

    async def handler(ws):
        rep.ev("open", path=ws.request.path, peer=list(ws.remote_address[:2]))
        try:
            async for msg in ws:
                rep.ev("message", data=msg)
                await ws.send(msg)
        except Exception as e:
            rep.ev("exception", **exc_info(e))
        rep.ev("closed", close_sent=str(ws.protocol.close_sent), close_rcvd=str(ws.protocol.close_rcvd),
               close_code=ws.close_code, close_reason=ws.close_reason)
        rep.save()

    async with serve(handler, "127.0.0.1", args.port, ping_interval=1, ping_timeout=1):
        print("listening", flush=True)
        await asyncio.Future()


async def ws_client(args):
    from websockets.asyncio.client import connect
    rep = Report("websockets client (ping_interval=None: sends no pings of its own)", args.report)
    rep.set(versions=versions())
    hook_logs(rep, "websockets")
    try:
        async with connect(args.uri, ping_interval=None, proxy=None) as ws:
            rep.ev("open")
            await ws.send("hello")
            rep.ev("message", data=await ws.recv())
            rep.ev("ready")
            print("ready", flush=True)
            try:
                async for msg in ws:
                    rep.ev("message", data=msg)
            except Exception as e:
                rep.ev("exception", **exc_info(e))
        rep.ev("closed", close_sent=str(ws.protocol.close_sent), close_rcvd=str(ws.protocol.close_rcvd),
               close_code=ws.close_code, close_reason=ws.close_reason)
    except Exception as e:
        rep.ev("exception", **exc_info(e))
    rep.save()


async def echo_server(args):
    from websockets.asyncio.server import serve
    rep = Report("websockets echo server" + (" (TLS)" if args.tls else ""), args.report)
    rep.set(versions=versions())
    hook_logs(rep, "websockets")
    save_on_term(rep)
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(TLS, "server.pem"), os.path.join(TLS, "server.key"))

    async def handler(ws):
        rep.ev("open", path=ws.request.path, peer=list(ws.remote_address[:2]),
               headers={k: v for k, v in ws.request.headers.raw_items()})
        try:
            async for msg in ws:
                rep.ev("message", data=msg)
                await ws.send("echo: " + msg)
        except Exception as e:
            rep.ev("exception", **exc_info(e))
        rep.ev("closed", close_code=ws.close_code, close_reason=ws.close_reason)
        rep.save()

    async with serve(handler, "127.0.0.1", args.port, ssl=ctx):
        print("listening", flush=True)
        await asyncio.Future()


async def proxy_client(args):
    from websockets.asyncio.client import connect
    rep = Report("websockets client through an HTTP proxy (CONNECT)", args.report)
    rep.set(versions=versions(), uri=args.uri, proxy=args.proxy)
    hook_logs(rep, "websockets")
    kw = {}
    if args.uri.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=os.path.join(TLS, "ca.pem"))
        if args.keylog:
            ctx.keylog_filename = args.keylog
        kw["ssl"] = ctx
    try:
        async with connect(args.uri, proxy=args.proxy, **kw) as ws:
            rep.ev("open", response_status=ws.response.status_code)
            for text in ("first", "second"):
                await ws.send(text)
                rep.ev("sent", data=text)
                rep.ev("message", data=await ws.recv())
            await ws.close(1000, "done")
        rep.ev("closed", close_sent=str(ws.protocol.close_sent), close_rcvd=str(ws.protocol.close_rcvd),
               close_code=ws.close_code, close_reason=ws.close_reason)
    except Exception as e:
        extra = {}
        resp = getattr(e, "response", None)
        if resp is not None:
            extra = {"status": resp.status_code, "reason": resp.reason_phrase,
                     "headers": {k: v for k, v in resp.headers.raw_items()}}
        rep.ev("exception", **exc_info(e), **extra)
    rep.save()


# ------------------------------------------------------------------- uvicorn ----

_asgi_rep = None


def _asgi_report(role):
    global _asgi_rep
    if _asgi_rep is None:
        _asgi_rep = Report(role, os.environ.get("HB_REPORT"), autosave=True)
        _asgi_rep.set(versions=versions(), argv=sys.argv)
    return _asgi_rep


def ev_save(rep, kind, **kw):
    """uvicorn handles SIGTERM itself: the ASGI apps save their report at every event."""
    rep.ev(kind, **kw)
    rep.save()


async def ws_app(scope, receive, send):
    """Echo WebSocket ASGI app (uvicorn does the keep-alive pings)."""
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                rep = _asgi_report("ASGI echo app under uvicorn")
                hook_logs(rep, "websockets", "uvicorn.error")
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    rep = _asgi_report("ASGI echo app under uvicorn")
    while True:
        m = await receive()
        if m["type"] == "websocket.connect":
            ev_save(rep, "websocket.connect", path=scope["path"])
            await send({"type": "websocket.accept"})
        elif m["type"] == "websocket.receive":
            ev_save(rep, "websocket.receive", text=m.get("text"))
            await send({"type": "websocket.send", "text": m.get("text")})
        elif m["type"] == "websocket.disconnect":
            ev_save(rep, "websocket.disconnect", code=m.get("code"), reason=m.get("reason"))
            return


def _make_sio_app():
    import socketio
    rep = _asgi_report("python-socketio AsyncServer (asgi, ping_interval=1, ping_timeout=1) under uvicorn")
    hook_logs(rep, "engineio.server", "socketio.server", "websockets", "uvicorn.error")
    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=1, ping_timeout=1,
                               logger=logging.getLogger("socketio.server"),
                               engineio_logger=logging.getLogger("engineio.server"))

    @sio.event
    async def connect(sid, environ, auth=None):
        ev_save(rep, "sio.connect", sid=sid)

    @sio.event
    async def disconnect(sid, reason=None):
        ev_save(rep, "sio.disconnect", sid=sid, reason=str(reason))

    @sio.on("chat")
    async def chat(sid, data):
        ev_save(rep, "sio.event", name="chat", data=data)
        await sio.emit("reply", {"echo": data}, to=sid)

    return socketio.ASGIApp(sio)


class _LazySio:
    app = None

    async def __call__(self, scope, receive, send):
        if _LazySio.app is None:
            _LazySio.app = _make_sio_app()
        await _LazySio.app(scope, receive, send)


sio_app = _LazySio()


# ------------------------------------------------------------------- aiohttp ----

def wrap_method(obj_cls, name, rep, kind):
    orig = getattr(obj_cls, name, None)
    if orig is None:
        rep.ev("note", msg=f"{obj_cls.__name__}.{name} not found: not recorded")
        return

    def wrapper(self, *a, **kw):
        rep.ev(kind)
        return orig(self, *a, **kw)
    setattr(obj_cls, name, wrapper)


async def aiohttp_server(args):
    from aiohttp import web, WSMsgType
    rep = Report("aiohttp server, WebSocketResponse(heartbeat=1.0)", args.report)
    rep.set(versions=versions())
    save_on_term(rep)
    # aiohttp logs nothing per frame: record its heartbeat callbacks
    wrap_method(web.WebSocketResponse, "_send_heartbeat", rep, "heartbeat_timer (sends a PING unless data came in)")
    wrap_method(web.WebSocketResponse, "_pong_not_received", rep, "pong_not_received (heartbeat timeout)")

    async def handler(request):
        ws = web.WebSocketResponse(heartbeat=1.0)
        await ws.prepare(request)
        rep.ev("open", path=request.path)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    rep.ev("message", data=msg.data)
                    await ws.send_str(msg.data)
                else:
                    rep.ev("msg", type=msg.type.name, data=repr(msg.data))
        except Exception as e:
            rep.ev("exception", **exc_info(e))
        exc = ws.exception()
        rep.ev("closed", close_code=ws.close_code, exception=exc_info(exc) if exc else None)
        rep.save()
        return ws

    app = web.Application()
    app.router.add_get("/chat", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("listening", flush=True)
    await asyncio.Future()


async def aiohttp_client(args):
    import aiohttp
    from aiohttp import WSMsgType
    rep = Report(f"aiohttp client, autoping=False, answers each PING itself ({args.mode})", args.report)
    rep.set(versions=versions())
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(args.uri, autoping=False, heartbeat=None) as ws:
                rep.ev("open")
                await ws.send_str("hello")
                closer = None
                if args.mode == "answer":
                    # close from another task, as an application would: receive() below gets
                    # aiohttp's CLOSING message, close() waits for the server's Close
                    # (receive(timeout=...) would instead mark the connection 1006 and drop it)
                    async def close_later():
                        await asyncio.sleep(4.0)
                        rep.ev("closing", code=1000, reason="done")
                        await ws.close(code=1000, message=b"done")
                        rep.ev("closed", close_code=ws.close_code)
                    closer = asyncio.create_task(close_later())
                else:
                    rep.ev("ready")
                    print("ready", flush=True)
                while True:
                    msg = await ws.receive()
                    if msg.type == WSMsgType.PING:
                        rep.ev("ping", data=msg.data.hex())
                        await ws.pong(msg.data)
                        rep.ev("pong_sent", data=msg.data.hex())
                    elif msg.type == WSMsgType.TEXT:
                        rep.ev("message", data=msg.data)
                    elif msg.type == WSMsgType.CLOSE:
                        rep.ev("close_received", code=msg.data, reason=msg.extra)
                        await ws.close()
                        rep.ev("closed", close_code=ws.close_code)
                        break
                    elif msg.type == WSMsgType.CLOSING and closer is not None:
                        await closer
                        break
                    else:
                        rep.ev("msg", type=msg.type.name, data=repr(msg.data), extra=repr(msg.extra))
                        if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR, WSMsgType.CLOSING):
                            rep.ev("closed", close_code=ws.close_code,
                                   exception=exc_info(ws.exception()) if ws.exception() else None)
                            break
    except Exception as e:
        rep.ev("exception", **exc_info(e))
    rep.save()


# ----------------------------------------------------------------- socket.io ----

async def sio_client(args):
    import socketio
    rep = Report(f"python-socketio AsyncClient ({args.mode})", args.report)
    rep.set(versions=versions())
    hook_logs(rep, "socketio.client", "engineio.client")
    sio = socketio.AsyncClient(reconnection=False, logger=logging.getLogger("socketio.client"),
                               engineio_logger=logging.getLogger("engineio.client"))
    done = asyncio.Event()
    replies = []

    @sio.event
    async def connect():
        rep.ev("sio.connect", sid=sio.sid, transport=sio.transport())

    @sio.event
    async def disconnect(reason=None):
        rep.ev("sio.disconnect", reason=str(reason))
        done.set()

    @sio.on("reply")
    async def reply(data):
        rep.ev("sio.reply", data=data)
        replies.append(data)

    try:
        await sio.connect(args.url, transports=["polling", "websocket"])
        # wait until the polling -> websocket upgrade is done
        for _ in range(50):
            if sio.transport() == "websocket":
                break
            await asyncio.sleep(0.1)
        rep.ev("transport", transport=sio.transport())
        for i in range(3):
            await sio.emit("chat", f"message {i}")
            await asyncio.sleep(0.3)
        if args.mode == "clean":
            await asyncio.sleep(2.5)   # answers the server's pings meanwhile
            rep.ev("disconnecting")
            await sio.disconnect()
        else:
            rep.ev("ready")
            print("ready", flush=True)
            try:
                await asyncio.wait_for(done.wait(), 20)
            except asyncio.TimeoutError:
                rep.ev("no_disconnect_within_20s")
                await sio.disconnect()
    except Exception as e:
        rep.ev("exception", **exc_info(e), tb=traceback.format_exc())
    rep.save()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("ws-server", "aiohttp-server", "echo-server"):
        s = sub.add_parser(name)
        s.add_argument("port", type=int)
        s.add_argument("--report")
        s.add_argument("--tls", action="store_true")
    s = sub.add_parser("ws-client"); s.add_argument("uri"); s.add_argument("--report")
    s = sub.add_parser("aiohttp-client"); s.add_argument("uri"); s.add_argument("mode", choices=["frozen", "answer"]); s.add_argument("--report")
    s = sub.add_parser("sio-client"); s.add_argument("url"); s.add_argument("mode", choices=["frozen", "clean"]); s.add_argument("--report")
    s = sub.add_parser("proxy-client"); s.add_argument("uri"); s.add_argument("proxy"); s.add_argument("--report"); s.add_argument("--keylog")
    args = p.parse_args()
    fn = {"ws-server": ws_server, "ws-client": ws_client, "aiohttp-server": aiohttp_server,
          "aiohttp-client": aiohttp_client, "sio-client": sio_client, "echo-server": echo_server,
          "proxy-client": proxy_client}[args.cmd]
    asyncio.run(fn(args))


if __name__ == "__main__":
    main()
