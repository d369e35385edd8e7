"""Linear dispersion of parallel (k || B0) electromagnetic waves in bi-Maxwellian plasmas.

Solves PHYSICS.md section 4.2 for the left-hand (ion-cyclotron, "L") and right-hand
(whistler / fast, "R") circularly polarised branches,

    D(k, w) = w^2 - c^2 k^2 + sum_s w_ps^2 [ (w / (k v_s)) Z(zeta_s)
              + (A_s - 1) (1 + zeta_s Z(zeta_s)) ] = 0,
    zeta_s = (w -+ Omega_s) / (k v_s),  v_s = sqrt(2 T_par,s / m_s),  A_s = T_perp,s/T_par,s,

upper sign L, lower sign R, Omega_s = q_s B / (m_s c) signed. The relation is
**non-relativistic** (bi-Maxwellian, no relativistic mass increase) and keeps the
displacement current (the w^2 term, finite v_A/c).

Normalisation (NHDS-compatible, Verscharen & Chandran 2018): species 0 is the
reference. Frequencies are in Omega_ref = |q_ref| B / (m_ref c), wavenumbers in
1/d_ref with d_ref = v_A / Omega_ref and v_A = B / sqrt(4 pi n_ref m_ref) (the mass
density of the reference species only), masses in m_ref, charges in e (only the
ratio q_s/|q_ref| enters), densities in n_ref, beta_par,s = 8 pi n_s T_par,s / B^2 (each
species' own density and temperature). Multiplying D by (v_A / (c Omega_ref))^2 gives
the form solved here,

    D~ = (v_A/c)^2 w^2 - k^2 + sum_s (n_s q_s^2 / m_s) [ ... ],
    zeta_s = (w -+ q_s/m_s) / (k sqrt(beta_s / (n_s m_s))),

with every quantity in the reference units above.

Public API: see ``__all__`` and docs/dispersion.md; command line
``python -m postprocess.dispersion RUN`` or ``... --beta-par 1 --anisotropy 2 --mode L``.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, minimize_scalar
from scipy.special import wofz

__all__ = [
    "DispersionHistory",
    "RootLostError",
    "Species",
    "UnstableBand",
    "cold_root",
    "default_k",
    "dispersion_function",
    "dispersion_history",
    "from_history",
    "main",
    "max_growth",
    "normalised_species",
    "plasma_z",
    "plasma_zprime",
    "solve_branch",
    "threshold",
    "unstable_range",
]

log = logging.getLogger(__name__)

SQRT_PI = math.sqrt(math.pi)
NONRELATIVISTIC_NOTE = (
    "note: non-relativistic bi-Maxwellian dispersion relation (parallel propagation, "
    "displacement current kept)"
)
_ASYMPTOTIC_RADIUS = 8.0  # |zeta| above which 1 + zeta Z is summed asymptotically
_ASYMPTOTIC_TERMS = 30  # error of the truncated series < 1e-20 relative at |zeta| = 8


class RootLostError(RuntimeError):
    """Raised when the branch continuation cannot follow a root."""


# --------------------------------------------------------------------------------------
# Plasma dispersion function
# --------------------------------------------------------------------------------------
def plasma_z(zeta: ArrayLike) -> NDArray[np.complex128]:
    """Fried & Conte plasma dispersion function Z(zeta) = i sqrt(pi) w(zeta).

    Valid in the whole complex plane: for Im zeta <= 0 it is the analytic (Landau)
    continuation of the upper-half-plane integral, as provided by the Faddeeva
    function ``scipy.special.wofz``.

    Parameters
    ----------
    zeta : array_like
        Complex argument (dimensionless).

    Returns
    -------
    numpy.ndarray
        Z(zeta), complex, same shape as ``zeta``.
    """
    return 1j * SQRT_PI * wofz(np.asarray(zeta, dtype=np.complex128))


def _one_plus_zeta_z(zeta: NDArray[np.complex128], z: NDArray[np.complex128]) -> NDArray:
    """Return 1 + zeta Z(zeta) without cancellation at large |zeta|.

    For |zeta| < 8 the direct sum is used (at most ~2 digits lost). Beyond, the
    asymptotic series -sum_n (2n-1)!! / (2 zeta^2)^n (even in zeta, exact in the upper
    half plane up to exponentially small terms) is summed, and the Landau term
    sigma i sqrt(pi) zeta exp(-zeta^2) (sigma = 0, 1, 2 for Im zeta >, =, < 0) is added
    from the identity w(z) = 2 exp(-z^2) - w(-z).
    """
    g = 1.0 + zeta * z
    big = np.abs(zeta) >= _ASYMPTOTIC_RADIUS
    if np.any(big):
        zb = zeta[big]
        u = 0.5 / (zb * zb)
        s = np.ones_like(zb)
        for m in range(_asymptotic_terms(float(np.max(np.abs(u)))), 1, -1):
            s = 1.0 + (2 * m - 1) * u * s
        g_big = -u * s
        below = zb.imag <= 0
        if np.any(below):
            sigma = np.where(zb.imag < 0, 2.0, 1.0)[below]
            with np.errstate(over="ignore", invalid="ignore"):
                g_big[below] += sigma * 1j * SQRT_PI * zb[below] * np.exp(-zb[below] ** 2)
        g[big] = g_big
    return g


def _asymptotic_terms(u_max: float) -> int:
    """Number of terms of sum_n (2n-1)!! u^n giving ~1e-18 relative accuracy."""
    n, ratio = 1, 1.0
    while n < _ASYMPTOTIC_TERMS:
        n += 1
        ratio *= (2 * n - 1) * u_max
        if ratio < 1e-18:
            break
    return n


def plasma_zprime(zeta: ArrayLike) -> NDArray[np.complex128]:
    """Derivative of the plasma dispersion function, Z'(zeta) = -2 (1 + zeta Z(zeta)).

    Parameters
    ----------
    zeta : array_like
        Complex argument (dimensionless), anywhere in the complex plane.

    Returns
    -------
    numpy.ndarray
        Z'(zeta), complex, same shape as ``zeta``. Evaluated with an asymptotic series
        for |zeta| >= 8 so that it keeps full relative precision (no cancellation).
    """
    zeta = np.atleast_1d(np.asarray(zeta, dtype=np.complex128))
    shape = np.shape(zeta)
    zeta = zeta.ravel()
    out = -2.0 * _one_plus_zeta_z(zeta, plasma_z(zeta))
    return out.reshape(shape)


# --------------------------------------------------------------------------------------
# Species and the dispersion function
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Species:
    """One bi-Maxwellian species, in the reference-species (NHDS) normalisation.

    Parameters
    ----------
    charge : float
        Charge in e (signed). Only q_s / |q_ref| enters; Omega_s = q_s B / (m_s c)
        is signed, so mode L resonates with positive, mode R with negative species.
    mass : float
        Mass in m_ref (the reference species has mass 1).
    density : float
        Density in n_ref (the reference species has density 1).
    beta_par : float
        beta_par,s = 8 pi n_s T_par,s / B^2 with the species' own n_s and T_par,s
        (>= 0; 0 means cold).
    anisotropy : float
        T_perp,s / T_par,s (> 0).
    """

    charge: float
    mass: float
    density: float
    beta_par: float
    anisotropy: float = 1.0

    def __post_init__(self) -> None:
        if self.mass <= 0 or self.density < 0 or self.beta_par < 0 or self.anisotropy <= 0:
            raise ValueError(f"unphysical species parameters: {self}")
        if self.charge == 0:
            raise ValueError("species charge must be non-zero")


@dataclass(frozen=True)
class _Params:
    """Species parameters packed as arrays in reference units (internal)."""

    weight: NDArray[np.float64]  # n_s q_s^2 / m_s = (w_ps / w_p,ref)^2
    omega_c: NDArray[np.float64]  # Omega_s / Omega_ref (signed)
    vth: NDArray[np.float64]  # v_par,s / v_A = sqrt(beta_s / (n_s m_s))
    anis: NDArray[np.float64]  # T_perp / T_par
    cold: NDArray[np.bool_]
    va_c2: float  # (v_A / c)^2
    sign: float  # +1 for L, -1 for R

    @property
    def has_cold(self) -> bool:
        return bool(self.cold.any())

    @property
    def has_warm(self) -> bool:
        return not bool(self.cold.all())


def _mode_sign(mode: str) -> float:
    m = mode.upper()
    if m not in ("L", "R"):
        raise ValueError(f"mode must be 'L' or 'R', got {mode!r}")
    return 1.0 if m == "L" else -1.0


def _pack(species: Sequence[Species], v_A_over_c: float, mode: str) -> _Params:
    if len(species) == 0:
        raise ValueError("need at least one species")
    if not 0 <= v_A_over_c < 1:
        raise ValueError("v_A_over_c must be in [0, 1)")
    q_ref = abs(species[0].charge)
    q = np.array([s.charge for s in species], dtype=float) / q_ref
    m = np.array([s.mass for s in species], dtype=float)
    n = np.array([s.density for s in species], dtype=float)
    beta = np.array([s.beta_par for s in species], dtype=float)
    anis = np.array([s.anisotropy for s in species], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vth = np.where(beta > 0, np.sqrt(beta / (n * m)), 0.0)
    net = float(np.sum(n * q))
    if abs(net) > 1e-6 * float(np.sum(np.abs(n * q))):
        log.warning("plasma is not quasi-neutral: sum n_s q_s = %.3g (n_ref q_ref)", net)
    return _Params(n * q**2 / m, q / m, vth, anis, vth == 0, v_A_over_c**2, _mode_sign(mode))


def _dispersion(
    omega: NDArray[np.complex128], k: NDArray[np.float64], p: _Params, with_dk: bool = False
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], NDArray[np.complex128] | None]:
    """D~(omega, k), dD~/domega and (optionally) dD~/dk, broadcast over omega, k."""
    omega = np.asarray(omega, dtype=np.complex128)
    k = np.asarray(k, dtype=float)
    w = omega[..., None]
    kk = k[..., None]
    d = p.va_c2 * omega**2 - k**2 + 0j
    dd = 2.0 * p.va_c2 * omega
    dk = -2.0 * k + 0j if with_dk else None
    shifted = w - p.sign * p.omega_c
    warm = ~p.cold
    if p.has_cold:
        sh = shifted[..., p.cold]
        wt = p.weight[p.cold]
        d = d - np.sum(wt * w / sh, axis=-1)
        dd = dd + np.sum(wt * p.sign * p.omega_c[p.cold] / sh**2, axis=-1)
    if p.has_warm:
        kv = kk * p.vth[warm]
        zeta = shifted[..., warm] / kv
        zeta0 = w / kv
        shape = zeta.shape
        zf = zeta.ravel()
        z = plasma_z(zf)
        g = _one_plus_zeta_z(zf, z).reshape(shape)
        z = z.reshape(shape)
        zp = -2.0 * g
        am1 = p.anis[warm] - 1.0
        wt = p.weight[warm]
        d = d + np.sum(wt * (zeta0 * z + am1 * g), axis=-1)
        # T = zeta0 Z + (A-1) g, g' = Z + zeta Z';  dT/dw = [Z + zeta0 Z' + (A-1) g'] / kv
        gp = z + zeta * zp
        dd = dd + np.sum(wt * (z + zeta0 * zp + am1 * gp) / kv, axis=-1)
        if with_dk:  # dzeta/dk = -zeta/k, dzeta0/dk = -zeta0/k
            dk = dk - np.sum(wt * (zeta0 * z + zeta * (zeta0 * zp + am1 * gp)), axis=-1) / k
    return d, dd, dk


def dispersion_function(
    omega: ArrayLike,
    k: ArrayLike,
    species: Sequence[Species],
    v_A_over_c: float = 1e-4,
    mode: str = "L",
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Normalised dispersion function D~(omega, k) and its omega-derivative.

    D~ = (v_A/c)^2 w^2 - k^2 + sum_s (n_s q_s^2/m_s) [zeta0 Z(zeta_s) + (A_s-1)(1 + zeta_s
    Z(zeta_s))], i.e. the D of PHYSICS.md 4.2 times (v_A / (c Omega_ref))^2. Non-relativistic.

    Parameters
    ----------
    omega : array_like
        Complex frequency in Omega_ref (broadcast against ``k``).
    k : array_like
        Parallel wavenumber in 1/d_ref (> 0).
    species : sequence of Species
        Species 0 is the reference.
    v_A_over_c : float
        v_A / c with v_A = B / sqrt(4 pi n_ref m_ref).
    mode : {"L", "R"}
        Branch polarisation.

    Returns
    -------
    D, dD_domega : numpy.ndarray
        Complex arrays (dimensionless; dD/domega per Omega_ref).
    """
    omega_a, k_a = np.broadcast_arrays(np.asarray(omega, complex), np.asarray(k, float))
    d, dd, _ = _dispersion(omega_a, k_a, _pack(species, v_A_over_c, mode))
    return d, dd


