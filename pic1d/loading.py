"""Initial particle states: Maxwell-Juttner loading, tracers and random streams.

Units follow ``docs/conventions.md``: momenta are ``u = gamma v / c`` (per unit mass of
the species, c = 1), temperatures are ``theta = k T / (m c^2)`` in the rest mass of the
species being loaded, positions are global co-moving **cell units** (float64).

Distributions sampled (all exactly, by rejection; no approximation)
------------------------------------------------------------------
Isotropic Maxwell-Juttner (MJ) at temperature ``theta``::

    f(u) d^3u  ∝  exp(-gamma / theta) d^3u,        gamma = sqrt(1 + |u|^2).

Bi-Maxwell-Juttner (bi-MJ) with anisotropy ``A = T_perp / T_par`` (x = parallel = mean
field direction, y and z perpendicular) and parallel temperature ``theta``::

    f(u)  ∝  exp(-gamma_A / theta_perp),   gamma_A = sqrt(1 + u_y^2 + u_z^2 + A u_x^2),
    theta_perp = A theta.

It is an isotropic MJ at ``theta_perp`` in the stretched momentum
``w = (sqrt(A) u_x, u_y, u_z)``, and is sampled exactly that way. For theta << 1 it tends
to the bi-Maxwellian ``exp(-u_perp^2/(2 theta_perp) - u_x^2/(2 theta))``. The relation
that holds exactly at every theta is::

    <u_y^2> = <u_z^2> = A <u_x^2> = theta_perp K3(1/theta_perp) / K2(1/theta_perp),

while the pressure ratio P_perp/P_par = <u_y v_y>/<u_x v_x> equals A only up to O(theta).
A = 1 is the isotropic MJ.

Drifting distributions: the rest-frame (bi-)MJ is boosted with the Lorentz boost of
3-velocity ``beta``. The lab-frame distribution of a boosted plasma carries the flux
(volume) factor (1 + beta . v') of the rest-frame velocity v'; it is produced exactly with
Zenitani's (2015) flipping method, generalised to any drift direction by using the full
inversion u' -> -u' (a symmetry of every distribution above): when beta . v' < 0 the
particle is inverted with probability -beta . v'. The result is the drifting Juttner
distribution ``f(u) ∝ exp(-Gamma (gamma - beta . u) / theta)`` (isotropic case), whose
mean 3-velocity is exactly ``beta``.

Sampling the MJ energy (own method, exact for every theta >= 0, acceptance >= 1/sqrt 2)
--------------------------------------------------------------------------------------
The kinetic energy eps = gamma - 1 has density ∝ sqrt(eps) sqrt(eps + 2) (1 + eps)
exp(-eps/theta). With sqrt(eps + 2) <= sqrt(eps) + sqrt(2) it is bounded by
[sqrt2 eps^(1/2) + eps + sqrt2 eps^(3/2) + eps^2] exp(-eps/theta), a mixture of four Gamma
distributions (shapes 3/2, 2, 5/2, 3; scale theta). A candidate from the mixture is
accepted with probability sqrt(eps + 2) / (sqrt(eps) + sqrt(2)) >= 1/sqrt(2). This is
uniformly efficient from the non-relativistic (theta -> 0, acceptance -> 1) to the
ultra-relativistic limit (acceptance -> 1), and computes |u| = sqrt(eps (eps + 2)) without
cancellation at small theta.

Random streams
--------------
Every random number is drawn from a generator keyed by
``(seed, stream kind, species or group index, global cell index)`` (see
:func:`stream_rng`), never by MPI rank, so the initial state is bitwise independent of the
domain decomposition. Positions of thermal species use the key
``(seed, POSITION, position_group, cell)``: species of the same group and ppc get identical
positions (zero initial charge density). Momenta use ``(seed, MOMENTUM, species, cell)``,
tracers ``(seed, TRACER, species, cell)``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray
from scipy.special import gamma as _gamma_fn
from scipy.special import kve

__all__ = [
    "Stream",
    "stream_rng",
    "mj_mean_gamma",
    "mj_mean_u2",
    "bimj_mean_u2",
    "mj_pdf_gamma",
    "mj_cdf_gamma",
    "mj_pressure",
    "sample_mj_kinetic_energy",
    "sample_maxwell_juttner",
    "drift_boost",
    "load_thermal_cells",
    "tracer_cell_counts",
    "load_tracer_cells",
]


class Stream(enum.IntEnum):
    """Kinds of random stream (second entry of the seed key)."""

    POSITION = 1
    MOMENTUM = 2
    TRACER = 3


def stream_rng(seed: int, kind: int, index: int, cell: int) -> np.random.Generator:
    """Independent random generator for one (seed, kind, index, global cell) key.

    Parameters
    ----------
    seed : int
        Run seed (>= 0).
    kind : int
        Stream kind, a :class:`Stream` value.
    index : int
        Species index (momenta, tracers) or position group (positions), >= 0.
    cell : int
        Global cell index (>= 0).

    Returns
    -------
    numpy.random.Generator
        PCG64 generator seeded from ``SeedSequence([seed, kind, index, cell])``.
    """
    key = [int(seed), int(kind), int(index), int(cell)]
    if min(key) < 0:
        raise ValueError(f"stream key entries must be >= 0, got {key}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


# --------------------------------------------------------------------------------------
# Analytic Maxwell-Juttner helpers
# --------------------------------------------------------------------------------------
def _theta_array(theta: ArrayLike) -> NDArray[np.float64]:
    th = np.asarray(theta, dtype=np.float64)
    if np.any(~np.isfinite(th)) or np.any(th < 0):
        raise ValueError("theta must be finite and >= 0")
    return th


def _bessel_ratio(nu_num: int, nu_den: int, theta: NDArray[np.float64]) -> NDArray:
    """K_num(1/theta)/K_den(1/theta) with exponentially scaled Bessel functions."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 1.0 / theta
        return kve(nu_num, z) / kve(nu_den, z)


