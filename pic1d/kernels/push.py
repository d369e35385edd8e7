"""Relativistic Boris push with the exact co-moving compression factors (PHYSICS.md 2.2).

One step for every particle:

1. gather physical E, B at ``xa = x - x_offset`` from the collocated ``node_fields``
   with the shape of ``order`` (1: CIC, 2: TSC);
2. ``u_i *= pre_i``  (``pre_i = a_i(t - dt/2) / a_i(t)``);
3. Boris: ``u- = u + h E``; ``t = h B / gamma(u-)``; ``s = 2 t / (1 + t^2)``;
   ``u' = u- + u- x t``; ``u+ = u- + u' x s``; ``u = u+ + h E`` with ``h = (q/m) dt / 2``;
4. ``u_i *= post_i``  (``post_i = a_i(t) / a_i(t + dt/2)``);
5. ``x += u_x (move / gamma)`` (:func:`pic1d.kernels.interp.displacement`) with gamma
   of the new (stored) u and
   ``move = dt / (a_x dx)`` (cells per unit of v_x / c).

No wrapping is done here. The displacement is computed from the momenta *as stored*
(after rounding to the momentum dtype), with :func:`pic1d.kernels.interp.displacement`, so
:func:`pic1d.kernels.deposit.deposit_current` reconstructs ``x_old`` bitwise.
"""

import numpy as np
from numba import njit, prange

from pic1d.kernels.interp import displacement, gather_o1, gather_o2


@njit(inline="always")
def boris_rotate(ux, uy, uz, tx, ty, tz, g):
    """The Boris rotation of ``u-`` by ``t = h B / gamma-`` with ``s = g t``,
    ``g = 2 / (1 + t^2)``: ``u' = u- + u- x t``, ``u+ = u- + u' x s`` (inlined, so it runs
    in the caller's precision and fast-math flags)."""
    upx = ux + (uy * tz - uz * ty)
    upy = uy + (uz * tx - ux * tz)
    upz = uz + (ux * ty - uy * tx)
    sx = g * tx
    sy = g * ty
    sz = g * tz
    return (ux + (upy * sz - upz * sy), uy + (upz * sx - upx * sz),
            uz + (upx * sy - upy * sx))  # fmt: skip


@njit(cache=True, error_model="numpy")
def boris_kick_rotate(ux, uy, uz, ex, ey, ez, bx, by, bz, h):
    """Relativistic Boris update of one momentum (float64 in, float64 out).

    Parameters
    ----------
    ux, uy, uz : float
        ``gamma v / c`` before the push (already multiplied by the ``pre`` factors).
    ex, ey, ez, bx, by, bz : float
        Physical fields at the particle (code units, m_e c omega_pe0 / e).
    h : float
        ``(q/m) dt / 2`` (code units).

    Returns
    -------
    ux, uy, uz : float
        Momentum after the full step (before the ``post`` factors).
    """
    umx = ux + h * ex
    umy = uy + h * ey
    umz = uz + h * ez
    f = h / np.sqrt(1.0 + umx * umx + umy * umy + umz * umz)
    tx = f * bx
    ty = f * by
    tz = f * bz
    g = 2.0 / (1.0 + tx * tx + ty * ty + tz * tz)
    umx, umy, umz = boris_rotate(umx, umy, umz, tx, ty, tz, g)
    return umx + h * ex, umy + h * ey, umz + h * ez


@njit(cache=True, parallel=True, error_model="numpy")
def push_boris_o1(x, ux, uy, uz, node_fields, x_offset, qm_half_dt,
                  pre_x, pre_y, pre_z, post_x, post_y, post_z, move):
    """:func:`push_boris` specialised to the CIC (order 1) gather."""
    for p in prange(x.shape[0]):
        ex, ey, ez, bx, by, bz = gather_o1(node_fields, x[p] - x_offset)
        vx, vy, vz = boris_kick_rotate(
            np.float64(ux[p]) * pre_x, np.float64(uy[p]) * pre_y, np.float64(uz[p]) * pre_z,
            ex, ey, ez, bx, by, bz, qm_half_dt)
        ux[p] = vx * post_x
        uy[p] = vy * post_y
        uz[p] = vz * post_z
        x[p] += displacement(ux[p], uy[p], uz[p], move)


@njit(cache=True, parallel=True, error_model="numpy")
def push_boris_o2(x, ux, uy, uz, node_fields, x_offset, qm_half_dt,
                  pre_x, pre_y, pre_z, post_x, post_y, post_z, move):
    """:func:`push_boris` specialised to the TSC (order 2) gather."""
    for p in prange(x.shape[0]):
        ex, ey, ez, bx, by, bz = gather_o2(node_fields, x[p] - x_offset)
        vx, vy, vz = boris_kick_rotate(
            np.float64(ux[p]) * pre_x, np.float64(uy[p]) * pre_y, np.float64(uz[p]) * pre_z,
            ex, ey, ez, bx, by, bz, qm_half_dt)
        ux[p] = vx * post_x
        uy[p] = vy * post_y
        uz[p] = vz * post_z
        x[p] += displacement(ux[p], uy[p], uz[p], move)


@njit(cache=True, error_model="numpy")
def push_boris(x, ux, uy, uz, node_fields, x_offset, qm_half_dt,
               pre_x, pre_y, pre_z, post_x, post_y, post_z, move, order):
    """Boris push of one species by one time step (in place).

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions, global cell units; advanced by ``(u_x/gamma) * move`` (not wrapped).
    ux, uy, uz : ndarray, float64 or float32, shape (n,)
        ``u = gamma v / c`` at ``t - dt/2`` on input, ``t + dt/2`` on output.
    node_fields : ndarray, float64, shape (n_arr, 6)
        Physical (E_x, E_y, E_z, B_x, B_y, B_z) at time t on integer nodes, code units,
        from :func:`pic1d.kernels.fields.collocate_fields`. Must be valid on every node a
        particle shape touches (array indices ``floor(xa) - 1 ... floor(xa) + 2``).
    x_offset : float
        ``i_lo - N_GHOST``: array coordinate ``xa = x - x_offset``.
    qm_half_dt : float
        ``(q/m) dt / 2`` (q in e, m in m_e, dt in 1/omega_pe0).
    pre_x, pre_y, pre_z : float
        ``a_i(t - dt/2) / a_i(t)``, applied before the Boris step.
    post_x, post_y, post_z : float
        ``a_i(t) / a_i(t + dt/2)``, applied after the Boris step.
    move : float
        ``dt / (a_x dx)``: cells moved per unit ``v_x / c``.
    order : int
        Shape order, 1 (CIC) or 2 (TSC).
    """
    if order == 1:
        push_boris_o1(x, ux, uy, uz, node_fields, x_offset, qm_half_dt,
                      pre_x, pre_y, pre_z, post_x, post_y, post_z, move)
    elif order == 2:
        push_boris_o2(x, ux, uy, uz, node_fields, x_offset, qm_half_dt,
                      pre_x, pre_y, pre_z, post_x, post_y, post_z, move)
    else:
        raise ValueError("push_boris: order must be 1 or 2")