# --------------------------------------------------------------------------------------
# Root finding
# --------------------------------------------------------------------------------------
def _newton(
    omega0: ArrayLike,
    k: ArrayLike,
    p: _Params,
    maxiter: int = 30,
    rtol: float = 1e-12,
) -> tuple[NDArray[np.complex128], NDArray[np.bool_], int]:
    """Vectorised complex Newton iteration on D~(omega) at fixed k.

    Returns the roots, a convergence mask and the number of iterations used.
    """
    w = np.array(omega0, dtype=np.complex128, ndmin=1)
    kk = np.broadcast_to(np.asarray(k, float), w.shape)
    done = np.zeros(w.shape, dtype=bool)
    last = np.full(w.shape, np.inf)
    it = 0
    with np.errstate(all="ignore"):
        while it < maxiter:
            it += 1
            active = ~done
            d, dd, _ = _dispersion(w[active], kk[active], p)
            step = d / dd
            w[active] -= step
            idx = np.flatnonzero(active)
            last[idx] = np.abs(step)
            ok = np.abs(step) <= rtol * np.abs(w[active]) + 1e-15
            bad = ~np.isfinite(w[active])
            done[idx[ok]] = True
            if np.any(bad):
                w[idx[bad]] = np.nan
                done[idx[bad]] = True
            if np.all(done):
                break
    # round-off limited: accept a last correction below 1e-9 |w| as converged
    done |= last <= 1e-9 * np.abs(w) + 1e-15
    converged = done & np.isfinite(w)
    return w, converged, it


