"""Field kernels: Yee vacuum dispersion (also with co-moving scale factors), current
source, collocation, and absence of self-force (conventions.md "Interpolation")."""

import math

import numpy as np
import pytest

from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import deposit_charge, fill_ghosts_periodic, fold_ghosts_periodic
from pic1d.kernels.fields import advance_b, advance_d, collocate_fields
from pic1d.kernels.interp import gather_o1, gather_o2

NG = N_GHOST


def _step(f, n_local, es, hs, dt, dx):
    """One leapfrog step: b half, d full, b half (PHYSICS.md 2.4), periodic ghosts."""
    j_lo, j_hi = NG, NG + n_local
    for name in ("d_y", "d_z"):
        fill_ghosts_periodic(f[name], n_local)
    advance_b(f["b_y"], f["b_z"], f["d_y"], f["d_z"], es, es, 0.5 * dt / dx, j_lo, j_hi)
    for name in ("b_y", "b_z"):
        fill_ghosts_periodic(f[name], n_local)
    advance_d(f["d_x"], f["d_y"], f["d_z"], f["b_y"], f["b_z"], f["j_x"], f["j_y"], f["j_z"],
              hs, hs, dt, dt / dx, j_lo, j_hi)
    for name in ("d_y", "d_z"):
        fill_ghosts_periodic(f[name], n_local)
    advance_b(f["b_y"], f["b_z"], f["d_y"], f["d_z"], es, es, 0.5 * dt / dx, j_lo, j_hi)


def _new_fields(n_arr):
    return {k: np.zeros(n_arr) for k in ("d_x", "d_y", "d_z", "b_y", "b_z", "j_x", "j_y",
                                         "j_z")}


@pytest.mark.parametrize(("es", "hs"), [(1.0, 1.0), (0.64, 1.0), (1.3, 0.7)])
def test_vacuum_wave_dispersion(es, hs):
    """Right-going waves (both polarisations) advance in phase by omega dt per step with
    sin(omega dt / 2) = v (dt/dx) sin(k dx / 2), v = sqrt(e_scale h_scale)."""
    n_local, m, dx, cfl = 64, 5, 0.1, 0.45
    dt = cfl * dx
    k = 2.0 * np.pi * m / (n_local * dx)
    s = math.sin(0.5 * k * dx)
    v = math.sqrt(es * hs)
    theta_theory = 2.0 * math.asin(v * cfl * s)
    # discrete right-going eigenvector of the (d, b) amplitude map of one step, used only
    # to start a clean travelling wave; D e^{ik x_j} on integer, B e^{ik(x_j+dx/2)} on half
    # nodes.  kick: B -= i cfl es s D (half step, twice); drift: D -= 2 i cfl hs s B.
    mat = np.eye(2, dtype=complex)
    kick = np.array([[1.0, 0.0], [-1j * cfl * es * s, 1.0]])
    drift = np.array([[1.0, -2j * cfl * hs * s], [0.0, 1.0]])
    mat = kick @ drift @ kick
    lam, vec = np.linalg.eig(mat)
    i_right = int(np.argmin(np.angle(lam)))  # e^{-i theta}: propagating to +x
    dvec = vec[:, i_right] / vec[0, i_right]
    x_int = np.arange(n_local + 2 * NG) * dx
    f = _new_fields(n_local + 2 * NG)
    f["d_y"][:] = np.real(np.exp(1j * k * x_int))
    f["b_z"][:] = np.real(dvec[1] * np.exp(1j * k * (x_int + 0.5 * dx)))
    # the (d_z, b_y) pair: d_t d_z = +d_x h_y, d_t b_y = +d_x e_z, so b_y -> -b_z's rule
    f["d_z"][:] = np.real(np.exp(1j * (k * x_int + 0.3)))
    f["b_y"][:] = -np.real(dvec[1] * np.exp(1j * (k * (x_int + 0.5 * dx) + 0.3)))
    sl = slice(NG, NG + n_local)
    proj = np.exp(-1j * k * x_int[sl])
    n_steps = 2000
    ph_y = np.empty(n_steps + 1)
    ph_z = np.empty(n_steps + 1)
    for n in range(n_steps + 1):
        if n:
            _step(f, n_local, es, hs, dt, dx)
        ph_y[n] = np.angle(np.sum(f["d_y"][sl] * proj))
        ph_z[n] = np.angle(np.sum(f["d_z"][sl] * proj))
    for ph in (ph_y, ph_z):
        theta = -(np.unwrap(ph)[-1] - ph[0]) / n_steps
        err = abs(theta / theta_theory - 1.0)
        print(f"Yee dispersion es={es} hs={hs}: omega dt = {theta:.10f}, theory "
              f"{theta_theory:.10f}, rel err {err:.1e}")
        assert err < 1e-6
    for name in ("d_y", "d_z"):  # no growth/damping, no left-going contamination
        amp = np.abs(np.sum(f[name][sl] * proj)) / (0.5 * n_local)
        assert abs(amp - 1.0) < 1e-10


