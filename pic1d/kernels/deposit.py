"""Charge-conserving current deposit, charge deposit and single-domain periodic halos.

Current (conventions.md, "Current deposit"): for every particle the *new* position ``x``
(after push and wrap/migration) and the displacement ``delta = (u_x/gamma) * move``
(exactly the one the push used) give ``x_old = x - delta``, which may lie in a ghost cell.
With shapes ``S_old``, ``S_new`` of the chosen order on integer nodes:

* ``J_x`` (half nodes, array index j = half node j + 1/2) from the 1D Esirkepov recursion
  ``J_x[j] - J_x[j-1] = -(dx/dt) q w (S_new[j] - S_old[j])``, starting from zero to the
  left of the stencil (so ``(d_x[j] - d_x[j-1]) / dx = rho[j]`` is conserved exactly by
  ``d_x -= dt J_x``);
* ``J_y, J_z`` (integer nodes) ``+= q w (v_{y,z} / a_{y,z}) (S_old + S_new) / 2``.

J is the co-moving current J' in code units (e n0 c). Particles must move less than one
cell per step. Threading: the particles are cut into ``n_chunks = buffers.shape[0]``
contiguous ranges; chunks are deposited in parallel into their own buffer and the buffers
are then summed in chunk order, so the result depends on ``n_chunks`` but never on the
number of threads.
"""

import numpy as np
from numba import njit, prange

from pic1d.kernels import N_GHOST
from pic1d.kernels.interp import inv_gamma, shape_o1, shape_o2, weight_at


@njit(cache=True, error_model="numpy")
def _deposit_chunk_o1(x, ux, uy, uz, qw, move, dx_over_dt, inv_a_y, inv_a_z, x_offset,
                      buf, p0, p1):
    """CIC Esirkepov deposit of particles [p0, p1) into ``buf`` (shape (3, n_arr)).

    A particle either stays in its cell (2-node stencil) or crosses one cell edge
    (3-node stencil); the two cases are written out separately. Array coordinates are
    positive (ghost cells), so truncation is the floor.
    """
    for p in range(p0, p1):
        q = weight_at(qw, p)
        uxp = np.float64(ux[p])
        uyp = np.float64(uy[p])
        uzp = np.float64(uz[p])
        inv_g = inv_gamma(uxp, uyp, uzp)
        delta = uxp * (move * inv_g)  # == displacement(...), bitwise
        xn = x[p] - x_offset
        xo = (x[p] - delta) - x_offset
        i_n = int(xn)
        i_o = int(xo)
        fn = xn - i_n
        fo = xo - i_o
        cx = -dx_over_dt * q
        cy = 0.5 * q * uyp * inv_g * inv_a_y
        cz = 0.5 * q * uzp * inv_g * inv_a_z
        if i_n == i_o:
            # S_new - S_old on node i is fo - fn; J_x(i + 1/2) is its running sum
            buf[0, i_n] += cx * (fo - fn)
            s0 = 2.0 - fn - fo
            s1 = fn + fo
            buf[1, i_n] += cy * s0
            buf[1, i_n + 1] += cy * s1
            buf[2, i_n] += cz * s0
            buf[2, i_n + 1] += cz * s1
        elif i_n > i_o:  # crossed the edge i_n to the right
            lo = i_o
            # old weights (1 - fo, fo, 0), new weights (0, 1 - fn, fn) on lo, lo+1, lo+2
            w0 = -(1.0 - fo)
            buf[0, lo] += cx * w0
            buf[0, lo + 1] += cx * (w0 + (1.0 - fn) - fo)
            buf[1, lo] += cy * (1.0 - fo)
            buf[1, lo + 1] += cy * (1.0 - fn + fo)
            buf[1, lo + 2] += cy * fn
            buf[2, lo] += cz * (1.0 - fo)
            buf[2, lo + 1] += cz * (1.0 - fn + fo)
            buf[2, lo + 2] += cz * fn
        else:  # crossed the edge i_o to the left
            lo = i_n
            # new weights (1 - fn, fn, 0), old weights (0, 1 - fo, fo)
            w0 = 1.0 - fn
            buf[0, lo] += cx * w0
            buf[0, lo + 1] += cx * (w0 + fn - (1.0 - fo))
            buf[1, lo] += cy * (1.0 - fn)
            buf[1, lo + 1] += cy * (fn + 1.0 - fo)
            buf[1, lo + 2] += cy * fo
            buf[2, lo] += cz * (1.0 - fn)
            buf[2, lo + 1] += cz * (fn + 1.0 - fo)
            buf[2, lo + 2] += cz * fo