def cold_root(
    k: float, species: Sequence[Species], v_A_over_c: float = 1e-4, mode: str = "L"
) -> complex:
    """Lowest positive-frequency cold-plasma root of n^2 = L (mode L) or n^2 = R (mode R).

    The cold relation (v_A/c)^2 w^2 - k^2 - sum_s (n_s q_s^2/m_s) w / (w -+ Omega_s) = 0,
    displacement current included, is solved as a polynomial and the root polished by
    Newton. At small k this is the Alfven branch (L: ion-cyclotron, R: fast/whistler).

    Parameters
    ----------
    k : float
        Wavenumber in 1/d_ref.
    species, v_A_over_c, mode
        As in :func:`dispersion_function` (temperatures are ignored).

    Returns
    -------
    complex
        omega / Omega_ref (real up to round-off).
    """
    p = _pack(species, v_A_over_c, mode)
    cold = _Params(p.weight, p.omega_c, np.zeros_like(p.vth), p.anis,
                   np.ones_like(p.cold), p.va_c2, p.sign)
    # group species by cyclotron frequency to avoid spurious degenerate factors
    poles: dict[float, float] = {}
    for wt, oc in zip(p.weight, p.omega_c, strict=True):
        key = float(p.sign * oc)
        poles[key] = poles.get(key, 0.0) + float(wt)
    centres = list(poles)
    poly = np.polynomial.Polynomial([-k * k, 0.0, p.va_c2])
    for c in centres:
        poly = poly * np.polynomial.Polynomial([-c, 1.0])
    for c, wt in poles.items():
        term = np.polynomial.Polynomial([0.0, -wt])
        for c2 in centres:
            if c2 != c:
                term = term * np.polynomial.Polynomial([-c2, 1.0])
        poly = poly + term
    roots = poly.roots()
    roots = roots[(roots.real > 0) & (np.abs(roots.imag) <= 1e-6 * np.abs(roots))]
    if roots.size == 0:
        raise RootLostError(f"no positive cold-plasma {mode} root at k = {k:g}")
    guess = roots.real[np.argmin(roots.real)] + 0j
    w, ok, _ = _newton(guess, k, cold)
    return complex(w[0]) if ok[0] else complex(guess)


def _start_k(p: _Params, k_first: float) -> float:
    """A wavenumber small enough that the cold root is an excellent first guess."""
    warm = ~p.cold
    if not np.any(warm):
        return k_first
    kc = 0.2 * float(np.min(np.abs(p.omega_c[warm]) / p.vth[warm]))
    return min(k_first, kc, 0.05)


def _tangent(w: complex, k: float, p: _Params) -> complex:
    """d omega / dk along a root, -(dD/dk) / (dD/domega)."""
    _, dd, dk = _dispersion(np.array([w]), np.array([k]), p, with_dk=True)
    return complex(-dk[0] / dd[0])


def _continue(
    k_from: float,
    w_from: complex,
    targets: NDArray[np.float64],
    p: _Params,
    mode: str,
    on_lost: str = "raise",
    max_steps: int = 100000,
) -> NDArray[np.complex128]:
    """Follow one root from (k_from, w_from) through the increasing ``targets``.

    Predictor: quadratic Hermite extrapolation from the last root, its exact slope
    d omega/dk = -D_k/D_omega and the previous root (tangent only on the first step).
    Corrector: Newton. A step is accepted if Newton converges (<= 10 iterations) and the
    root is the one nearest the prediction, judged by
    |w_new - w_pred| <= 0.2 |w_new - w_prev| + 0.02 h |w_prev| / k_prev (+ round-off);
    otherwise the step is halved. Steps grow by 1.6 after easy steps. If the root is
    lost, raise :class:`RootLostError` (``on_lost="raise"``) or log and return NaN from
    there on (``on_lost="nan"``).
    """
    out = np.full(targets.size, np.nan + 0j, dtype=np.complex128)
    k_prev, w_prev = float(k_from), complex(w_from)
    s_prev = _tangent(w_prev, k_prev, p)
    k_pp: float | None = None
    w_pp = 0j
    h = max(0.25 * k_prev, 1e-12)
    n_steps = 0
    for i, kt in enumerate(targets):
        while k_prev < kt * (1 - 1e-14):
            n_steps += 1
            if n_steps > max_steps:
                raise RootLostError(f"{mode} branch: too many continuation steps near k={k_prev:g}")
            h_try = min(h, kt - k_prev)
            k_new = kt if h_try >= (kt - k_prev) * (1 - 1e-12) else k_prev + h_try
            dk = k_new - k_prev
            w_pred = w_prev + s_prev * dk
            if k_pp is not None:
                dkp = k_pp - k_prev
                curv = (w_pp - w_prev - s_prev * dkp) / dkp**2
                w_pred += curv * dk**2
            w_arr, ok, nit = _newton(w_pred, k_new, p, maxiter=10)
            w_new = complex(w_arr[0])
            tol = (0.2 * abs(w_new - w_prev) + 0.02 * dk * abs(w_prev) / k_prev
                   + 1e-10 * abs(w_prev) + 1e-14)
            if ok[0] and abs(w_new - w_pred) <= tol:
                k_pp, w_pp, k_prev, w_prev = k_prev, w_prev, k_new, w_new
                s_prev = _tangent(w_prev, k_prev, p)
                if nit <= 4:
                    h = 1.6 * dk
            else:
                h = 0.5 * dk
                if h < 1e-9 * max(k_prev, 1e-6):
                    msg = (f"{mode} branch lost near k = {k_prev:.6g} d_ref^-1 "
                           f"(last omega = {w_prev:.6g} Omega_ref): the root could not be "
                           "followed with ever smaller k steps (branch merging or overflow)")
                    if on_lost == "raise":
                        raise RootLostError(msg)
                    log.info("%s; NaN for k >= %g", msg, kt)
                    return out
        out[i] = w_prev
    log.debug("%s branch: %d continuation steps for %d k values", mode, n_steps, targets.size)
    return out


