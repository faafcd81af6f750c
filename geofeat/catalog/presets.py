"""Known public STAC catalogues and the metadata facts of their collections, as data.

A :class:`Preset` says where a catalogue lives and what reading from it needs (a
signer for its asset URLs). A :class:`CollectionFacts` says what a collection's
items declare about their pixels: which flag says an offset is already applied,
whether a scale/offset is declared at all, where the processing baseline and the
CRS are written. The facts are descriptions, checked against recorded items in the
tests; the rules that act on them (which offset to apply) live with the product in
:mod:`geofeat.sources`.

Examples
--------
>>> from geofeat.catalog.presets import PRESETS, collection_facts
>>> PRESETS["planetary-computer"].signer
'planetary-computer'
>>> collection_facts("earth-search", "sentinel-2-l2a").offset_applied_flag
'earthsearch:boa_offset_applied'
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CollectionFacts:
    """What the items of one catalogue collection declare (or fail to declare)."""

    offset_applied_flag: str | None = None
    """Item property that, when true, means the DN offset is already in the pixels,
    whatever ``raster:bands`` still declares."""
    declares_scale_offset: bool = True
    """Whether reflectance assets carry a scale/offset (``raster:bands`` in STAC 1.0,
    ``raster:scale``/``raster:offset`` in STAC 1.1)."""
    baseline_property: str | None = None
    """Item property holding the processing baseline (decides the offset when no
    scale/offset is declared)."""
    crs_properties: tuple[str, ...] = ("proj:code", "proj:epsg")
    """Where the CRS is written, first found wins (``proj:code`` is STAC 1.1)."""
    tile_properties: tuple[str, ...] = ()
    """Item properties naming the tile (used to spot one scene published twice)."""
    asset_keys: str = "common names"
    """How reflectance assets are keyed: by common name (``red``) or band id
    (``B04``)."""
    notes: str = ""


@dataclass(frozen=True)
class Preset:
    """A public STAC API: where it is, how its assets are read, its collections."""

    url: str
    """Root URL of the STAC API."""
    signer: str | None = None
    """Name of the signer that makes asset URLs readable (see
    :mod:`geofeat.catalog.signing`); None when assets are public."""
    collections: dict[str, CollectionFacts] = field(default_factory=dict)


_S2_TILE = ("s2:mgrs_tile", "grid:code")

EARTH_SEARCH_S2_L2A = CollectionFacts(
    offset_applied_flag="earthsearch:boa_offset_applied",
    declares_scale_offset=True,
    baseline_property="s2:processing_baseline",
    crs_properties=("proj:code", "proj:epsg"),
    tile_properties=_S2_TILE,
    notes=(
        "Items say earthsearch:boa_offset_applied: true (the -1000 DN offset is "
        "already in the pixels) while raster:bands still declare offset -0.1."
    ),
)
EARTH_SEARCH_S2_C1_L2A = CollectionFacts(
    offset_applied_flag=None,
    declares_scale_offset=True,
    baseline_property="s2:processing_baseline",
    tile_properties=_S2_TILE,
    notes="Collection 1: DNs keep the +1000 offset; raster:bands offset -0.1 is right.",
)
PLANETARY_COMPUTER_S2_L2A = CollectionFacts(
    offset_applied_flag=None,
    declares_scale_offset=False,
    baseline_property="s2:processing_baseline",
    tile_properties=_S2_TILE,
    asset_keys="band ids",
    notes=(
        "No scale or offset anywhere in the items: from baseline 04.00 on the "
        "-0.1 offset must come from s2:processing_baseline."
    ),
)
PLANETARY_COMPUTER_MODIS_LST = CollectionFacts(
    declares_scale_offset=True,
    crs_properties=("proj:code", "proj:epsg", "proj:wkt2"),
    tile_properties=("modis:horizontal-tile", "modis:vertical-tile"),
    asset_keys="product names",
    notes="Sinusoidal grid: proj:epsg is null, the CRS is proj:wkt2; LST scale 0.02 K.",
)

PRESETS: dict[str, Preset] = {
    "earth-search": Preset(
        url="https://earth-search.aws.element84.com/v1",
        signer=None,
        collections={
            "sentinel-2-l2a": EARTH_SEARCH_S2_L2A,
            "sentinel-2-c1-l2a": EARTH_SEARCH_S2_C1_L2A,
        },
    ),
    "planetary-computer": Preset(
        url="https://planetarycomputer.microsoft.com/api/stac/v1",
        signer="planetary-computer",
        collections={
            "sentinel-2-l2a": PLANETARY_COMPUTER_S2_L2A,
            "modis-11A2-061": PLANETARY_COMPUTER_MODIS_LST,
            "modis-21A2-061": PLANETARY_COMPUTER_MODIS_LST,
            "modis-11A1-061": PLANETARY_COMPUTER_MODIS_LST,
        },
    ),
}

#: Facts assumed for a collection no preset describes.
GENERIC = CollectionFacts(tile_properties=_S2_TILE)


def preset_for_url(url: str) -> str | None:
    """Name of the preset whose root URL is ``url`` (trailing slashes ignored)."""
    for name, preset in PRESETS.items():
        if preset.url.rstrip("/") == url.rstrip("/"):
            return name
    return None


def facts_for_item(item) -> CollectionFacts:
    """The facts of an item's collection, its catalogue found from its root link.

    ``item`` is a ``pystac.Item`` or an item dict. Items whose root link names no
    preset (local catalogues, other APIs) get the generic facts.
    """
    data = item if isinstance(item, dict) else item.to_dict(transform_hrefs=False)
    root = next(
        (x["href"] for x in data.get("links", []) if x.get("rel") == "root"), ""
    )
    return collection_facts(preset_for_url(root), data.get("collection") or "")


def collection_facts(catalog: str | None, collection: str) -> CollectionFacts:
    """The facts of ``collection`` in the preset named ``catalog`` (or generic ones)."""
    preset = PRESETS.get(catalog or "")
    if preset is not None and collection in preset.collections:
        return preset.collections[collection]
    return GENERIC
