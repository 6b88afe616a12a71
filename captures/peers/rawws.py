"""Raw-socket WebSocket peers that misbehave on purpose (the other side is a real library).

    python rawws.py client MODE HOST PORT
    python rawws.py server MODE HOST PORT

client modes (the server is a real `websockets` echo server):
  unmasked        handshake, then send an UNMASKED text frame (RFC 6455 §5.1 violation);
                  read until the server ends TCP
  rst-after-close handshake, one echoed message, Close 1000 "done", read the server's
                  Close, then close with SO_LINGER 0 so the kernel sends RST

server modes (the client is a real `websockets` client):
  masked          correct handshake, then send a MASKED text frame (violation);
                  read until the client's Close, then end TCP
  bad-accept      answer 101 with a wrong Sec-WebSocket-Accept; read until EOF
  close-ignored   correct handshake, echo text; when the client's Close comes, never
                  answer it, and end TCP 1 s later
  close-silent    correct handshake, echo text; never answer the Close, never end TCP
                  first (the client gives up on its own); end TCP after the client's EOF
  no-answer       read the upgrade request and never answer it; end TCP after the
                  client's EOF
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def frame(opcode: int, payload: bytes, mask: bool) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(sock, buf: bytearray):
    """Return (opcode, payload) of the next frame, or None at EOF."""
    def need(n):
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            buf.extend(chunk)
        return True
    if not need(2):
        return None
    opcode, n, masked = buf[0] & 0x0F, buf[1] & 0x7F, buf[1] & 0x80
    pos = 2
    if n == 126:
        if not need(4):
            return None
        n, pos = struct.unpack("!H", bytes(buf[2:4]))[0], 4
    elif n == 127:
        if not need(10):
            return None
        n, pos = struct.unpack("!Q", bytes(buf[2:10]))[0], 10
    if masked:
        pos += 4
    if not need(pos + n):
        return None
    payload = bytes(buf[pos:pos + n])
    if masked:
        key = buf[pos - 4:pos]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    del buf[:pos + n]
    return opcode, payload


def read_head(sock, buf: bytearray) -> bytes:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        buf.extend(chunk)
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf[:] = rest
    return head


def drain(sock):
    while sock.recv(65536):
        pass


def describe(opcode, payload):
    if opcode == 8:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        return f"Close code={code} reason={payload[2:].decode(errors='replace')!r}"
    return f"opcode={opcode} payload={payload[:40]!r}"


def client(mode, host, port):
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET /raw HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 b"Sec-WebSocket-Version: 13\r\nUser-Agent: rawws-client\r\n\r\n"
                 % (host.encode(), port, key))
    buf = bytearray()
    head = read_head(sock, buf)
    print("rawws client: got", head.split(b"\r\n")[0].decode(), flush=True)
    if mode == "unmasked":
        sock.sendall(frame(0x1, b"hello, unmasked", mask=False))
        while (f := read_frame(sock, buf)) is not None:
            print("rawws client: received", describe(*f), flush=True)
        sock.close()
    elif mode == "rst-after-close":
        sock.sendall(frame(0x1, b"hi", mask=True))
        print("rawws client: received", describe(*read_frame(sock, buf)), flush=True)
        sock.sendall(frame(0x8, struct.pack("!H", 1000) + b"done", mask=True))
        print("rawws client: received", describe(*read_frame(sock, buf)), flush=True)
        time.sleep(0.05)  # let the server's FIN arrive too: the reset comes after both
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        print("rawws client: closed with SO_LINGER 0 (RST)", flush=True)
    else:
        raise SystemExit(f"unknown client mode {mode}")


def server(mode, host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen()
    print(f"rawws server {mode} listening on {host}:{port}", flush=True)
    sock, _ = lsock.accept()
    buf = bytearray()
    head = read_head(sock, buf)
    if mode == "no-answer":
        print("rawws server: got the request, not answering", flush=True)
        drain(sock)
        sock.close()
        return
    key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = accept_key(key)
    if mode == "bad-accept":
        accept = accept_key(b"not-the-key-the-client-sent==")
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                 b"Server: rawws\r\n\r\n" % accept)
    if mode == "bad-accept":
        drain(sock)
        sock.close()
        return
    if mode == "masked":
        sock.sendall(frame(0x1, b"hello from a masking server", mask=True))
    while (f := read_frame(sock, buf)) is not None:
        opcode, payload = f
        print("rawws server: received", describe(opcode, payload), flush=True)
        if opcode == 0x1 and mode != "masked":
            sock.sendall(frame(0x1, payload, mask=False))
        if opcode == 0x8:
            break
    if mode == "close-ignored":
        time.sleep(1.0)
    elif mode == "close-silent":
        drain(sock)  # until the client gives up and ends TCP
    sock.close()
    print("rawws server: closed TCP", flush=True)


if __name__ == "__main__":
    role, mode, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    (client if role == "client" else server)(mode, host, port)
