"""A static file server with HTTP byte ranges, run as its own process.

``python rainfall_http.py ROOT LOG`` binds 127.0.0.1 on a free port, prints the
port on its first line, and appends each request path to LOG. It runs in its own
process because GDAL holds the GIL while it probes for sidecar files, so a
server thread inside the test process could not answer it.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=a-b`` answers (GDAL and fsspec use them)."""

    log_path: Path

    def log_message(self, *args) -> None:
        pass

    def _send(self, head: bool) -> None:
        with open(self.log_path, "a") as log:
            log.write(self.path + "\n")
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            first = int(match[1])
            last = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
            body = data[first : last + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(head=False)

    def do_HEAD(self) -> None:
        self._send(head=True)


def main(root: str, log: str) -> None:
    handler = type("Handler", (RangeHandler,), {"log_path": Path(log)})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=root))
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