def _check_k(k: ArrayLike) -> NDArray[np.float64]:
    k = np.atleast_1d(np.asarray(k, dtype=float))
    if k.ndim != 1 or np.any(k <= 0) or np.any(np.diff(k) <= 0):
        raise ValueError("k must be a 1-D, strictly increasing array of positive values")
    return k


def solve_branch(
    k: ArrayLike,
    species: Sequence[Species],
    v_A_over_c: float = 1e-4,
    mode: str = "L",
    guess: complex | None = None,
    on_lost: str = "raise",
) -> NDArray[np.complex128]:
    """Complex frequency of the L or R branch along a k grid (non-relativistic).

    Parameters
    ----------
    k : array_like
        Strictly increasing positive wavenumbers in 1/d_ref.
    species : sequence of Species
        Species 0 is the reference (Omega_ref, d_ref, v_A).
    v_A_over_c : float
        v_A / c, v_A = B / sqrt(4 pi n_ref m_ref) (reference mass density only).
    mode : {"L", "R"}
        "L": ion-cyclotron branch (resonance w = +Omega_i); "R": fast/whistler branch.
    guess : complex, optional
        Root (or a close guess) at ``k[0]``. ``None``: start from the cold-plasma Alfven
        root at a small k and continue along k.
    on_lost : {"raise", "nan"}
        What to do if the root is lost: raise :class:`RootLostError`, or return NaN
        for that k and all larger k (logged at INFO level).

    Returns
    -------
    numpy.ndarray
        omega / Omega_ref (complex; imaginary part = growth rate gamma), one per k.

    Raises
    ------
    RootLostError
        If the root cannot be followed (or the guess does not converge).
    """
    k = _check_k(k)
    if on_lost not in ("raise", "nan"):
        raise ValueError(f"on_lost must be 'raise' or 'nan', got {on_lost!r}")
    p = _pack(species, v_A_over_c, mode)
    if guess is None:
        k0 = _start_k(p, float(k[0]))
        w0 = cold_root(k0, species, v_A_over_c, mode)
    else:
        k0, w0 = float(k[0]), complex(guess)
    w_arr, ok, _ = _newton(w0, k0, p)
    if not ok[0]:
        raise RootLostError(f"{mode}: Newton did not converge from {w0} at k = {k0:g}")
    return _continue(k0, complex(w_arr[0]), k, p, mode.upper(), on_lost)


# --------------------------------------------------------------------------------------
# Growth: unstable band, maximum, threshold
# --------------------------------------------------------------------------------------
@dataclass
class UnstableBand:
    """Unstable k range and fastest-growing mode of one branch.

    All wavenumbers in 1/d_ref, frequencies in Omega_ref.

    Attributes
    ----------
    k_lo, k_hi : float
        Edges of the band (containing the fastest mode) where gamma > gamma_min;
        NaN if the branch is nowhere above gamma_min on the grid.
    k_max : float
        Wavenumber of maximum gamma (refined between grid points).
    omega_max : complex
        Root at ``k_max``; ``omega_max.imag`` is gamma_max.
    bands : list of (float, float)
        All disjoint intervals with gamma > gamma_min.
    truncated : bool
        True if a band touches the end of the k grid.
    k, omega : numpy.ndarray
        The grid and roots used.
    """

    k_lo: float
    k_hi: float
    k_max: float
    omega_max: complex
    bands: list[tuple[float, float]] = field(default_factory=list)
    truncated: bool = False
    k: NDArray[np.float64] | None = None
    omega: NDArray[np.complex128] | None = None

    @property
    def gamma_max(self) -> float:
        """Maximum growth rate in Omega_ref."""
        return float(self.omega_max.imag)


def _root_at(k: float, k_grid: NDArray, w_grid: NDArray, p: _Params) -> complex:
    """Root at an off-grid k by Newton from the interpolated grid roots."""
    guess = np.interp(k, k_grid, w_grid.real) + 1j * np.interp(k, k_grid, w_grid.imag)
    w, ok, _ = _newton(guess, k, p)
    if not ok[0]:
        raise RootLostError(f"Newton failed at k = {k:g} during refinement")
    return complex(w[0])


def _refine_max(k: NDArray, w: NDArray, p: _Params) -> tuple[float, complex]:
    i = int(np.argmax(w.imag))
    if i == 0 or i == k.size - 1:
        return float(k[i]), complex(w[i])
    a, b = float(k[i - 1]), float(k[i + 1])
    res = minimize_scalar(lambda x: -_root_at(x, k, w, p).imag, bounds=(a, b),
                          method="bounded", options={"xatol": 1e-7 * k[i]})
    if -res.fun < w[i].imag:
        return float(k[i]), complex(w[i])
    return float(res.x), _root_at(float(res.x), k, w, p)


def _crossing(k: NDArray, w: NDArray, j: int, gamma_min: float, p: _Params) -> float:
    """k between k[j] and k[j+1] where gamma = gamma_min."""
    def f(x: float) -> float:
        return _root_at(x, k, w, p).imag - gamma_min

    try:
        return float(brentq(f, float(k[j]), float(k[j + 1]), xtol=1e-10 * k[j]))
    except (ValueError, RootLostError):
        g0, g1 = w[j].imag - gamma_min, w[j + 1].imag - gamma_min
        return float(k[j] + (k[j + 1] - k[j]) * g0 / (g0 - g1))


def unstable_range(
    k: ArrayLike,
    species: Sequence[Species],
    v_A_over_c: float = 1e-4,
    mode: str = "L",
    gamma_min: float = 1e-6,
    guess: complex | None = None,
    omega: ArrayLike | None = None,
    on_lost: str = "raise",
) -> UnstableBand:
    """Unstable wavenumber range (gamma > gamma_min) and the fastest-growing mode.

    Parameters
    ----------
    k : array_like
        Increasing positive wavenumbers in 1/d_ref.
    species, v_A_over_c, mode, guess, on_lost
        As in :func:`solve_branch`.
    gamma_min : float
        Growth-rate threshold in Omega_ref. The default 1e-6 ignores the exponentially
        small (and, below ~1e-13, round-off dominated) growth far from resonance.
    omega : array_like, optional
        Roots on ``k`` already computed by :func:`solve_branch` (skips the solve).
        Trailing NaN (lost root) are ignored.

    Returns
    -------
    UnstableBand
        Band edges (gamma = gamma_min crossings, Brent) and the maximum (bounded
        Brent search between the grid neighbours of the largest grid gamma).
    """
    k = _check_k(k)
    p = _pack(species, v_A_over_c, mode)
    w = (solve_branch(k, species, v_A_over_c, mode, guess, on_lost) if omega is None
         else np.asarray(omega, dtype=np.complex128))
    n = int(np.argmin(np.isfinite(w))) if not np.all(np.isfinite(w)) else k.size
    if n < 2:
        raise RootLostError(f"{mode}: fewer than two valid roots on the k grid")
    kf, wf = k[:n], w[:n]
    k_max, w_max = _refine_max(kf, wf, p)
    bands = _bands(kf, wf, gamma_min, p)
    truncated = any(lo <= kf[0] or hi >= kf[-1] for lo, hi in bands)
    k_lo = k_hi = math.nan
    for lo, hi in bands:
        if lo <= k_max <= hi:
            k_lo, k_hi = lo, hi
    return UnstableBand(k_lo, k_hi, k_max, w_max, bands, truncated, k, w)


