"""Tests of postprocess.omega_k: sign convention, bins, Parseval, leakage, run CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from postprocess import omega_k as ok
from postprocess.dispersion import normalised_species, solve_branch

# ----------------------------------------------------------------------------- helpers
N_T, N_X = 64, 32
DT, DX = 0.7, 1.3
TIME = 3.0 + DT * np.arange(N_T)  # offsets must not matter
X = 0.5 + DX * np.arange(N_X)
D_OMEGA = 2 * math.pi / (N_T * DT)
D_K = 2 * math.pi / (N_X * DX)


def wave(amp: complex, mk: int, mw: float, time=TIME, x=X, dk=D_K, dw=D_OMEGA):
    """b = amp exp(i(k x - omega t)) with k = mk dk, omega = mw dw; returns (dBy, dBz)."""
    b = amp * np.exp(1j * (mk * dk * x[None, :] - mw * dw * time[:, None]))
    return b.real, b.imag


def cell(k, omega, mk, mw, dk=D_K, dw=D_OMEGA):
    return int(np.argmin(np.abs(omega - mw * dw))), int(np.argmin(np.abs(k - mk * dk)))


def hann_response(nu: np.ndarray, n: int) -> np.ndarray:
    """Exact DTFT (1/n) sum_j w_j exp(2 pi i nu j / n) of the periodic Hann window."""

    def dirichlet(v):
        v = np.asarray(v, dtype=float)
        out = np.empty(v.shape, dtype=complex)
        small = np.abs(np.sin(np.pi * v / n)) < 1e-14
        vv = v[~small]
        out[~small] = (np.exp(1j * np.pi * vv * (n - 1) / n) * np.sin(np.pi * vv)
                       / (n * np.sin(np.pi * vv / n)))
        out[small] = np.exp(1j * np.pi * v[small] * (n - 1) / n)
        return out

    return 0.5 * dirichlet(nu) - 0.25 * dirichlet(nu + 1) - 0.25 * dirichlet(nu - 1)


# ------------------------------------------------------------------ sign convention
@pytest.mark.parametrize("charge", [1.0, -1.0])
def test_sign_convention_from_particle_gyration(charge):
    """A field rotating like an ion's velocity (dv/dt = q v x B, B = B0 x) is LCP (omega>0)."""
    mass = 2.0
    n_t, n_x, dt, dx = 64, 16, 0.1, 1.0
    m_w = 5  # gyrofrequency exactly on a bin: Omega = 5 * 2 pi / (n_t dt)
    omega_c = m_w * 2 * math.pi / (n_t * dt)
    b_field = omega_c * mass / abs(charge)  # |q| B0 / m = Omega

    def rhs(_t, v):
        bvec = np.array([b_field, 0.0, 0.0])
        return charge / mass * np.cross(v, bvec)

    t = dt * np.arange(n_t)
    x = dx * np.arange(n_x)
    n_k = 2
    # at fixed x the field rotates like the particle: B_perp(x, t) = v_perp(t - x / v_ph),
    # forward phase speed v_ph > 0 chosen so that the wave is periodic in the box:
    # Omega L / v_ph = 2 pi n_k
    v_ph = omega_c * n_x * dx / (2 * math.pi * n_k)
    tau = t[:, None] - x[None, :] / v_ph
    sol = solve_ivp(rhs, (tau.min() - 1, tau.max() + 1), [0.0, 1.0, 0.0],
                    rtol=1e-11, atol=1e-12, dense_output=True)
    vy = sol.sol(tau.ravel())[1].reshape(tau.shape)
    vz = sol.sol(tau.ravel())[2].reshape(tau.shape)
    k, omega, p = ok.omega_k_power(t, x, vy, vz)
    iw, ik = np.unravel_index(np.argmax(p), p.shape)
    assert omega[iw] == pytest.approx(charge * omega_c, rel=1e-12)  # ions: +, electrons: -
    assert k[ik] == pytest.approx(charge * n_k * 2 * math.pi / (n_x * dx), rel=1e-12)
    assert omega[iw] / k[ik] > 0  # forward (v_ph > 0) for both species
    assert p[iw, ik] / p.sum() == pytest.approx(2 / 3, abs=1e-6)


# ------------------------------------------------------------------ on-bin waves
QUADRANTS = {  # name: (amplitude, k bin, omega bin)
    "lcp_forward": (1.0, 3, 4),
    "lcp_backward": (0.5j, -5, 7),
    "rcp_forward": (0.3 - 0.2j, -4, -3),
    "rcp_backward": (0.7, 6, -9),
}


