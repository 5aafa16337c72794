"""A slow upload client: POSTs a body in two halves with a pause between them, on a raw socket.

    python3 slow_upload.py <host> <port> <path> <bytes> <pause seconds> [<Host header>] [<response timeout>]

Prints one JSON line: status (None when no response came), cut_after (seconds into the pause at
which the server answered or closed, None if it waited it out), error, elapsed, sent_sha256, body.
Bounded: connect 5 s, the pause, then the response timeout (default 30 s).
"""
import hashlib
import json
import select
import socket
import sys
import time


def main():
    host, port, path, size, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    host_header = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else host
    response_timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 30.0
    body = bytes((i * 7 + 3) % 251 for i in range(size))
    half = size // 2
    out = {"status": None, "cut_after": None, "error": None, "sent_sha256": hashlib.sha256(body).hexdigest(), "body": ""}
    started = time.monotonic()
    s = socket.create_connection((host, port), timeout=5)
    try:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode()
        s.sendall(head + body[:half])
        paused = time.monotonic()
        readable, _, _ = select.select([s], [], [], pause)
        if readable:
            out["cut_after"] = round(time.monotonic() - paused, 2)
        else:
            try:
                s.sendall(body[half:])
            except OSError as exc:
                out["error"] = f"send: {type(exc).__name__}"
        s.settimeout(response_timeout)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            out["error"] = (out["error"] + "; " if out["error"] else "") + f"recv: {type(exc).__name__}"
        if data.startswith(b"HTTP/"):
            out["status"] = int(data.split(b" ", 2)[1])
            out["body"] = data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")[:2000]
    finally:
        s.close()
    out["elapsed"] = round(time.monotonic() - started, 2)
    print(json.dumps(out))


main()
