"""Serves page.html and collects the browsers' reports for captures/make-browsers.sh (a
copy of peers/tls/collector.py that also keeps a report when the page is left).

    python collector.py OUTDIR [PORT]     (default port 8899, on 127.0.0.1)

GET /?...              page.html (the page reads its query string)
GET /away?name=NAME    a blank page; marks NAME's report "left": true (the page navigated away)
POST /report/NAME      the page's JSON report, written to OUTDIR/NAME.browser.json (each POST
                       replaces the last: a page that is left sends what it saw so far)
POST /left/NAME?how=H  marks NAME's report "left": true, "left_how": H (the tab was closed)
Every report gets "received_s": seconds since the collector started. Plain HTTP on a port
outside every capture filter. Standard library only.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8899
T0 = time.monotonic()
LOCK = threading.Lock()


def path_of(name):
    return os.path.join(OUT, f"{os.path.basename(name)}.browser.json")


def write(name, data):
    with open(path_of(name), "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")


def mark_left(name, how):
    with LOCK:
        try:
            data = json.load(open(path_of(name)))
        except (OSError, ValueError):
            data = {"name": name, "events": []}
        data["left"] = True
        data["left_how"] = how
        write(name, data)
    print(f"collector: {name}: left ({how})", flush=True)


class H(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print("collector:", fmt % args, flush=True)

    def reply(self, status, body=b"", ctype="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/away":
            name = parse_qs(u.query).get("name", [""])[0]
            mark_left(name, "navigated to /away")
            self.reply(200, b"<!doctype html><title>away</title><p>left the WebSocket page\n")
        elif u.path in ("/", "/page.html"):
            self.reply(200, open(os.path.join(HERE, "page.html"), "rb").read())
        else:
            self.reply(404)

    def do_POST(self):
        u = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        name = os.path.basename(u.path.rstrip("/"))
        if u.path.startswith("/left/"):
            mark_left(name, parse_qs(u.query).get("how", ["left"])[0])
            self.reply(204)
            return
        data = json.loads(body)
        data["received_s"] = round(time.monotonic() - T0, 2)
        with LOCK:
            try:
                old = json.load(open(path_of(name)))
            except (OSError, ValueError):
                old = {}
            if old.get("left"):   # a report that arrives after /left keeps the mark
                data["left"], data["left_how"] = True, old.get("left_how")
            write(name, data)
        closes = [e for e in data.get("events", []) if e["type"] == "close"]
        print(f"collector: report {name} final={data.get('final')}: {[e['type'] for e in data['events']]} close={closes}", flush=True)
        self.reply(204)


srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
print(f"collector listening on 127.0.0.1:{PORT}", flush=True)
srv.serve_forever()