def mj_mean_gamma(theta: ArrayLike) -> NDArray[np.float64] | float:
    """Mean Lorentz factor of an isotropic Maxwell-Juttner distribution.

    Parameters
    ----------
    theta : float or array_like
        Temperature kT/(m c^2) (dimensionless, >= 0).

    Returns
    -------
    float or ndarray
        <gamma> = K1(1/theta)/K2(1/theta) + 3 theta (1 for theta = 0).
    """
    th = _theta_array(theta)
    out = np.where(th > 0, _bessel_ratio(1, 2, th) + 3.0 * th, 1.0)
    return out[()] if out.ndim == 0 else out


def mj_mean_u2(theta: ArrayLike) -> NDArray[np.float64] | float:
    """Mean |u|^2 of an isotropic Maxwell-Juttner distribution.

    Parameters
    ----------
    theta : float or array_like
        Temperature kT/(m c^2) (>= 0).

    Returns
    -------
    float or ndarray
        <|u|^2> = 3 theta K3(1/theta)/K2(1/theta) (units c^2); each Cartesian component
        carries one third of it.
    """
    th = _theta_array(theta)
    out = np.where(th > 0, 3.0 * th * _bessel_ratio(3, 2, th), 0.0)
    return out[()] if out.ndim == 0 else out


def bimj_mean_u2(theta: float, anisotropy: float = 1.0) -> tuple[float, float]:
    """Exact second moments of the bi-Maxwell-Juttner distribution sampled here.

    Parameters
    ----------
    theta : float
        Parallel temperature kT_par/(m c^2) (>= 0).
    anisotropy : float
        A = T_perp/T_par (> 0); theta_perp = A theta.

    Returns
    -------
    (float, float)
        (<u_x^2>, <u_y^2>) with <u_y^2> = <u_z^2> = A <u_x^2>
        = theta_perp K3(1/theta_perp)/K2(1/theta_perp).
    """
    th_perp = float(anisotropy) * float(theta)
    uy2 = float(mj_mean_u2(th_perp)) / 3.0
    return uy2 / float(anisotropy), uy2


def mj_pressure(theta: ArrayLike) -> NDArray[np.float64] | float:
    """Pressure per particle of a Maxwell-Juttner plasma, P/n = <u_x v_x> = theta.

    Parameters
    ----------
    theta : float or array_like
        Temperature kT/(m c^2) (>= 0).

    Returns
    -------
    float or ndarray
        P/(n m c^2) = theta (exact for MJ at any temperature).
    """
    th = _theta_array(theta)
    return th[()] if th.ndim == 0 else th.copy()


