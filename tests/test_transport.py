"""Tests of postprocess.transport (issue 13; VALIDATION.md item 23).

Every physics test compares a measured number with an independent expectation; the
measured values are quoted in docs/transport.md. Units: c = 1 (speeds in c), lengths and
times in arbitrary consistent units stated per test.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from postprocess import transport as tp

# ------------------------------------------------------------------ helpers


def _isotropic_state(n: int, u: float, length: float, seed: int):
    rng = np.random.default_rng(seed)
    r0 = np.zeros((n, 3))
    r0[:, 0] = rng.uniform(0.0, length, n)
    return r0, u * tp.isotropic_directions(n, rng)


# ------------------------------------------------- 1. isotropic scattering (item 23)


@pytest.fixture(scope="module")
def isotropic_run():
    """1000 particles, u = 0.75 (v = 0.6), B = 0, nu = 1, dt = 0.05 (nu dt = 0.05), t = 100."""
    r0, u0 = _isotropic_state(1000, 0.75, 10.0, seed=11)
    return tp.integrate_particles(r0, u0, tp.GridField.uniform((0.0, 0.0, 0.0)), dt=0.05,
                                  n_out=201, stride=10,
                                  scattering=tp.Scattering.uniform(1.0), seed=12)


def test_isotropic_scattering_kappa(isotropic_run):
    """kappa -> v^2/(3 nu) = 0.12 within 5 % (Boris + 3D small-angle kicks)."""
    tr = isotropic_run
    v = 0.75 / np.sqrt(1.0 + 0.75**2)
    res = tp.running_diffusion(tr.x, tr.t, max_lag=40, origin_stride=20, n_boot=200)
    plateau = res.asymptotic[0]
    expected = tp.kappa_isotropic(v, 1.0)
    assert expected == pytest.approx(0.12)
    assert plateau.value == pytest.approx(expected, rel=0.05)
    assert plateau.error < 0.03 * expected
    # the running value itself has converged to O(1/(nu t)) at t = 20/nu
    assert res.kappa[0, -1] == pytest.approx(expected * (1 - 1 / 20), rel=0.05)


def test_paper_convention_kappa():
    """The study's Eq. 17 taken literally decorrelates at nu/2: kappa = 2 v^2/(3 nu)."""
    r0, u0 = _isotropic_state(1000, 0.75, 10.0, seed=21)
    tr = tp.integrate_particles(r0, u0, tp.GridField.uniform((0.0, 0.0, 0.0)), dt=0.05,
                                n_out=201, stride=20,
                                scattering=tp.Scattering.uniform(2.0, convention="paper"),
                                seed=22)
    res = tp.running_diffusion(tr.x, tr.t, max_lag=40, origin_stride=20, n_boot=100)
    v = 0.75 / np.sqrt(1.0 + 0.75**2)
    assert res.asymptotic[0].value == pytest.approx(2 * v * v / 6.0, rel=0.05)


def test_crw_factor_isotropic(isotropic_run):
    """Eq. 20 CRW-corrected kappa(t) equals kappa_inf (1 - (1-e^-x)/x) coth(x/2), x = nu t."""
    tr = isotropic_run
    v = 0.75 / np.sqrt(1.0 + 0.75**2)
    res = tp.running_diffusion(tr.x, tr.t, u=tr.u, crw="direction", max_lag=40,
                               origin_stride=20, n_boot=0)
    x = res.t[1:5]  # nu t = 0.5, 1, 1.5, 2
    model = v * v / 3.0 * (1.0 - (1.0 - np.exp(-x)) / x) / np.tanh(x / 2.0)
    np.testing.assert_allclose(res.kappa[0, 1:5], model, rtol=0.05)
    np.testing.assert_allclose(res.mean_cos[0, 1:5], np.exp(-x), atol=0.02)
    # "parallel" correlation gives the same factor for isotropic scattering
    par = tp.running_diffusion(tr.x, tr.t, u=tr.u, crw="parallel", max_lag=40,
                               origin_stride=20, n_boot=0)
    np.testing.assert_allclose(par.mean_cos[0, 1:5], np.exp(-x), atol=0.05)


