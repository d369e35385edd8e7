"""The gather push of unsorted species (tracers) against the reference Boris push."""

from __future__ import annotations

import numpy as np
import pytest

from pic1d.kernels import N_GHOST
from pic1d.kernels.boris import cell_coefficients, factor_args, push_gather_cic
from pic1d.kernels.push import push_boris

N_CELLS = 64
X_OFFSET = -float(N_GHOST)  # one domain: i_lo = 0


def _particles(rng, n, dtype, spread):
    """Unsorted particles over the box with momenta of rms ``spread`` (m_e c)."""
    x = rng.random(n) * N_CELLS
    u = [(spread * rng.standard_normal(n)).astype(dtype) for _ in range(3)]
    return x, *u


def _node_fields(rng):
    nf = 0.05 * rng.standard_normal((N_CELLS + 2 * N_GHOST, 6))
    nf[:, 3] += 0.7  # guide field
    return nf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("compress", [False, True])
def test_gather_push_matches_reference(dtype, compress):
    """push_gather_cic == push_boris (order 1) to round-off, for relativistic momenta
    (rms 30 m_e c, as cosmic-ray tracers) and thermal ones, with compression factors."""
    rng = np.random.default_rng(11)
    nf = _node_fields(rng)
    qm_half_dt, move = -0.2, 0.45
    pre, post = ((0.99, 1.01, 1.0), (1.0, 0.98, 1.02)) if compress else ((1.0,) * 3,) * 2
    for spread in (0.05, 30.0):
        x, ux, uy, uz = _particles(rng, 20_000, dtype, spread)
        xr, uxr, uyr, uzr = x.copy(), ux.copy(), uy.copy(), uz.copy()
        push_boris(xr, uxr, uyr, uzr, nf, X_OFFSET, qm_half_dt, *pre, *post, move, 1)
        coef = np.zeros((nf.shape[0] - 1, 12), dtype=dtype)
        cell_coefficients(nf, qm_half_dt, coef)
        push_gather_cic(x, ux, uy, uz, coef, X_OFFSET, *factor_args(pre, post, dtype), move)
        # float32: float32 push arithmetic against the float64 reference
        eps = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(x, xr, rtol=0, atol=move * eps)
        scale = max(spread, 1.0)
        for a, b in ((ux, uxr), (uy, uyr), (uz, uzr)):
            np.testing.assert_allclose(a, b, rtol=eps, atol=eps * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_push_conserves_energy_in_magnetic_field(dtype):
    """With E = 0 the Boris rotation keeps |u| (and gamma) fixed to round-off over many
    steps, and a particle gyrates at Omega / gamma: after one gyro-period
    2 pi gamma / |h B| (in steps of 2 h) the momentum returns to its start (the Boris
    phase error, (|h B| / gamma)^2 / 12 per step, is below 1e-4 rad here)."""
    nf = np.zeros((N_CELLS + 2 * N_GHOST, 6))
    nf[:, 5] = 1.0  # B along z: gyration in the x-y plane
    h, move = 0.005, 0.0  # |hB| = 0.005 per half step; particles held in place
    u0 = np.array([0.5, 3.0, 20.0])
    ux = np.full(3, 0.0, dtype=dtype)
    uy = u0.astype(dtype)
    uz = np.full(3, 0.1, dtype=dtype)
    x = np.array([3.25, 17.5, 40.9])
    gamma = np.sqrt(1.0 + u0**2 + 0.01)
    coef = np.zeros((nf.shape[0] - 1, 12), dtype=dtype)
    cell_coefficients(nf, h, coef)
    steps = 2000
    ang = np.zeros(3)
    for _ in range(steps):
        push_gather_cic(x, ux, uy, uz, coef, X_OFFSET, None, None, move)
    u_perp = np.hypot(ux.astype(np.float64), uy.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(u_perp, u0, rtol=tol)
    # rotation angle after `steps` steps: 2 atan(h B / gamma) per step (exact Boris)
    ang = np.unwrap(np.arctan2(ux.astype(np.float64), uy.astype(np.float64)))
    expect = steps * 2.0 * np.arctan(h / gamma)
    np.testing.assert_allclose(np.mod(ang - expect + np.pi, 2 * np.pi) - np.pi, 0.0,
                               atol=1e-3 if dtype == np.float32 else 1e-9)  # fmt: skip