def test_current_source_and_b_curl_signs():
    """advance_d with b = 0 subtracts dt J; advance_b signs of conventions.md."""
    n_arr = 10
    f = _new_fields(n_arr)
    rng = np.random.default_rng(1)
    for name in ("j_x", "j_y", "j_z"):
        f[name][:] = rng.random(n_arr)
    dt = 0.3
    advance_d(f["d_x"], f["d_y"], f["d_z"], f["b_y"], f["b_z"], f["j_x"], f["j_y"], f["j_z"],
              1.0, 1.0, dt, 3.0, 1, n_arr - 1)
    for c in "xyz":
        assert np.allclose(f["d_" + c][1:-1], -dt * f["j_" + c][1:-1], rtol=1e-15)
    d_y = rng.random(n_arr)
    d_z = rng.random(n_arr)
    b_y = np.zeros(n_arr)
    b_z = np.zeros(n_arr)
    advance_b(b_y, b_z, d_y, d_z, 2.0, 3.0, 0.5, 0, n_arr - 1)
    assert np.allclose(b_y[:-1], 0.5 * 3.0 * np.diff(d_z), rtol=1e-14)
    assert np.allclose(b_z[:-1], -0.5 * 2.0 * np.diff(d_y), rtol=1e-14)


def test_collocate_fields():
    rng = np.random.default_rng(2)
    n_arr = 12
    d_x, d_y, d_z, b_x, b_y, b_z = rng.random((6, n_arr))
    sc = (1.1, 1.2, 1.3, 1.4, 1.5, 1.6)
    nf = np.zeros((n_arr, 6))
    collocate_fields(d_x, d_y, d_z, b_x, b_y, b_z, *sc, nf, 1, n_arr)
    expect = np.stack([sc[0] * 0.5 * (d_x[:-1] + d_x[1:]), sc[1] * d_y[1:], sc[2] * d_z[1:],
                       sc[3] * b_x[1:], sc[4] * 0.5 * (b_y[:-1] + b_y[1:]),
                       sc[5] * 0.5 * (b_z[:-1] + b_z[1:])], axis=1)
    assert np.allclose(nf[1:], expect, rtol=1e-15, atol=0.0)
    assert np.all(nf[0] == 0.0)


@pytest.mark.parametrize("order", [1, 2])
def test_no_self_force(order):
    """One particle plus a neutralising background, E_x from Gauss' law (zero-mean d_x):
    the collocated E_x gathered at the particle vanishes to round-off."""
    n_local, dx = 32, 0.25
    n_arr = n_local + 2 * NG
    gather = gather_o1 if order == 1 else gather_o2
    rng = np.random.default_rng(3)
    worst = 0.0
    for xp in np.concatenate([[0.0, 0.5, 31.99, 7.25], rng.uniform(0.0, n_local, 20)]):
        rho = np.zeros(n_arr)
        deposit_charge(np.array([xp]), -1.0, -float(NG), rho, order)
        fold_ghosts_periodic(rho, n_local)
        rho[NG:NG + n_local] += 1.0 / n_local  # neutralising background
        d_x = np.zeros(n_arr)
        d_x[NG:NG + n_local] = dx * np.cumsum(rho[NG:NG + n_local])
        d_x[NG:NG + n_local] -= d_x[NG:NG + n_local].mean()
        fill_ghosts_periodic(d_x, n_local)
        # Gauss law holds on every node
        assert np.allclose(np.diff(d_x[NG - 1:NG + n_local]) / dx, rho[NG:NG + n_local],
                           rtol=0.0, atol=1e-14)
        zeros = np.zeros(n_arr)
        nf = np.zeros((n_arr, 6))
        collocate_fields(d_x, zeros, zeros, zeros, zeros, zeros, 1.0, 1.0, 1.0, 1.0, 1.0,
                         1.0, nf, 1, n_arr)
        e_p = gather(nf, xp + NG)[0]
        worst = max(worst, abs(e_p) / np.max(np.abs(nf[:, 0])))
    print(f"self-force order={order}: max |E_x(x_p)| / max |E_x| = {worst:.1e}")
    assert worst < 1e-13
