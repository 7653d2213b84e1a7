"""A small range-capable HTTP server for tests, on 127.0.0.1 only: serves files from a
directory with HEAD and GET (single byte ranges, suffix ranges, ETag, If-Match), counts
requests and bytes sent, and injects faults on demand (a 503 answer, a connection cut half
way through a body, a slow answer). With `latency`, every answer waits that long first, as a
real store's round trip does. `ranges` plays servers with less range support: "no-suffix-416"
answers a suffix range (``bytes=-N``) with 416, "no-suffix-ignore" answers it with the whole
object (200), "none" ignores every Range header (as ``python -m http.server`` does).

Run as a program (``python rangeserver.py ROOT [--latency S]``) it serves in a process of its
own, prints its port, answers ``GET /__stats`` with "requests bytes" and ``GET /__reset`` by
zeroing them (neither counted), and stops when its standard input closes."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeServer:
    def __init__(self, root: Path, latency: float = 0.0, ranges: str = "all") -> None:
        assert ranges in ("all", "no-suffix-416", "no-suffix-ignore", "none"), ranges
        self.root = root
        self.latency = latency
        self.ranges = ranges
        self.requests = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        # Faults, consumed one per matching request: "503", "cut", ("slow", seconds).
        self.faults: list[object] = []
        self.log: list[tuple[str, str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _file(self) -> Path | None:
                p = (server.root / self.path.lstrip("/").split("?")[0]).resolve()
                return p if p.is_file() and server.root.resolve() in p.parents else None

            def _etag(self, p: Path) -> str:
                st = p.stat()
                return '"' + hashlib.md5(f"{st.st_size}-{st.st_mtime_ns}".encode()).hexdigest() + '"'

            def _send_head(self, p: Path, status: int, start: int, end: int, size: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(end - start))
                if server.ranges != "none":
                    self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", self._etag(p))
                self.send_header("Last-Modified", self.date_time_string(int(p.stat().st_mtime)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.end_headers()

            def do_HEAD(self) -> None:
                if server.latency:
                    time.sleep(server.latency)
                with server.lock:
                    server.requests += 1
                    server.log.append(("HEAD", self.path, None))
                p = self._file()
                if p is None:
                    self.send_error(404)
                    return
                size = p.stat().st_size
                self._send_head(p, 200, 0, size, size)

            def do_GET(self) -> None:
                if self.path in ("/__stats", "/__reset"):
                    with server.lock:
                        body = f"{server.requests} {server.bytes_sent}".encode()
                        if self.path == "/__reset":
                            server.requests = server.bytes_sent = 0
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if server.latency:
                    time.sleep(server.latency)
                rng = self.headers.get("Range")
                with server.lock:
                    server.requests += 1
                    server.log.append(("GET", self.path, rng))
                    fault = server.faults.pop(0) if server.faults else None
                p = self._file()
                if p is None:
                    self.send_error(404)
                    return
                if fault == "503":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(fault, tuple) and fault[0] == "slow":
                    time.sleep(fault[1])
                size = p.stat().st_size
                if_match = self.headers.get("If-Match")
                if if_match and if_match != self._etag(p):
                    self.send_response(412)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end, status = 0, size, 200
                suffix = bool(rng and rng.strip().startswith("bytes=-"))
                if suffix and server.ranges == "no-suffix-416":
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.ranges == "none" or (suffix and server.ranges == "no-suffix-ignore"):
                    rng = None
                if rng:
                    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
                    if not m:
                        self.send_error(416)
                        return
                    a, b = m.groups()
                    if a == "":
                        start, end = max(0, size - int(b)), size
                    else:
                        start, end = int(a), size if b == "" else min(size, int(b) + 1)
                    status = 206
                with open(p, "rb") as f:
                    f.seek(start)
                    body = f.read(end - start)
                self._send_head(p, status, start, end, size)
                if fault == "cut":
                    half = body[: len(body) // 2]
                    self.wfile.write(half)
                    self.wfile.flush()
                    with server.lock:
                        server.bytes_sent += len(half)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (a timeout): nothing more to send
                with server.lock:
                    server.bytes_sent += len(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.bytes_sent = 0
            self.log.clear()
            self.faults.clear()

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


if __name__ == "__main__":
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    with RangeServer(args.root, args.latency) as srv:
        print(srv.port, flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)