def test_on_bin_waves_land_in_their_cells_and_quadrants():
    by = np.zeros((N_T, N_X))
    bz = np.zeros((N_T, N_X))
    for amp, mk, mw in QUADRANTS.values():
        y, z = wave(amp, mk, mw)
        by += y
        bz += z
    k, omega, p = ok.omega_k_power(TIME, X, by, bz)
    assert p.shape == (N_T, N_X)
    assert np.all(np.diff(k) > 0) and np.all(np.diff(omega) > 0)
    assert D_OMEGA == pytest.approx(omega[1] - omega[0], rel=1e-12)
    expected = np.zeros_like(p)
    for amp, mk, mw in QUADRANTS.values():
        iw, ik = cell(k, omega, mk, mw)
        expected[iw, ik] += 2 / 3 * abs(amp) ** 2  # Hann: 1/4 / (3/8)
        expected[iw - 1, ik] += 1 / 6 * abs(amp) ** 2  # 1/16 / (3/8)
        expected[iw + 1, ik] += 1 / 6 * abs(amp) ** 2
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-13)
    spec = ok.spectrogram(TIME, X, by, bz, window=N_T * DT, overlap=0.0)
    assert spec.t.size == 1
    for name, (amp, _, _) in QUADRANTS.items():
        assert getattr(spec, name)[0] == pytest.approx(abs(amp) ** 2, rel=1e-12)
    assert spec.lcp[0] == pytest.approx(1.0 + 0.25, rel=1e-12)
    assert spec.zero[0] == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize("taper", [True, False])
def test_parseval(taper):
    rng = np.random.default_rng(3)
    b = rng.normal(size=(N_T, N_X)) + 1j * rng.normal(size=(N_T, N_X))
    b *= 1 + 0.5 * np.sin(TIME)[:, None]  # non-stationary: the window weighting matters
    k, omega, p = ok.omega_k_transform(TIME, X, b, taper=taper)
    w2 = ok.hann(N_T) ** 2 if taper else np.ones(N_T)
    mean_b2 = np.sum(w2[:, None] * np.abs(b) ** 2) / (w2.sum() * N_X)
    assert abs(p.sum() / mean_b2 - 1) < 1e-10
    if taper:
        assert np.mean(ok.hann(N_T) ** 2) == pytest.approx(3 / 8, rel=1e-14)


# ------------------------------------------------------------------ off-bin leakage
@pytest.mark.parametrize("delta", [0.5, 0.3, -0.2])
def test_off_bin_peak_and_hann_leakage(delta):
    n_t = 256
    time = DT * np.arange(n_t)
    dw = 2 * math.pi / (n_t * DT)
    m0, mk, amp = 20, 2, 1.7
    by, bz = wave(amp, mk, m0 + delta, time=time, dw=dw)
    k, omega, p = ok.omega_k_power(time, X, by, bz)
    ik = int(np.argmin(np.abs(k - mk * D_K)))
    iw = int(np.argmax(p[:, ik]))
    assert abs(omega[iw] - (m0 + delta) * dw) <= dw * (0.5 + 1e-9)  # peak within one bin
    # full frequency profile at k0 against the exact Hann DTFT: |W(m - m0 - delta)|^2 / (3/8)
    m = np.rint(omega / dw)
    expected = amp**2 * np.abs(hann_response(m - m0 - delta, n_t)) ** 2 / (3 / 8)
    np.testing.assert_allclose(p[:, ik], expected, rtol=0, atol=1e-12 * amp**2)
    assert np.sum(np.delete(p, ik, axis=1)) < 1e-20  # no leakage in k (periodic box)
    assert p.sum() == pytest.approx(amp**2, rel=1e-12)  # Parseval (stationary amplitude)
    if delta == 0.5:  # continuum scalloping loss: (0.5 sinc(0.5) / 0.75)^2 / (3/8)
        loss = (0.5 * (2 / math.pi) / 0.75) ** 2 / 0.375
        assert p[iw, ik] / amp**2 == pytest.approx(loss, rel=1e-3)


