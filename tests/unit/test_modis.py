"""MODIS LST: band radiometry, units, the sinusoidal sphere, composite periods,
the catalogue metadata path (real Planetary Computer and stactools JSON) and HDF4."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from pyproj import CRS, Transformer

from geofeat.errors import AvailabilityError, ConfigError, ReadError
from geofeat.sources import product_for
from geofeat.sources.appeears import composite_period
from geofeat.sources.base import before_availability, validate_feature
from geofeat.sources.modis import (
    BANDS,
    MODIS_LST,
    MODIS_SPHERE_RADIUS,
    available_from,
    check_sinusoidal,
    decode,
    has_hdf4,
)
from geofeat.spec import SceneFeature, Window

NAN = np.nan


def feature(**kw) -> SceneFeature:
    base = dict(
        name="lst",
        catalog="c",
        collection="modis-11A2-061",
        band="LST_Day_1km",
        window=Window(before="16d"),
    )
    # Built without validation: SceneFeature checks itself against its product
    # when a spec is read; these tests call that check (validate_feature) directly.
    fields = SceneFeature.model_fields.items()
    defaults = {k: f.default for k, f in fields if not f.is_required()}
    return SceneFeature.model_construct(**{**defaults, **base, **kw})


def test_lst_scale_valid_range_and_fill() -> None:
    """K = DN x 0.02 on 7500..65535; 0 (fill), 1..7499 and NaN are invalid."""
    dn = np.array([15000, 7500, 65535, 7499, 1, 0, NAN])
    value, valid = decode(BANDS["LST_Day_1km"], dn, quality="none")
    assert valid.tolist() == [True, True, True, False, False, False, False]
    np.testing.assert_allclose(value[:3], [300.0, 150.0, 1310.7], rtol=0, atol=1e-9)
    assert np.isnan(value[3:]).all()


def test_celsius() -> None:
    value, _ = decode(
        BANDS["LST_Night_1km"], np.array([14000.0]), quality="none", units="celsius"
    )
    assert value[0] == pytest.approx(280.0 - 273.15, abs=1e-9)


@pytest.mark.parametrize(
    ("band", "dns", "expected"),
    [
        # hours = DN x 0.1 on 0..240, fill 255
        ("Day_view_time", [105, 0, 240, 241, 255], [10.5, 0.0, 24.0, NAN, NAN]),
        # degrees = DN - 65 on 0..130, fill 255
        ("Day_view_angl", [65, 0, 130, 131, 255], [0.0, -65.0, 65.0, NAN, NAN]),
        # emissivity = DN x 0.002 + 0.49 on 1..255, fill 0
        ("Emis_31", [255, 1, 0], [1.0, 0.492, NAN]),
    ],
)
def test_other_bands_have_their_own_radiometry(band, dns, expected) -> None:
    value, valid = decode(BANDS[band], np.array(dns, float), quality="none")
    np.testing.assert_allclose(value, expected, rtol=0, atol=1e-9)
    assert valid.tolist() == [not math.isnan(e) for e in expected]


def test_quality_masks_by_qc_and_needs_it() -> None:
    """QC 0 is good; QC 65 (produced, other quality, LST error <= 2 K) is not."""
    dn = np.array([15000.0, 15000.0])
    qc = np.array([0.0, 65.0])
    _, good = decode(BANDS["LST_Day_1km"], dn, qc, quality="good")
    _, le2k = decode(BANDS["LST_Day_1km"], dn, qc, quality="error_le_2k")
    assert good.tolist() == [True, False] and le2k.tolist() == [True, True]
    with pytest.raises(ConfigError, match="quality: none"):
        decode(BANDS["LST_Day_1km"], dn, None, quality="good")


def test_feature_checks() -> None:
    """Unknown bands, indices and units a band cannot have are refused early."""
    with pytest.raises(ConfigError, match="no band 'LST_Day'"):
        MODIS_LST.validate(feature(band="LST_Day"))
    with pytest.raises(ConfigError, match="Sentinel-2 only"):
        MODIS_LST.validate(feature(band=None, index="ndvi"))
    with pytest.raises(ConfigError, match="cannot be reported in units 'celsius'"):
        MODIS_LST.validate(feature(band="Emis_31", units="celsius"))
    with pytest.raises(ConfigError, match="not a MODIS QC preset"):
        MODIS_LST.validate(feature(quality="best"))
    assert MODIS_LST.assets(feature()) == ("LST_Day_1km", "QC_Day")
    assert MODIS_LST.assets(feature(band="LST_Night_1km")) == (
        "LST_Night_1km",
        "QC_Night",
    )
    assert MODIS_LST.assets(feature(quality="none")) == ("LST_Day_1km",)


def test_collections_route_to_modis_and_availability() -> None:
    assert product_for("modis-11A2-061") is MODIS_LST
    assert product_for("MYD11A2.061") is MODIS_LST
    assert available_from("modis-11A2-061") == pd.Timestamp("2000-02-18")  # Terra first
    assert available_from("MOD11A2.061") == pd.Timestamp("2000-02-18")
    assert available_from("MYD11A2.061") == pd.Timestamp("2002-07-04")
    assert available_from("something-else") is None


def test_sinusoidal_must_be_the_sphere() -> None:
    """The MODIS sphere passes; WGS84 sinusoidal is refused (19 km off at 48.5 N)."""
    sphere = "+proj=sinu +R=6371007.181 +units=m +no_defs"
    check_sinusoidal(sphere, "test")
    check_sinusoidal("EPSG:4326", "test")  # not sinusoidal: nothing to check
    for bad in ("ESRI:54008", "+proj=sinu +R=6378137 +units=m"):
        with pytest.raises(ReadError, match="sphere of radius 6371007.181"):
            check_sinusoidal(bad, "item 'x'")
    # Why it matters: the same lon/lat lands this far apart on the two grids.
    lon, lat = 10.0, 48.5
    ours = Transformer.from_crs(4326, CRS(sphere), always_xy=True).transform(lon, lat)
    wgs = Transformer.from_crs(4326, "ESRI:54008", always_xy=True).transform(lon, lat)
    # By hand on the sphere: x = R lon cos(lat), y = R lat (radians).
    phi, lam = math.radians(lat), math.radians(lon)
    assert ours == pytest.approx(
        (MODIS_SPHERE_RADIUS * lam * math.cos(phi), MODIS_SPHERE_RADIUS * phi), abs=1e-3
    )
    assert math.dist(ours, wgs) > 18_000


def test_composite_periods_restart_each_year() -> None:
    """8 days, except the year's last composite, which stops at 31 December."""
    utc = pd.Timestamp
    start, end = composite_period("MOD11A2", 2024, 17)
    assert (utc(start), utc(end)) == (
        utc("2024-01-17", tz="UTC"),
        utc("2024-01-25", tz="UTC"),
    )
    _, end = composite_period("MOD11A2", 2023, 361)  # 2023: 361..365, five days
    assert utc(end) == utc("2024-01-01", tz="UTC")
    start, end = composite_period("MOD11A2", 2024, 361)  # leap year: 361..366, six
    assert utc(end) - utc(start) == pd.Timedelta(days=6)
    start, end = composite_period("MOD11A1", 2019, 305)
    assert utc(end) - utc(start) == pd.Timedelta(days=1)


