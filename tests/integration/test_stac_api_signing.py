"""Read-time SAS signing over real HTTP on 127.0.0.1: sign, refuse, sign again.

A real Sentinel-2 band (Earth Search 33TWL, 2023-08-13, red, 120 m) is served as
a blob behind a Planetary Computer style token endpoint; the first token issued is
refused (as an expired one is). ``geofeat.read.sample`` must sign the URL itself,
get the 403, fetch a new token, read, and never show a token in logs or errors.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stac_replay import ReplayServer  # noqa: E402

from geofeat.catalog import signing  # noqa: E402
from geofeat.errors import ReadError  # noqa: E402
from geofeat.read import ReadStats, sample  # noqa: E402
from geofeat.scene import Asset  # noqa: E402

pytestmark = pytest.mark.realdata

SCENE = "sentinel2/earthsearch_l2a_120m_33TWL_33TWM_2023-08/sentinel-2-l2a/"
SCENE += "S2B_33TWL_20230813_0_L2A"


@pytest.fixture
def red_tif(shared_data: Path, tmp_path: Path) -> Path:
    """The real red band as a plain GeoTIFF (its CRS is only in a sidecar)."""
    source = shared_data / SCENE / "B04.tif"
    with rasterio.open(source) as src:
        data, profile = src.read(1), src.profile
        crs, transform = src.crs, src.transform
    out = tmp_path / "B04.tif"
    with rasterio.open(
        out,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=profile.get("nodata"),
    ) as dst:
        dst.write(data, 1)
    return out


@pytest.fixture
def server(shared_data):
    from planetary_computer import sas

    with ReplayServer(shared_data / "stac", "planetary-computer") as srv:
        before = signing.SIGNERS["planetary-computer"]
        signing.configure(
            token_url=f"{srv.base}/sas/token",
            path_style_hosts=(urlsplit(srv.base).netloc,),
        )
        sas.TOKEN_CACHE.clear()
        yield srv
        signing.SIGNERS["planetary-computer"] = before
        sas.TOKEN_CACHE.clear()


def test_signed_at_read_time_and_signed_again_on_403(server, red_tif, caplog):
    server.serve_file("B04.tif", red_tif)
    href = server.blob_url("B04.tif")
    server.expire_next_token(1)
    caplog.set_level(logging.DEBUG, "geofeat")

    # Three points in Zagreb's tile; expected DNs read straight from the file.
    lon = np.array([15.20, 15.62, 16.05])
    lat = np.array([45.30, 45.81, 45.52])
    from pyproj import Transformer

    with rasterio.open(red_tif) as ds:
        to_utm = Transformer.from_crs(4326, ds.crs, always_xy=True)
        x, y = to_utm.transform(lon, lat)
        rows, cols = zip(
            *(ds.index(a, b) for a, b in zip(x, y, strict=True)), strict=True
        )
        band = ds.read(1)
    expected = band[list(rows), list(cols)].astype(float)
    assert (expected > 0).all()

    values = sample(Asset(key="red", href=href), lon, lat, ReadStats())
    np.testing.assert_array_equal(values, expected)

    log = [
        (r.path.split("/")[1], r.status, r.query.get("sig")) for r in server.requests
    ]
    assert log[0] == ("sas", 200, None)
    assert log[1] == ("blob", 403, "tok1")  # the refused token
    assert log[2] == ("sas", 200, None)  # fetched again, once
    assert {entry[2] for entry in log[3:] if entry[0] == "blob"} == {"tok2"}
    assert [e[0] for e in log].count("sas") == 2
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "signing again" in text
    assert "tok1" not in text and "tok2" not in text


def test_read_errors_carry_no_token(server):
    server.expire_next_token(2)  # both tries refused: the read fails
    href = server.blob_url("missing.tif")
    with pytest.raises(ReadError) as err:
        sample(
            Asset(key="red", href=href), np.array([15.2]), np.array([45.3]), ReadStats()
        )
    assert "tok" not in str(err.value)
    assert [r.status for r in server.requests if r.path.startswith("/blob")][:1] == [
        403
    ]


def test_redact_removes_sas_values():
    url = "https://a.blob.core.windows.net/c/x.tif?st=2026&se=2027&sp=rl&sig=SECRET%3D"
    text = signing.redact(f"HTTP 403 for {url}")
    assert "SECRET" not in text and "sig=REDACTED" in text and "x.tif" in text


def test_public_urls_are_not_signed():
    assert (
        signing.signer_for(None, "https://sentinel-cogs.s3.amazonaws.com/a.tif") is None
    )
    pc = signing.signer_for(
        None, "https://sentinel2l2a01.blob.core.windows.net/s/a.tif"
    )
    assert pc is signing.SIGNERS["planetary-computer"]


def test_debug_logs_of_libraries_are_redacted(server, red_tif):
    """rasterio names each signed URL it opens at DEBUG; the CLI's filter strips it."""
    server.serve_file("B04.tif", red_tif)
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Collect(logging.DEBUG)
    handler.addFilter(signing.RedactTokens())
    rasterio_log = logging.getLogger("rasterio")
    level = rasterio_log.level
    rasterio_log.setLevel(logging.DEBUG)
    rasterio_log.addHandler(handler)
    try:
        sample(
            Asset(key="red", href=server.blob_url("B04.tif")),
            np.array([15.2]),
            np.array([45.3]),
            ReadStats(),
        )
    finally:
        rasterio_log.removeHandler(handler)
        rasterio_log.setLevel(level)
    opened = [m for m in seen if "B04.tif?" in m]
    assert opened and all("sig=REDACTED" in m for m in opened)
    assert not any("sig=tok" in m for m in seen)


def test_token_endpoint_down_is_a_read_error_not_a_hang(server):
    import time

    signing.configure(token_retries=1)
    server.fail(path="/sas/token", status=503, times=100)
    started = time.monotonic()
    with pytest.raises(ReadError, match="cannot get a SAS token for acct/data"):
        sample(
            Asset(key="red", href=server.blob_url("B04.tif")),
            np.array([15.2]),
            np.array([45.3]),
            ReadStats(),
        )
    assert time.monotonic() - started < 10
    assert [r.status for r in server.requests] == [503, 503]  # one try, one retry