def _bands(k: NDArray, w: NDArray, gamma_min: float, p: _Params) -> list[tuple[float, float]]:
    """Disjoint k intervals with gamma > gamma_min (edges refined by Brent)."""
    above = w.imag > gamma_min
    bands: list[tuple[float, float]] = []
    j = 0
    while j < k.size:
        if not above[j]:
            j += 1
            continue
        start = j
        while j + 1 < k.size and above[j + 1]:
            j += 1
        lo = float(k[0]) if start == 0 else _crossing(k, w, start - 1, gamma_min, p)
        hi = float(k[-1]) if j == k.size - 1 else _crossing(k, w, j, gamma_min, p)
        bands.append((lo, hi))
        j += 1
    return bands


def max_growth(
    species: Sequence[Species],
    v_A_over_c: float = 1e-4,
    mode: str = "L",
    k: ArrayLike | None = None,
) -> tuple[float, complex]:
    """Fastest-growing (or least-damped) mode of a branch.

    Parameters
    ----------
    species, v_A_over_c, mode
        As in :func:`solve_branch`.
    k : array_like, optional
        Search grid in 1/d_ref (default :func:`default_k`). The grid is extended
        upward (x2, up to 4 times) if the maximum lies at its end. Where the branch
        is lost (deep in the damped region) the rest of the grid is ignored.

    Returns
    -------
    k_max : float
        Wavenumber of maximum gamma in 1/d_ref.
    omega_max : complex
        Root at k_max in Omega_ref (``.imag`` = gamma_max).
    """
    k = default_k(species, mode) if k is None else _check_k(k)
    p = _pack(species, v_A_over_c, mode)
    for _ in range(5):
        w = solve_branch(k, species, v_A_over_c, mode, on_lost="nan")
        n = int(np.argmin(np.isfinite(w))) if not np.all(np.isfinite(w)) else k.size
        i = int(np.argmax(w[:n].imag))
        if n < k.size and i == n - 1:
            log.warning("max_growth: %s branch lost while gamma still rising (k = %g)",
                        mode, k[i])
        if i < k.size - 1:
            break
        log.debug("max_growth: maximum at the grid end, extending k to %g", 2 * k[-1])
        k = np.geomspace(k[0], 2 * k[-1], k.size)
    return _refine_max(k[:n], w[:n], p)


def default_k(species: Sequence[Species], mode: str, n: int = 80) -> NDArray[np.float64]:
    """Default log-spaced k grid in 1/d_ref.

    Mode L: k d_ref in [0.02, 6]. Mode R: k d_x in [0.02, 4] with d_x the inertial
    length of the lightest species of charge sign opposite to the reference (electrons),
    i.e. k d_ref in [0.02, 4] sqrt(n_x q_x^2 / m_x) (in reference units).

    Parameters
    ----------
    species : sequence of Species
    mode : {"L", "R"}
    n : int
        Number of points.
    """
    if _mode_sign(mode) > 0:
        return np.geomspace(0.02, 6.0, n)
    neg = [s for s in species if s.charge * species[0].charge < 0]
    light = min(neg, key=lambda s: s.mass) if neg else species[0]
    scale = math.sqrt(light.density * light.charge**2 / light.mass) / abs(species[0].charge)
    return np.geomspace(0.02 * scale, 4.0 * scale, n)


def threshold(
    beta_par: float,
    gamma_max: float,
    mode: str = "L",
    *,
    mass_ratio: float = 1836.0,
    beta_other: float | None = None,
    v_A_over_c: float = 1e-4,
    k: ArrayLike | None = None,
    xtol: float = 1e-6,
) -> float:
    """Anisotropy T_perp/T_par at which the maximum growth rate equals ``gamma_max``.

    Two-species proton-electron plasma (n_p = n_e):

    * mode "L" (proton-cyclotron instability): bi-Maxwellian protons with
      beta_par,p = ``beta_par`` and the returned anisotropy; isotropic electrons with
      beta_e = ``beta_other`` (default: ``beta_par``, i.e. T_e = T_par,p).
      ``gamma_max`` is in Omega_p.
    * mode "R" (whistler anisotropy instability): bi-Maxwellian electrons with
      beta_par,e = ``beta_par`` and the returned anisotropy; isotropic protons with
      beta_p = ``beta_other`` (default ``beta_par``). ``gamma_max`` is in |Omega_e|.

    Parameters
    ----------
    beta_par : float
        Parallel beta of the anisotropic species.
    gamma_max : float
        Target maximum growth rate, in units of |Omega| of the anisotropic species.
    mode : {"L", "R"}
    mass_ratio : float
        m_p / m_e.
    beta_other : float, optional
        Beta of the isotropic companion species.
    v_A_over_c : float
        v_A / c (proton v_A).
    k : array_like, optional
        k grid in 1/d_p for the growth search (default :func:`default_k`).
    xtol : float
        Absolute tolerance on the anisotropy.

    Returns
    -------
    float
        T_perp / T_par of the anisotropic species at threshold.
    """
    left = _mode_sign(mode) > 0
    b_other = beta_par if beta_other is None else beta_other
    gamma_ref = gamma_max * (1.0 if left else mass_ratio)

    def make(a: float) -> list[Species]:
        if left:
            return [Species(1, 1, 1, beta_par, a), Species(-1, 1 / mass_ratio, 1, b_other, 1.0)]
        return [Species(1, 1, 1, b_other, 1.0), Species(-1, 1 / mass_ratio, 1, beta_par, a)]

    def excess(a: float) -> float:
        return max_growth(make(a), v_A_over_c, mode, k)[1].imag - gamma_ref

    lo, hi = 1.0, 1.5
    f_hi = excess(hi)
    while f_hi < 0:
        lo, hi = hi, 1.0 + 2.0 * (hi - 1.0)
        if hi > 1e3:
            raise RuntimeError("threshold: no bracketing anisotropy below 1000")
        f_hi = excess(hi)
    return float(brentq(excess, lo, hi, xtol=xtol, rtol=1e-10))