# ------------------------------------------------------- 2. two-phase medium (item 23)

#: micromirror fractions checked against Eq. 11
F_MM = (0.05, 0.15, 0.4, 1.0)


@pytest.mark.parametrize("f_mm", F_MM)
def test_two_phase_kappa_eff(f_mm):
    """1D two-phase medium (period 1, v = 1, kappa_mm/kappa_res = 0.01) follows Eq. 11.

    Every f_mm uses the same effective rate nu_eff = f nu_mm + (1 - f) nu_res = 20 (Eq. 10),
    so lambda_mm = v/nu_mm = (f + 0.01 (1-f))/20: micromirror layers are >= 16 lambda_mm
    thick, and resonant layers >= 3 lambda_res thick where they carry > 10 % of the
    scattering (f = 0.05). 500 particles, lags up to tau = 1/kappa_eff (<dx^2> = 2
    periods^2) averaged over 9 origins of a t = 5 tau run, nu dt <= 0.3.
    """
    nu_mm = 20.0 / (f_mm + 0.01 * (1.0 - f_mm))
    nu_res = 0.01 * nu_mm
    k_mm, k_res = tp.kappa_isotropic(1.0, nu_mm), tp.kappa_isotropic(1.0, nu_res)
    expected = float(tp.kappa_eff(f_mm, k_mm, k_res))
    tau = 1.0 / expected
    t = np.linspace(0.0, 5.0 * tau, 101)
    rng = np.random.default_rng(31)
    n = 500
    tr = tp.integrate_scattering_1d(rng.uniform(0.0, 1.0, n), rng.uniform(-1.0, 1.0, n), 1.0,
                                    t, tp.Scattering.two_phase(nu_mm, nu_res, f_mm), eps=0.3,
                                    seed=32)
    res = tp.running_diffusion(tr.x, t, max_lag=20, origin_stride=10, n_boot=100)
    plateau = res.asymptotic[0]
    assert plateau.value == pytest.approx(expected, rel=0.10)
    assert abs(plateau.value - expected) < 3.5 * plateau.error + 0.03 * expected


def test_two_phase_matches_boris_route():
    """The Boris integrator with B || x and the same two-phase scattering gives the same kappa."""
    f_mm, nu_mm = 0.4, 20.0 / (0.4 + 0.006)
    sc = tp.Scattering.two_phase(nu_mm, 0.01 * nu_mm, f_mm)
    expected = float(tp.kappa_eff(f_mm, tp.kappa_isotropic(1.0, nu_mm),
                                  tp.kappa_isotropic(1.0, 0.01 * nu_mm)))
    r0, u0 = _isotropic_state(300, 20.0, 1.0, seed=41)  # v = 0.99875
    dt = 0.3 / nu_mm
    n_out = 51
    stride = int(round(5.0 / expected / (n_out - 1) / dt))
    tr = tp.integrate_particles(r0, u0, tp.GridField.uniform((1.0, 0.0, 0.0)), dt=dt,
                                n_out=n_out, stride=stride, scattering=sc, seed=42)
    res = tp.running_diffusion(tr.x, tr.t, max_lag=10, origin_stride=5, n_boot=100)
    v2 = (20.0**2) / (1.0 + 20.0**2)
    assert res.asymptotic[0].value == pytest.approx(expected * v2, rel=0.15)


# ------------------------------------------------------------------ 3. ballistic limit