def test_planetary_computer_collection(shared_data: Path) -> None:
    """The real PC collection: its start is our availability date; its metadata is
    incomplete (no view-angle or emissivity offset), which is why the product's
    radiometry table wins."""
    path = shared_data / "stac/planetary-computer/collection_modis-11A2-061.json"
    collection = pystac.Collection.from_file(str(path))
    assert product_for(collection.id) is MODIS_LST
    first = collection.extent.temporal.intervals[0][0]
    assert pd.Timestamp(first).tz_convert(None) == available_from(collection.id)
    assets = collection.extra_fields["item_assets"]
    assert (
        assets["LST_Day_1km"]["raster:bands"][0]["scale"] == BANDS["LST_Day_1km"].scale
    )
    assert "offset" not in assets["Day_view_angl"]["raster:bands"][0]
    assert BANDS["Day_view_angl"].offset == -65.0
    assert "offset" not in assets["Emis_31"]["raster:bands"][0]
    assert assets["Emis_31"]["raster:bands"][0]["scale"] == BANDS["Emis_31"].scale
    assert assets["QC_Day"]["raster:bands"][0]["data_type"] == "uint8"


def test_stactools_items_as_scenes(shared_data: Path) -> None:
    """The stactools-modis example items (as PC serves) become scenes, by hand."""
    folder = shared_data / "stac/stactools-modis"
    terra = MODIS_LST.scene(
        pystac.Item.from_file(str(folder / "MOD11A2.A2022033.h19v10.061.json"))
    )
    # end_datetime 2022-02-09T23:59:59Z: the composite is [2022-02-02, 2022-02-10).
    assert (terra.start, terra.end) == (
        pd.Timestamp("2022-02-02"),
        pd.Timestamp("2022-02-10"),
    )
    assert terra.tile == "h19v10" and terra.pass_key == "MOD11A2_2022033"
    assert CRS.from_wkt(terra.crs).ellipsoid.semi_major_metre == MODIS_SPHERE_RADIUS
    lst = terra.assets["LST_Day_1km"]
    assert (lst.scale, lst.offset, lst.nodata, lst.mask_nodata) == (0.02, 0.0, 0, True)
    qc = terra.assets["QC_Day"]
    assert qc.mask_nodata is False and qc.nodata is None
    angle = terra.assets["Day_view_angl"]
    assert (angle.scale, angle.offset, angle.nodata) == (1.0, -65.0, 255)
    emis = terra.assets["Emis_32"]
    assert (emis.scale, emis.offset, emis.nodata) == (0.002, 0.49, 0)
    assert "hdf" not in terra.assets and "metadata" not in terra.assets
    assert terra.properties["platform"] == "terra"

    aqua = MODIS_LST.scene(
        pystac.Item.from_file(str(folder / "MYD11A2.A2022025.h17v00.061.json"))
    )
    assert (aqua.start, aqua.end) == (
        pd.Timestamp("2022-01-25"),
        pd.Timestamp("2022-02-02"),
    )
    assert aqua.tile == "h17v00" and aqua.pass_key == "MYD11A2_2022025"
    assert aqua.properties["modis:product"] == "MYD11A2"


