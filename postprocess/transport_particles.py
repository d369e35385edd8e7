"""Standalone test-particle integrators for cosmic-ray transport studies.

Two integrators, both numba kernels (``cache=True``, ``prange`` over particles) with one
counter-free splitmix64 random stream per particle, so results are bitwise reproducible
for a given seed whatever the number of threads:

* :func:`integrate_particles`: relativistic Boris push in a **static** field, either a
  frozen periodic pic1d-like snapshot on a uniform 1D grid (:class:`GridField`) or
  synthetic turbulence as a sum of plane waves (:class:`WaveField`, study Eq. 16, built by
  :func:`synthetic_turbulence`), with optional stochastic small-angle scattering
  (:class:`Scattering`, uniform or the 1D two-phase medium).
* :func:`integrate_scattering_1d`: field-free Monte Carlo of the study's 1D two-phase
  model (positions along x, pitch-angle cosine mu), adaptive steps that stop exactly at
  phase boundaries and output times. Equivalent to the Boris integrator with a uniform
  field along x (gyration does not change mu), but far cheaper.

Units: any normalised system with c = 1 (e.g. pic1d code units: time 1/omega_pe0, length
d_e0, fields m_e c omega_pe0 / e, momenta u = gamma v / c, ``charge_over_mass`` in e/m_e).
The equation of motion is du/dt = (q/m) (E + v x B).

Scattering model (PHYSICS.md 4.8, study Eq. 17): after every step of duration dt the
direction is rotated by delta theta = X sqrt(g nu dt), X ~ N(0, 1), about a uniformly random
azimuth, with g = 2 for ``convention="lorentz"`` (default; <cos theta> decays as
exp(-nu t) exactly and kappa = v^2 / (3 nu)) or g = 1 for ``convention="paper"`` (the
literal Eq. 17 with s = c dt: decay rate nu/2, kappa = 2 v^2 / (3 nu)). nu is a rate per
unit time (for v < c the study's per-path-length rate is nu c / v).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike

from pic1d.kernels.push import boris_kick_rotate

__all__ = [
    "GridField",
    "Scattering",
    "Trajectories",
    "Trajectories1D",
    "WaveField",
    "integrate_particles",
    "integrate_scattering_1d",
    "isotropic_directions",
    "synthetic_turbulence",
]

log = logging.getLogger(__name__)

_CONVENTIONS = {"lorentz": 2.0, "paper": 1.0}

# ----------------------------------------------------------------------- containers


@dataclass(frozen=True)
class GridField:
    """Frozen periodic fields on a uniform 1D grid (nodes x0 + j dx, j = 0..n-1).

    Attributes
    ----------
    e, b : numpy.ndarray
        Shape (3, n): physical (x, y, z) components at the nodes, in the integrator's
        field unit (pic1d: m_e c omega_pe0 / e). Linear (CIC) interpolation in x; the
        field does not depend on y, z.
    dx : float
        Node spacing (length unit; pic1d: d_e0). The period is n dx.
    x0 : float
        Position of node 0.
    """

    e: np.ndarray
    b: np.ndarray
    dx: float
    x0: float = 0.0

    @property
    def length(self) -> float:
        """Period of the box (length unit)."""
        return self.b.shape[1] * self.dx

    @classmethod
    def from_waves(cls, waves: WaveField, n: int, length: float) -> GridField:
        """Sample a slab :class:`WaveField` (all k along x) on ``n`` nodes of a periodic box.

        The waves should be periodic in ``length`` (``synthetic_turbulence(...,
        box_length=length)``); linear interpolation then resolves a wavelength
        2 pi / k with an amplitude error ~ (k dx)^2 / 8.
        """
        if np.any(waves.k[:, 1:] != 0.0):
            raise ValueError("only slab waves (k along x) can be put on a 1D grid")
        xs = np.arange(n) * (length / n)
        c = np.cos(np.outer(waves.k[:, 0], xs) + waves.phase[:, None])
        b = waves.b0[:, None] + waves.amp.T @ c
        return cls(e=np.zeros_like(b), b=b, dx=length / n)

    @classmethod
    def uniform(cls, b: ArrayLike, e: ArrayLike = (0.0, 0.0, 0.0), n: int = 4,
                dx: float = 1.0) -> GridField:
        """Uniform fields ``b`` and ``e`` (3-vectors) on a small periodic grid."""
        bb = np.repeat(np.asarray(b, dtype=float).reshape(3, 1), n, axis=1)
        ee = np.repeat(np.asarray(e, dtype=float).reshape(3, 1), n, axis=1)
        return cls(e=ee, b=bb, dx=dx)


@dataclass(frozen=True)
class WaveField:
    """Static magnetic field B0 + sum_n a_n cos(k_n . r + phi_n) (study Eq. 16); E = 0.

    Attributes
    ----------
    b0 : numpy.ndarray
        Mean field (3,).
    k : numpy.ndarray
        Wave vectors (n_m, 3) in 1/length.
    amp : numpy.ndarray
        Vector amplitudes (n_m, 3) = sqrt(2) dB A_n xi_n, with xi_n . k_n = 0.
    phase : numpy.ndarray
        Phases phi_n (n_m,).
    """

    b0: np.ndarray
    k: np.ndarray
    amp: np.ndarray
    phase: np.ndarray

    def b_at(self, r: ArrayLike) -> np.ndarray:
        """Magnetic field at positions ``r`` (..., 3) (numpy; for checks and plots)."""
        rr = np.asarray(r, dtype=float)
        c = np.cos(rr @ self.k.T + self.phase)
        return self.b0 + c @ self.amp


@dataclass(frozen=True)
class Scattering:
    """Stochastic small-angle scattering, uniform or in the 1D two-phase medium.

    nu(x) = ``nu_mm`` where (x / period mod 1) <= ``f_mm`` and ``nu_res`` elsewhere
    (rates per unit time). A uniform rate is ``f_mm = 1``.
    """

    nu_mm: float
    nu_res: float = 0.0
    f_mm: float = 1.0
    period: float = 1.0
    convention: str = "lorentz"

    def __post_init__(self) -> None:
        if self.convention not in _CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(_CONVENTIONS)}")
        if self.nu_mm < 0 or self.nu_res < 0 or self.period <= 0:
            raise ValueError("rates must be >= 0 and the period > 0")

    @classmethod
    def uniform(cls, nu: float, convention: str = "lorentz") -> Scattering:
        """Scattering at the same rate ``nu`` everywhere."""
        return cls(nu_mm=nu, nu_res=nu, f_mm=1.0, convention=convention)

    @classmethod
    def two_phase(cls, nu_mm: float, nu_res: float, f_mm: float, period: float = 1.0,
                  convention: str = "lorentz") -> Scattering:
        """Two-phase medium of the study's Section 3.8 (micromirror fraction ``f_mm``)."""
        return cls(nu_mm=nu_mm, nu_res=nu_res, f_mm=f_mm, period=period,
                   convention=convention)

    @property
    def variance_factor(self) -> float:
        """g in <delta theta^2> = g nu dt."""
        return _CONVENTIONS[self.convention]


