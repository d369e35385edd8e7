"""Cell-sorted fused kernels against the split reference kernels, and the sort upkeep."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pic1d.deck import parse_deck
from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import (
    deposit_charge,
    deposit_current,
    fill_ghosts_periodic,
    fold_ghosts_periodic,
)
from pic1d.kernels.push import push_boris
from pic1d.kernels.sorted import (
    N_SUMS,
    S_NL,
    S_NR,
    apply_moves_column,
    apply_moves_xu,
    plan_sort_repair,
    push_deposit_sorted,
    scatter_segment_currents,
)
from pic1d.simulation import Simulation
from pic1d.sorting import CellSort
from pic1d.species import Species
from tests.conftest import THERMAL_SPECIES

N_CELLS = 64
PPC = 40
X_OFFSET = -float(N_GHOST)  # one domain: i_lo = 0


def _sorted_particles(rng, dtype=np.float64, spread=0.3):
    """Cell-sorted particles (PPC per cell) with momenta of rms ``spread``."""
    x = np.repeat(np.arange(N_CELLS, dtype=np.float64), PPC) + rng.random(N_CELLS * PPC)
    u = [(spread * rng.standard_normal(x.shape[0])).astype(dtype) for _ in range(3)]
    seg = np.arange(N_CELLS + 1, dtype=np.int64) * PPC
    return x, u[0], u[1], u[2], seg


def _node_fields(rng):
    nf = np.zeros((N_CELLS + 2 * N_GHOST, 6))
    nf[:] = 0.05 * rng.standard_normal(nf.shape)
    nf[:, 3] += 0.7  # guide field
    return nf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("weights", [False, True])
def test_fused_kernel_matches_split_reference(dtype, compress, weights):
    """Fused push + segment sums == push_boris + deposit_current to round-off, with
    particles crossing cell edges both ways (momenta up to ~c)."""
    rng = np.random.default_rng(3)
    x, ux, uy, uz, seg = _sorted_particles(rng, dtype, spread=1.0)
    nf = _node_fields(rng)
    qm_half_dt, move, dx_over_dt, qw = -0.2, 0.8, 2.2, -0.37
    pre, post = ((0.99, 1.01, 1.0), (1.0, 0.98, 1.02)) if compress else (None, None)
    w = rng.uniform(0.5, 1.5, x.shape[0]) if weights else None
    inv_a_y, inv_a_z = (1 / 1.01, 1 / 0.98) if compress else (1.0, 1.0)

    xr, uxr, uyr, uzr = x.copy(), ux.copy(), uy.copy(), uz.copy()
    p_pre, p_post = pre or (1.0,) * 3, post or (1.0,) * 3
    push_boris(xr, uxr, uyr, uzr, nf, X_OFFSET, qm_half_dt, *p_pre, *p_post, move, 1)
    n_arr = nf.shape[0]
    j_ref = np.zeros((3, n_arr))
    qw_ref = qw * w if weights else qw
    deposit_current(xr, uxr, uyr, uzr, qw_ref, move, dx_over_dt, inv_a_y, inv_a_z, X_OFFSET,
                    j_ref[0], j_ref[1], j_ref[2], np.zeros((4, 3, n_arr)), 1)  # fmt: skip

    sums = np.zeros((N_CELLS, N_SUMS))
    if compress:  # as CellSort.push: factors in the momentum precision
        pre, post = (tuple(dtype(f) for f in fs) for fs in (pre, post))
    push_deposit_sorted(x, ux, uy, uz, w, seg, nf, X_OFFSET, qm_half_dt, pre, post, move,
                        True, sums, np.zeros((5, 3, 256)))  # fmt: skip
    j_new = np.zeros((3, n_arr))
    scatter_segment_currents(sums, 1.0 if weights else qw, dx_over_dt, inv_a_y, inv_a_z,
                             j_new[0], j_new[1], j_new[2])  # fmt: skip
    if weights:
        j_new *= qw

    # float32: the reference pushes in float64 arithmetic, the fused kernel in float32
    # (1e-7 relative round-off per operation, a few 1e-7 after the push)
    eps = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(x, xr, rtol=0, atol=move * eps)
    for a, b in ((ux, uxr), (uy, uyr), (uz, uzr)):
        np.testing.assert_allclose(a, b, rtol=eps, atol=eps)
    movers = sums[:, S_NL].sum() + sums[:, S_NR].sum()
    assert movers > 0.05 * x.shape[0]  # the comparison exercises the crossing cases
    scale = np.abs(j_ref).max()
    assert np.abs(j_new - j_ref).max() < (1e-5 if dtype == np.float32 else 1e-12) * scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_kernel_conserves_charge_exactly(dtype):
    """div J' of the segment sums equals the change of the CIC charge density of the
    stored positions to round-off (continuity, Gauss's law), also with float32 momenta
    and float32 push arithmetic (positions and the deposit stay float64)."""
    rng = np.random.default_rng(5)
    x, ux, uy, uz, seg = _sorted_particles(rng, dtype, spread=2.0)
    nf = _node_fields(rng)
    n_arr = nf.shape[0]
    qw, move, dx_over_dt = 0.8, 0.45, 3.0
    rho0 = np.zeros(n_arr)
    deposit_charge(x, qw, X_OFFSET, rho0, 1)
    sums = np.zeros((N_CELLS, N_SUMS))
    push_deposit_sorted(x, ux, uy, uz, None, seg, nf, X_OFFSET, 0.3, None, None, move, True,
                        sums, np.zeros((3, 3, 256)))  # fmt: skip
    j = np.zeros((3, n_arr))
    scatter_segment_currents(sums, qw, dx_over_dt, 1.0, 1.0, j[0], j[1], j[2])
    rho1 = np.zeros(n_arr)
    x_wrapped = np.mod(x, N_CELLS)
    deposit_charge(x_wrapped, qw, X_OFFSET, rho1, 1)
    fold_ghosts_periodic(rho0, N_CELLS)
    fold_ghosts_periodic(rho1, N_CELLS)
    fold_ghosts_periodic(j[0], N_CELLS)
    fill_ghosts_periodic(j[0], N_CELLS)
    # rho1 - rho0 = -(dt/dx) (J_x[j] - J_x[j-1]) on every node
    s = slice(N_GHOST, N_GHOST + N_CELLS)
    div = (j[0][s] - j[0][N_GHOST - 1 : N_GHOST - 1 + N_CELLS]) / dx_over_dt
    err = np.abs(rho1[s] - rho0[s] + div).max()
    assert err < 1e-13 * PPC * qw


def test_sort_repair_restores_the_cell_order():
    """After a push with large displacements the planned moves leave every particle in
    its cell's segment, the domain leavers at the front/back, and rows intact."""
    rng = np.random.default_rng(11)
    x, ux, uy, uz, seg = _sorted_particles(rng, spread=3.0)
    ids = np.arange(x.shape[0], dtype=np.int64)
    nf = _node_fields(rng)
    sums = np.zeros((N_CELLS, N_SUMS))
    push_deposit_sorted(x, ux, uy, uz, None, seg, nf, X_OFFSET, 0.1, None, None, 0.9, False,
                        sums, np.zeros((4, 3, 256)))  # fmt: skip
    before = {int(i): (xv, uv) for i, xv, uv in zip(ids, x, ux, strict=True)}
    new_seg = np.zeros_like(seg)
    n_mov = 2 * int(sums[:, S_NL].sum() + sums[:, S_NR].sum())
    src = np.zeros(n_mov, np.int64)
    dst = np.zeros(n_mov, np.int64)
    far = np.zeros(N_CELLS, np.int64)
    total = plan_sort_repair(x, seg, sums, X_OFFSET, new_seg, np.zeros_like(seg), src, dst, far)
    assert not far.any()
    assert n_mov > 0.2 * x.shape[0]
    xu = [a.copy() for a in (x, ux, uy, uz)]  # the four-column version: the same result
    apply_moves_xu(*xu, src, dst, total, np.zeros(total), np.zeros((3, total), ux.dtype))
    for arr in (x, ux, uy, uz, ids):
        apply_moves_column(arr, src, dst, total, np.zeros(total, arr.dtype))
    for a, b in zip(xu, (x, ux, uy, uz), strict=True):
        np.testing.assert_array_equal(a, b)
    cells = np.floor(x).astype(np.int64)
    n = x.shape[0]
    assert np.all(cells[: new_seg[0]] == -1)
    assert np.all(cells[new_seg[N_CELLS] :] == N_CELLS)
    for k in range(N_CELLS):
        assert np.all(cells[new_seg[k] : new_seg[k + 1]] == k)
    assert sorted(ids.tolist()) == list(range(n))
    for i, xv, uv in zip(ids, x, ux, strict=True):
        assert before[int(i)] == (xv, uv)


def test_far_mover_is_reported():
    """A particle moving a cell or more in one step stops the run with a clear error."""
    cfg = parse_deck(_deck(kernels="sorted"), name="t")
    sim = Simulation(cfg)
    sim.initialize()
    sp = sim.species[1]
    sim.advance()
    sp.ux[0] = -1e3  # v_x ~ -c; with dt x 5 it moves 2.25 cells in one step
    sim.cfg = replace(cfg, grid=replace(cfg.grid, dt=cfg.grid.dt * 5.0))
    with pytest.raises(RuntimeError, match="beyond the neighbouring cell"):
        sim.advance()


def _deck(kernels: str, cells: int = 32, extra: str = "") -> str:
    return f"""
[run]
duration = "20 steps"
seed = 3
kernels = "{kernels}"
[grid]
cells = {cells}
cells_per_de = 4
filter_passes = 2
[plasma]
mass_ratio = 16
beta = 1.0
theta = 0.01
ppc = 32
[compression]
{extra}
[output]
history = 0
fields = 0
[output.spectra]
interval = 0
""" + THERMAL_SPECIES


def test_sorted_and_reference_runs_agree():
    """A compressing thermal plasma: the sorted path's fields and moments match the
    reference kernels to round-off after 20 steps."""
    out = {}
    compression = 'profile = "power"\ntau_c = "50 steps"\naxes = ["y", "z"]'
    for k in ("sorted", "reference"):
        cfg = parse_deck(_deck(k, extra=compression), name="t")
        sim = Simulation(cfg)
        sim.initialize()
        for _ in range(cfg.run.steps):
            sim.advance()
        e = sum(float(np.sum(sp.ux[: sp.n].astype(np.float64) ** 2)) for sp in sim.species)
        out[k] = (sim.grid.d.copy(), sim.grid.b.copy(), e)
    d_s, b_s, e_s = out["sorted"]
    d_r, b_r, e_r = out["reference"]
    assert np.abs(d_s - d_r).max() < 1e-10 * np.abs(d_r).max()
    assert np.abs(b_s - b_r).max() < 1e-10 * np.abs(b_r).max()
    assert abs(e_s / e_r - 1) < 1e-12


def test_window_shift_keeps_particles():
    """Species.shift_window moves the live range inside the arrays, reallocating only
    when the front slack runs out; the particle data are unchanged."""
    cfg = parse_deck(_deck("sorted"), name="t")
    sp = Species(cfg.species[1])
    n = 1000
    x = np.arange(n, dtype=np.float64)
    sp.set_particles(x, x + 1, x + 2, x + 3, ids=np.arange(n))
    sp.add_extra("tag")[:n] = 7.0
    sp.shift_window(-10)  # 10 free rows in front of the data
    assert np.array_equal(sp.x[10 : 10 + n], x)
    assert np.array_equal(sp.ids[10 : 10 + n], np.arange(n))
    assert np.all(sp.extra["tag"][10 : 10 + n] == 7.0)
    sp.shift_window(10)
    assert np.array_equal(sp.x[:n], x) and np.array_equal(sp.uz[:n], x + 3)
    sp.shift_window(-10**5)  # more than the slack: reallocates, data kept
    assert np.array_equal(sp.x[10**5 : 10**5 + n], x)
    assert np.array_equal(sp.ids[10**5 : 10**5 + n], np.arange(n))


def test_cell_sort_state_survives_migration_with_wrap():
    """CellSort on one domain: particles crossing the periodic box ends are wrapped and
    placed in the first/last segment; counts stay exact."""
    cfg = parse_deck(_deck("sorted", cells=16), name="t")
    sim = Simulation(cfg)
    sim.initialize()
    for _ in range(30):
        sim.advance()
    for sp in sim.species:
        x = sp.x[: sp.n]
        cells = np.floor(x).astype(np.int64)
        assert np.all((x >= 0) & (x < 16))
        np.testing.assert_array_equal(np.diff(sp.seg), np.bincount(cells, minlength=16))
        for k in range(16):
            assert np.all(cells[sp.seg[k] : sp.seg[k + 1]] == k)
    assert isinstance(sim.cell_sort[0], CellSort)


def test_bench_config_overrides_particles_per_cell():
    """`pic1d bench --ppc N` runs the standard case with N particles per cell per species
    (weights follow: the density stays n0)."""
    from pic1d.bench import bench_config

    base = bench_config()
    cfg = bench_config(ppc=16384)
    assert [s.ppc for s in base.species] == [128, 128]
    assert [s.ppc for s in cfg.species] == [16384, 16384]
    for a, b in zip(base.species, cfg.species, strict=True):
        assert a.weight * a.ppc == pytest.approx(b.weight * b.ppc, rel=1e-12)
    assert cfg.grid == base.grid


def test_bench_skips_thread_counts_above_the_numba_pool():
    """`NUMBA_NUM_THREADS=1 pic1d bench` times the 1-thread cases instead of failing in
    numba.set_num_threads on the 2-thread case."""
    import numba

    from pic1d.bench import run_benchmark

    pool = numba.config.NUMBA_NUM_THREADS
    out = run_benchmark(threads=(1, pool + 1), precisions=("float64",), steps=2, warmup=1,
                        ppc=2, tracers=False)
    assert [r["threads"] for r in out["results"]] == [1]
    assert out["results"][0]["ns_per_particle_step"] > 0
