"""Particle boundary kernels: periodic wrapping and selection of particles leaving a domain."""

from numba import njit, prange


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
        xp = x[p]
        if xp >= length:
            x[p] = xp - length
        elif xp < 0.0:
            x[p] = xp + length


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
