"""Current/charge deposit kernels: charge conservation with and without filtering
(VALIDATION.md item 3), current normalisation, thread independence, periodic halos."""

import numba
import numpy as np
import pytest

from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import (
    deposit_charge,
    deposit_current,
    fill_ghosts_periodic,
    fold_ghosts_periodic,
)
from pic1d.kernels.filter import binomial_passes_periodic
from pic1d.kernels.push import push_boris

NG = N_GHOST


@pytest.fixture
def one_thread():
    """Many tiny kernel calls: run them on one thread (parallel launch overhead on a shared
    machine dominates otherwise). Threading itself is tested separately."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


def _wrap(x, n_cells):
    x[x < 0.0] += n_cells
    x[x >= n_cells] -= n_cells


def _rho(x, qw, n_cells, order):
    rho = np.zeros(n_cells + 2 * NG)
    deposit_charge(x, qw, -float(NG), rho, order)
    fold_ghosts_periodic(rho, n_cells)
    return rho


def _run_gauss(order, n_passes, n_steps, dtype, n_cells=32, ppc=20, seed=0):
    """Random walkers (new random momentum every step, |v| up to ~c, move = 0.45 cells
    per c) on a periodic grid; d_x -= dt J_x with J_x filtered n_passes times.
    Returns max |div d - filtered(rho - rho0)| / max |rho0|."""
    rng = np.random.default_rng(seed)
    n_p = n_cells * ppc
    dx = 0.2
    dt = 0.45 * dx
    a_x = 1.3  # co-moving: move = dt / (a_x dx)
    move = dt / (a_x * dx)
    n_arr = n_cells + 2 * NG
    x = rng.uniform(0.0, n_cells, n_p)
    qw = np.where(rng.random(n_p) < 0.5, -1.0, 1.0) / ppc  # mixed signs, weights
    rho0 = _rho(x, qw, n_cells, order)
    nf = np.zeros((n_arr, 6))
    jx, jy, jz, tmp = (np.zeros(n_arr) for _ in range(4))
    buffers = np.zeros((4, 3, n_arr))
    d_x = np.zeros(n_arr)
    for _ in range(n_steps):
        ux, uy, uz = rng.normal(0.0, 1.5, (3, n_p)).astype(dtype)
        push_boris(x, ux, uy, uz, nf, -float(NG), 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                   move, order)
        _wrap(x, n_cells)
        jx[:] = 0.0
        jy[:] = 0.0
        jz[:] = 0.0
        deposit_current(x, ux, uy, uz, qw, move, dx / dt, 1.0, 1.0, -float(NG),
                        jx, jy, jz, buffers, order)
        fold_ghosts_periodic(jx, n_cells)
        binomial_passes_periodic(jx, tmp, n_passes, n_cells)
        d_x[NG:NG + n_cells] -= dt * jx[NG:NG + n_cells]
    fill_ghosts_periodic(d_x, n_cells)
    drho = _rho(x, qw, n_cells, order) - rho0
    binomial_passes_periodic(drho, tmp, n_passes, n_cells)
    sl = slice(NG, NG + n_cells)
    div_d = (d_x[sl] - d_x[NG - 1:NG - 1 + n_cells]) / dx
    assert np.max(np.abs(drho[sl])) > 0.1 * np.max(np.abs(rho0))  # charge did move
    return np.max(np.abs(div_d - drho[sl])) / np.max(np.abs(rho0))


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize(("n_passes", "n_steps"), [(0, 2000), (32, 10000)])
def test_charge_conservation(order, n_passes, n_steps, one_thread):
    err = _run_gauss(order, n_passes, n_steps, np.float64)
    print(f"Gauss law order={order} passes={n_passes} steps={n_steps}: rel err {err:.1e}")
    assert err < 1e-11


@pytest.mark.parametrize("order", [1, 2])
def test_charge_conservation_float32(order, one_thread):
    """float32 momenta: deposit reconstructs x_old from the stored (rounded) momenta."""
    err = _run_gauss(order, 4, 1000, np.float32, seed=3)
    print(f"Gauss law float32 order={order}: rel err {err:.1e}")
    assert err < 1e-11


@pytest.mark.parametrize("order", [1, 2])
def test_current_normalisation(order):
    """sum_j J_x = sum_p q w v_x / a_x, sum_j J_{y,z} = sum_p q w v_{y,z} / a_{y,z}."""
    rng = np.random.default_rng(5)
    n_cells, n_p = 16, 5000
    dx, dt, a_x, a_y, a_z = 0.1, 0.04, 0.8, 1.7, 0.6
    move = dt / (a_x * dx)
    n_arr = n_cells + 2 * NG
    x0 = rng.uniform(0.0, n_cells, n_p)
    u = rng.normal(0.0, 0.7, (3, n_p))
    qw = rng.uniform(-1.0, 1.0, n_p)
    g = np.sqrt(1.0 + (u**2).sum(0))
    x = x0 + u[0] / g * move
    _wrap(x, n_cells)
    j = np.zeros((3, n_arr))
    deposit_current(x, *u, qw, move, dx / dt, 1.0 / a_y, 1.0 / a_z, -float(NG), *j,
                    np.zeros((3, 3, n_arr)), order)
    expect = [np.sum(qw * u[0] / g) / a_x, np.sum(qw * u[1] / g) / a_y,
              np.sum(qw * u[2] / g) / a_z]
    scale = np.sum(np.abs(qw))
    for k in range(3):
        assert abs(j[k].sum() - expect[k]) < 1e-12 * scale


@pytest.mark.parametrize("order", [1, 2])
def test_chunks_agree(order):
    """n_chunks = 1 and 7 give the same current to round-off; scalar and array qw agree."""
    rng = np.random.default_rng(6)
    n_cells, n_p = 24, 20000
    n_arr = n_cells + 2 * NG
    x = rng.uniform(0.0, n_cells, n_p)
    u = rng.normal(0.0, 0.5, (3, n_p))
    res = []
    for n_chunks, qw in [(1, 0.3), (7, 0.3), (7, np.full(n_p, 0.3))]:
        j = np.zeros((3, n_arr))
        deposit_current(x, *u, qw, 0.3, 2.0, 1.0, 1.0, -float(NG), *j,
                        np.zeros((n_chunks, 3, n_arr)), order)
        res.append(j)
    assert np.max(np.abs(res[0] - res[1])) < 1e-12 * np.max(np.abs(res[0]))
    assert np.array_equal(res[1], res[2])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
@pytest.mark.parametrize("order", [1, 2])
def test_threads_bitwise(order):
    """Same n_chunks: push and deposit are bitwise identical with 1 and 2 threads."""
    rng = np.random.default_rng(7)
    n_cells, n_p = 64, 100000
    n_arr = n_cells + 2 * NG
    x = rng.uniform(0.0, n_cells, n_p)
    u = rng.normal(0.0, 0.5, (3, n_p)).astype(np.float32)
    nf = rng.normal(0.0, 0.1, (n_arr, 6))
    res = []
    old = numba.get_num_threads()
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            xs = x.copy()
            us = u.copy()
            push_boris(xs, *us, nf, -float(NG), -0.05, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.3,
                       order)
            _wrap(xs, n_cells)
            j = np.zeros((3, n_arr))
            deposit_current(xs, *us, -0.01, 0.3, 2.0, 1.0, 1.0, -float(NG), *j,
                            np.zeros((8, 3, n_arr)), order)
            res.append((xs, us, j))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(res[0], res[1], strict=True):
        assert np.array_equal(a, b)


def test_deposit_charge_shapes():
    """Hand-computed CIC and TSC weights for one particle, and partition of unity."""
    rho = np.zeros(12)
    deposit_charge(np.array([2.25]), 2.0, -float(NG), rho, 1)  # xa = 5.25
    assert np.allclose(rho[5:7], [1.5, 0.5]) and rho.sum() == 2.0
    rho[:] = 0.0
    deposit_charge(np.array([2.75]), np.array([1.0]), -float(NG), rho, 2)  # m = 6, d = -0.25
    assert np.allclose(rho[5:8], [0.5 * 0.75**2, 0.75 - 0.0625, 0.5 * 0.25**2], atol=1e-15)
    assert abs(rho.sum() - 1.0) < 1e-15


def test_fold_fill_periodic():
    n_local = 8
    a = np.arange(n_local + 2 * NG, dtype=float)
    b = a.copy()
    fold_ghosts_periodic(a, n_local)
    expect = b.copy()
    expect[NG + n_local - NG:NG + n_local] += b[:NG]  # left ghosts -> last interior cells
    expect[NG:2 * NG] += b[NG + n_local:]  # right ghosts -> first interior cells
    expect[:NG] = 0.0
    expect[NG + n_local:] = 0.0
    assert np.array_equal(a, expect)
    fill_ghosts_periodic(a, n_local)
    assert np.array_equal(a[:NG], a[n_local:n_local + NG])
    assert np.array_equal(a[NG + n_local:], a[NG:2 * NG])
