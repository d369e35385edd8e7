"""Cosmic-ray transport theory of the micromirror study, with unit helpers.

Reference: Reichherzer et al., "Efficient micromirror confinement of sub-TeV cosmic rays
in galaxy clusters" (PHYSICS.md section 4.8). Equation numbers below are the study's.

Two layers:

* unit-agnostic formulas (any consistent unit system; pass ``v`` if it is not the speed of
  light in cm/s): :func:`kappa_mm`, :func:`nu_mm`, :func:`kappa_perp_mm`, :func:`kappa_res`,
  :func:`kappa_he`, :func:`transition_gyroradius`, :func:`nu_eff`, :func:`kappa_eff`,
  :func:`crw_factor`, :func:`kappa_isotropic`, :func:`kappa_qlt_slab`;
* cgs/astrophysical wrappers taking E in GeV, B in microgauss and lengths in pc/kpc:
  :func:`gyroradius`, :func:`energy_from_gyroradius`, :func:`kappa_mm_cgs`,
  :func:`kappa_res_cgs`, :func:`kappa_perp_mm_cgs`, :func:`transition_energy_gev`.

Scattering-rate convention (choice, see docs/transport.md): ``nu`` is the pitch-angle
(Lorentz) scattering rate, <cos theta(t)> = exp(-nu t), so isotropic scattering gives
kappa = v^2 / (3 nu). The study's Eq. 17 literally (delta theta = X sqrt(s nu / c), one
Gaussian X) decorrelates at nu/2 and gives kappa = 2 v^2 / (3 nu); ``convention="paper"``
selects it. The order-of-magnitude forms of Eqs. 3-11 are returned without O(1) factors,
exactly as written in the study.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "C_CGS",
    "E_CGS",
    "ERG_PER_GEV",
    "KPC_CM",
    "M_ELECTRON_GEV",
    "M_PROTON_GEV",
    "NPC_CM",
    "PC_CM",
    "Length",
    "crw_factor",
    "energy_from_gyroradius",
    "gyroradius",
    "kappa_eff",
    "kappa_he",
    "kappa_isotropic",
    "kappa_mm",
    "kappa_mm_cgs",
    "kappa_perp_mm",
    "kappa_perp_mm_cgs",
    "kappa_qlt_slab",
    "kappa_res",
    "kappa_res_cgs",
    "nu_eff",
    "nu_from_kappa",
    "nu_mm",
    "transition_energy_gev",
    "transition_gyroradius",
]

#: speed of light (cm/s)
C_CGS = 2.99792458e10
#: elementary charge (statC)
E_CGS = 4.803204712570263e-10
#: 1 GeV in erg
ERG_PER_GEV = 1.602176634e-3
#: parsec, kiloparsec and nanoparsec in cm
PC_CM = 3.0856775814913673e18
KPC_CM = 1.0e3 * PC_CM
NPC_CM = 1.0e-9 * PC_CM
#: proton and electron rest energies (GeV)
M_PROTON_GEV = 0.93827208816
M_ELECTRON_GEV = 0.51099895000e-3
#: 1 microgauss in gauss
_UG = 1.0e-6


class Length(NamedTuple):
    """A length in two units."""

    cm: float | np.ndarray
    pc: float | np.ndarray


# --------------------------------------------------------------------------- units


def _momentum_gev(energy_gev: ArrayLike, mass_gev: float, kinetic: bool) -> np.ndarray:
    """p c in GeV from a total (or kinetic) energy in GeV."""
    e = np.asarray(energy_gev, dtype=float)
    total = e + mass_gev if kinetic else e
    if np.any(total < mass_gev):
        raise ValueError("total energy below the rest energy")
    return np.sqrt(total * total - mass_gev * mass_gev)


def gyroradius(energy_gev: ArrayLike, b_ug: ArrayLike, charge: float = 1.0,
               mass_gev: float = M_PROTON_GEV, kinetic: bool = False) -> Length:
    """Gyroradius r_g = p c / (|Z| e B) of a particle with all its momentum perpendicular.

    Parameters
    ----------
    energy_gev : array_like
        Total energy gamma m c^2 in GeV (kinetic energy if ``kinetic``).
    b_ug : array_like
        Magnetic field strength in microgauss.
    charge : float
        Charge number Z (sign ignored).
    mass_gev : float
        Rest energy m c^2 in GeV (default: proton).
    kinetic : bool
        Interpret ``energy_gev`` as kinetic energy.

    Returns
    -------
    Length
        ``(cm, pc)``; scalars for scalar input.
    """
    pc_erg = _momentum_gev(energy_gev, mass_gev, kinetic) * ERG_PER_GEV
    r = pc_erg / (abs(charge) * E_CGS * np.asarray(b_ug, dtype=float) * _UG)
    r = r[()] if np.ndim(r) == 0 else r
    return Length(cm=r, pc=r / PC_CM)


def energy_from_gyroradius(r_g_cm: ArrayLike, b_ug: ArrayLike, charge: float = 1.0,
                           mass_gev: float = M_PROTON_GEV, kinetic: bool = False) -> np.ndarray:
    """Inverse of :func:`gyroradius`: energy (GeV, total unless ``kinetic``) for r_g in cm."""
    pc_gev = (abs(charge) * E_CGS * np.asarray(b_ug, dtype=float) * _UG
              * np.asarray(r_g_cm, dtype=float) / ERG_PER_GEV)
    total = np.sqrt(pc_gev * pc_gev + mass_gev * mass_gev)
    out = total - mass_gev if kinetic else total
    return out[()] if np.ndim(out) == 0 else out


# ----------------------------------------------------------- unit-agnostic formulas


def nu_mm(r_g: ArrayLike, l_mm: float, db_over_b: float, v: float = C_CGS) -> np.ndarray:
    """Micromirror scattering rate, Eq. 3: nu_mm ~ v l_mm / r_g^2 (dB_mm/B)^2 (1/time)."""
    r = np.asarray(r_g, dtype=float)
    return v * l_mm / (r * r) * db_over_b**2


def kappa_mm(r_g: ArrayLike, l_mm: float, db_over_b: float, v: float = C_CGS) -> np.ndarray:
    """Micromirror diffusion coefficient, Eq. 4: kappa_mm ~ v r_g^2 / l_mm (dB_mm/B)^-2.

    Parameters
    ----------
    r_g : array_like
        Gyroradius (length unit L).
    l_mm : float
        Micromirror scale (L); valid for l_mm << r_g.
    db_over_b : float
        Micromirror amplitude dB_mm / B.
    v : float
        Particle speed (L per time unit); default c in cm/s.

    Returns
    -------
    numpy.ndarray
        kappa in L^2 per time unit (cm^2/s for cm and the default ``v``).
    """
    r = np.asarray(r_g, dtype=float)
    return v * r * r / l_mm / db_over_b**2


def kappa_perp_mm(l_mm: float, db_over_b: float, v: float = C_CGS) -> float:
    """Perpendicular micromirror diffusion coefficient, Eq. 6: v l_mm (dB_mm/B)^2 (L^2/time)."""
    return v * l_mm * db_over_b**2


def kappa_res(r_g: ArrayLike, l_c: float, delta: float, v: float = C_CGS) -> np.ndarray:
    """Resonant (mesoscale) diffusion coefficient, Eq. 7: v l_c (r_g / l_c)^delta (L^2/time)."""
    return v * l_c * (np.asarray(r_g, dtype=float) / l_c) ** delta


def kappa_he(r_g: ArrayLike, l_c: float, v: float = C_CGS) -> np.ndarray:
    """High-energy (r_g >> l_c) small-angle diffusion coefficient: v r_g^2 / l_c."""
    r = np.asarray(r_g, dtype=float)
    return v * r * r / l_c


def transition_gyroradius(l_c: float, l_mm: float, db_over_b: float, delta: float) -> float:
    """Micro-macro transition gyroradius, Eq. 8 (kappa_mm = kappa_res), in the unit of l_c.

    r_g ~ l_c (dB_mm/B)^(2/(2-delta)) (l_mm/l_c)^(1/(2-delta)).
    """
    p = 1.0 / (2.0 - delta)
    return l_c * db_over_b ** (2.0 * p) * (l_mm / l_c) ** p


def nu_eff(f_mm: ArrayLike, nu_mm_: float, nu_res: float) -> np.ndarray:
    """Effective scattering rate of a two-phase medium, Eq. 10."""
    f = np.asarray(f_mm, dtype=float)
    return f * nu_mm_ + (1.0 - f) * nu_res


def kappa_eff(f_mm: ArrayLike, kappa_mm_: float, kappa_res_: float) -> np.ndarray:
    """Effective diffusion coefficient of a two-phase medium, Eq. 11.

    kappa_eff = kappa_mm / (f_mm + (1 - f_mm) kappa_mm / kappa_res), i.e. the volume-
    weighted harmonic mean of the two phases' diffusion coefficients.
    """
    f = np.asarray(f_mm, dtype=float)
    return kappa_mm_ / (f + (1.0 - f) * kappa_mm_ / kappa_res_)


def crw_factor(mean_cos: ArrayLike) -> np.ndarray:
    """Correlated-random-walk factor of Eq. 20: 1 + 2<cos> / (1 - <cos>) = (1+c)/(1-c).

    ``mean_cos`` is the mean cosine of the deflection angle accumulated since the
    reference time; the factor tends to 1 once directions have decorrelated.
    """
    c = np.asarray(mean_cos, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 + 2.0 * c / (1.0 - c)


def kappa_isotropic(v: ArrayLike, nu: ArrayLike, convention: str = "lorentz") -> np.ndarray:
    """Diffusion coefficient (any direction) of isotropic small-angle scattering at rate nu.

    ``"lorentz"``: kappa = v^2 / (3 nu); ``"paper"`` (study Eq. 17 literally):
    kappa = 2 v^2 / (3 nu).
    """
    factor = {"lorentz": 1.0, "paper": 2.0}[convention]
    return factor * np.asarray(v, dtype=float) ** 2 / (3.0 * np.asarray(nu, dtype=float))


def nu_from_kappa(v: ArrayLike, kappa: ArrayLike, convention: str = "lorentz") -> np.ndarray:
    """Scattering rate that gives the diffusion coefficient ``kappa`` (inverse of
    :func:`kappa_isotropic`)."""
    factor = {"lorentz": 1.0, "paper": 2.0}[convention]
    return factor * np.asarray(v, dtype=float) ** 2 / (3.0 * np.asarray(kappa, dtype=float))


def kappa_qlt_slab(v: float, r_g: float, db2_over_b2: float, q: float,
                   k_min: float, k_max: float) -> float:
    """Quasi-linear parallel diffusion coefficient in magnetostatic slab turbulence.

    Power-law one-component spectrum S(k) = C |k|^-q for k_min <= |k| <= k_max,
    normalised to <dB_perp^2> = db2_over_b2 B0^2 over that range. Resonant
    D_mumu = pi Omega^2 (1 - mu^2) S(k_res) / (B0^2 v |mu|), k_res = 1/(r_g |mu|),
    and kappa = (v^2/8) int (1-mu^2)^2 / D_mumu dmu, integrated as if the power law
    covered every resonance (the standard estimate; requires 1 < q < 2):

        kappa = 2 v r_g^(2-q) I / (pi db2 (2-q)(4-q)),   I = int_{k_min}^{k_max} k^-q dk,

    which for k_max -> inf is 2 v r_g (r_g k_min)^(1-q) / (pi db2 (q-1)(2-q)(4-q)).

    Parameters
    ----------
    v : float
        Particle speed.
    r_g : float
        Gyroradius v / Omega (same length unit as 1/k).
    db2_over_b2 : float
        <dB_perp^2> / B0^2 (both components).
    q : float
        Spectral index of the 1D spectrum (5/3: Kolmogorov).
    k_min, k_max : float
        Spectrum limits (1/length).

    Returns
    -------
    float
        kappa_parallel (length^2 / time).
    """
    if not 1.0 < q < 2.0:
        raise ValueError("quasi-linear slab estimate needs 1 < q < 2")
    integral = (k_min ** (1.0 - q) - k_max ** (1.0 - q)) / (q - 1.0)
    # S = C k^-q with 2 C I = <dB^2>/2  ->  C/B0^2 = db2 / (4 I)
    c_norm = db2_over_b2 / (4.0 * integral)
    # D_mumu = a (1-mu^2) |mu|^(q-1),  a = pi Omega C r_g^q / (B0^2 r_g)
    omega = v / r_g
    a = math.pi * omega * c_norm * r_g ** (q - 1.0)
    # int_{-1}^{1} (1-mu^2) |mu|^(1-q) dmu = 4 / ((2-q)(4-q))
    return v * v / (8.0 * a) * 4.0 / ((2.0 - q) * (4.0 - q))


# ------------------------------------------------------------------ cgs wrappers


def kappa_mm_cgs(energy_gev: ArrayLike, b_ug: float, l_mm_pc: float, db_over_b: float,
                 charge: float = 1.0, mass_gev: float = M_PROTON_GEV) -> np.ndarray:
    """Eq. 4 in cm^2/s for E (total, GeV), B (uG) and l_mm (pc); v = c (Eq. 5)."""
    r = gyroradius(energy_gev, b_ug, charge, mass_gev).cm
    return kappa_mm(r, l_mm_pc * PC_CM, db_over_b)


def kappa_perp_mm_cgs(l_mm_pc: float, db_over_b: float) -> float:
    """Eq. 6 in cm^2/s for l_mm in pc."""
    return kappa_perp_mm(l_mm_pc * PC_CM, db_over_b)


def kappa_res_cgs(energy_gev: ArrayLike, b_ug: float, l_c_kpc: float, delta: float,
                  charge: float = 1.0, mass_gev: float = M_PROTON_GEV) -> np.ndarray:
    """Eq. 7 in cm^2/s for E (total, GeV), B (uG) and l_c (kpc); v = c."""
    r = gyroradius(energy_gev, b_ug, charge, mass_gev).cm
    return kappa_res(r, l_c_kpc * KPC_CM, delta)


def transition_energy_gev(b_ug: float, l_c_kpc: float, l_mm_pc: float, db_over_b: float,
                          delta: float, charge: float = 1.0,
                          mass_gev: float = M_PROTON_GEV) -> float:
    """Micro-macro transition energy (total, GeV), Eq. 9: Eq. 8's r_g converted to energy."""
    r = transition_gyroradius(l_c_kpc * KPC_CM, l_mm_pc * PC_CM, db_over_b, delta)
    return float(energy_from_gyroradius(r, b_ug, charge, mass_gev))
