"""Co-moving compressing/expanding box: VALIDATION items 9-13 (issue 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pic1d.comoving import AxisProfile, ScaleFactors
from pic1d.deck import parse_deck
from pic1d.grid import Grid
from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import deposit_charge
from pic1d.parallel import SerialDomain
from pic1d.simulation import Simulation, compression_factors
from tests.conftest import (
    THERMAL_SPECIES,
    momenta_by_id,
    run_keeping_history,
    tracer_species,
)

PLASMA = """
[run]
duration = "{duration}"
seed = 5
frozen_fields = {frozen}
[grid]
cells = {cells}
cells_per_de = {cpd}
cfl = 0.45
filter_passes = {passes}
[plasma]
mass_ratio = {mr}
beta = {beta}
theta = {theta}
ppc = {ppc}
[compression]
profile = "power"
tau_c = "{tau} /Omega_i0"
{compression_extra}
[output]
history = "{history} steps"
fields = 0
[output.spectra]
interval = 0
"""


def deck(duration="0.2 tau_c", frozen="false", cells=32, cpd=4, passes=4, mr=4, beta=0.1,
         theta=0.01, ppc=16, tau=50, compression_extra="", history=20, species=""):
    return parse_deck(PLASMA.format(**locals()) + species)


def run(cfg, steps=None):
    sim = Simulation(cfg)
    sim.initialize()
    _, hist = run_keeping_history(sim, cfg.run.steps if steps is None else steps)
    return sim, hist


# --------------------------------------------------------------------- scale factors


def test_scale_factor_profiles_and_rates():
    sf = ScaleFactors((AxisProfile(), AxisProfile("power", 10.0, 1.0),
                       AxisProfile("exponential", -20.0)), t_halt=15.0)  # fmt: skip
    t = 4.0
    assert sf.a(t) == pytest.approx((1.0, 1 / 1.4, math.exp(0.2)), rel=1e-15)
    # rates are d ln a/dt, checked by finite differences
    h = 1e-5
    pairs = zip(sf.a(t - h), sf.a(t + h), strict=True)
    num = [(math.log(b) - math.log(a)) / (2 * h) for a, b in pairs]
    assert sf.rates(t) == pytest.approx(num, rel=1e-8)
    assert sf.det(t) == pytest.approx(math.exp(0.2) / 1.4, rel=1e-15)
    # frozen after t_halt
    assert sf.a(30.0) == sf.a(15.0) and sf.rates(30.0) == (0.0, 0.0, 0.0)


def test_isotropic_forcing_rate_matches_energy_input_at_t0():
    sf = ScaleFactors((AxisProfile(), AxisProfile("power", 10.0), AxisProfile("power", 10.0)))
    pre_iso, post_iso = compression_factors(sf, 0.0, 0.1, True)
    pre, post = compression_factors(sf, 0.0, 0.1, False)
    # one common factor; its cube equals the product of the anisotropic ones (same D)
    assert pre_iso[0] == pre_iso[1] == pre_iso[2]
    assert pre_iso[0] ** 3 == pytest.approx(pre[0] * pre[1] * pre[2], rel=1e-14)
    assert post_iso[0] ** 3 == pytest.approx(post[0] * post[1] * post[2], rel=1e-14)


# ------------------------------------------------------------------ flux freezing (9)


def test_flux_freezing_bx_exact():
    extra = 'tau_x = "-80 /Omega_i0"\ntau_z = "30 /Omega_i0"'
    cfg = deck(duration="0.3 tau_c", compression_extra=extra, ppc=8, history=25)
    sim, h = run(cfg)
    b0 = cfg.plasma.B0
    expected = b0 / (h["a_y"] * h["a_z"])
    assert np.max(np.abs(h["B_x"] / expected - 1)) < 1e-13
    assert h["a_x"][-1] > 1.0 and h["a_z"][-1] < h["a_y"][-1] < 1.0  # the profiles acted


def test_vacuum_wave_keeps_comoving_amplitude():
    """A transverse vacuum wave in a box compressed along y, z: b' amplitude constant,
    physical B_y amplitude ~ 1/a (flux through the x-z plane is frozen)."""
    n, dx = 64, 0.25
    dt = 0.45 * dx
    dom = SerialDomain(n)
    grid = Grid(n, dx, dt)
    tau = 200.0
    sf = ScaleFactors((AxisProfile(), AxisProfile("power", tau), AxisProfile("power", tau)))
    k = 2 * math.pi * 2 / (n * dx)
    j = np.arange(grid.n_arr) - N_GHOST
    # forward wave: b'_y on half nodes, d'_z on integer nodes; dB_y/dt = dE_z/dx gives
    # E_z = -B_y for a wave travelling towards +x
    grid.b[1] = np.sin(k * (j + 0.5) * dx)
    grid.d[2] = -np.sin(k * j * dx)
    amp0 = np.sqrt(2 * np.mean(grid.b[1][grid.interior] ** 2))
    steps = 4000
    for s in range(steps):
        t = s * dt
        grid.advance_b_half(sf, t)
        dom.fill_ghosts(grid.b[1], grid.b[2])
        grid.advance_d_full(sf, t + 0.5 * dt)
        dom.fill_ghosts(*grid.d)
        grid.advance_b_half(sf, t + dt)
        dom.fill_ghosts(grid.b[1], grid.b[2])
    t_end = steps * dt
    b_co = grid.b[1][grid.interior]
    amp = np.sqrt(2 * np.mean(b_co**2 + grid.b[2][grid.interior] ** 2))
    assert amp == pytest.approx(amp0, rel=1e-3)
    grid.collocate(sf, t_end)
    a = sf.a(t_end)[1]
    phys = grid.physical_node_fields()[:, 4]
    assert a < 0.95
    # node values average two half nodes: amplitude factor cos(k dx/2)
    expected = amp / a * math.cos(0.5 * k * dx)
    assert np.sqrt(2 * np.mean(phys**2)) == pytest.approx(expected, rel=1e-3)


# ------------------------------------------------------------- test particles (11)

TRACERS = THERMAL_SPECIES.replace("mass = 1\n", "mass = 1\nppc = 1\n").replace(
    'mass = "m_i"\n', 'mass = "m_i"\nppc = 1\n'
) + tracer_species(ppc=16, p_min=0.1, p_max=100.0, extra='sampling = "flat_log_p"\n')


def test_tracer_adiabatic_invariants_and_halt():
    """VALIDATION 11: uniform field under compression (frozen co-moving fields):
    p_perp^2/B and p_par conserved to 1e-10; after t_halt momenta stay fixed."""
    cfg = deck(duration="0.8 tau_c", frozen="true", tau=20,
               compression_extra='t_halt = "0.5 tau_c"', species=TRACERS, history=0)
    sim = Simulation(cfg)
    sim.initialize()
    cre = sim.species[2]
    u0 = momenta_by_id(cre)
    sf, dt = sim.sf, cfg.grid.dt
    halt_step = int(math.ceil(cfg.compression.t_halt / dt)) + 2
    for _ in range(halt_step):
        sim.advance()
    u_halt = momenta_by_id(cre)
    sim_steps = cfg.run.steps
    for _ in range(sim_steps - halt_step):
        sim.advance()
    u1 = momenta_by_id(cre)
    # momenta live at half steps: B at t - dt/2 = B0/(a_y a_z)
    t_half = sim.time - 0.5 * dt
    b_ratio = 1.0 / (sf.a(t_half)[1] * sf.a(t_half)[2]) * (sf.a(-0.5 * dt)[1] * sf.a(-0.5 * dt)[2])
    assert b_ratio > 2.0
    mu0 = (u0[1] ** 2 + u0[2] ** 2)
    mu1 = (u1[1] ** 2 + u1[2] ** 2) / b_ratio
    assert np.max(np.abs(mu1 / mu0 - 1)) < 1e-10
    assert np.max(np.abs(u1[0] / u0[0] - 1)) < 1e-10
    # after the halt the particles still gyrate, but |u_perp| and u_par are frozen
    perp_halt = np.hypot(u_halt[1], u_halt[2])
    np.testing.assert_allclose(np.hypot(u1[1], u1[2]), perp_halt, rtol=1e-12)
    np.testing.assert_array_equal(u1[0], u_halt[0])


# ------------------------------------------------------------------------ CGL (10)


@pytest.fixture(scope="module")
def cgl_runs():
    """A stable (low beta) plasma compressed to B ~ 1.7 B0; electrons forced isotropic
    in the second run."""
    base = dict(duration="0.3 tau_c", cells=32, cpd=10, passes=8, mr=4, beta=0.02,
                theta=0.002, ppc=128, tau=30, history=100)
    plain = run(deck(**base))[1]
    forced_species = THERMAL_SPECIES + "isotropic_forcing = true\n"
    forced = run(deck(**base, species=forced_species))[1]
    return plain, forced


def test_cgl_double_adiabatic(cgl_runs):
    h, _ = cgl_runs
    b = h["B_x"] / h["B_x"][0]
    assert b[-1] > 1.6
    for sp in ("ions", "electrons"):
        t_perp = h[f"T_perp_{sp}"] / h[f"T_perp_{sp}"][0]
        t_par = h[f"T_par_{sp}"] / h[f"T_par_{sp}"][0]
        # a_x = 1: CGL gives T_perp ~ B, T_par ~ n^2/B^2 = const
        assert np.max(np.abs(t_perp / b - 1)) < 0.01, sp
        assert np.max(np.abs(t_par - 1)) < 0.01, sp


def test_isotropic_forcing_keeps_species_isotropic(cgl_runs):
    plain, forced = cgl_runs
    an_e = forced["anisotropy_electrons"]
    an_i = forced["anisotropy_ions"]
    # forced electrons: isotropic within sampling noise (4096 particles: ~2 %)
    assert np.max(np.abs(an_e - an_e[0])) < 0.02
    # ions still follow CGL: T_perp/T_par - 1 = B/B0 - 1 (relative to the start)
    b = forced["B_x"] / forced["B_x"][0]
    assert (1 + an_i[-1]) / (1 + an_i[0]) == pytest.approx(b[-1], rel=0.01)
    # energy input of the isotropic forcing equals the anisotropic one's trace/3 rate:
    # T_e (isotropic) grows as D^(-2/3) (non-relativistic adiabatic, gamma = 5/3)
    d = 1.0 / b  # a_x = 1: D = a_y a_z = B0/B
    t_e = forced["T_par_electrons"] / forced["T_par_electrons"][0]
    assert t_e[-1] == pytest.approx(d[-1] ** (-2 / 3), rel=0.01)


# ----------------------------------------------------- expansion, x compression (13)


@pytest.mark.parametrize("extra", ['tau_x = "40 /Omega_i0"', 'tau_x = "-40 /Omega_i0"'])
def test_gauss_law_with_expansion_and_x_compression(extra):
    cfg = deck(duration="0.3 tau_c", tau=-40, compression_extra=extra, ppc=8, history=0)
    sim = Simulation(cfg)
    sim.initialize()
    for _ in range(cfg.run.steps):
        sim.advance()
    rho = np.zeros(sim.grid.n_arr)
    for sp in sim.species:
        deposit_charge(sp.x[: sp.n], sp.qw, sim.domain.x_offset, rho, 1)
    sim.domain.fold_ghosts(rho)
    sim.domain.filter(rho, sim.grid.tmp, cfg.grid.filter_passes)
    j = np.arange(N_GHOST, N_GHOST + sim.grid.n_local)
    div = (sim.grid.d[0][j] - sim.grid.d[0][j - 1]) / cfg.grid.dx
    assert np.max(np.abs(div)) > 1e-6
    assert np.max(np.abs(div - rho[j])) < 1e-10 * np.max(np.abs(div))


# ----------------------------------------------------------------- energy budget


def test_energy_budget_closure():
    """dE_total/dt = -sum_i r_i (Pi_ii + P^F_ii): the change of total energy equals the
    time-integrated compression work (trapezoid over the history cadence)."""
    cfg = deck(duration="0.4 tau_c", cells=32, cpd=10, passes=8, mr=4, beta=0.02,
               theta=0.002, ppc=64, tau=30, history=10)
    _, h = run(cfg)
    de = h["energy_total"] - h["energy_total"][0]
    work = np.concatenate([[0.0], np.cumsum(0.5 * (h["work_rate"][1:] + h["work_rate"][:-1])
                                           * np.diff(h["time"]))])
    assert de[-1] > 0.5 * h["energy_total"][0]  # compression did substantial work
    closure = abs(de[-1] - work[-1]) / de[-1]
    assert closure < 0.01, closure


# ------------------------------------------------------------ reset_waves (App. C)


def test_reset_waves_removes_waves_and_bulk_flow():
    """After a reset: delta B energy zero, each species' bulk velocity < 1e-3 of its
    thermal speed, charge per cell and particle count unchanged, Gauss's law exact."""
    from pic1d.diagnostics.moments import MomentCalculator
    from pic1d.procedures import reset_waves

    cfg = deck(duration="0.2 tau_c", cells=64, cpd=4, passes=4, mr=4, beta=2.0, theta=0.05,
               ppc=512, tau=20, history=0)
    sim = Simulation(cfg)
    sim.initialize()
    rng = np.random.default_rng(3)
    for sp in sim.species:  # give the species a strong, smooth bulk flow
        x = sp.x[: sp.n]
        flow = 0.05 * np.sin(2 * np.pi * x / cfg.grid.cells)
        sp.uy[: sp.n] += flow + 0.002 * rng.normal(size=sp.n)
    for _ in range(300):
        sim.advance()
    dom, grid = sim.domain, sim.grid
    s = grid.interior

    def charge_per_cell():
        out = np.zeros(grid.n_arr)
        for sp in sim.species:
            w = np.broadcast_to(sp.qw_arg(), (sp.n,))
            np.add.at(out, np.floor(sp.x[: sp.n] - dom.x_offset).astype(int), w)
        return out[s]

    counts = [sp.n for sp in sim.species]
    q_before = charge_per_cell()
    calc0 = MomentCalculator(dom, grid.n_arr, 1)
    flows_before = []
    for sp in sim.species:
        raw = calc0.deposit(sp)[s]
        u_y = raw[:, 2] / raw[:, 0]
        flows_before.append(np.abs(np.fft.rfft(u_y))[1] * 2 / cfg.grid.cells)
    db_before = np.sum(grid.b[1][s] ** 2 + grid.b[2][s] ** 2)
    assert db_before > 0
    reset_waves(sim)
    for comp in (1, 2):  # B_perp equals its (background) box mean: delta B = 0
        assert np.ptp(grid.b[comp][s]) == 0.0
    assert np.all(grid.d[1] == 0) and np.all(grid.d[2] == 0)
    assert [sp.n for sp in sim.species] == counts
    np.testing.assert_allclose(charge_per_cell(), q_before, rtol=1e-12, atol=1e-14)
    # bulk flow in the resolved modes (wavelengths >= 16 cells; shorter scales are
    # particle noise of ~v_th/sqrt(ppc) per cell, not a flow): < 1e-3 v_th
    calc = MomentCalculator(dom, grid.n_arr, 1)
    n_cells = cfg.grid.cells
    for sp, before in zip(sim.species, flows_before, strict=True):
        raw = calc.deposit(sp)[s]
        u_bulk = raw[:, 1:4] / raw[:, 0:1]
        modes = np.abs(np.fft.rfft(u_bulk, axis=0))[1 : n_cells // 16 + 1] * 2 / n_cells
        v_th = np.sqrt(sp.cfg.temperature / sp.mass)
        assert before > 0.05 * v_th  # there was a real flow to remove
        assert modes.max() < 1e-3 * v_th, (sp.name, modes.max() / v_th)
    # Gauss's law with the filtered charge density
    rho = np.zeros(grid.n_arr)
    for sp in sim.species:
        deposit_charge(sp.x[: sp.n], sp.qw_arg(), dom.x_offset, rho, 1)
    dom.fold_ghosts(rho)
    dom.filter(rho, grid.tmp, cfg.grid.filter_passes)
    j = np.arange(N_GHOST, N_GHOST + grid.n_local)
    div = (grid.d[0][j] - grid.d[0][j - 1]) / cfg.grid.dx
    np.testing.assert_allclose(div, rho[j], atol=1e-12 * np.abs(rho[j]).max())
    # the run continues stably with weighted particles
    for _ in range(50):
        sim.advance()
    assert np.isfinite(grid.d).all()