# ------------------------------------------------------------------ sliding windows
def test_sliding_windows_and_energy():
    n_t = 200
    time = DT * np.arange(n_t)
    win = ok.sliding_windows(time, window=40 * DT, overlap=0.5)
    assert [(s.start, s.stop) for s in win[:3]] == [(0, 40), (20, 60), (40, 80)]
    assert win[-1].stop <= n_t and len(win) == 9
    assert len(ok.sliding_windows(time[:10], window=40 * DT)) == 1  # partial run
    # growing LCP wave and constant RCP wave; total energy is exact (Parseval)
    amp_l = 0.1 * np.exp(time / 60)
    by_l, bz_l = wave(1.0, 2, 8, time=time, dw=2 * math.pi / (40 * DT))
    by_r, bz_r = wave(0.2, -3, -10, time=time, dw=2 * math.pi / (40 * DT))
    by = amp_l[:, None] * by_l + by_r
    bz = amp_l[:, None] * bz_l + bz_r
    en = ok.wave_energy_vs_time(time, X, by, bz, window=40 * DT, overlap=0.5)
    w2 = ok.hann(40) ** 2
    for j, sl in enumerate(win):
        raw = 0.5 * np.mean(by[sl] ** 2 + bz[sl] ** 2, axis=1)
        assert en.total[j] == pytest.approx(np.sum(w2 * raw) / w2.sum(), rel=1e-12)
        assert en.t[j] == pytest.approx(time[sl].mean(), rel=1e-14)
        # split: within the Hann-leakage error of a slowly growing tone
        assert en.rcp[j] == pytest.approx(0.5 * 0.04, rel=1e-3)
        assert en.lcp[j] == pytest.approx(0.5 * np.sum(w2 * amp_l[sl] ** 2) / w2.sum(),
                                          rel=1e-3)
    np.testing.assert_allclose(en.total, en.lcp + en.rcp + en.zero, rtol=1e-13)
    np.testing.assert_allclose(en.total_raw, 0.5 * np.mean(by**2 + bz**2, axis=1), rtol=1e-14)


def test_alias_frequency():
    w = np.array([0.5, 1.5, -1.5, 2.5, 3.0])
    np.testing.assert_allclose(ok.alias_frequency(w, 1.0), [0.5, -0.5, 0.5, 0.5, -1.0])


# ------------------------------------------------------------------ run directory + CLI
MR, B0, OMEGA_CI0 = 25.0, 0.25, 0.01
D_I0 = 5.0  # sqrt(m_i / n0) in d_e0
T0 = 0.03125  # beta_i = 2 n T / B0^2 = 1
RHO_I0 = math.sqrt(T0 * MR) / B0
SPEC_DT_I = 0.25  # spectra cadence in 1/Omega_i0
N_W = 80  # samples in a 20/Omega_i0 window
RUN_X = 2.0 * np.arange(64)  # d_e0
RUN_DK = 2 * math.pi / (64 * 2.0)  # 1/d_e0
RUN_DW = 2 * math.pi / (N_W * SPEC_DT_I)  # Omega_i0
A_L, A_R = 0.02 * B0, 0.01 * B0


def _append_table(path: Path, data: dict[str, np.ndarray], attrs: dict, n_rows: int,
                  static: dict[str, np.ndarray] | None = None) -> None:
    """Row datasets (maxshape None) with garbage after the n_rows complete rows."""
    with h5py.File(path, "w") as f:
        for key, val in data.items():
            f.create_dataset(key, data=val, maxshape=(None, *val.shape[1:]))
        for key, val in (static or {}).items():
            f.create_dataset(key, data=val)
        for key, val in attrs.items():
            f.attrs[key] = val
        f.attrs["n_rows"] = np.int64(n_rows)


def _history_moments(t_i: np.ndarray) -> dict[str, np.ndarray]:
    f = 1.0 + 0.01 * t_i
    return {"B_x": B0 * f, "n": f, "A": 1.0 + 0.02 * t_i}


def write_synthetic_run(path: Path) -> None:
    path.mkdir()
    attrs = {"species_names": np.array(["ions", "electrons"], dtype=h5py.string_dtype()),
             "species_charge": np.array([1.0, -1.0]), "species_mass": np.array([MR, 1.0]),
             "species_tracer": np.array([False, False]), "B0": B0, "mass_ratio": MR,
             "omega_ci0": OMEGA_CI0, "dx": 0.5, "dt": 0.45 * 0.5}
    (path / "run.json").write_text(json.dumps({"derived": {
        "omega_ci0": OMEGA_CI0, "B0": B0, "mass_ratio": MR, "dx": 0.5, "dt": 0.225,
        "d_i0": D_I0, "rho_i0": RHO_I0}}))
    # spectra: 240 complete rows (60/Omega_i0) + 20 rows of garbage
    n_ok, n_all = 240, 260
    t_i = SPEC_DT_I * np.arange(n_all)
    by_l, bz_l = wave(A_L, 3, 2, time=t_i, x=RUN_X, dk=RUN_DK, dw=RUN_DW)  # LCP forward
    by_r, bz_r = wave(A_R, 5, -4, time=t_i, x=RUN_X, dk=RUN_DK, dw=RUN_DW)  # RCP backward
    by, bz = by_l + by_r, bz_l + bz_r
    by[n_ok:] = 1e3
    bz[n_ok:] = -1e3
    _append_table(path / "spectra.h5",
                  {"time": t_i / OMEGA_CI0, "dBy": by, "dBz": bz, "Ey": 0 * by, "Ez": 0 * bz},
                  dict(attrs, interval=100, stride=4), n_ok, static={"x": RUN_X})
    # history: every 1/Omega_i0, 61 complete rows + garbage
    th = np.arange(70.0)
    mom = _history_moments(th)
    data = {"time": th / OMEGA_CI0, "a_x": np.ones_like(th), "B_x": mom["B_x"]}
    for sp, aniso in (("ions", mom["A"]), ("electrons", np.ones_like(th))):
        data[f"n_{sp}"] = mom["n"]
        data[f"T_par_{sp}"] = np.full_like(th, T0)
        data[f"T_perp_{sp}"] = T0 * aniso
    for v in data.values():
        v[61:] = np.nan
    _append_table(path / "history.h5", data, attrs, 61)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("omega_k") / "run"
    write_synthetic_run(path)
    return path