_NO_SCATTERING = Scattering(nu_mm=0.0, nu_res=0.0)


@dataclass(frozen=True)
class Trajectories:
    """Output of :func:`integrate_particles`.

    Attributes
    ----------
    t : numpy.ndarray
        Output times (n_out,).
    r : numpy.ndarray
        Positions (n_out, n, 3), never wrapped.
    u : numpy.ndarray
        Momenta per unit mass gamma v / c (n_out, n, 3); half a step behind ``r``
        (leapfrog), exact at the outputs for a scattering-only run.
    """

    t: np.ndarray
    r: np.ndarray
    u: np.ndarray

    @property
    def x(self) -> np.ndarray:
        """Positions along x (the mean-field direction), shape (n_out, n)."""
        return self.r[..., 0]


@dataclass(frozen=True)
class Trajectories1D:
    """Output of :func:`integrate_scattering_1d`: ``t`` (n_out,), ``x`` and ``mu`` (n_out, n)."""

    t: np.ndarray
    x: np.ndarray
    mu: np.ndarray
    n_steps: int


# --------------------------------------------------------------------- random streams


@njit(cache=True)
def _next_u64(state, i):
    """splitmix64 step of stream ``i``."""
    z = state[i] + np.uint64(0x9E3779B97F4A7C15)
    state[i] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(state, i):
    """Uniform deviate in [0, 1) from stream ``i``."""
    return np.float64(_next_u64(state, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _normal(state, i):
    """Standard normal deviate (Marsaglia polar method)."""
    while True:
        a = 2.0 * _uniform(state, i) - 1.0
        b = 2.0 * _uniform(state, i) - 1.0
        s = a * a + b * b
        if 0.0 < s < 1.0:
            return a * math.sqrt(-2.0 * math.log(s) / s)


@njit(cache=True)
def _unit_circle(state, i):
    """(cos psi, sin psi) of a uniformly random azimuth psi (rejection from the disk)."""
    while True:
        a = 2.0 * _uniform(state, i) - 1.0
        b = 2.0 * _uniform(state, i) - 1.0
        s = a * a + b * b
        if 0.0 < s < 1.0:
            r = 1.0 / math.sqrt(s)
            return a * r, b * r


@njit(cache=True)
def _deflection(state, i, variance):
    """Deflection angle |X| sqrt(variance), X ~ N(0, 1), and an independent random azimuth.

    Returns (theta, cos psi, sin psi).
    """
    theta = abs(_normal(state, i)) * math.sqrt(variance)
    cp, sp = _unit_circle(state, i)
    return theta, cp, sp


def _streams(seed: int, n: int) -> np.ndarray:
    """One independent 64-bit stream state per particle."""
    return np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64)


# ------------------------------------------------------------------ shared kernels


@njit(cache=True)
def _kick3(ux, uy, uz, variance, state, i):
    """Rotate u by a random small angle (variance ``variance``) about a random azimuth."""
    p = math.sqrt(ux * ux + uy * uy + uz * uz)
    if p == 0.0:
        return ux, uy, uz
    nx, ny, nz = ux / p, uy / p, uz / p
    # e1 = normalised (a x n) with a the axis least aligned with n; e2 = n x e1
    if abs(nx) < 0.9:
        e1x, e1y, e1z = 0.0, -nz, ny
    else:
        e1x, e1y, e1z = nz, 0.0, -nx
    s = math.sqrt(e1x * e1x + e1y * e1y + e1z * e1z)
    e1x, e1y, e1z = e1x / s, e1y / s, e1z / s
    e2x = ny * e1z - nz * e1y
    e2y = nz * e1x - nx * e1z
    e2z = nx * e1y - ny * e1x
    theta, cp, sp = _deflection(state, i, variance)
    ct, st = math.cos(theta), math.sin(theta)
    mx = ct * nx + st * (cp * e1x + sp * e2x)
    my = ct * ny + st * (cp * e1y + sp * e2y)
    mz = ct * nz + st * (cp * e1z + sp * e2z)
    s = p / math.sqrt(mx * mx + my * my + mz * mz)
    return mx * s, my * s, mz * s


@njit(cache=True)
def _nu_at(x, nu_mm, nu_res, f_mm, period):
    """Scattering rate at position x of the two-phase medium."""
    if f_mm >= 1.0:
        return nu_mm
    s = x / period
    if s - math.floor(s) <= f_mm:
        return nu_mm
    return nu_res


@njit(cache=True)
def _field_at(mode, x, y, z, grid, dx, x0, wk, wa, wp, b0):
    """E and B at (x, y, z): mode 0 = periodic grid (CIC in x), mode 1 = plane waves."""
    if mode == 0:
        n = grid.shape[1]
        s = (x - x0) / dx
        fl = math.floor(s)
        f = s - fl
        i = int(fl) % n
        j = (i + 1) % n
        return ((1.0 - f) * grid[0, i] + f * grid[0, j], (1.0 - f) * grid[1, i] + f * grid[1, j],
                (1.0 - f) * grid[2, i] + f * grid[2, j], (1.0 - f) * grid[3, i] + f * grid[3, j],
                (1.0 - f) * grid[4, i] + f * grid[4, j], (1.0 - f) * grid[5, i] + f * grid[5, j])
    bx, by, bz = b0[0], b0[1], b0[2]
    for m in range(wk.shape[0]):
        c = math.cos(wk[m, 0] * x + wk[m, 1] * y + wk[m, 2] * z + wp[m])
        bx += wa[m, 0] * c
        by += wa[m, 1] * c
        bz += wa[m, 2] * c
    return 0.0, 0.0, 0.0, bx, by, bz


@njit(cache=True, parallel=True)
def _boris_kernel(r, u, half_qm_dt, dt, stride, mode, grid, dx, x0, wk, wa, wp, b0,
                  nu_mm, nu_res, f_mm, period, var_factor, state, out_r, out_u):
    """Push every particle through ``(n_out - 1) * stride`` steps, storing every ``stride``."""
    n_out = out_r.shape[0]
    scatter = nu_mm > 0.0 or nu_res > 0.0
    for p in prange(r.shape[0]):
        x, y, z = r[p, 0], r[p, 1], r[p, 2]
        ux, uy, uz = u[p, 0], u[p, 1], u[p, 2]
        out_r[0, p, 0], out_r[0, p, 1], out_r[0, p, 2] = x, y, z
        out_u[0, p, 0], out_u[0, p, 1], out_u[0, p, 2] = ux, uy, uz
        for k in range(1, n_out):
            for _ in range(stride):
                ex, ey, ez, bx, by, bz = _field_at(mode, x, y, z, grid, dx, x0, wk, wa, wp, b0)
                ux, uy, uz = boris_kick_rotate(ux, uy, uz, ex, ey, ez, bx, by, bz, half_qm_dt)
                ig = dt / math.sqrt(1.0 + ux * ux + uy * uy + uz * uz)
                x += ux * ig
                y += uy * ig
                z += uz * ig
                if scatter:
                    nu = _nu_at(x, nu_mm, nu_res, f_mm, period)
                    if nu > 0.0:
                        ux, uy, uz = _kick3(ux, uy, uz, var_factor * nu * dt, state, p)
            out_r[k, p, 0], out_r[k, p, 1], out_r[k, p, 2] = x, y, z
            out_u[k, p, 0], out_u[k, p, 1], out_u[k, p, 2] = ux, uy, uz


@njit(cache=True)
def _phase_ahead(x, vx, nu_mm, nu_res, f_mm, period):
    """Rate of the phase the particle is moving into and the distance to its far edge."""
    if f_mm >= 1.0:
        return nu_mm, np.inf
    if f_mm <= 0.0:
        return nu_res, np.inf
    s = x / period
    eta = 1e-12 * (1.0 + abs(s))  # boundary fuzz >> rounding of s, so every step advances
    xi = s - math.floor(s)
    if vx >= 0.0:
        if xi + eta >= 1.0:
            xi -= 1.0
        if xi + eta <= f_mm:
            return nu_mm, (f_mm - xi) * period
        return nu_res, (1.0 - xi) * period
    if xi - eta < 0.0:
        xi += 1.0
    if xi - eta > f_mm:
        return nu_res, (xi - f_mm) * period
    return nu_mm, xi * period


@njit(cache=True, parallel=True)
def _scatter1d_kernel(x, mu, v, t_out, nu_mm, nu_res, f_mm, period, var_factor, eps, state,
                      out_x, out_mu, n_steps):
    """Adaptive-step 1D scattering Monte Carlo (see :func:`integrate_scattering_1d`)."""
    n_out = t_out.shape[0]
    for p in prange(x.shape[0]):
        xp = x[p]
        m = mu[p]
        t = t_out[0]
        out_x[0, p] = xp
        out_mu[0, p] = m
        k = 1
        count = 0
        while k < n_out:
            vx = v * m
            nu, dist = _phase_ahead(xp, vx, nu_mm, nu_res, f_mm, period)
            step = t_out[k] - t
            at_output = True
            if nu > 0.0 and eps / nu < step:
                step = eps / nu
                at_output = False
            if vx != 0.0 and dist / abs(vx) < step:
                step = dist / abs(vx)
                at_output = False
            xp += vx * step
            if nu > 0.0:
                theta, cp, _ = _deflection(state, p, var_factor * nu * step)
                m = m * math.cos(theta) + math.sqrt(max(0.0, 1.0 - m * m)) * math.sin(theta) * cp
                m = min(1.0, max(-1.0, m))
            count += 1
            if at_output:
                t = t_out[k]
                out_x[k, p] = xp
                out_mu[k, p] = m
                k += 1
            else:
                t += step
        n_steps[p] = count


# ------------------------------------------------------------------- public API


def isotropic_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors uniform on the sphere (mu = cos uniform in [-1, 1]), shape (n, 3)."""
    mu = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    s = np.sqrt(1.0 - mu * mu)
    return np.stack([mu, s * np.cos(phi), s * np.sin(phi)], axis=1)


def synthetic_turbulence(n_modes: int, db: float, k_min: float, k_max: float,
                         spectral_index: float = 5.0 / 3.0, geometry: str = "slab",
                         b0: ArrayLike = (1.0, 0.0, 0.0), seed: int = 0,
                         box_length: float | None = None) -> WaveField:
    """Plane-wave synthetic turbulence of the study's Eq. 16.

    dB(r) = sqrt(2) dB sum_n xi_n A_n cos(k_n k_hat_n . r + phi_n) with ``n_modes``
    log-spaced k_n in [k_min, k_max], A_n^2 proportional to G(k_n) dk_n (dk_n: local mode
    spacing) with
    G(k) ~ k^-spectral_index (for ``"slab"`` the 1D spectrum of dB_perp; for
    ``"isotropic"`` the omnidirectional spectrum), sum A_n^2 = 1 so <dB^2> = dB^2,
    phases uniform in [0, 2 pi), polarisations xi_n random unit vectors with
    xi_n . k_hat_n = 0 (div B = 0). Slab: k_hat = x_hat. Isotropic: k_hat uniform on
    the sphere.

    Parameters
    ----------
    n_modes : int
        Number of waves n_m.
    db : float
        rms fluctuation amplitude sqrt(<|dB|^2>) (field unit).
    k_min, k_max : float
        Wavenumber range (1/length).
    spectral_index : float
        Spectral slope (5/3: Kolmogorov).
    geometry : {"slab", "isotropic"}
        Wave-vector distribution.
    b0 : array_like
        Mean field (3,).
    seed : int
        Random seed.
    box_length : float, optional
        Make the field periodic in x with this period: k_n are rounded to harmonics of
        2 pi / box_length (duplicates merged, so fewer modes may remain); slab only.

    Returns
    -------
    WaveField
    """
    if geometry not in ("slab", "isotropic"):
        raise ValueError("geometry must be 'slab' or 'isotropic'")
    rng = np.random.default_rng(seed)
    if n_modes == 1:
        k = np.array([k_min], dtype=float)
    else:
        k = np.geomspace(k_min, k_max, n_modes)
    if box_length is not None:
        if geometry != "slab":
            raise ValueError("box_length is only supported for slab turbulence")
        k0 = 2.0 * np.pi / box_length
        k = k0 * np.unique(np.maximum(1, np.round(k / k0)))
        if k.size < n_modes:
            log.info("periodic slab turbulence: %d distinct harmonics of %d", k.size, n_modes)
        n_modes = k.size
    dk = np.gradient(k) if k.size > 1 else np.ones(1)  # band represented by each mode
    a2 = k ** (-spectral_index) * dk  # G(k) dk
    a = np.sqrt(a2 / a2.sum())
    if geometry == "slab":
        khat = np.tile([1.0, 0.0, 0.0], (n_modes, 1))
    else:
        khat = isotropic_directions(n_modes, rng)
    # polarisation: random direction in the plane perpendicular to k_hat
    e1 = np.cross(khat, np.where(np.abs(khat[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(khat, e1)
    alpha = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    xi = np.cos(alpha)[:, None] * e1 + np.sin(alpha)[:, None] * e2
    phase = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    return WaveField(b0=np.asarray(b0, dtype=float).reshape(3), k=k[:, None] * khat,
                     amp=np.sqrt(2.0) * db * a[:, None] * xi, phase=phase)


def integrate_particles(r0: ArrayLike, u0: ArrayLike, field: GridField | WaveField, *,
                        dt: float, n_out: int, stride: int = 1,
                        charge_over_mass: float = 1.0, scattering: Scattering | None = None,
                        seed: int = 0) -> Trajectories:
    """Relativistic Boris push of test particles in a static field, with optional scattering.

    Parameters
    ----------
    r0 : array_like
        Initial positions (n, 3) (length unit; c = 1).
    u0 : array_like
        Initial momenta per unit mass u = gamma v / c (n, 3).
    field : GridField or WaveField
        Static field (E and B in the unit where du/dt = (q/m)(E + v x B)).
    dt : float
        Time step (time unit). Resolve the gyration (Omega dt <~ 0.1) and the smallest
        wavelength; with scattering keep nu dt << 1.
    n_out : int
        Number of stored states, including the initial one (times k * stride * dt).
    stride : int
        Steps between stored states.
    charge_over_mass : float
        q/m (pic1d: e/m_e units, -1 for electrons).
    scattering : Scattering, optional
        Small-angle scattering applied after every step (rate taken at the new position).
    seed : int
        Seed of the per-particle random streams.

    Returns
    -------
    Trajectories
    """
    r = np.ascontiguousarray(r0, dtype=np.float64).reshape(-1, 3).copy()
    u = np.ascontiguousarray(u0, dtype=np.float64).reshape(-1, 3).copy()
    if r.shape != u.shape:
        raise ValueError("r0 and u0 must both have shape (n, 3)")
    sc = _NO_SCATTERING if scattering is None else scattering
    empty2 = np.zeros((0, 3))
    if isinstance(field, GridField):
        mode, grid = 0, np.ascontiguousarray(np.vstack([field.e, field.b]), dtype=np.float64)
        dx, x0 = float(field.dx), float(field.x0)
        wk, wa, wp, b0 = empty2, empty2, np.zeros(0), np.zeros(3)
    elif isinstance(field, WaveField):
        mode, grid, dx, x0 = 1, np.zeros((6, 1)), 1.0, 0.0
        wk = np.ascontiguousarray(field.k, dtype=np.float64)
        wa = np.ascontiguousarray(field.amp, dtype=np.float64)
        wp = np.ascontiguousarray(field.phase, dtype=np.float64)
        b0 = np.ascontiguousarray(field.b0, dtype=np.float64)
    else:
        raise TypeError("field must be a GridField or a WaveField")
    out_r = np.empty((n_out, r.shape[0], 3))
    out_u = np.empty_like(out_r)
    log.debug("Boris: %d particles, %d steps, mode %d", r.shape[0], (n_out - 1) * stride, mode)
    _boris_kernel(r, u, 0.5 * charge_over_mass * dt, dt, stride, mode, grid, dx, x0,
                  wk, wa, wp, b0, sc.nu_mm, sc.nu_res, sc.f_mm, sc.period,
                  sc.variance_factor, _streams(seed, r.shape[0]), out_r, out_u)
    return Trajectories(t=np.arange(n_out) * stride * dt, r=out_r, u=out_u)


def integrate_scattering_1d(x0: ArrayLike, mu0: ArrayLike, v: float, t_out: ArrayLike,
                            scattering: Scattering, *, eps: float = 0.1,
                            seed: int = 0) -> Trajectories1D:
    """Field-free 1D Monte Carlo of small-angle scattering (positions along the mean field).

    Each step lasts dt = min(eps / nu(x), time to the next phase boundary, time to the
    next output), the particle moves by v mu dt, then mu is rotated by the small-angle
    kick of :class:`Scattering` (mu' = mu cos d + sqrt(1 - mu^2) sin d cos psi). Steps
    never straddle a phase boundary, so the two-phase geometry is exact.

    Parameters
    ----------
    x0, mu0 : array_like
        Initial positions (length unit) and pitch-angle cosines, shape (n,).
    v : float
        Particle speed (length per time unit).
    t_out : array_like
        Increasing output times; ``t_out[0]`` is the initial time.
    scattering : Scattering
        Rates (per unit time) and phase geometry.
    eps : float
        nu dt per step (<= 0.5 keeps the discrete-walk bias of kappa below 2 %).
    seed : int
        Seed of the per-particle random streams.

    Returns
    -------
    Trajectories1D
    """
    x = np.ascontiguousarray(x0, dtype=np.float64).copy()
    mu = np.ascontiguousarray(mu0, dtype=np.float64).copy()
    t = np.ascontiguousarray(t_out, dtype=np.float64)
    if x.shape != mu.shape or x.ndim != 1:
        raise ValueError("x0 and mu0 must be 1D arrays of equal length")
    if np.any(np.diff(t) <= 0):
        raise ValueError("t_out must be increasing")
    out_x = np.empty((t.size, x.size))
    out_mu = np.empty_like(out_x)
    n_steps = np.zeros(x.size, dtype=np.int64)
    _scatter1d_kernel(x, mu, float(v), t, scattering.nu_mm, scattering.nu_res, scattering.f_mm,
                      scattering.period, scattering.variance_factor, float(eps),
                      _streams(seed, x.size), out_x, out_mu, n_steps)
    return Trajectories1D(t=t.copy(), x=out_x, mu=out_mu, n_steps=int(n_steps.sum()))