def test_ballistic_limit_and_unwrapping():
    """No scattering, uniform B || x: kappa(t) = <v_par^2> t / 2 exactly (slope fit)."""
    length = 10.0
    r0, u0 = _isotropic_state(500, 1.0, length, seed=51)
    tr = tp.integrate_particles(r0, u0, tp.GridField.uniform((2.0, 0.0, 0.0)), dt=0.05,
                                n_out=60, stride=4, seed=52)
    wrapped = np.mod(tr.x, length)
    res = tp.running_diffusion(wrapped, tr.t, box_length=length, n_boot=50)
    slope = np.polyfit(res.t[1:], res.kappa[0, 1:], 1)[0]
    v_par2 = np.mean(u0[:, 0] ** 2 / (1.0 + np.sum(u0 * u0, axis=1)))
    assert slope == pytest.approx(v_par2 / 2.0, rel=1e-9)
    assert v_par2 == pytest.approx(0.5 / 3.0, rel=0.1)  # v^2 <mu^2> = (1/2)(1/3)
    np.testing.assert_allclose(tp.unwrap_periodic(wrapped, length), tr.x, atol=1e-9)
    plateau = res.asymptotic[0]
    assert not plateau.converged
    assert plateau.log_slope == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------- 4. slab turbulence vs QLT


def test_slab_turbulence_quasilinear():
    """Slab Kolmogorov turbulence, dB^2/B0^2 = 0.1, k r_g in [0.1, 10]: kappa within 2x of QLT.

    Periodic (L = 2 pi / k_min) slab field from 64 log-spaced modes (41 distinct
    harmonics) sampled on 4096 nodes and pushed through the grid (pic1d snapshot) path;
    u = 1 (r_g = 1, Omega dt = 0.05), 200 particles, lags to 8 lambda_QLT / v over 2 such
    windows. QLT: kappa = 2 v r_g^(1/3) I / (pi eta (1/3)(7/3)) = 38.4 (lambda = 163 r_g).
    """
    k_min, k_max, eta = 0.1, 10.0, 0.1
    length = 2.0 * np.pi / k_min
    waves = tp.synthetic_turbulence(64, np.sqrt(eta), k_min, k_max, 5.0 / 3.0, "slab",
                                    seed=5, box_length=length)
    field = tp.GridField.from_waves(waves, 4096, length)
    v = 1.0 / np.sqrt(2.0)
    k_qlt = tp.kappa_qlt_slab(v, 1.0, eta, 5.0 / 3.0, waves.k[0, 0], waves.k[-1, 0])
    assert k_qlt == pytest.approx(38.4, rel=0.01)
    dt = 0.05 * np.sqrt(2.0)
    tau = 8.0 * (3.0 * k_qlt / v) / v
    stride = int(round(tau / 40 / dt))
    r0, u0 = _isotropic_state(200, 1.0, length, seed=61)
    tr = tp.integrate_particles(r0, u0, field, dt=dt, n_out=81, stride=stride, seed=62)
    res = tp.running_diffusion(tr.x, tr.t, max_lag=40, origin_stride=20, n_boot=100)
    ratio = res.asymptotic[0].value / k_qlt
    assert 0.5 < ratio < 2.0


def test_wave_field_grid_and_kernel_agree():
    """Slab waves evaluated directly (wave kernel) and on the grid give the same orbits."""
    length = 2.0 * np.pi / 0.1
    waves = tp.synthetic_turbulence(16, 0.5, 0.1, 3.0, seed=7, box_length=length)
    grid = tp.GridField.from_waves(waves, 8192, length)
    r0, u0 = _isotropic_state(20, 1.0, length, seed=71)
    a = tp.integrate_particles(r0, u0, waves, dt=0.05, n_out=5, stride=50)
    b = tp.integrate_particles(r0, u0, grid, dt=0.05, n_out=5, stride=50)
    np.testing.assert_allclose(a.r, b.r, atol=2e-3)