# --------------------------------------------------------------------------------------
# Driver: time-dependent moments of a run
# --------------------------------------------------------------------------------------
@dataclass
class DispersionHistory:
    """L and R roots and unstable bands at each output time of a run.

    Frequencies are in the instantaneous Omega_ref(t) and wavenumbers in 1/d_ref(t);
    ``omega_ref`` and ``d_ref`` (code units: omega_pe0, d_e0) convert them; the methods
    :meth:`in_initial_units` and :meth:`band_arrays` (``initial=True``) give
    omega / Omega_ref0 and k d_ref0 for overlays on spectrograms.

    Attributes
    ----------
    time : (n_t,) array, 1/omega_pe0.
    species : list of list of Species, the normalised species at each time.
    k_L, k_R : (n_k,) arrays, 1/d_ref(t).
    omega_L, omega_R : (n_t, n_k) complex arrays, Omega_ref(t) (NaN where lost).
    band_L, band_R : list of UnstableBand or None (None where the solve failed).
    omega_ref : (n_t,) Omega_ref(t) / omega_pe0.
    d_ref : (n_t,) d_ref(t) / d_e0 (= c / omega_p,ref(t)).
    v_A_over_c : (n_t,).
    omega_ref0, d_ref0 : float, the initial Omega_ref (omega_pe0) and d_ref (d_e0).
    gamma_min : float, band threshold used (Omega_ref(t)).
    """

    time: NDArray[np.float64]
    species: list[list[Species]]
    k_L: NDArray[np.float64]
    k_R: NDArray[np.float64]
    omega_L: NDArray[np.complex128]
    omega_R: NDArray[np.complex128]
    band_L: list[UnstableBand | None]
    band_R: list[UnstableBand | None]
    omega_ref: NDArray[np.float64]
    d_ref: NDArray[np.float64]
    v_A_over_c: NDArray[np.float64]
    omega_ref0: float
    d_ref0: float
    gamma_min: float = 1e-6

    def in_initial_units(self, mode: str) -> tuple[NDArray, NDArray]:
        """k d_ref0 and omega / Omega_ref0 of a branch, shape (n_t, n_k) each."""
        left = _mode_sign(mode) > 0
        k, w = (self.k_L, self.omega_L) if left else (self.k_R, self.omega_R)
        kk = k[None, :] * (self.d_ref0 / self.d_ref)[:, None]
        return kk, w * (self.omega_ref / self.omega_ref0)[:, None]

    def band_arrays(self, mode: str, initial: bool = False) -> dict[str, NDArray[np.float64]]:
        """Band vs time: k_lo, k_hi, k_max, gamma_max, omega_r_max, unstable.

        Wavenumbers in 1/d_ref(t) and frequencies in Omega_ref(t), or with
        ``initial=True`` in 1/d_ref0 and Omega_ref0. ``k_max`` is the least-damped mode
        when the branch is stable; ``unstable`` (1.0/0.0) flags gamma_max > gamma_min.
        """
        bands = self.band_L if _mode_sign(mode) > 0 else self.band_R
        keys = ("k_lo", "k_hi", "k_max", "gamma_max", "omega_r_max")
        out = {key: np.full(len(bands), np.nan) for key in keys}
        for i, b in enumerate(bands):
            if b is None:
                continue
            out["k_lo"][i], out["k_hi"][i], out["k_max"][i] = b.k_lo, b.k_hi, b.k_max
            out["gamma_max"][i], out["omega_r_max"][i] = b.gamma_max, b.omega_max.real
        out["unstable"] = (out["gamma_max"] > self.gamma_min).astype(float)
        if initial:
            for key in ("k_lo", "k_hi", "k_max"):
                out[key] = out[key] * self.d_ref0 / self.d_ref
            for key in ("gamma_max", "omega_r_max"):
                out[key] = out[key] * self.omega_ref / self.omega_ref0
        return out


def normalised_species(
    charges: ArrayLike,
    masses: ArrayLike,
    densities: ArrayLike,
    T_perp: ArrayLike,
    T_par: ArrayLike,
    B: float,
    reference: int = 0,
) -> tuple[list[Species], float, float, float]:
    """Convert code-unit moments at one time to NHDS-normalised species.

    Code units: c = 1, omega_pe0 = 1, omega_ps^2 = n_s q_s^2 / m_s (Heaviside-Lorentz,
    4 pi absorbed), so beta_s = 2 n_s T_par,s / B^2, v_A^2 = B^2 / (n_ref m_ref) (NHDS:
    mass density of the reference species only; docs/conventions.md uses n0 (m_i + m_e)
    for its own v_A), Omega_ref = |q_ref| B / m_ref, d_ref = v_A / Omega_ref.

    Parameters
    ----------
    charges : (n_s,) array
        Charges in e.
    masses : (n_s,) array
        Masses in m_e.
    densities : (n_s,) array
        Densities in n0.
    T_perp, T_par : (n_s,) arrays
        Temperatures in m_e c^2.
    B : float
        Field, code units (m_e c omega_pe0 / e); the magnitude is used.
    reference : int
        Index of the reference species (moved to position 0).

    Returns
    -------
    species : list of Species
        Reference first.
    v_A_over_c : float
    omega_ref : float
        Omega_ref in omega_pe0.
    d_ref : float
        d_ref in d_e0.
    """
    q, m, n = (np.asarray(a, float) for a in (charges, masses, densities))
    tpe, tpa = np.asarray(T_perp, float), np.asarray(T_par, float)
    b = abs(float(B))
    order = [reference] + [i for i in range(q.size) if i != reference]
    r = reference
    va = b / math.sqrt(n[r] * m[r])
    omega_ref = abs(q[r]) * b / m[r]
    species = [
        Species(charge=float(q[i]), mass=float(m[i] / m[r]), density=float(n[i] / n[r]),
                beta_par=float(2 * n[i] * tpa[i] / b**2), anisotropy=float(tpe[i] / tpa[i]))
        for i in order
    ]
    return species, va, omega_ref, va / omega_ref


