"""Moment kernels: binned density/flux/momentum flux, global sums, kinetic energy."""

import numpy as np
import pytest

from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import fold_ghosts_periodic
from pic1d.kernels.moments import deposit_moments, kinetic_energy_sum, velocity_moments

NG = N_GHOST
PAIRS = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]


def _fold(out, n_local):
    for c in range(out.shape[1]):
        col = np.ascontiguousarray(out[:, c])
        fold_ghosts_periodic(col, n_local)
        out[:, c] = col


def _shape_ref(xa, order):
    """Independent pure-Python shape (conventions.md): list of (node, weight)."""
    if order == 1:
        i = int(np.floor(xa))
        f = xa - i
        return [(i, 1.0 - f), (i + 1, f)]
    m = int(np.floor(xa + 0.5))
    d = xa - m
    return [(m - 1, 0.5 * (0.5 - d) ** 2), (m, 0.75 - d * d), (m + 1, 0.5 * (0.5 + d) ** 2)]


@pytest.mark.parametrize("order", [1, 2])
def test_moments_by_hand(order):
    x = np.array([1.0, 2.3, 2.5, 4.9])
    u = np.array([[0.5, -1.0, 0.0], [2.0, 0.1, -0.3], [0.0, 0.0, 0.0], [-0.2, 0.4, 3.0]])
    w = np.array([1.0, 0.5, 2.0, 0.25])
    n_arr = 12
    out = np.zeros((n_arr, 10))
    deposit_moments(x, *np.ascontiguousarray(u.T), w, -float(NG), out, order)
    expect = np.zeros((n_arr, 10))
    for xp, up, wp in zip(x, u, w, strict=True):
        g = np.sqrt(1.0 + up @ up)
        v = up / g
        row = [1.0, *v] + [up[a] * v[b] for a, b in PAIRS]
        for j, s in _shape_ref(xp + NG, order):
            expect[j] += wp * s * np.array(row)
    assert np.allclose(out, expect, rtol=1e-14, atol=1e-16)
    # scalar weight equals a constant weight array
    o1 = np.zeros((n_arr, 10))
    o2 = np.zeros((n_arr, 10))
    deposit_moments(x, *np.ascontiguousarray(u.T), 0.7, -float(NG), o1, order)
    deposit_moments(x, *np.ascontiguousarray(u.T), np.full(4, 0.7), -float(NG), o2, order)
    assert np.array_equal(o1, o2)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_drifting_distribution(order, dtype):
    """Drifting Maxwellian, density n = 2: per-node density and mean velocity recovered
    within sampling noise; binned sums equal the global sums (partition of unity)."""
    rng = np.random.default_rng(4)
    n_local, ppc, dens = 16, 8000, 2.0
    n_p = n_local * ppc
    x = rng.uniform(0.0, n_local, n_p)
    u_d = np.array([0.3, -0.1, 0.05])
    sig = 0.1
    u = (u_d[:, None] + sig * rng.normal(size=(3, n_p))).astype(dtype)
    w = dens / ppc
    out = np.zeros((n_local + 2 * NG, 10))
    deposit_moments(x, *u, w, -float(NG), out, order)
    _fold(out, n_local)
    inner = out[NG:NG + n_local]
    # expected <v> from a large independent sample of the same distribution
    ub = u_d[:, None] + sig * np.random.default_rng(99).normal(size=(3, 2_000_000))
    v_exp = (ub / np.sqrt(1.0 + (ub**2).sum(0))).mean(1)
    v_std = (ub / np.sqrt(1.0 + (ub**2).sum(0))).std(1)
    # density: CIC/TSC noise ~ dens / sqrt(ppc_eff); 5 sigma
    assert np.max(np.abs(inner[:, 0] / dens - 1.0)) < 5.0 / np.sqrt(ppc * 0.5)
    vmean = inner[:, 1:4] / inner[:, 0:1]
    assert np.all(np.abs(vmean - v_exp) < 5.0 * v_std / np.sqrt(ppc * 0.5))
    # global sums: binned moments sum to w * velocity_moments
    glob = w * velocity_moments(*u)
    assert glob[0] == pytest.approx(dens * n_local, rel=1e-14)
    assert np.allclose(inner.sum(0), glob, rtol=1e-10, atol=1e-12 * glob[0])
    print(f"moments order={order} {np.dtype(dtype).name}: density max rel dev "
          f"{np.max(np.abs(inner[:, 0] / dens - 1)):.1e}, <v> max dev "
          f"{np.max(np.abs(vmean - v_exp)):.1e} (noise {v_std.max() / np.sqrt(ppc):.1e})")


def test_velocity_moments_and_energy():
    rng = np.random.default_rng(5)
    u = rng.normal(0.0, [[1e-4], [0.3], [3.0]], (3, 10001))
    g = np.sqrt(1.0 + (u**2).sum(0))
    v = u / g
    ref = [u.shape[1], *v.sum(1)] + [(u[a] * v[b]).sum() for a, b in PAIRS]
    assert np.allclose(velocity_moments(*u), ref, rtol=1e-12)
    ke = kinetic_energy_sum(*u)
    assert ke == pytest.approx(np.sum((u**2).sum(0) / (g + 1.0)), rel=1e-13)
    # cold particles: no cancellation in gamma - 1
    cold = np.full(1000, 1e-9)
    assert kinetic_energy_sum(cold, cold, cold) == pytest.approx(1000 * 1.5e-18, rel=1e-12)
    u32 = u.astype(np.float32)
    assert kinetic_energy_sum(*u32) == pytest.approx(
        np.sum(np.sqrt(1.0 + (u32.astype(np.float64) ** 2).sum(0)) - 1.0), rel=1e-10)
