"""1-2-1 binomial (digital) filter applied to the deposited current (PHYSICS.md 2.4).

One pass: ``a[j] <- a[j-1]/4 + a[j]/2 + a[j+1]/4``; transfer function ``cos^2(k dx/2)``;
N passes equal convolution with ``C(2N, N + m) / 4^N`` (m = -N .. N), a near-Gaussian of
variance N/2 cells^2. The index arithmetic is the same for integer- and half-node arrays.
"""

from numba import njit

from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import fill_ghosts_periodic


@njit(cache=True)
def binomial_pass(a, tmp, j_lo, j_hi):
    """One 1-2-1 pass on array indices [j_lo, j_hi) (in place).

    Parameters
    ----------
    a : ndarray, float64, shape (n_arr,)
        Field to filter; reads ``a[j_lo - 1]`` and ``a[j_hi]`` (one cell outside), which
        must be valid (ghosts filled). Values outside [j_lo, j_hi) are not modified.
    tmp : ndarray, float64, shape (n_arr,)
        Scratch (overwritten on [j_lo - 1, j_hi + 1)).
    j_lo, j_hi : int
        Range to update; ``1 <= j_lo``, ``j_hi <= n_arr - 1``.
    """
    for j in range(j_lo - 1, j_hi + 1):
        tmp[j] = a[j]
    for j in range(j_lo, j_hi):
        a[j] = 0.25 * (tmp[j - 1] + tmp[j + 1]) + 0.5 * tmp[j]


@njit(cache=True)
def binomial_passes_periodic(a, tmp, n_passes, n_local):
    """``n_passes`` 1-2-1 passes of a periodic single-domain array (in place).

    The periodic ghosts are refreshed before every pass and once more at the end, so on
    return the ghosts hold the periodic images of the filtered interior.

    Parameters
    ----------
    a : ndarray, float64, shape (n_local + 2 N_GHOST,)
        Field with folded (complete) interior values.
    tmp : ndarray, float64, same shape
        Scratch.
    n_passes : int
        Number of passes (0 allowed).
    n_local : int
        Number of interior cells (``>= N_GHOST``).
    """
    for _ in range(n_passes):
        fill_ghosts_periodic(a, n_local)
        binomial_pass(a, tmp, N_GHOST, N_GHOST + n_local)
    fill_ghosts_periodic(a, n_local)