def test_isotropic_turbulence_properties():
    """3D isotropic waves: xi . k = 0 (div B = 0) and <|dB|^2> = dB^2."""
    w = tp.synthetic_turbulence(256, 0.7, 0.5, 50.0, geometry="isotropic",
                                b0=(0.0, 0.0, 0.0), seed=3)
    np.testing.assert_allclose(np.sum(w.k * w.amp, axis=1), 0.0, atol=1e-12)
    assert np.sum(w.amp**2) / 2.0 == pytest.approx(0.49, rel=1e-12)
    pts = np.random.default_rng(4).uniform(0.0, 1000.0, (20000, 3))
    assert np.mean(np.sum(w.b_at(pts) ** 2, axis=1)) == pytest.approx(0.49, rel=0.05)


def test_integrators_reproducible():
    """Same seed, same trajectories, bitwise."""
    r0, u0 = _isotropic_state(50, 1.0, 5.0, seed=81)
    sc = tp.Scattering.two_phase(5.0, 0.5, 0.3)
    args = dict(dt=0.02, n_out=4, stride=10, scattering=sc, seed=9)
    a = tp.integrate_particles(r0, u0, tp.GridField.uniform((1.0, 0.0, 0.0)), **args)
    b = tp.integrate_particles(r0, u0, tp.GridField.uniform((1.0, 0.0, 0.0)), **args)
    assert np.array_equal(a.r, b.r) and np.array_equal(a.u, b.u)
    # momentum magnitude is conserved by the kicks and the magnetic push
    np.testing.assert_allclose(np.linalg.norm(a.u, axis=-1), 1.0, rtol=1e-12)


# ------------------------------------------------------------ 5. unit conversions


def test_gyroradius_hand_values():
    """Hand-computed r_g = p c / (e B) for protons in 3 uG (cgs constants written out)."""
    e, erg_gev, pc = 4.80320471e-10, 1.602176634e-3, 3.0856775814913673e18
    # 1 GeV kinetic: p c = sqrt(1 + 2 * 0.93827) GeV = 1.69604 GeV -> 1.8858e12 cm
    r = tp.gyroradius(1.0, 3.0, kinetic=True)
    assert r.cm == pytest.approx(1.69604 * erg_gev / (e * 3e-6), rel=1e-5)
    assert r.cm == pytest.approx(1.8858e12, rel=1e-4)
    assert r.pc == pytest.approx(1.8858e12 / pc, rel=1e-4)  # 6.112e-7 pc
    # 1 TeV total (ultra-relativistic): 1.1119e15 cm = 3.604e-4 pc
    r = tp.gyroradius(1000.0, 3.0)
    assert r.cm == pytest.approx(1.1119e15, rel=1e-4)
    assert r.pc == pytest.approx(3.6035e-4, rel=1e-4)
    assert tp.energy_from_gyroradius(r.cm, 3.0) == pytest.approx(1000.0, rel=1e-12)
    # electron: 10 MeV kinetic in 1 uG
    r = tp.gyroradius(0.01, 1.0, mass_gev=tp.M_ELECTRON_GEV, kinetic=True)
    assert r.cm == pytest.approx(np.sqrt(0.01**2 + 2 * 0.01 * 0.000511) * erg_gev / (e * 1e-6),
                                 rel=1e-4)


