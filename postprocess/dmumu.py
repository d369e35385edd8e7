"""Pitch-angle diffusion D_mumu: measured from tracers vs quasi-linear theory (QLT).

PHYSICS.md 3 and 4.3; reference study Sec. 4, Fig. 3 and Appendix D; formats in
docs/outputs.md ("Tracers", "spectra.h5"); derivation and conventions in
docs/postprocess.md, section "D_mumu".

Three parts, each usable on plain arrays or on a run directory:

* **Measured** D_mumu(p, mu; t) = <(Delta mu)^2>/(2 Delta t) and
  D_pp = <(Delta p)^2>/(2 Delta t), binned in (p, mu) at the start of each interval:
  :func:`sums_from_insitu` (``insitu.h5``, Delta t = the in-situ interval),
  :func:`sums_from_dumps` (raw dumps, any Delta t = ``lag`` dump intervals, to study the
  effect of Delta t as in the reference study's Appendix D), :func:`sums_from_momenta`
  (two momentum arrays). All give a :class:`DSums`.
* **Wave spectra** split into LCP/RCP (sign of omega over a Hann-tapered time window)
  and forward/backward: :func:`wave_spectra` / :func:`wave_spectra_run` give a
  :class:`WaveSpectra`, the two-sided spectral density S_j(k) of
  b = delta B_y + i delta B_z (Fourier convention b = sum b_k exp(i(k x - omega t))),
  normalised so that sum_j int S_j dk = <delta B_y^2 + delta B_z^2>, Hann-smoothed in k.
* **QLT** (Summers 2005 form for field-aligned waves, :func:`qlt_dmumu`)::

      D_mumu = (pi/2) (q/(gamma m c))^2 (1 - mu^2)
               sum_j sum_res (1 - mu omega_j/(k v))^2 S_j(k) / |v mu - v_g,j(k)|

  at every resonant root k of omega_j(k) - k v mu = q B/(gamma m c) (signed
  gyrofrequency), per branch j = L (IC, omega > 0) and R (whistler, omega < 0);
  omega_j(k) from the dispersion solver (:func:`branch_frequencies`) or 0
  (magnetostatic limit: k_res = -q B/(p mu), the same Fourier k for both branches).

Command line: ``python -m postprocess.dmumu RUN --times T [T ...]`` (figures like the
reference study's Fig. 3 and D_mumu of a (p, mu) box vs time).

Units: code units throughout the API (time 1/omega_pe0, length d_e0, k 1/d_e0, B in
m_e c omega_pe0/e, p in m_e c, D_mumu in omega_pe0, D_pp in (m_e c)^2 omega_pe0); the
figures use 1/Omega_i0 and 1/d_i0 (or 1/rho_i0).
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
from numpy.typing import ArrayLike, NDArray

from postprocess.omega_k import omega_k_power

__all__ = [
    "DSums",
    "QLTResult",
    "WaveSpectra",
    "box_average",
    "branch_frequencies",
    "hann_smooth",
    "kinematics",
    "main",
    "make_figures",
    "qlt_dmumu",
    "resonant_k_magnetostatic",
    "sums_from_dumps",
    "sums_from_insitu",
    "sums_from_momenta",
    "wave_spectra",
    "wave_spectra_run",
]

log = logging.getLogger(__name__)

#: default Hann smoothing length in k (points, end points of zero weight included)
SMOOTH_POINTS = 7
#: ways of assigning the omega = 0 power to the branches
ZERO_MODES = ("split", "L", "R", "drop")

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------
# Kinematics and binning
# --------------------------------------------------------------------------------------
def kinematics(u: ArrayLike, mass: float = 1.0) -> tuple[Array, Array]:
    """p = m |u| (m_e c) and mu = u_x/|u| of momenta u = gamma v/c, shape (n, 3)."""
    uu = np.asarray(u, dtype=np.float64)
    mag = np.sqrt(np.einsum("ij,ij->i", uu, uu))
    mu = np.where(mag > 0, uu[:, 0] / np.where(mag > 0, mag, 1.0), 0.0)
    return mass * mag, mu


def _bin(v: Array, edges: Array) -> NDArray[np.int64]:
    """numpy histogram convention (last bin closed); -1 outside or NaN."""
    n = edges.size - 1
    i = np.searchsorted(edges, v, side="right") - 1
    i = np.where(v == edges[-1], n - 1, i)
    return np.where((v >= edges[0]) & (v <= edges[-1]), i, -1)


# --------------------------------------------------------------------------------------
# Measured D_mumu, D_pp
# --------------------------------------------------------------------------------------
@dataclass
class DSums:
    """Binned increment sums of one tracer species, one row per measurement interval.

    Row r covers [t_start[r], t_start[r] + dt[r]]; each tracer is binned by its (p, mu)
    at the start of the interval. Shapes: ``(n_r, n_p, n_mu)``.

    Attributes
    ----------
    p_edges : ndarray (n_p + 1,)
        Momentum bin edges (m_e c).
    mu_edges : ndarray (n_mu + 1,)
        Pitch-cosine bin edges (mu relative to x, the mean field).
    t_start, dt : ndarray (n_r,)
        Interval start and length (1/omega_pe0).
    count : ndarray (n_r, n_p, n_mu)
        Tracers per start bin.
    dmu, dmu2, dp, dp2 : ndarray (n_r, n_p, n_mu)
        Sums of Delta mu, (Delta mu)^2, Delta p (m_e c), (Delta p)^2 ((m_e c)^2).
    species : str
    source : str
        ``"insitu"``, ``"dumps (lag N)"`` or ``"momenta"``.
    mass : float
        Tracer mass (m_e).
    """

    p_edges: Array
    mu_edges: Array
    t_start: Array
    dt: Array
    count: Array
    dmu: Array
    dmu2: Array
    dp: Array
    dp2: Array
    species: str = ""
    source: str = ""
    mass: float = 1.0

    # ------------------------------------------------------------------ axes
    @property
    def p_centers(self) -> Array:
        """Geometric centres of the p bins (m_e c)."""
        return np.sqrt(self.p_edges[1:] * self.p_edges[:-1])

    @property
    def mu_centers(self) -> Array:
        """Centres of the mu bins."""
        return 0.5 * (self.mu_edges[1:] + self.mu_edges[:-1])

    @property
    def t_mid(self) -> Array:
        """Interval mid-times (1/omega_pe0)."""
        return self.t_start + 0.5 * self.dt

    @property
    def n_rows(self) -> int:
        return int(self.t_start.size)

    # ------------------------------------------------------------ selection
    def rows_in(self, t_window: tuple[float, float] | None) -> NDArray[np.int64]:
        """Rows whose interval mid-time lies in [t0, t1] (all rows for None)."""
        if t_window is None:
            return np.arange(self.n_rows)
        t0, t1 = t_window
        return np.flatnonzero((self.t_mid >= t0) & (self.t_mid <= t1))

    def _coefficient(self, s1: Array, s2: Array, rows, t_window, drift_corrected: bool,
                     merge_p) -> Array:  # fmt: skip
        n = self.count
        if drift_corrected:  # per row and bin: sum (Delta - <Delta>)^2
            s2 = s2 - np.where(n > 0, s1 * s1 / np.where(n > 0, n, 1.0), 0.0)
        den = 2.0 * n * self.dt[:, None, None]
        if merge_p is not None and merge_p is not False:
            sel = slice(None) if merge_p is True else merge_p
            s2 = s2[:, sel].sum(axis=1)
            den = den[:, sel].sum(axis=1)
        if t_window is not None:
            rows = self.rows_in(t_window)
        if rows is not None:
            idx = np.arange(self.n_rows)[rows]
            if np.ndim(idx):
                if idx.size == 0:
                    raise ValueError(f"no measurement interval in the time window {t_window}")
                s2, den = s2[idx].sum(axis=0), den[idx].sum(axis=0)
            else:
                s2, den = s2[idx], den[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, s2 / np.where(den > 0, den, 1.0), np.nan)

    def d_mumu(self, rows=None, t_window: tuple[float, float] | None = None,
               drift_corrected: bool = False, merge_p=None) -> Array:  # fmt: skip
        """Measured D_mumu = sum (Delta mu)^2 / sum (2 Delta t) per (p, mu) start bin.

        Parameters
        ----------
        rows : int, slice or index array, optional
            None (and no ``t_window``): one map per row, shape (n_r, n_p, n_mu). Several
            rows are merged: sum (Delta mu)^2 / sum (2 Delta t N).
        t_window : (float, float), optional
            Merge the rows whose interval mid-time lies in [t0, t1] (1/omega_pe0).
        drift_corrected : bool
            Use (Delta mu - <Delta mu>)^2 per row and bin (removes deterministic drifts
            such as adiabatic focusing under compression).
        merge_p : True, slice or index array, optional
            Merge these p bins (True: all), dropping the p axis.

        Returns
        -------
        ndarray
            omega_pe0 (NaN in empty bins).
        """
        return self._coefficient(self.dmu, self.dmu2, rows, t_window, drift_corrected, merge_p)

    def d_pp(self, rows=None, t_window: tuple[float, float] | None = None,
             drift_corrected: bool = False, merge_p=None) -> Array:  # fmt: skip
        """Measured D_pp = <(Delta p)^2>/(2 Delta t), (m_e c)^2 omega_pe0; see :meth:`d_mumu`."""
        return self._coefficient(self.dp, self.dp2, rows, t_window, drift_corrected, merge_p)

    def counts(self, rows=None, t_window: tuple[float, float] | None = None) -> Array:
        """Tracer-intervals per (p, mu) bin summed over the selected rows."""
        idx = self.rows_in(t_window) if t_window is not None else (
            np.arange(self.n_rows) if rows is None else np.arange(self.n_rows)[rows])  # fmt: skip
        c = self.count[idx]
        return c.sum(axis=0) if np.ndim(idx) else c

    def box(self, p_range: tuple[float, float] | None = None,
            mu_range: tuple[float, float] | None = None, drift_corrected: bool = False,
            quantity: str = "mu") -> tuple[Array, Array, Array]:  # fmt: skip
        """D_mumu (or D_pp) averaged over a (p, mu) box, per row.

        Bins whose centres lie in the box are merged (sum of squared increments over
        sum of 2 Delta t N, i.e. the tracer-count-weighted mean of the bin values).

        Parameters
        ----------
        p_range, mu_range : (float, float), optional
            Box (m_e c; pitch cosine); default the whole range.
        drift_corrected : bool
        quantity : {"mu", "p"}

        Returns
        -------
        t_mid : ndarray (n_r,)
            Interval mid-times (1/omega_pe0).
        D : ndarray (n_r,)
            omega_pe0 (or (m_e c)^2 omega_pe0); NaN for empty rows.
        err : ndarray (n_r,)
            Statistical 1-sigma error D sqrt(2/N) (Gaussian increments).
        """
        ps, ms = _box_masks(self.p_centers, self.mu_centers, p_range, mu_range)
        s1, s2 = (self.dmu, self.dmu2) if quantity == "mu" else (self.dp, self.dp2)
        n = self.count
        if drift_corrected:
            s2 = s2 - np.where(n > 0, s1 * s1 / np.where(n > 0, n, 1.0), 0.0)
        sel = ps[:, None] & ms[None, :]
        num = s2[:, sel].sum(axis=1)
        cnt = n[:, sel].sum(axis=1)
        den = 2.0 * cnt * self.dt
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            err = d * np.sqrt(2.0 / np.where(cnt > 0, cnt, np.nan))
        return self.t_mid, d, err


def _box_masks(p: Array, mu: Array, p_range, mu_range) -> tuple[NDArray[np.bool_], ...]:
    ps = np.ones(p.size, bool) if p_range is None else (p >= p_range[0]) & (p <= p_range[1])
    ms = np.ones(mu.size, bool) if mu_range is None else (
        (mu >= mu_range[0]) & (mu <= mu_range[1]))  # fmt: skip
    return ps, ms


def box_average(D: ArrayLike, weights: ArrayLike, p: ArrayLike, mu: ArrayLike,
                p_range: tuple[float, float] | None = None,
                mu_range: tuple[float, float] | None = None) -> float:  # fmt: skip
    """Weighted mean of a (p, mu) map over a box (e.g. a QLT map weighted by the tracer
    counts, to compare with :meth:`DSums.box`). NaN bins are skipped."""
    ps, ms = _box_masks(np.asarray(p, float), np.asarray(mu, float), p_range, mu_range)
    d = np.asarray(D, float)[np.ix_(ps, ms)]
    w = np.asarray(weights, float)[np.ix_(ps, ms)]
    ok = np.isfinite(d) & (w > 0)
    return float((d[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan


def sums_from_momenta(u_start: ArrayLike, u_end: ArrayLike, dt: float,
                      p_edges: ArrayLike, mu_edges: ArrayLike, mass: float = 1.0,
                      t_start: float = 0.0, species: str = "") -> DSums:  # fmt: skip
    """One-row :class:`DSums` from the momenta of the same tracers at two times.

    Parameters
    ----------
    u_start, u_end : array_like (n, 3)
        u = gamma v/c at the start and the end of the interval (same tracer order).
    dt : float
        Interval (1/omega_pe0).
    p_edges, mu_edges : array_like
        Bin edges (m_e c; pitch cosine).
    mass : float
        Tracer mass (m_e).
    t_start : float
        Interval start (1/omega_pe0).
    """
    pe, me = np.asarray(p_edges, float), np.asarray(mu_edges, float)
    n_p, n_mu = pe.size - 1, me.size - 1
    p0, mu0 = kinematics(u_start, mass)
    p1, mu1 = kinematics(u_end, mass)
    jp, jm = _bin(p0, pe), _bin(mu0, me)
    ok = (jp >= 0) & (jm >= 0)
    flat = (jp * n_mu + jm)[ok]
    dmu, dp = (mu1 - mu0)[ok], (p1 - p0)[ok]

    def hist(w=None) -> Array:
        return np.bincount(flat, weights=w, minlength=n_p * n_mu).astype(float).reshape(
            1, n_p, n_mu)  # fmt: skip

    return DSums(p_edges=pe, mu_edges=me, t_start=np.array([float(t_start)]),
                 dt=np.array([float(dt)]), count=hist(), dmu=hist(dmu), dmu2=hist(dmu * dmu),
                 dp=hist(dp), dp2=hist(dp * dp), species=species, source="momenta",
                 mass=float(mass))  # fmt: skip


def _concat(rows: list[DSums], source: str) -> DSums:
    if not rows:
        raise ValueError("no measurement intervals")
    f = rows[0]
    cat = lambda name: np.concatenate([getattr(r, name) for r in rows])  # noqa: E731
    return DSums(p_edges=f.p_edges, mu_edges=f.mu_edges, t_start=cat("t_start"), dt=cat("dt"),
                 count=cat("count"), dmu=cat("dmu"), dmu2=cat("dmu2"), dp=cat("dp"),
                 dp2=cat("dp2"), species=f.species, source=source, mass=f.mass)  # fmt: skip


def sums_from_insitu(run: str | os.PathLike[str], species: str | None = None) -> DSums:
    """The in-situ D sums of ``insitu.h5`` (Delta t = the in-situ interval).

    Parameters
    ----------
    run : path-like
        Run directory or ``insitu.h5``.
    species : str, optional
        Tracer species (may be omitted if there is only one).
    """
    from postprocess.tracers import read_insitu

    s = read_insitu(run, species)
    keep = np.flatnonzero(s.dt_interval > 0)
    dt = s.dt_interval[keep]
    log.info("%s: %d in-situ intervals of %s (1/omega_pe0), %d x %d (p, mu) bins",
             s.species, keep.size, np.unique(np.round(dt, 12)), s.p_edges.size - 1,
             s.mu_edges.size - 1)  # fmt: skip
    f = lambda a: np.asarray(a[keep], dtype=np.float64)  # noqa: E731
    return DSums(p_edges=s.p_edges, mu_edges=s.mu_edges, t_start=s.time[keep] - dt, dt=dt,
                 count=f(s.dmumu_count), dmu=f(s.dmu_sum), dmu2=f(s.dmu2_sum),
                 dp=f(s.dp_sum), dp2=f(s.dp2_sum), species=s.species, source="insitu",
                 mass=float(s.mass))  # fmt: skip


def sums_from_dumps(run: str | os.PathLike[str], species: str | None = None, lag: int = 1,
                    every: int = 1, steps: Sequence[int] | None = None,
                    p_edges: ArrayLike | None = None, mu_edges: ArrayLike | None = None,
                    p_bins: int = 50, mu_bins: int = 140) -> DSums:  # fmt: skip
    """D sums from the raw tracer dumps for Delta t = ``lag`` dump intervals.

    Each interval pairs dump i with dump i + lag (tracers matched by id); intervals start
    at every ``every``-th dump (``every < lag`` gives overlapping, correlated intervals:
    more samples, errors no longer independent between rows).

    Parameters
    ----------
    run : path-like
        Run directory (or its ``tracers`` directory).
    species : str, optional
    lag : int
        Delta t in dump intervals (>= 1).
    every : int
        Start an interval at every ``every``-th dump.
    steps : sequence of int, optional
        Dumps to use (default all, ascending).
    p_edges, mu_edges : array_like, optional
        Bins; default ``p_bins`` log bins over the species' [p_min, p_max] and
        ``mu_bins`` uniform bins over [-1, 1] (the in-situ defaults).
    p_bins, mu_bins : int

    Notes
    -----
    With ``lag = 1``, float64 dumps at the in-situ cadence and the in-situ bins, the sums
    equal those of ``insitu.h5`` to round-off. The momenta of a dump are at
    t_n - dt/2; Delta t is the difference of the dump times (exact).
    """
    from postprocess.tracers import _species_group_name, dump_steps, read_dump

    if lag < 1 or every < 1:
        raise ValueError("lag and every must be >= 1")
    steps = sorted(dump_steps(run) if steps is None else steps)
    if len(steps) <= lag:
        raise ValueError(f"{len(steps)} dumps: need more than lag = {lag}")
    cache: dict[int, Any] = {}

    def dump(i: int):
        if i not in cache:
            cache[i] = read_dump(run, steps[i], species)
        return cache[i]

    first = dump(0)
    name = species if species is not None else _species_group_name(run, steps[0])
    if p_edges is None:
        pmin, pmax = float(first.attrs["pic1d_p_min"]), float(first.attrs["pic1d_p_max"])
        p_edges = np.geomspace(pmin, pmax, p_bins + 1)
    if mu_edges is None:
        mu_edges = np.linspace(-1.0, 1.0, mu_bins + 1)
    rows = []
    for i in range(0, len(steps) - lag, every):
        a, b = dump(i), dump(i + lag)
        if not np.array_equal(a.ids, b.ids):
            order = np.searchsorted(b.ids, a.ids)
            order = np.minimum(order, b.ids.size - 1)
            found = b.ids[order] == a.ids
            ua, ub = a.u[found], b.u[order[found]]
        else:
            ua, ub = a.u, b.u
        rows.append(sums_from_momenta(ua, ub, b.time - a.time, p_edges, mu_edges, a.mass,
                                      a.time, name))  # fmt: skip
        for j in [j for j in cache if j <= i]:  # keep only the dumps still needed
            del cache[j]
    out = _concat(rows, f"dumps (lag {lag})")
    log.info("raw dumps: %d intervals of %d dump interval(s) (Delta t = %s /omega_pe0)",
             out.n_rows, lag, np.unique(np.round(out.dt, 9)))  # fmt: skip
    return out


# --------------------------------------------------------------------------------------
# Wave spectra
# --------------------------------------------------------------------------------------
def hann_smooth(s: ArrayLike, n: int, periodic: bool = True) -> Array:
    """Smooth along the last axis with a normalised Hann window of ``n`` points.

    The window is ``numpy.hanning(n)`` (zero end points included, so n = 7 averages over
    5 points with weights 1/4, 3/4, 1, 3/4, 1/4, divided by 3). ``periodic``: circular
    convolution (an FFT k axis; preserves the sum); otherwise the ends are padded with
    zeros. ``n <= 2`` returns a copy; an even ``n`` is replaced by ``n + 1`` (centred).
    """
    a = np.asarray(s, dtype=np.float64)
    if n <= 2:
        return a.copy()
    if n % 2 == 0:
        log.warning("even Hann length %d is not centred: using %d", n, n + 1)
        n += 1
    w = np.hanning(n)
    w = w / w.sum()
    half = n // 2
    out = np.zeros_like(a)
    for j, wj in enumerate(w):
        if wj == 0.0:
            continue
        shift = j - half
        if periodic:
            out += wj * np.roll(a, shift, axis=-1)
        else:
            rolled = np.roll(a, shift, axis=-1)
            if shift > 0:
                rolled[..., :shift] = 0.0
            elif shift < 0:
                rolled[..., shift:] = 0.0
            out += wj * rolled
    return out


@dataclass
class WaveSpectra:
    """Two-sided spectral densities of b = delta B_y + i delta B_z per polarisation.

    Fourier convention b = sum b(k, omega) exp(i(k x - omega t)); omega > 0 is LCP (ion
    sense, branch "L", IC waves), omega < 0 RCP ("R", whistlers); propagation is forward
    (along +B0) for omega/k > 0: LCP forward at k > 0, RCP forward at k < 0.

    Attributes
    ----------
    k : ndarray (n_k,)
        Ascending angular wavenumbers (1/d_e0, physical), FFT grid (k = 0 included).
    S_L, S_R : ndarray (n_k,)
        Smoothed densities (B^2 d_e0, code units), sum_j int S_j dk = <|b|^2>.
    raw_L, raw_R, raw_0 : ndarray (n_k,)
        Unsmoothed densities of omega > 0, omega < 0 and omega = 0 (the omega = 0 power
        is already shared into S_L, S_R and raw_L, raw_R according to ``zero``).
    total : float
        <|b|^2> over the window (Hann^2-weighted mean over t, mean over x).
    t_window : (float, float)
        Times used (1/omega_pe0).
    B : float
        Mean field |B_x| at the window centre (code units; NaN if unknown).
    smooth : int
        Hann length used in k (points).
    zero : str
        Treatment of omega = 0 ("split": half to each branch, "L", "R" or "drop").
    d_omega : float
        Frequency resolution 2 pi/T (omega_pe0).
    """

    k: Array
    S_L: Array
    S_R: Array
    raw_L: Array
    raw_R: Array
    raw_0: Array
    total: float
    t_window: tuple[float, float]
    B: float = math.nan
    smooth: int = SMOOTH_POINTS
    zero: str = "split"
    d_omega: float = math.nan

    @property
    def dk(self) -> float:
        return float(self.k[1] - self.k[0])

    def density(self, branch: str, k: ArrayLike) -> Array:
        """Smoothed S_branch linearly interpolated at ``k`` (0 beyond the k grid)."""
        s = self.S_L if branch.upper() == "L" else self.S_R
        return np.interp(np.asarray(k, float), self.k, s, left=0.0, right=0.0)

    def directional(self, branch: str, direction: str,
                    smoothed: bool = True) -> tuple[Array, Array]:  # fmt: skip
        """One branch and propagation direction vs |k| (k > 0 part of the grid).

        Parameters
        ----------
        branch : {"L", "R"}
        direction : {"forward", "backward"}
            forward: omega/k > 0 (along +B0).

        Returns
        -------
        kabs : ndarray, S : ndarray
            |k| (1/d_e0) and the two-sided density at k = +-|k| (B^2 d_e0).
        """
        left = branch.upper() == "L"
        s = (self.S_L if left else self.S_R) if smoothed else (self.raw_L if left else self.raw_R)
        pos = self.k > 0
        kabs = self.k[pos]
        plus = s[pos]
        minus = np.interp(-kabs, self.k, s, left=0.0, right=0.0)
        forward_is_plus = left
        fwd = direction.lower().startswith("f")
        return kabs, (plus if fwd == forward_is_plus else minus)

    def one_sided(self, branch: str) -> tuple[Array, Array]:
        """(|k|, (S(k) + S(-k))/2): the average over +-k (as plotted in the study's Fig. 3)."""
        kabs, f = self.directional(branch, "forward")
        _, b = self.directional(branch, "backward")
        return kabs, 0.5 * (f + b)

    def scaled(self, factor: float = 1.0, l_to_r: float = 0.0) -> WaveSpectra:
        """A copy with all power times ``factor`` and a fraction ``l_to_r`` of the LCP
        power moved to RCP at the same k (for normalisation checks)."""
        f, x = float(factor), float(l_to_r)
        return WaveSpectra(
            k=self.k.copy(), S_L=f * (1 - x) * self.S_L, S_R=f * (self.S_R + x * self.S_L),
            raw_L=f * (1 - x) * self.raw_L, raw_R=f * (self.raw_R + x * self.raw_L),
            raw_0=f * self.raw_0, total=f * self.total, t_window=self.t_window, B=self.B,
            smooth=self.smooth, zero=self.zero, d_omega=self.d_omega,
        )  # fmt: skip


def wave_spectra(time: ArrayLike, x: ArrayLike, dBy: ArrayLike, dBz: ArrayLike,
                 t_window: tuple[float, float] | None = None, smooth: int = SMOOTH_POINTS,
                 zero: str = "split", a_x: float = 1.0, B: float = math.nan,
                 subtract_mean: bool = True) -> WaveSpectra:  # fmt: skip
    """LCP/RCP two-sided spectral densities S_j(k) from a (t, x) series of B_y, B_z.

    The omega-k power P(k, omega) of one Hann-tapered window
    (:func:`postprocess.omega_k.omega_k_power`) is summed over omega > 0 (L), omega < 0
    (R) and omega = 0 (shared according to ``zero``) and divided by the k spacing:
    S_j(k) = sum_omega P / Delta k, so sum_j sum_k S_j Delta k = <|b|^2>. Then S_j is
    smoothed by a Hann window of ``smooth`` points in k (circular; preserves the total).

    Parameters
    ----------
    time : array_like (n_t,)
        1/omega_pe0, uniform.
    x : array_like (n_x,)
        Co-moving positions (d_e0), uniform, periodic box.
    dBy, dBz : array_like (n_t, n_x)
        Field components (code units).
    t_window : (float, float), optional
        Rows with t0 <= t < t1 (default all).
    smooth : int
        Hann length in k (points, zero end points included; <= 2: none).
    zero : {"split", "L", "R", "drop"}
        The omega = 0 power: half to each branch, all to one, or dropped (a static field
        has all its power at omega = 0 and its Hann leakage, 1/6 each, at +-Delta omega).
    a_x : float
        Scale factor of x at the window (k_physical = k_comoving / a_x).
    B : float
        Mean field |B_x| to store with the result (code units).
    subtract_mean : bool
        Remove the box mean of B_y, B_z per time (a background B_y of an oblique field).
    """
    if zero not in ZERO_MODES:
        raise ValueError(f"zero must be one of {ZERO_MODES}, got {zero!r}")
    t = np.asarray(time, float)
    by, bz = np.asarray(dBy, float), np.asarray(dBz, float)
    if subtract_mean:
        by = by - by.mean(axis=1, keepdims=True)
        bz = bz - bz.mean(axis=1, keepdims=True)
    if t_window is None:
        t_window = (float(t[0]), float(t[-1]) + 1.0)
    k, omega, P = omega_k_power(t, np.asarray(x, float), by, bz, t_window)
    sel = (t >= t_window[0]) & (t < t_window[1])
    used = (float(t[sel][0]), float(t[sel][-1]))
    dk = float(k[1] - k[0]) if k.size > 1 else 1.0
    pos, neg, z = P[omega > 0].sum(axis=0), P[omega < 0].sum(axis=0), P[omega == 0].sum(axis=0)
    share = {"split": (0.5, 0.5), "L": (1.0, 0.0), "R": (0.0, 1.0), "drop": (0.0, 0.0)}[zero]
    raw_L = (pos + share[0] * z) / dk
    raw_R = (neg + share[1] * z) / dk
    raw_0 = z / dk
    # physical k: k = k'/a_x; keep int S dk = <|b|^2>
    k = k / a_x
    raw_L, raw_R, raw_0 = raw_L * a_x, raw_R * a_x, raw_0 * a_x
    d_omega = float(omega[1] - omega[0]) if omega.size > 1 else math.nan
    out = WaveSpectra(k=k, S_L=hann_smooth(raw_L, smooth), S_R=hann_smooth(raw_R, smooth),
                      raw_L=raw_L, raw_R=raw_R, raw_0=raw_0, total=float(P.sum()),
                      t_window=used, B=float(B), smooth=int(smooth), zero=zero,
                      d_omega=d_omega)  # fmt: skip
    log.info("wave spectra over t = [%g, %g] (%d rows): <|b|^2> = %.4g (LCP %.3g, RCP %.3g, "
             "omega=0 %.3g of it)", used[0], used[1], int(sel.sum()), out.total,
             float(pos.sum()) / max(out.total, 1e-300), float(neg.sum()) / max(out.total, 1e-300),
             float(z.sum()) / max(out.total, 1e-300))  # fmt: skip
    return out


def _history_at(run, t: float, name: str, default: float) -> float:
    try:
        h = run.history
        th = h["time"]
        return float(np.interp(t, th, h[name]))
    except (KeyError, OSError, ValueError):
        return default


def wave_spectra_run(run: Any, t: float, window: float, smooth: int = SMOOTH_POINTS,
                     zero: str = "split", spectra: Any = None) -> WaveSpectra:  # fmt: skip
    """:func:`wave_spectra` of a run's ``spectra.h5`` over [t - window/2, t + window/2].

    Parameters
    ----------
    run : postprocess.io.Run or path-like
    t, window : float
        Window centre and length (1/omega_pe0): the round(window/interval) consecutive
        spectra rows (at least 2) centred nearest t, shifted to lie inside the data.
    smooth, zero : see :func:`wave_spectra`.
    spectra : postprocess.io.Spectra, optional
        Already read ``spectra.h5`` (avoids re-reading for several times).
    """
    from postprocess.io import open_run
    from postprocess.omega_k import _window_at

    run = open_run(run) if isinstance(run, (str, os.PathLike)) else run
    sp = run.spectra() if spectra is None else spectra
    tt = sp.time
    if tt.size < 2:
        raise ValueError(f"{run.path}/spectra.h5 has {tt.size} row(s): need at least two")
    dts = float(np.median(np.diff(tt)))
    n_w = max(2, int(round(window / dts)))
    if window < 2 * dts:
        log.warning("window %g < 2 spectra intervals (%g): using 2 rows", window, dts)
    rows = _window_at(tt, t, n_w)
    t0, t1 = float(tt[rows.start]), float(tt[rows.stop - 1]) + 0.5 * dts
    b0 = float(sp.attrs.get("B0", math.nan))
    B = abs(_history_at(run, t, "B_x", b0))
    a_x = _history_at(run, t, "a_x", 1.0)
    if abs(a_x - 1.0) > 1e-12:
        log.warning("a_x = %g != 1 at t = %g: k converted to physical k'/a_x", a_x, t)
    return wave_spectra(tt, sp.x, sp.dBy, sp.dBz, (t0, t1), smooth, zero, a_x, B)


# --------------------------------------------------------------------------------------
# Quasi-linear theory
# --------------------------------------------------------------------------------------
def resonant_k_magnetostatic(p: ArrayLike, mu: ArrayLike, B: float, charge: float = -1.0) -> Array:
    """Resonant Fourier k of the magnetostatic limit, k v mu = -Omega_signed.

    k = -q B/(p mu) (1/d_e0; p in m_e c, B code units): positive for electrons with
    mu > 0 (both branches: the LCP/RCP distinction enters only through the propagation
    direction, k sgn(omega) = +|k| for IC waves and -|k| for whistlers).
    """
    pp, mm = np.broadcast_arrays(np.asarray(p, float), np.asarray(mu, float))
    with np.errstate(divide="ignore"):
        return np.where(mm != 0, -charge * B / (pp * mm), np.inf * -np.sign(charge))


@dataclass
class QLTResult:
    """QLT D_mumu maps (omega_pe0), shape (n_p, n_mu).

    Attributes
    ----------
    p, mu : ndarray
        Grid (m_e c; pitch cosine).
    L, R : ndarray
        Contributions of the LCP (IC) and RCP (whistler) spectra.
    frequencies : str
        "magnetostatic" or "dispersion"/"custom".
    B : float
        Field used in the gyrofrequency (code units).
    """

    p: Array
    mu: Array
    L: Array
    R: Array
    frequencies: str = "magnetostatic"
    B: float = math.nan
    charge: float = -1.0
    mass: float = 1.0

    @property
    def total(self) -> Array:
        return self.L + self.R

    def k_res(self) -> Array:
        """Magnetostatic resonant Fourier k(p, mu) (1/d_e0), shape (n_p, n_mu)."""
        return resonant_k_magnetostatic(self.p[:, None], self.mu[None, :], self.B, self.charge)


def _branch_sum(spec: WaveSpectra, branch: str, p: Array, mu: Array, charge: float,
                mass: float, B: float, omega: Callable[[Array], Array] | None,
                k_grid: Array | None) -> Array:  # fmt: skip
    """sum over resonant roots of (1 - mu w/(k v))^2 S(k)/|v mu - v_g| (shape (n_p, n_mu))."""
    u = p / mass
    gam = np.sqrt(1.0 + u * u)
    v = u / gam
    omega_s = charge * B / (gam * mass)  # signed relativistic gyrofrequency, omega_pe0
    out = np.zeros((p.size, mu.size))
    if omega is None:  # magnetostatic: one root k = -Omega_s/(v mu), weight 1/|v mu|
        vm = v[:, None] * mu[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(vm != 0, -omega_s[:, None] / vm, np.nan)
            s = spec.density(branch, np.nan_to_num(k, nan=np.inf, posinf=np.inf))
            out = np.where(vm != 0, s / np.abs(vm), 0.0)
        return out
    kg = spec.k if k_grid is None else np.asarray(k_grid, float)
    w = np.asarray(omega(kg), float)
    good = np.isfinite(w)
    for i in range(p.size):
        # f(k) = omega(k) - k v mu - Omega_s; roots between grid points where f changes sign
        f = w[None, :] - kg[None, :] * (v[i] * mu[:, None]) - omega_s[i]
        f0, f1 = f[:, :-1], f[:, 1:]
        # a root in [k_i, k_(i+1)): sign change, or f = 0 at k_i (counted once)
        ok = (((f0 < 0) & (f1 > 0)) | ((f0 > 0) & (f1 < 0)) | (f0 == 0))
        ok &= good[None, :-1] & good[None, 1:]
        im, ik = np.nonzero(ok)
        if im.size == 0:
            continue
        k0, k1 = kg[ik], kg[ik + 1]
        a, b = f0[im, ik], f1[im, ik]
        frac = np.where(a != b, a / (a - b), 0.0)
        kr = k0 + frac * (k1 - k0)
        slope = np.abs(b - a) / (k1 - k0)  # |v_g - v mu| (secant)
        wr = w[ik] + frac * (w[ik + 1] - w[ik])
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.where(kr != 0, 1.0 - mu[im] * wr / (kr * v[i]), 0.0) ** 2
        val = fac * spec.density(branch, kr) / np.where(slope > 0, slope, np.inf)
        np.add.at(out[i], im, val)
    return out


def qlt_dmumu(p: ArrayLike, mu: ArrayLike, spectra: WaveSpectra, *, charge: float = -1.0,
              mass: float = 1.0, B: float | None = None,
              frequencies: str | dict[str, Callable[[Array], Array]] = "magnetostatic",
              k_grid: ArrayLike | None = None) -> QLTResult:  # fmt: skip
    """Quasi-linear D_mumu(p, mu) of field-aligned waves (Summers 2005 form).

        D_mumu = (pi/2) (q/(gamma m))^2 (1 - mu^2) sum_j sum_roots
                 (1 - mu omega_j/(k v))^2 S_j(k) / |v mu - v_g,j(k)|,
        roots: omega_j(k) - k v mu = q B/(gamma m)   (signed gyrofrequency, c = 1),

    with S_j the two-sided densities of :class:`WaveSpectra` (sum_j int S_j dk = <|b|^2>),
    evaluated at the Fourier k of the root. (q/(gamma m))^2 S = Omega^2 S/B^2: the
    result does not depend on how B is normalised, only the resonance does.

    Parameters
    ----------
    p, mu : array_like (n_p,), (n_mu,)
        Momentum (m_e c) and pitch-cosine grids (e.g. bin centres).
    spectra : WaveSpectra
    charge, mass : float
        Tracer charge (e) and mass (m_e).
    B : float, optional
        Mean field (code units); default ``spectra.B``.
    frequencies : "magnetostatic" or dict
        "magnetostatic": omega_j = 0 (k_res = -q B/(p mu), weight 1/|v mu|). Or a dict
        {"L": omega_L(k), "R": omega_R(k)} of callables giving the real frequency
        (omega_pe0, signed: > 0 for L, < 0 for R) at Fourier k (1/d_e0), e.g. from
        :func:`branch_frequencies`; roots are found on ``k_grid`` (default the spectrum's
        k grid) by sign changes and linear interpolation (all roots are summed).
    k_grid : array_like, optional
        Ascending k grid for the root search (1/d_e0).

    Returns
    -------
    QLTResult
        ``L``, ``R``, ``total`` in omega_pe0, shape (n_p, n_mu).
    """
    pp = np.atleast_1d(np.asarray(p, float))
    mm = np.atleast_1d(np.asarray(mu, float))
    b = float(spectra.B if B is None else B)
    if not math.isfinite(b):
        raise ValueError("the mean field B is unknown: pass B=")
    u = pp / mass
    gam = np.sqrt(1.0 + u * u)
    pref = 0.5 * math.pi * (charge / (gam * mass)) ** 2  # (pi/2) (q/(gamma m))^2
    geo = pref[:, None] * (1.0 - mm * mm)[None, :]
    res = {}
    label = "magnetostatic"
    for br in ("L", "R"):
        if isinstance(frequencies, str):
            if frequencies != "magnetostatic":
                raise ValueError("frequencies must be 'magnetostatic' or a dict, got "
                                 f"{frequencies!r}")  # fmt: skip
            om = None
        else:
            om = frequencies.get(br)
            label = "dispersion"
        res[br] = geo * _branch_sum(spectra, br, pp, mm, charge, mass, b, om,
                                    None if k_grid is None else np.asarray(k_grid, float))
    return QLTResult(p=pp, mu=mm, L=res["L"], R=res["R"], frequencies=label, B=b,
                     charge=charge, mass=mass)  # fmt: skip


def branch_frequencies(run: Any, t: float, k_max: float,
                       n_k: int = 400) -> dict[str, Callable[[Array], Array]]:  # fmt: skip
    """Real L and R frequencies omega_j(k) from the bi-Maxwellian solver at time t.

    Uses the run's history moments nearest t (``postprocess.dispersion``, non-relativistic).
    omega_L(k) = +Re omega_L(|k|) > 0 (LCP), omega_R(k) = -Re omega_R(|k|) < 0 (RCP), as
    functions of the Fourier k (1/d_e0) of :class:`WaveSpectra`; NaN where the root was
    lost or beyond the solved range (no resonance is counted there).

    Parameters
    ----------
    run : postprocess.io.Run
    t : float
        Time (1/omega_pe0).
    k_max : float
        Largest |k| needed (1/d_e0).
    n_k : int
        Points of the (log-spaced) |k| grid.
    """
    from postprocess import dispersion
    from postprocess.omega_k import _species_info

    hist = run.history
    names, charge, mass = _species_info(hist.attrs)
    th = hist["time"]
    i = int(np.argmin(np.abs(th - t)))
    dens = np.array([[hist[f"n_{s}"][i]] for s in names])
    tpe = np.array([[hist[f"T_perp_{s}"][i]] for s in names])
    tpa = np.array([[hist[f"T_par_{s}"][i]] for s in names])
    bx = hist["B_x"][i : i + 1]
    ref = int(np.flatnonzero(charge > 0)[0])
    sp, va, om, d = dispersion.normalised_species(charge, mass, dens[:, 0], tpe[:, 0],
                                                  tpa[:, 0], bx[0], ref)  # fmt: skip
    kk = np.geomspace(1e-3 * k_max, k_max, n_k)  # 1/d_e0
    out: dict[str, Callable[[Array], Array]] = {}
    for mode, sign in (("L", 1.0), ("R", -1.0)):
        try:
            w = dispersion.solve_branch(kk * d, sp, va, mode, on_lost="nan").real * om
        except dispersion.RootLostError as err:
            log.warning("t = %g: %s branch lost (%s): no %s resonance", t, mode, err, mode)
            w = np.full(kk.size, np.nan)
        kk_, w_ = kk.copy(), w.copy()

        def omega(k: Array, kk_=kk_, w_=w_, sign=sign) -> Array:
            ka = np.abs(np.asarray(k, float))
            val = np.interp(ka, kk_, w_, left=0.0, right=np.nan)
            return sign * val

        out[mode] = omega
    log.info("t = %g: dispersion roots (non-relativistic bi-Maxwellian) up to |k| = %g /d_e0",
             t, k_max)  # fmt: skip
    return out


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def _resonance_contours(ax, p_edges: Array, mu_edges: Array, B: float, charge: float,
                        k_levels: Sequence[float], k_scale: float) -> None:  # fmt: skip
    """White dotted curves |k_res(p, mu)| = const (magnetostatic, Fourier |k|)."""
    pp = np.geomspace(p_edges[0], p_edges[-1], 200)
    for kl in k_levels:
        k = kl / k_scale  # 1/d_e0
        for sgn in (1.0, -1.0):
            mu = sgn * abs(charge) * B / (pp * k)
            m = np.abs(mu) <= 1
            if m.any():
                ax.plot(pp[m], mu[m], ls=":", color="w", lw=0.8)


def make_figures(run_path: str | os.PathLike[str], times: Sequence[float], *,
                 species: str | None = None, window: float = 20.0,
                 smooth: int = SMOOTH_POINTS, zero: str = "split",
                 frequencies: str = "magnetostatic", source: str = "insitu", lag: int = 1,
                 measure_window: float | None = None, drift_corrected: bool = False,
                 p_box: tuple[float, float] | None = None,
                 mu_box: tuple[float, float] | None = None, k_unit: str = "d_i0",
                 k_levels: Sequence[float] | None = None, dynamic_range: float = 1e3,
                 out: str | os.PathLike[str] | None = None,
                 pdf: bool = False) -> dict[str, Any]:  # fmt: skip
    """Figures ``dmumu_maps`` (study Fig. 3) and ``dmumu_time`` of a run.

    Parameters
    ----------
    run_path : path-like
    times : sequence of float
        Column times (1/Omega_i0).
    species : str, optional
        Tracer species.
    window : float
        Fourier window of the spectra (1/Omega_i0).
    smooth, zero : see :func:`wave_spectra`.
    frequencies : {"magnetostatic", "dispersion"}
    source : {"insitu", "dumps"}
        Measured D from ``insitu.h5`` or the raw dumps with ``lag``.
    lag : int
        Dump intervals per Delta t (``source="dumps"``).
    measure_window : float, optional
        Intervals whose mid-time is within +- measure_window/2 of each time are merged
        (1/Omega_i0; default ``window``).
    drift_corrected : bool
    p_box, mu_box : (float, float), optional
        Box of the D-vs-time figure (m_e c; pitch cosine); default everything.
    k_unit : {"d_i0", "rho_i0", "d_e0"}
    k_levels : sequence of float, optional
        |k_res| of the drawn resonance contours (1/k_unit); default 5 levels spanning the
        band where the spectra hold 90 % of their power.
    dynamic_range : float
        Colour range of the maps.
    out : path-like, optional
        Output directory (default RUN/figures).
    pdf : bool

    Returns
    -------
    dict
        ``paths``, ``columns`` (per time: ``t``, ``spectra``, ``qlt``, ``measured``,
        ``count``), ``time_series`` (``t``, ``D``, ``err`` of the box, ``qlt_t``,
        ``qlt_D``), ``sums`` (the :class:`DSums`).
    """
    from postprocess import plots
    from postprocess.io import open_run

    run = open_run(run_path)
    omega_ci0 = float(run.param("omega_ci0"))
    scale_t = 1.0 / omega_ci0  # 1/Omega_i0 in 1/omega_pe0
    try:
        k_scale = run.length_scale(k_unit)  # unit length in d_e0
    except KeyError:
        log.warning("no %s in %s: wavenumbers in 1/d_e0", k_unit, run.path)
        k_unit, k_scale = "d_e0", 1.0
    out_dir = Path(out) if out is not None else run.path / "figures"
    sums = (sums_from_insitu(run.path, species) if source == "insitu"
            else sums_from_dumps(run.path, species, lag=lag))  # fmt: skip
    mass = sums.mass
    charge = _tracer_charge(run, sums.species)
    spectra_data = run.spectra()
    mw = (window if measure_window is None else measure_window) * scale_t
    columns = []
    for tt in times:
        t = float(tt) * scale_t
        spec = wave_spectra_run(run, t, window * scale_t, smooth, zero, spectra_data)
        freq: Any = "magnetostatic"
        if frequencies == "dispersion":
            freq = branch_frequencies(run, t, float(np.abs(spec.k).max()))
        q = qlt_dmumu(sums.p_centers, sums.mu_centers, spec, charge=charge, mass=mass,
                      frequencies=freq)  # fmt: skip
        win = (t - 0.5 * mw, t + 0.5 * mw)
        try:
            meas = sums.d_mumu(t_window=win, drift_corrected=drift_corrected)
            cnt = sums.counts(t_window=win)
        except ValueError as err:
            log.warning("t = %g /Omega_i0: %s", tt, err)
            meas = np.full(q.L.shape, np.nan)
            cnt = np.zeros(q.L.shape)
        columns.append({"t": float(tt), "spectra": spec, "qlt": q, "measured": meas,
                        "count": cnt})  # fmt: skip
    t_mid, d_box, err_box = sums.box(p_box, mu_box, drift_corrected)
    qlt_box = np.array([box_average(c["qlt"].total, c["count"], sums.p_centers,
                                    sums.mu_centers, p_box, mu_box) for c in columns])  # fmt: skip
    series = {"t": t_mid / scale_t, "D": d_box / omega_ci0, "err": err_box / omega_ci0,
              "qlt_t": np.array([c["t"] for c in columns]), "qlt_D": qlt_box / omega_ci0}
    paths: list[Path] = []
    with plots.style():
        paths += _figure_maps(plots, out_dir, columns, sums, omega_ci0, k_scale, k_unit,
                              k_levels, dynamic_range, pdf)  # fmt: skip
        paths += _figure_time(plots, out_dir, series, p_box, mu_box, sums, pdf)
    return {"paths": paths, "columns": columns, "time_series": series, "sums": sums}


def _tracer_charge(run: Any, name: str) -> float:
    try:
        attrs = run.history.attrs
        names = [str(n) for n in np.atleast_1d(attrs["species_names"])]
        return float(np.atleast_1d(attrs["species_charge"])[names.index(name)])
    except (KeyError, ValueError, OSError):
        for s in run.params.get("species", []):
            if s.get("name") == name:
                return float(s.get("charge", -1.0))
    return -1.0


def _default_levels(columns: list[dict], k_scale: float) -> list[float]:
    ks = []
    for c in columns:
        s = c["spectra"]
        kabs, sl = s.one_sided("L")
        _, sr = s.one_sided("R")
        tot = sl + sr
        if tot.sum() <= 0:
            continue
        cdf = np.cumsum(tot) / tot.sum()
        ks += [float(np.interp(0.05, cdf, kabs)), float(np.interp(0.95, cdf, kabs))]
    if not ks:
        return []
    lo, hi = max(min(ks), 1e-12), max(ks)
    return list(np.geomspace(lo, hi, 5) * k_scale)


def _figure_maps(plots, out_dir: Path, columns: list[dict], sums: DSums, omega_ci0: float,
                 k_scale: float, k_unit: str, k_levels, dynamic_range: float,
                 pdf: bool) -> list[Path]:  # fmt: skip
    n = len(columns)
    if n == 0:
        return []
    fig, axes = plots.figure(4, n, width=min(2.4 * n + 1.0, 10.0), height=8.0, squeeze=False)
    levels = _default_levels(columns, k_scale) if k_levels is None else list(k_levels)
    pe, me = sums.p_edges, sums.mu_edges
    vals = [a for c in columns for a in (c["qlt"].L, c["qlt"].R, c["measured"])]
    vmax = max([np.nanmax(v) for v in vals if np.isfinite(v).any()] + [1e-300]) / omega_ci0
    norm = plots.log_norm([vmax, vmax / dynamic_range], dynamic_range)
    mappable = None
    for j, c in enumerate(columns):
        ax = axes[0, j]
        s = c["spectra"]
        bsq = s.B**2 if math.isfinite(s.B) and s.B > 0 else 1.0
        for br, color in (("L", plots.LCP_COLOR), ("R", plots.RCP_COLOR)):
            kabs, so = s.one_sided(br)
            m = so > 0
            ax.plot(kabs[m] * k_scale, so[m] / (bsq * k_scale), color=color,
                    label="LCP" if br == "L" else "RCP")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        top = max([float(np.max(ln.get_ydata())) for ln in ax.get_lines()] + [0.0])
        if top > 0:
            ax.set_ylim(top / dynamic_range**2, 2 * top)
        ax.set_xlabel(plots.k_label(k_unit))
        ax.set_title(rf"$t\,\Omega_{{i0}} = {c['t']:.3g}$")
        if j == 0:
            ax.set_ylabel(r"$S_j(|k|)/B^2$ (one-sided avg.)")
            ax.legend(loc="lower left")
        for row, arr in ((1, c["qlt"].L), (2, c["qlt"].R), (3, c["measured"])):
            ax = axes[row, j]
            data = np.where(np.asarray(arr) > 0, arr, np.nan) / omega_ci0
            mappable = ax.pcolormesh(pe, me, data.T, norm=norm, shading="flat",
                                     rasterized=True)  # fmt: skip
            _resonance_contours(ax, pe, me, c["qlt"].B, c["qlt"].charge, levels, k_scale)
            ax.set_xscale("log")
            ax.set_xlim(pe[0], pe[-1])
            ax.set_ylim(me[0], me[-1])
            plots.map_axes(ax)
            if row == 3:
                ax.set_xlabel(r"$p/(m_e c)$")
            if j == 0:
                ax.set_ylabel({1: "QLT (LCP)\n", 2: "QLT (RCP)\n", 3: "measured\n"}[row]
                              + r"$\mu$")  # fmt: skip
    if mappable is not None:
        fig.colorbar(mappable, ax=axes[1:, :].ravel().tolist(), pad=0.02, fraction=0.04,
                     label=r"$D_{\mu\mu}/\Omega_{i0}$")  # fmt: skip
    plots.label_panels(axes.T.ravel())
    paths = plots.save_figure(fig, out_dir, "dmumu_maps", pdf=pdf)
    return paths


def _figure_time(plots, out_dir: Path, series: dict, p_box, mu_box, sums: DSums,
                 pdf: bool) -> list[Path]:  # fmt: skip
    fig, axes = plots.figure(1, 1, width=plots.COLUMN_WIDTH, height=2.6, squeeze=False)
    ax = axes[0, 0]
    ok = np.isfinite(series["D"]) & (series["D"] > 0)
    ax.errorbar(series["t"][ok], series["D"][ok], yerr=series["err"][ok], fmt="o-",
                color=plots.TOTAL_COLOR, ms=2, lw=0.8,
                label=f"measured ({sums.source})")  # fmt: skip
    qok = np.isfinite(series["qlt_D"]) & (series["qlt_D"] > 0)
    if qok.any():
        ax.plot(series["qlt_t"][qok], series["qlt_D"][qok], "s", color=plots.LCP_COLOR,
                label="QLT (L + R)")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel(plots.time_label())
    ax.set_ylabel(r"$\langle D_{\mu\mu}\rangle/\Omega_{i0}$")
    pb = "all p" if p_box is None else f"p in [{p_box[0]:g}, {p_box[1]:g}]"
    mb = "all mu" if mu_box is None else f"mu in [{mu_box[0]:g}, {mu_box[1]:g}]"
    ax.set_title(f"{pb}, {mb}", fontsize=8)
    ax.legend(loc="best")
    return plots.save_figure(fig, out_dir, "dmumu_time", pdf=pdf)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _pair(values: Sequence[float] | None) -> tuple[float, float] | None:
    return None if values is None else (float(values[0]), float(values[1]))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m postprocess.dmumu RUN --times T [T ...]``."""
    ap = argparse.ArgumentParser(prog="python -m postprocess.dmumu",
                                 description="D_mumu measured vs quasi-linear theory "
                                             "(PHYSICS.md 4.3).")  # fmt: skip
    ap.add_argument("run", help="run directory")
    ap.add_argument("--times", type=float, nargs="+", required=True,
                    help="column times (1/Omega_i0)")
    ap.add_argument("--species", default=None, help="tracer species")
    ap.add_argument("--window", type=float, default=20.0,
                    help="Fourier window of the spectra (1/Omega_i0)")
    ap.add_argument("--measure-window", type=float, default=None,
                    help="merge measured intervals within this window (1/Omega_i0)")
    ap.add_argument("--smooth", type=int, default=SMOOTH_POINTS, help="Hann length in k")
    ap.add_argument("--zero", choices=ZERO_MODES, default="split",
                    help="assignment of the omega = 0 power")
    ap.add_argument("--frequencies", choices=("magnetostatic", "dispersion"),
                    default="magnetostatic")
    ap.add_argument("--source", choices=("insitu", "dumps"), default="insitu")
    ap.add_argument("--lag", type=int, default=1, help="Delta t in dump intervals (dumps)")
    ap.add_argument("--drift-corrected", action="store_true")
    ap.add_argument("--p-box", type=float, nargs=2, default=None, help="p range (m_e c)")
    ap.add_argument("--mu-box", type=float, nargs=2, default=None, help="mu range")
    ap.add_argument("--k-unit", choices=("d_i0", "rho_i0", "d_e0"), default="d_i0")
    ap.add_argument("--k-levels", type=float, nargs="+", default=None,
                    help="|k_res| of the resonance contours (1/k-unit)")
    ap.add_argument("--dynamic-range", type=float, default=1e3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pdf", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip
    res = make_figures(args.run, args.times, species=args.species, window=args.window,
                       smooth=args.smooth, zero=args.zero, frequencies=args.frequencies,
                       source=args.source, lag=args.lag, measure_window=args.measure_window,
                       drift_corrected=args.drift_corrected, p_box=_pair(args.p_box),
                       mu_box=_pair(args.mu_box), k_unit=args.k_unit, k_levels=args.k_levels,
                       dynamic_range=args.dynamic_range, out=args.out, pdf=args.pdf)  # fmt: skip
    for c in res["columns"]:
        q, m = c["qlt"], c["measured"]
        print(f"t = {c['t']:g} /Omega_i0: max QLT L {np.nanmax(q.L):.3g}, R {np.nanmax(q.R):.3g},"
              f" measured {np.nanmax(m) if np.isfinite(m).any() else float('nan'):.3g}"
              " (omega_pe0)")
    for p in res["paths"]:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
