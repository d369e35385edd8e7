"""Cell-sorted particle kernels: fused CIC push + current deposit, and the per-step
repair of the cell sort (docs/performance.md, "Sorted fused step").

The particles of a species are kept sorted by cell: local cell ``k`` (array node
``j = k + N_GHOST``, global left edge ``xc = x_offset + j``) owns the contiguous range
``seg[k] <= p < seg[k + 1]`` of the live arrays. Within a segment every particle sees
the same two field nodes, so the gather becomes ``F(x) = F_j + fo (F_(j+1) - F_j)`` with
``fo = x - xc`` and loop-invariant coefficients: no indexed loads, and the loop vectorises.

The deposit is reduced to per-segment sums. A particle of cell ``j`` moves to
``r = x_new - xc`` with ``-1 < r < 2`` (less than one cell per step). Writing
``L = max(-r, 0)`` and ``R = max(r - 1, 0)`` (non-zero only for particles that left the
cell), the CIC Esirkepov current of the segment is exactly::

    J_x(j - 1/2) = -cx sum L
    J_x(j + 1/2) =  cx sum (r - fo - R + L)
    J_x(j + 3/2) =  cx sum R
    J_y(j - 1)   =  cy sum w v_y L
    J_y(j)       =  cy sum w v_y (2 - (r + fo) - 2 L + R)
    J_y(j + 1)   =  cy sum w v_y ((r + fo) + L - 2 R)
    J_y(j + 2)   =  cy sum w v_y R

with ``cx = q w dx/dt``, ``cy = q w / (2 a_y)`` (and J_z alike). These are the CIC
shape differences / averages of :mod:`pic1d.kernels.deposit` summed over the segment
(``S_new`` of a particle that crossed an edge is the in-cell linear shape plus a
``(1, -2, 1)`` correction of weight L or R), so ``div J = -d rho/dt`` holds to round-off.
``fo`` and ``r`` are exact differences of the stored positions, so the charge moved is
the charge the next step's positions carry.

Per segment the kernel stores :data:`N_SUMS` sums in ``sums[k]``:
``sum d, sum L, sum R, sum cy, sum cy (r + fo), sum cy L, sum cy R`` and the same four
for z (with ``cy = w v_y``, ``cz = w v_z``), then the numbers of particles with
``r < 0`` (left movers) and ``r >= 1`` (right movers). A particle with ``r < -1`` or
``r >= 2`` (beyond the neighbouring cell: CFL broken) is reported by
:func:`plan_sort_repair`. :func:`scatter_segment_currents` turns the sums into J in a
fixed order, so results never depend on the number of threads.

After the push, :func:`plan_sort_repair` lists the moves that restore the sort (left
movers of cell k to the end of cell k-1, right movers to the start of cell k+1, stayers
that sat in those slots into the holes the movers left), and :func:`apply_moves_column`
applies them to each per-particle array. Left movers of cell 0 end up in front of the
live range and right movers of the last cell at its back, ready for migration.
"""

import math

import numpy as np
from numba import njit, prange, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import overload

from pic1d.kernels import N_GHOST
from pic1d.kernels.boris import FASTMATH as _FAST
from pic1d.kernels.boris import boris_cic, is_single, like

#: columns of the per-segment sums (see the module docstring)
N_SUMS = 13
S_D, S_L, S_R, S_Y0, S_Y1, S_YL, S_YR, S_Z0, S_Z1, S_ZL, S_ZR, S_NL, S_NR = range(N_SUMS)

#: particles handled per sub-block of a segment (size of the per-chunk scratch rows)
BLOCK = 256


def particle_weight(w, p):
    """Per-particle weight factor: ``w[p]`` for an array, 1 for ``None`` (uniform)."""
    return 1.0 if w is None else w[p]


@overload(particle_weight, inline="always")
def _ov_particle_weight(w, p):
    if isinstance(w, types.NoneType):

        def impl(w, p):
            return 1.0

    else:

        def impl(w, p):
            return np.float64(w[p])

    return impl


