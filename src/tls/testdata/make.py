#!/usr/bin/env python3
"""Records real OpenSSL TLS conversations for the tests of src/tls, in memory (ssl.MemoryBIO,
no sockets): a client and a server in one process, every chunk of bytes one of them wrote kept
in the order it went.

Writes, per conversation NAME:
  NAME.tls   chunks: 1 byte direction (b'C' client->server, b'S' server->client),
             4-byte big-endian length, the bytes
  NAME.keys  the client's NSS key log (SSLContext.keylog_filename)

The TLS 1.3 suite is chosen by an OpenSSL config (Python's ssl has no set_ciphersuites), so
each conversation runs in a child process with OPENSSL_CONF set.

The certificate (cert.pem, key.pem: a throwaway self-signed P-256 one for "ws.example", test
only) is made once with:
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
    -subj /CN=ws.example -addext subjectAltName=DNS:ws.example -keyout key.pem -out cert.pem

Run from anywhere: python3 src/tls/testdata/make.py
"""

import os
import ssl
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "ws.example"

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)
# A masked "hello" text frame from the client, an unmasked "world" from the server.
CLIENT_FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
SERVER_FRAME = b"\x81\x05world"

# name: (TLS version, TLS 1.3 suite or TLS 1.2 cipher string, client trusts the certificate)
CONVERSATIONS = {
    "tls13_aes128": ("1.3", "TLS_AES_128_GCM_SHA256", True),
    "tls13_aes256": ("1.3", "TLS_AES_256_GCM_SHA384", True),
    "tls13_chacha": ("1.3", "TLS_CHACHA20_POLY1305_SHA256", True),
    "tls12_aes128": ("1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", True),
    "tls12_aes256": ("1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", True),
    "tls12_chacha": ("1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", True),
    "tls12_cbc": ("1.2", "ECDHE-ECDSA-AES128-SHA", True),
    "tls13_untrusted": ("1.3", "TLS_AES_128_GCM_SHA256", False),
    "tls12_untrusted": ("1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", False),
}


class Wire:
    """Moves bytes between the two sides and records them."""

    def __init__(self):
        self.chunks = []

    def pump(self, client, server):
        moved = True
        while moved:
            moved = False
            for tag, src, dst in ((b"C", client[1], server[0]), (b"S", server[1], client[0])):
                data = src.read()
                if data:
                    self.chunks.append((tag, data))
                    dst.write(data)
                    moved = True

    def save(self, path):
        with open(path, "wb") as f:
            for tag, data in self.chunks:
                f.write(tag + struct.pack(">I", len(data)) + data)


def step(fn):
    try:
        fn()
        return True
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False


def run(name):
    version, suite, trusted = CONVERSATIONS[name]
    keys = os.path.join(HERE, name + ".keys")
    if os.path.exists(keys):
        os.remove(keys)
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(os.path.join(HERE, "cert.pem"), os.path.join(HERE, "key.pem"))
    sctx.minimum_version = sctx.maximum_version = v
    sctx.set_alpn_protocols(["http/1.1"])
    sctx.options |= ssl.OP_NO_TICKET if version == "1.2" else 0
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trusted:
        cctx.load_verify_locations(os.path.join(HERE, "cert.pem"))
    cctx.minimum_version = cctx.maximum_version = v
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    cctx.keylog_filename = keys
    if version == "1.2":
        sctx.set_ciphers(suite)
        cctx.set_ciphers(suite)

    cbio = (ssl.MemoryBIO(), ssl.MemoryBIO())  # (incoming, outgoing)
    sbio = (ssl.MemoryBIO(), ssl.MemoryBIO())
    client = cctx.wrap_bio(cbio[0], cbio[1], server_hostname=HOST)
    server = sctx.wrap_bio(sbio[0], sbio[1], server_side=True)
    wire = Wire()

    failed = None
    done = [False, False]
    for _ in range(20):
        try:
            done[0] = done[0] or step(client.do_handshake)
        except ssl.SSLError as e:
            failed = e
        wire.pump(cbio, sbio)
        try:
            done[1] = done[1] or step(server.do_handshake)
        except ssl.SSLError as e:
            failed = failed or e
        wire.pump(cbio, sbio)
        if failed or all(done):
            break
    if failed:
        wire.pump(cbio, sbio)
        wire.save(os.path.join(HERE, name + ".tls"))
        print(f"{name}: handshake failed as meant: {failed}", file=sys.stderr)
        return
    assert version == "1.2" or client.cipher()[0] == suite, client.cipher()
    assert client.selected_alpn_protocol() == "http/1.1"

    client.write(REQUEST)
    wire.pump(cbio, sbio)
    got = server.read(4096)
    assert got == REQUEST, got
    wire.pump(cbio, sbio)
    server.write(RESPONSE)
    server.write(SERVER_FRAME)
    wire.pump(cbio, sbio)
    got = b""
    while len(got) < len(RESPONSE) + len(SERVER_FRAME):
        got += client.read(4096)
    assert got == RESPONSE + SERVER_FRAME, got
    client.write(CLIENT_FRAME)
    wire.pump(cbio, sbio)
    assert server.read(4096) == CLIENT_FRAME
    # close_notify both ways.
    step(client.unwrap)
    wire.pump(cbio, sbio)
    step(server.unwrap)
    wire.pump(cbio, sbio)
    step(client.unwrap)
    wire.save(os.path.join(HERE, name + ".tls"))
    print(f"{name}: {client.version()} {client.cipher()[0]}, {len(wire.chunks)} chunks", file=sys.stderr)


def main():
    if len(sys.argv) == 2:
        run(sys.argv[1])
        return
    for name, (version, suite, _) in CONVERSATIONS.items():
        env = dict(os.environ)
        with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as conf:
            conf.write(
                "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
                "[ssl_sect]\nsystem_default = system_default_sect\n"
                f"[system_default_sect]\nCiphersuites = {suite if version == '1.3' else 'TLS_AES_128_GCM_SHA256'}\n"
            )
        env["OPENSSL_CONF"] = conf.name
        subprocess.run([sys.executable, os.path.abspath(__file__), name], env=env, check=True)
        os.remove(conf.name)


if __name__ == "__main__":
    main()