def mj_pdf_gamma(gamma: ArrayLike, theta: float) -> NDArray[np.float64]:
    """Probability density of the Lorentz factor for an isotropic Maxwell-Juttner gas.

    Parameters
    ----------
    gamma : array_like
        Lorentz factors (values < 1 have zero density).
    theta : float
        Temperature kT/(m c^2) (> 0).

    Returns
    -------
    ndarray
        p(gamma) = gamma sqrt(gamma^2 - 1) exp(-gamma/theta) / (theta K2(1/theta)),
        normalised to 1 over gamma in [1, inf).
    """
    th = float(theta)
    if not th > 0:
        raise ValueError("theta must be > 0")
    g = np.asarray(gamma, dtype=np.float64)
    eps = np.clip(g - 1.0, 0.0, None)
    u = np.sqrt(eps * (eps + 2.0))
    return np.where(g >= 1.0, g * u * np.exp(-eps / th) / (th * kve(2, 1.0 / th)), 0.0)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


def mj_cdf_gamma(gamma: ArrayLike, theta: float) -> NDArray[np.float64]:
    """Cumulative distribution of the Lorentz factor for an isotropic Maxwell-Juttner gas.

    Computed as int_0^u(gamma) u'^2 exp(-(gamma'-1)/theta) du' / (theta kve(2, 1/theta))
    with 8-point Gauss-Legendre quadrature on the intervals between the query points
    merged with a reference grid (spacing theta/10 in gamma - 1 up to 80 theta); the
    integrand is smooth in u, so the result is accurate to ~1e-12. Vectorised: a call
    with 1e6 points (e.g. from ``scipy.stats.kstest``) takes about a second.

    Parameters
    ----------
    gamma : array_like
        Lorentz factors.
    theta : float
        Temperature kT/(m c^2) (> 0).

    Returns
    -------
    ndarray
        P(Gamma <= gamma), same shape as ``gamma``, in [0, 1].
    """
    th = float(theta)
    if not th > 0:
        raise ValueError("theta must be > 0")
    g = np.asarray(gamma, dtype=np.float64)
    eps_q = np.clip(g.ravel() - 1.0, 0.0, None)
    finite = np.isfinite(eps_q)
    ref = th * np.linspace(0.0, 80.0, 801)
    eps_all = np.unique(np.concatenate([ref, eps_q[finite]]))
    u_all = np.sqrt(eps_all * (eps_all + 2.0))
    a, b = u_all[:-1], u_all[1:]
    half = 0.5 * (b - a)
    nodes = (0.5 * (a + b))[:, None] + half[:, None] * _GL_X[None, :]
    n2 = nodes * nodes
    integrand = n2 * np.exp(-n2 / ((1.0 + np.sqrt(1.0 + n2)) * th))
    seg = half * (integrand @ _GL_W)
    cum = np.concatenate([[0.0], np.cumsum(seg)]) / (th * kve(2, 1.0 / th))
    out = np.ones_like(eps_q)
    out[finite] = cum[np.searchsorted(eps_all, eps_q[finite])]
    return np.clip(out, 0.0, 1.0).reshape(g.shape)


# --------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------
_MIX_SHAPES = np.array([1.5, 2.0, 2.5, 3.0])
_MIX_COEFS = np.array([math.sqrt(2.0), 1.0, math.sqrt(2.0), 1.0])
_SQRT2 = math.sqrt(2.0)
_CHUNK = 1 << 16  # samples per vectorised block in sample_maxwell_juttner
for _arr in (_MIX_SHAPES, _MIX_COEFS):
    _arr.setflags(write=False)
del _arr


def sample_mj_kinetic_energy(rng: np.random.Generator, n: int, theta: float) -> NDArray:
    """Exact samples of gamma - 1 for an isotropic Maxwell-Juttner distribution.

    Gamma-mixture rejection method described in the module docstring (acceptance
    >= 1/sqrt(2) for all theta).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator (consumed deterministically).
    n : int
        Number of samples.
    theta : float
        Temperature kT/(m c^2) (>= 0; theta = 0 gives zeros).

    Returns
    -------
    ndarray, shape (n,), float64
        Kinetic energies gamma - 1 (units m c^2).
    """
    th = float(theta)
    if not (math.isfinite(th) and th >= 0):
        raise ValueError("theta must be finite and >= 0")
    return _mj_eps(rng, int(n), th, _mixture_cdf(th))