@njit(cache=True, error_model="numpy", fastmath=_FAST)
def _segment(x, ux, uy, uz, w, p0, p1, xc, nf, j, h, pre, post, move, deposit, s_fo, s_ig,
             s_aux, out):
    """Push (and sum the deposit of) the particles [p0, p1) of the cell with left node
    ``j`` (array index) and left edge ``xc`` (global cells); sets ``out[:N_SUMS]``.

    Blocks of :data:`BLOCK` particles are pushed by one vectorised loop (gather with the
    cell-constant coefficients ``h F_j``, ``h (F_(j+1) - F_j)``; Boris; move) that keeps
    ``fo`` and ``1/gamma`` in the scratch, then summed by a second one. The push runs in
    the precision of the momenta; positions, ``fo``, ``r`` and the sums are float64. With
    float32 momenta the push loop is split from the float64 ``fo`` and move loops so that
    it touches float32 values only (8 vector lanes instead of 4; ``s_aux`` holds the
    float32 ``fo`` and ``1/gamma``). ``fo`` and ``r = x_new - xc`` are single subtractions
    of stored values (exact), so reassociation elsewhere changes round-off only, never
    charge conservation.
    """
    cf = (like(h * nf[j, 0], ux), like(h * nf[j, 1], ux), like(h * nf[j, 2], ux),
          like(h * nf[j, 3], ux), like(h * nf[j, 4], ux), like(h * nf[j, 5], ux),
          like(h * nf[j + 1, 0] - h * nf[j, 0], ux), like(h * nf[j + 1, 1] - h * nf[j, 1], ux),
          like(h * nf[j + 1, 2] - h * nf[j, 2], ux), like(h * nf[j + 1, 3] - h * nf[j, 3], ux),
          like(h * nf[j + 1, 4] - h * nf[j, 4], ux), like(h * nf[j + 1, 5] - h * nf[j, 5], ux))
    one = like(1.0, ux)
    move_t = like(move, ux)
    sd = 0.0
    sl = 0.0
    sr = 0.0
    y0 = 0.0
    y1 = 0.0
    yl = 0.0
    yr = 0.0
    z0 = 0.0
    z1 = 0.0
    zl = 0.0
    zr = 0.0
    nl = 0.0
    nr = 0.0
    for b0 in range(p0, p1, BLOCK):
        m = min(b0 + BLOCK, p1) - b0
        xs = x[b0 : b0 + m]
        uxs = ux[b0 : b0 + m]
        uys = uy[b0 : b0 + m]
        uzs = uz[b0 : b0 + m]
        fos = s_fo[:m]
        igs = s_ig[:m]
        if is_single(ux):
            # float32: the push loop touches float32 values only (8 lanes); fo and the
            # move are done by float64 loops around it
            f32 = s_aux.view(np.float32)
            fo32 = f32[:m]
            st32 = f32[BLOCK : BLOCK + m]
            for k in range(m):
                fo = xs[k] - xc
                fos[k] = fo
                fo32[k] = like(fo, ux)
            for k in range(m):
                fot = fo32[k]
                vx, vy, vz = boris_cic(fot, uxs[k], uys[k], uzs[k], cf, pre, post)
                uxs[k] = vx
                uys[k] = vy
                uzs[k] = vz
                st32[k] = one / math.sqrt(one + vx * vx + vy * vy + vz * vz)
            for k in range(m):
                inv_g = np.float64(st32[k])
                igs[k] = inv_g
                xs[k] = xs[k] + np.float64(uxs[k]) * (move * inv_g)
        else:
            for k in range(m):
                fo = xs[k] - xc
                fos[k] = fo
                fot = like(fo, ux)
                vx, vy, vz = boris_cic(fot, uxs[k], uys[k], uzs[k], cf, pre, post)
                uxs[k] = vx
                uys[k] = vy
                uzs[k] = vz
                inv_g = one / math.sqrt(one + vx * vx + vy * vy + vz * vz)
                xs[k] = xs[k] + vx * (move_t * inv_g)
                igs[k] = inv_g
        if deposit:
            for k in range(m):
                r = xs[k] - xc
                fo = fos[k]
                wk = particle_weight(w, b0 + k)
                cy = wk * np.float64(uys[k]) * igs[k]
                cz = wk * np.float64(uzs[k]) * igs[k]
                lw = max(-r, 0.0)
                rw = max(r - 1.0, 0.0)
                sd += wk * (r - fo)
                sl += wk * lw
                sr += wk * rw
                rf = r + fo
                y0 += cy
                y1 += cy * rf
                yl += cy * lw
                yr += cy * rw
                z0 += cz
                z1 += cz * rf
                zl += cz * lw
                zr += cz * rw
                nl += 1.0 if r < 0.0 else 0.0
                nr += 1.0 if r >= 1.0 else 0.0
        else:
            for k in range(m):
                r = xs[k] - xc
                nl += 1.0 if r < 0.0 else 0.0
                nr += 1.0 if r >= 1.0 else 0.0
    out[S_D] = sd
    out[S_L] = sl
    out[S_R] = sr
    out[S_Y0] = y0
    out[S_Y1] = y1
    out[S_YL] = yl
    out[S_YR] = yr
    out[S_Z0] = z0
    out[S_Z1] = z1
    out[S_ZL] = zl
    out[S_ZR] = zr
    out[S_NL] = nl
    out[S_NR] = nr


