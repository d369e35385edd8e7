"""Velocity moments of a species: binned on integer nodes and global sums.

Per particle: ``v_i = u_i / gamma``; the momentum-flux (per unit mass) components are
``u_i v_j`` in the order (xx, yy, zz, xy, xz, yz) (symmetric since u_i v_j = gamma v_i v_j).
The pressure tensor in the local bulk frame is ``m (T_ij - N_i N_j / n)`` with n, N, T the
binned density, particle flux and momentum flux (computed by the caller).
"""

import numpy as np
from numba import njit, prange

from pic1d.kernels.interp import gamma_of, shape_o1, shape_o2, weight_at

_N_SUM_CHUNKS = 64  # fixed number of partial sums: results independent of thread count


@njit(cache=True, error_model="numpy")
def _add_moments(out, j, ws, ux, uy, uz, vx, vy, vz):
    out[j, 0] += ws
    out[j, 1] += ws * vx
    out[j, 2] += ws * vy
    out[j, 3] += ws * vz
    out[j, 4] += ws * ux * vx
    out[j, 5] += ws * uy * vy
    out[j, 6] += ws * uz * vz
    out[j, 7] += ws * ux * vy
    out[j, 8] += ws * ux * vz
    out[j, 9] += ws * uy * vz


@njit(cache=True, error_model="numpy")
def deposit_moments(x, ux, uy, uz, w, x_offset, out, order):
    """Accumulate density, particle flux and momentum flux on integer nodes (serial).

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions (global cells).
    ux, uy, uz : ndarray, float64 or float32, shape (n,)
        ``u = gamma v / c``.
    w : float or ndarray (n,)
        Macro-particle weight (n0 per particle per cell), no charge.
    x_offset : float
        ``i_lo - N_GHOST``.
    out : ndarray, float64, shape (n_arr, 10)
        Accumulated (+=): ``out[j, 0] = sum w S`` (density, n0), ``out[j, 1:4] = sum w S v_i``
        (particle flux, n0 c), ``out[j, 4:10] = sum w S u_i v_j`` for
        (xx, yy, zz, xy, xz, yz) (momentum flux per unit mass, n0 c^2). Ghost rows need
        folding by the caller.
    order : int
        Shape order, 1 or 2.
    """
    if order != 1 and order != 2:
        raise ValueError("deposit_moments: order must be 1 or 2")
    for p in range(x.shape[0]):
        wp = weight_at(w, p)
        uxp = np.float64(ux[p])
        uyp = np.float64(uy[p])
        uzp = np.float64(uz[p])
        g = gamma_of(uxp, uyp, uzp)
        vx = uxp / g
        vy = uyp / g
        vz = uzp / g
        xa = x[p] - x_offset
        if order == 1:
            i, s0, s1 = shape_o1(xa)
            _add_moments(out, i, wp * s0, uxp, uyp, uzp, vx, vy, vz)
            _add_moments(out, i + 1, wp * s1, uxp, uyp, uzp, vx, vy, vz)
        else:
            m, sm, s0, sp = shape_o2(xa)
            _add_moments(out, m - 1, wp * sm, uxp, uyp, uzp, vx, vy, vz)
            _add_moments(out, m, wp * s0, uxp, uyp, uzp, vx, vy, vz)
            _add_moments(out, m + 1, wp * sp, uxp, uyp, uzp, vx, vy, vz)


@njit(cache=True, parallel=True, error_model="numpy")
def kinetic_energy_sum(ux, uy, uz):
    """``sum_p (gamma_p - 1)`` in float64 (multiply by m w for the energy).

    Uses ``gamma - 1 = u^2 / (gamma + 1)`` (no cancellation for cold particles) and a fixed
    number of partial sums, so the result does not depend on the number of threads.
    """
    n = ux.shape[0]
    part = np.zeros(_N_SUM_CHUNKS)
    for c in prange(_N_SUM_CHUNKS):
        s = 0.0
        for p in range((c * n) // _N_SUM_CHUNKS, ((c + 1) * n) // _N_SUM_CHUNKS):
            uxp = np.float64(ux[p])
            uyp = np.float64(uy[p])
            uzp = np.float64(uz[p])
            u2 = uxp * uxp + uyp * uyp + uzp * uzp
            s += u2 / (1.0 + np.sqrt(1.0 + u2))
        part[c] = s
    tot = 0.0
    for c in range(_N_SUM_CHUNKS):
        tot += part[c]
    return tot


@njit(cache=True, parallel=True, error_model="numpy")
def velocity_moments(ux, uy, uz):
    """Global (unbinned) moment sums in float64, thread-count independent.

    Returns
    -------
    ndarray, float64, shape (10,)
        ``(n, sum v_x, sum v_y, sum v_z, sum u_x v_x, sum u_y v_y, sum u_z v_z,
        sum u_x v_y, sum u_x v_z, sum u_y v_z)`` with n the particle count (multiply by the
        weight for densities).
    """
    n = ux.shape[0]
    part = np.zeros((_N_SUM_CHUNKS, 10))
    for c in prange(_N_SUM_CHUNKS):
        for p in range((c * n) // _N_SUM_CHUNKS, ((c + 1) * n) // _N_SUM_CHUNKS):
            uxp = np.float64(ux[p])
            uyp = np.float64(uy[p])
            uzp = np.float64(uz[p])
            g = gamma_of(uxp, uyp, uzp)
            vx = uxp / g
            vy = uyp / g
            vz = uzp / g
            _add_moments(part, c, 1.0, uxp, uyp, uzp, vx, vy, vz)
    tot = np.zeros(10)
    for c in range(_N_SUM_CHUNKS):
        for k in range(10):
            tot[k] += part[c, k]
    return tot