def dispersion_history(
    time: ArrayLike,
    charges: ArrayLike,
    masses: ArrayLike,
    densities: ArrayLike,
    T_perp: ArrayLike,
    T_par: ArrayLike,
    B: ArrayLike,
    *,
    reference: int | None = None,
    k_L: ArrayLike | None = None,
    k_R: ArrayLike | None = None,
    gamma_min: float = 1e-6,
    initial: tuple[float, float] | None = None,
) -> DispersionHistory:
    """L and R roots and unstable bands for time-dependent moments of a run.

    Non-relativistic bi-Maxwellian theory applied to the instantaneous per-species
    moments (n_s, T_perp,s, T_par,s) and field B(t); each time is solved independently
    (cold start, continuation in k). A lost root gives NaN rows and a warning.

    Parameters
    ----------
    time : (n_t,) array
        Output times in 1/omega_pe0.
    charges : (n_s,) array
        Charges in e.
    masses : (n_s,) array
        Masses in m_e (the mass ratio is masses[reference]).
    densities, T_perp, T_par : (n_s, n_t) arrays
        Mean densities (n0) and temperatures (m_e c^2).
    B : (n_t,) array
        Background field B_x in code units (m_e c omega_pe0 / e); its magnitude is used.
    reference : int, optional
        Reference species index (default: the first positive species, normally ions).
    k_L, k_R : array_like, optional
        k grids in 1/d_ref(t) (default :func:`default_k`, 80 points).
    gamma_min : float
        Growth-rate threshold of the band, in Omega_ref(t).
    initial : (float, float), optional
        (Omega_ref0 in omega_pe0, d_ref0 in d_e0) for the initial-unit conversions;
        default: the values at the first time given.

    Returns
    -------
    DispersionHistory
    """
    t = np.atleast_1d(np.asarray(time, float))
    q = np.asarray(charges, float)
    n2, tpe2, tpa2 = (np.asarray(a, float).reshape(q.size, t.size)
                      for a in (densities, T_perp, T_par))
    b = np.broadcast_to(np.asarray(B, float), t.shape)
    ref = int(np.flatnonzero(q > 0)[0]) if reference is None else reference
    res: dict[str, list] = {key: [] for key in ("species", "wL", "wR", "bL", "bR", "va",
                                                 "om", "d")}
    kl = kr = np.empty(0)
    for it in range(t.size):
        sp, va, om, d = normalised_species(q, masses, n2[:, it], tpe2[:, it], tpa2[:, it],
                                           b[it], ref)
        kl = default_k(sp, "L") if k_L is None else _check_k(k_L)
        kr = default_k(sp, "R") if k_R is None else _check_k(k_R)
        for mode, kk, wkey, bkey in (("L", kl, "wL", "bL"), ("R", kr, "wR", "bR")):
            try:
                w = solve_branch(kk, sp, va, mode, on_lost="nan")
                band = unstable_range(kk, sp, va, mode, gamma_min, omega=w)
            except RootLostError as err:
                log.warning("t = %g, mode %s: %s", t[it], mode, err)
                w, band = np.full(kk.size, np.nan + 0j), None
            res[wkey].append(w)
            res[bkey].append(band)
        for key, val in (("species", sp), ("va", va), ("om", om), ("d", d)):
            res[key].append(val)
    om0, d0 = (res["om"][0], res["d"][0]) if initial is None else initial
    return DispersionHistory(
        t, res["species"], kl, kr, np.array(res["wL"]), np.array(res["wR"]), res["bL"],
        res["bR"], np.array(res["om"]), np.array(res["d"]), np.array(res["va"]),
        float(om0), float(d0), gamma_min,
    )


def _decode(names: ArrayLike) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(names)]


