"""A local HTTP server with range requests that counts what it serves.

Serves the files under a folder on 127.0.0.1 (a free port), answering ``Range:
bytes=a-b`` (and ``bytes=-n``) requests with 206 and just those bytes, as an
object store does for cloud-optimised GeoTIFFs. It counts requests and body
bytes sent, so tests and benchmarks can measure what a reader fetched.

The server runs in a child process: GDAL holds Python's GIL while it opens a
file, so a server thread in the reading process could never answer it.
``/__stats__`` answers the counters as JSON and ``/__reset__`` zeroes them
(neither is counted).

Paths may carry an alias prefix: with ``aliases=True`` a request for
``/<anything>/<name>`` serves ``<folder>/<name>``. A benchmark can then give many
scenes distinct URLs (nothing can be cached across them) while storing one file.

Examples
--------
>>> with RangeServer(folder) as server:  # doctest: +SKIP
...     rasterio.open(f"{server.url}/red.tif").read(1, window=...)
...     server.bytes_served
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 20  # bytes written to the socket at a time


class _Counters:
    def __init__(self) -> None:
        self.bytes_served = 0
        self.requests = 0
        self.lock = threading.Lock()


def serve(folder: Path, aliases: bool, announce) -> None:
    """Serve ``folder`` on a free 127.0.0.1 port forever, ``announce(port)`` first."""
    folder = folder.resolve()
    counters = _Counters()

    def resolve(path: str) -> Path | None:
        name = path.split("?", 1)[0].lstrip("/")
        if aliases and "/" in name:
            name = name.rsplit("/", 1)[1]
        target = (folder / name).resolve()
        if folder not in target.parents or not target.is_file():
            return None
        return target

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            logger.debug("range server: " + format, *args)

        def do_HEAD(self):  # noqa: N802 - stdlib name
            self._serve(body=False)

        def do_GET(self):  # noqa: N802 - stdlib name
            if self.path == "/__stats__":
                with counters.lock:
                    text = json.dumps(
                        {"bytes": counters.bytes_served, "requests": counters.requests}
                    )
                return self._plain(text.encode())
            if self.path == "/__reset__":
                with counters.lock:
                    counters.bytes_served = counters.requests = 0
                return self._plain(b"{}")
            self._serve(body=True)

        def _plain(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _empty(self, status: int, headers: dict | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, body: bool) -> None:
            with counters.lock:
                counters.requests += 1
            path = resolve(self.path)
            if path is None:
                return self._empty(404)
            size = path.stat().st_size
            start, end = 0, size - 1
            match = _RANGE.match(self.headers.get("Range", "").strip())
            status = 200
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start = int(match.group(1))
                    end = min(int(match.group(2) or size - 1), size - 1)
                else:
                    start = max(size - int(match.group(2)), 0)
                if start > end:
                    return self._empty(416, {"Content-Range": f"bytes */{size}"})
                status = 206
            length = end - start + 1
            self.send_response(status)
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not body:
                return
            with path.open("rb") as f:
                f.seek(start)
                left = length
                while left > 0:
                    chunk = f.read(min(_CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    with counters.lock:
                        counters.bytes_served += len(chunk)
                    left -= len(chunk)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    announce(httpd.server_address[1])
    httpd.serve_forever()


class RangeServer:
    """Serve ``folder`` over HTTP on 127.0.0.1 from a child process; a context manager.

    Attributes
    ----------
    url
        ``http://127.0.0.1:<port>`` once started.
    """

    def __init__(self, folder: str | Path, aliases: bool = False) -> None:
        self.folder = Path(folder).resolve()
        self.aliases = aliases
        self.url = ""
        self._process: subprocess.Popen | None = None

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as answer:
            return json.loads(answer.read())

    @property
    def bytes_served(self) -> int:
        """Body bytes sent since start (or the last :meth:`reset`)."""
        return self._get("/__stats__")["bytes"]

    @property
    def requests(self) -> int:
        """Requests answered since start (or the last :meth:`reset`), any status."""
        return self._get("/__stats__")["requests"]

    def reset(self) -> None:
        """Zero the counters."""
        self._get("/__reset__")

    def start(self) -> RangeServer:
        command = [
            sys.executable,
            "-m",
            "geofeat.testing.range_server",
            str(self.folder),
        ]
        if self.aliases:
            command.append("--aliases")
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"range server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        logger.debug("range server on %s serving %s", self.url, self.folder)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stdout.close()
            self._process = None

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _main() -> None:
    args = sys.argv[1:]

    def announce(port: int) -> None:
        # The child process's one line of protocol: the parent reads the port
        # from its standard output (this is the process's entry point, not
        # library code, so it writes rather than logs).
        sys.stdout.write(f"port {port}\n")
        sys.stdout.flush()

    serve(Path(args[0]), "--aliases" in args, announce)


if __name__ == "__main__":
    _main()
