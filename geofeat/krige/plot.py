"""PNG maps of a kriged surface and plots of a variogram (matplotlib, Agg)."""

from __future__ import annotations

import logging

import numpy as np

from geofeat.errors import ConfigError
from geofeat.krige.variogram import EmpiricalVariogram, VariogramModel

logger = logging.getLogger(__name__)

MAX_MAP_CELLS = 2000
"""Largest side of the map in cells; bigger grids are drawn with a stride."""


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:
        raise ConfigError(
            "map: PNG maps need matplotlib, which is not installed; "
            "pip install matplotlib, or remove 'map' from the spec"
        ) from err

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_map(
    path: str,
    dataset,
    samples_xy: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> None:
    """Estimate and variance side by side, samples as dots, written to ``path``."""
    plt = _pyplot()
    step = max(
        1, int(np.ceil(max(dataset.sizes["y"], dataset.sizes["x"]) / MAX_MAP_CELLS))
    )
    small = dataset.isel(y=slice(None, None, step), x=slice(None, None, step))
    x, y = small["x"].values, small["y"].values
    half = abs(float(x[1] - x[0])) / 2 if x.size > 1 else 0.5
    extent = (x.min() - half, x.max() + half, y.min() - half, y.max() + half)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    for ax, name, cmap in zip(
        axes, ("estimate", "variance"), ("viridis", "magma"), strict=True
    ):
        image = ax.imshow(
            np.asarray(small[name].values), extent=extent, origin="upper", cmap=cmap
        )
        if samples_xy is not None:
            ax.scatter(*samples_xy, s=3, c="white", edgecolors="black", linewidths=0.3)
        ax.set_title(f"{title} {name}".strip())
        ax.set_aspect("equal")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    logger.info("wrote the map to %s", path)


def plot_variogram(
    path: str, model: VariogramModel, empirical: EmpiricalVariogram
) -> None:
    """Empirical semivariances (sized by pair count) and the model curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.scatter(
        empirical.lag,
        empirical.gamma,
        s=10 + 40 * empirical.pairs / empirical.pairs.max(),
        label="empirical",
    )
    h = np.linspace(0, empirical.cutoff, 200)[1:]
    ax.plot(
        h,
        model(h),
        color="black",
        label=f"{model.model}: nugget {model.nugget:.3g}, psill {model.psill:.3g}, "
        f"range {model.range:.4g}",
    )
    ax.set_xlabel("lag (CRS units)")
    ax.set_ylabel("semivariance")
    ax.set_xlim(0, empirical.cutoff)
    ax.set_ylim(0, None)
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    logger.info("wrote the variogram plot to %s", path)
