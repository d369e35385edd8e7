"""Boris push kernel: gyration, E x B drift, hyperbolic motion, compression factors
(VALIDATION.md items 1-2)."""

import math

import numba
import numpy as np
import pytest
from numba import njit

from pic1d.kernels.push import push_boris

N_NODES = 4000
X_OFFSET = 0.0


@pytest.fixture(autouse=True)
def one_thread():
    """Many tiny kernel calls: run them on one thread (parallel launch overhead on a shared
    machine dominates otherwise). Threading itself is tested separately."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


def _uniform_fields(e, b, dtype=np.float64):
    nf = np.zeros((N_NODES, 6), dtype=dtype)
    nf[:, 0:3] = e
    nf[:, 3:6] = b
    return nf


@njit(cache=True)
def _orbit(x, ux, uy, uz, nf, h, move, order, n_steps):
    """Push one particle n_steps times; rec[n] = (x^{n+1}, u^{n+1/2})."""
    rec = np.empty((n_steps, 4))
    for n in range(n_steps):
        push_boris(x, ux, uy, uz, nf, 0.0, h, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, move, order)
        rec[n, 0] = x[0]
        rec[n, 1] = ux[0]
        rec[n, 2] = uy[0]
        rec[n, 3] = uz[0]
    return rec


def _one(x0, u0):
    return (np.array([x0]), np.array([u0[0]]), np.array([u0[1]]), np.array([u0[2]]))


@pytest.mark.parametrize("gamma0", [1.0001, 10.0])
@pytest.mark.parametrize("order", [1, 2])
def test_gyration(gamma0, order):
    """Uniform B_z, E = 0, 1000 gyro-periods: Boris angle 2 arctan(Omega dt / 2 gamma)
    per step, discrete radius (u/Omega) sqrt(1 + (Omega dt / 2 gamma)^2), |u| conserved."""
    qm = -1.0  # electron
    b0 = 1.0
    omega = abs(qm) * b0
    dx = 0.1
    dt = 0.1 * gamma0 / omega  # 0.1 rad per step
    u0 = math.sqrt(gamma0**2 - 1.0)
    y = omega * dt / (2.0 * gamma0)
    theta_boris = 2.0 * math.atan(y)
    n_steps = int(1000 * 2 * math.pi / theta_boris) + 1
    x, ux, uy, uz = _one(N_NODES / 2, (u0, 0.0, 0.0))
    rec = _orbit(x, ux, uy, uz, _uniform_fields(0.0, [0.0, 0.0, b0]), 0.5 * qm * dt,
                 dt / dx, order, n_steps)
    # phase: (ux, uy) rotates by theta_boris per step (sense set by the charge sign)
    phase = np.unwrap(np.arctan2(rec[:, 2], rec[:, 1]))
    theta_meas = abs(phase[-1] - phase[0]) / (n_steps - 1)
    err_boris = abs(theta_meas / theta_boris - 1.0)
    err_raw = abs(theta_meas / dt / (omega / gamma0) - 1.0)
    assert err_boris < 1e-10, err_boris
    # raw frequency error vs Omega/gamma is the Boris phase error ~ y^2/3
    assert abs(err_raw - y**2 / 3.0) < 0.05 * y**2 / 3.0
    # radius: least-squares fit of x^n = c + A cos(n theta) + B sin(n theta)
    n = np.arange(n_steps)
    xs = rec[:, 0] * dx
    mat = np.stack([np.ones(n_steps), np.cos(n * theta_meas), np.sin(n * theta_meas)], 1)
    coef = np.linalg.lstsq(mat, xs, rcond=None)[0]
    r_meas = math.hypot(coef[1], coef[2])
    r_disc = u0 / omega * math.sqrt(1.0 + y * y)
    err_r = abs(r_meas / r_disc - 1.0)
    assert err_r < 1e-8, err_r
    umag = np.sqrt(rec[:, 1] ** 2 + rec[:, 2] ** 2 + rec[:, 3] ** 2)
    err_u = np.max(np.abs(umag / u0 - 1.0))
    assert err_u < 1e-12, err_u
    print(f"gyration gamma={gamma0} order={order}: phase err vs Boris {err_boris:.1e}, "
          f"raw vs Omega/gamma {err_raw:.2e}, radius err {err_r:.1e} "
          f"(raw vs u/Omega {abs(r_meas * omega / u0 - 1):.1e}), |u| err {err_u:.1e}")


@pytest.mark.parametrize(("e_over_b", "dt"), [(0.1, 0.1), (0.5, 0.05)])
def test_exb_drift(e_over_b, dt):
    """Crossed E_y, B_z, particle starting at rest: mean v_x over whole gyrations = E/B.

    Boris' relativistic drift error is O((q E dt / 2 m)^2) (the no-gyration fixed point is
    u / gamma(u-) = E/B instead of u / gamma(u) = E/B), ~1e-5 here."""
    qm = 1.0
    b0 = 1.0
    dx = 0.5
    n_steps = int(2000.0 / dt)
    x, ux, uy, uz = _one(100.0, (0.0, 0.0, 0.0))
    rec = _orbit(x, ux, uy, uz, _uniform_fields([0.0, e_over_b * b0, 0.0], [0.0, 0.0, b0]),
                 0.5 * qm * dt, dt / dx, 1, n_steps)
    # x^{n+1} at t = (n+1) dt, u^{n+1/2} at t = (n+1/2) dt; periods from upward zero
    # crossings of u_y (the momentum orbit is periodic), x linearly interpolated there.
    uyr = rec[:, 2]
    t_u = (np.arange(n_steps) + 0.5) * dt
    k = np.nonzero((uyr[:-1] < 0.0) & (uyr[1:] >= 0.0))[0]
    tc = t_u[k] + dt * (-uyr[k]) / (uyr[k + 1] - uyr[k])
    t_x = np.concatenate([[0.0], (np.arange(n_steps) + 1.0) * dt])
    xr = np.concatenate([[100.0], rec[:, 0]]) * dx
    xa, xb = np.interp([tc[1], tc[-1]], t_x, xr)
    v_drift = (xb - xa) / (tc[-1] - tc[1])
    err = abs(v_drift / e_over_b - 1.0)
    assert len(tc) > 20
    assert err < 1e-4, err
    print(f"ExB E/B={e_over_b}: {len(tc) - 2} gyrations, drift rel err {err:.1e}")


def test_hyperbolic_motion():
    """Uniform E_x: u^{n+1/2} = a t_{n+1/2} exactly; x^n = analytic hyperbolic orbit plus
    the midpoint-rule (leapfrog) error -(dt^2/24) (v'(T) - v'(0))."""
    a = 0.01  # q E / m
    dt = 0.1
    dx = 1.0
    n_steps = 10000
    x, ux, uy, uz = _one(0.0, (-0.5 * a * dt, 0.0, 0.0))
    nf = _uniform_fields([a, 0.0, 0.0], [0.0, 0.0, 0.0])
    rec = _orbit(x, ux, uy, uz, nf, 0.5 * dt, dt / dx, 2, n_steps)
    t_half = (np.arange(n_steps) + 0.5) * dt
    err_u = np.max(np.abs(rec[:, 1] / (a * t_half) - 1.0))
    assert err_u < 1e-11, err_u
    t_end = n_steps * dt
    gam_end = math.sqrt(1.0 + (a * t_end) ** 2)
    x_exact = (gam_end - 1.0) / a
    pred = -(dt**2 / 24.0) * (a / gam_end**3 - a)
    x_num = rec[-1, 0] * dx
    err_x = abs((x_num - x_exact) - pred) / abs(pred)
    assert err_x < 1e-3, err_x
    print(f"hyperbolic: u rel err {err_u:.1e}; x - x_exact = {x_num - x_exact:.4e} vs "
          f"predicted leapfrog error {pred:.4e} (rel diff {err_x:.1e}, gamma_end={gam_end:.2f})")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compression_factors(dtype):
    """No fields: u_i -> u_i pre_i post_i; x moves by (u_x/gamma) move of the stored u."""
    rng = np.random.default_rng(1)
    n = 1000
    x = rng.uniform(10.0, 20.0, n)
    u = rng.normal(0.0, 0.5, (3, n)).astype(dtype)
    ux, uy, uz = u.copy()
    pre = (0.97, 1.01, 1.003)
    post = (0.985, 1.02, 0.999)
    move = 0.3
    x0 = x.copy()
    push_boris(x, ux, uy, uz, _uniform_fields(0.0, 0.0), X_OFFSET, 0.7, *pre, *post, move, 2)
    for k, uk in enumerate((ux, uy, uz)):
        expect = (u[k].astype(np.float64) * pre[k]) * post[k]
        assert np.allclose(uk, expect.astype(dtype), rtol=0.0,
                           atol=0.0 if dtype == np.float64 else 1e-7)
    g = np.sqrt(1.0 + ux.astype(np.float64) ** 2 + uy.astype(np.float64) ** 2
                + uz.astype(np.float64) ** 2)
    assert np.allclose(x - x0, ux.astype(np.float64) / g * move, rtol=0.0, atol=8e-15)


def test_float32_matches_float64():
    """float32 momenta follow the float64 orbit to single precision."""
    rng = np.random.default_rng(2)
    n = 200
    x = rng.uniform(10.0, 20.0, n)
    u = rng.normal(0.0, 0.3, (3, n))
    nf = _uniform_fields([0.01, -0.02, 0.03], [0.5, 0.2, -0.3])
    x32 = x.copy()
    u32 = [c.astype(np.float32) for c in u]
    u64 = [c.copy() for c in u]
    for _ in range(50):
        push_boris(x, *u64, nf, X_OFFSET, -0.05, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 1)
        push_boris(x32, *u32, nf, X_OFFSET, -0.05, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 1)
    for a32, a64 in zip(u32, u64, strict=True):
        assert np.max(np.abs(a32 - a64)) < 1e-5
    assert np.max(np.abs(x32 - x)) < 1e-5