@njit(cache=True, error_model="numpy")
def _deposit_chunk_o2(x, ux, uy, uz, qw, move, dx_over_dt, inv_a_y, inv_a_z, x_offset,
                      buf, p0, p1):
    """TSC Esirkepov deposit of particles [p0, p1) into ``buf`` (shape (3, n_arr))."""
    for p in range(p0, p1):
        q = weight_at(qw, p)
        xp = x[p]
        inv_g = inv_gamma(ux[p], uy[p], uz[p])
        delta = np.float64(ux[p]) * (move * inv_g)  # == displacement(...), bitwise
        m_n, nm, n0, np_ = shape_o2(xp - x_offset)
        m_o, om, o0, op = shape_o2((xp - delta) - x_offset)
        mlo = min(m_n, m_o)
        lo = mlo - 1
        # 4-node stencil lo .. lo+3; the 3 weights start at lo + s, s in {0, 1}
        sn = np.float64(m_n - mlo)
        so = np.float64(m_o - mlo)
        an = 1.0 - sn
        ao = 1.0 - so
        sn0 = an * nm
        sn1 = an * n0 + sn * nm
        sn2 = an * np_ + sn * n0
        sn3 = sn * np_
        so0 = ao * om
        so1 = ao * o0 + so * om
        so2 = ao * op + so * o0
        so3 = so * op
        cx = -dx_over_dt * q
        c0 = sn0 - so0
        c1 = c0 + (sn1 - so1)
        c2 = c1 + (sn2 - so2)
        buf[0, lo] += cx * c0
        buf[0, lo + 1] += cx * c1
        buf[0, lo + 2] += cx * c2
        cy = 0.5 * q * (np.float64(uy[p]) * inv_g) * inv_a_y
        cz = 0.5 * q * (np.float64(uz[p]) * inv_g) * inv_a_z
        buf[1, lo] += cy * (sn0 + so0)
        buf[1, lo + 1] += cy * (sn1 + so1)
        buf[1, lo + 2] += cy * (sn2 + so2)
        buf[1, lo + 3] += cy * (sn3 + so3)
        buf[2, lo] += cz * (sn0 + so0)
        buf[2, lo + 1] += cz * (sn1 + so1)
        buf[2, lo + 2] += cz * (sn2 + so2)
        buf[2, lo + 3] += cz * (sn3 + so3)