@njit(cache=True, parallel=True, error_model="numpy")
def push_deposit_sorted(x, ux, uy, uz, w, seg, node_fields, x_offset, qm_half_dt, pre, post,
                        move, deposit, sums, scratch):
    """Fused Boris push and CIC current-deposit sums of one cell-sorted species.

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions (global cells), sorted by cell as described by ``seg``; advanced in
        place by ``(u_x/gamma) move`` (not wrapped).
    ux, uy, uz : ndarray, float64 or float32, shape (n,)
        ``u = gamma v / c``, advanced in place from t - dt/2 to t + dt/2. The Boris push
        runs in this precision (float32: float32 arithmetic, as Tristan-MP's default
        single precision; relative round-off ~1e-7 per step).
    w : ndarray (n,) or None
        Per-particle weight factor (relative to the species charge-weight), or None.
    seg : ndarray, int64, shape (n_local + 1,)
        Segment offsets: local cell k owns particles ``seg[k] .. seg[k+1] - 1``.
    node_fields : ndarray, float64, shape (n_arr, 6)
        Physical E, B on integer nodes (:func:`pic1d.kernels.fields.collocate_fields`).
    x_offset : float
        ``i_lo - N_GHOST``.
    qm_half_dt : float
        ``(q/m) dt / 2``.
    pre, post : tuple of 3 floats, or None
        Co-moving compression factors (as :func:`pic1d.kernels.push.push_boris`), in the
        precision of the momenta (float32 factors keep float32 arithmetic); None when
        they are all 1 (a specialisation without the multiplications).
    move : float
        ``dt / (a_x dx)``.
    deposit : bool
        Compute the current sums (False: tracers and frozen fields; only the mover
        counts are filled).
    sums : ndarray, float64, shape (n_local, N_SUMS)
        Output: per-segment sums (module docstring).
    scratch : ndarray, float64, shape (n_chunks, 3, BLOCK)
        Per-chunk scratch; the cells are cut into ``n_chunks`` contiguous ranges run in
        parallel. Results do not depend on ``n_chunks``.
    """
    n_cells = seg.shape[0] - 1
    n_chunks = scratch.shape[0]
    for ch in prange(n_chunks):
        k0 = (ch * n_cells) // n_chunks
        k1 = ((ch + 1) * n_cells) // n_chunks
        for k in range(k0, k1):
            j = k + N_GHOST
            _segment(x, ux, uy, uz, w, seg[k], seg[k + 1], x_offset + j, node_fields, j,
                     qm_half_dt, pre, post, move, deposit, scratch[ch, 0], scratch[ch, 1],
                     scratch[ch, 2], sums[k])


@njit(cache=True, error_model="numpy")
def scatter_segment_currents(sums, qw, dx_over_dt, inv_a_y, inv_a_z, j_x, j_y, j_z):
    """Add the currents of the per-segment sums to J' (cell order: deterministic).

    Parameters
    ----------
    sums : ndarray, float64, shape (n_local, N_SUMS)
        From :func:`push_deposit_sorted`.
    qw : float
        Species charge times weight (e n0 per particle per cell).
    dx_over_dt : float
        ``dx / dt``.
    inv_a_y, inv_a_z : float
        ``1 / a_y``, ``1 / a_z`` at t + dt/2.
    j_x, j_y, j_z : ndarray, float64, shape (n_arr,)
        J' on half nodes (x) and integer nodes (y, z), accumulated; ghosts need folding.
    """
    cx = qw * dx_over_dt
    cy = 0.5 * qw * inv_a_y
    cz = 0.5 * qw * inv_a_z
    for k in range(sums.shape[0]):
        s = sums[k]
        j = k + N_GHOST
        j_x[j - 1] -= cx * s[S_L]
        j_x[j] += cx * (s[S_D] - s[S_R] + s[S_L])
        j_x[j + 1] += cx * s[S_R]
        j_y[j - 1] += cy * s[S_YL]
        j_y[j] += cy * (2.0 * s[S_Y0] - s[S_Y1] - 2.0 * s[S_YL] + s[S_YR])
        j_y[j + 1] += cy * (s[S_Y1] + s[S_YL] - 2.0 * s[S_YR])
        j_y[j + 2] += cy * s[S_YR]
        j_z[j - 1] += cz * s[S_ZL]
        j_z[j] += cz * (2.0 * s[S_Z0] - s[S_Z1] - 2.0 * s[S_ZL] + s[S_ZR])
        j_z[j + 1] += cz * (s[S_Z1] + s[S_ZL] - 2.0 * s[S_ZR])
        j_z[j + 2] += cz * s[S_ZR]


