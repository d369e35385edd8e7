"""Particle boundary kernels: periodic wrapping and selection of particles leaving a domain."""

from numba import njit, prange


@njit(inline="always")
def wrapped(xp, length):
    """``xp`` brought into [0, length) (it lies less than one box outside)."""
    if xp >= length:
        return xp - length
    if xp < 0.0:
        return xp + length
    return xp


@njit(cache=True, parallel=True)
def wrap_periodic(x, length):
    """Wrap positions into [0, length) (in place); particles move less than one box per step.

    Parameters
    ----------
    x : ndarray, float64
        Positions in global cell units.
    length : float
        Box length in cells.
    """
    for p in prange(x.shape[0]):
        x[p] = wrapped(x[p], length)


@njit(cache=True)
def wrap_periodic_few(x, length):
    """:func:`wrap_periodic` for a few particles (e.g. the leavers of a domain): one
    thread, no parallel-region start-up."""
    for p in range(x.shape[0]):
        x[p] = wrapped(x[p], length)


@njit(cache=True)
def count_outside(x, lo, hi):
    """Numbers of particles with x < lo and x >= hi (positions in global cells)."""
    n_left = 0
    n_right = 0
    for p in range(x.shape[0]):
        if x[p] < lo:
            n_left += 1
        elif x[p] >= hi:
            n_right += 1
    return n_left, n_right


@njit(cache=True)
def max_abs_displacement(ux, uy, uz, move):
    """Largest |v_x| * move (cells per step) over the particles; 0 for none."""
    worst = 0.0
    for p in range(ux.shape[0]):
        g = (1.0 + ux[p] * ux[p] + uy[p] * uy[p] + uz[p] * uz[p]) ** 0.5
        d = abs(ux[p] / g) * move
        if d > worst:
            worst = d
    return worst


@njit(cache=True)
def select_leavers(x, n, lo, hi, length, left_idx, right_idx):
    """Indices of particles that left [lo, hi); wraps their positions across the box ends.

    Parameters
    ----------
    x : ndarray, float64
        Positions (global cells); live part ``x[:n]``. Positions of leavers that crossed
        the periodic box ends (x < 0 or x >= length) are wrapped in place.
    n : int
        Number of live particles.
    lo, hi : float
        Owned global cell range.
    length : float
        Box length in cells.
    left_idx, right_idx : ndarray of int64, length >= n
        Output: indices of particles leaving to the left / right neighbour.

    Returns
    -------
    (int, int)
        Numbers of left and right leavers.
    """
    n_left = 0
    n_right = 0
    for p in range(n):
        xp = x[p]
        if xp < lo:
            left_idx[n_left] = p
            n_left += 1
            if xp < 0.0:
                x[p] = xp + length
        elif xp >= hi:
            right_idx[n_right] = p
            n_right += 1
            if xp >= length:
                x[p] = xp - length
    return n_left, n_right


@njit(cache=True)
def compaction_plan(holes, n_holes, n, dst, src):
    """Moves that fill the holes left by departed particles with particles from the end.

    Parameters
    ----------
    holes : ndarray of int64, sorted ascending
        Indices of departed particles (first ``n_holes`` entries).
    n : int
        Number of live particles before removal.
    dst, src : ndarray of int64
        Output: ``arr[dst[k]] = arr[src[k]]`` for k < returned count.

    Returns
    -------
    int
        Number of moves; afterwards the first ``n - n_holes`` entries are the survivors.
    """
    n_new = n - n_holes
    m = 0
    h = 0  # next hole (ascending)
    tail = n - 1
    t_hole = n_holes - 1  # holes from the end, to skip departed particles at the tail
    while h < n_holes and holes[h] < n_new:
        while t_hole >= 0 and holes[t_hole] == tail:
            t_hole -= 1
            tail -= 1
        dst[m] = holes[h]
        src[m] = tail
        m += 1
        tail -= 1
        h += 1
    return m


@njit(cache=True)
def apply_moves(arr, dst, src, m):
    """``arr[dst[k]] = arr[src[k]]`` for k < m (rows of 1D or 2D arrays)."""
    for k in range(m):
        arr[dst[k]] = arr[src[k]]


@njit(cache=True)
def pack_rows(arr, idx, count, buf, col):
    """``buf[k, col] = arr[idx[k]]`` for k < count (float64 buffer)."""
    for k in range(count):
        buf[k, col] = arr[idx[k]]


@njit(cache=True)
def unpack_rows(buf, count, col, arr, start):
    """``arr[start + k] = buf[k, col]`` for k < count."""
    for k in range(count):
        arr[start + k] = buf[k, col]
