"""Known public precipitation sources, as data.

Each preset fills the fields of a rainfall feature's ``source``; fields the spec
gives beside ``preset`` override these (a mirror's ``url``, say).
"""

from __future__ import annotations

PRECIPITATION_PRESETS: dict[str, dict] = {
    # CHIRPS v2.0 daily, 0.05 degree, one Cloud-Optimised GeoTIFF per day, mm/day,
    # land only (-9999 elsewhere), 50S-50N, from 1981-01-01.
    "chirps-daily": {
        "kind": "daily-rasters",
        "url": (
            "https://data.chc.ucsb.edu/products/CHIRPS-2.0/global_daily/cogs/p05/"
            "{date:%Y}/chirps-v2.0.{date:%Y.%m.%d}.cog"
        ),
        "units": "mm",
        "start": "1981-01-01",
        "nodata": -9999.0,
    },
    # ERA5 on Planetary Computer: monthly STAC items (forecast kind "fc") whose
    # Zarr assets hold hourly accumulations in metres, each stamped at the end
    # of its hour; asset URLs must be signed.
    "era5-pc": {
        "kind": "stac-zarr",
        "url": "https://planetarycomputer.microsoft.com/api/stac/v1",
        "collection": "era5-pc",
        "asset": "precipitation_amount_1hour_Accumulation",
        "variable": "precipitation_amount_1hour_Accumulation",
        "query": {"era5:kind": "fc"},
        "units": "m",
        "timestamp": "end",
        "sign": "planetary-computer",
    },
}
