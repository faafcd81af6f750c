"""A STAC API on 127.0.0.1 that serves recorded real catalogue responses.

The server holds the items of the recorded responses in ``shared/data/stac`` (Earth
Search or Planetary Computer) and answers as a STAC API does, over real HTTP:

- ``GET /`` (landing page), ``GET /conformance``, ``GET /collections``,
  ``GET /collections/{id}`` (404 for an unknown id);
- ``POST /search`` and ``GET /search``. A request that matches a recorded request
  (same collections, filter, datetime, intersects) is answered with the recorded
  pages verbatim, following their recorded ``next`` tokens; the recording's last
  page loses its ``next`` link (the pages after it were not recorded). Any other
  request is answered from the recorded items, filtered by collections, bbox,
  intersects, datetime, ids, ``query`` and simple CQL2-JSON comparisons on
  properties, in pages of ``limit`` items with POST ``next`` links.
- ``/files/<name>``: local files by name, with HTTP ranges, for raster reads;
- ``/sas/token/<account>/<container>``: a Planetary Computer style SAS token
  endpoint; ``/blob/<account>/<container>/<name>``: files readable only with a
  valid token (403 otherwise).

Every href of the recorded catalogue's root URL is rewritten to the local base URL.
Faults are injected with :meth:`ReplayServer.fail` (status, ``Retry-After``, delay)
and :meth:`ReplayServer.expire_next_token`; every request is logged in
:attr:`ReplayServer.requests`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import shapely
from shapely.geometry import box, shape

ROOTS = {
    "earth-search": "https://earth-search.aws.element84.com/v1",
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
}

#: Conformance classes of the real APIs that matter to a client.
CORE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#fields",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#sort",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
QUERY = ["https://api.stacspec.org/v1.0.0-rc.1/item-search#query"]
FILTER = [
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
]

#: Recorded searches: the request as recorded, and its pages in order.
RECORDINGS = {
    "earth-search": [
        (
            {"filter": {"op": "lte", "args": [{"property": "eo:cloud_cover"}, 40]}},
            [
                "earth-search/search_cql2_cloudcover_lte40_page1.json",
                "earth-search/search_cql2_cloudcover_lte40_page2.json",
            ],
        ),
        (
            {
                "collections": ["sentinel-2-c1-l2a"],
                "intersects": {"type": "Point", "coordinates": [-105.1019, 40.1672]},
                "fields": {"include": [], "exclude": ["geometry", "assets", "links"]},
            },
            ["earth-search/search_s2c1l2a_point_fields_excluded.json"],
        ),
        (
            {
                "datetime": "2023-10-08T00:00:00Z/2023-10-08T23:59:59Z",
                "collections": ["sentinel-2-l2a", "landsat-c2-l2"],
                "intersects": {"type": "Point", "coordinates": [-105.1019, 40.1672]},
            },
            ["earth-search/search_s2l2a_landsat_point_2023-10-08.json"],
        ),
    ],
    "planetary-computer": [
        (
            {
                "datetime": "2019-01-01T00:00:01Z/2019-01-01T00:00:10Z",
                "collections": ["sentinel-2-l2a"],
            },
            ["planetary-computer/search_sentinel-2-l2a_2019-01-01T000001-000010.json"],
        ),
    ],
}
_MATCHED = (
    "collections",
    "filter",
    "datetime",
    "intersects",
    "bbox",
    "query",
    "ids",
    "fields",
)


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path starts with ``path`` badly."""

    path: str
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    times: int = 1


@dataclass
class Logged:
    method: str
    path: str
    query: dict
    body: dict | None
    status: int = 0
    at: float = field(default_factory=time.monotonic)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _interval(value: str | None) -> tuple[datetime | None, datetime | None]:
    if not value:
        return None, None
    if "/" not in value:
        t = _parse_time(value)
        return t, t
    a, b = value.split("/")
    return (
        None if a in ("", "..") else _parse_time(a),
        None if b in ("", "..") else _parse_time(b),
    )