def _mixture_cdf(th: float) -> NDArray:
    """Cumulative weights c_k Gamma(a_k) theta^a_k of the Gamma-mixture envelope."""
    if th == 0.0:
        return np.ones(_MIX_SHAPES.size)
    w = _MIX_COEFS * _gamma_fn(_MIX_SHAPES) * th ** (_MIX_SHAPES - 1.5)  # no overflow
    cw = np.cumsum(w) / w.sum()
    cw[-1] = 1.0
    return cw


def _mj_eps(rng: np.random.Generator, n: int, th: float, cw: NDArray) -> NDArray:
    """Rejection loop of :func:`sample_mj_kinetic_energy` (cw from _mixture_cdf)."""
    out = np.zeros(n, dtype=np.float64)
    if th == 0.0 or n == 0:
        return out
    filled = 0
    while filled < n:
        need = n - filled
        m = int(1.45 * need) + 16
        k = np.searchsorted(cw, rng.random(m), side="right")
        eps = th * rng.standard_gamma(_MIX_SHAPES[k])
        acc = rng.random(m) * (np.sqrt(eps) + _SQRT2) < np.sqrt(eps + 2.0)
        good = eps[acc][:need]
        out[filled : filled + good.size] = good
        filled += good.size
    return out


def _directions(rng: np.random.Generator, n: int) -> tuple[NDArray, NDArray, NDArray]:
    """Isotropic unit vectors: mu = cos(pitch) uniform in [-1, 1), phase uniform."""
    r = rng.random((2, n))
    mu = 2.0 * r[0] - 1.0
    s = np.sqrt((1.0 - mu) * (1.0 + mu))
    phi = 2.0 * np.pi * r[1]
    return mu, s * np.cos(phi), s * np.sin(phi)


def _check_params(theta: float, anisotropy: float, drift: Sequence[float]) -> NDArray:
    if not (math.isfinite(theta) and theta >= 0):
        raise ValueError(f"theta must be finite and >= 0, got {theta}")
    if not (math.isfinite(anisotropy) and anisotropy > 0):
        raise ValueError(f"anisotropy must be > 0, got {anisotropy}")
    beta = np.asarray(drift, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(beta)) or float(beta @ beta) >= 1.0:
        raise ValueError(f"drift must satisfy |beta| < 1, got {beta}")
    return beta


def _sample_components(
    rng: np.random.Generator,
    n: int,
    theta: float,
    anisotropy: float,
    beta: NDArray,
    cw: NDArray | None = None,
) -> tuple[NDArray, NDArray, NDArray]:
    """Rest-frame bi-MJ (parallel temperature theta) then drift boost; float64.

    ``cw`` is ``_mixture_cdf(anisotropy * theta)`` (computed here if not given).
    """
    th_perp = anisotropy * theta
    if cw is None:
        cw = _mixture_cdf(th_perp)
    eps = _mj_eps(rng, n, th_perp, cw)
    w = np.sqrt(eps * (eps + 2.0))
    mu, ey, ez = _directions(rng, n)
    ux = w * mu
    if anisotropy != 1.0:
        ux /= math.sqrt(anisotropy)
    uy = w * ey
    uz = w * ez
    if float(beta @ beta) > 0.0:
        _boost_inplace(rng, ux, uy, uz, beta)
    return ux, uy, uz


def _boost_inplace(
    rng: np.random.Generator, ux: NDArray, uy: NDArray, uz: NDArray, beta: NDArray
) -> None:
    """Flip (inversion with probability -beta.v' where beta.v' < 0) then boost."""
    b = math.sqrt(float(beta @ beta))
    nx, ny, nz = beta / b
    big_gamma = 1.0 / math.sqrt((1.0 - b) * (1.0 + b))
    gam = np.sqrt(1.0 + ux * ux + uy * uy + uz * uz)
    upar = ux * nx + uy * ny + uz * nz  # component along beta-hat
    flip = rng.random(ux.size) * gam < -b * upar  # U < -beta . v'
    sign = np.where(flip, -1.0, 1.0)
    ux *= sign
    uy *= sign
    uz *= sign
    upar *= sign
    coef = (big_gamma - 1.0) * upar + big_gamma * b * gam
    ux += coef * nx
    uy += coef * ny
    uz += coef * nz