def test_wgs84_sinusoidal_item_is_refused(shared_data: Path) -> None:
    path = shared_data / "stac/stactools-modis/MOD11A2.A2022033.h19v10.061.json"
    item = pystac.Item.from_file(str(path))
    item.properties["proj:wkt2"] = CRS("ESRI:54008").to_wkt()
    with pytest.raises(ReadError, match="item 'MOD11A2.A2022033.h19v10.061'.*WGS 84"):
        MODIS_LST.scene(item)


def test_hdf4_only_item_is_refused_with_the_fix(shared_data: Path) -> None:
    """The pip GDAL cannot open the real HDF4 file; an item offering only it says so."""
    if has_hdf4():
        pytest.skip("this GDAL has an HDF4 driver")
    hdf = next((shared_data / "modis/hdf4_mod11a1_006_h14v09_2019-11-01").glob("*.hdf"))
    with pytest.raises(rasterio.errors.RasterioIOError):
        rasterio.open(hdf)
    item = pystac.Item(
        id="MOD11A1.A2019305.h14v09.006",
        geometry=None,
        bbox=None,
        datetime=pd.Timestamp("2019-11-01", tz="UTC").to_pydatetime(),
        properties={},
    )
    item.add_asset("hdf", pystac.Asset(href=str(hdf), media_type="application/x-hdf"))
    with pytest.raises(ReadError, match="no HDF4 driver.*COG.*gdal_translate"):
        MODIS_LST.scene(item)


def test_platform_selects_terra_or_aqua(shared_data: Path) -> None:
    """In a collection mixing Terra and Aqua, ``platform`` keeps one of them."""
    folder = shared_data / "stac/stactools-modis"
    scenes = [
        MODIS_LST.scene(pystac.Item.from_file(str(folder / name)))
        for name in (
            "MOD11A2.A2022033.h19v10.061.json",
            "MYD11A2.A2022025.h17v00.061.json",
        )
    ]
    ids = lambda chosen: [s.id for s in chosen]  # noqa: E731
    assert ids(MODIS_LST.select_scenes(feature(), scenes)) == ids(scenes)
    assert ids(MODIS_LST.select_scenes(feature(platform="aqua"), scenes)) == [
        "MYD11A2.A2022025.h17v00.061"
    ]
    assert ids(MODIS_LST.select_scenes(feature(platform="Terra"), scenes)) == [
        "MOD11A2.A2022033.h19v10.061"
    ]


def test_platform_availability_and_checks() -> None:
    """Aqua starts 2002-07-04 even inside the mixed collection; bad platforms fail."""
    assert available_from("modis-11A2-061", "aqua") == pd.Timestamp("2002-07-04")
    assert available_from("modis-11A2-061", "terra") == pd.Timestamp("2000-02-18")
    aqua = feature(platform="aqua")
    ends = pd.DatetimeIndex(["2001-06-01", "2003-01-01"])
    early, reason = before_availability(MODIS_LST, aqua, ends)
    assert early.tolist() == [True, False]
    assert (
        reason == "window ends before modis-11A2-061 (aqua) has data (from 2002-07-04)"
    )
    with pytest.raises(AvailabilityError, match=r"\(aqua\) has data \(from 2002-07-04"):
        before_availability(MODIS_LST, aqua, ends[:1])
    with pytest.raises(ConfigError, match="not a MODIS platform"):
        validate_feature(MODIS_LST, feature(platform="sentinel-2a"))
    with pytest.raises(ConfigError, match=r"holds \['MOD11A2'\] only"):
        validate_feature(MODIS_LST, feature(collection="MOD11A2.061", platform="aqua"))
    s2 = feature(collection="sentinel-2-l2a", band="red", platform="terra")
    with pytest.raises(ConfigError, match="'platform' is not supported"):
        validate_feature(product_for(s2.collection), s2)