def from_history(
    path: str | Path,
    *,
    stride: int = 1,
    times: ArrayLike | None = None,
    **kwargs,
) -> DispersionHistory:
    """Run :func:`dispersion_history` on a run's ``history.h5``.

    Reads ``time``, ``B_x``, ``n_<sp>``, ``T_perp_<sp>``, ``T_par_<sp>`` and the root
    attributes ``species_names``, ``species_charge``, ``species_mass``,
    ``species_tracer`` (docs/conventions.md). Tracer species are skipped. The initial
    units (Omega_ref0, d_ref0) are those of the first output of the file.

    Parameters
    ----------
    path : str or Path
        ``history.h5`` or the run directory containing it.
    stride : int
        Use every ``stride``-th output.
    times : array_like, optional
        Times (1/omega_pe0): use the outputs nearest to these instead of ``stride``.
    **kwargs
        Passed to :func:`dispersion_history` (reference, k_L, k_R, gamma_min).

    Returns
    -------
    DispersionHistory
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / "history.h5"
    with h5py.File(path, "r") as f:
        t = f["time"][()]
        idx = (np.arange(0, t.size, max(1, stride)) if times is None
               else np.unique([int(np.argmin(np.abs(t - x))) for x in np.atleast_1d(times)]))
        names = _decode(f.attrs["species_names"])
        tracer = np.asarray(f.attrs.get("species_tracer", np.zeros(len(names), bool)), bool)
        keep = [i for i in range(len(names)) if not tracer[i]]
        charge = np.asarray(f.attrs["species_charge"], float)[keep]
        mass = np.asarray(f.attrs["species_mass"], float)[keep]
        sel = [names[i] for i in keep]
        dens = np.array([f[f"n_{s}"][()] for s in sel])
        tpe = np.array([f[f"T_perp_{s}"][()][idx] for s in sel])
        tpa = np.array([f[f"T_par_{s}"][()][idx] for s in sel])
        bx = f["B_x"][()]
        log.info("%s: species %s (tracers skipped), mass_ratio = %s", path, sel,
                 f.attrs.get("mass_ratio"))
    ref = kwargs.pop("reference", None)
    ref = int(np.flatnonzero(charge > 0)[0]) if ref is None else ref
    _, _, om0, d0 = normalised_species(charge, mass, dens[:, 0], np.ones(len(sel)),
                                       np.ones(len(sel)), bx[0], ref)
    return dispersion_history(t[idx], charge, mass, dens[:, idx], tpe, tpa, bx[idx],
                              reference=ref, initial=(om0, d0), **kwargs)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _save(fig, out: Path) -> Path:
    from postprocess import plots

    return plots.save_figure(fig, out.parent, out.stem)[0]


def _gamma_limits(ax, gammas: NDArray) -> None:
    """Zoom the gamma axis on the growth when there is any (damping can be huge)."""
    g = np.asarray(gammas, float)
    g = g[np.isfinite(g)]
    if g.size and g.max() > 0:
        ax.set_ylim(-3.0 * g.max(), 1.3 * g.max())


def _plot_params(args: argparse.Namespace) -> Path:
    from postprocess import plots

    sp = _cli_species(args)
    k = (np.geomspace(args.kmin, args.kmax, args.nk) if args.kmin is not None
         else default_k(sp, args.mode, args.nk))
    w = solve_branch(k, sp, args.va_over_c, args.mode, on_lost="nan")
    band = unstable_range(k, sp, args.va_over_c, args.mode, args.gamma_min, omega=w)
    print(NONRELATIVISTIC_NOTE)
    for i, s in enumerate(sp):
        print(f"species {i}: {s}")
    print(f"v_A/c = {args.va_over_c:g}; units Omega_p, d_p (protons are the reference)")
    print(f"mode {args.mode}: gamma_max = {band.gamma_max:.6g} Omega_p at k d_p = "
          f"{band.k_max:.6g}, omega_r = {band.omega_max.real:.6g} Omega_p")
    print(f"unstable band (gamma > {args.gamma_min:g}): "
          + (", ".join(f"[{lo:.5g}, {hi:.5g}]" for lo, hi in band.bands) or "none"))
    color = plots.LCP_COLOR if args.mode == "L" else plots.RCP_COLOR
    with plots.style():
        fig, ax = plots.figure(2, 1, sharex=True, height=4.5)
        ax[0].plot(k, w.real, color=color)
        ax[1].plot(k, w.imag, color=color)
        ax[1].axhline(0, color="0.5", lw=0.5)
        _gamma_limits(ax[1], w.imag)
        for lo, hi in band.bands:
            for a in ax:
                a.axvspan(lo, hi, color=color, alpha=0.15, lw=0)
        ax[0].set_ylabel(r"$\omega_r/\Omega_p$")
        ax[1].set_ylabel(r"$\gamma/\Omega_p$")
        ax[1].set_xlabel(r"$k\,d_p$")
        ax[1].set_xscale("log")
        ax[0].set_title(f"mode {args.mode}, non-relativistic", fontsize=8)
        plots.label_panels(ax)
        return _save(fig, Path(args.out or f"dispersion_{args.mode}.png"))


def _cli_species(args: argparse.Namespace) -> list[Species]:
    other = args.beta_par if args.beta_other is None else args.beta_other
    mr = args.mass_ratio
    if args.mode == "L":
        return [Species(1, 1, 1, args.beta_par, args.anisotropy),
                Species(-1, 1 / mr, 1, other, 1.0)]
    return [Species(1, 1, 1, other, 1.0), Species(-1, 1 / mr, 1, args.beta_par, args.anisotropy)]


def _plot_run(args: argparse.Namespace) -> Path:
    from postprocess import plots

    run = Path(args.run)
    hist = from_history(run, stride=args.stride, gamma_min=args.gamma_min)
    print(NONRELATIVISTIC_NOTE)
    nt = hist.time.size
    picks = sorted({0, nt // 2, nt - 1}) if args.times is None else sorted(
        {int(np.argmin(np.abs(hist.time - x))) for x in args.times})
    t_ci = hist.time * hist.omega_ref0  # t Omega_i0
    with plots.style():
        fig, ax = plots.figure(3, 2, width=plots.PAGE_WIDTH, height=7.0)
        for col, mode in enumerate("LR"):
            kk, ww = hist.in_initial_units(mode)
            for j, i in enumerate(picks):
                lab = rf"$t\,\Omega_{{i0}}$ = {t_ci[i]:.4g}"
                ax[0, col].plot(kk[i], ww[i].real, color=f"C{j}", label=lab)
                ax[1, col].plot(kk[i], ww[i].imag, color=f"C{j}")
            ax[1, col].axhline(0, color="0.5", lw=0.5)
            _gamma_limits(ax[1, col], ww[picks].imag)
            arr = hist.band_arrays(mode, initial=True)
            color = plots.LCP_COLOR if mode == "L" else plots.RCP_COLOR
            ax[2, col].fill_between(t_ci, arr["k_lo"], arr["k_hi"], color=color, alpha=0.3,
                                    lw=0, label=f"{mode}: $\\gamma > {args.gamma_min:g}$")
            kmax = np.where(arr["unstable"] > 0, arr["k_max"], np.nan)
            ax[2, col].plot(t_ci, kmax, color=color, label="fastest growing")
            for a in ax[:2, col]:
                a.set_xscale("log")
                a.set_xlabel(plots.k_label("d_i0"))
            ax[0, col].set_title(f"mode {mode} (non-relativistic)", fontsize=8)
            ax[0, col].set_ylabel(plots.omega_label("Omega_i0").replace(r"\omega", r"\omega_r"))
            ax[1, col].set_ylabel(r"$\gamma/\Omega_{i0}$")
            ax[2, col].set_xlabel(plots.time_label("Omega_i0"))
            ax[2, col].set_ylabel(plots.k_label("d_i0"))
            ax[2, col].legend(loc="best")
            g = arr["gamma_max"]
            if np.any(np.isfinite(g)):
                i = int(np.nanargmax(g))
                print(f"mode {mode}: max gamma = {g[i]:.4g} Omega_i0 at t Omega_i0 = "
                      f"{t_ci[i]:.4g}, k d_i0 = {arr['k_max'][i]:.4g}")
        ax[0, 0].legend(loc="best")
        plots.label_panels(ax)
        default = (run if run.is_dir() else run.parent) / "dispersion.png"
        return _save(fig, Path(args.out) if args.out else default)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (see ``python -m postprocess.dispersion -h``).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(
        prog="python -m postprocess.dispersion",
        description="Parallel bi-Maxwellian L/R dispersion roots (NON-RELATIVISTIC "
        "theory). Either RUN (a run directory or its history.h5: roots and unstable band "
        "vs time) or plasma parameters (--beta-par ...: proton-electron plasma, units "
        "Omega_p and d_p).")
    ap.add_argument("run", nargs="?", help="run directory or history.h5")
    ap.add_argument("--out", help="output PNG (default: RUN/dispersion.png, or "
                    "./dispersion_<mode>.png with --beta-par)")
    ap.add_argument("--times", type=float, nargs="+",
                    help="RUN: times (1/omega_pe0) whose roots are plotted (default: first, "
                    "middle, last)")
    ap.add_argument("--stride", type=int, default=1, help="RUN: use every n-th output")
    ap.add_argument("--gamma-min", type=float, default=1e-6,
                    help="band threshold (Omega_ref), default 1e-6")
    ap.add_argument("--beta-par", type=float, help="beta_par of the anisotropic species")
    ap.add_argument("--anisotropy", type=float, default=1.0, help="T_perp/T_par")
    ap.add_argument("--mode", choices=("L", "R"), default="L",
                    help="L: anisotropic protons; R: anisotropic electrons")
    ap.add_argument("--beta-other", type=float,
                    help="beta of the isotropic species (default: --beta-par)")
    ap.add_argument("--mass-ratio", type=float, default=1836.0, help="m_p/m_e")
    ap.add_argument("--va-over-c", type=float, default=1e-4, help="proton v_A/c")
    ap.add_argument("--kmin", type=float, help="k grid start (1/d_p); default automatic")
    ap.add_argument("--kmax", type=float, default=3.0, help="k grid end (1/d_p), with --kmin")
    ap.add_argument("--nk", type=int, default=200, help="number of k points")
    ap.add_argument("-v", "--verbose", action="store_true", help="INFO logging")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.run is None and args.beta_par is None:
        ap.error("give RUN or --beta-par")
    out = _plot_run(args) if args.run is not None else _plot_params(args)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
