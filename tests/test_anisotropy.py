"""Tests of postprocess.anisotropy: CGL track, marginal-stability fit, run CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from postprocess import anisotropy as an

S_TRUE, ALPHA_TRUE = 0.45, 0.52


# ------------------------------------------------------------------ CGL
def _compression(t: np.ndarray, tau: float = 50.0, b0: float = 0.3):
    """Reference compression: a_x = 1, a_y = a_z = 1/(1 + t/tau): B = B0 f^2, n = f^2."""
    f = 1.0 + t / tau
    return b0 * f**2, f**2


def test_cgl_track_equals_double_adiabatic_data():
    t = np.linspace(0.0, 80.0, 201)
    bx, n = _compression(t)
    # exact double-adiabatic data written independently of cgl_track: the invariants
    # p_perp/(n B) and p_par B^2/n^3 are held at their initial values
    c_perp, c_par = 0.02 / bx[0], 0.015 * bx[0] ** 2 / n[0] ** 2
    tpe = c_perp * bx
    tpa = c_par * n**2 / bx**2
    beta_par = 2 * n * tpa / bx**2
    delta = tpe / tpa - 1
    tr = an.cgl_track(n, bx, tpe[0], tpa[0])
    np.testing.assert_allclose(tr.T_perp, tpe, rtol=1e-12)
    np.testing.assert_allclose(tr.T_par, tpa, rtol=1e-12)
    np.testing.assert_allclose(tr.beta_par, beta_par, rtol=1e-12)
    np.testing.assert_allclose(tr.anisotropy, delta, rtol=1e-12, atol=1e-12)
    tr2 = an.cgl_track(n, bx, tpe[0], tpa[0], beta_par0=beta_par[0])
    np.testing.assert_allclose(tr2.beta_par, beta_par, rtol=1e-12)
    cp, cq = an.cgl_invariants(n, bx, tpe, tpa)
    np.testing.assert_allclose(cp, c_perp, rtol=1e-12)
    np.testing.assert_allclose(cq, c_par, rtol=1e-12)
    # for this compression: T_perp ~ f^2, T_par ~ f^0, Delta + 1 = (T_perp0/T_par0) f^2
    f = 1 + t / 50
    np.testing.assert_allclose(tr.anisotropy + 1, 0.02 / 0.015 * f**2, rtol=1e-12)


# ------------------------------------------------------------------ fit
def test_fit_exact_power_law():
    beta = np.geomspace(0.3, 8.0, 25)
    fit = an.fit_marginal(beta, S_TRUE * beta**-ALPHA_TRUE)
    assert fit.S == pytest.approx(S_TRUE, rel=1e-12)
    assert fit.alpha == pytest.approx(ALPHA_TRUE, rel=1e-12)
    assert fit.alpha_err < 1e-12 and fit.n_points == 25


def test_fit_drops_non_positive_and_needs_three_points():
    beta = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    delta = S_TRUE * beta**-ALPHA_TRUE
    delta[0], delta[3] = -0.1, np.nan
    fit = an.fit_marginal(beta, delta)
    assert fit.n_points == 3
    assert fit.alpha == pytest.approx(ALPHA_TRUE, rel=1e-12)
    with pytest.raises(ValueError, match="at least 3"):
        an.fit_marginal(beta[:4], delta[:4])


def test_fit_coverage_over_seeds():
    """Truth within 2 sigma in >= 90 % of seeds (and ~68 % within 1 sigma)."""
    beta = np.geomspace(0.5, 6.0, 40)
    n_seeds, sigma = 200, 0.15
    in2 = {"alpha": 0, "lnS": 0}
    in1 = {"alpha": 0, "lnS": 0}
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        delta = S_TRUE * beta**-ALPHA_TRUE * np.exp(sigma * rng.standard_normal(beta.size))
        fit = an.fit_marginal(beta, delta)
        z_a = abs(fit.alpha - ALPHA_TRUE) / fit.alpha_err
        z_s = abs(math.log(fit.S) - math.log(S_TRUE)) / fit.ln_S_err
        in2["alpha"] += z_a < 2
        in2["lnS"] += z_s < 2
        in1["alpha"] += z_a < 1
        in1["lnS"] += z_s < 1
        assert fit.S_err == pytest.approx(fit.S * fit.ln_S_err)
    for key in in2:
        assert in2[key] / n_seeds >= 0.90, (key, in2[key])
        assert 0.58 <= in1[key] / n_seeds <= 0.78, (key, in1[key])
    # the error estimate itself: sigma_alpha = s / sqrt(sum (x - <x>)^2), s ~ sigma
    x = np.log(beta)
    expected_alpha_err = sigma / math.sqrt(np.sum((x - x.mean()) ** 2))
    assert fit.alpha_err == pytest.approx(expected_alpha_err, rel=0.35)


# ------------------------------------------------------------------ run directory + CLI
OMEGA_CI0, B0, MR = 0.004, 0.3, 25.0
N_OK, N_ALL = 150, 160
T_SAT = 40.0  # 1/Omega_i0: CGL before, marginal after


def write_run(path: Path) -> dict[str, np.ndarray]:
    """history.h5 (+ run.json): CGL until T_SAT, then marginal stability with noise."""
    path.mkdir()
    t_i = np.linspace(0.0, 100.0, N_ALL)  # 1/Omega_i0 (N_OK complete rows, then garbage)
    bx, n = _compression(t_i, tau=80.0, b0=B0)
    rng = np.random.default_rng(7)
    data: dict[str, np.ndarray] = {"time": t_i / OMEGA_CI0, "a_x": np.ones_like(t_i),
                                   "B_x": bx}
    expect: dict[str, np.ndarray] = {"t": t_i[:N_OK], "cgl_rows": t_i[:N_OK] < T_SAT}
    for sp, t0, a0 in (("ions", 0.01, 1.0), ("electrons", 0.012, 1.0)):
        tpe = t0 * a0 * bx / bx[0]
        tpa = t0 * n**2 / n[0] ** 2 * (bx[0] / bx) ** 2
        late = t_i >= T_SAT
        beta_par = 2 * n * tpa / bx**2
        # after T_SAT: parallel heating keeps Delta on S beta^-alpha (log-normal noise)
        beta_par[late] = beta_par[late][0] * np.geomspace(1.0, 0.4, late.sum())
        tpa[late] = beta_par[late] * bx[late] ** 2 / (2 * n[late])
        delta = S_TRUE * beta_par**-ALPHA_TRUE * np.exp(0.05 * rng.standard_normal(t_i.size))
        tpe[late] = tpa[late] * (1 + delta[late])
        beta_perp = 2 * n * tpe / bx**2
        data.update({f"n_{sp}": n.copy(), f"T_perp_{sp}": tpe, f"T_par_{sp}": tpa,
                     f"anisotropy_{sp}": tpe / tpa - 1, f"beta_par_{sp}": beta_par,
                     f"beta_perp_{sp}": beta_perp})
        expect[f"beta_{sp}"] = ((beta_par + 2 * beta_perp) / 3)[:N_OK]
    # a tracer species must be ignored
    data.update({"n_cre": np.ones_like(t_i), "T_perp_cre": np.ones_like(t_i),
                 "T_par_cre": np.ones_like(t_i)})
    for v in data.values():
        v[N_OK:] = -1.0  # incomplete rows: must not be read
    with h5py.File(path / "history.h5", "w") as f:
        for key, val in data.items():
            f.create_dataset(key, data=val, maxshape=(None,))
        f.attrs["species_names"] = np.array(["ions", "electrons", "cre"],
                                            dtype=h5py.string_dtype())
        f.attrs["species_charge"] = np.array([1.0, -1.0, -1.0])
        f.attrs["species_mass"] = np.array([MR, 1.0, 1.0])
        f.attrs["species_tracer"] = np.array([False, False, True])
        f.attrs["omega_ci0"] = OMEGA_CI0
        f.attrs["B0"] = B0
        f.attrs["n_rows"] = np.int64(N_OK)
    (path / "run.json").write_text(json.dumps({"derived": {
        "omega_ci0": OMEGA_CI0, "B0": B0, "mass_ratio": MR, "d_i0": 5.0, "rho_i0": 2.0}}))
    return expect


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("anis") / "run"
    return path, write_run(path)


def test_make_figures_data(run_dir, tmp_path):
    path, expect = run_dir
    res = an.make_figures(path, fit_from=T_SAT + 5.0, out=tmp_path, pdf=True)
    assert sorted(p.name for p in res["paths"]) == ["anisotropy_beta.pdf",
                                                    "anisotropy_beta.png", "beta_time.pdf",
                                                    "beta_time.png"]
    assert [s for s, _ in res["species"]] == ["ions", "electrons"]
    np.testing.assert_allclose(res["t"], expect["t"], rtol=1e-13)
    cgl_rows = expect["cgl_rows"]
    for sp in ("ions", "electrons"):
        r = res[sp]
        np.testing.assert_allclose(r["cgl"].anisotropy[cgl_rows],
                                   r["data"]["anisotropy"][cgl_rows], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r["cgl"].beta_par[cgl_rows],
                                   r["data"]["beta_par"][cgl_rows], rtol=1e-12)
        fit = r["fit"]
        assert fit.n_points == np.count_nonzero(expect["t"] >= T_SAT + 5.0)
        assert abs(fit.alpha - ALPHA_TRUE) < 3 * fit.alpha_err
        assert abs(math.log(fit.S / S_TRUE)) < 3 * fit.ln_S_err
        assert fit.residual_std == pytest.approx(0.05, rel=0.3)
        np.testing.assert_allclose(res["beta"][f"beta_{sp}"], expect[f"beta_{sp}"],
                                   rtol=1e-13)
    np.testing.assert_allclose(res["beta"]["beta_i"], expect["beta_ions"], rtol=1e-13)
    np.testing.assert_allclose(res["beta"]["beta_total"],
                               expect["beta_ions"] + expect["beta_electrons"], rtol=1e-13)


def test_cli(run_dir, tmp_path, capsys):
    path, _ = run_dir
    assert an.main([str(path), "--fit-from", "50", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ions: S = " in out and "electrons: S = " in out
    assert (tmp_path / "anisotropy_beta.png").stat().st_size > 1000
    assert (tmp_path / "beta_time.png").stat().st_size > 1000
    assert not (tmp_path / "beta_time.pdf").exists()
