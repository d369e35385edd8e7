"""Kernels of the Appendix-C procedures (wave reset): bulk-frame boost and weighted sums."""

import numpy as np
from numba import njit

from pic1d.kernels.interp import gamma_of, shape_o1, weight_at


@njit(cache=True)
def boost_to_local_frame(x, ux, uy, uz, w, bulk, x_offset, cell_of):
    """Lorentz-boost every particle into the local bulk frame; weights scaled by g'/g.

    Parameters
    ----------
    x : ndarray, float64
        Positions (global cells).
    ux, uy, uz : ndarray
        Momenta u = gamma v/c, replaced by the boosted ones.
    w : ndarray, float64
        Weights, multiplied by gamma'/gamma (the phase-space density f is invariant and
        d^3u/gamma is invariant, so a sample taken at fixed lab time represents the
        boosted distribution at fixed time in the new frame when re-weighted by
        gamma'/gamma; Zenitani 2015).
    bulk : ndarray, shape (n_arr, 3)
        Bulk 3-velocity on integer nodes (ghosts valid), gathered with CIC weights.
    x_offset : float
        ``i_lo - N_GHOST``.
    cell_of : ndarray of int64
        Output: array index of each particle's cell (floor of the array coordinate), for
        the per-cell renormalisation.
    """
    for p in range(x.shape[0]):
        i, w0, w1 = shape_o1(x[p] - x_offset)
        bx = w0 * bulk[i, 0] + w1 * bulk[i + 1, 0]
        by = w0 * bulk[i, 1] + w1 * bulk[i + 1, 1]
        bz = w0 * bulk[i, 2] + w1 * bulk[i + 1, 2]
        cell_of[p] = i
        b2 = bx * bx + by * by + bz * bz
        g = gamma_of(np.float64(ux[p]), np.float64(uy[p]), np.float64(uz[p]))
        if b2 <= 0.0:
            continue
        big_g = 1.0 / np.sqrt(1.0 - b2)
        bu = bx * ux[p] + by * uy[p] + bz * uz[p]
        coef = (big_g - 1.0) * bu / b2 - big_g * g
        nux = ux[p] + coef * bx
        nuy = uy[p] + coef * by
        nuz = uz[p] + coef * bz
        g_new = big_g * (g - bu)
        ux[p] = nux
        uy[p] = nuy
        uz[p] = nuz
        w[p] *= g_new / g


@njit(cache=True)
def cell_sums(w, cell_of, out):
    """``out[cell_of[p]] += w[p]`` (out zeroed by the caller)."""
    for p in range(w.shape[0]):
        out[cell_of[p]] += w[p]


@njit(cache=True)
def rescale_per_cell(w, cell_of, factor):
    """``w[p] *= factor[cell_of[p]]``."""
    for p in range(w.shape[0]):
        w[p] *= factor[cell_of[p]]


@njit(cache=True)
def weighted_kinetic_sum(ux, uy, uz, w):
    """sum_p w_p (gamma_p - 1) in float64 (w scalar or array)."""
    s = 0.0
    for p in range(ux.shape[0]):
        u2 = np.float64(ux[p]) ** 2 + np.float64(uy[p]) ** 2 + np.float64(uz[p]) ** 2
        s += weight_at(w, p) * u2 / (np.sqrt(1.0 + u2) + 1.0)
    return s


@njit(cache=True)
def weighted_flux_diagonal(ux, uy, uz, w):
    """sum_p w_p u_i v_i for i = x, y, z (float64)."""
    out = np.zeros(3)
    for p in range(ux.shape[0]):
        a, b, c = np.float64(ux[p]), np.float64(uy[p]), np.float64(uz[p])
        g = gamma_of(a, b, c)
        wp = weight_at(w, p)
        out[0] += wp * a * a / g
        out[1] += wp * b * b / g
        out[2] += wp * c * c / g
    return out
