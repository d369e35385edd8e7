"""omega-k spectra, spectrograms and polarised wave energy of a run (PHYSICS.md 4.1).

The complex transverse field b(x, t) = delta B_y + i delta B_z of ``spectra.h5`` is
Fourier transformed over x (periodic box, no taper) and over a Hann-tapered time window,
in the convention b = sum_{k, omega} b_hat(k, omega) exp(i (k x - omega t)):

    b_hat(k, omega) = 1/(N_x N_t) sum_{j, n} w_n b(x_j, t_n) exp(-i k x_j + i omega t_n),
    P(k, omega) = |b_hat|^2 / <w^2>,

with w the periodic Hann window and <w^2> = 3/8 its mean square. Then
sum_{k, omega} P = sum_n w_n^2 <|b|^2>_x(t_n) / sum_n w_n^2, the window-weighted mean of
|b|^2 = delta B_y^2 + delta B_z^2 (Parseval); for a stationary signal this is <|b|^2>.

With B0 along +x, omega > 0 is left-hand circular polarisation (LCP, the sense of ion
gyration; ion-cyclotron waves) and omega < 0 is right-hand (RCP, electron sense;
whistlers). omega/k > 0 is forward (phase velocity along +B0), omega/k < 0 backward.
The derivation is in docs/postprocess.md. Power at omega = 0 belongs to neither and is
reported separately; power at k = 0 has no direction.

Wavenumbers are co-moving (equal to physical ones for a_x = 1, the reference setup).

Public API: :func:`hann`, :func:`omega_k_power`, :func:`omega_k_transform`,
:func:`sliding_windows`, :func:`spectrogram`, :func:`wave_energy_vs_time`,
:func:`plot_omega_k`, :func:`plot_dispersion_roots`, :func:`alias_frequency`,
:func:`dispersion_at_times`, :func:`make_figures` and the command line
``python -m postprocess.omega_k RUN``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike, NDArray

from postprocess import plots

log = logging.getLogger(__name__)

__all__ = [
    "DispersionCurves",
    "Spectrogram",
    "WaveEnergy",
    "alias_frequency",
    "dispersion_at_times",
    "hann",
    "main",
    "make_figures",
    "omega_k_power",
    "omega_k_transform",
    "plot_dispersion_roots",
    "plot_omega_k",
    "sliding_windows",
    "spectrogram",
    "wave_energy_vs_time",
]

#: mean square of the periodic Hann window (exact for N >= 3)
HANN_MEAN_SQUARE = 3.0 / 8.0


# --------------------------------------------------------------------------------------
# Core transforms (plain arrays)
# --------------------------------------------------------------------------------------
def hann(n: int) -> NDArray[np.float64]:
    """Periodic ("DFT-even") Hann window w_j = (1 - cos(2 pi j / n)) / 2, j = 0..n-1.

    Its DFT has exactly three non-zero bins (1/2 at 0, -1/4 at +-1 in units of n), so an
    on-bin tone puts 2/3 of its power in its own frequency cell and 1/6 in each neighbour.
    """
    if n < 1:
        raise ValueError("window length must be >= 1")
    j = np.arange(n)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * j / n)


def _spacing(a: NDArray[np.float64], what: str) -> float:
    """Uniform spacing of a 1D axis (warn if not uniform to 1e-6)."""
    if a.size < 2:
        raise ValueError(f"{what} axis needs at least two points")
    d = np.diff(a)
    step = float(np.mean(d))
    if step <= 0:
        raise ValueError(f"{what} axis must be increasing")
    if np.max(np.abs(d - step)) > 1e-6 * abs(step):
        log.warning("%s axis is not uniform (spacing %g to %g); using the mean %g",
                    what, d.min(), d.max(), step)
    return step


def omega_k_transform(
    time: ArrayLike,
    x: ArrayLike,
    b: ArrayLike,
    taper: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Power spectrum P(k, omega) of a complex field b(t, x) in the exp(i(kx - wt)) convention.

    Parameters
    ----------
    time : array_like, shape (n_t,)
        Uniformly spaced sample times (any unit T).
    x : array_like, shape (n_x,)
        Uniformly spaced positions of a periodic box (any unit X; box length n_x dx).
    b : array_like, shape (n_t, n_x)
        Complex field, e.g. delta B_y + i delta B_z.
    taper : bool
        Apply the periodic Hann window in time (True) or a rectangular one.

    Returns
    -------
    k : numpy.ndarray, shape (n_x,)
        Angular wavenumbers in rad / X, ascending (0 included; for even n_x the Nyquist
        wavenumber appears once, at -pi/dx).
    omega : numpy.ndarray, shape (n_t,)
        Angular frequencies in rad / T, ascending (likewise).
    P : numpy.ndarray, shape (n_t, n_x)
        Power per (omega, k) cell, in units of |b|^2, indexed ``P[i_omega, i_k]``.
        ``P.sum()`` is the window-weighted mean of |b|^2 over x and t.
    """
    t = np.asarray(time, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    bb = np.asarray(b, dtype=np.complex128)
    n_t, n_x = bb.shape
    if t.shape != (n_t,) or xx.shape != (n_x,):
        raise ValueError(f"shapes do not match: time {t.shape}, x {xx.shape}, b {bb.shape}")
    dt = _spacing(t, "time")
    dx = _spacing(xx, "x") if n_x > 1 else 1.0
    w = hann(n_t) if taper else np.ones(n_t)
    norm = float(np.mean(w * w))
    # x: sum_j b exp(-i k x_j) (numpy forward FFT); t: (1/N_t) sum_n b exp(+i omega t_n)
    # (numpy inverse FFT), so that a wave exp(i(k0 x - omega0 t)) peaks at (k0, omega0).
    spec = np.fft.ifft(np.fft.fft(bb * w[:, None], axis=1), axis=0) / n_x
    power = (spec.real**2 + spec.imag**2) / norm
    k = 2.0 * np.pi * np.fft.fftfreq(n_x, dx)
    omega = 2.0 * np.pi * np.fft.fftfreq(n_t, dt)
    return np.fft.fftshift(k), np.fft.fftshift(omega), np.fft.fftshift(power)


def omega_k_power(
    time: ArrayLike,
    x: ArrayLike,
    dBy: ArrayLike,
    dBz: ArrayLike,
    t_window: tuple[float, float] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """P(k, omega) of b = dBy + i dBz over one Hann-tapered time window.

    omega > 0: LCP (ion sense), omega < 0: RCP (electron sense); omega/k > 0: forward.

    Parameters
    ----------
    time : array_like, shape (n_t,)
        Sample times (unit T; e.g. 1/omega_pe0, or 1/Omega_i0 to get omega in Omega_i0).
    x : array_like, shape (n_x,)
        Positions of a periodic box (unit X; e.g. d_e0, or d_i0 to get k in 1/d_i0).
    dBy, dBz : array_like, shape (n_t, n_x)
        Transverse magnetic fluctuations (any unit B).
    t_window : (float, float), optional
        Use only the rows with t_window[0] <= time < t_window[1]; default all rows.

    Returns
    -------
    k : numpy.ndarray, shape (n_x,)
        rad / X, ascending.
    omega : numpy.ndarray, shape (n_w,)
        rad / T, ascending.
    P : numpy.ndarray, shape (n_w, n_x)
        Power per cell in B^2, ``P[i_omega, i_k]``; sums to the Hann^2-weighted mean of
        dBy^2 + dBz^2 over the window.
    """
    t = np.asarray(time, dtype=np.float64)
    by = np.asarray(dBy)
    bz = np.asarray(dBz)
    sel = slice(None)
    if t_window is not None:
        idx = np.flatnonzero((t >= t_window[0]) & (t < t_window[1]))
        if idx.size < 2:
            raise ValueError(f"fewer than two samples in the time window {t_window}")
        sel = slice(int(idx[0]), int(idx[-1]) + 1)
    b = by[sel].astype(np.complex128) + 1j * bz[sel]
    return omega_k_transform(t[sel], x, b)


def sliding_windows(time: ArrayLike, window: float, overlap: float = 0.5) -> list[slice]:
    """Row slices of sliding time windows.

    Parameters
    ----------
    time : array_like, shape (n_t,)
        Sample times (unit T, uniform).
    window : float
        Window length in T; rounded to ``n_w = max(2, round(window / dt))`` samples.
    overlap : float
        Fraction of a window shared with the next one, in [0, 1). The hop is
        ``max(1, round(n_w (1 - overlap)))`` samples.

    Returns
    -------
    list of slice
        Windows of exactly n_w rows that fit in the data. If the data are shorter than
        one window, a single window of all rows (with a warning).
    """
    t = np.asarray(time, dtype=np.float64)
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be in [0, 1)")
    if t.size < 2:
        raise ValueError("need at least two time samples")
    dt = _spacing(t, "time")
    n_w = max(2, int(round(window / dt)))
    if n_w > t.size:
        log.warning("only %d samples, fewer than one window of %d: using one window",
                    t.size, n_w)
        return [slice(0, t.size)]
    hop = max(1, int(round(n_w * (1.0 - overlap))))
    return [slice(s, s + n_w) for s in range(0, t.size - n_w + 1, hop)]


@dataclass
class Spectrogram:
    """Power of b = dBy + i dBz in sliding Hann windows, split by polarisation.

    Units follow the inputs: T for time, rad/T for omega, rad/X for k, B^2 for powers.
    Sums over a window satisfy total = lcp + rcp + zero (exactly, up to round-off).

    Attributes
    ----------
    t : (n_win,) window centres (mean sample time), T.
    t_start, t_end : (n_win,) first and last sample time of each window, T.
    k : (n_k,) ascending wavenumbers.  omega : (n_w,) ascending frequencies.
    window : float, window duration n_w dt (T).  n_window : int samples per window.
    P_omega : (n_win, n_w) power summed over k.
    P_k_lcp, P_k_rcp, P_k_zero : (n_win, n_k) power summed over omega > 0, < 0, = 0.
    total, lcp, rcp, zero : (n_win,) power summed over the spectrum and its parts.
    lcp_forward, lcp_backward, rcp_forward, rcp_backward : (n_win,) LCP/RCP power with
        omega/k > 0 (forward) or < 0 (backward); the k = 0 column is in neither.
    omega_nyquist, k_nyquist : float, pi/dt and pi/dx.
    d_omega, d_k : float, bin widths 2 pi/(n_w dt) and 2 pi/(n_x dx).
    """

    t: NDArray[np.float64]
    t_start: NDArray[np.float64]
    t_end: NDArray[np.float64]
    k: NDArray[np.float64]
    omega: NDArray[np.float64]
    window: float
    n_window: int
    P_omega: NDArray[np.float64]
    P_k_lcp: NDArray[np.float64]
    P_k_rcp: NDArray[np.float64]
    P_k_zero: NDArray[np.float64]
    total: NDArray[np.float64]
    lcp: NDArray[np.float64]
    rcp: NDArray[np.float64]
    zero: NDArray[np.float64]
    lcp_forward: NDArray[np.float64]
    lcp_backward: NDArray[np.float64]
    rcp_forward: NDArray[np.float64]
    rcp_backward: NDArray[np.float64]
    omega_nyquist: float
    k_nyquist: float
    d_omega: float
    d_k: float


def spectrogram(
    time: ArrayLike,
    x: ArrayLike,
    dBy: ArrayLike,
    dBz: ArrayLike,
    window: float,
    overlap: float = 0.5,
) -> Spectrogram:
    """Sliding-window omega-k power, reduced to (t, omega) and (t, k) spectrograms.

    Parameters
    ----------
    time : array_like, shape (n_t,)
        Sample times (unit T).
    x : array_like, shape (n_x,)
        Positions of the periodic box (unit X).
    dBy, dBz : array_like, shape (n_t, n_x)
        Transverse magnetic fluctuations (unit B).
    window : float
        Window length (T), see :func:`sliding_windows`.
    overlap : float
        Overlap fraction of consecutive windows.

    Returns
    -------
    Spectrogram
    """
    t = np.asarray(time, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    by, bz = np.asarray(dBy), np.asarray(dBz)
    wins = sliding_windows(t, window, overlap)
    rows: dict[str, list[Any]] = {key: [] for key in (
        "t", "t0", "t1", "Pw", "Pl", "Pr", "P0", "tot", "l", "r", "z", "lf", "lb", "rf", "rb")}
    k = omega = np.empty(0)
    for sl in wins:
        b = by[sl].astype(np.complex128) + 1j * bz[sl]
        k, omega, p = omega_k_transform(t[sl], xx, b)
        pos, neg, nul = omega > 0, omega < 0, omega == 0
        kp, kn = k > 0, k < 0
        pk_l, pk_r = p[pos].sum(axis=0), p[neg].sum(axis=0)
        rows["t"].append(float(np.mean(t[sl])))
        rows["t0"].append(float(t[sl][0]))
        rows["t1"].append(float(t[sl][-1]))
        rows["Pw"].append(p.sum(axis=1))
        rows["Pl"].append(pk_l)
        rows["Pr"].append(pk_r)
        rows["P0"].append(p[nul].sum(axis=0))
        rows["tot"].append(float(p.sum()))
        rows["l"].append(float(pk_l.sum()))
        rows["r"].append(float(pk_r.sum()))
        rows["z"].append(float(p[nul].sum()))
        rows["lf"].append(float(pk_l[kp].sum()))
        rows["lb"].append(float(pk_l[kn].sum()))
        rows["rf"].append(float(pk_r[kn].sum()))
        rows["rb"].append(float(pk_r[kp].sum()))
    dt = _spacing(t, "time")
    dx = _spacing(xx, "x") if xx.size > 1 else 1.0
    n_w = wins[0].stop - wins[0].start
    arr = {key: np.asarray(v, dtype=np.float64) for key, v in rows.items()}
    return Spectrogram(
        t=arr["t"], t_start=arr["t0"], t_end=arr["t1"], k=k, omega=omega,
        window=n_w * dt, n_window=n_w, P_omega=arr["Pw"], P_k_lcp=arr["Pl"],
        P_k_rcp=arr["Pr"], P_k_zero=arr["P0"], total=arr["tot"], lcp=arr["l"],
        rcp=arr["r"], zero=arr["z"], lcp_forward=arr["lf"], lcp_backward=arr["lb"],
        rcp_forward=arr["rf"], rcp_backward=arr["rb"], omega_nyquist=math.pi / dt,
        k_nyquist=math.pi / dx, d_omega=2 * math.pi / (n_w * dt),
        d_k=2 * math.pi / (xx.size * dx),
    )


@dataclass
class WaveEnergy:
    """Magnetic wave energy density vs time, total and split by polarisation.

    Energy density is <|b|^2>/2 = <dB_y^2 + dB_z^2>/2 (code units: B^2/2, Heaviside-
    Lorentz; multiply by the box length for the energy per unit area of history.h5).

    Attributes
    ----------
    t : (n_win,) window centres (T).
    total, lcp, rcp, zero : (n_win,) Hann^2-weighted window averages (B^2); total =
        lcp + rcp + zero.
    lcp_forward, lcp_backward, rcp_forward, rcp_backward : (n_win,) (B^2).
    t_raw : (n_t,) every sample time.  total_raw : (n_t,) <|b|^2>_x / 2 at each sample.
    """

    t: NDArray[np.float64]
    total: NDArray[np.float64]
    lcp: NDArray[np.float64]
    rcp: NDArray[np.float64]
    zero: NDArray[np.float64]
    lcp_forward: NDArray[np.float64]
    lcp_backward: NDArray[np.float64]
    rcp_forward: NDArray[np.float64]
    rcp_backward: NDArray[np.float64]
    t_raw: NDArray[np.float64]
    total_raw: NDArray[np.float64]


def wave_energy_vs_time(
    time: ArrayLike,
    x: ArrayLike,
    dBy: ArrayLike,
    dBz: ArrayLike,
    window: float,
    overlap: float = 0.5,
    spec: Spectrogram | None = None,
) -> WaveEnergy:
    """Total, LCP and RCP magnetic wave energy density in sliding Hann windows.

    Parameters
    ----------
    time, x, dBy, dBz, window, overlap
        As in :func:`spectrogram`.
    spec : Spectrogram, optional
        A spectrogram of the same data and windows (avoids recomputing it).

    Returns
    -------
    WaveEnergy
        Energy densities <.>/2 in B^2 (see the class).
    """
    if spec is None:
        spec = spectrogram(time, x, dBy, dBz, window, overlap)
    by, bz = np.asarray(dBy, dtype=np.float64), np.asarray(dBz, dtype=np.float64)
    raw = 0.5 * np.mean(by * by + bz * bz, axis=1)
    return WaveEnergy(
        t=spec.t, total=0.5 * spec.total, lcp=0.5 * spec.lcp, rcp=0.5 * spec.rcp,
        zero=0.5 * spec.zero, lcp_forward=0.5 * spec.lcp_forward,
        lcp_backward=0.5 * spec.lcp_backward, rcp_forward=0.5 * spec.rcp_forward,
        rcp_backward=0.5 * spec.rcp_backward, t_raw=np.asarray(time, dtype=np.float64),
        total_raw=raw,
    )


def alias_frequency(omega: ArrayLike, omega_nyquist: float) -> NDArray[np.float64]:
    """Frequency at which a signal of frequency ``omega`` appears after sampling.

    Folds omega into [-omega_nyquist, omega_nyquist): ((omega + w_N) mod 2 w_N) - w_N.
    """
    w = np.asarray(omega, dtype=np.float64)
    return np.mod(w + omega_nyquist, 2.0 * omega_nyquist) - omega_nyquist


# --------------------------------------------------------------------------------------
# Plotting on plain arrays
# --------------------------------------------------------------------------------------
def _edges(c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cell edges of ascending uniformly spaced centres."""
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    d = c[1] - c[0]
    return np.concatenate([c - 0.5 * d, [c[-1] + 0.5 * d]])


def plot_omega_k(
    ax: Axes,
    k: ArrayLike,
    omega: ArrayLike,
    P: ArrayLike,
    *,
    norm: Any = None,
    dynamic_range: float = 1e6,
    k_unit: str = "d_i0",
    omega_unit: str = "Omega_i0",
    colorbar: bool = True,
    cbar_label: str = r"$P(k,\omega)/B_0^2$",
    omega_nyquist: float | None = None,
    resolution: tuple[float, float] | None = None,
    k_lim: tuple[float, float] | None = None,
    omega_lim: tuple[float, float] | None = None,
    quadrant_labels: bool = True,
) -> Any:
    """Draw P(k, omega) on ``ax`` with a logarithmic colour scale.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    k : (n_k,) ascending wavenumbers, in the plot unit (e.g. 1/d_i0).
    omega : (n_w,) ascending frequencies, in the plot unit (e.g. Omega_i0).
    P : (n_w, n_k) power per cell (e.g. normalised by B0^2).
    norm : matplotlib.colors.Normalize, optional
        Colour normalisation (default :func:`postprocess.plots.log_norm`).
    dynamic_range : float
        Decades shown below the maximum when ``norm`` is None.
    k_unit, omega_unit : str
        Units named in the axis labels.
    colorbar : bool
        Attach a labelled colour bar.
    cbar_label : str
        Its label.
    omega_nyquist : float, optional
        Sampling Nyquist frequency (plot unit): marked by dashed lines at +-omega_nyquist
        (the aliasing limit) when inside the axes.
    resolution : (float, float), optional
        (d_k, d_omega) bin widths (plot units), written in a corner.
    k_lim, omega_lim : (float, float), optional
        Axis limits.
    quadrant_labels : bool
        Write "LCP" / "RCP" in the omega > 0 / omega < 0 halves.

    Returns
    -------
    matplotlib.collections.QuadMesh
    """
    kk = np.asarray(k, dtype=float)
    ww = np.asarray(omega, dtype=float)
    pp = np.asarray(P, dtype=float)
    if norm is None:
        norm = plots.log_norm(pp, dynamic_range)
    floor = getattr(norm, "vmin", None) or 0.0
    mesh = ax.pcolormesh(_edges(kk), _edges(ww), np.maximum(pp, floor), norm=norm,
                         shading="flat", rasterized=True)
    plots.map_axes(ax)
    ax.axhline(0.0, color="w", lw=0.4, alpha=0.6)
    ax.axvline(0.0, color="w", lw=0.4, alpha=0.6)
    if k_lim is not None:
        ax.set_xlim(*k_lim)
    if omega_lim is not None:
        ax.set_ylim(*omega_lim)
    if omega_nyquist is not None:
        lo, hi = ax.get_ylim()
        for s in (-1.0, 1.0):
            if lo <= s * omega_nyquist <= hi:
                ax.axhline(s * omega_nyquist, color="c", ls="--", lw=0.7)
        ax.text(0.02, 0.08, rf"$|\omega|\leq\omega_{{Ny}}={omega_nyquist:.3g}$",
                transform=ax.transAxes, ha="left", va="bottom", color="w", fontsize=6.5)
    if resolution is not None:
        ax.text(0.02, 0.02, rf"$\Delta k={resolution[0]:.2g}$, $\Delta\omega={resolution[1]:.2g}$",
                transform=ax.transAxes, ha="left", va="bottom", color="w", fontsize=6.5)
    if quadrant_labels:
        ax.text(0.98, 0.97, "LCP", transform=ax.transAxes, ha="right", va="top",
                color="w", fontsize=7)
        ax.text(0.98, 0.47, "RCP", transform=ax.transAxes, ha="right", va="top",
                color="w", fontsize=7)
    ax.set_xlabel(plots.k_label(k_unit))
    ax.set_ylabel(plots.omega_label(omega_unit))
    if colorbar:
        plots.add_colorbar(ax, mesh, cbar_label)
    return mesh


@dataclass
class DispersionCurves:
    """L and R roots of the bi-Maxwellian parallel dispersion relation at given times.

    Converted to plot units: k in 1/``k_unit`` (the unit of the run's length scale),
    omega and gamma in Omega_i0. L roots have omega > 0 (LCP), R roots are stored with
    the positive frequency of the dispersion solver and drawn at -omega_r (RCP).

    Attributes
    ----------
    time : (n,) times (1/omega_pe0).
    k_L, k_R : (n, n_k) wavenumbers (plot units).
    omega_L, omega_R : (n, n_k) complex roots (Omega_i0); NaN where lost.
    band_L, band_R : (n, 4) arrays: k_lo, k_hi, omega_r(k_lo), omega_r(k_hi) of the
        unstable band containing the fastest mode (NaN if none).
    gamma_max_L, gamma_max_R : (n,) maximum growth rate (Omega_i0).
    """

    time: NDArray[np.float64]
    k_L: NDArray[np.float64]
    k_R: NDArray[np.float64]
    omega_L: NDArray[np.complex128]
    omega_R: NDArray[np.complex128]
    band_L: NDArray[np.float64]
    band_R: NDArray[np.float64]
    gamma_max_L: NDArray[np.float64]
    gamma_max_R: NDArray[np.float64]
    extra: dict[str, Any] = field(default_factory=dict)


def plot_dispersion_roots(
    ax: Axes,
    k: ArrayLike,
    omega_L: ArrayLike | None,
    omega_R: ArrayLike | None,
    *,
    k_R: ArrayLike | None = None,
    omega_nyquist: float | None = None,
    both_directions: bool = True,
    legend: bool = True,
) -> None:
    """Draw L roots at +omega_r(|k|) and R roots at -omega_r(|k|) on an omega-k plot.

    Unstable parts (gamma > 0) are drawn thicker. Where |omega_r| exceeds
    ``omega_nyquist``, the aliased frequency (:func:`alias_frequency`) is drawn dotted.

    Parameters
    ----------
    ax : Axes
    k : (n_k,) positive wavenumbers of the L roots (plot units).
    omega_L, omega_R : (n_k,) complex roots (plot units); either may be None.
    k_R : (n_k,), optional
        Wavenumbers of the R roots (default ``k``).
    omega_nyquist : float, optional
        Sampling Nyquist frequency (plot units).
    both_directions : bool
        Also draw the backward branch (-k).
    legend : bool
        Label the curves.
    """
    kl = np.asarray(k, dtype=float)
    kr = kl if k_R is None else np.asarray(k_R, dtype=float)
    signs = (1.0, -1.0) if both_directions else (1.0,)
    for kk, w, pol, col, name in ((kl, omega_L, 1.0, "#7fdbff", "L (IC)"),
                                  (kr, omega_R, -1.0, "#b7f77a", "R (whistler)")):
        if w is None:
            continue
        ww = np.asarray(w, dtype=np.complex128)
        wr = pol * ww.real
        unstable = np.where(ww.imag > 0, wr, np.nan)
        for j, s in enumerate(signs):
            lab = name if (legend and j == 0) else None
            inside = wr if omega_nyquist is None else np.where(np.abs(wr) <= omega_nyquist,
                                                               wr, np.nan)
            ax.plot(s * kk, inside, color=col, lw=0.8, ls="--", label=lab)
            ax.plot(s * kk, unstable, color=col, lw=2.0, solid_capstyle="butt")
            if omega_nyquist is not None and np.any(np.abs(wr) > omega_nyquist):
                folded = np.where(np.abs(wr) > omega_nyquist,
                                  alias_frequency(wr, omega_nyquist), np.nan)
                ax.plot(s * kk, folded, color=col, lw=0.7, ls=":",
                        label=(f"{name}, aliased" if (legend and j == 0) else None))
    if legend:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 0.13), fontsize=6, labelcolor="w")


# --------------------------------------------------------------------------------------
# Run-directory glue
# --------------------------------------------------------------------------------------
def _species_info(attrs: dict[str, Any]) -> tuple[list[str], NDArray, NDArray]:
    names = [str(n) for n in np.atleast_1d(attrs["species_names"])]
    charge = np.asarray(attrs["species_charge"], dtype=float).reshape(-1)
    mass = np.asarray(attrs["species_mass"], dtype=float).reshape(-1)
    tracer = np.asarray(attrs.get("species_tracer", np.zeros(len(names), bool)),
                        dtype=bool).reshape(-1)
    keep = [i for i in range(len(names)) if not tracer[i]]
    return [names[i] for i in keep], charge[keep], mass[keep]


def dispersion_at_times(
    run: Any,
    times: ArrayLike,
    *,
    length_scale: float,
    omega_ci0: float,
) -> DispersionCurves | None:
    """Bi-Maxwellian L/R roots from the run's moments at the history rows nearest ``times``.

    Uses ``n_<sp>``, ``T_perp_<sp>``, ``T_par_<sp>``, ``B_x`` and the species attributes of
    the (complete rows of the) run's history (tracers skipped) and
    :func:`postprocess.dispersion.dispersion_history` (non-relativistic).

    Parameters
    ----------
    run : postprocess.io.Run
    times : array_like
        Times in 1/omega_pe0.
    length_scale : float
        The plot length unit in d_e0 (d_i0 or rho_i0): k is returned in 1/that unit.
    omega_ci0 : float
        Omega_i0 / omega_pe0: frequencies are returned in Omega_i0.

    Returns
    -------
    DispersionCurves or None
        None (with a warning) if the history lacks the moments or the solver fails.
    """
    from postprocess import dispersion

    try:
        hist = run.history
        names, charge, mass = _species_info(hist.attrs)
        th = hist["time"]
        idx = np.unique([int(np.argmin(np.abs(th - tt))) for tt in np.atleast_1d(times)])
        dens = np.array([hist[f"n_{s}"][idx] for s in names])
        tpe = np.array([hist[f"T_perp_{s}"][idx] for s in names])
        tpa = np.array([hist[f"T_par_{s}"][idx] for s in names])
        bx = hist["B_x"][idx]
        dh = dispersion.dispersion_history(th[idx], charge, mass, dens, tpe, tpa, bx)
    except (KeyError, ValueError, RuntimeError, OSError) as err:
        log.warning("no dispersion roots: %s", err)
        return None
    ks = length_scale / dh.d_ref  # k [1/d_ref] -> k [1/length unit]
    ws = dh.omega_ref / omega_ci0  # omega [Omega_ref] -> omega [Omega_i0]

    def band(mode: str, bands: list[Any]) -> NDArray[np.float64]:
        out = np.full((len(bands), 4), np.nan)
        for i, b in enumerate(bands):
            if b is None or not np.isfinite(b.k_lo):
                continue
            good = np.isfinite(b.omega)
            wr = np.interp([b.k_lo, b.k_hi], b.k[good], b.omega.real[good])
            out[i] = [b.k_lo * ks[i], b.k_hi * ks[i], wr[0] * ws[i], wr[1] * ws[i]]
        return out

    gl = dh.band_arrays("L")["gamma_max"] * ws
    gr = dh.band_arrays("R")["gamma_max"] * ws
    return DispersionCurves(
        time=dh.time, k_L=dh.k_L[None, :] * ks[:, None], k_R=dh.k_R[None, :] * ks[:, None],
        omega_L=dh.omega_L * ws[:, None], omega_R=dh.omega_R * ws[:, None],
        band_L=band("L", dh.band_L), band_R=band("R", dh.band_R), gamma_max_L=gl,
        gamma_max_R=gr, extra={"note": dispersion.NONRELATIVISTIC_NOTE},
    )


def _window_at(t: NDArray[np.float64], centre: float, n_w: int) -> slice:
    """The n_w consecutive rows whose centre is nearest ``centre`` (clipped to the data)."""
    n_w = min(n_w, t.size)
    start = int(np.argmin(np.abs(t - centre))) - n_w // 2
    start = min(max(start, 0), t.size - n_w)
    return slice(start, start + n_w)


def make_figures(
    run_path: str | os.PathLike[str],
    *,
    window: float = 20.0,
    overlap: float = 0.5,
    times: Sequence[float] | None = None,
    out: str | os.PathLike[str] | None = None,
    pdf: bool = False,
    k_unit: str = "d_i0",
    omega_max: float | None = None,
    k_max: float | None = None,
    band_points: int = 20,
    dispersion: bool = True,
    dynamic_range: float = 1e6,
) -> dict[str, Any]:
    """Write the omega-k figures of a run and return the data behind them.

    Figures (in ``out``, default ``RUN/figures``): ``omega_k`` (P(k, omega) panels at
    ``times`` with the L/R roots), ``omega_k_spectrogram`` (power vs (t, omega) and, for
    LCP and RCP, vs (t, k sgn omega) with the unstable bands) and ``wave_energy``.

    Parameters
    ----------
    run_path : path-like
        Run directory (run.json, history.h5, spectra.h5).
    window : float
        Time window length in 1/Omega_i0.
    overlap : float
        Overlap fraction of the spectrogram windows.
    times : sequence of float, optional
        Window centres of the P(k, omega) panels in 1/Omega_i0 (default: three times
        spread over the run).
    out : path-like, optional
        Output directory.
    pdf : bool
        Also write PDF files.
    k_unit : {"d_i0", "rho_i0"}
        Length unit of wavenumbers.
    omega_max, k_max : float, optional
        Axis limits |omega| (Omega_i0) and |k| (1/k_unit) of the omega-k panels.
    band_points : int
        Number of history times at which the unstable bands are solved.
    dispersion : bool
        Draw dispersion roots and bands.
    dynamic_range : float
        Colour range (max/min) of the power maps.

    Returns
    -------
    dict
        ``paths`` (list of Path), ``panels`` (list of dicts with ``t`` (1/Omega_i0),
        ``k`` (1/k_unit), ``omega`` (Omega_i0), ``P`` (P/B0^2), ``roots``
        (DispersionCurves or None)), ``spectrogram`` (Spectrogram with t in 1/Omega_i0,
        omega in Omega_i0, k in 1/k_unit, powers / B0^2), ``energy`` (WaveEnergy: t in
        1/Omega_i0, energy densities divided by B0^2, so 2 E = <dB^2>/B0^2), ``roots``
        (DispersionCurves at the panel times or None) and ``bands`` (DispersionCurves at
        ``band_points`` history times, or None).
    """
    from postprocess.io import open_run

    run = open_run(run_path)
    om = float(run.param("omega_ci0"))
    b0 = float(run.param("B0"))
    lscale = float(run.length_scale(k_unit))
    sp = run.spectra()
    if sp.time.size < 2:
        raise ValueError(f"{run.path}/spectra.h5 has fewer than two complete rows")
    _check_comoving(run)
    t_i = sp.time * om  # 1/Omega_i0
    x_u = sp.x / lscale  # k_unit
    b2 = b0 * b0
    by, bz = sp.dBy / b0, sp.dBz / b0  # normalised: powers come out in B0^2
    out_dir = Path(out) if out is not None else run.path / "figures"
    paths: list[Path] = []
    result: dict[str, Any] = {"paths": paths}

    # ---- P(k, omega) panels
    dt_i = _spacing(t_i, "time")
    n_w = min(max(2, int(round(window / dt_i))), t_i.size)
    if times is None:
        lo, hi = t_i[0] + 0.5 * n_w * dt_i, t_i[-1] - 0.5 * n_w * dt_i
        times = [lo] if hi <= lo else list(np.linspace(lo, hi, 3))
    wins = [_window_at(t_i, float(tc), n_w) for tc in times]
    centres = [float(np.mean(t_i[w])) for w in wins]
    roots = None
    if dispersion:
        roots = dispersion_at_times(run, np.asarray(centres) / om, length_scale=lscale,
                                    omega_ci0=om)
    panels = []
    for j, w in enumerate(wins):
        b = by[w].astype(np.complex128) + 1j * bz[w]
        k, omg, p = omega_k_transform(t_i[w], x_u, b)
        r_i = None
        if roots is not None:
            r_i = int(np.argmin(np.abs(roots.time * om - centres[j])))
        panels.append({"t": centres[j], "t_range": (float(t_i[w][0]), float(t_i[w][-1])),
                       "k": k, "omega": omg, "P": p, "root_index": r_i,
                       "omega_nyquist": math.pi / dt_i,
                       "d_k": 2 * math.pi / (x_u.size * _spacing(x_u, "x")),
                       "d_omega": 2 * math.pi / (w.stop - w.start) / dt_i})
    result["panels"] = panels
    result["roots"] = roots

    # ---- spectrogram and wave energy
    spec = spectrogram(t_i, x_u, by, bz, window, overlap)
    energy = wave_energy_vs_time(t_i, x_u, by, bz, window, overlap, spec=spec)
    result["spectrogram"] = spec
    result["energy"] = energy
    bands = None
    if dispersion:
        hist_t = run.history["time"] * om
        hist_t = hist_t[(hist_t >= t_i[0]) & (hist_t <= t_i[-1])]
        if hist_t.size:
            pick = np.unique(np.linspace(0, hist_t.size - 1, max(1, band_points)).round()
                             .astype(int))
            bands = dispersion_at_times(run, hist_t[pick] / om, length_scale=lscale,
                                        omega_ci0=om)
    result["bands"] = bands

    with plots.style():
        paths += _figure_panels(out_dir, panels, roots, k_unit, omega_max, k_max,
                                dynamic_range, pdf)
        paths += _figure_spectrogram(out_dir, spec, bands, om, k_unit, dynamic_range, pdf)
        paths += _figure_energy(out_dir, energy, pdf)
    log.info("P(k, omega): powers normalised by B0^2 = %g; frequencies in Omega_i0 = %g "
             "omega_pe0; k in 1/%s", b2, om, k_unit)
    return result


def _check_comoving(run: Any) -> None:
    try:
        a_x = run.history["a_x"]
    except (KeyError, OSError):
        return
    if a_x.size and np.max(np.abs(a_x - 1.0)) > 1e-6:
        log.warning("a_x varies (%.4g..%.4g): wavenumbers are co-moving (k' = a_x k)",
                    a_x.min(), a_x.max())


def _figure_panels(out_dir: Path, panels: list[dict[str, Any]], roots: DispersionCurves | None,
                   k_unit: str, omega_max: float | None, k_max: float | None,
                   dynamic_range: float, pdf: bool) -> list[Path]:
    n = len(panels)
    fig, axes = plots.figure(1, n, width=min(plots.PAGE_WIDTH, 2.6 * n + 0.6), height=2.6,
                             squeeze=False)
    vmax = max(float(np.max(p["P"])) for p in panels)
    norm = plots.log_norm([vmax], dynamic_range, vmax=vmax if vmax > 0 else 1.0)
    for j, (ax, p) in enumerate(zip(axes[0], panels, strict=True)):
        klim = (-k_max, k_max) if k_max else None
        wlim = (-omega_max, omega_max) if omega_max else None
        mesh = plot_omega_k(ax, p["k"], p["omega"], p["P"], norm=norm, k_unit=k_unit,
                            colorbar=False, omega_nyquist=p["omega_nyquist"],
                            resolution=(p["d_k"], p["d_omega"]), k_lim=klim, omega_lim=wlim)
        if roots is not None and p["root_index"] is not None:
            i = p["root_index"]
            ylim, xlim = ax.get_ylim(), ax.get_xlim()
            plot_dispersion_roots(ax, roots.k_L[i], roots.omega_L[i], roots.omega_R[i],
                                  k_R=roots.k_R[i], omega_nyquist=p["omega_nyquist"],
                                  legend=(j == 0))
            ax.set_ylim(ylim)
            ax.set_xlim(xlim)
        t0, t1 = p["t_range"]
        ax.set_title(rf"$t\,\Omega_{{i0}}\in[{t0:.3g},{t1:.3g}]$")
        if j:
            ax.set_ylabel("")
    plots.label_panels(axes[0])
    plots.add_colorbar(axes[0, -1], mesh, r"$P(k,\omega)/B_0^2$ per cell")
    paths = plots.save_figure(fig, out_dir, "omega_k", pdf=pdf)
    return paths


def _figure_spectrogram(out_dir: Path, spec: Spectrogram, bands: DispersionCurves | None,
                        om: float, k_unit: str, dynamic_range: float,
                        pdf: bool) -> list[Path]:
    fig, axes = plots.figure(3, 1, width=plots.COLUMN_WIDTH + 0.6, height=6.6, sharex=True)
    # cells centred on the window centres (one window: its whole span)
    t_edges = (_edges_nonuniform(spec.t) if spec.t.size > 1
               else np.array([spec.t_start[0], spec.t_end[0]]))
    dat = ((spec.P_omega, spec.omega, r"$P(t,\omega)/B_0^2$ per $\omega$ bin", None),
           (spec.P_k_lcp, spec.k, r"LCP $P(t,k)/B_0^2$ per $k$ bin", "L"),
           (spec.P_k_rcp, -spec.k, r"RCP $P(t,k)/B_0^2$ per $k$ bin", "R"))
    for ax, (pp, y, lab, mode) in zip(axes, dat, strict=True):
        norm = plots.log_norm(pp, dynamic_range)
        y_edges = _edges(np.sort(y)) if mode != "R" else -_edges(spec.k)
        mesh = ax.pcolormesh(t_edges, y_edges, np.maximum(pp.T, norm.vmin), norm=norm,
                             shading="flat", rasterized=True)
        plots.add_colorbar(ax, mesh, lab)
        plots.map_axes(ax)
        ax.axhline(0.0, color="w", lw=0.4, alpha=0.6)
        if bands is not None:
            tb = bands.time * om
            if mode is None:
                for b, s, col in ((bands.band_L, 1.0, "#7fdbff"), (bands.band_R, -1.0,
                                                                    "#b7f77a")):
                    ax.plot(tb, s * b[:, 2], color=col, lw=0.9, ls="--")
                    ax.plot(tb, s * b[:, 3], color=col, lw=0.9, ls="--")
            else:
                b = bands.band_L if mode == "L" else bands.band_R
                col = "#7fdbff" if mode == "L" else "#b7f77a"
                for s in (1.0, -1.0):
                    ax.plot(tb, s * b[:, 0], color=col, lw=0.9, ls="--")
                    ax.plot(tb, s * b[:, 1], color=col, lw=0.9, ls="--")
    axes[0].set_xlim(t_edges[0], t_edges[-1])
    axes[0].set_ylabel(plots.omega_label())
    axes[0].text(0.98, 0.96, "LCP", transform=axes[0].transAxes, ha="right", va="top",
                 color="w", fontsize=7)
    axes[0].text(0.98, 0.04, "RCP", transform=axes[0].transAxes, ha="right", va="bottom",
                 color="w", fontsize=7)
    sgn = r"\,\mathrm{sgn}\,\omega"
    axes[1].set_ylabel(plots.k_label(k_unit, sgn))
    axes[2].set_ylabel(plots.k_label(k_unit, sgn))
    for ax, name in ((axes[1], "LCP"), (axes[2], "RCP")):
        ax.text(0.98, 0.96, f"{name}, forward", transform=ax.transAxes, ha="right",
                va="top", color="w", fontsize=7)
        ax.text(0.98, 0.04, f"{name}, backward", transform=ax.transAxes, ha="right",
                va="bottom", color="w", fontsize=7)
    axes[2].set_xlabel(plots.time_label())
    axes[0].set_title(rf"Hann window $T={spec.window:.3g}/\Omega_{{i0}}$, "
                      rf"$\Delta\omega={spec.d_omega:.2g}\,\Omega_{{i0}}$, "
                      rf"$\omega_{{Ny}}={spec.omega_nyquist:.3g}\,\Omega_{{i0}}$", fontsize=7)
    plots.label_panels(axes)
    return plots.save_figure(fig, out_dir, "omega_k_spectrogram", pdf=pdf)


def _edges_nonuniform(c: NDArray[np.float64]) -> NDArray[np.float64]:
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _figure_energy(out_dir: Path, energy: WaveEnergy, pdf: bool) -> list[Path]:
    fig, ax = plots.figure(1, 1, height=2.5)
    # energies were computed from fields normalised by B0, so 2 E = <dB^2>/B0^2
    ax.plot(energy.t_raw, 2 * energy.total_raw, color="0.6", lw=0.7,
            label=r"total, every output")
    ax.plot(energy.t, 2 * energy.total, color=plots.TOTAL_COLOR, label="total (windowed)")
    ax.plot(energy.t, 2 * energy.lcp, color=plots.LCP_COLOR, label=r"LCP ($\omega>0$)")
    ax.plot(energy.t, 2 * energy.rcp, color=plots.RCP_COLOR, label=r"RCP ($\omega<0$)")
    ax.set_yscale("log")
    ax.set_xlabel(plots.time_label())
    ax.set_ylabel(r"$\langle\delta B_y^2+\delta B_z^2\rangle/B_0^2$")
    ax.legend(loc="best")
    return plots.save_figure(fig, out_dir, "wave_energy", pdf=pdf)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m postprocess.omega_k -h``)."""
    ap = argparse.ArgumentParser(
        prog="python -m postprocess.omega_k",
        description="omega-k power spectra, spectrograms and LCP/RCP wave energy of a run "
        "(b = dB_y + i dB_z; omega > 0 LCP, omega < 0 RCP; omega/k > 0 forward).")
    ap.add_argument("run", help="run directory")
    ap.add_argument("--window", type=float, default=20.0,
                    help="Hann time window length in 1/Omega_i0 (default 20)")
    ap.add_argument("--overlap", type=float, default=0.5,
                    help="overlap fraction of consecutive spectrogram windows (default 0.5)")
    ap.add_argument("--times", type=float, nargs="+",
                    help="window centres of the P(k, omega) panels in 1/Omega_i0")
    ap.add_argument("--out", help="output directory (default RUN/figures)")
    ap.add_argument("--pdf", action="store_true", help="also write PDF")
    ap.add_argument("--k-unit", choices=("d_i0", "rho_i0"), default="d_i0")
    ap.add_argument("--omega-max", type=float, help="|omega| limit (Omega_i0) of the panels")
    ap.add_argument("--k-max", type=float, help="|k| limit (1/k-unit) of the panels")
    ap.add_argument("--band-points", type=int, default=20,
                    help="history times at which the unstable bands are solved")
    ap.add_argument("--no-dispersion", action="store_true", help="skip dispersion roots")
    ap.add_argument("--dynamic-range", type=float, default=1e6,
                    help="colour range max/min of the power maps")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    res = make_figures(args.run, window=args.window, overlap=args.overlap, times=args.times,
                       out=args.out, pdf=args.pdf, k_unit=args.k_unit,
                       omega_max=args.omega_max, k_max=args.k_max,
                       band_points=args.band_points, dispersion=not args.no_dispersion,
                       dynamic_range=args.dynamic_range)
    spec = res["spectrogram"]
    print(f"windows: {spec.t.size} of {spec.window:.4g}/Omega_i0 "
          f"(d_omega = {spec.d_omega:.4g} Omega_i0, omega_Nyquist = "
          f"{spec.omega_nyquist:.4g} Omega_i0, d_k = {spec.d_k:.4g}/{args.k_unit})")
    if res["roots"] is not None:
        print(res["roots"].extra["note"])
    for p in res["paths"]:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
