"""STUB standing for Elasticsearch 7.17.25 in the e2e suite: answers / and /_cluster/health only."""
import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = socket.gethostname()


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
            self._send(200, {"name": NAME, "cluster_name": "webstack-e2e-stub", "tagline": "STUB, not Elasticsearch",
                             "version": {"number": "7.17.25", "build_flavor": "stub"}})
        elif path.startswith("/_cluster/health"):
            self._send(200, {"cluster_name": "webstack-e2e-stub", "status": "green", "number_of_nodes": 1, "stub": True})
        else:
            self._send(404, {"error": "webstack e2e elasticsearch stub: only / and /_cluster/health", "status": 404})

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        print("stub-es: " + fmt % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", 9200), Handler).serve_forever()