@njit(cache=True, parallel=True, error_model="numpy")
def deposit_current(x, ux, uy, uz, qw, move, dx_over_dt, inv_a_y, inv_a_z, x_offset,
                    j_x, j_y, j_z, buffers, order):
    """Charge-conserving (Esirkepov) current deposit of one species; adds into j_*.

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        New positions x^{n+1} (global cells), after the caller's wrap/migration.
    ux, uy, uz : ndarray, float64 or float32, shape (n,)
        Momenta u^{n+1/2} (``gamma v / c``) used by the push that produced ``x``.
    qw : float or ndarray (n,)
        Charge times weight, ``q w`` (e n0 per particle per cell).
    move : float
        ``dt / (a_x dx)`` exactly as passed to the push (x_old = x - (u_x/gamma) move).
    dx_over_dt : float
        ``dx / dt`` (c): converts the charge flux per step to J_x.
    inv_a_y, inv_a_z : float
        ``1 / a_y``, ``1 / a_z`` at t^{n+1/2} (co-moving current J'_{y,z} = q w v/a).
    x_offset : float
        ``i_lo - N_GHOST`` (array coordinate ``xa = x - x_offset``).
    j_x : ndarray, float64, shape (n_arr,)
        J'_x on half nodes (index j = half node j + 1/2); accumulated (+=).
    j_y, j_z : ndarray, float64, shape (n_arr,)
        J'_y, J'_z on integer nodes; accumulated (+=).
    buffers : ndarray, float64, shape (n_chunks, 3, n_arr)
        Scratch, one (J_x, J_y, J_z) buffer per chunk; overwritten.
    order : int
        Shape order, 1 or 2 (must match the push).

    Notes
    -----
    Ghost-cell contributions are left in the ghosts of j_*: fold them afterwards
    (:func:`fold_ghosts_periodic` or the MPI halo exchange).
    """
    if order != 1 and order != 2:
        raise ValueError("deposit_current: order must be 1 or 2")
    n = x.shape[0]
    n_chunks = buffers.shape[0]
    n_arr = buffers.shape[2]
    for c in prange(n_chunks):
        for k in range(3):
            for j in range(n_arr):
                buffers[c, k, j] = 0.0
        p0 = (c * n) // n_chunks
        p1 = ((c + 1) * n) // n_chunks
        if order == 1:
            _deposit_chunk_o1(x, ux, uy, uz, qw, move, dx_over_dt, inv_a_y, inv_a_z,
                              x_offset, buffers[c], p0, p1)
        else:
            _deposit_chunk_o2(x, ux, uy, uz, qw, move, dx_over_dt, inv_a_y, inv_a_z,
                              x_offset, buffers[c], p0, p1)
    for j in prange(n_arr):
        sx = 0.0
        sy = 0.0
        sz = 0.0
        for c in range(n_chunks):
            sx += buffers[c, 0, j]
            sy += buffers[c, 1, j]
            sz += buffers[c, 2, j]
        j_x[j] += sx
        j_y[j] += sy
        j_z[j] += sz


@njit(cache=True, error_model="numpy")
def deposit_charge(x, qw, x_offset, rho, order):
    """Charge density on integer nodes, ``rho[j] += sum_p q w S(xa_p - j)`` (serial).

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions (global cells).
    qw : float or ndarray (n,)
        Charge times weight (e n0).
    x_offset : float
        ``i_lo - N_GHOST``.
    rho : ndarray, float64, shape (n_arr,)
        Integer-node charge density (e n0), accumulated (+=); ghosts need folding.
    order : int
        Shape order, 1 or 2.
    """
    if order == 1:
        for p in range(x.shape[0]):
            q = weight_at(qw, p)
            i, w0, w1 = shape_o1(x[p] - x_offset)
            rho[i] += q * w0
            rho[i + 1] += q * w1
    elif order == 2:
        for p in range(x.shape[0]):
            q = weight_at(qw, p)
            m, wm, w0, wp = shape_o2(x[p] - x_offset)
            rho[m - 1] += q * wm
            rho[m] += q * w0
            rho[m + 1] += q * wp
    else:
        raise ValueError("deposit_charge: order must be 1 or 2")


@njit(cache=True, error_model="numpy")
def fold_ghosts_periodic(a, n_local):
    """Add ghost values onto their periodic partners, then zero the ghosts (in place).

    Parameters
    ----------
    a : ndarray, shape (n_local + 2 N_GHOST,)
        Integer-node or half-node array (same index arithmetic): left ghost j goes to
        ``j + n_local``, right ghost j to ``j - n_local``. Requires ``n_local >= N_GHOST``.
    n_local : int
        Number of interior cells.
    """
    for j in range(N_GHOST):
        a[j + n_local] += a[j]
        a[j] = 0.0
    for j in range(N_GHOST + n_local, n_local + 2 * N_GHOST):
        a[j - n_local] += a[j]
        a[j] = 0.0


@njit(cache=True, error_model="numpy")
def fill_ghosts_periodic(a, n_local):
    """Copy periodic images of interior values into the ghosts (in place).

    Parameters
    ----------
    a : ndarray, shape (n_local + 2 N_GHOST,)
        Integer-node or half-node array. Requires ``n_local >= N_GHOST``.
    n_local : int
        Number of interior cells.
    """
    for j in range(N_GHOST):
        a[j] = a[j + n_local]
    for j in range(N_GHOST + n_local, n_local + 2 * N_GHOST):
        a[j] = a[j - n_local]
