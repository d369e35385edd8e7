"""Compress-revert (magnetic pumping) gain, Green's function, re-weighting (issue 11;
PHYSICS.md 4.4, 4.5; VALIDATION.md item 21).

Each test compares with an independent expectation: exact adiabatic maps, analytic
isotropisation gains (closed forms checked against scipy quadrature), directly binned
histograms, a directly drawn power-law sample, or the in-situ sums of a PIC run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from postprocess import fokker_planck as fp
from postprocess import pumping as pm
from postprocess import reweight as rw

QUOTED_UR = {2: 4.3, 3: 11.1, 4: 17.9, 6: 31.0}


def _iso_data(b, p0, n=400):
    """Synthetic tracers on a tensor grid (mu0 x mu'): compression to B/B0 = b with a_x = 1,
    isotropisation at fixed |p| (new pitch mu'), state at the end; midpoint rule."""
    g = -1.0 + (2.0 * np.arange(n) + 1.0) / n
    mu0, mu1 = (x.ravel() for x in np.meshgrid(g, g, indexing="ij"))
    p0 = np.full(mu0.size, float(p0))
    big_p = p0 * np.sqrt(mu0**2 + b * (1.0 - mu0**2))
    a = (1.0, 1.0 / math.sqrt(b), 1.0 / math.sqrt(b))
    return p0, mu0, big_p * mu1, big_p * np.sqrt(1.0 - mu1**2), a


# ------------------------------------------------------------------------ analytic
def test_analytic_gains_against_quadrature():
    """Closed forms = scipy quadrature of the defining integrals; quoted numbers."""
    for b, pct in QUOTED_UR.items():
        i = quad(lambda m, b=b: math.sqrt(m * m + b * (1 - m * m)), 0, 1)[0]
        j = quad(lambda m, b=b: math.sqrt(m * m + (1 - m * m) / b), 0, 1)[0]
        g = pm.isotropisation_gain_ur(b)
        assert g == pytest.approx(i * j - 1.0, rel=1e-12)
        assert round(100 * g, 1) == pct
        assert pm.isotropisation_gain(b, p0=1e6) == pytest.approx(g, rel=1e-9)
        # non-relativistic limit: kinetic 2 (b-1)^2/(9b); total p0^2 (b-1)^2/(9b)
        nr = 2 * (b - 1) ** 2 / (9 * b)
        assert pm.isotropisation_gain_nr(b) == pytest.approx(nr, rel=1e-14)
        assert pm.isotropisation_gain(b, 1e-4, energy="kinetic") == pytest.approx(nr, rel=1e-7)
        assert pm.isotropisation_gain(b, 1e-4) == pytest.approx(1e-8 * nr / 2, rel=1e-6)
    for b, pct in ((3, 5.9), (6, 16.5)):
        j = quad(lambda m, b=b: math.sqrt(m * m + (1 - m * m) / b), 0, 1)[0]
        g = pm.continuous_isotropisation_gain(b)
        assert g == pytest.approx(b ** (1 / 3) * j - 1.0, rel=1e-12)
        assert round(100 * g, 1) == pct
    # NR continuous isotropisation: p^2 ~ b^(2/3), revert <mu^2 + (1-mu^2)/b> = (1 + 2/b)/3
    assert pm.continuous_isotropisation_gain(3, 1e-4, energy="kinetic") == pytest.approx(
        3 ** (2 / 3) * (1 + 2 / 3) / 3 - 1, rel=1e-7)


# --------------------------------------------------------------------- no scattering
def test_no_scattering_zero_gain_general_compression():
    """Scattering-free tracers under a general L (a_x != 1, a_y != a_z, random gyrophase)
    revert exactly: zero gain, zero non-adiabatic energy, Final = Final, CGL."""
    rng = np.random.default_rng(1)
    n = 20000
    p0 = np.exp(rng.uniform(np.log(0.01), np.log(100), n))
    mu0 = rng.uniform(-1, 1, n)
    t = np.linspace(0, 1, 6)
    a = np.stack([(1 + t) ** -0.3, (1 + t) ** -1.0, (1 + 2 * t) ** -0.6], axis=1)
    u = np.empty((t.size, n, 3))
    for k in range(t.size):
        pa, pe = pm.adiabatic_momentum(p0, mu0, a[k])
        phi = rng.uniform(0, 2 * np.pi, n)
        u[k] = np.stack([pa, pe * np.cos(phi), pe * np.sin(phi)], axis=1)
    res = pm.analyse_tracers(p0, mu0, t, a, u=u, nonadiabatic=True, n_p0=20,
                             select=[(0.1, 0.12), (10, 12)])
    assert np.nanmax(np.abs(res.gain)) < 1e-14
    assert np.nanmax(np.abs(res.gain_mu0)) < 1e-14
    assert np.max(np.abs(res.gain_all)) < 1e-14
    assert np.nanmax(np.abs(res.nonadiabatic)) < 1e-13
    assert np.nanmax(np.abs(res.adiabatic + res.nonadiabatic - res.energy_gain)) < 1e-13
    # the compression itself does give energy (not reverted)
    assert np.all(res.energy_gain[-1] > 0) and np.max(res.energy_gain[-1]) > 0.5
    for d in res.details[-1].distributions:
        np.testing.assert_allclose(d.final, d.final_cgl, rtol=1e-12, atol=1e-12)
        assert d.mean_gain == pytest.approx(0.0, abs=1e-14)
        # every reverted momentum lies in the p0 range of the bin
        inside = (d.p_edges[1:] > d.p0_range[0] * 0.999) & (d.p_edges[:-1] < d.p0_range[1])
        assert np.sum(d.revert * np.diff(d.p_edges) * ~inside) == 0.0
    ker = res.details[-1].kernel
    assert np.all(ker.lost == 0.0)
    assert np.allclose(ker.matrix.sum(axis=0)[ker.weight > 0], 1.0)


# ---------------------------------------------------------------- isotropisation
@pytest.mark.parametrize("b", [2, 3, 4, 6])
def test_full_isotropisation_gain(b):
    """Compress to b, isotropise at fixed |p|, revert: 4.3 / 11.1 / 17.9 / 31.0 % (UR),
    the mu0 split (analytic per bin), the NR limits and an intermediate p0 = 1."""
    p0, mu0, pa, pe, a = _iso_data(b, 1e4)
    res = pm.analyse_tracers(p0, mu0, [1.0], [a], p_par=pa[None], p_perp=pe[None],
                             n_mu0=8, detail_times=[])
    g = res.gain_all[-1]
    assert g == pytest.approx(pm.isotropisation_gain_ur(b), abs=2e-6)
    assert round(100 * g, 1) == QUOTED_UR[b]
    # per mu0 bin: <E_rev>/E0 = sqrt(mu0^2 + b (1 - mu0^2)) J(b) (averaged over the bin)
    j = quad(lambda m: math.sqrt(m * m + (1 - m * m) / b), 0, 1)[0]
    edges = res.mu0_edges
    expect = [quad(lambda m: math.sqrt(m * m + b * (1 - m * m)), lo, hi)[0] / (hi - lo) * j - 1
              for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    got = res.gain_mu0[-1][np.isfinite(res.gain_mu0[-1])]
    np.testing.assert_allclose(got, expect, atol=3e-5)
    assert np.all(np.diff(got[: got.size // 2]) > 0)  # mu0 ~ 0 gains most
    # non-relativistic limit (p0 = 1e-4): kinetic 2 (b-1)^2/(9b), total p0^2 (b-1)^2/(9b)
    p0, mu0, pa, pe, a = _iso_data(b, 1e-4)
    kin = pm.analyse_tracers(p0, mu0, [1.0], [a], p_par=pa[None], p_perp=pe[None],
                             energy="kinetic", detail_times=[])
    tot = pm.analyse_tracers(p0, mu0, [1.0], [a], p_par=pa[None], p_perp=pe[None],
                             detail_times=[])
    nr = 2 * (b - 1) ** 2 / (9 * b)
    assert kin.gain_all[-1] == pytest.approx(nr, rel=1e-4)
    assert tot.gain_all[-1] == pytest.approx(1e-8 * nr / 2, rel=1e-4)
    # trans-relativistic p0 = 1 against the 2D quadrature
    p0, mu0, pa, pe, a = _iso_data(b, 1.0)
    mid = pm.analyse_tracers(p0, mu0, [1.0], [a], p_par=pa[None], p_perp=pe[None],
                             detail_times=[])
    assert mid.gain_all[-1] == pytest.approx(pm.isotropisation_gain(b, 1.0), rel=1e-4)


def test_nonadiabatic_split_recovers_a_known_kick():
    """Adiabatic compression plus a momentum kick |p| -> 1.1 |p| between two snapshots:
    the non-adiabatic energy is exactly the kick's energy, the rest is adiabatic."""
    rng = np.random.default_rng(2)
    n = 5000
    p0 = np.exp(rng.uniform(0, np.log(50), n))
    mu0 = rng.uniform(-1, 1, n)
    t = np.array([0.0, 0.5, 1.0, 1.5])
    a = np.stack([np.ones(4), (1 + t) ** -1, (1 + t) ** -1], axis=1)
    pa, pe = [], []
    kick_energy = None
    for k in range(4):
        x, y = pm.adiabatic_momentum(p0, mu0, a[k])
        if k >= 2:  # kicked between snapshots 1 and 2, then adiabatic again
            if k == 2:
                e_before = pm.energy(np.hypot(x, y))
                kick_energy = pm.energy(1.1 * np.hypot(x, y)) - e_before
            x, y = 1.1 * x, 1.1 * y
        pa.append(x)
        pe.append(y)
    res = pm.analyse_tracers(p0, mu0, t, a, p_par=np.array(pa), p_perp=np.array(pe),
                             nonadiabatic=True, n_p0=10, detail_times=[])
    e0 = pm.energy(p0)
    idx = np.searchsorted(res.p0_edges, p0, side="right") - 1
    idx[p0 == res.p0_edges[-1]] = res.p0_edges.size - 2
    expect = np.bincount(idx, kick_energy, 10) / np.bincount(idx, e0, 10)
    np.testing.assert_allclose(res.nonadiabatic[1], 0.0, atol=1e-14)
    np.testing.assert_allclose(res.nonadiabatic[2], expect, rtol=1e-12)
    np.testing.assert_allclose(res.nonadiabatic[3], expect, rtol=1e-12)
    np.testing.assert_allclose(res.adiabatic + res.nonadiabatic, res.energy_gain, atol=1e-13)


# ----------------------------------------------------------------- Green's function
def _fp_model(k_band=True):
    from pic1d.comoving import AxisProfile, ScaleFactors

    sf = ScaleFactors((AxisProfile(), AxisProfile("power", 1.0, 1.0),
                       AxisProfile("power", 1.0, 1.0)))
    return fp.FPModel(sf, math.sqrt(4.0) - 1.0, 300, step=0.05,
                      resonance="k_band" if k_band else "everywhere", k_min=0.2, kappa=1.0,
                      seed=5)


def _revert_final(model, p0, mu0):
    """Reverted momenta at t_end of the F-P model (direct, per particle)."""
    out = {}

    def cb(k, t, a, pa, pe):
        ra, re = pm.revert_momentum(pa, pe, a)
        out["p"] = np.hypot(ra, re)

    fp.simulate(model, p0, mu0, [model.t_end], cb)
    return out["p"]


def test_green_delta_response_equals_direct_histogram():
    model = _fp_model()
    p0, mu0 = fp.isotropic_sample(60000, "flat_log_p", p_min=0.5, p_max=50.0, seed=1)
    p_rev = _revert_final(model, p0, mu0)
    res = fp.run_model(model, p0, mu0, times=2, n_kernel=40)
    ker = res.details[-1].kernel
    assert ker.offset >= 0 and np.all(ker.lost == 0)
    for i in (3, 20, 35):
        delta = np.zeros(ker.p0_edges.size - 1)
        delta[i] = 1.0
        response = ker.apply_counts(delta) / np.diff(ker.p_edges)
        sel = (p0 >= ker.p0_edges[i]) & (p0 < ker.p0_edges[i + 1])
        h, _ = np.histogram(p_rev[sel], bins=ker.p_edges)
        np.testing.assert_allclose(response, h / (sel.sum() * np.diff(ker.p_edges)),
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ker.kernel_at(math.sqrt(ker.p0_edges[i]
                                                           * ker.p0_edges[i + 1])), response)


def test_reweighted_flat_sample_matches_direct_power_law():
    """f0 ~ p^-2 on [0.5, 50]: (A) kernel of a flat-p sample applied to f0, (B) the flat-p
    sample re-weighted with postprocess.reweight, (C) a sample drawn from f0; all through
    the same F-P compression with scattering in a k band. A, B = C within sampling error."""
    model = _fp_model()
    lo, hi, index, n = 0.5, 50.0, 2.0, 200000
    pf, mf = fp.isotropic_sample(n, "flat_p", p_min=lo, p_max=hi, seed=11)
    pd, md = fp.isotropic_sample(n, "power_law", p_min=lo, p_max=hi, index=index, seed=12)
    # the direct sample really is ~ p^-2
    hd, e = np.histogram(pd, bins=np.geomspace(lo, hi, 11))
    exp = n * (e[:-1] ** -1 - e[1:] ** -1) / (lo**-1 - hi**-1)
    assert np.all(np.abs(hd - exp) < 5 * np.sqrt(exp))
    rev_f = _revert_final(model, pf, mf)
    rev_d = _revert_final(model, pd, md)
    f0 = pm.cutoff_power_law(index, lo, hi)
    w = rw.weights(pf, f0, lo, hi, "flat_p", normalize="sum")
    edges = np.geomspace(0.3, 120.0, 25)
    hC, _ = np.histogram(rev_d, bins=edges)
    hB, _ = np.histogram(rev_f, bins=edges, weights=w)
    hB2, _ = np.histogram(rev_f, bins=edges, weights=w * w)
    nC = hC / n
    sC = np.sqrt(hC) / n
    sB = np.sqrt(hB2)
    ok = hC > 50
    zB = (hB - nC)[ok] / np.hypot(sB, sC)[ok]
    assert np.max(np.abs(zB)) < 4.5 and np.mean(zB**2) < 2.0, zB
    # (A): kernel from the unweighted flat sample, applied to f0 (300 fine p0 bins)
    res = fp.run_model(model, pf, mf, times=1, n_kernel=300)
    ker = res.details[-1].kernel
    f1 = ker.apply(f0)
    cum = np.concatenate([[0.0], np.cumsum(f1 * np.diff(ker.p_edges))])
    cum /= cum[-1]
    hA = np.diff(np.interp(np.log(edges), np.log(ker.p_edges), cum))
    zA = (hA - nC)[ok] / np.hypot(sB, sC)[ok]
    assert np.max(np.abs(zA)) < 5.0 and np.mean(zA**2) < 2.5, zA
    # the scattering changes the spectrum far beyond the errors (the test has teeth)
    h0, _ = np.histogram(pd, bins=edges)
    z0 = (h0 / n - nC)[ok] / np.hypot(sB, sC)[ok]
    assert np.max(np.abs(z0)) > 10


def test_n_cycles_monotonic_and_geometric():
    """Kernel of one UR full isotropisation at b = 3: each cycle (re-isotropised) multiplies
    the mean energy by 1 + 11.07 %, so N-cycle energies rise monotonically."""
    rng = np.random.default_rng(4)
    n, b = 300000, 3.0
    p0 = np.exp(rng.uniform(np.log(1e2), np.log(1e6), n))
    mu0 = rng.uniform(-1, 1, n)
    mu1 = rng.uniform(-1, 1, n)
    big_p = p0 * np.sqrt(mu0**2 + b * (1 - mu0**2))
    a = (1.0, 1 / math.sqrt(b), 1 / math.sqrt(b))
    res = pm.analyse_tracers(p0, mu0, [1.0], [a], p_par=(big_p * mu1)[None],
                             p_perp=(big_p * np.sqrt(1 - mu1**2))[None], n_kernel=300)
    ker = res.details[-1].kernel
    f0 = pm.cutoff_power_law(2.5, 1e3, 1e4)
    spectra, lost = ker.cycles(f0, 4)
    assert np.all(lost == 0.0)
    means = [pm.mean_energy(ker.p_centres, f, ker.p_edges) for f in spectra]
    assert np.all(np.diff(means) > 0)
    g = pm.isotropisation_gain_ur(b)
    np.testing.assert_allclose(np.array(means[1:]) / means[0], (1 + g) ** np.arange(1, 5),
                               rtol=3e-3)
    # one cycle = apply()
    np.testing.assert_allclose(spectra[1], ker.apply(f0), rtol=1e-12)
    # particle number is conserved (no losses)
    nums = [np.sum(f * np.diff(ker.p_edges)) for f in spectra]
    np.testing.assert_allclose(nums, nums[0], rtol=1e-12)


def test_extend_edges_and_kernel_histogram_roundtrip():
    e = pm.log_edges(1.0, 10.0, 10)
    x = pm.extend_edges(e, 0.3, 40.0)
    assert x[0] <= 0.3 and x[-1] >= 40.0
    dl = np.diff(np.log(x))
    np.testing.assert_allclose(dl, dl[0], rtol=1e-10)
    hist = np.arange(x.size - 1, dtype=float)[:, None] * np.ones((1, 10))
    k = pm.GreenKernel.from_histogram(e, x, hist, escaped=np.full(10, 5.0))
    assert np.allclose(k.matrix.sum(axis=0) + k.lost, 1.0)
    assert x[k.offset] == pytest.approx(1.0)


# ------------------------------------------------------------------ run directory
DECK = """
[run]
duration = "{steps} steps"
frozen_fields = true
seed = 7
[grid]
cells = 16
cells_per_de = 4
[plasma]
mass_ratio = 8
beta = 2.0
theta = 0.05
ppc = 1
[compression]
profile = "power"
tau_c = "{tau!r} steps"
axes = ["y", "z"]
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
p_min = 1000.0
p_max = 10000.0
sampling = "flat_log_p"
[output]
history = 0
fields = 0
[output.spectra]
interval = 0
[output.insitu]
interval = "20 steps"
p_bins = 4
mu_bins = 4
p0_bins = 10
[output.tracers]
interval = "20 steps"
precision = "float64"
"""


def test_run_directory_dumps_insitu_and_cli(tmp_path):
    """A small pic1d run (frozen fields, a_y = a_z compression) whose tracers are
    isotropised at B/B0 = 3: the raw-dump and in-situ analyses agree to round-off and
    give the analytic 11.07 % within the sampling error; the CLI writes its figures."""
    from pic1d.deck import parse_deck
    from pic1d.diagnostics.tracers import Isotropise
    from pic1d.simulation import Runner, Simulation

    b, n_iso, steps, count = 3.0, 40, 60, 20000
    # B/B0 = b exactly at the momentum time level of step n_iso (tau in steps)
    tau = float((n_iso - 0.5 + 0.5 * np.sqrt(b)) / (np.sqrt(b) - 1))
    cfg = parse_deck(DECK.format(steps=steps, tau=tau, count=count))
    sim = Simulation(cfg)
    sim.initialize()
    sim.tracer_hooks = [Isotropise(n_iso, seed=3)]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    Runner(sim, run_dir).run(cfg.run.steps)

    s = pm.analyse_run(run_dir, source="insitu")
    d = pm.analyse_run(run_dir, source="dumps", p0_edges=s.p0_edges,
                       kernel_edges=s.p0_edges, mu0_edges=s.mu0_edges)
    assert d.time_unit == s.time_unit
    np.testing.assert_allclose(d.time, s.time, rtol=1e-12)
    np.testing.assert_allclose(d.b, s.b, rtol=1e-12)
    np.testing.assert_allclose(d.b[2], b, rtol=1e-10)
    np.testing.assert_allclose(d.gain_all, s.gain_all, atol=1e-12)
    np.testing.assert_allclose(d.gain, s.gain, atol=1e-12)
    np.testing.assert_allclose(d.gain_mu0, s.gain_mu0, atol=1e-12)
    np.testing.assert_allclose(d.nonadiabatic, s.nonadiabatic, atol=1e-13)
    np.testing.assert_allclose(s.nonadiabatic, 0.0, atol=1e-13)  # fixed-|p| kicks: no work
    np.testing.assert_allclose(s.gain[2], s.gain[3], rtol=1e-12)  # nothing after the hook
    assert abs(s.gain_all[1]) < 1e-14
    sigma = 0.2 * 1.11 / math.sqrt(count)  # the per-tracer spread of E_rev/E0 is < 0.2
    assert abs(s.gain_all[-1] - pm.isotropisation_gain_ur(b)) < 4 * sigma
    # Green's kernels: the same transition matrix from both sources (aligned on p0 grid)
    kd, ks = d.details[-1].kernel, s.details[-1].kernel
    lo = max(-kd.offset, -ks.offset)
    hi = min(kd.matrix.shape[0] - kd.offset, ks.matrix.shape[0] - ks.offset)
    md = kd.matrix[kd.offset + lo:kd.offset + hi]
    ms = ks.matrix[ks.offset + lo:ks.offset + hi]
    np.testing.assert_allclose(md, ms, atol=1e-12)
    assert md.sum() == pytest.approx(kd.matrix.sum(), rel=1e-12)
    # the CLI on the run directory
    assert pm.main([str(run_dir), "--out", str(tmp_path / "fig"), "--kernel-bins", "10",
                    "--select", "2000", "5000"]) == 0
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == ["pumping_distributions.png", "pumping_gain.png",
                     "pumping_gain_mu0.png", "pumping_green.png"]
