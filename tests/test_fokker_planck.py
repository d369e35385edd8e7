"""Monte Carlo Fokker-Planck model of magnetic pumping (issue 11; PHYSICS.md 4.6;
VALIDATION.md item 22).

Independent expectations: zero gain without scattering (exact adiabatic invariants), the
continuous-isotropisation limit (closed form, checked against quadrature in
test_pumping), the random-walk variance delta^2 per step, the kinematic bound of a
resonance band, the deck's own scale factors and parameters.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pic1d.comoving import AxisProfile, ScaleFactors
from pic1d.deck import load_deck
from postprocess import fokker_planck as fp
from postprocess import pumping as pm

ROOT = Path(__file__).resolve().parents[1]
REF = ScaleFactors((AxisProfile(), AxisProfile("power", 1.0, 1.0),
                    AxisProfile("power", 1.0, 1.0)))  # a_x = 1, B/B0 = (1 + t)^2


def t_for(b: float) -> float:
    """Time (tau_c) at which the reference compression reaches B/B0 = b."""
    return math.sqrt(b) - 1.0


def test_no_scattering_zero_gain():
    """No resonance, zero step, scattering switched on after t_end, and a general L
    (a_x compressed too, a_y != a_z): the revert returns every particle to p0."""
    p0, mu0 = fp.isotropic_sample(20000, "flat_log_p", p_min=0.01, p_max=100.0, seed=1)
    general = ScaleFactors((AxisProfile("power", 2.0, 0.5), AxisProfile("power", 1.0, 1.0),
                            AxisProfile("exponential", 3.0)))
    models = [fp.FPModel(REF, t_for(6), 2000, resonance="none", step=0.1),
              fp.FPModel(REF, t_for(6), 2000, resonance="everywhere", step=0.0),
              fp.FPModel(REF, t_for(6), 2000, resonance="everywhere", step=0.1, t_start=5.0),
              fp.FPModel(general, 1.0, 2000, resonance="none")]
    for m in models:
        res = fp.run_model(m, p0, mu0, times=5, n_p0=20)
        assert np.nanmax(np.abs(res.gain)) < 1e-13, m
        assert np.nanmax(np.abs(res.gain_mu0)) < 1e-13
        assert np.max(np.abs(res.b[-1] - 1.0 / np.prod(m.scale(m.t_end)[0, 1:]))) < 1e-12
        for d in res.details[-1].distributions:
            np.testing.assert_allclose(d.final, d.final_cgl, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("b, quoted", [(3.0, 5.9), (6.0, 16.5)])
def test_strong_scattering_approaches_continuous_isotropisation(b, quoted):
    """Scattering everywhere with D_mumu tau_c >> 1: Delta E/E -> b^(1/3) J(b) - 1
    (UR), the momentum itself -> p0 b^(1/3); far from the one-shot value."""
    expect = pm.continuous_isotropisation_gain(b)
    assert round(100 * expect, 1) == quoted
    m = fp.FPModel(REF, t_for(b), 1000, step=0.4, resonance="everywhere", seed=2)
    assert m.d_mumu * m.t_end == pytest.approx(80.0)
    p0, mu0 = fp.isotropic_sample(300000, "mono", p=1e4, stratified=True, seed=2)
    out = {}

    def cb(k, t, a, pa, pe):
        out["p"] = np.hypot(pa, pe)
        out["mu"] = pa / out["p"]

    fp.simulate(m, p0, mu0, [m.t_end], cb)
    p_rev = np.hypot(*pm.revert_momentum(out["p"] * out["mu"],
                                         out["p"] * np.sqrt(1 - out["mu"] ** 2),
                                         m.scale(m.t_end)[0]))
    gain = np.mean(np.sqrt(1 + p_rev**2)) / math.sqrt(1 + 1e8) - 1
    sigma = np.std(p_rev / 1e4) / math.sqrt(p0.size)
    assert abs(gain - expect) < 4 * sigma + 5e-4, (gain, expect, sigma)
    assert abs(gain - pm.isotropisation_gain_ur(b)) > 0.04
    assert np.mean(out["p"]) / 1e4 == pytest.approx(b ** (1 / 3), rel=2e-3)
    # the pitch angles stay isotropic (uniform mu is invariant under the reflecting walk)
    h, _ = np.histogram(out["mu"], bins=10, range=(-1, 1))
    assert np.all(np.abs(h / p0.size - 0.1) < 5 * math.sqrt(0.09 / p0.size))
    # the same through run_model / PumpingAnalysis
    res = fp.run_model(m, p0, mu0, times=1, n_p0=1, n_kernel=5)
    assert res.gain_all[-1] == pytest.approx(gain, abs=1e-12)


def test_effective_d_mumu():
    """In a static box the random walk gives <(Delta mu)^2> = n delta^2 away from the
    ends, i.e. D_mumu = delta^2/(2 dt)."""
    m = fp.FPModel(ScaleFactors(), 1.0, 100, step=0.01, resonance="everywhere", seed=3)
    n = 200000
    p0 = np.full(n, 2.0)
    mu0 = np.random.default_rng(3).uniform(-0.5, 0.5, n)
    out = {}
    fp.simulate(m, p0, mu0, [m.t_end],
                lambda k, t, a, pa, pe: out.setdefault("mu", pa / np.hypot(pa, pe)))
    dmu = out["mu"] - mu0
    d_meas = np.mean(dmu**2) / (2 * m.t_end)
    assert d_meas == pytest.approx(m.d_mumu, rel=0.015)
    assert m.d_mumu == pytest.approx(0.01**2 / (2 * 0.01))
    assert abs(np.mean(dmu)) < 5 * 0.1 / math.sqrt(n)


def test_resonance_band_confines_the_gain():
    """k_min < kappa b/(p|mu|) < k_max: p|mu| in [kappa b/k_max, kappa b/k_min]. Particles
    with p0 < kappa/k_max never resonate (p <= p0 sqrt(b) < kappa b/k_max): zero gain to
    round-off; |gain| is large inside the band and small far above it. A Python
    resonance function of p gives zero gain outside its p range and the numba and numpy
    paths agree to round-off."""
    m = fp.FPModel(REF, t_for(4), 600, step=0.05, resonance="k_band", k_min=0.25, k_max=1.0,
                   kappa=1.0, seed=4)
    p0, mu0 = fp.isotropic_sample(40000, "flat_log_p", p_min=0.1, p_max=1000.0, seed=4)
    res = fp.run_model(m, p0, mu0, times=3, n_p0=40, detail_times=[])
    g = res.gain[-1]
    pc = res.p0_centres
    below = res.p0_edges[1:] < 1.0
    assert np.max(np.abs(g[below])) < 1e-13
    band = (pc > 2.0) & (pc < 20.0)
    assert np.min(np.abs(g[band])) > 0.01
    # (two-sided bands can lose energy: particles leave the band towards mu = 0 and the
    # revert then removes their perpendicular gain; see docs/postprocess.md)
    assert np.max(np.abs(g[pc > 300])) < 0.05 * np.max(np.abs(g))
    # the same band as a Python function (numpy path): identical numbers
    bfun = m.b

    def band_fn(p, mu, t):
        x = p * np.abs(mu)
        b = bfun(t)[0]
        return (x >= b / 1.0) & (x <= b / 0.25)

    sub = slice(0, 4000)
    r1 = fp.run_model(m, p0[sub], mu0[sub], times=2, n_p0=10, detail_times=[])
    from dataclasses import replace

    r2 = fp.run_model(replace(m, resonance=band_fn), p0[sub], mu0[sub], times=2, n_p0=10,
                      detail_times=[])
    np.testing.assert_allclose(r1.gain, r2.gain, rtol=1e-10, atol=1e-14)
    # a p band [2, 5]: p never enters it if p0 > 5 or p0 sqrt(b) < 2
    pb = replace(m, resonance=lambda p, mu, t: (p > 2.0) & (p < 5.0))
    r3 = fp.run_model(pb, p0[:8000], mu0[:8000], times=1, n_p0=30, detail_times=[])
    g3, e3 = r3.gain[-1], r3.p0_edges
    outside = (e3[:-1] > 5.0) | (e3[1:] < 2.0 / 2.0)
    assert np.nanmax(np.abs(g3[outside])) < 1e-13
    inside = (e3[:-1] > 1.0) & (e3[1:] < 3.0)
    assert np.nanmin(np.abs(g3[inside])) > 0.01


def test_reproducible_across_threads_and_output_times():
    """Counter-based random signs: the same result for 1 or 2 threads, any chunk size and
    any set of output times."""
    m = fp.FPModel(REF, t_for(3), 500, step=0.05, resonance="k_band", k_min=0.5, kappa=1.0,
                   seed=9)
    p0, mu0 = fp.isotropic_sample(5000, "flat_p", p_min=0.1, p_max=10.0, seed=9)
    finals = []
    for threads, times, chunk in ((1, [m.t_end], 512), (2, np.linspace(0, m.t_end, 7), 64)):
        from dataclasses import replace

        out = {}
        fp.simulate(replace(m, threads=threads), p0, mu0, times,
                    lambda k, t, a, pa, pe, out=out: out.update(pa=pa.copy(), pe=pe.copy()),
                    chunk=chunk)
        finals.append(out)
    np.testing.assert_array_equal(finals[0]["pa"], finals[1]["pa"])
    np.testing.assert_array_equal(finals[0]["pe"], finals[1]["pe"])


def test_config_from_deck_and_standalone(tmp_path):
    """A configuration referring to decks/fiducial.toml takes the deck's compression
    (B/B0 = (1 + t/tau_c)^2, tau_c = 800/Omega_i0), duration and kappa = B0 rho_i0; a
    stand-alone one reads the deck-style [compression] keys; errors are listed."""
    cfg = fp.load_config(ROOT / "decks" / "fokker_planck" / "fiducial_k_const.toml")
    deck = load_deck(ROOT / "decks" / "fiducial.toml")
    m = cfg.model
    assert m.time_unit == "Omega_i0"
    assert m.kappa == pytest.approx(deck.plasma.B0 * deck.scales.rho_i0, rel=1e-12)
    assert m.t_end == pytest.approx(1152.0)
    assert m.t_end == pytest.approx(deck.run.duration * deck.scales.omega_ci0, rel=1e-3)
    t = np.array([0.0, 400.0, 1152.0])
    np.testing.assert_allclose(m.b(t), (1 + t / 800.0) ** 2, rtol=1e-12)
    assert cfg.sample["kind"] == "flat_log_p" and cfg.sample["count"] == 1_000_000
    drift = fp.load_config(ROOT / "decks" / "fokker_planck" / "fiducial_k_drift.toml")
    np.testing.assert_allclose(drift.model.k_min(np.array([0.0, 400.0, 2000.0])),
                               [1.0, 0.75, 0.25])
    iso = fp.load_config(ROOT / "decks" / "fokker_planck" / "isotropisation_b3.toml")
    assert iso.model.b(iso.model.t_end)[0] == pytest.approx(3.0, rel=1e-12)
    band = fp.load_config(ROOT / "decks" / "fokker_planck" / "band_standalone.toml")
    assert band.model.b(band.model.t_end)[0] == pytest.approx(6.0, rel=1e-12)
    assert band.model.kappa == 1.0 and band.model.k_max == 1.0
    # a pic1d deck is accepted directly
    direct = fp.load_config(ROOT / "decks" / "fiducial.toml")
    np.testing.assert_allclose(direct.model.b(t), m.b(t), rtol=1e-12)
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nt_end = 1.0\nbogus = 2\n[compression]\nprofile = "power"\n'
                   '[scattering]\nresonance = "k_band"\n[extra]\n')
    with pytest.raises(fp.ConfigError) as err:
        fp.load_config(bad)
    msg = str(err.value)
    for part in ("bogus", "[extra]", "tau_c", "kappa"):
        assert part in msg, msg


def test_cli_writes_figures(tmp_path):
    """Two small configurations side by side through the command line."""
    paths = []
    for name, step in (("a", 0.05), ("b", 0.2)):
        p = tmp_path / f"{name}.toml"
        p.write_text(f"""
[model]
time_unit = "tau_c"
t_end = 1.0
n_steps = 200
t_start = 0.1
[compression]
profile = "power"
tau_c = 1.0
axes = ["y", "z"]
[sample]
kind = "flat_log_p"
p_min = 0.1
p_max = 100.0
count = 3000
[scattering]
resonance = "k_band"
step = {step}
k_min = 0.5
kappa = 1.0
[output]
times = 5
kernel_bins = 30
select = [1.0]
snapshot_p = [0.5, 5.0]
snapshot_count = 200
snapshot_times = [0.0, 1.0]
""")
        paths.append(str(p))
    out = tmp_path / "fig"
    assert fp.main([*paths, "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for n in ("a", "b"):
        for kind in ("gain", "gain_mu0", "distributions", "green", "snapshots"):
            assert f"fp_{n}_{kind}.png" in names
    assert "fp_gain_panels.png" in names
    r = fp.benchmark(2000, 128, threads=1)
    assert r["wall"] > 0 and r["ns_per_particle_step"] > 0