@njit(cache=True, parallel=True)
def plan_sort_repair(x, seg, sums, x_offset, new_seg, move_start, src, dst, far):
    """Moves that restore the cell sort after a push (see the module docstring).

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions after the push (not wrapped).
    seg : ndarray, int64, shape (n_local + 1,)
        Segment offsets before the push.
    sums : ndarray, float64, shape (n_local, N_SUMS)
        Mover counts ``sums[:, S_NL]``, ``sums[:, S_NR]`` of the push.
    x_offset : float
        ``i_lo - N_GHOST``.
    new_seg : ndarray, int64, shape (n_local + 1,)
        Output: offsets after the repair. ``new_seg[0]`` is the number of left movers of
        cell 0 (placed at the front, ``[0, new_seg[0])``) and ``n - new_seg[n_local]``
        the right movers of the last cell (placed at the back).
    move_start : ndarray, int64, shape (n_local + 1,)
        Scratch: where each segment's moves start in ``src``/``dst``.
    src, dst : ndarray, int64, length >= 2 * (number of movers)
        Output: move particle ``src[m]`` to ``dst[m]``; unused entries are -1.
    far : ndarray, int64, shape (n_local,)
        Output: 1 for cells with a particle that moved a cell or more (then the plan is
        invalid and the step must stop), else 0.

    Returns
    -------
    int
        Number of entries of ``src``/``dst`` used (including the -1 entries).
    """
    n_cells = seg.shape[0] - 1
    move_start[0] = 0
    for k in range(n_cells):
        move_start[k + 1] = move_start[k] + 2 * (int(sums[k, S_NL]) + int(sums[k, S_NR]))
    for k in range(n_cells):
        nr_prev = int(sums[k - 1, S_NR]) if k > 0 else 0
        new_seg[k] = seg[k] + int(sums[k, S_NL]) - nr_prev
    new_seg[n_cells] = seg[n_cells] - int(sums[n_cells - 1, S_NR])
    total = move_start[n_cells]
    for k in prange(n_cells):
        far[k] = 0
        nl = int(sums[k, S_NL])
        nr = int(sums[k, S_NR])
        m0 = move_start[k]
        m_end = move_start[k + 1]
        if nl + nr > 0:
            s0 = seg[k]
            s1 = seg[k + 1]
            xc = x_offset + (k + N_GHOST)
            xc1 = xc + 1.0
            nr_prev = int(sums[k - 1, S_NR]) if k > 0 else 0
            nl_next = int(sums[k + 1, S_NL]) if k + 1 < n_cells else 0
            left_to = s0 - nr_prev  # first slot of the left movers (end of cell k-1)
            right_to = s1 + nl_next - nr  # first slot of the right movers (start of k+1)
            mid0 = s0 + nl
            mid1 = s1 - nr
            # pass 1: movers go to their new cell (chunks without movers are skipped by a
            # vectorisable test); their old positions are kept in order in src[m0:m]
            m = m0
            for c0 in range(s0, s1, _SCAN):
                c1 = min(c0 + _SCAN, s1)
                xs = x[c0:c1]
                mask = np.uint64(0)  # bit q: particle c0 + q left the cell (vectorised)
                for q in range(xs.shape[0]):
                    v = xs[q]
                    mask |= np.uint64((v < xc) | (v >= xc1)) << np.uint64(q)
                while mask != 0:  # the movers only, by their bits
                    p = c0 + int(trailing_zeros(mask))
                    mask &= mask - np.uint64(1)
                    r = x[p] - xc
                    if r < -1.0 or r >= 2.0:
                        far[k] = 1
                    if m - m0 == nl + nr:  # more movers than counted: corrupt state
                        far[k] = 1
                        break
                    go_l = r < 0.0
                    src[m] = p
                    dst[m] = left_to if go_l else right_to
                    left_to += go_l
                    right_to += not go_l
                    m += 1
            n_mov = m - m0
            if n_mov != nl + nr or far[k]:
                far[k] = 1  # the plan is invalid; the caller raises
                m0 = m
                n_mov = 0
                mid0 = s0
                mid1 = s1
            # pass 2: stayers in the edge slots move into the holes (movers' old
            # positions inside [mid0, mid1)); both lists come out of the mover list
            i_m = m0  # walks the mover list (sorted by old position)
            i_h = m0  # next hole candidate
            for q in range((mid0 - s0) + (s1 - mid1)):  # the edge slots, in order
                p = s0 + q if s0 + q < mid0 else mid1 + (q - (mid0 - s0))
                while i_m < m0 + n_mov and src[i_m] < p:
                    i_m += 1
                if i_m < m0 + n_mov and src[i_m] == p:
                    continue
                while src[i_h] < mid0:
                    i_h += 1
                src[m] = p
                dst[m] = src[i_h]
                i_h += 1
                m += 1
            m0 = m
        while m0 < m_end:
            src[m0] = -1
            dst[m0] = -1
            m0 += 1
    return total