def test_make_figures_data(run_dir, tmp_path):
    res = ok.make_figures(run_dir, window=20.0, overlap=0.5, times=[10.0, 45.0],
                          out=tmp_path, band_points=3)
    assert {p.name for p in res["paths"]} == {"omega_k.png", "omega_k_spectrogram.png",
                                              "wave_energy.png"}
    k_l, w_l = 3 * RUN_DK * D_I0, 2 * RUN_DW  # 1/d_i0, Omega_i0
    k_r, w_r = 5 * RUN_DK * D_I0, -4 * RUN_DW
    assert len(res["panels"]) == 2
    for pan, tc in zip(res["panels"], (10.0, 45.0), strict=True):
        assert pan["t"] == pytest.approx(tc, abs=SPEC_DT_I)
        k, w, p = pan["k"], pan["omega"], pan["P"]
        assert pan["omega_nyquist"] == pytest.approx(math.pi / SPEC_DT_I)
        assert pan["d_omega"] == pytest.approx(RUN_DW) and pan["d_k"] == pytest.approx(
            RUN_DK * D_I0)
        iw, ik = cell(k, w, k_l, w_l, dk=1.0, dw=1.0)
        assert (k[ik], w[iw]) == (pytest.approx(k_l), pytest.approx(w_l))
        assert p[iw, ik] == pytest.approx(2 / 3 * (A_L / B0) ** 2, rel=1e-10)
        iw, ik = cell(k, w, k_r, w_r, dk=1.0, dw=1.0)
        assert p[iw, ik] == pytest.approx(2 / 3 * (A_R / B0) ** 2, rel=1e-10)
        assert p.sum() == pytest.approx(((A_L**2 + A_R**2) / B0**2), rel=1e-10)
    spec = res["spectrogram"]
    assert spec.t.size == 5  # only the 240 complete rows: windows 0..80, ..., 160..240
    np.testing.assert_allclose(spec.lcp_forward, (A_L / B0) ** 2, rtol=1e-10)
    np.testing.assert_allclose(spec.rcp_backward, (A_R / B0) ** 2, rtol=1e-10)
    np.testing.assert_allclose(spec.lcp_backward + spec.rcp_forward, 0, atol=1e-20)
    en = res["energy"]
    np.testing.assert_allclose(en.total, 0.5 * (A_L**2 + A_R**2) / B0**2, rtol=1e-10)
    assert en.t_raw.size == 240
    # dispersion roots at the panel times, converted to 1/d_i0 and Omega_i0
    roots = res["roots"]
    assert roots is not None and roots.time.size == 2
    for i, pan in enumerate(res["panels"]):
        th = round(pan["t"])  # history row nearest the window centre
        assert roots.time[i] * OMEGA_CI0 == pytest.approx(th)
        mom = _history_moments(np.array([float(th)]))
        n, bx, aniso = mom["n"][0], mom["B_x"][0], mom["A"][0]
        sp, va, _, _ = normalised_species([1, -1], [MR, 1], [n, n], [T0 * aniso, T0],
                                          [T0, T0], bx)
        k_ref = roots.k_L[i] / math.sqrt(n)  # d_ref = sqrt(m_i / n), d_i0 = sqrt(m_i)
        np.testing.assert_allclose(k_ref[[0, -1]], [0.02, 6.0], rtol=1e-12)
        w_ref = solve_branch(k_ref, sp, va, "L")
        np.testing.assert_allclose(roots.omega_L[i], w_ref * bx / B0, rtol=1e-8)
    bands = res["bands"]
    assert bands.time.size == 3
    late = bands.band_L[-1]  # anisotropy 2.2 at beta_i ~ 1: ion-cyclotron unstable
    assert np.all(np.isfinite(late)) and 0 < late[0] < late[1] and 0 < late[2] < late[3] < 1.2


def test_cli_writes_figures(run_dir, tmp_path, capsys):
    rc = ok.main([str(run_dir), "--window", "20", "--overlap", "0.5", "--out", str(tmp_path),
                  "--pdf", "--no-dispersion", "--k-unit", "rho_i0", "--omega-max", "5"])
    assert rc == 0
    for stem in ("omega_k", "omega_k_spectrogram", "wave_energy"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    assert "windows: 5" in capsys.readouterr().out