def drift_boost(
    rng: np.random.Generator, u: ArrayLike, drift: Sequence[float]
) -> NDArray[np.float64]:
    """Turn rest-frame momenta into a lab-frame drifting distribution (flipping method).

    The rest-frame distribution must be even, f(-u') = f(u') (true for (bi-)MJ). Each
    particle with beta . v' < 0 is inverted (u' -> -u') with probability -beta . v', which
    multiplies the density by the flux factor (1 + beta . v'); the momenta are then
    Lorentz boosted by ``drift``. Exact, 100 % efficient.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator (one uniform per particle).
    u : array_like, shape (n, 3)
        Rest-frame momenta gamma' v'/c.
    drift : sequence of 3 floats
        Drift 3-velocity beta = V/c of the rest frame in the lab, |beta| < 1.

    Returns
    -------
    ndarray, shape (n, 3), float64
        Lab-frame momenta u = gamma v/c.
    """
    beta = _check_params(0.0, 1.0, drift)
    arr = np.array(u, dtype=np.float64, copy=True).reshape(-1, 3)
    ux, uy, uz = (np.ascontiguousarray(arr[:, j]) for j in range(3))
    if float(beta @ beta) > 0.0:
        _boost_inplace(rng, ux, uy, uz, beta)
    return np.stack([ux, uy, uz], axis=1)


def sample_maxwell_juttner(
    rng: np.random.Generator,
    n: int,
    theta: float,
    anisotropy: float = 1.0,
    drift: Sequence[float] = (0.0, 0.0, 0.0),
) -> NDArray[np.float64]:
    """Exact samples of the (bi-)Maxwell-Juttner distribution, optionally drifting.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator (consumed deterministically).
    n : int
        Number of samples.
    theta : float
        Rest-frame (parallel) temperature kT_par/(m c^2) of the species, >= 0. For
        ``anisotropy = 1`` this is the MJ temperature.
    anisotropy : float
        A = T_perp/T_par (> 0); x is the parallel direction. Distribution:
        f ∝ exp(-sqrt(1 + u_y^2 + u_z^2 + A u_x^2) / (A theta)) in the rest frame.
    drift : sequence of 3 floats
        Drift 3-velocity beta (|beta| < 1); applied by :func:`drift_boost` semantics.

    Returns
    -------
    ndarray, shape (n, 3), float64
        Momenta u = gamma v/c (columns x, y, z).
    """
    theta, anisotropy, n = float(theta), float(anisotropy), int(n)
    beta = _check_params(theta, anisotropy, drift)
    cw = _mixture_cdf(anisotropy * theta)
    out = np.empty((n, 3), dtype=np.float64)
    for start in range(0, n, _CHUNK):  # cache-sized chunks, same rng in sequence
        stop = min(n, start + _CHUNK)
        comps = _sample_components(rng, stop - start, theta, anisotropy, beta, cw)
        for j in range(3):
            out[start:stop, j] = comps[j]
    return out


# --------------------------------------------------------------------------------------
# Cell loaders
# --------------------------------------------------------------------------------------
def _check_cells(i_lo: int, n_local: int) -> None:
    if i_lo < 0 or n_local < 0:
        raise ValueError(f"need i_lo >= 0 and n_local >= 0, got {i_lo}, {n_local}")