#: particles per chunk of the mover scan of :func:`plan_sort_repair` (one bit each in a
#: uint64 mask)
_SCAN = 64


@njit(cache=True, parallel=True)
def _gather_moved(arr, src, n_moves, tmp):
    for m in prange(n_moves):
        if src[m] >= 0:
            tmp[m] = arr[src[m]]


@njit(cache=True, parallel=True)
def _scatter_moved(arr, dst, n_moves, tmp):
    for m in prange(n_moves):
        if dst[m] >= 0:
            arr[dst[m]] = tmp[m]


@njit(cache=True)
def apply_moves_column(arr, src, dst, n_moves, tmp):
    """``arr[dst[m]] = arr_old[src[m]]`` for the planned moves (entries -1 skipped).

    The gather and the scatter are separate parallel kernels: fused into one loop (as
    numba's parfor fusion would do with two loops here) a slot could be overwritten before
    it is read.

    Parameters
    ----------
    arr : ndarray, 1D
        A per-particle column.
    src, dst : ndarray, int64
        From :func:`plan_sort_repair` (each slot appears at most once in each).
    n_moves : int
        Entries used.
    tmp : ndarray, same dtype as ``arr``, length >= n_moves
        Scratch.
    """
    _gather_moved(arr, src, n_moves, tmp)
    _scatter_moved(arr, dst, n_moves, tmp)


@njit(cache=True, parallel=True)
def _gather_moved_xu(x, ux, uy, uz, src, n_moves, tmp_x, tmp_u):
    for m in prange(n_moves):
        p = src[m]
        if p >= 0:
            tmp_x[m] = x[p]
            tmp_u[0, m] = ux[p]
            tmp_u[1, m] = uy[p]
            tmp_u[2, m] = uz[p]


@njit(cache=True, parallel=True)
def _scatter_moved_xu(x, ux, uy, uz, dst, n_moves, tmp_x, tmp_u):
    for m in prange(n_moves):
        p = dst[m]
        if p >= 0:
            x[p] = tmp_x[m]
            ux[p] = tmp_u[0, m]
            uy[p] = tmp_u[1, m]
            uz[p] = tmp_u[2, m]


@njit(cache=True)
def apply_moves_xu(x, ux, uy, uz, src, dst, n_moves, tmp_x, tmp_u):
    """:func:`apply_moves_column` for the four phase-space columns at once (two parallel
    loops instead of eight).

    Parameters
    ----------
    x : ndarray, float64
        Positions.
    ux, uy, uz : ndarray, float64 or float32
        Momenta.
    src, dst : ndarray, int64
        From :func:`plan_sort_repair`.
    n_moves : int
        Entries used.
    tmp_x : ndarray, float64, length >= n_moves
    tmp_u : ndarray, dtype of ``ux``, shape (3, >= n_moves)
        Scratch.
    """
    _gather_moved_xu(x, ux, uy, uz, src, n_moves, tmp_x, tmp_u)
    _scatter_moved_xu(x, ux, uy, uz, dst, n_moves, tmp_x, tmp_u)


@njit(cache=True)
def cell_counts(x, x_offset, n_cells, counts):
    """Particles per local cell (``counts[k]``, k = floor(x - x_offset) - N_GHOST);
    returns False if a particle lies outside the local cells."""
    counts[:] = 0
    for p in range(x.shape[0]):
        k = int(math.floor(x[p] - x_offset)) - N_GHOST
        if k < 0 or k >= n_cells:
            return False
        counts[k] += 1
    return True


@njit(cache=True)
def is_cell_sorted(x, x_offset):
    """True if the cells ``floor(x - x_offset)`` never decrease along the array."""
    last = -(1 << 62)
    for p in range(x.shape[0]):
        k = int(math.floor(x[p] - x_offset))
        if k < last:
            return False
        last = k
    return True