_OPS = {
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "eq": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


def _cql2(expr: dict, props: dict) -> bool:
    op = expr["op"]
    if op == "and":
        return all(_cql2(e, props) for e in expr["args"])
    if op == "or":
        return any(_cql2(e, props) for e in expr["args"])
    prop, value = expr["args"]
    actual = props.get(prop["property"])
    return actual is not None and _OPS[op](actual, value)


def _matches(item: dict, body: dict) -> bool:
    if body.get("collections") and item.get("collection") not in body["collections"]:
        return False
    if body.get("ids") and item["id"] not in body["ids"]:
        return False
    geometry = shape(item["geometry"]) if item.get("geometry") else None
    if body.get("bbox") and geometry is not None:
        if not shapely.intersects(geometry, box(*body["bbox"])):
            return False
    if body.get("intersects") and geometry is not None:
        if not shapely.intersects(geometry, shape(body["intersects"])):
            return False
    start, end = _interval(body.get("datetime"))
    props = item["properties"]
    when = props.get("datetime")
    item_start = _parse_time(props.get("start_datetime") or when)
    item_end = _parse_time(props.get("end_datetime") or when)
    if start is not None and item_end < start:
        return False
    if end is not None and item_start > end:
        return False
    for prop, ops in (body.get("query") or {}).items():
        actual = props.get(prop)
        if actual is None or not all(_OPS[op](actual, v) for op, v in ops.items()):
            return False
    if body.get("filter") and not _cql2(body["filter"], props):
        return False
    return True


class ReplayServer:
    """A threaded STAC API on 127.0.0.1, on a free port.

    Parameters
    ----------
    data
        The ``shared/data/stac`` folder.
    catalogue
        ``"earth-search"`` or ``"planetary-computer"``: whose recordings to serve.
    conformance
        Conformance classes to declare (default: core, query and filter).
    extra_items
        More item dicts to serve besides the recorded ones.
    """

    def __init__(
        self,
        data: Path,
        catalogue: str = "earth-search",
        conformance: list[str] | None = None,
        extra_items: list[dict] = (),
    ) -> None:
        self.data = Path(data)
        self.catalogue = catalogue
        self.conformance = CORE + QUERY + FILTER if conformance is None else conformance
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        self.files: dict[str, Path] = {}
        self.tokens: dict[str, bool] = {}
        self._expire_next = 0
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.base}/api/stac/v1"
        self._thread: threading.Thread | None = None
        self.items = self._load_items() + [self._local(i) for i in extra_items]
        self.collections = self._load_collections()

    # -- data --------------------------------------------------------------
    def _local(self, obj):
        text = json.dumps(obj).replace(ROOTS[self.catalogue].rstrip("/"), self.url)
        return json.loads(text)

    def _read(self, name: str):
        return self._local(json.loads((self.data / name).read_text()))

    def _load_items(self) -> list[dict]:
        items: dict[str, dict] = {}
        for _, pages in RECORDINGS[self.catalogue]:
            for page in pages:
                for item in self._read(page)["features"]:
                    if "geometry" in item:  # not the recording without geometry
                        items.setdefault(item["id"], item)
        if self.catalogue == "planetary-computer":
            name = "planetary-computer/items_sentinel-2-l2a_2024-04-19"
            name += "_stac-geoparquet.json"
            for item in self._read(name):
                items.setdefault(item["id"], item)
        return list(items.values())

    def _load_collections(self) -> dict[str, dict]:
        if self.catalogue == "earth-search":
            cols = self._read("earth-search/collections.json")["collections"]
        else:
            cols = [
                self._read(f"planetary-computer/collection_{c}.json")
                for c in ("sentinel-2-l2a", "modis-11A2-061", "modis-11A1-061")
            ]
        return {c["id"]: c for c in cols}

    # -- faults and files ----------------------------------------------------
    def fail(self, path: str = "/api/stac/v1/search", **kwargs) -> None:
        """Answer the next request(s) to ``path`` with a fault (see :class:`Fault`)."""
        self.faults.append(Fault(path=path, **kwargs))

    def expire_next_token(self, count: int = 1) -> None:
        """Let the next ``count`` SAS tokens issued be refused by the blob store."""
        self._expire_next += count

    def serve_file(self, name: str, path: Path) -> str:
        """Serve a local file; returns its plain URL and its blob (signed) URL."""
        self.files[name] = Path(path)
        return f"{self.base}/files/{name}"

    def blob_url(
        self, name: str, account: str = "acct", container: str = "data"
    ) -> str:
        return f"{self.base}/blob/{account}/{container}/{name}"

    def searches(self) -> list[Logged]:
        return [r for r in self.requests if r.path.endswith("/search")]

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- STAC answers --------------------------------------------------------
    def _landing(self) -> dict:
        link = lambda rel, href, **kw: {"rel": rel, "href": href, **kw}  # noqa: E731
        return {
            "type": "Catalog",
            "id": f"{self.catalogue}-replay",
            "title": f"{self.catalogue} (recorded responses, replayed)",
            "description": "Recorded STAC API responses served on loopback",
            "stac_version": "1.0.0",
            "conformsTo": self.conformance,
            "links": [
                link("self", self.url, type="application/json"),
                link("root", self.url, type="application/json"),
                link("conformance", f"{self.url}/conformance"),
                link("data", f"{self.url}/collections", type="application/json"),
                link(
                    "search",
                    f"{self.url}/search",
                    method="POST",
                    type="application/geo+json",
                ),
                link(
                    "search",
                    f"{self.url}/search",
                    method="GET",
                    type="application/geo+json",
                ),
            ],
        }

    def _recorded(self, body: dict) -> dict | None:
        token = body.get("next")
        for request, pages in RECORDINGS[self.catalogue]:
            chain = [self._read(p) for p in pages]
            if token is None:
                same = all(body.get(k) == request.get(k) for k in _MATCHED)
                index = 0 if same else None
            else:
                tokens = [
                    link.get("body", {}).get("next")
                    for page in chain
                    for link in page["links"]
                    if link["rel"] == "next"
                ]
                index = tokens.index(token) + 1 if token in tokens else None
            if index is not None and index < len(chain):
                page = chain[index]
                if index == len(chain) - 1:
                    page["links"] = [x for x in page["links"] if x["rel"] != "next"]
                return page
        return None

    def _search(self, body: dict) -> dict:
        recorded = self._recorded(body)
        if recorded is not None:
            return recorded
        limit = int(body.get("limit") or 10)
        offset = int(str(body.get("token") or "0").removeprefix("next:"))
        found = [i for i in self.items if _matches(i, body)]
        page = found[offset : offset + limit]
        fields = body.get("fields") or {}
        if isinstance(fields, str):  # GET form: "-assets,-links"
            fields = {"exclude": [f[1:] for f in fields.split(",") if f[:1] == "-"]}
        dropped = [f for f in fields.get("exclude", []) if "." not in f]
        page = [{k: v for k, v in i.items() if k not in dropped} for i in page]
        links = [{"rel": "root", "href": self.url}]
        if offset + limit < len(found):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.url}/search",
                    "method": "POST",
                    "body": {**body, "token": f"next:{offset + limit}"},
                    "merge": False,
                }
            )
        return {
            "type": "FeatureCollection",
            "features": page,
            "links": links,
            "numberMatched": len(found),
            "numberReturned": len(page),
        }

    def _token(self) -> dict:
        n = next(self._counter)
        sig = f"tok{n}"
        with self._lock:
            valid = self._expire_next == 0
            self._expire_next = max(0, self._expire_next - 1)
        self.tokens[sig] = valid
        expiry = datetime.now(UTC) + timedelta(hours=1)
        token = f"st=2026-12-03&se=2026-12-04&sp=rl&sv=2021-06-08&sr=c&sig={sig}"
        return {"msft:expiry": expiry.isoformat(), "token": token}

    # -- HTTP ----------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status, payload=b"", ctype="application/json", headers=()):
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                self.logged.status = status  # before the client can see it
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _fault(self, path) -> bool:
                with server._lock:
                    fault = next(
                        (f for f in server.faults if path.startswith(f.path)), None
                    )
                    if fault is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            server.faults.remove(fault)
                if fault is None:
                    return False
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status is None:
                    return False
                headers = (
                    [("Retry-After", fault.retry_after)] if fault.retry_after else []
                )
                self._send(
                    fault.status,
                    {"code": "fault", "description": "injected"},
                    headers=headers,
                )
                return True

            def _file(self, path: Path):
                data = path.read_bytes()
                match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if match:
                    start = int(match.group(1))
                    end = int(match.group(2)) if match.group(2) else len(data) - 1
                    end = min(end, len(data) - 1)
                    chunk = data[start : end + 1]
                    rng = ("Content-Range", f"bytes {start}-{end}/{len(data)}")
                    return self._send(
                        206, chunk, "image/tiff", [rng, ("Accept-Ranges", "bytes")]
                    )
                return self._send(200, data, "image/tiff", [("Accept-Ranges", "bytes")])

            def _route(self, body):
                parts = urlsplit(self.path)
                path, query = parts.path, parse_qs(parts.query)
                self.logged = Logged(
                    self.command, path, {k: v[-1] for k, v in query.items()}, body
                )
                with server._lock:
                    server.requests.append(self.logged)
                if self._fault(path):
                    return
                api = urlsplit(server.url).path
                if path.startswith("/files/"):
                    name = path.removeprefix("/files/")
                    if name in server.files:
                        return self._file(server.files[name])
                    return self._send(404, {"code": "NotFound"})
                if path.startswith("/sas/token/"):
                    return self._send(200, server._token())
                if path.startswith("/blob/"):
                    name = path.split("/", 4)[-1]
                    sig = query.get("sig", [None])[-1]
                    if sig is None or not server.tokens.get(sig, False):
                        return self._send(403, b"AuthenticationFailed", "text/plain")
                    if name in server.files:
                        return self._file(server.files[name])
                    return self._send(404, b"BlobNotFound", "text/plain")
                if path.rstrip("/") == api:
                    return self._send(200, server._landing())
                if path == f"{api}/conformance":
                    return self._send(200, {"conformsTo": server.conformance})
                if path == f"{api}/collections":
                    return self._send(
                        200,
                        {"collections": list(server.collections.values()), "links": []},
                    )
                if path.startswith(f"{api}/collections/"):
                    cid = path.removeprefix(f"{api}/collections/")
                    if cid in server.collections:
                        return self._send(200, server.collections[cid])
                    return self._send(
                        404,
                        {
                            "code": "NotFoundError",
                            "description": f"Collection {cid} not found",
                        },
                    )
                if path == f"{api}/search":
                    if body is None:
                        body = {k: v[-1] for k, v in query.items()}
                        for key in ("collections", "ids"):
                            if key in body:
                                body[key] = body[key].split(",")
                        if "bbox" in body:
                            body["bbox"] = [float(v) for v in body["bbox"].split(",")]
                        for key in ("filter", "intersects", "query"):
                            if key in body and body[key].startswith("{"):
                                body[key] = json.loads(body[key])
                    return self._send(200, server._search(body), "application/geo+json")
                return self._send(404, {"code": "NotFound", "description": path})

            def do_GET(self):
                self._route(None)

            def do_HEAD(self):
                self._route(None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                self._route(json.loads(raw or b"{}"))

        return Handler
