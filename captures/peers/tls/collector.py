"""Serves page.html and collects the browsers' reports for captures/make-wss.sh.

    python collector.py OUTDIR [PORT]     (default port 9499, on 127.0.0.1)

GET /?...            page.html (the page reads its query string)
POST /report/NAME    the page's JSON report, written to OUTDIR/NAME.browser.json
Plain HTTP on a port outside every capture filter. Standard library only.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9499


class H(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print("collector:", fmt % args, flush=True)

    def do_GET(self):
        if self.path.split("?")[0] not in ("/", "/page.html"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = open(os.path.join(HERE, "page.html"), "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        name = os.path.basename(self.path.split("?")[0].rstrip("/"))
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with open(os.path.join(OUT, f"{name}.browser.json"), "w") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        closes = [e for e in data.get("events", []) if e["type"] == "close"]
        print(f"collector: report {name}: {[e['type'] for e in data['events']]} close={closes}", flush=True)
        self.send_response(204)
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
print(f"collector listening on 127.0.0.1:{PORT}", flush=True)
srv.serve_forever()
