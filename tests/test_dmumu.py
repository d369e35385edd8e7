"""D_mumu measured vs quasi-linear theory (issue 10; PHYSICS.md 4.3, VALIDATION.md 20).

Each check compares with an independent expectation:

* a prescribed random walk in mu (D_mumu = s(mu)^2/(2 dt) exactly) through the in-situ
  sums and the raw dumps at several Delta t;
* test electrons (gamma = 5) run with the pic1d pusher in a static random-phase spectrum
  of circularly polarised parallel waves with a flat band: the analytic QLT value
  (pi/2) Omega^2 (1 - mu^2) S/(B0^2 v |mu|), S = <dB^2>/(k_2 - k_1), and the QLT of the
  spectrum measured from spectra.h5;
* synthetic waves of known amplitude (Parseval) and synthetic spectra with known
  resonances (magnetostatic, linear dispersion) for the spectral estimator and the QLT.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pic1d.deck import parse_deck
from pic1d.diagnostics.tracers import MuRandomWalk
from pic1d.kernels import N_GHOST
from pic1d.simulation import Runner, Simulation
from pic1d.units import derive
from postprocess import dmumu
from postprocess.io import open_run

DECK = """
[run]
duration = "{steps} steps"
frozen_fields = true
seed = {seed}
[grid]
cells = {cells}
cells_per_de = {cpd}
cfl = 0.45
[plasma]
mass_ratio = 8
beta = 0.2
theta = 0.05
ppc = 1
[[species]]
name = "ions"
charge = 1
mass = "m_i"
[[species]]
name = "electrons"
charge = -1
mass = "m_e"
[[species]]
name = "cre"
tracer = true
charge = -1
mass = 1
count = {count}
p_min = {p_min}
p_max = {p_max}
sampling = "flat_p"
[output]
history = "{every} steps"
fields = 0
[output.spectra]
interval = "{spectra} steps"
[output.insitu]
interval = "{every} steps"
p_bins = {p_bins}
mu_bins = {mu_bins}
p0_bins = 4
{dumps}
"""


def make_cfg(steps, every, count, p_min, p_max, cells=16, cpd=4, spectra=0, p_bins=1,
             mu_bins=40, dumps=0, seed=1):
    dump = (f'[output.tracers]\ninterval = "{dumps} steps"\nprecision = "float64"\n'
            if dumps else "")  # fmt: skip
    return parse_deck(DECK.format(steps=steps, every=every, count=count, p_min=p_min,
                                  p_max=p_max, cells=cells, cpd=cpd, spectra=spectra,
                                  p_bins=p_bins, mu_bins=mu_bins, dumps=dump, seed=seed))


# ------------------------------------------------------------ prescribed random walk
def _step(mu, s0=0.02):
    return s0 * np.sqrt(1.0 - 0.5 * mu * mu)


def test_random_walk_recovered_from_insitu_and_dumps(tmp_path):
    """mu -> mu +- s(mu) every step: D_mumu = s^2/(2 dt) within 5 % from insitu.h5 and from
    raw dumps at Delta t = 1, 2 and 4 dump intervals (Markov: D independent of Delta t);
    D_pp = 0 (fixed |p|); dumps at lag 1 reproduce the in-situ sums to round-off."""
    steps, every = 240, 10
    cfg = make_cfg(steps, every, 30000, 2.0, 20.0, p_bins=4, mu_bins=20, dumps=every)
    sim = Simulation(cfg)
    sim.initialize()
    sim.tracer_hooks = [MuRandomWalk(_step, seed=5)]
    run_dir = tmp_path / "rw"
    run_dir.mkdir()
    Runner(sim, run_dir).run(steps)
    dt = cfg.grid.dt
    ins = dmumu.sums_from_insitu(run_dir)
    mu = ins.mu_centers
    expect = _step(mu) ** 2 / (2 * dt)
    for source, s, mu_max in [("insitu", ins, 0.8)] + [
        (f"dumps lag {lag}", dmumu.sums_from_dumps(run_dir, lag=lag, p_edges=ins.p_edges,
                                                   mu_edges=ins.mu_edges), 0.8 - 0.05 * lag)
        for lag in (1, 2, 4)
    ]:  # fmt: skip
        inner = np.abs(mu) < mu_max  # away from the reflecting ends (spread ~ s sqrt(lag))
        for drift in (False, True):
            d = s.d_mumu(rows=slice(None), drift_corrected=drift, merge_p=True)
            err = np.abs(d[inner] / expect[inner] - 1)
            assert err.max() < 0.05, (source, drift, err.max())
        dpp = s.d_pp(rows=slice(None), merge_p=True)
        assert np.nanmax(np.abs(dpp)) < 1e-20, source
        # (p, mu) maps per p bin and the box average vs time
        full = s.d_mumu(rows=slice(None))
        assert full.shape == (4, 20)
        t, dbox, errbox = s.box(mu_range=(-0.5, 0.5))
        ref = (_step(mu[np.abs(mu) <= 0.5]) ** 2).mean() / (2 * dt)
        assert np.all(np.abs(dbox / ref - 1) < 4 * errbox / dbox + 0.02), source
    lag4 = dmumu.sums_from_dumps(run_dir, lag=4, p_edges=ins.p_edges, mu_edges=ins.mu_edges)
    np.testing.assert_allclose(lag4.dt, 4 * every * dt, rtol=1e-12)
    # lag 1, in-situ bins: the same sums as insitu.h5 (float64 dumps at the same cadence)
    raw = dmumu.sums_from_dumps(run_dir, lag=1, p_edges=ins.p_edges, mu_edges=ins.mu_edges)
    np.testing.assert_array_equal(raw.count, ins.count)
    np.testing.assert_allclose(raw.t_start, ins.t_start, rtol=0, atol=1e-9)
    for key in ("dmu", "dmu2"):
        a, b = getattr(raw, key), getattr(ins, key)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())


# ------------------------------------------------------- static waves, test electrons
GAMMA = 5.0
DB_OVER_B0 = 0.03
T_OMEGA = 10.0  # Delta t Omega (Omega = B0/gamma, relativistic gyrofrequency)
ROWS = 4
L_DE = 400.0
CPD = 8
COUNT = 30000
BANDS = {"low": (0.25, 10.0), "high": (0.5, 16.0)}  # k v/Omega of the flat band (k > 0)


def _static_wave_run(run_dir, band, seed):
    """Frozen-field run: electrons (gamma = 5) in a static flat band of k > 0 waves."""
    p0 = math.sqrt(GAMMA**2 - 1)
    dx = 1.0 / CPD
    dt = 0.45 * dx
    b0 = 1.0  # beta = 0.2, theta = 0.05: B0 = sqrt(2 * 0.1 / 0.2) = 1
    omega = b0 / GAMMA
    v = p0 / GAMMA
    cells = int(round(L_DE / dx))
    every = int(round(T_OMEGA / omega / dt))
    cfg = make_cfg(ROWS * every, every, COUNT, 0.999 * p0, 1.001 * p0, cells=cells, cpd=CPD,
                   spectra=every, p_bins=1, mu_bins=40, seed=seed)  # fmt: skip
    assert abs(cfg.plasma.B0 - b0) < 1e-12
    sim = Simulation(cfg)
    sim.initialize()
    length = cells * dx
    dk = 2 * np.pi / length
    n = np.arange(math.ceil(band[0] * omega / v / dk), math.floor(band[1] * omega / v / dk) + 1)
    k = n * dk
    phase = np.random.default_rng(100 + seed).uniform(0, 2 * np.pi, k.size)
    amp = DB_OVER_B0 * b0 / math.sqrt(k.size)  # <|b|^2> = dB^2
    x_half = (np.arange(cells) + 0.5) * dx  # b'_y, b'_z live on half nodes
    arg = k[None, :] * x_half[:, None] + phase[None, :]
    g = sim.grid
    g.b[1][N_GHOST : N_GHOST + cells] = amp * np.cos(arg).sum(axis=1)  # b = B_y + i B_z
    g.b[2][N_GHOST : N_GHOST + cells] = amp * np.sin(arg).sum(axis=1)  # ~ exp(+i k x)
    sim.domain.fill_ghosts(g.b[1], g.b[2])
    Runner(sim, run_dir).run(cfg.run.steps)
    # the derived parameters `pic1d run` stores (d_i0, omega_ci0, ... for the figures)
    (run_dir / "run.json").write_text(json.dumps({"derived": derive(cfg).as_dict()}))
    return {"k": k, "S": (DB_OVER_B0 * b0) ** 2 / (k.size * dk), "B0": b0, "p0": p0,
            "dk": dk, "run_dir": run_dir}  # fmt: skip


@pytest.fixture(scope="module")
def wave_runs(tmp_path_factory):
    out = {}
    for seed, (name, band) in enumerate(BANDS.items(), start=1):
        out[name] = _static_wave_run(tmp_path_factory.mktemp(f"waves_{name}"), band, seed)
    return out


def _analytic_qlt(info, mu):
    """(pi/2) Omega^2 (1 - mu^2) S/(B0^2 v mu) where k_res = B0/(p mu) is in the band."""
    p0, b0 = info["p0"], info["B0"]
    g = math.sqrt(1 + p0 * p0)
    v = p0 / g
    k = info["k"]
    with np.errstate(divide="ignore"):
        kres = np.where(mu > 0, b0 / (p0 * mu), np.inf)
    inside = (kres >= k[0] - 0.5 * info["dk"]) & (kres <= k[-1] + 0.5 * info["dk"])
    return np.where(inside, 0.5 * np.pi * (b0 / g) ** 2 * (1 - mu * mu) * info["S"]
                    / (b0**2 * v * np.abs(mu)), 0.0)  # fmt: skip


@pytest.mark.parametrize("name", list(BANDS))
def test_static_waves_match_qlt(wave_runs, name):
    """Measured D_mumu of test electrons in a static flat band of k > 0 circularly
    polarised waves (dB/B0 = 0.03) is within 20 % of QLT for 0.35 < mu < 0.95, both with
    the analytic flat-band S and with S measured from spectra.h5; electrons with mu < 0
    (no resonant waves) scatter < 5 % of the QLT value at +|mu|; |p| is conserved (E = 0)."""
    info = wave_runs[name]
    run_dir = info["run_dir"]
    sums = dmumu.sums_from_insitu(run_dir)
    rms_dp = math.sqrt(sums.dp2.sum() / sums.count.sum())  # E = 0: |p| conserved
    assert rms_dp < 1e-10 * info["p0"]
    mu = sums.mu_centers
    measured = sums.d_mumu(rows=slice(None), merge_p=True)
    # QLT through the API: spectra.h5 over the whole run (static: all power at omega = 0,
    # split half/half between the branches; the magnetostatic resonance is the same k)
    run = open_run(run_dir)
    t_mid = 0.5 * (sums.t_start[0] + sums.t_start[-1] + sums.dt[-1])
    spec = dmumu.wave_spectra_run(run, t_mid, 2 * t_mid)
    assert spec.B == pytest.approx(info["B0"], rel=1e-12)
    band = (spec.k > info["k"][0] + 3 * info["dk"]) & (spec.k < info["k"][-1] - 3 * info["dk"])
    # the measured two-sided density equals the prescribed flat band times the factor of
    # the collocation of B_y, B_z from half to integer nodes, cos^2(k dx/2) (>= 0.96)
    ratio = (spec.S_L + spec.S_R)[band] / info["S"]
    np.testing.assert_allclose(ratio, np.cos(0.5 * spec.k[band] / CPD) ** 2, rtol=1e-3)
    assert spec.total == pytest.approx(DB_OVER_B0**2, rel=0.04)
    qlt = dmumu.qlt_dmumu(sums.p_centers, mu, spec).total[0]
    analytic = _analytic_qlt(info, mu)
    test = (mu > 0.35) & (mu < 0.95)
    err_qlt = measured[test] / qlt[test] - 1
    err_an = measured[test] / analytic[test] - 1
    print(f"\nband {name} {BANDS[name]} k v/Omega: mu = {np.round(mu[test], 3)}")
    print("  measured/QLT(spectra.h5) - 1 =", np.round(err_qlt, 3))
    print("  measured/QLT(analytic)   - 1 =", np.round(err_an, 3))
    assert np.abs(err_qlt).max() < 0.20
    assert np.abs(err_an).max() < 0.20
    # mu < 0: no resonant waves (k > 0 only) -> nearly unscattered
    neg = (mu < -0.35) & (mu > -0.95)
    mirror = np.interp(-mu[neg], mu, qlt)
    frac = measured[neg] / mirror
    print("  D(-|mu|)/QLT(+|mu|) max =", round(float(frac.max()), 4))
    assert frac.max() < 0.05
    assert np.all(qlt[mu < 0] < 1e-12 * qlt.max())


# ----------------------------------------------------------- spectra and QLT (synthetic)
def _synthetic(waves, n_x=256, n_t=128, length=100.0, period=200.0):
    """b = sum A exp(i(k x - omega t)) on periodic on-bin (k, omega)."""
    x = np.arange(n_x) * length / n_x
    t = np.arange(n_t) * period / n_t
    b = np.zeros((n_t, n_x), complex)
    for amp, mk, mw in waves:
        k = 2 * np.pi * mk / length
        w = 2 * np.pi * mw / period
        b += amp * np.exp(1j * (k * x[None, :] - w * t[:, None]))
    return t, x, b


def test_spectra_normalisation_and_polarisation():
    """sum_j int S_j dk = <|b|^2> (Parseval, smoothing included); LCP forward at k > 0,
    RCP forward at k < 0; omega = 0 split half/half; forward/backward split."""
    waves = [(0.3, 10, 5), (0.2, -14, 7), (0.1, -20, -9), (0.05, 25, -6), (0.04, 30, 0)]
    t, x, b = _synthetic(waves)
    s = dmumu.wave_spectra(t, x, b.real, b.imag, smooth=7)
    dk = s.dk
    total = sum(a * a for a, *_ in waves)
    assert s.total == pytest.approx(total, rel=1e-12)
    assert (s.S_L.sum() + s.S_R.sum()) * dk == pytest.approx(total, rel=1e-12)
    assert (s.raw_L.sum() + s.raw_R.sum()) * dk == pytest.approx(total, rel=1e-12)

    def power(branch, direction, ks):
        kabs, S = s.directional(branch, direction, smoothed=False)
        m = np.isin(np.round(kabs / dk).astype(int), ks)
        return S[m].sum() * dk

    zero = 0.04**2 / 2  # static wave: half to each branch
    assert power("L", "forward", [10]) == pytest.approx(0.09, rel=1e-12)
    assert power("L", "backward", [14]) == pytest.approx(0.04, rel=1e-12)
    assert power("R", "forward", [20]) == pytest.approx(0.01, rel=1e-12)
    assert power("R", "backward", [25]) == pytest.approx(0.0025, rel=1e-12)
    assert power("L", "forward", [30]) == pytest.approx(zero, rel=1e-12)
    assert power("R", "backward", [30]) == pytest.approx(zero, rel=1e-12)
    # Hann smoothing of 7 points: weights (1, 3, 4, 3, 1)/12 around a line
    kabs, S = s.directional("L", "forward")
    i = int(np.flatnonzero(np.round(kabs / dk) == 10)[0])
    np.testing.assert_allclose(S[i - 2 : i + 3] * dk / 0.09, np.array([1, 3, 4, 3, 1]) / 12,
                               rtol=1e-12)  # fmt: skip
    # a co-moving box compressed along x: physical k = k'/a_x, integral preserved
    s2 = dmumu.wave_spectra(t, x, b.real, b.imag, a_x=0.5)
    assert s2.k[1] - s2.k[0] == pytest.approx(2 * dk)
    assert (s2.S_L.sum() + s2.S_R.sum()) * s2.dk == pytest.approx(total, rel=1e-12)


def _flat_spectrum(k_lo, k_hi, power, branch="L", n=4001, k_max=10.0):
    k = np.linspace(-k_max, k_max, n)
    k = 0.5 * (k - k[::-1])  # exactly antisymmetric grid
    S = np.where((k >= k_lo) & (k <= k_hi), power / (k_hi - k_lo), 0.0)
    zero = np.zeros_like(k)
    L, R = (S, zero) if branch == "L" else (zero, S)
    return dmumu.WaveSpectra(k=k, S_L=L, S_R=R, raw_L=L, raw_R=R, raw_0=zero, total=power,
                             t_window=(0.0, 1.0), B=1.0)  # fmt: skip


def test_qlt_normalisation_and_resonance_contours():
    """QLT: D proportional to the power; magnetostatic flat band = analytic formula;
    moving LCP power to RCP at the same propagation direction moves the resonance from the
    IC contour (mu = +|q| B/(p k)) to the whistler one (mu = -|q| B/(p k)); a linear
    dispersion omega = c_s k gives k_res = |Omega|/(v mu - c_s) and the Summers factors."""
    p = np.geomspace(1.0, 20.0, 30)
    half = np.linspace(0.01, 0.99, 99)
    mu = np.concatenate([-half[::-1], [0.0], half])  # exactly symmetric
    spec = _flat_spectrum(0.2, 2.0, 1e-3)
    q1 = dmumu.qlt_dmumu(p, mu, spec)
    q2 = dmumu.qlt_dmumu(p, mu, spec.scaled(2.0))
    np.testing.assert_allclose(q2.total, 2 * q1.total, rtol=1e-12)
    assert q1.total.max() > 0
    # analytic magnetostatic flat band (electrons, k_res = B/(p mu) > 0 for mu > 0)
    P, M = np.meshgrid(p, mu, indexing="ij")
    g = np.sqrt(1 + P * P)
    v = P / g
    kres = np.where(M > 0, 1.0 / (P * np.where(M > 0, M, 1)), np.inf)
    inside = (kres > 0.2 + 1e-3) & (kres < 2.0 - 1e-3)
    edge = (np.abs(kres - 0.2) < 6e-3) | (np.abs(kres - 2.0) < 6e-3)  # grid step 5e-3
    an = np.where(inside, 0.5 * np.pi / g**2 * (1 - M * M) * (1e-3 / 1.8)
                  / (v * np.maximum(np.abs(M), 1e-3)), 0)
    np.testing.assert_allclose(q1.L[~edge], an[~edge], rtol=1e-9, atol=1e-15)
    assert np.all(q1.R == 0)
    # LCP forward (k > 0) -> RCP forward (Fourier k < 0) at the same |k|: mu -> -mu
    narrow_l = _flat_spectrum(0.95, 1.05, 1e-3, "L")
    fwd_r = _flat_spectrum(-1.05, -0.95, 1e-3, "R")
    ql = dmumu.qlt_dmumu(p, mu, narrow_l)
    qr = dmumu.qlt_dmumu(p, mu, fwd_r)
    for q, sign in ((ql, 1.0), (qr, -1.0)):
        d = q.total
        assert d.max() > 0
        assert np.all(d[:, sign * mu < 0] == 0)  # only one mu hemisphere resonates
        w = d / d.sum()
        mean_pmu = float((w * P * M).sum())  # contour p mu = sign |q| B/k, k ~ 1
        assert mean_pmu == pytest.approx(sign * 1.0, rel=0.02)
    np.testing.assert_allclose(qr.R[:, ::-1], ql.L, rtol=1e-12, atol=1e-300)
    # moving a fraction of the LCP power to RCP at the same Fourier k: magnetostatic total
    # unchanged, split moves from L to R
    q3 = dmumu.qlt_dmumu(p, mu, narrow_l.scaled(1.0, l_to_r=0.25))
    np.testing.assert_allclose(q3.total, ql.total, rtol=1e-12)
    np.testing.assert_allclose(q3.R, 0.25 * ql.total, rtol=1e-12)
    # linear dispersion omega = c_s k (L) and -c_s |k|... test the root finder: exact roots
    c_s = 0.2
    freq = {"L": lambda k: c_s * k, "R": lambda k: np.zeros_like(k)}
    qd = dmumu.qlt_dmumu(p, mu, spec, frequencies=freq, k_grid=np.linspace(-10, 10, 20001))
    with np.errstate(divide="ignore", invalid="ignore"):
        kd = (1.0 / g) / (v * M - c_s)  # omega - k v mu = -|Omega|: k (v mu - c_s) = |Omega|
        ins = (kd > 0.21) & (kd < 1.99) & (v * M - c_s > 0)
        expect = np.where(ins, 0.5 * np.pi / g**2 * (1 - M * M) * (1 - M * c_s / v) ** 2
                          * (1e-3 / 1.8) / np.abs(v * M - c_s), 0.0)  # fmt: skip
    far = ins & (np.abs(kd - 0.2) > 0.02) & (np.abs(kd - 2.0) > 0.02)
    np.testing.assert_allclose(qd.L[far], expect[far], rtol=1e-6)
    assert np.all(qd.L[~ins & ~((kd > 0.18) & (kd < 2.02))] == 0)
    # omega = 0 through the root finder equals the magnetostatic branch
    q0 = dmumu.qlt_dmumu(p, mu, spec, frequencies={"L": np.zeros_like, "R": np.zeros_like},
                         k_grid=np.linspace(-10, 10, 20001))  # fmt: skip
    np.testing.assert_allclose(q0.L[~edge], q1.L[~edge], rtol=1e-9, atol=1e-15)


def test_figures_and_cli(wave_runs, tmp_path):
    """The Fig. 3-like maps and the D-vs-time figure are written; the returned arrays
    match the API (smoke test of ``python -m postprocess.dmumu``)."""
    info = wave_runs["low"]
    run = open_run(info["run_dir"])
    omega_ci0 = float(run.param("omega_ci0"))
    sums = dmumu.sums_from_insitu(info["run_dir"])
    t_end = (sums.t_start[-1] + sums.dt[-1]) * omega_ci0
    res = dmumu.make_figures(info["run_dir"], [0.5 * t_end], window=t_end,
                             measure_window=t_end, mu_box=(0.4, 0.9), out=tmp_path)  # fmt: skip
    names = sorted(p.name for p in res["paths"])
    assert names == ["dmumu_maps.png", "dmumu_time.png"]
    col = res["columns"][0]
    np.testing.assert_allclose(col["measured"], sums.d_mumu(rows=slice(None)), rtol=1e-12)
    ts = res["time_series"]
    assert ts["D"].shape == (ROWS,)
    assert ts["qlt_D"][0] == pytest.approx(np.nanmean(ts["D"]), rel=0.2)
    rc = dmumu.main([str(info["run_dir"]), "--times", f"{0.5 * t_end}", "--window",
                     f"{t_end}", "--out", str(tmp_path / "cli")])  # fmt: skip
    assert rc == 0
    assert (tmp_path / "cli" / "dmumu_maps.png").exists()