def test_micromirror_theory_numbers():
    """Eq. 5 (kappa_mm ~ 1e30 cm^2/s at 1 TeV), Eq. 6 ratio, Eq. 9 transition energies."""
    k = tp.kappa_mm_cgs(1000.0, 3.0, 100e-9, 1.0 / 3.0)
    # hand: c r_g^2 / l_mm * 9 = 2.9979e10 * (1.1119e15)^2 / 3.0857e11 * 9
    assert k == pytest.approx(2.9979e10 * 1.1119e15**2 / 3.0857e11 * 9, rel=1e-3)
    assert k == pytest.approx(1e30, rel=0.1)
    r = tp.gyroradius(1000.0, 3.0).cm
    ratio = tp.kappa_perp_mm_cgs(100e-9, 1 / 3) / k
    assert ratio == pytest.approx((100e-9 * tp.PC_CM / r) ** 2 / 3**4, rel=1e-12)
    # Eq. 9: B = 3 uG, l_c = 100 kpc, dB/B = 1/3, l_mm/l_c = 1e-12
    e13 = tp.transition_energy_gev(3.0, 100.0, 1e-12 * 1e5, 1 / 3, 1 / 3)
    e12 = tp.transition_energy_gev(3.0, 100.0, 1e-12 * 1e5, 1 / 3, 1 / 2)
    assert e13 == pytest.approx(5000.0, rel=0.1)  # study: ~5 TeV (4.69 TeV exactly)
    assert e12 == pytest.approx(600.0, rel=0.1)  # study: ~600 GeV (641 GeV exactly)
    # the 300 EeV prefactor of Eq. 9 is e B l_c
    assert tp.energy_from_gyroradius(100 * tp.KPC_CM, 3.0) == pytest.approx(3e11, rel=0.1)
    # Eq. 11 limits and Eq. 10 consistency
    assert tp.kappa_eff(1.0, 2.0, 200.0) == pytest.approx(2.0)
    assert tp.kappa_eff(0.0, 2.0, 200.0) == pytest.approx(200.0)
    assert tp.kappa_eff(0.3, 2.0, 200.0) == pytest.approx(
        1.0 / (3.0 * tp.nu_eff(0.3, tp.nu_from_kappa(1.0, 2.0), tp.nu_from_kappa(1.0, 200.0))))


# --------------------------------------------------------------- 6. bootstrap errors


def test_bootstrap_matches_analytic_standard_error():
    """Gaussian random walks (sigma^2 = 1 per unit time): SE(kappa) = 1/sqrt(2 N)."""
    n = 2000
    rng = np.random.default_rng(91)
    t = np.arange(51, dtype=float)
    x = np.vstack([np.zeros(n), np.cumsum(rng.normal(0.0, 1.0, (50, n)), axis=0)])
    res = tp.running_diffusion(x, t, n_boot=400, seed=92)
    analytic = 1.0 / np.sqrt(2.0 * n)
    ratio = res.kappa_err[0, 1:] / analytic
    np.testing.assert_allclose(ratio, 1.0, atol=0.2)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    assert res.asymptotic[0].value == pytest.approx(0.5, abs=3 * res.asymptotic[0].error)


