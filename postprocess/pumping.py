"""Magnetic-pumping energy gain of test-particle CRe (PHYSICS.md 4.4, 4.5).

Compress-revert gain
--------------------
At time t every tracer is *reverted* adiabatically, with no scattering, to the initial
field: the magnetic moment and the parallel action are kept, so (B along x, B_x =
B0/(a_y a_z), a_i(0) = 1)

    p_par,rev  = p_par a_x(t),        p_perp,rev = p_perp sqrt(a_y(t) a_z(t)),

i.e. p_perp,rev = p_perp sqrt(B0/B(t)) for a_x = 1 (the reference compression). For
a_y = a_z this is also the per-axis inverse of the accumulated compression, u_i a_i(t);
for a_y != a_z the gyro-averaged (magnetic-moment) form above is used. With
E = sqrt(m^2 + p^2) (m_e c^2; m = 1 for electron tracers, p in m_e c) the gain of the
tracers of an initial-momentum bin is

    Delta E/E (p0, t) = <E_rev - E0> / <E0>          (weighted means over the bin)

averaged over the isotropic initial pitch cosine mu0 (or split into mu0 bins). With
``energy="kinetic"`` the denominator is <E0 - m> instead (the numerator is the same).

Non-adiabatic gain (4.5)
------------------------
Between two consecutive snapshots (t1, t2) the adiabatic energy change is the one the
compression alone gives to the state at t1: p_par -> p_par a_x(t1)/a_x(t2),
p_perp -> p_perp sqrt(a_y a_z(t1) / a_y a_z(t2)); the remainder E(t2) - E_ad is
non-adiabatic. Both are summed per tracer over the snapshots and averaged over p0 bins
(normalised by <E0>). The split is only meaningful for snapshot intervals short compared
to the compression time and long compared to the gyro-period (reference study, Sec. 6).

Green's function
----------------
The transition matrix M[j, i] = fraction of the (weighted) tracers of p0 bin i whose
reverted momentum falls in p bin j. The kernel G(p | p0) = M / Delta p; one cycle maps
bin numbers N1 = M N0 (f1(p) = int G(p | p0) f0(p0) dp0), and N cycles with instant
re-isotropisation between cycles apply M N times (square grid). Tracers reverting out of
the p grid are counted as lost (``lost`` per p0 bin).

Re-weighting
------------
A tracer sample drawn with density g(p0) (flat in p: 1/(p_max - p_min); flat in ln p:
1/(p ln(p_max/p_min))) represents a spectrum f0(p0) = dN/dp0 with weights
w = f0(p0) / g(p0): :func:`postprocess.reweight.weights` (used here; pass the weights to
:class:`PumpingAnalysis`, or ``f0=`` to :func:`analyse_run`).

Sources
-------
:func:`analyse_run` reads either the raw tracer dumps (``tracers/data*.h5``, via
:mod:`postprocess.tracers`: every product, including the Fig.-4 distributions) or the
in-situ accumulators (``insitu.h5``: the gain maps, the mu0 split, the Green's kernel and
the energy budget, for all tracers, without per-tracer data).

Units: momenta in m_e c, energies in m_e c^2 (tracer mass ``mass`` in m_e), times in the
unit of the caller (:func:`analyse_run` uses 1/Omega_i0).

Public API: :func:`parallel_perp`, :func:`energy`, :func:`revert_momentum`,
:func:`adiabatic_momentum`, :func:`adiabatic_step`, :func:`field_ratio`,
:func:`isotropisation_gain`, :func:`isotropisation_gain_ur`,
:func:`isotropisation_gain_nr`, :func:`continuous_isotropisation_gain`,
:func:`log_edges`, :func:`extend_edges`, :func:`mean_energy`, :func:`cutoff_power_law`,
:class:`GreenKernel`, :class:`Distribution`, :class:`Detail`, :class:`PumpingResult`,
:class:`PumpingAnalysis`, :func:`analyse_tracers`, :func:`analyse_run`,
:func:`plot_gain_map`, :func:`plot_distribution`, :func:`plot_heatmap`,
:func:`plot_kernels`, :func:`plot_spectra`, :func:`write_figures`, :func:`make_figures`
and ``python -m postprocess.pumping RUN``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter
from numpy.typing import ArrayLike, NDArray

from postprocess import plots

log = logging.getLogger(__name__)

__all__ = [
    "Detail",
    "Distribution",
    "GreenKernel",
    "PumpingAnalysis",
    "PumpingResult",
    "adiabatic_momentum",
    "adiabatic_step",
    "analyse_run",
    "analyse_tracers",
    "continuous_isotropisation_gain",
    "cutoff_power_law",
    "energy",
    "extend_edges",
    "field_ratio",
    "isotropisation_gain",
    "isotropisation_gain_nr",
    "isotropisation_gain_ur",
    "log_edges",
    "main",
    "make_figures",
    "mean_energy",
    "parallel_perp",
    "plot_distribution",
    "plot_gain_map",
    "plot_heatmap",
    "plot_kernels",
    "plot_spectra",
    "revert_momentum",
    "write_figures",
]

F64 = NDArray[np.float64]
SpectrumLike = Callable[[F64], ArrayLike] | ArrayLike


# --------------------------------------------------------------------------------------
# Momenta and energies
# --------------------------------------------------------------------------------------
def parallel_perp(ux: ArrayLike, uy: ArrayLike, uz: ArrayLike) -> tuple[F64, F64]:
    """Momentum components along and across the mean field B0 = B0 x_hat.

    Parameters
    ----------
    ux, uy, uz : array_like
        u = gamma v / c (momentum per unit mass; m_e c for electrons), local fluid frame.

    Returns
    -------
    p_par, p_perp : numpy.ndarray
        u_x and sqrt(u_y^2 + u_z^2) (float64).
    """
    ux = np.asarray(ux, dtype=np.float64)
    return ux, np.hypot(np.asarray(uy, dtype=np.float64), np.asarray(uz, dtype=np.float64))


def energy(p: ArrayLike, mass: float = 1.0) -> F64:
    """Total energy sqrt(m^2 + p^2) (m_e c^2) of momentum p (m_e c), mass in m_e."""
    p = np.asarray(p, dtype=np.float64)
    return np.sqrt(mass * mass + p * p)


def _kinetic_from_p2(p2: F64, mass: float) -> F64:
    """Kinetic energy p^2 / (E + m) without cancellation (m_e c^2)."""
    return p2 / (np.sqrt(mass * mass + p2) + mass)


def _a3(a: ArrayLike) -> tuple[float, float, float]:
    arr = np.asarray(a, dtype=np.float64).ravel()
    if arr.size != 3:
        raise ValueError(f"scale factors must be (a_x, a_y, a_z), got {arr!r}")
    return float(arr[0]), float(arr[1]), float(arr[2])


def field_ratio(a: ArrayLike) -> float:
    """B_x(t)/B0 = 1/(a_y a_z) for scale factors a = (a_x, a_y, a_z) (a_i(0) = 1)."""
    _, ay, az = _a3(a)
    return 1.0 / (ay * az)


def revert_momentum(p_par: ArrayLike, p_perp: ArrayLike, a: ArrayLike) -> tuple[F64, F64]:
    """Adiabatic, scattering-free revert to the initial field (PHYSICS.md 4.4).

    Parameters
    ----------
    p_par, p_perp : array_like
        Momentum components at time t (m_e c).
    a : (3,) array_like
        Scale factors (a_x, a_y, a_z) at time t (a_i(0) = 1).

    Returns
    -------
    p_par_rev, p_perp_rev : numpy.ndarray
        p_par a_x and p_perp sqrt(a_y a_z) (m_e c).
    """
    ax, ay, az = _a3(a)
    return (np.asarray(p_par, dtype=np.float64) * ax,
            np.asarray(p_perp, dtype=np.float64) * math.sqrt(ay * az))


def adiabatic_momentum(p0: ArrayLike, mu0: ArrayLike, a: ArrayLike) -> tuple[F64, F64]:
    """Momentum after a scattering-free (CGL) compression to scale factors ``a``.

    Parameters
    ----------
    p0, mu0 : array_like
        Initial momentum (m_e c) and pitch cosine.
    a : (3,) array_like
        (a_x, a_y, a_z) at time t.

    Returns
    -------
    p_par, p_perp : numpy.ndarray
        p0 mu0 / a_x and p0 sqrt(1 - mu0^2) / sqrt(a_y a_z) (m_e c).
    """
    ax, ay, az = _a3(a)
    p0 = np.asarray(p0, dtype=np.float64)
    mu0 = np.asarray(mu0, dtype=np.float64)
    return p0 * mu0 / ax, p0 * np.sqrt(np.maximum(0.0, 1.0 - mu0 * mu0)) / math.sqrt(ay * az)


def adiabatic_step(
    p_par: ArrayLike, p_perp: ArrayLike, a_from: ArrayLike, a_to: ArrayLike
) -> tuple[F64, F64]:
    """Scattering-free change of the momentum from scale factors ``a_from`` to ``a_to``.

    Returns
    -------
    p_par, p_perp : numpy.ndarray
        p_par a_x(from)/a_x(to), p_perp sqrt(a_y a_z(from) / a_y a_z(to)) (m_e c).
    """
    fx, fy, fz = _a3(a_from)
    tx, ty, tz = _a3(a_to)
    return (np.asarray(p_par, dtype=np.float64) * (fx / tx),
            np.asarray(p_perp, dtype=np.float64) * math.sqrt((fy * fz) / (ty * tz)))


# --------------------------------------------------------------------------------------
# Analytic gains (docs/postprocess.md, "Pumping and Fokker-Planck")
# --------------------------------------------------------------------------------------
def _check_energy(kind: str) -> None:
    if kind not in ("total", "kinetic"):
        raise ValueError(f"energy must be 'total' or 'kinetic', got {kind!r}")


def isotropisation_gain_ur(b: float) -> float:
    """Ultra-relativistic gain of one compression, full isotropisation and revert.

    a_x = 1, B/B0 = b: p_perp -> p_perp sqrt(b), isotropisation at fixed |p|, revert
    p_perp -> p_perp/sqrt(b). With E = p and an isotropic mu0,
    <E_rev>/<E0> = I(b) J(b) where I = int_0^1 sqrt(mu^2 + b (1 - mu^2)) dmu
    = 1/2 + b asin(sqrt((b-1)/b)) / (2 sqrt(b-1)) and
    J = int_0^1 sqrt(mu^2 + (1 - mu^2)/b) dmu = 1/2 + asinh(sqrt(b-1)) / (2 sqrt(b (b-1))).

    Returns
    -------
    float
        I J - 1 (4.3 %, 11.1 %, 17.9 %, 31.0 % at b = 2, 3, 4, 6).
    """
    if b == 1.0:
        return 0.0
    if b > 1.0:
        s = math.sqrt(b - 1.0)
        i = 0.5 + b * math.asin(math.sqrt((b - 1.0) / b)) / (2.0 * s)
        j = 0.5 + math.asinh(s) / (2.0 * math.sqrt(b) * s)
    else:  # expansion first: same integrals continued to b < 1
        s = math.sqrt(1.0 - b)
        i = 0.5 + b * math.asinh(s / math.sqrt(b)) / (2.0 * s)
        j = 0.5 + math.asin(s) / (2.0 * math.sqrt(b) * s)
    return i * j - 1.0


def isotropisation_gain_nr(b: float) -> float:
    """Non-relativistic kinetic-energy gain of one compression, isotropisation, revert.

    With K = p^2/2: <p^2> after compression = p0^2 (1 + 2 b)/3, after revert
    <mu^2 + (1 - mu^2)/b> = (1 + 2/b)/3, so <K_rev>/<K0> - 1 = 2 (b - 1)^2 / (9 b)
    (11.1 %, 29.6 %, 50.0 %, 92.6 % at b = 2, 3, 4, 6). The total-energy gain
    <E_rev - E0>/<E0> of the same particles is p0^2 (b - 1)^2 / (9 b) + O(p0^4).
    """
    return 2.0 * (b - 1.0) ** 2 / (9.0 * b)


def _gauss_mu(n: int) -> tuple[F64, F64]:
    """Gauss-Legendre nodes and weights on mu in [0, 1] (weights sum to 1)."""
    from scipy.special import roots_legendre

    x, w = roots_legendre(n)
    return 0.5 * (x + 1.0), 0.5 * w


def isotropisation_gain(
    b: float, p0: float = math.inf, mass: float = 1.0, energy: str = "total", n: int = 200
) -> float:
    """Gain of one compression to B/B0 = b (a_x = 1), full isotropisation, revert.

    Exact for any p0 by Gauss-Legendre quadrature over the isotropic mu0 and the
    isotropised mu' (both uniform; the integrands are even in mu).

    Parameters
    ----------
    b : float
        Field amplification B/B0.
    p0 : float
        Initial momentum (m_e c); ``inf`` gives :func:`isotropisation_gain_ur`.
    mass : float
        Particle mass (m_e).
    energy : {"total", "kinetic"}
        Denominator <E0> or <E0 - m>.
    n : int
        Quadrature points per dimension.

    Returns
    -------
    float
        <E_rev - E0>/<E0> (or /<K0>).
    """
    _check_energy(energy)
    if math.isinf(p0):
        return isotropisation_gain_ur(b)
    x, w = _gauss_mu(n)
    p2_mid = p0 * p0 * (x * x + b * (1.0 - x * x))  # |p|^2 after compression, per mu0
    rev = x * x + (1.0 - x * x) / b  # |p_rev|^2 / |p|^2, per mu'
    p2_rev = p2_mid[:, None] * rev[None, :]
    dk = _kinetic_from_p2(p2_rev, mass) - _kinetic_from_p2(np.array(p0 * p0), mass)
    num = float(w @ dk @ w)
    den = math.sqrt(mass * mass + p0 * p0) if energy == "total" else float(
        _kinetic_from_p2(np.array(p0 * p0), mass))
    return num / den


def continuous_isotropisation_gain(
    b: float, p0: float = math.inf, mass: float = 1.0, energy: str = "total", n: int = 400
) -> float:
    """Gain of a compression with continuous isotropisation, then a scattering-free revert.

    With the distribution kept isotropic during the compression, every momentum obeys
    d ln p/dt = -<sum_i (d ln a_i/dt) n_i^2> = -(1/3) d ln D/dt, so p = p0 D^(-1/3)
    = p0 b^(1/3) for a_x = 1 (B/B0 = b = 1/D), for any p. The revert then gives
    |p_rev|^2 = p^2 (mu^2 + (1 - mu^2)/b) with mu uniform. Ultra-relativistic:
    b^(1/3) J(b) - 1 (5.9 % at b = 3, 16.5 % at b = 6); non-relativistic kinetic:
    b^(2/3) (1 + 2/b)/3 - 1.

    Parameters
    ----------
    b : float
        Field amplification B/B0 at the end of the compression.
    p0 : float
        Initial momentum (m_e c); ``inf`` gives the ultra-relativistic limit.
    mass : float
        Particle mass (m_e).
    energy : {"total", "kinetic"}
        Denominator <E0> or <E0 - m>.
    n : int
        Quadrature points.

    Returns
    -------
    float
        <E_rev - E0>/<E0> (or /<K0>).
    """
    _check_energy(energy)
    x, w = _gauss_mu(n)
    rev = np.sqrt(x * x + (1.0 - x * x) / b)
    if math.isinf(p0):
        return b ** (1.0 / 3.0) * float(w @ rev) - 1.0
    p2 = (p0 * b ** (1.0 / 3.0) * rev) ** 2
    k0 = float(_kinetic_from_p2(np.array(p0 * p0), mass))
    num = float(w @ _kinetic_from_p2(p2, mass)) - k0
    den = math.sqrt(mass * mass + p0 * p0) if energy == "total" else k0
    return num / den


# --------------------------------------------------------------------------------------
# Samples, re-weighting, spectra
# --------------------------------------------------------------------------------------
def log_edges(lo: float, hi: float, n: int) -> F64:
    """``n`` logarithmically spaced bins over [lo, hi] (n + 1 edges, m_e c)."""
    if not (0.0 < lo < hi) or n < 1:
        raise ValueError(f"need 0 < lo < hi and n >= 1, got lo={lo}, hi={hi}, n={n}")
    return np.geomspace(lo, hi, n + 1)


def extend_edges(edges: ArrayLike, lo: float, hi: float) -> F64:
    """Log-spaced ``edges`` extended by bins of the same log width to cover [lo, hi].

    The original edges are kept exactly (a contiguous sub-sequence of the result), so a
    Green's kernel on the extended grid can be cycled (:meth:`GreenKernel.cycles`).
    """
    e = np.asarray(edges, dtype=np.float64)
    dlog = math.log(e[-1] / e[0]) / (e.size - 1)
    n_lo = max(0, math.ceil(math.log(e[0] / lo) / dlog - 1e-9)) if lo > 0 else 0
    n_hi = max(0, math.ceil(math.log(hi / e[-1]) / dlog - 1e-9)) if hi > 0 else 0
    left = e[0] * np.exp(-dlog * np.arange(n_lo, 0, -1))
    right = e[-1] * np.exp(dlog * np.arange(1, n_hi + 1))
    return np.concatenate([left, e, right])


def cutoff_power_law(index: float = 3.0, p_cut: float = 0.3, p_max: float = math.inf
                     ) -> Callable[[F64], F64]:
    """Isotropic spectrum f0(p) = dN/dp = (p/p_cut)^(-index) for p_cut <= p <= p_max, else 0.

    The default (index 3, sharp cut-off at p = 0.3 m_e c) is only a default: pass the
    spectrum of interest.

    Returns
    -------
    callable
        f0(p) on arrays of p (m_e c); unnormalised.
    """
    def f0(p: F64) -> F64:
        p = np.asarray(p, dtype=np.float64)
        inside = (p >= p_cut) & (p <= p_max)
        return np.where(inside, (np.where(p > 0, p, 1.0) / p_cut) ** (-index), 0.0)

    return f0


# --------------------------------------------------------------------------------------
# Green's function
# --------------------------------------------------------------------------------------
def _bin_index(x: F64, edges: F64) -> NDArray[np.intp]:
    """Bin of each x in ``edges`` (left-closed; the last bin also closed); -1 outside."""
    idx = np.searchsorted(edges, x, side="right") - 1
    idx[x == edges[-1]] = edges.size - 2
    idx[(idx < 0) | (idx >= edges.size - 1) | ~np.isfinite(x)] = -1
    return idx


def _bin_integrals(f: Callable[[F64], ArrayLike], edges: F64, sub: int = 32) -> F64:
    """int f dp over each bin (midpoint rule with ``sub`` points per bin in ln p)."""
    lo, hi = edges[:-1], edges[1:]
    if np.all(lo > 0):
        s = (np.arange(sub) + 0.5) / sub
        lnp = np.log(lo)[:, None] + s[None, :] * np.log(hi / lo)[:, None]
        p = np.exp(lnp)
        vals = np.asarray(f(p.ravel()), dtype=np.float64).reshape(p.shape)
        return (vals * p).mean(axis=1) * np.log(hi / lo)
    s = (np.arange(sub) + 0.5) / sub
    p = lo[:, None] + s[None, :] * (hi - lo)[:, None]
    vals = np.asarray(f(p.ravel()), dtype=np.float64).reshape(p.shape)
    return vals.mean(axis=1) * (hi - lo)


@dataclass
class GreenKernel:
    """Compress-revert transition kernel G(p | p0) on a grid of p0 and p bins.

    Attributes
    ----------
    p0_edges : (n0 + 1,) initial-momentum bin edges (m_e c).
    p_edges : (n + 1,) reverted-momentum bin edges (m_e c).
    matrix : (n, n0) M[j, i] = weighted fraction of the tracers of p0 bin i that revert
        into p bin j (columns sum to 1 - lost; empty p0 bins have zero columns).
    weight : (n0,) total tracer weight (count if unweighted) per p0 bin.
    lost : (n0,) fraction reverting outside the p grid.
    time : float
        Time of the compression (caller's unit), NaN if unknown.
    """

    p0_edges: F64
    p_edges: F64
    matrix: F64
    weight: F64
    lost: F64
    time: float = math.nan

    @classmethod
    def from_tracers(
        cls,
        p0: ArrayLike,
        p_rev: ArrayLike,
        p0_edges: ArrayLike,
        p_edges: ArrayLike | None = None,
        weights: ArrayLike | None = None,
        time: float = math.nan,
    ) -> GreenKernel:
        """Kernel from the (weighted) histogram of (p0, p_rev) of individual tracers.

        Parameters
        ----------
        p0, p_rev : array_like
            Initial and reverted momenta (m_e c).
        p0_edges : array_like
            Initial-momentum bins.
        p_edges : array_like, optional
            Reverted-momentum bins (default: ``p0_edges``, a square kernel).
        weights : array_like, optional
            Tracer weights (e.g. :func:`postprocess.reweight.weights`), default 1.
        time : float
            Time label.
        """
        e0 = np.asarray(p0_edges, dtype=np.float64)
        e1 = e0 if p_edges is None else np.asarray(p_edges, dtype=np.float64)
        p0 = np.asarray(p0, dtype=np.float64).ravel()
        pr = np.asarray(p_rev, dtype=np.float64).ravel()
        w = np.ones_like(p0) if weights is None else np.asarray(weights, np.float64).ravel()
        i = _bin_index(p0, e0)
        j = _bin_index(pr, e1)
        ok = i >= 0
        n0, n1 = e0.size - 1, e1.size - 1
        hist = np.zeros((n1 + 1, n0))
        jj = np.where(j[ok] >= 0, j[ok], n1)  # row n1 collects the escapes
        np.add.at(hist, (jj, i[ok]), w[ok])
        return cls.from_histogram(e0, e1, hist[:n1], escaped=hist[n1], time=time)

    @classmethod
    def from_histogram(
        cls,
        p0_edges: ArrayLike,
        p_edges: ArrayLike,
        hist: ArrayLike,
        escaped: ArrayLike | None = None,
        time: float = math.nan,
    ) -> GreenKernel:
        """Kernel from a transition histogram ``hist[j, i]`` (p bin j, p0 bin i).

        Parameters
        ----------
        p0_edges, p_edges : array_like
            Bin edges (m_e c).
        hist : (n, n0) array_like
            Tracer counts or weights (e.g. an in-situ accumulator).
        escaped : (n0,) array_like, optional
            Weight per p0 bin that reverted outside the p grid (default 0).
        time : float
            Time label.
        """
        h = np.asarray(hist, dtype=np.float64)
        esc = np.zeros(h.shape[1]) if escaped is None else np.asarray(escaped, np.float64)
        tot = h.sum(axis=0) + esc
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(tot > 0, h / tot, 0.0)
            lost = np.where(tot > 0, esc / tot, 0.0)
        return cls(np.asarray(p0_edges, np.float64), np.asarray(p_edges, np.float64),
                   m, tot, lost, time)

    @property
    def p0_centres(self) -> F64:
        """Geometric centres of the p0 bins (m_e c)."""
        return _centres(self.p0_edges)

    @property
    def p_centres(self) -> F64:
        """Geometric centres of the p bins (m_e c)."""
        return _centres(self.p_edges)

    @property
    def density(self) -> F64:
        """G(p | p0) = M / Delta p, shape (n, n0), per m_e c (each column integrates to
        1 - lost)."""
        return self.matrix / np.diff(self.p_edges)[:, None]

    def kernel_at(self, p0: float) -> F64:
        """G(p | p0) (per m_e c) of the p0 bin containing ``p0``, on :attr:`p_centres`."""
        i = int(_bin_index(np.array([float(p0)]), self.p0_edges)[0])
        if i < 0:
            raise ValueError(f"p0 = {p0} lies outside the kernel's p0 range")
        return self.density[:, i]

    def bin_numbers(self, f0: SpectrumLike) -> F64:
        """Particles per p0 bin of a spectrum.

        Parameters
        ----------
        f0 : callable or array_like
            dN/dp0 as a function of p0 (integrated over each bin), or its values at
            :attr:`p0_centres` (multiplied by the bin widths).
        """
        if callable(f0):
            return _bin_integrals(f0, self.p0_edges)
        arr = np.asarray(f0, dtype=np.float64)
        if arr.shape != (self.p0_edges.size - 1,):
            raise ValueError(f"f0 array must have shape ({self.p0_edges.size - 1},)")
        return arr * np.diff(self.p0_edges)

    def apply_counts(self, n0: ArrayLike) -> F64:
        """Particles per p bin after one cycle, N1 = M N0."""
        return self.matrix @ np.asarray(n0, dtype=np.float64)

    def apply(self, f0: SpectrumLike) -> F64:
        """dN/dp (per m_e c) on :attr:`p_centres` after one compress-revert cycle of an
        isotropic spectrum f0 (f1(p) = int G(p | p0) f0(p0) dp0)."""
        return self.apply_counts(self.bin_numbers(f0)) / np.diff(self.p_edges)

    @property
    def offset(self) -> int:
        """Index of the first p0 edge within :attr:`p_edges` (the p0 grid must be a
        contiguous sub-grid of the p grid; ValueError otherwise)."""
        e0, e1 = self.p0_edges, self.p_edges
        j = int(np.argmin(np.abs(np.log(e1 / e0[0]))))
        if j + e0.size > e1.size or not np.allclose(e1[j:j + e0.size], e0, rtol=1e-9,
                                                      atol=0.0):
            raise ValueError("the p0 grid is not a sub-grid of the p grid: cannot cycle")
        return j

    def cycles(self, f0: SpectrumLike, n: int) -> tuple[list[F64], F64]:
        """dN/dp after 0, 1, ..., n cycles, re-isotropised between cycles.

        After each cycle the part of the spectrum inside the p0 grid is the next input;
        the part outside (no kernel there) is lost.

        Returns
        -------
        spectra : list of numpy.ndarray
            n + 1 spectra dN/dp (per m_e c) on :attr:`p_centres`; element 0 is the
            binned f0.
        lost : numpy.ndarray
            (n,) particles (in units of f0's normalisation) lost before each further
            cycle (the last entry is 0).
        """
        j = self.offset
        n0 = self.p0_edges.size - 1
        dp = np.diff(self.p_edges)
        counts = np.zeros(dp.size)
        counts[j:j + n0] = self.bin_numbers(f0)
        out = [counts / dp]
        lost = np.zeros(n)
        for c in range(n):
            inner = counts[j:j + n0]
            if c > 0:
                lost[c - 1] = counts.sum() - inner.sum()
            counts = self.matrix @ inner
            out.append(counts / dp)
        return out, lost


def _centres(edges: F64) -> F64:
    if np.all(edges > 0):
        return np.sqrt(edges[:-1] * edges[1:])
    return 0.5 * (edges[:-1] + edges[1:])


def mean_energy(p_centres: ArrayLike, dndp: ArrayLike, p_edges: ArrayLike,
                mass: float = 1.0) -> float:
    """Mean total energy (m_e c^2) of a binned spectrum dN/dp."""
    n = np.asarray(dndp, np.float64) * np.diff(np.asarray(p_edges, np.float64))
    return float(np.sum(n * energy(p_centres, mass)) / np.sum(n))


# --------------------------------------------------------------------------------------
# Streaming analysis
# --------------------------------------------------------------------------------------
@dataclass
class Distribution:
    """Fig.-4-style momentum distributions of one p0 bin at one time.

    Attributes
    ----------
    p0_range : (lo, hi) initial-momentum range (m_e c).
    p_edges : (n + 1,) momentum bins (m_e c, logarithmic).
    final, final_cgl, revert : (n,) dN/dp / N (per m_e c): the simulated momenta at t,
        the scattering-free (CGL) momenta at t, and the reverted momenta.
    mean_gain : float
        <E_rev - E0>/<E0> of the bin.
    count : int
        Tracers in the bin.
    mu_edges : (m + 1,) pitch-cosine bins of the heat maps.
    final_vs_mu0, revert_vs_mu0, revert_vs_mu : (n, m) weighted counts (fractions of the
        bin) of (p at t, mu0), (p_rev, mu0), (p_rev, mu at t).
    a : (3,) scale factors at t.
    """

    p0_range: tuple[float, float]
    p_edges: F64
    final: F64
    final_cgl: F64
    revert: F64
    mean_gain: float
    count: int
    mu_edges: F64
    final_vs_mu0: F64
    revert_vs_mu0: F64
    revert_vs_mu: F64
    a: tuple[float, float, float]

    @property
    def p_centres(self) -> F64:
        """Geometric bin centres (m_e c)."""
        return _centres(self.p_edges)


@dataclass
class Detail:
    """Per-tracer products at one chosen time: Green's kernel and Fig.-4 distributions."""

    time: float
    a: tuple[float, float, float]
    kernel: GreenKernel
    distributions: list[Distribution]


@dataclass
class PumpingResult:
    """Compress-revert gain maps and details (output of :class:`PumpingAnalysis`).

    Attributes
    ----------
    time : (n_t,) snapshot times (caller's unit, see ``time_unit``).
    a : (n_t, 3) scale factors; ``b`` (n_t,) = B/B0.
    p0_edges : (n_p0 + 1,) initial-momentum bins (m_e c); ``mu0_edges`` (n_mu + 1,).
    gain : (n_t, n_p0) <E_rev - E0>/<E0> per p0 bin (NaN for empty bins).
    gain_mu0 : (n_t, n_p0, n_mu) the same split by mu0.
    gain_all : (n_t,) over all tracers.
    weight, weight_mu0 : tracer weight per bin.
    adiabatic, nonadiabatic : (n_t, n_p0) or None: time-integrated adiabatic and
        non-adiabatic energy gains / <E0> (4.5); ``energy_gain`` (n_t, n_p0) is
        <E(t) - E0>/<E0> (their sum).
    details : list of :class:`Detail`.
    energy : "total" or "kinetic" (denominator of the gains).
    time_unit : str
    """

    time: F64
    a: F64
    b: F64
    p0_edges: F64
    mu0_edges: F64
    gain: F64
    gain_mu0: F64
    gain_all: F64
    weight: F64
    weight_mu0: F64
    energy_gain: F64
    adiabatic: F64 | None
    nonadiabatic: F64 | None
    details: list[Detail]
    energy: str = "total"
    time_unit: str = "Omega_i0"

    @property
    def p0_centres(self) -> F64:
        """Geometric centres of the p0 bins (m_e c)."""
        return _centres(self.p0_edges)


class PumpingAnalysis:
    """Accumulate compress-revert gains of a fixed tracer set, one snapshot at a time.

    Memory is O(number of tracers); snapshots are never stored, so this runs over huge
    tracer dumps or over the Fokker-Planck model (:mod:`postprocess.fokker_planck`)
    alike.

    Parameters
    ----------
    p0, mu0 : array_like
        Initial momentum (m_e c) and pitch cosine (relative to B0 = B0 x_hat).
    weights : array_like, optional
        Tracer weights (:func:`postprocess.reweight.weights`), default 1.
    p0_edges : array_like, optional
        Initial-momentum bins of the gain maps (default ``n_p0`` log bins over the
        sample).
    n_p0 : int
        Number of default p0 bins.
    mu0_edges : array_like, optional
        mu0 bins (default ``n_mu0`` uniform bins on [-1, 1]).
    n_mu0 : int
    kernel_edges : array_like, optional
        p0 (and p) bins of the Green's kernel (default ``n_kernel`` log bins over the
        sample, at least ~50 tracers per bin).
    n_kernel : int
    select : sequence of (lo, hi), optional
        p0 ranges (m_e c) for the Fig.-4 distributions (default: three narrow ranges at
        1/10, 1/2 and 9/10 of the sample's ln p0 range).
    mass : float
        Tracer mass (m_e).
    energy : {"total", "kinetic"}
        Denominator of the gains.
    nonadiabatic : bool
        Track the adiabatic / non-adiabatic split (4.5) between consecutive snapshots.
    n_p_dist, n_mu_dist : int
        Bins of the distributions and heat maps.
    time_unit : str
        Label of the snapshot times.
    """

    def __init__(
        self,
        p0: ArrayLike,
        mu0: ArrayLike,
        *,
        weights: ArrayLike | None = None,
        p0_edges: ArrayLike | None = None,
        n_p0: int = 60,
        mu0_edges: ArrayLike | None = None,
        n_mu0: int = 8,
        kernel_edges: ArrayLike | None = None,
        n_kernel: int = 300,
        select: Sequence[tuple[float, float]] | None = None,
        mass: float = 1.0,
        energy: str = "total",
        nonadiabatic: bool = False,
        n_p_dist: int = 80,
        n_mu_dist: int = 40,
        time_unit: str = "Omega_i0",
    ) -> None:
        _check_energy(energy)
        self.p0 = np.asarray(p0, dtype=np.float64).ravel()
        self.mu0 = np.asarray(mu0, dtype=np.float64).ravel()
        if self.p0.shape != self.mu0.shape:
            raise ValueError("p0 and mu0 must have the same length")
        n = self.p0.size
        if n == 0:
            raise ValueError("no tracers")
        self.w = (np.ones(n) if weights is None
                  else np.asarray(weights, dtype=np.float64).ravel())
        if self.w.shape != self.p0.shape:
            raise ValueError("weights must have the same length as p0")
        self.mass = float(mass)
        self.energy = energy
        self.time_unit = time_unit
        lo, hi = float(self.p0.min()), float(self.p0.max())
        if lo <= 0:
            raise ValueError("initial momenta must be > 0")
        mono = hi < lo * 1.001
        if mono:  # (nearly) monoenergetic: bins of +-1 %
            lo, hi = lo / 1.01, hi * 1.01
        hi_edge = float(np.nextafter(hi, np.inf))
        self.p0_edges = (log_edges(lo, hi_edge, n_p0) if p0_edges is None
                         else np.asarray(p0_edges, dtype=np.float64))
        self.mu0_edges = (np.linspace(-1.0, 1.0, n_mu0 + 1) if mu0_edges is None
                          else np.asarray(mu0_edges, dtype=np.float64))
        if kernel_edges is None:
            nk = int(min(n_kernel, max(5, n // 50)))
            self.kernel_edges = log_edges(lo, hi_edge, nk)
        else:
            self.kernel_edges = np.asarray(kernel_edges, dtype=np.float64)
        if select is None and mono:
            select = [(lo, hi)]
        elif select is None:
            l0, l1 = math.log(lo), math.log(hi)
            half = 0.02 * (l1 - l0)
            select = [(math.exp(l0 + f * (l1 - l0) - half), math.exp(l0 + f * (l1 - l0) + half))
                      for f in (0.1, 0.5, 0.9)]
        self.select = [(float(a), float(b)) for a, b in select]
        self.n_p_dist = int(n_p_dist)
        self.n_mu_dist = int(n_mu_dist)

        self._ip = _bin_index(self.p0, self.p0_edges)
        imu = _bin_index(self.mu0, self.mu0_edges)
        self._n_p0 = self.p0_edges.size - 1
        self._n_mu = self.mu0_edges.size - 1
        self._ipm = np.where((self._ip >= 0) & (imu >= 0), self._ip * self._n_mu + imu, -1)
        p2 = self.p0 * self.p0
        self.e0 = np.sqrt(self.mass**2 + p2)
        self.k0 = _kinetic_from_p2(p2, self.mass)
        den = self.e0 if energy == "total" else self.k0
        self.weight = self._sum(self._ip, self.w, self._n_p0)
        self.weight_mu0 = self._sum(self._ipm, self.w, self._n_p0 * self._n_mu).reshape(
            self._n_p0, self._n_mu)
        self._den = self._sum(self._ip, self.w * den, self._n_p0)
        self._den_mu = self._sum(self._ipm, self.w * den, self._n_p0 * self._n_mu).reshape(
            self._n_p0, self._n_mu)
        self._den_all = float(np.sum(self.w * den))

        self._times: list[float] = []
        self._a: list[tuple[float, float, float]] = []
        self._gain: list[F64] = []
        self._gain_mu: list[F64] = []
        self._gain_all: list[float] = []
        self._egain: list[F64] = []
        self.track_nonadiabatic = bool(nonadiabatic)
        self._ad: list[F64] = []
        self._nonad: list[F64] = []
        self._prev: tuple[F64, F64, tuple[float, float, float]] | None = None
        self._cum_ad = np.zeros(n) if nonadiabatic else None
        self._cum_nonad = np.zeros(n) if nonadiabatic else None
        self.details: list[Detail] = []

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _sum(idx: NDArray[np.intp], values: F64, n: int) -> F64:
        ok = idx >= 0
        return np.bincount(idx[ok], weights=values[ok], minlength=n)[:n]

    def _ratio(self, num: F64, den: F64) -> F64:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def _mean_over_p0(self, per_tracer: F64) -> F64:
        return self._ratio(self._sum(self._ip, self.w * per_tracer, self._n_p0), self._den)

    # ------------------------------------------------------------------ snapshots
    def add(
        self,
        t: float,
        p_par: ArrayLike,
        p_perp: ArrayLike,
        a: ArrayLike,
        *,
        detail: bool = False,
    ) -> None:
        """Add the state of all tracers at one time.

        Parameters
        ----------
        t : float
            Time (caller's unit).
        p_par, p_perp : array_like
            Momentum components along and across B0 (m_e c), same tracer order as p0.
        a : (3,) array_like
            Scale factors (a_x, a_y, a_z) at t.
        detail : bool
            Also compute the Green's kernel and the Fig.-4 distributions at this time.
        """
        a3 = _a3(a)
        pa = np.asarray(p_par, dtype=np.float64).ravel()
        pe = np.asarray(p_perp, dtype=np.float64).ravel()
        if pa.shape != self.p0.shape or pe.shape != self.p0.shape:
            raise ValueError("snapshot arrays must have one entry per tracer")
        ra, re = revert_momentum(pa, pe, a3)
        p2_rev = ra * ra + re * re
        de = self._delta_energy(p2_rev)
        self._times.append(float(t))
        self._a.append(a3)
        self._gain.append(self._mean_over_p0(de))
        num_mu = self._sum(self._ipm, self.w * de, self._n_p0 * self._n_mu)
        self._gain_mu.append(self._ratio(num_mu.reshape(self._n_p0, self._n_mu),
                                         self._den_mu))
        self._gain_all.append(float(np.sum(self.w * de)) / self._den_all)
        p2 = pa * pa + pe * pe
        self._egain.append(self._mean_over_p0(self._delta_energy(p2)))
        if self.track_nonadiabatic:
            self._nonadiabatic_step(pa, pe, a3)
        if detail:
            self.details.append(self._detail(float(t), a3, pa, pe, np.sqrt(p2_rev)))

    def _delta_energy(self, p2: F64, sel: NDArray[np.bool_] | None = None) -> F64:
        """E(p) - E0 per tracer (all, or the ``sel`` subset), free of cancellation."""
        p0 = self.p0 if sel is None else self.p0[sel]
        e0 = self.e0 if sel is None else self.e0[sel]
        return (p2 - p0 * p0) / (np.sqrt(self.mass**2 + p2) + e0)

    def _nonadiabatic_step(self, pa: F64, pe: F64, a3: tuple[float, float, float]) -> None:
        assert self._cum_ad is not None and self._cum_nonad is not None
        if self._prev is not None:
            qa, qe, a_prev = self._prev
            sa, se = adiabatic_step(qa, qe, a_prev, a3)
            e_prev = energy(np.hypot(qa, qe), self.mass)
            e_ad = energy(np.hypot(sa, se), self.mass)
            e_now = energy(np.hypot(pa, pe), self.mass)
            self._cum_ad += e_ad - e_prev
            self._cum_nonad += e_now - e_ad
        else:
            # first snapshot: anything since t = 0 is attributed by comparing with the
            # scattering-free state from (p0, mu0)
            sa, se = adiabatic_momentum(self.p0, self.mu0, a3)
            e_ad = energy(np.hypot(sa, se), self.mass)
            self._cum_ad += e_ad - self.e0
            self._cum_nonad += energy(np.hypot(pa, pe), self.mass) - e_ad
        self._prev = (pa.copy(), pe.copy(), a3)
        self._ad.append(self._mean_over_p0(self._cum_ad))
        self._nonad.append(self._mean_over_p0(self._cum_nonad))

    def _detail(self, t: float, a3: tuple[float, float, float], pa: F64, pe: F64,
                p_rev: F64) -> Detail:
        finite = p_rev[np.isfinite(p_rev) & (p_rev > 0)]
        p_edges = extend_edges(self.kernel_edges, float(finite.min()) if finite.size else 0.0,
                               float(finite.max()) * 1.0001 if finite.size else 0.0)
        kernel = GreenKernel.from_tracers(self.p0, p_rev, self.kernel_edges, p_edges,
                                          weights=self.w, time=t)
        p_fin = np.hypot(pa, pe)
        with np.errstate(divide="ignore", invalid="ignore"):
            mu_fin = np.where(p_fin > 0, pa / p_fin, 0.0)
        ca, ce = adiabatic_momentum(self.p0, self.mu0, a3)
        p_cgl = np.hypot(ca, ce)
        dists = []
        for lo, hi in self.select:
            sel = (self.p0 >= lo) & (self.p0 <= hi)
            if not np.any(sel):
                log.warning("no tracers with %g <= p0 <= %g", lo, hi)
                continue
            dists.append(self._distribution((lo, hi), sel, a3, p_fin[sel], p_cgl[sel],
                                            p_rev[sel], mu_fin[sel]))
        return Detail(time=t, a=a3, kernel=kernel, distributions=dists)

    def _distribution(self, rng: tuple[float, float], sel: NDArray[np.bool_],
                      a3: tuple[float, float, float], p_fin: F64, p_cgl: F64, p_rev: F64,
                      mu_fin: F64) -> Distribution:
        w = self.w[sel]
        allp = np.concatenate([p_fin, p_cgl, p_rev, self.p0[sel]])
        allp = allp[np.isfinite(allp) & (allp > 0)]
        edges = log_edges(float(allp.min()) / 1.05, float(allp.max()) * 1.05, self.n_p_dist)
        wsum = float(w.sum())

        def pdf(x: F64) -> F64:
            h, _ = np.histogram(x, bins=edges, weights=w)
            return h / (wsum * np.diff(edges))

        mu_edges = np.linspace(-1.0, 1.0, self.n_mu_dist + 1)

        def h2(p: F64, mu: F64) -> F64:
            h, _, _ = np.histogram2d(p, mu, bins=(edges, mu_edges), weights=w)
            return h / wsum

        mu0 = self.mu0[sel]
        de = self._delta_energy(p_rev * p_rev, sel)
        den = (self.e0 if self.energy == "total" else self.k0)[sel]
        return Distribution(
            p0_range=rng, p_edges=edges, final=pdf(p_fin), final_cgl=pdf(p_cgl),
            revert=pdf(p_rev), mean_gain=float(np.sum(w * de) / np.sum(w * den)),
            count=int(sel.sum()), mu_edges=mu_edges, final_vs_mu0=h2(p_fin, mu0),
            revert_vs_mu0=h2(p_rev, mu0), revert_vs_mu=h2(p_rev, mu_fin), a=a3)

    def result(self) -> PumpingResult:
        """The accumulated maps (snapshots in the order added)."""
        a = np.array(self._a, dtype=np.float64).reshape(-1, 3)
        n_t = len(self._times)
        empty = np.zeros((0, self._n_p0))
        return PumpingResult(
            time=np.array(self._times, dtype=np.float64),
            a=a,
            b=1.0 / (a[:, 1] * a[:, 2]) if n_t else np.zeros(0),
            p0_edges=self.p0_edges,
            mu0_edges=self.mu0_edges,
            gain=np.array(self._gain) if n_t else empty,
            gain_mu0=(np.array(self._gain_mu) if n_t
                      else np.zeros((0, self._n_p0, self._n_mu))),
            gain_all=np.array(self._gain_all, dtype=np.float64),
            weight=self.weight,
            weight_mu0=self.weight_mu0,
            energy_gain=np.array(self._egain) if n_t else empty,
            adiabatic=np.array(self._ad) if self.track_nonadiabatic and n_t else None,
            nonadiabatic=np.array(self._nonad) if self.track_nonadiabatic and n_t else None,
            details=list(self.details),
            energy=self.energy,
            time_unit=self.time_unit,
        )


def analyse_tracers(
    p0: ArrayLike,
    mu0: ArrayLike,
    times: ArrayLike,
    a: ArrayLike,
    *,
    p_par: ArrayLike | None = None,
    p_perp: ArrayLike | None = None,
    u: ArrayLike | None = None,
    detail_times: Sequence[float] | None = None,
    **options: Any,
) -> PumpingResult:
    """Compress-revert analysis of in-memory tracer data.

    Parameters
    ----------
    p0, mu0 : (n,) array_like
        Initial momentum (m_e c) and pitch cosine.
    times : (n_t,) array_like
        Snapshot times (any unit; label it with ``time_unit=``).
    a : (n_t, 3) array_like
        Scale factors a_x, a_y, a_z at the snapshots.
    p_par, p_perp : (n_t, n) array_like, optional
        Momentum components along / across B0 (m_e c) ...
    u : (n_t, n, 3) array_like, optional
        ... or the momenta u = (u_x, u_y, u_z) (m_e c per m_e).
    detail_times : sequence of float, optional
        Times (nearest snapshot) for the Green's kernel and distributions (default: the
        last snapshot).
    **options
        Passed to :class:`PumpingAnalysis` (weights, bins, ``nonadiabatic``...).

    Returns
    -------
    PumpingResult
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    aa = np.asarray(a, dtype=np.float64).reshape(t.size, 3)
    if u is not None:
        uu = np.asarray(u, dtype=np.float64)
        pa_all, pe_all = parallel_perp(uu[..., 0], uu[..., 1], uu[..., 2])
    elif p_par is not None and p_perp is not None:
        pa_all = np.asarray(p_par, dtype=np.float64)
        pe_all = np.asarray(p_perp, dtype=np.float64)
    else:
        raise ValueError("give either u or both p_par and p_perp")
    pa_all = pa_all.reshape(t.size, -1)
    pe_all = pe_all.reshape(t.size, -1)
    ana = PumpingAnalysis(p0, mu0, **options)
    wanted = _nearest_indices(t, detail_times)
    for k in range(t.size):
        ana.add(t[k], pa_all[k], pe_all[k], aa[k], detail=k in wanted)
    return ana.result()


def _nearest_indices(t: F64, wanted: Sequence[float] | None) -> set[int]:
    if t.size == 0:
        return set()
    if wanted is None or len(wanted) == 0:
        return {int(t.size - 1)}
    return {int(np.argmin(np.abs(t - w))) for w in wanted}


# --------------------------------------------------------------------------------------
# Run directories
# --------------------------------------------------------------------------------------
def _omega_ci0(run: Any, attrs: dict[str, Any] | None = None) -> float | None:
    """Omega_i0/omega_pe0 from run.json, history.h5, ``attrs`` or insitu.h5; None if
    unknown (times are then reported in 1/omega_pe0)."""
    try:
        return float(run.param("omega_ci0"))
    except KeyError:
        pass
    if attrs and "omega_ci0" in attrs:
        return float(attrs["omega_ci0"])
    path = Path(run.path) / "insitu.h5"
    if path.exists():
        import h5py

        with h5py.File(path, "r", locking=False) as f:
            if "omega_ci0" in f.attrs:
                return float(f.attrs["omega_ci0"])
    log.warning("Omega_i0 unknown (no run.json): times in 1/omega_pe0")
    return None


def analyse_run(
    run_path: str | os.PathLike[str],
    species: str | None = None,
    *,
    source: str = "auto",
    detail_times: Sequence[float] | None = None,
    f0: Callable[[F64], ArrayLike] | None = None,
    max_snapshots: int | None = None,
    **options: Any,
) -> PumpingResult:
    """Compress-revert analysis of a run directory, from raw dumps or in-situ sums.

    Raw dumps (``tracers/data*.h5``, read with :func:`postprocess.tracers.read_dump`):
    the dump at step 0 gives u0 (p0 = m |u0|, mu0 = u0_x/|u0|; if the first dump is later,
    everything is relative to it, with a warning); tracers are matched by id. The revert
    factors are a_k(t_n - dt/2)/a_k(-dt/2), the time levels of the stored momenta
    (attributes ``a_u_*``, ``a_u0_*``; older files: ``a_*`` relative to the first dump).
    In-situ sums (``insitu.h5``, :func:`postprocess.tracers.read_insitu`): the gain maps,
    the mu0 split, the Green's kernels and the energy budget of all tracers (no Fig.-4
    distributions: they need per-tracer data). Times are returned in 1/Omega_i0 (in
    1/omega_pe0 if the run has no run.json; see ``time_unit``).

    Parameters
    ----------
    run_path : path-like
        Run directory.
    species : str, optional
        Tracer species (default: the only one).
    source : {"auto", "dumps", "insitu"}
        "auto": the raw dumps if any, else insitu.h5.
    detail_times : sequence of float, optional
        Times in 1/Omega_i0 of the kernels and distributions (default: the last output).
    f0 : callable, optional
        Re-weight the sample to the spectrum dN/dp0 (:func:`postprocess.reweight.weights`
        for dumps, :func:`postprocess.reweight.bin_weights` for the in-situ total gain),
        using the species' sampling and range.
    max_snapshots : int, optional
        Use at most this many dumps (evenly strided, first and last included).
    **options
        Passed to :class:`PumpingAnalysis` (dumps; ``nonadiabatic`` defaults to True).

    Returns
    -------
    PumpingResult
    """
    from postprocess.io import open_run
    from postprocess.tracers import dump_steps

    run = open_run(run_path)
    if source not in ("auto", "dumps", "insitu"):
        raise ValueError(f"source must be 'auto', 'dumps' or 'insitu', got {source!r}")
    steps = dump_steps(run.path)
    if source == "auto":
        source = "dumps" if steps else "insitu"
    if source == "insitu":
        return _from_insitu(run, species, detail_times, f0)
    if not steps:
        raise FileNotFoundError(f"{run.path} has no tracer dumps (tracers/data*.h5)")
    return _from_dumps(run, steps, species, detail_times, f0, max_snapshots, options)


def _from_dumps(run: Any, steps: list[int], species: str | None,
                detail_times: Sequence[float] | None, f0: Callable[[F64], ArrayLike] | None,
                max_snapshots: int | None, options: dict[str, Any]) -> PumpingResult:
    from postprocess import reweight as rw
    from postprocess.tracers import read_dump

    if max_snapshots is not None and len(steps) > max_snapshots:
        pick = np.unique(np.linspace(0, len(steps) - 1, max_snapshots).round().astype(int))
        steps = [steps[i] for i in pick]
    first = read_dump(run.path, steps[0], species)
    omega_ci0 = _omega_ci0(run, _dump_root_attrs(run, steps[0]))
    mass = first.mass
    order = np.argsort(first.ids, kind="stable")
    ids = first.ids[order]
    u0 = first.u[order]
    pa0, pe0 = parallel_perp(mass * u0[:, 0], mass * u0[:, 1], mass * u0[:, 2])
    p0 = np.hypot(pa0, pe0)
    mu0 = np.where(p0 > 0, pa0 / np.where(p0 > 0, p0, 1.0), 0.0)
    use_u = bool(np.all(np.isfinite(first.a_u)) and np.all(np.isfinite(first.a_u0)))
    if steps[0] != 0:
        log.warning("first tracer dump is step %d: p0, mu0 and the revert are relative "
                    "to that dump", steps[0])
    ref = first.a_u if (use_u and steps[0] != 0) else (first.a_u0 if use_u else None)
    if ref is None:
        ref = np.array(_dump_a(run, steps[0]))
    if f0 is not None:
        at = first.attrs
        try:
            p_min, p_max = float(at["pic1d_p_min"]), float(at["pic1d_p_max"])
            sampling = str(at["pic1d_sampling"])
        except KeyError:
            raise ValueError("re-weighting needs the species attributes pic1d_p_min, "
                             "pic1d_p_max and pic1d_sampling of the dumps") from None
        options["weights"] = rw.weights(p0, f0, p_min, p_max, sampling, normalize="mean")
    options.setdefault("nonadiabatic", True)
    options.setdefault("time_unit", "Omega_i0" if omega_ci0 else "omega_pe0")
    options.setdefault("mass", mass)
    ana = PumpingAnalysis(p0, mu0, **options)
    times = np.array([_dump_time(run, st) * (omega_ci0 or 1.0) for st in steps])
    wanted = _nearest_indices(times, detail_times)
    for k, st in enumerate(steps):
        d = first if k == 0 else read_dump(run.path, st, species)
        if d.ids.size != ids.size:
            raise ValueError(f"dump {st} holds {d.ids.size} tracers, the first {ids.size}")
        if np.array_equal(d.ids, ids):
            u = d.u
        else:
            pos = np.clip(np.searchsorted(ids, d.ids), 0, ids.size - 1)
            if not np.array_equal(ids[pos], d.ids):
                raise ValueError(f"tracer ids of dump {st} do not match the first dump")
            u = np.empty_like(d.u)
            u[pos] = d.u
        a_now = d.a_u if use_u else np.array(_dump_a(run, st))
        pa, pe = parallel_perp(mass * u[:, 0], mass * u[:, 1], mass * u[:, 2])
        ana.add(times[k], pa, pe, a_now / ref, detail=k in wanted)
        log.info("tracer dump %d (t Omega_i0 = %.4g) done", st, times[k])
    return ana.result()


def _dump_root_attrs(run: Any, step: int) -> dict[str, Any]:
    import h5py

    path = Path(run.path) / "tracers" / f"data{step:06d}.h5"
    with h5py.File(path, "r", locking=False) as f:
        return {k: f.attrs[k] for k in f.attrs}


def _dump_time(run: Any, step: int) -> float:
    import h5py

    path = Path(run.path) / "tracers" / f"data{step:06d}.h5"
    with h5py.File(path, "r", locking=False) as f:
        return float(f[f"data/{step}"].attrs["time"])


def _dump_a(run: Any, step: int) -> tuple[float, float, float]:
    """Scale factors of a dump from its ``a_*`` attributes (t_n), else the history."""
    import h5py

    path = Path(run.path) / "tracers" / f"data{step:06d}.h5"
    with h5py.File(path, "r", locking=False) as f:
        attrs = f[f"data/{step}"].attrs
        t = float(attrs["time"])
        if all(k in attrs for k in ("a_x", "a_y", "a_z")):
            return float(attrs["a_x"]), float(attrs["a_y"]), float(attrs["a_z"])
    hist = run.history
    th = np.asarray(hist["time"], dtype=np.float64)
    ax, ay, az = (float(np.interp(t, th, np.asarray(hist[k], np.float64)))
                  for k in ("a_x", "a_y", "a_z"))
    return ax, ay, az


def _from_insitu(run: Any, species: str | None, detail_times: Sequence[float] | None,
                 f0: Callable[[F64], ArrayLike] | None) -> PumpingResult:
    from postprocess import reweight as rw
    from postprocess.tracers import read_insitu

    s = read_insitu(run.path, species)
    omega_ci0 = _omega_ci0(run, s.attrs)
    t = np.asarray(s.time, dtype=np.float64) * (omega_ci0 or 1.0)
    a_u0 = np.array([float(s.attrs.get(f"a_u0_{c}", 1.0)) for c in "xyz"])
    a = np.asarray(s.a_u, dtype=np.float64) / a_u0[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        gain_all = s.gain_total()
    if f0 is not None:
        tr = _insitu_sampling(run, s)
        w = rw.bin_weights(s.p0_edges, f0, *tr, normalize="none")
        gain_all = rw.weighted_gain(s.gain_dE, s.gain_E0, s.gain_count, w)
    budget = s.energy_budget()
    details = []
    for k in sorted(_nearest_indices(t, detail_times)):
        hist = np.asarray(s.green[k], dtype=np.float64).T  # (n_rev, n_p0)
        count = np.asarray(s.gain_count[k], dtype=np.float64)
        ker = GreenKernel.from_histogram(s.p0_edges, s.prev_edges, hist,
                                         escaped=np.maximum(count - hist.sum(axis=0), 0.0),
                                         time=float(t[k]))
        details.append(Detail(time=float(t[k]), a=_a3(a[k]), kernel=ker, distributions=[]))
    return PumpingResult(
        time=t, a=a, b=1.0 / (a[:, 1] * a[:, 2]), p0_edges=np.asarray(s.p0_edges),
        mu0_edges=np.asarray(s.mu0_edges), gain=s.gain(), gain_mu0=s.gain_mu0(),
        gain_all=np.asarray(gain_all, dtype=np.float64),
        weight=np.asarray(s.gain_count[-1], dtype=np.float64),
        weight_mu0=np.asarray(s.gain_mu0_count[-1], dtype=np.float64),
        energy_gain=budget["total"], adiabatic=budget["adiabatic"],
        nonadiabatic=budget["nonadiabatic"], details=details, energy="total",
        time_unit="Omega_i0" if omega_ci0 else "omega_pe0")


def _insitu_sampling(run: Any, s: Any) -> tuple[float, float, str]:
    """(p_min, p_max, sampling) of an in-situ species from the run's deck.toml."""
    path = Path(run.path) / "deck.toml"
    if path.exists():
        from pic1d.deck import parse_deck

        cfg = parse_deck(path.read_text(encoding="utf-8"), source=str(path))
        sp = cfg.species_by_name(s.species)
        if sp.p_min is not None and sp.p_max is not None:
            return float(sp.p_min), float(sp.p_max), str(sp.sampling)
    raise ValueError("re-weighting in-situ sums needs the tracer sampling from the run's "
                     "deck.toml")


# --------------------------------------------------------------------------------------
# Plotting
# --------------------------------------------------------------------------------------
GAIN_LABEL = r"$\Delta E/E$ (%)"


def plot_gain_map(
    ax: Axes,
    p0_edges: ArrayLike,
    time: ArrayLike,
    gain: ArrayLike,
    *,
    vmax: float | None = None,
    cmap: str = "RdBu_r",
    label: str = GAIN_LABEL,
    time_unit: str = "Omega_i0",
    colorbar: bool = True,
) -> Any:
    """Colour map of a gain (fraction) over (p0, t), drawn in per cent.

    Parameters
    ----------
    ax : Axes
    p0_edges : (n_p0 + 1,) array_like
        m_e c (log axis).
    time : (n_t,) array_like
        Snapshot times (cell edges are put half-way between them).
    gain : (n_t, n_p0) array_like
        Fractional gain (NaN: no tracers).
    vmax : float, optional
        Colour range +-vmax in per cent (default: the largest |gain|).
    """
    t = np.asarray(time, dtype=np.float64)
    g = 100.0 * np.asarray(gain, dtype=np.float64)
    if t.size > 1:
        mid = 0.5 * (t[1:] + t[:-1])
        t_edges = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    else:
        t_edges = np.array([t[0] - 0.5, t[0] + 0.5]) if t.size else np.array([0.0, 1.0])
    if vmax is None:
        finite = np.abs(g[np.isfinite(g)])
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    mesh = ax.pcolormesh(np.asarray(p0_edges), t_edges, np.ma.masked_invalid(g),
                         cmap=cmap, vmin=-vmax, vmax=vmax, shading="flat")
    ax.set_xscale("log")
    ax.set_xlabel(r"$p_0/m_ec$")
    ax.set_ylabel(plots.time_label(time_unit) if time_unit in ("Omega_i0", "omega_pe0",
                                                                  "tau_c") else f"t ({time_unit})")
    plots.map_axes(ax)
    if colorbar:
        plots.add_colorbar(ax, mesh, label)
    return mesh


def plot_distribution(ax: Axes, dist: Distribution, *, mass: float = 1.0,
                      legend: bool = True) -> None:
    """Fig. 4(a-c): p dN/dp of "Final", "Final, CGL" and "Revert", mean revert gain."""
    pc = dist.p_centres
    ax.step(pc, pc * dist.final, where="mid", color=plots.TOTAL_COLOR, label="Final")
    ax.step(pc, pc * dist.final_cgl, where="mid", color=plots.LCP_COLOR, ls="--",
            label="Final, CGL")
    ax.step(pc, pc * dist.revert, where="mid", color=plots.RCP_COLOR, label="Revert")
    lo, hi = dist.p0_range
    ax.axvspan(lo, hi, color="0.85", zorder=0, label=r"$p_0$ bin")
    e0 = energy(math.sqrt(lo * hi), mass)
    e_mean = e0 * (1.0 + dist.mean_gain)
    p_mean = math.sqrt(max(e_mean * e_mean - mass * mass, 0.0))
    ax.axvline(p_mean, color="tab:orange", lw=1.0,
               label=rf"$\langle\Delta E/E\rangle={100 * dist.mean_gain:.1f}\%$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$p/m_ec$")
    ax.set_ylabel(r"$p\,dN/dp$ (normalised)")
    top = max(float(np.nanmax(pc * f)) for f in (dist.final, dist.final_cgl, dist.revert))
    if np.isfinite(top) and top > 0:
        ax.set_ylim(top * 1e-4, top * 2.0)
    _log_tick_labels(ax.xaxis, pc)
    if legend:
        ax.legend(loc="lower left", fontsize=6)


def _log_tick_labels(axis: Any, values: ArrayLike) -> None:
    """On a log axis spanning less than two decades also label the minor ticks 2 and 5
    (plain numbers); otherwise only the decades."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and math.log10(v.max() / v.min()) < 2.0:
        def fmt(x: float, _pos: int) -> str:
            mant = x / 10 ** math.floor(math.log10(x) + 1e-9)
            return f"{x:g}" if round(mant) in (2, 5) and abs(mant - round(mant)) < 1e-6 else ""

        axis.set_minor_formatter(FuncFormatter(fmt))
    else:
        axis.set_minor_formatter(NullFormatter())


def plot_heatmap(ax: Axes, dist: Distribution, which: str = "final_vs_mu0",
                 curves: bool = True, colorbar: bool = False) -> Any:
    """Fig. 4(d-l): 2D histogram of momentum vs pitch cosine with adiabatic curves.

    Parameters
    ----------
    which : {"final_vs_mu0", "revert_vs_mu0", "revert_vs_mu"}
        Final p vs mu0; revert p vs mu0; revert p vs final mu.
    curves : bool
        Overlay the scattering-free predictions (final: p0 sqrt(mu0^2/a_x^2 +
        (1 - mu0^2)/(a_y a_z)); revert: p_rev = p0; revert vs final mu: the revert
        of the smallest and largest scattering-free final |p| at fixed |p|).
    """
    h = getattr(dist, which)
    mesh = ax.pcolormesh(dist.mu_edges, dist.p_edges, np.ma.masked_less_equal(h, 0),
                         norm=plots.log_norm(h, 1e4), shading="flat")
    ax.set_yscale("log")
    _log_tick_labels(ax.yaxis, dist.p_edges)
    ax.set_xlabel(r"$\mu_0$" if which.endswith("mu0") else r"$\mu$ (final)")
    ax.set_ylabel(r"$p/m_ec$" + (" (final)" if which.startswith("final") else " (revert)"))
    ax.tick_params(color="w", which="both")
    if curves:
        ax_, ay_, az_ = dist.a
        mu = np.linspace(-1, 1, 201)
        lo, hi = dist.p0_range
        for pc in (math.sqrt(lo * hi),):
            if which == "final_vs_mu0":
                y = pc * np.sqrt(mu**2 / ax_**2 + (1 - mu**2) / (ay_ * az_))
            elif which == "revert_vs_mu0":
                y = np.full_like(mu, pc)
            else:
                pmin = pc * min(1.0 / ax_, 1.0 / math.sqrt(ay_ * az_))
                pmax = pc * max(1.0 / ax_, 1.0 / math.sqrt(ay_ * az_))
                for pp in (pmin, pmax):
                    ax.plot(mu, pp * np.sqrt(mu**2 * ax_**2 + (1 - mu**2) * ay_ * az_),
                            color="k", lw=0.7)
                continue
            ax.plot(mu, y, color="k", lw=0.7)
    if colorbar:
        plots.add_colorbar(ax, mesh, "fraction of bin")
    return mesh


def plot_kernels(ax: Axes, kernel: GreenKernel, p0_values: Sequence[float], *,
                 scale: float = 1.0) -> None:
    """Fig. 5(a) overlay: p G(p | p0) for chosen p0 (dotted), scaled by ``scale``."""
    pc = kernel.p_centres
    for k, p0 in enumerate(p0_values):
        try:
            g = kernel.kernel_at(p0)
        except ValueError:
            log.warning("p0 = %g outside the kernel range", p0)
            continue
        col = plots.SPECIES_COLORS[k % len(plots.SPECIES_COLORS)]
        ax.plot(pc, scale * pc * g, color=col, ls=":", lw=0.9,
                label=rf"$G(p\,|\,p_0={p0:.3g})$")


def plot_spectra(ax: Axes, p: ArrayLike, spectra: Sequence[ArrayLike],
                 labels: Sequence[str], *, colors: Sequence[str] | None = None) -> None:
    """Spectra p dN/dp on log axes (Fig. 5)."""
    p = np.asarray(p, dtype=np.float64)
    for k, (f, lab) in enumerate(zip(spectra, labels, strict=True)):
        col = (colors[k] if colors is not None
               else plots.SPECIES_COLORS[k % len(plots.SPECIES_COLORS)])
        ax.plot(p, p * np.asarray(f, dtype=np.float64), color=col, label=lab)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$p/m_ec$")
    ax.set_ylabel(r"$p\,dN/dp$")


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def write_figures(
    result: PumpingResult,
    out_dir: str | os.PathLike[str],
    *,
    prefix: str = "pumping",
    f0: Callable[[F64], ArrayLike] | None = None,
    cutoffs: Sequence[float] | None = None,
    cycles: int = 4,
    kernel_p0: Sequence[float] | None = None,
    pdf: bool = False,
    title: str | None = None,
) -> dict[str, Any]:
    """All pumping figures of a :class:`PumpingResult` (PIC run or Fokker-Planck model).

    Figures (``<prefix>_<name>.png``): ``gain`` (Delta E/E over (p0, t), the non-adiabatic
    gain map when available, and Delta E/E(p0) at a few times); ``gain_mu0`` (Delta E/E
    over (p0, mu0) at the last time); ``distributions`` (Fig. 4: per selected p0 bin,
    Final / Final, CGL / Revert, final p vs mu0, revert p vs mu0, revert p vs final mu);
    ``green`` (Fig. 5: one cycle of f0 with kernels for chosen p0; other low-p cut-offs;
    detail times; N cycles).

    Parameters
    ----------
    f0 : callable, optional
        Initial spectrum dN/dp for the Green's-function figure (default
        :func:`cutoff_power_law` with index 3 and p_cut at 3x the kernel's lowest p0).
    cutoffs : sequence of float, optional
        Low-p cut-offs of f0 for panel (b) (m_e c).
    cycles : int
        Number of compress-revert cycles of panel (d).
    kernel_p0 : sequence of float, optional
        p0 of the kernels drawn in panel (a).

    Returns
    -------
    dict
        ``paths`` and the arrays behind the Green's figure (``p``, ``f0``, ``f1``,
        ``cycles``).
    """
    out = Path(out_dir)
    paths: list[Path] = []
    extra: dict[str, Any] = {}
    with plots.style():
        if result.time.size:
            paths += _figure_gain(result, out, prefix, pdf, title)
            paths += _figure_gain_mu0(result, out, prefix, pdf, title)
        if result.details:
            paths += _figure_distributions(result.details[-1], out, prefix, pdf,
                                           result.time_unit)
            e = result.details[-1].kernel.p0_edges
            if e[-1] > 3.0 * e[0]:
                p, extra = _figure_green(result, out, prefix, pdf, f0, cutoffs, cycles,
                                         kernel_p0)
                paths += p
            else:
                log.info("p0 range below a factor 3: no Green's-function figure")
    extra["paths"] = paths
    return extra


def _figure_gain(res: PumpingResult, out: Path, prefix: str, pdf: bool,
                 title: str | None) -> list[Path]:
    with_na = res.nonadiabatic is not None
    n = 3 if with_na else 2
    fig, axes = plots.figure(n, 1, width=plots.COLUMN_WIDTH + 0.4, height=2.3 * n)
    plot_gain_map(axes[0], res.p0_edges, res.time, res.gain, time_unit=res.time_unit)
    if title:
        axes[0].set_title(title)
    k = 1
    if with_na:
        plot_gain_map(axes[1], res.p0_edges, res.time, res.nonadiabatic,
                      time_unit=res.time_unit,
                      label=r"$\Delta E_\mathrm{nonad}/E$ (%)")
        k = 2
    ax = axes[k]
    idx = np.unique(np.linspace(0, res.time.size - 1, min(4, res.time.size)).round()
                    .astype(int))
    for j, i in enumerate(idx):
        col = plots.SPECIES_COLORS[j % len(plots.SPECIES_COLORS)]
        ax.plot(res.p0_centres, 100 * res.gain[i], color=col,
                label=f"t = {res.time[i]:.3g}, B/B0 = {res.b[i]:.2f}")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel(r"$p_0/m_ec$")
    ax.set_ylabel(GAIN_LABEL)
    ax.legend(loc="best", fontsize=6)
    plots.label_panels(axes)
    return plots.save_figure(fig, out, f"{prefix}_gain", pdf=pdf)


def _figure_gain_mu0(res: PumpingResult, out: Path, prefix: str, pdf: bool,
                     title: str | None) -> list[Path]:
    fig, ax = plots.figure(1, 1, width=plots.COLUMN_WIDTH + 0.4, height=2.6)
    g = 100 * res.gain_mu0[-1]
    finite = np.abs(g[np.isfinite(g)])
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    mesh = ax.pcolormesh(res.p0_edges, res.mu0_edges, np.ma.masked_invalid(g.T),
                         cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="flat")
    ax.set_xscale("log")
    ax.set_xlabel(r"$p_0/m_ec$")
    ax.set_ylabel(r"$\mu_0$")
    ax.set_title((title + ", " if title else "")
                 + f"t = {res.time[-1]:.3g}, B/B0 = {res.b[-1]:.2f}")
    plots.map_axes(ax)
    plots.add_colorbar(ax, mesh, GAIN_LABEL)
    return plots.save_figure(fig, out, f"{prefix}_gain_mu0", pdf=pdf)


def _figure_distributions(det: Detail, out: Path, prefix: str, pdf: bool,
                          time_unit: str) -> list[Path]:
    dists = det.distributions
    if not dists:
        return []
    n = len(dists)
    fig, axes = plots.figure(4, n, width=min(plots.PAGE_WIDTH, 2.4 * n + 0.4),
                             height=8.4, squeeze=False)
    for c, d in enumerate(dists):
        plot_distribution(axes[0, c], d, legend=(c == 0))
        lo, hi = d.p0_range
        axes[0, c].set_title(rf"${lo:.3g}\leq p_0\leq{hi:.3g}$")
        for r, which in enumerate(("final_vs_mu0", "revert_vs_mu0", "revert_vs_mu"), 1):
            plot_heatmap(axes[r, c], d, which)
    fig.suptitle(f"t = {det.time:.4g} ({time_unit}), B/B0 = {field_ratio(det.a):.3g}",
                 fontsize=8)
    plots.label_panels(axes.T.ravel())
    return plots.save_figure(fig, out, f"{prefix}_distributions", pdf=pdf)


def _figure_green(res: PumpingResult, out: Path, prefix: str, pdf: bool,
                  f0: Callable[[F64], ArrayLike] | None, cutoffs: Sequence[float] | None,
                  cycles: int, kernel_p0: Sequence[float] | None
                  ) -> tuple[list[Path], dict[str, Any]]:
    det = res.details[-1]
    ker = det.kernel
    e = ker.p0_edges
    if f0 is None:
        f0 = cutoff_power_law(3.0, float(e[0]) * 3.0)
    if cutoffs is None:
        cutoffs = [float(e[0]) * c for c in (1.5, 3.0, 10.0)]
    if kernel_p0 is None:
        kernel_p0 = [float(math.exp(x)) for x in
                     np.linspace(math.log(e[0]), math.log(e[-1]), 6)[1:-1]]
    pc = ker.p0_centres
    f_init = ker.bin_numbers(f0) / np.diff(e)
    f1 = ker.apply(f0)
    fig, axes = plots.figure(2, 2, width=plots.PAGE_WIDTH, height=5.2)
    ax = axes[0, 0]
    plot_spectra(ax, pc, [f_init], ["Initial"], colors=["0.5"])
    plot_spectra(ax, ker.p_centres, [f1], ["Revert (1 cycle)"], colors=[plots.TOTAL_COLOR])
    top = float(np.nanmax(pc * f_init))
    plot_kernels(ax, ker, kernel_p0, scale=top)
    ax.set_ylim(top * 1e-4, top * 5)
    ax.legend(loc="lower left", fontsize=6)
    ax = axes[0, 1]
    for k, pcut in enumerate(cutoffs):
        slope = _power_index(f0, e)
        fk = cutoff_power_law(slope, pcut)
        col = plots.SPECIES_COLORS[k % len(plots.SPECIES_COLORS)]
        ax.plot(pc, pc * ker.bin_numbers(fk) / np.diff(e), color=col, ls="--", lw=0.8)
        ax.plot(ker.p_centres, ker.p_centres * ker.apply(fk), color=col,
                label=rf"$p_\mathrm{{cut}}={pcut:.3g}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$p/m_ec$")
    ax.set_ylabel(r"$p\,dN/dp$")
    ax.legend(loc="lower left", fontsize=6)
    ax = axes[1, 0]
    plot_spectra(ax, pc, [f_init], ["Initial"], colors=["0.5"])
    for k, d in enumerate(res.details):
        col = plots.SPECIES_COLORS[k % len(plots.SPECIES_COLORS)]
        ax.plot(d.kernel.p_centres, d.kernel.p_centres * d.kernel.apply(f0), color=col,
                label=f"t = {d.time:.3g}")
    ax.legend(loc="lower left", fontsize=6)
    ax = axes[1, 1]
    cyc: list[F64] = []
    try:
        cyc, _lost = ker.cycles(f0, cycles)
        plot_spectra(ax, ker.p_centres, cyc,
                     ["Initial"] + [f"N = {k}" for k in range(1, cycles + 1)])
        ax.legend(loc="lower left", fontsize=6)
    except ValueError as err:
        log.warning("no N-cycle panel: %s", err)
    for a in axes.ravel():
        a.set_ylim(top * 1e-4, top * 5)
    plots.label_panels(axes)
    paths = plots.save_figure(fig, out, f"{prefix}_green", pdf=pdf)
    return paths, {"p": pc, "f0": f_init, "f1": f1, "cycles": cyc}


def _power_index(f0: Callable[[F64], ArrayLike], edges: F64) -> float:
    """Logarithmic slope -d ln f0/d ln p near the top of the grid (for the cut-off panel)."""
    p = np.array([edges[-1] / 4.0, edges[-1] / 2.0])
    v = np.asarray(f0(p), dtype=np.float64)
    if np.all(v > 0):
        return float(-np.log(v[1] / v[0]) / np.log(2.0))
    return 3.0


def make_figures(
    run_path: str | os.PathLike[str],
    species: str | None = None,
    *,
    source: str = "auto",
    out: str | os.PathLike[str] | None = None,
    pdf: bool = False,
    detail_times: Sequence[float] | None = None,
    index: float = 3.0,
    p_cut: float | None = None,
    cycles: int = 4,
    max_snapshots: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Pumping figures of a run directory (``RUN/figures`` by default).

    Parameters
    ----------
    run_path : path-like
    species : str, optional
        Tracer species.
    source : {"auto", "dumps", "insitu"}
        See :func:`analyse_run`.
    detail_times : sequence of float, optional
        Times (1/Omega_i0) of the kernels/distributions (default: last output).
    index, p_cut : float
        f0 = p^-index above p_cut (m_e c; default 3x the lowest p0) for Fig. 5.
    cycles : int
    max_snapshots : int, optional
    **options
        Passed to :class:`PumpingAnalysis`.

    Returns
    -------
    dict
        ``result`` (:class:`PumpingResult`), ``paths`` and the Green's-figure arrays.
    """
    res = analyse_run(run_path, species, source=source, detail_times=detail_times,
                      max_snapshots=max_snapshots, **options)
    out_dir = Path(out) if out is not None else Path(run_path) / "figures"
    pc = p_cut if p_cut is not None else 3.0 * float(res.p0_edges[0])
    figs = write_figures(res, out_dir, prefix="pumping", f0=cutoff_power_law(index, pc),
                         cycles=cycles, pdf=pdf)
    figs["result"] = res
    return figs


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m postprocess.pumping -h``)."""
    ap = argparse.ArgumentParser(
        prog="python -m postprocess.pumping",
        description="Compress-revert (magnetic pumping) energy gain of the tracer CRe of a "
                    "run: Delta E/E(p0, t), split by mu0, non-adiabatic gain, Fig.-4 "
                    "distributions and the Green's-function response (PHYSICS.md 4.4-4.5).")
    ap.add_argument("run", help="run directory")
    ap.add_argument("--species", help="tracer species (default: the only one)")
    ap.add_argument("--source", choices=("auto", "dumps", "insitu"), default="auto",
                    help="raw tracer dumps or insitu.h5 (auto: dumps if present)")
    ap.add_argument("--times", type=float, nargs="+",
                    help="times (1/Omega_i0) of the kernels and distributions (default: "
                         "last dump)")
    ap.add_argument("--p0-bins", type=int, default=60, help="p0 bins of the gain maps")
    ap.add_argument("--mu0-bins", type=int, default=8, help="mu0 bins")
    ap.add_argument("--kernel-bins", type=int, default=300, help="p0 bins of the kernel")
    ap.add_argument("--select", type=float, nargs="+",
                    help="p0 values (m_e c) of the Fig.-4 distributions (bins of +-2%%)")
    ap.add_argument("--index", type=float, default=3.0, help="f0 = p^-index (Fig. 5)")
    ap.add_argument("--p-cut", type=float, help="low-p cut-off of f0 (m_e c)")
    ap.add_argument("--cycles", type=int, default=4, help="compress-revert cycles")
    ap.add_argument("--energy", choices=("total", "kinetic"), default="total",
                    help="denominator <E0> or <E0 - m c^2>")
    ap.add_argument("--max-snapshots", type=int, help="use at most this many dumps")
    ap.add_argument("--out", help="output directory (default RUN/figures)")
    ap.add_argument("--pdf", action="store_true", help="also write PDF")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    opts: dict[str, Any] = {}
    if args.select:
        opts["select"] = [(p / 1.02, p * 1.02) for p in args.select]
    if args.source != "insitu":
        opts.update(n_p0=args.p0_bins, n_mu0=args.mu0_bins, n_kernel=args.kernel_bins,
                    energy=args.energy)
    res = make_figures(args.run, args.species, source=args.source, out=args.out,
                       pdf=args.pdf, detail_times=args.times, index=args.index,
                       p_cut=args.p_cut, cycles=args.cycles,
                       max_snapshots=args.max_snapshots, **opts)
    r: PumpingResult = res["result"]
    i = int(np.nanargmax(np.where(np.isfinite(r.gain[-1]), r.gain[-1], -np.inf)))
    print(f"t = {r.time[-1]:.4g} (1/{r.time_unit}), B/B0 = {r.b[-1]:.3f}: mean Delta E/E = "
          f"{100 * r.gain_all[-1]:.2f} %, max {100 * r.gain[-1, i]:.2f} % at "
          f"p0 = {r.p0_centres[i]:.3g} m_e c")
    for p in res["paths"]:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
