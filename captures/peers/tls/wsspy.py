"""Python `websockets` peers over TLS for captures/make-wss.sh.

    python wsspy.py server MODE HOST PORT [--tls12 CIPHERS] [--keylog FILE]
    python wsspy.py client MODE URI [--tls12 CIPHERS] [--no-ca] [--keylog FILE] [--sni NAME]

The server uses server.pem / server.key beside this file; the client trusts ca.pem (unless
--no-ca: then it trusts only the system store and must refuse the test certificate). The
client connects to the URI's address and sends SNI "localhost" (--sni to change it).
--tls12 CIPHERS: at most TLS 1.2, with these OpenSSL cipher names. TLS 1.3 cipher suites cannot
be set from Python's ssl module: make-wss.sh sets them with OPENSSL_CONF (tls13-*.cnf here).
--keylog FILE: SSLContext.keylog_filename (NSS key log format).

Server MODE:
  echo       echo every message
  close1011  echo the first message, then close(1011, "internal error")
  rst        send "hello" after the handshake, 0.5 s later reset the TCP connection
             (SO_LINGER {1, 0} and abort: RST, no Close, no close_notify)
Client MODE:
  clean      3 texts each way (echo server), a ping/pong, close(1000, "bye")
  send-wait  send "hello", read one message, wait until the peer ends the connection
  connect    just try to connect (open_timeout 2.5 s) and report what happened
  connect-sync  the same with websockets' threading client (websockets.sync.client: a
             blocking ssl.SSLSocket, where OpenSSL writes its alert straight to the socket;
             asyncio's memory-BIO transport closes without sending the alert)
Prints what this endpoint saw: TLS version and cipher, messages, close codes, errors.
"""
import argparse
import asyncio
import logging
import os
import socket
import ssl
import struct
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.sync.client import connect as sync_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

HERE = os.path.dirname(os.path.abspath(__file__))
PLAIN = dict(ping_interval=None, compression=None)

ap = argparse.ArgumentParser()
ap.add_argument("role", choices=["server", "client"])
ap.add_argument("mode")
ap.add_argument("target", nargs="+")
ap.add_argument("--tls12")
ap.add_argument("--no-ca", action="store_true")
ap.add_argument("--keylog")
ap.add_argument("--sni", default="localhost")
A = ap.parse_args()
# the library's own log lines (a failed TLS / opening handshake on the server side)
logging.basicConfig(format=f"wsspy {A.role} {A.mode}: [%(name)s] %(message)s", level=logging.WARNING)
WHO = f"wsspy {A.role} {A.mode}"


def say(*a):
    print(WHO + ":", *a, flush=True)


def tls_of(ws):
    o = ws.transport.get_extra_info("ssl_object")
    return f"{o.version()} {o.cipher()[0]}" if o else "no TLS"


def context(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if server:
        ctx.load_cert_chain(os.path.join(HERE, "server.pem"), os.path.join(HERE, "server.key"))
    elif A.no_ca:
        ctx.load_default_certs()
    else:
        ctx.load_verify_locations(os.path.join(HERE, "ca.pem"))
    if A.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(A.tls12)
    if A.keylog:
        ctx.keylog_filename = A.keylog
    return ctx


async def handler(ws):
    say(f"open {ws.request.path} {tls_of(ws)}")
    try:
        if A.mode == "rst":
            await ws.send("hello")
            await asyncio.sleep(0.5)
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            say("reset the TCP connection (SO_LINGER 0, abort)")
            ws.transport.abort()
            return
        n = 0
        async for msg in ws:
            n += 1
            say(f"got {msg!r}")
            await ws.send(msg)
            if A.mode == "close1011" and n == 1:
                await ws.close(1011, "internal error")
        say(f"closed: close_code={ws.close_code} close_reason={ws.close_reason!r}")
    except ConnectionClosed as e:
        say(f"closed rcvd={e.rcvd and (e.rcvd.code, e.rcvd.reason)} "
            f"sent={e.sent and (e.sent.code, e.sent.reason)} -> {type(e).__name__}")


async def server():
    host, port = A.target[0], int(A.target[1])
    async with serve(handler, host, port, ssl=context(True), **PLAIN) as srv:
        say(f"listening on {host}:{port}")
        await srv.serve_forever()


def report(x):
    if isinstance(x, ConnectionClosed):
        say(f"closed rcvd={x.rcvd and (x.rcvd.code, x.rcvd.reason)} "
            f"sent={x.sent and (x.sent.code, x.sent.reason)} -> {type(x).__name__}")
    elif isinstance(x, BaseException):
        say(f"{type(x).__name__}: {x}")
    else:
        say(f"close_code={x.close_code} close_reason={x.close_reason!r}")


async def client():
    uri = A.target[0]
    kw = dict(ssl=context(False), server_hostname=A.sni, **PLAIN)
    try:
        if A.mode == "connect-sync":
            with sync_connect(uri, open_timeout=2.5, ssl=context(False), server_hostname=A.sni,
                              compression=None) as ws:
                say(f"open {ws.socket.version()} {ws.socket.cipher()[0]}")
                ws.close()
            report(ws)
        elif A.mode == "connect":
            async with connect(uri, open_timeout=2.5, **kw) as ws:
                say(f"open {tls_of(ws)}")
                await ws.close()
            report(ws)
        elif A.mode == "clean":
            async with connect(uri, **kw) as ws:
                say(f"open {tls_of(ws)}")
                for i in range(3):
                    await ws.send(f"message {i + 1}")
                    say(f"got {await ws.recv()!r}")
                await (await ws.ping(b"are-you-there"))
                say("pong")
                await ws.close(1000, "bye")
            report(ws)
        elif A.mode == "send-wait":
            async with connect(uri, **kw) as ws:
                say(f"open {tls_of(ws)}")
                await ws.send("hello")
                say(f"got {await ws.recv()!r}")
                say("open, waiting")
                try:
                    await ws.recv()
                except ConnectionClosed as e:
                    report(e)
                    return
        else:
            sys.exit(f"unknown mode {A.mode}")
    except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError) as e:
        report(e)


asyncio.run(server() if A.role == "server" else client())