def test_momentum_bins():
    """Bins get their own kappa: two populations with different step sizes."""
    n = 4000
    rng = np.random.default_rng(93)
    step = np.where(np.arange(n) < n // 2, 1.0, 3.0)
    x = np.vstack([np.zeros(n), np.cumsum(rng.normal(0.0, 1.0, (40, n)) * step, axis=0)])
    res = tp.running_diffusion(x, np.arange(41.0), momenta=step, p_edges=[0.5, 2.0, 4.0],
                               n_boot=100, plateau_kw={"method": "mean"})
    assert list(res.n_tracers) == [n // 2, n // 2]
    np.testing.assert_allclose(res.kappa_inf, [0.5, 4.5], rtol=0.1)
    assert np.all(np.abs(res.kappa_inf - [0.5, 4.5]) < 3 * res.kappa_inf_err)


# ----------------------------------------------------------- reader and figure CLI


def _write_tracer_file(path, iteration, time, ids, x, u):
    with h5py.File(path, "w") as f:
        f.attrs["openPMD"] = "1.1.0"
        f.attrs["basePath"] = "/data/%T/"
        f.attrs["particlesPath"] = "particles/"
        it = f.create_group(f"data/{iteration}")
        it.attrs["time"] = time
        sp = it.create_group("particles/cre")
        sp["id"] = ids
        sp["position/x"] = x
        sp.create_group("positionOffset/x").attrs.update({"value": 0.0, "shape": [ids.size]})
        for k, c in enumerate("xyz"):
            sp[f"momentum/{c}"] = u[:, k]


def test_reader_matches_core(tmp_path):
    """Shuffled ids, a tracer missing in one snapshot, periodic wrap: same result as the core."""
    length, n = 8.0, 300
    r0, u0 = _isotropic_state(n, 1.0, length, seed=101)
    tr = tp.integrate_particles(r0, u0, tp.GridField.uniform((1.0, 0.0, 0.0)), dt=0.1,
                                n_out=12, stride=5,
                                scattering=tp.Scattering.uniform(0.5), seed=102)
    (tmp_path / "tracers").mkdir()
    ids = np.arange(1000, 1000 + n)
    rng = np.random.default_rng(103)
    for k in range(tr.t.size):
        keep = np.arange(n) if k != 3 else np.arange(1, n)  # tracer 1000 missing once
        order = rng.permutation(keep)
        _write_tracer_file(tmp_path / "tracers" / f"data{k * 5:06d}.h5", k * 5, tr.t[k],
                           ids[order], np.mod(tr.x[k, order], length), tr.u[k, order])
    (tmp_path / "run.json").write_text('{"grid": {"box_length": 8.0}}')
    got = tp.running_diffusion_from_run(tmp_path, n_boot=0)
    ref = tp.running_diffusion(tr.x[:, 1:], tr.t, n_boot=0)
    np.testing.assert_allclose(got.kappa[0, 1:], ref.kappa[0, 1:], rtol=1e-12)
    assert got.n_tracers[0] == n - 1


def test_reader_with_pic1d_writer(tmp_path):
    """Dumps written by pic1d's openPMD writer (x in cells * dx), run.json cells/dx/B0."""
    openpmd = pytest.importorskip("pic1d.io.openpmd")
    length, dx, n = 32.0, 0.5, 200
    r0, u0 = _isotropic_state(n, 2.0, length, seed=121)
    tr = tp.integrate_particles(r0, u0, tp.GridField.uniform((1.0, 0.0, 0.0)), dt=0.1,
                                n_out=11, stride=10, scattering=tp.Scattering.uniform(0.3),
                                seed=122)
    (tmp_path / "tracers").mkdir()
    for k in range(tr.t.size):
        order = np.random.default_rng(k).permutation(n)
        openpmd.write_particle_iteration(
            tmp_path / "tracers" / f"data{k * 10:06d}.h5", k * 10, tr.t[k], 0.1, "cre",
            np.arange(n)[order] + 5, np.mod(tr.x[k, order], length) / dx,
            *tr.u[k, order].T, dx=dx, charge=-1.0, mass=1.0)
    (tmp_path / "run.json").write_text('{"cells": 64, "dx": 0.5, "B0": 2.0}')
    snaps = tp.read_tracer_snapshots(tmp_path / "tracers")
    assert (snaps.species, snaps.charge, snaps.mass) == ("cre", -1.0, 1.0)
    got = tp.running_diffusion_from_run(tmp_path, n_boot=0)
    ref = tp.running_diffusion(tr.x, tr.t, n_boot=0)
    np.testing.assert_allclose(got.kappa[0, 1:], ref.kappa[0, 1:], rtol=1e-10)
    ks = tp.kappa_set_from_run(tmp_path, n_bins=1, n_boot=20)
    assert ks.r_g[0] == pytest.approx(2.0 / 2.0)  # |u| / (|q/m| B0)


def test_figure_cli(tmp_path, capsys):
    """The CLI reads .npz results and writes a figure with the theory lines."""
    rng = np.random.default_rng(111)
    x = np.vstack([np.zeros(200), np.cumsum(rng.normal(0, 1, (20, 200)), axis=0)])
    res = tp.running_diffusion(x, np.arange(21.0), n_boot=20)
    tp.save_kappa(tmp_path / "a.npz", res, r_g=np.array([3.0]), label="walk")
    out = tmp_path / "fig.png"
    assert tp.main([str(tmp_path / "a.npz"), "-o", str(out), "--l-mm", "1", "--l-c", "100",
                    "--f-mm", "0.3", "--json", str(tmp_path / "k.json")]) == 0
    assert out.stat().st_size > 10_000
    assert "walk" in capsys.readouterr().out
