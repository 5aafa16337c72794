"""STUB standing for Elasticsearch 7.17.25 in the e2e suite: answers / and /_cluster/health only.

Not Elasticsearch: no index, no shard, no node stats. The health it answers is green with one node,
unless the tests ask otherwise: STUB_HEALTH_FILE names a JSON file read at every request whose keys
(e.g. {"status": "red", "number_of_nodes": 2}) replace the answer's. STUB_BIND and STUB_PORT move
the listener (the daemon suite runs it on a loopback address of a test namespace).
"""
import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = socket.gethostname()
HEALTH_FILE = os.environ.get("STUB_HEALTH_FILE")


def health():
    body = {"cluster_name": "webstack-e2e-stub", "status": "green", "number_of_nodes": 1, "number_of_data_nodes": 1, "stub": True}
    if HEALTH_FILE and os.path.exists(HEALTH_FILE):
        with open(HEALTH_FILE) as f:
            body.update(json.load(f))
    return body


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("X-Webstack-E2E-Stub", "elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, {"name": NAME, "cluster_name": health()["cluster_name"], "tagline": "STUB, not Elasticsearch",
                             "version": {"number": "7.17.25", "build_flavor": "stub"}})
        elif path.startswith("/_cluster/health"):
            self._send(200, health())
        else:
            self._send(404, {"error": "webstack e2e elasticsearch stub: only / and /_cluster/health", "status": 404})

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        print("stub-es: " + fmt % args, flush=True)


ThreadingHTTPServer((os.environ.get("STUB_BIND", "0.0.0.0"), int(os.environ.get("STUB_PORT", "9200"))), Handler).serve_forever()
