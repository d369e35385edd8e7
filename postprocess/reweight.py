"""Re-weighting of tracer samples to any isotropic spectrum f0(p) (PHYSICS.md 2.6, 4.4).

Tracers are loaded with |p| drawn from a sampling density g(p) on [p_min, p_max]
(m_e c): ``"flat_p"`` (g = 1/(p_max - p_min)) or ``"flat_log_p"``
(g = 1/(p ln(p_max/p_min))), directions isotropic. A tracer of initial momentum p0 then
represents the spectrum f0(p) (number per dp, any normalisation) with the weight

    w(p0) = f0(p0) / g(p0),

normalised here so that the weights of the sample sum to 1 (``normalize="sum"``) or
average to 1 (``"mean"``). Any average over the sample, <Q>_f0 = sum_i w_i Q_i, is then
an average over f0 (restricted to [p_min, p_max]).

For binned data (the in-situ sums of insitu.h5, binned by p0) use :func:`bin_weights`:
each p0 bin holds tracers drawn from g, so its sums are scaled by
``int_bin f0 dp / int_bin g dp`` (normalised over the bins).

Only numpy is needed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "SAMPLINGS",
    "bin_weights",
    "broken_power_law",
    "maxwell_juttner",
    "power_law",
    "sampling_density",
    "weighted_gain",
    "weights",
]

SAMPLINGS = ("flat_p", "flat_log_p")


def sampling_density(p, p_min: float, p_max: float, sampling: str) -> np.ndarray:
    """Normalised sampling density g(p) of the tracer momenta (per unit p, m_e c).

    Parameters
    ----------
    p : array_like
        Momenta (m_e c).
    p_min, p_max : float
        Sampled range (the species' ``p_min``, ``p_max``).
    sampling : {"flat_p", "flat_log_p"}

    Returns
    -------
    numpy.ndarray
        g(p), zero outside [p_min, p_max]; int g dp = 1.
    """
    p = np.asarray(p, dtype=np.float64)
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if not 0 <= p_min < p_max:
        raise ValueError("need 0 <= p_min < p_max")
    inside = (p >= p_min) & (p <= p_max)
    if sampling == "flat_p":
        g = np.full(p.shape, 1.0 / (p_max - p_min))
    else:
        if p_min <= 0:
            raise ValueError("flat_log_p needs p_min > 0")
        g = 1.0 / (np.where(p > 0, p, 1.0) * np.log(p_max / p_min))
    return np.where(inside, g, 0.0)


def weights(p0, f0: Callable[[np.ndarray], np.ndarray], p_min: float, p_max: float,
            sampling: str, normalize: str = "sum") -> np.ndarray:
    """Weights w_i = f0(p0_i)/g(p0_i) making a tracer sample represent f0.

    Parameters
    ----------
    p0 : array_like
        Initial momenta of the tracers (m_e c), e.g. ``mass * |u0|``.
    f0 : callable
        Target isotropic spectrum, number per unit p (any normalisation).
    p_min, p_max, sampling
        The tracer species' sampling (deck keys of the same names).
    normalize : {"sum", "mean", "none"}
        Weights sum to 1, average to 1, or are returned as f0/g.

    Returns
    -------
    numpy.ndarray
        One weight per tracer (0 outside [p_min, p_max]).
    """
    p0 = np.asarray(p0, dtype=np.float64)
    g = sampling_density(p0, p_min, p_max, sampling)
    w = np.where(g > 0, np.asarray(f0(p0), dtype=np.float64) / np.where(g > 0, g, 1.0), 0.0)
    return _normalise(w, normalize)


def _normalise(w: np.ndarray, normalize: str) -> np.ndarray:
    total = w.sum()
    if normalize == "sum":
        return w / total
    if normalize == "mean":
        return w * (w.size / total)
    if normalize == "none":
        return w
    raise ValueError(f"normalize must be 'sum', 'mean' or 'none', got {normalize!r}")


def bin_weights(edges, f0: Callable[[np.ndarray], np.ndarray], p_min: float, p_max: float,
                sampling: str, normalize: str = "sum", samples: int = 64) -> np.ndarray:
    """Per-bin weights for sums binned by p0: int_bin f0 dp / int_bin g dp.

    Parameters
    ----------
    edges : array_like
        p0 bin edges (m_e c), e.g. ``p0_edges_<species>`` of insitu.h5.
    f0 : callable
        Target spectrum (number per unit p).
    p_min, p_max, sampling
        The tracer sampling.
    normalize : {"sum", "mean", "none"}
    samples : int
        Quadrature points per bin (Gauss-Legendre in ln p).

    Returns
    -------
    numpy.ndarray
        One weight per bin; a bin's per-tracer sums times its weight, summed over bins,
        are averages over f0 (with ``normalize="none"``, up to one common factor).
    """
    e = np.asarray(edges, dtype=np.float64)
    x, wq = np.polynomial.legendre.leggauss(samples)
    lo, hi = np.log(e[:-1])[:, None], np.log(e[1:])[:, None]
    lp = 0.5 * (hi + lo) + 0.5 * (hi - lo) * x[None, :]
    p = np.exp(lp)
    jac = 0.5 * (hi - lo) * p  # dp = p d ln p
    num = np.sum(wq * np.asarray(f0(p), dtype=np.float64) * jac, axis=1)
    den = np.sum(wq * sampling_density(p, p_min, p_max, sampling) * jac, axis=1)
    w = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return _normalise(w, normalize)


def weighted_gain(dE_sum, E0_sum, count, bin_w) -> np.ndarray:
    """Compress-revert gain <E_rev - E0>/<E0> of the spectrum behind ``bin_w``.

    Parameters
    ----------
    dE_sum, E0_sum, count : array_like, shape (..., n_p0)
        In-situ sums per p0 bin (``gain_dE``, ``gain_E0``, ``gain_count``).
    bin_w : array_like, shape (n_p0,)
        From :func:`bin_weights`.

    Returns
    -------
    numpy.ndarray, shape (...)
        sum_b w_b <dE>_b / sum_b w_b <E0>_b with <.>_b the per-tracer mean in bin b.
    """
    dE, E0, n = (np.asarray(a, dtype=np.float64) for a in (dE_sum, E0_sum, count))
    safe = np.where(n > 0, n, 1.0)
    w = np.asarray(bin_w, dtype=np.float64) * (n > 0)
    return np.sum(w * dE / safe, axis=-1) / np.sum(w * E0 / safe, axis=-1)


# ------------------------------------------------------------------------- spectra
def power_law(index: float) -> Callable[[np.ndarray], np.ndarray]:
    """f0(p) = p^-index."""
    return lambda p: np.asarray(p, dtype=np.float64) ** (-index)


def broken_power_law(p_break: float, index_low: float, index_high: float):
    """f0(p) = (p/p_b)^-s1 below p_b, (p/p_b)^-s2 above (continuous)."""

    def f(p):
        q = np.asarray(p, dtype=np.float64) / p_break
        return np.where(q < 1, q ** (-index_low), q ** (-index_high))

    return f


def maxwell_juttner(theta: float, mass: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """Isotropic Maxwell-Juttner momentum spectrum f0(p) ~ p^2 exp(-gamma/theta)
    (p in m_e c, theta = kT/(m c^2), particle mass in m_e)."""

    def f(p):
        u = np.asarray(p, dtype=np.float64) / mass
        return u * u * np.exp(-(np.sqrt(1.0 + u * u) - 1.0) / theta)

    return f
