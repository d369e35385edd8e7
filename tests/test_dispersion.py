"""Tests of postprocess.dispersion (VALIDATION.md items 17 and 18).

Reference values are independent of the module: Z(zeta) from its Taylor series summed in
high-precision decimal arithmetic, Fried & Conte (1961) table entries, the cold-plasma
Stix relations solved as polynomials here, and published instability thresholds.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal, localcontext

import h5py
import numpy as np
import pytest

from postprocess.dispersion import (
    RootLostError,
    Species,
    dispersion_function,
    dispersion_history,
    from_history,
    main,
    max_growth,
    plasma_z,
    plasma_zprime,
    solve_branch,
    threshold,
    unstable_range,
)

MASS_RATIO = 1836.0
SQRT_PI = math.sqrt(math.pi)


# --------------------------------------------------------------------------------------
# Independent high-precision Z: w(z) = sum_n (i z)^n / Gamma(n/2 + 1), Z = i sqrt(pi) w
# --------------------------------------------------------------------------------------
def _dec_pi() -> Decimal:
    """pi to the current decimal precision (Python decimal-module recipe)."""
    with localcontext() as ctx:
        ctx.prec += 2
        three = Decimal(3)
        lasts, t, s, n, na, d, da = 0, three, 3, 1, 0, 0, 24
        while s != lasts:
            lasts = s
            n, na = n + na, na + 8
            d, da = d + da, da + 32
            t = (t * n) / d
            s += t
    return +s


def _z_reference(z: complex) -> tuple[complex, complex]:
    """Z(z) and Z'(z) = -2 (1 + z Z) from the entire power series of w(z), in decimal.

    The largest term is ~exp(|z|^2); the working precision covers it plus 30 digits.
    """
    with localcontext() as ctx:
        ctx.prec = 40 + int(0.45 * abs(z) ** 2)
        sqrt_pi = _dec_pi().sqrt()
        ar, ai = Decimal(-z.imag), Decimal(z.real)  # a = i z
        pr, pi_ = Decimal(1), Decimal(0)  # a^n
        sr, si = Decimal(0), Decimal(0)
        fact_even = Decimal(1)  # m! for n = 2m
        gamma_half = sqrt_pi / 2  # Gamma(3/2) for n = 1
        eps = Decimal(10) ** (-(ctx.prec - 5))
        n = 0
        while True:
            if n % 2 == 0:
                m = n // 2
                if m > 0:
                    fact_even *= m
                gam = fact_even
            else:
                m = (n - 1) // 2
                if m > 0:
                    gamma_half *= Decimal(2 * m + 1) / 2
                gam = gamma_half
            tr, ti = pr / gam, pi_ / gam
            sr, si = sr + tr, si + ti
            if n > 4 * abs(z) ** 2 + 10 and abs(tr) + abs(ti) < eps * (abs(sr) + abs(si)):
                break
            pr, pi_ = pr * ar - pi_ * ai, pr * ai + pi_ * ar
            n += 1
        zr, zi = -si * sqrt_pi, sr * sqrt_pi  # Z = i sqrt(pi) w
        x, y = Decimal(z.real), Decimal(z.imag)
        dr, di = -2 * (1 + x * zr - y * zi), -2 * (x * zi + y * zr)
        return complex(float(zr), float(zi)), complex(float(dr), float(di))


# points in all four quadrants, on the axes, near and beyond |zeta| = 8
Z_POINTS = [
    0.5 + 0.5j, -0.7 + 1.3j, -1.5 - 0.5j, 1.5 - 0.5j, 2.5 + 0.1j, -3.0 - 2.0j,
    0.3 - 2.0j, 1.2 + 4.4j, 5.4 - 3.1j, -4.0 + 6.0j, 3.0 + 0.0j, 0.0 + 1.0j,
    0.0 - 1.5j, 9.9 - 10.0j, 4.5 - 10.0j, 12.0 + 3.0j, -10.0 + 0.0j, -9.0 - 2.0j,
    7.0 + 7.0j, -8.5 + 1e-3j,
]


@pytest.mark.parametrize("z", Z_POINTS)
def test_z_and_zprime_high_precision(z):
    ref, ref_p = _z_reference(z)
    assert abs(plasma_z(z) - ref) <= 1e-12 * abs(ref)
    assert abs(plasma_zprime(z) - ref_p) <= 1e-12 * abs(ref_p)


def test_zprime_large_argument_no_cancellation():
    """Asymptotic 1 + zZ = -sum (2n-1)!!/(2 z^2)^n (+ Landau term below the axis)."""
    for z in (30 + 26j, -30 + 26j, 40 + 0j, -40 + 1e-9j, 25 - 5j, -25 - 5j):
        u = 1 / (2 * z * z)
        terms = [u]  # (2n-1)!! u^n, n = 1..12 (next term < 1e-30 relative here)
        for n in range(2, 13):
            terms.append(terms[-1] * (2 * n - 1) * u)
        sigma = 0 if z.imag > 0 else (1 if z.imag == 0 else 2)
        g = -sum(terms) + sigma * 1j * SQRT_PI * z * np.exp(-z * z)
        assert abs(plasma_zprime(z) - (-2 * g)) <= 1e-12 * abs(2 * g)
        # Z itself: -(1/z) sum_n (2n-1)!! u^n, n = 0..11
        zs = -(1 + sum(terms[:-1])) / z + sigma * 1j * SQRT_PI * np.exp(-z * z)
        assert abs(plasma_z(z) - zs) <= 1e-12 * abs(zs)


# Fried & Conte (1961) tabulated values (6 significant figures)
FC_Z = [(1.0, -1.07616 + 0.652049j), (1j, 0.757872j), (0.0, 1.77245j)]
FC_ZPRIME = [
    (0.0, -2.0 + 0j),
    (1.0, 0.152318 - 1.30410j),
    (1j, -0.484257 + 0j),
    (1.2 + 4.4j, -0.0397561 - 0.0217392j),
    (5.4 - 3.1j, 0.0124491 + 0.0231383j),
    (9.9 - 10.0j, 476.153 + 553.121j),
    (5.0 + 7.0j, -4.59120e-3 - 0.0126104j),
    (4.5 - 10.0j, 0.260153e37 - 0.211814e37j),
]


@pytest.mark.parametrize(("z", "tab"), FC_Z)
def test_z_fried_conte_table(z, tab):
    assert abs(plasma_z(z) - tab) <= 5e-6 * abs(tab)


@pytest.mark.parametrize(("z", "tab"), FC_ZPRIME)
def test_zprime_fried_conte_table(z, tab):
    assert abs(plasma_zprime(z) - tab) <= 1e-5 * abs(tab)


def test_z_identities():
    rng = np.random.default_rng(1)
    z = rng.uniform(-6, 6, 400) + 1j * rng.uniform(-4, 4, 400)  # all four quadrants
    zz = plasma_z(z)
    # derivative identity (direct, moderate |z|)
    np.testing.assert_allclose(plasma_zprime(z), -2 * (1 + z * zz), rtol=1e-12,
                               atol=1e-12 * np.max(np.abs(z * zz)))
    # symmetry Z(-conj z) = -conj Z(z)
    np.testing.assert_allclose(plasma_z(-np.conj(z)), -np.conj(zz), rtol=1e-12, atol=0)
    # reflection Z(conj z) = conj Z(z) + 2 i sqrt(pi) exp(-conj(z)^2) for Im z > 0
    up = z[z.imag > 0]
    np.testing.assert_allclose(
        plasma_z(np.conj(up)),
        np.conj(plasma_z(up)) + 2j * SQRT_PI * np.exp(-np.conj(up) ** 2), rtol=1e-12)
    # real axis: Z(x) = i sqrt(pi) exp(-x^2) - 2 F(x) (Dawson, A&S table 7.5: F(1))
    assert abs(plasma_z(1.0).real + 2 * 0.5380795069127684) < 1e-14
    # derivative by finite differences (Cauchy-Riemann consistent)
    h = 1e-6
    z0 = np.array([0.7 - 0.4j, -2 + 1j, 3.3 - 1.1j])
    fd = (plasma_z(z0 + h) - plasma_z(z0 - h)) / (2 * h)
    np.testing.assert_allclose(plasma_zprime(z0), fd, rtol=1e-8)


# --------------------------------------------------------------------------------------
# Cold-plasma limit
# --------------------------------------------------------------------------------------
def _cold_stix_root(k: float, va_c: float, mode: str) -> float:
    """Lowest positive root of n^2 = L or R (Stix), proton-electron, displacement current.

    In Omega_p and d_p units: w_pp/Omega_p = c/v_A, w_pe^2 = 1836 w_pp^2,
    Omega_e = -1836. n^2 = (c k / w)^2 = (k / (w v_A/c))^2 and
    L (R) = 1 - sum_s w_ps^2 / (w (w -+ Omega_s)) with signed Omega_s, -+ for L (R).
    Multiplied by w^2 (w -+ Omega_p)(w -+ Omega_e) (v_A/c)^2 it is a quartic.
    """
    sgn = 1.0 if mode == "L" else -1.0
    om = {"p": 1.0, "e": -MASS_RATIO}
    wp2 = {"p": 1.0, "e": MASS_RATIO}  # (w_ps / w_pp)^2
    P = np.polynomial.Polynomial
    fp, fe = P([-sgn * om["p"], 1.0]), P([-sgn * om["e"], 1.0])
    w = P([0.0, 1.0])
    lhs = (va_c**2 * w * w - k * k) * fp * fe
    rhs = w * (wp2["p"] * fe + wp2["e"] * fp)
    roots = (lhs - rhs).roots()
    roots = roots[(np.abs(roots.imag) < 1e-8 * np.abs(roots)) & (roots.real > 0)].real
    x = float(np.min(roots))
    for _ in range(6):  # polish on the rational form
        f = va_c**2 * x * x - k * k - sum(
            wp2[s] * x / (x - sgn * om[s]) for s in ("p", "e"))
        df = 2 * va_c**2 * x + sum(wp2[s] * sgn * om[s] / (x - sgn * om[s]) ** 2
                                   for s in ("p", "e"))
        x -= f / df
    return x


@pytest.mark.parametrize("va_c", [1e-4, 0.05])
@pytest.mark.parametrize(("mode", "ks"), [
    ("L", [0.05, 0.3, 1.0, 3.0]),  # Alfven -> ion-cyclotron
    ("R", [0.05, 0.3, 1.0, 3.0]),  # fast/Alfven
    ("R", [10.0, 30.0, 100.0]),  # whistler
])
def test_cold_limit(mode, ks, va_c):
    """beta = 1e-8: thermal corrections ~1/(2 zeta_p^2) stay < 1e-6 while
    |zeta_p| = |w - 1| / (k sqrt(beta)) > ~300 (L: k <= 3; at k = 10 the L root, w = 0.990,
    has zeta_p = -10 and differs from the cold one by 5e-5, as it should)."""
    beta = 1e-8
    sp = [Species(1, 1, 1, beta, 1.0), Species(-1, 1 / MASS_RATIO, 1, beta, 1.0)]
    w = solve_branch(ks, sp, va_c, mode)
    for k, wk in zip(ks, w, strict=True):
        ref = _cold_stix_root(k, va_c, mode)
        assert abs(wk.real - ref) <= 1e-6 * ref, (k, wk, ref)
        assert abs(wk.imag) <= 1e-6 * ref


# --------------------------------------------------------------------------------------
# Growth rates and thresholds
# --------------------------------------------------------------------------------------
def _pe(beta_p, a_p, beta_e, a_e):
    return [Species(1, 1, 1, beta_p, a_p), Species(-1, 1 / MASS_RATIO, 1, beta_e, a_e)]


def test_classic_proton_cyclotron_growth():
    """beta_par,p = 1, T_perp/T_par = 2, isotropic electrons beta_e = 1, v_A/c = 1e-4.

    Expected gamma_max ~ 0.044 Omega_p near k d_p ~ 0.47; measured 0.043579 at 0.46974
    (omega_r = 0.43298).
    """
    sp = _pe(1.0, 2.0, 1.0, 1.0)
    k = np.linspace(0.05, 2.0, 200)
    band = unstable_range(k, sp, 1e-4, "L")
    assert abs(band.gamma_max - 0.044) <= 0.02 * 0.044
    assert abs(band.k_max - 0.47) <= 0.01
    assert band.gamma_max == pytest.approx(0.0435793, abs=2e-7)
    assert band.k_max == pytest.approx(0.469737, abs=1e-5)
    assert band.omega_max.real == pytest.approx(0.432975, abs=1e-5)
    assert band.k_lo == pytest.approx(0.19526, abs=1e-4)
    assert band.k_hi == pytest.approx(0.70715, abs=1e-4)
    assert not band.truncated
    # the refined maximum is a root and a stationary point of gamma(k)
    d, _ = dispersion_function(band.omega_max, band.k_max, sp, 1e-4, "L")
    assert abs(d) < 1e-10
    k_m, w_m = max_growth(sp)
    assert w_m.imag == pytest.approx(band.gamma_max, rel=1e-9)
    assert k_m == pytest.approx(band.k_max, rel=1e-5)


@pytest.mark.parametrize("beta", [0.1, 1.0, 10.0])
def test_hellinger_2006_proton_cyclotron_threshold(beta):
    """T_perp/T_par - 1 = 0.43 / (beta + 0.0004)^0.42 at gamma_max = 1e-3 Omega_p."""
    a = threshold(beta, 1e-3, "L")
    fit = 0.43 / (beta + 0.0004) ** 0.42
    assert abs((a - 1) / fit - 1) <= 0.03, (a - 1, fit)


@pytest.mark.parametrize("beta", [0.1, 1.0, 10.0])
def test_gary_wang_1996_whistler_threshold(beta):
    """T_perp/T_par - 1 = 0.36 beta_par,e^-0.55 at gamma_max = 0.01 |Omega_e|."""
    a = threshold(beta, 1e-2, "R")
    fit = 0.36 * beta**-0.55
    assert abs((a - 1) / fit - 1) <= 0.05, (a - 1, fit)


# --------------------------------------------------------------------------------------
# Branch tracking
# --------------------------------------------------------------------------------------
def _three_species():
    """Protons (ref), 5 % alphas (m = 3.97 m_p), electrons, quasi-neutral, v_A/c = 1e-4."""
    return [
        Species(1, 1, 1, 1.0, 2.0),
        Species(2, 3.97, 0.05, 0.05 * 4 * 1.0, 1.5),  # T_alpha = 4 T_p
        Species(-1, 1 / MASS_RATIO, 1.1, 1.1, 1.0),
    ]


@pytest.mark.parametrize("mode", ["L", "R"])
def test_three_species_continuous(mode):
    sp = _three_species()
    k = np.linspace(0.02, 2.5, 200)
    w = solve_branch(k, sp, 1e-4, mode)
    assert np.all(np.isfinite(w))
    # same branch on a 3x finer grid and when restarted from the middle with a guess
    kf = np.linspace(0.02, 2.5, 598)
    wf = solve_branch(kf, sp, 1e-4, mode)
    np.testing.assert_allclose(wf[::3], w, rtol=1e-9, atol=1e-12)
    w2 = solve_branch(k[100:], sp, 1e-4, mode, guess=w[100] * (1 + 1e-3))
    np.testing.assert_allclose(w2, w[100:], rtol=1e-9, atol=1e-12)
    # no jumps: second differences small compared with first differences (smooth curve)
    d1 = np.abs(np.diff(w))
    d2 = np.abs(np.diff(w, 2))
    assert np.max(d2) < 0.2 * np.max(d1)
    # every value is a root
    d, dd = dispersion_function(w, k, sp, 1e-4, mode)
    assert np.max(np.abs(d / (dd * w))) < 1e-10


def test_three_species_low_k_alfven_speed():
    """k -> 0: w/k = sqrt((1 + sum_s (beta_perp,s - beta_par,s)/2) / rho_tot) (v_A, rho_p).

    Anisotropic (CGL-like) Alfven speed; the L/R Hall splitting is +-k/2 to first order and
    cancels in the mean.
    """
    sp = _three_species()
    k = 1e-3
    w_l = solve_branch([k], sp, 1e-4, "L")[0]
    w_r = solve_branch([k], sp, 1e-4, "R")[0]
    rho = sum(s.density * s.mass for s in sp) + 1e-8  # + (v_A/c)^2
    drive = 1 + sum(s.beta_par * (s.anisotropy - 1) for s in sp) / 2
    assert 0.5 * (w_l + w_r).real == pytest.approx(k * math.sqrt(drive / rho), rel=1e-5)
    assert w_r.real > w_l.real


def test_lost_root_is_reported():
    sp = _pe(1.0, 2.0, 1.0, 1.0)
    with pytest.raises(RootLostError):
        solve_branch([0.3, 0.4], sp, 1e-4, "L", guess=complex("nan"))
    with pytest.raises(ValueError):
        solve_branch([0.4, 0.3], sp, 1e-4, "L")


def test_speed_200_points():
    sp = _pe(1.0, 2.0, 1.0, 1.0)
    k = np.linspace(0.05, 2.0, 200)
    solve_branch(k, sp)
    t0 = time.perf_counter()
    solve_branch(k, sp)
    elapsed = time.perf_counter() - t0
    print(f"200-point L scan: {elapsed:.3f} s")
    assert elapsed < 5.0  # sanity bound only (measured ~0.15 s)


# --------------------------------------------------------------------------------------
# Driver on synthetic history
# --------------------------------------------------------------------------------------
def _synthetic_history(n_t=3):
    """Electrons + protons (m_i = 1836 m_e) in code units, equal to the classic case.

    B(t) grows, n ~ B^2 (v_A/c fixed at 1e-4), T fixed -> beta, A fixed.
    """
    va_c = 1e-4
    b = va_c * math.sqrt(MASS_RATIO) * np.linspace(1.0, 2.0, n_t)
    n = (b / b[0]) ** 2
    t_par = 0.5 * b[0] ** 2  # beta = 2 n T / B^2 = 1
    time_ = np.linspace(0.0, 100.0, n_t)
    tpar = np.full((2, n_t), t_par)
    tperp = np.array([np.full(n_t, t_par), np.full(n_t, 2 * t_par)])
    return time_, np.array([-1.0, 1.0]), np.array([1.0, MASS_RATIO]), np.array([n, n]), \
        tperp, tpar, b


def test_driver_matches_classic():
    t, q, m, n, tperp, tpar, b = _synthetic_history()
    k = np.linspace(0.05, 2.0, 120)
    hist = dispersion_history(t, q, m, n, tperp, tpar, b, k_L=k)
    ref = unstable_range(k, _pe(1.0, 2.0, 1.0, 1.0), 1e-4, "L")
    arr = hist.band_arrays("L")
    np.testing.assert_allclose(arr["gamma_max"], ref.gamma_max, rtol=1e-8)
    np.testing.assert_allclose(arr["k_max"], ref.k_max, rtol=1e-5)
    np.testing.assert_allclose(hist.v_A_over_c, 1e-4, rtol=1e-12)
    np.testing.assert_allclose(hist.omega_ref, b / MASS_RATIO, rtol=1e-12)
    np.testing.assert_allclose(hist.d_ref, 1e-4 / (b / MASS_RATIO), rtol=1e-12)
    assert hist.omega_L.shape == (t.size, k.size)
    # initial units: Omega_ref grows as B, d_ref = c/omega_p,ref shrinks as 1/sqrt(n) = 1/B
    arr0 = hist.band_arrays("L", initial=True)
    np.testing.assert_allclose(arr0["gamma_max"], ref.gamma_max * b / b[0], rtol=1e-8)
    np.testing.assert_allclose(arr0["k_max"], ref.k_max * b / b[0], rtol=1e-5)
    assert np.all(arr0["unstable"] == 1.0)
    assert np.all(np.isfinite(hist.omega_R))
    # isotropic-electron R branch: no growth
    assert np.all(hist.band_arrays("R")["gamma_max"] < 1e-6)


def _write_history(path, t, q, m, n, tperp, tpar, b):
    names = ["electrons", "ions", "tracers"]
    with h5py.File(path, "w") as f:
        f["time"] = t
        f["B_x"] = b
        for i, s in enumerate(names):
            j = min(i, 1)  # tracer copy of the ions with nonsense temperatures
            f[f"n_{s}"] = n[j] * (1e-3 if s == "tracers" else 1.0)
            f[f"T_perp_{s}"] = tperp[j] * (50.0 if s == "tracers" else 1.0)
            f[f"T_par_{s}"] = tpar[j]
        f.attrs["species_names"] = names
        f.attrs["species_charge"] = [q[0], q[1], q[1]]
        f.attrs["species_mass"] = [m[0], m[1], m[1]]
        f.attrs["species_tracer"] = [False, False, True]
        f.attrs["mass_ratio"] = MASS_RATIO
        f.attrs["B0"] = b[0]
        f.attrs["omega_ci0"] = b[0] / MASS_RATIO


def test_from_history_and_cli(tmp_path):
    data = _synthetic_history(n_t=2)
    _write_history(tmp_path / "history.h5", *data)
    k = np.linspace(0.05, 2.0, 60)
    hist = from_history(tmp_path, k_L=k)
    ref = unstable_range(k, _pe(1.0, 2.0, 1.0, 1.0), 1e-4, "L")
    np.testing.assert_allclose(hist.band_arrays("L")["gamma_max"], ref.gamma_max, rtol=1e-8)
    assert len(hist.species[0]) == 2  # tracer skipped
    assert main([str(tmp_path), "--out", str(tmp_path / "run.png")]) == 0
    assert (tmp_path / "run.png").stat().st_size > 0
    out = tmp_path / "params.png"
    assert main(["--beta-par", "1", "--anisotropy", "2", "--mode", "L", "--kmin", "0.05",
                 "--kmax", "2", "--nk", "60", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
