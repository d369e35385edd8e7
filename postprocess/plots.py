"""Shared figure style and helpers for the pic1d postprocessing figures.

Everything here works on :class:`matplotlib.figure.Figure` objects created without
``pyplot`` (no global figure manager, no interactive backend): figures are rendered by
the Agg canvas and written with :func:`save_figure`. The style is applied through a
context manager, so importing this module changes no global state::

    from postprocess import plots

    with plots.style():
        fig, axes = plots.figure(2, 1, height=5.0)
        ...
        paths = plots.save_figure(fig, out_dir, "omega_k", pdf=True)

Conventions of the figures: times in 1/Omega_i0, frequencies in Omega_i0, wavenumbers
in 1/d_i0 (or 1/rho_i0), powers on logarithmic colour scales with a colour bar that names
the quantity and its unit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

__all__ = [
    "STYLE",
    "LCP_COLOR",
    "RCP_COLOR",
    "TOTAL_COLOR",
    "add_colorbar",
    "figure",
    "label_panels",
    "log_norm",
    "map_axes",
    "save_figure",
    "set_style",
    "style",
    "k_label",
    "omega_label",
    "time_label",
]

log = logging.getLogger(__name__)

#: Single-column journal width (inches).
COLUMN_WIDTH = 3.4
#: Double-column journal width (inches).
PAGE_WIDTH = 7.0

#: matplotlib rc parameters of every pic1d figure.
STYLE: dict[str, Any] = {
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 9.0,
    "axes.labelsize": 9.0,
    "axes.titlesize": 9.0,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "xtick.minor.visible": True,
    "ytick.minor.visible": True,
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.0,
    "legend.frameon": False,
    "image.cmap": "magma",
    "savefig.dpi": 200,
    "savefig.bbox": None,  # constrained layout already fits the labels (tight = extra draw)
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "pdf.fonttype": 42,
}

LCP_COLOR = "#1f77b4"  # left-hand, ion-cyclotron waves
RCP_COLOR = "#d62728"  # right-hand, whistler waves
TOTAL_COLOR = "0.1"
#: colours cycled over species in line plots
SPECIES_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@contextmanager
def style(**overrides: Any) -> Iterator[None]:
    """Context in which :data:`STYLE` (plus ``overrides``) is the matplotlib style.

    Parameters
    ----------
    **overrides
        Extra rc parameters, e.g. ``style(**{"font.size": 10})``.
    """
    params = dict(STYLE)
    params.update(overrides)
    with rc_context(params):
        yield


def set_style() -> None:
    """Apply :data:`STYLE` globally (for scripts that use ``pyplot`` directly).

    Prefer the :func:`style` context manager inside library code.
    """
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float = COLUMN_WIDTH,
    height: float | None = None,
    squeeze: bool = True,
    **subplot_kw: Any,
) -> tuple[Figure, Any]:
    """A new Agg-backed figure with a grid of axes (no pyplot state).

    Parameters
    ----------
    nrows, ncols : int
        Axes grid.
    width : float
        Figure width in inches (default: one journal column).
    height : float, optional
        Figure height in inches (default: 0.75 width per row / columns).
    squeeze : bool
        As in :meth:`matplotlib.figure.Figure.subplots`.
    **subplot_kw
        Passed to :meth:`~matplotlib.figure.Figure.subplots` (``sharex`` etc.).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : Axes or numpy.ndarray of Axes
    """
    if height is None:
        height = 0.75 * width * nrows / ncols
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def log_norm(
    values: ArrayLike, dynamic_range: float = 1e6, vmax: float | None = None
) -> LogNorm:
    """Logarithmic colour normalisation spanning ``dynamic_range`` below the maximum.

    Parameters
    ----------
    values : array_like
        The data to be shown (non-positive and non-finite values ignored).
    dynamic_range : float
        vmax / vmin.
    vmax : float, optional
        Upper end (default: the largest finite positive value).
    """
    v = np.asarray(values, dtype=float)
    good = v[np.isfinite(v) & (v > 0)]
    if vmax is None:
        vmax = float(good.max()) if good.size else 1.0
    vmin = vmax / dynamic_range
    return LogNorm(vmin=vmin, vmax=vmax, clip=True)


def add_colorbar(ax: Axes, mappable: Any, label: str, **kwargs: Any) -> Any:
    """Attach a colour bar with a label to ``ax``; returns the colour bar."""
    fig = ax.get_figure()
    cb = fig.colorbar(mappable, ax=ax, pad=0.02, fraction=0.05, **kwargs)
    cb.set_label(label)
    cb.ax.minorticks_off()
    return cb


def map_axes(ax: Axes) -> None:
    """Style an axis holding a colour map: no minor ticks, ticks drawn in white."""
    ax.minorticks_off()
    ax.tick_params(color="w", which="both")


def label_panels(axes: Sequence[Axes], start: str = "a", inside: bool = True) -> None:
    """Write (a), (b), ... in the upper left corner of each axis."""
    for i, ax in enumerate(np.ravel(axes)):
        tag = f"({chr(ord(start) + i)})"
        if inside:
            ax.text(0.02, 0.96, tag, transform=ax.transAxes, va="top", ha="left",
                    fontsize=9, bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                      "ec": "none", "alpha": 0.7})
        else:
            ax.set_title(tag, loc="left")


def time_label(unit: str = "Omega_i0") -> str:
    """Axis label for time in ``unit`` ("Omega_i0", "omega_pe0" or "tau_c")."""
    return {
        "Omega_i0": r"$t\,\Omega_{i0}$",
        "omega_pe0": r"$t\,\omega_{pe0}$",
        "tau_c": r"$t/\tau_c$",
    }[unit]


def omega_label(unit: str = "Omega_i0") -> str:
    """Axis label for a (signed) angular frequency in ``unit``."""
    return {
        "Omega_i0": r"$\omega/\Omega_{i0}$",
        "omega_pe0": r"$\omega/\omega_{pe0}$",
    }[unit]


def k_label(unit: str = "d_i0", signed_by: str | None = None) -> str:
    """Axis label for a wavenumber in 1/``unit`` ("d_i0", "rho_i0" or "d_e0").

    Parameters
    ----------
    unit : str
        Length unit.
    signed_by : str, optional
        Extra factor in the label, e.g. ``r"\\,\\mathrm{sgn}\\,\\omega"``.
    """
    sym = {"d_i0": r"d_{i0}", "rho_i0": r"\rho_{i0}", "d_e0": r"d_{e0}"}[unit]
    extra = signed_by or ""
    return rf"$k{extra}\,{sym}$"


def save_figure(
    fig: Figure,
    out_dir: str | os.PathLike[str],
    name: str,
    *,
    pdf: bool = False,
    png: bool = True,
) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.png`` (and ``.pdf``); returns the paths.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    out_dir : path-like
        Created if missing.
    name : str
        File stem.
    pdf, png : bool
        Which formats to write.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, wanted in (("png", png), ("pdf", pdf)):
        if wanted:
            path = out / f"{name}.{ext}"
            fig.savefig(path)
            log.info("wrote %s", path)
            paths.append(path)
    return paths