def load_thermal_cells(
    seed: int,
    species_index: int,
    position_group: int,
    i_lo: int,
    n_local: int,
    ppc: int,
    theta: float,
    anisotropy: float = 1.0,
    drift: Sequence[float] = (0.0, 0.0, 0.0),
    placement: str = "random",
    dtype: DTypeLike = np.float64,
) -> tuple[NDArray[np.float64], NDArray, NDArray, NDArray]:
    """Load a thermal (bi-)Maxwell-Juttner species in global cells [i_lo, i_lo + n_local).

    Each cell uses its own random streams (positions keyed by
    ``(seed, POSITION, position_group, cell)``, momenta by
    ``(seed, MOMENTUM, species_index, cell)``), so the result for a cell does not depend
    on how the cells are split among domains; species with the same ``position_group``
    and ``ppc`` get bitwise identical positions.

    Parameters
    ----------
    seed : int
        Run seed (>= 0).
    species_index : int
        Index of the species (>= 0); selects the momentum stream.
    position_group : int
        Position group (>= 0); 0 for all thermal species by default.
    i_lo : int
        First global cell of the domain.
    n_local : int
        Number of cells of the domain.
    ppc : int
        Particles per cell.
    theta : float
        Rest-frame (parallel) temperature kT_par/(m_s c^2) in the species' own rest mass.
    anisotropy : float
        A = T_perp/T_par of the bi-MJ (see module docstring); 1 = isotropic MJ.
    drift : sequence of 3 floats
        Drift 3-velocity beta (c), |beta| < 1.
    placement : {"random", "quiet"}
        "random": uniform random positions in each cell; "quiet": x = i + (k + 1/2)/ppc.
    dtype : numpy dtype
        Floating type of the momenta (float64 or float32); sampling is done in float64.

    Returns
    -------
    x : ndarray, float64, shape (n_local * ppc,)
        Positions in global cell units, cell by cell, each in [i, i + 1).
    ux, uy, uz : ndarray of ``dtype``
        Momenta u = gamma v/c.
    """
    _check_cells(i_lo, n_local)
    if ppc < 0:
        raise ValueError("ppc must be >= 0")
    if placement not in ("random", "quiet"):
        raise ValueError(f"placement must be 'random' or 'quiet', got {placement!r}")
    theta, anisotropy = float(theta), float(anisotropy)
    beta = _check_params(theta, anisotropy, drift)
    n = n_local * ppc
    x = np.empty(n, dtype=np.float64)
    ux = np.empty(n, dtype=dtype)
    uy = np.empty(n, dtype=dtype)
    uz = np.empty(n, dtype=dtype)
    quiet = (np.arange(ppc) + 0.5) / ppc if placement == "quiet" else None
    cw = _mixture_cdf(anisotropy * theta)
    for c in range(n_local):
        i = i_lo + c
        sl = slice(c * ppc, (c + 1) * ppc)
        if quiet is None:
            r = stream_rng(seed, Stream.POSITION, position_group, i).random(ppc)
            # i + r can round up to i + 1 for r -> 1 when i is large: keep x < i + 1
            x[sl] = np.minimum(i + r, np.nextafter(float(i + 1), -np.inf))
        else:
            x[sl] = i + quiet
        rng = stream_rng(seed, Stream.MOMENTUM, species_index, i)
        a, b, d = _sample_components(rng, ppc, theta, anisotropy, beta, cw)
        ux[sl] = a
        uy[sl] = b
        uz[sl] = d
    return x, ux, uy, uz


def tracer_cell_counts(
    i_lo: int,
    n_local: int,
    n_per_cell: int | None = None,
    n_total: int | None = None,
    n_cells_global: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Number of tracers in each cell and the global index of each cell's first tracer.

    Parameters
    ----------
    i_lo, n_local : int
        Global cells [i_lo, i_lo + n_local).
    n_per_cell : int, optional
        Tracers per cell (exclusive with ``n_total``).
    n_total : int, optional
        Total tracers in the box, cell i holding floor((i+1) N/Nc) - floor(i N/Nc).
    n_cells_global : int, optional
        Nc, number of cells in the box (required with ``n_total``).

    Returns
    -------
    counts : ndarray of int64, shape (n_local,)
    first : ndarray of int64, shape (n_local,)
        Global (box-wide, per species) index of the first tracer of each cell.
    """
    _check_cells(i_lo, n_local)
    if (n_per_cell is None) == (n_total is None):
        raise ValueError("give exactly one of n_per_cell and n_total")
    if n_cells_global is not None and i_lo + n_local > n_cells_global:
        raise ValueError("cells beyond n_cells_global")
    cells = np.arange(i_lo, i_lo + n_local + 1, dtype=np.int64)
    if n_per_cell is not None:
        if n_per_cell < 0:
            raise ValueError("n_per_cell must be >= 0")
        edges = cells * np.int64(n_per_cell)
    else:
        if n_cells_global is None or n_cells_global <= 0:
            raise ValueError("n_total needs n_cells_global > 0")
        if n_total < 0:
            raise ValueError("n_total must be >= 0")
        if n_cells_global * n_total >= 2**62:
            raise ValueError("n_total * n_cells_global overflows int64")
        edges = (cells * np.int64(n_total)) // np.int64(n_cells_global)
    return np.diff(edges), edges[:-1].copy()


def load_tracer_cells(
    seed: int,
    species_index: int,
    i_lo: int,
    n_local: int,
    n_per_cell: int | None = None,
    n_total: int | None = None,
    n_cells_global: int | None = None,
    *,
    p_min: float,
    p_max: float,
    sampling: str = "flat_p",
    dtype: DTypeLike = np.float64,
    id_offset: int = 0,
) -> tuple[NDArray[np.float64], NDArray, NDArray, NDArray, NDArray[np.int64]]:
    """Load test particles (tracers) in global cells [i_lo, i_lo + n_local).

    Per cell, from the stream ``(seed, TRACER, species_index, cell)``: uniform random
    positions, |u| uniform in u ("flat_p") or in ln u ("flat_log_p") over
    [p_min, p_max], isotropic directions (mu = u_x/|u| uniform in [-1, 1), gyrophase
    uniform in [0, 2 pi)).

    Parameters
    ----------
    seed : int
        Run seed (>= 0).
    species_index : int
        Species index (>= 0).
    i_lo, n_local : int
        Global cells of the domain.
    n_per_cell, n_total, n_cells_global : int, optional
        Counts, see :func:`tracer_cell_counts`.
    p_min, p_max : float
        Momentum range in m_s c of the species (u = p/(m_s c)); 0 <= p_min <= p_max,
        p_min > 0 for "flat_log_p".
    sampling : {"flat_p", "flat_log_p"}
        Distribution of |u|.
    dtype : numpy dtype
        Floating type of the momenta.
    id_offset : int
        Added to every id (e.g. to make ids unique across species).

    Returns
    -------
    x : ndarray, float64
        Positions in global cell units.
    ux, uy, uz : ndarray of ``dtype``
        Momenta u = gamma v/c.
    ids : ndarray of int64
        id_offset + box-wide index of the tracer (cumulative count over cells, then
        index within the cell): unique within the species and independent of the split.
    """
    if sampling not in ("flat_p", "flat_log_p"):
        raise ValueError(f"sampling must be 'flat_p' or 'flat_log_p', got {sampling!r}")
    p_min, p_max = float(p_min), float(p_max)
    if not (0.0 <= p_min <= p_max and math.isfinite(p_max)):
        raise ValueError("need 0 <= p_min <= p_max < inf")
    if sampling == "flat_log_p" and p_min <= 0.0:
        raise ValueError("flat_log_p needs p_min > 0")
    counts, first = tracer_cell_counts(i_lo, n_local, n_per_cell, n_total, n_cells_global)
    n = int(counts.sum())
    x = np.empty(n, dtype=np.float64)
    ux = np.empty(n, dtype=dtype)
    uy = np.empty(n, dtype=dtype)
    uz = np.empty(n, dtype=dtype)
    ids = np.empty(n, dtype=np.int64)
    log_ratio = math.log(p_max / p_min) if sampling == "flat_log_p" else 0.0
    start = 0
    for c in range(n_local):
        i = i_lo + c
        m = int(counts[c])
        sl = slice(start, start + m)
        start += m
        ids[sl] = id_offset + first[c] + np.arange(m, dtype=np.int64)
        if m == 0:
            continue
        r = stream_rng(seed, Stream.TRACER, species_index, i).random((4, m))
        x[sl] = np.minimum(i + r[0], np.nextafter(float(i + 1), -np.inf))
        if sampling == "flat_p":
            p = p_min + (p_max - p_min) * r[1]
        else:
            p = p_min * np.exp(log_ratio * r[1])
        mu = 2.0 * r[2] - 1.0
        s = np.sqrt((1.0 - mu) * (1.0 + mu))
        phi = 2.0 * np.pi * r[3]
        ux[sl] = p * mu
        uy[sl] = p * s * np.cos(phi)
        uz[sl] = p * s * np.sin(phi)
    return x, ux, uy, uz, ids
