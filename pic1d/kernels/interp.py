"""Particle shape functions and the field gather (conventions.md, "Shapes").

Positions passed to these helpers are *array coordinates* ``xa = x - x_offset`` (cells,
float64, ``x_offset = i_lo - N_GHOST``), so that array index ``j`` is integer node ``xa = j``.

* Order 1 (CIC): ``i = floor(xa)``, ``f = xa - i``; weights ``(1 - f, f)`` on ``(i, i+1)``.
* Order 2 (TSC): ``m = floor(xa + 1/2)``, ``d = xa - m``; weights
  ``(0.5 (0.5 - d)^2, 0.75 - d^2, 0.5 (0.5 + d)^2)`` on ``(m-1, m, m+1)``.

The same functions are used by the gather (push), the current and charge deposits and the
moments, so the particle "sees" the grid with exactly the weights it deposits with.
Also defines :func:`weight_at`, which lets a kernel take either a scalar weight or a
per-particle weight array.
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import overload


@njit(cache=True, error_model="numpy")
def shape_o1(xa):
    """CIC shape at array coordinate ``xa`` (cells).

    Returns
    -------
    i : int
        Left node (array index).
    w0, w1 : float
        Weights on nodes ``i`` and ``i + 1``.
    """
    i = math.floor(xa)
    f = xa - i
    return i, 1.0 - f, f


@njit(cache=True, error_model="numpy")
def shape_o2(xa):
    """TSC shape at array coordinate ``xa`` (cells).

    Returns
    -------
    m : int
        Nearest node (array index).
    wm, w0, wp : float
        Weights on nodes ``m - 1``, ``m``, ``m + 1``.
    """
    m = math.floor(xa + 0.5)
    d = xa - m
    a = 0.5 - d
    b = 0.5 + d
    return m, 0.5 * a * a, 0.75 - d * d, 0.5 * b * b


@njit(cache=True, error_model="numpy")
def gather_o1(node_fields, xa):
    """Gather the six collocated node fields with the CIC shape.

    Parameters
    ----------
    node_fields : ndarray, shape (n_arr, 6)
        Physical (E_x, E_y, E_z, B_x, B_y, B_z) on integer nodes (code units).
    xa : float
        Array coordinate of the particle (cells).

    Returns
    -------
    ex, ey, ez, bx, by, bz : float
    """
    i, w0, w1 = shape_o1(xa)
    ex = w0 * node_fields[i, 0] + w1 * node_fields[i + 1, 0]
    ey = w0 * node_fields[i, 1] + w1 * node_fields[i + 1, 1]
    ez = w0 * node_fields[i, 2] + w1 * node_fields[i + 1, 2]
    bx = w0 * node_fields[i, 3] + w1 * node_fields[i + 1, 3]
    by = w0 * node_fields[i, 4] + w1 * node_fields[i + 1, 4]
    bz = w0 * node_fields[i, 5] + w1 * node_fields[i + 1, 5]
    return ex, ey, ez, bx, by, bz


@njit(cache=True, error_model="numpy")
def gather_o2(node_fields, xa):
    """Gather the six collocated node fields with the TSC shape (see :func:`gather_o1`)."""
    m, wm, w0, wp = shape_o2(xa)
    ex = wm * node_fields[m - 1, 0] + w0 * node_fields[m, 0] + wp * node_fields[m + 1, 0]
    ey = wm * node_fields[m - 1, 1] + w0 * node_fields[m, 1] + wp * node_fields[m + 1, 1]
    ez = wm * node_fields[m - 1, 2] + w0 * node_fields[m, 2] + wp * node_fields[m + 1, 2]
    bx = wm * node_fields[m - 1, 3] + w0 * node_fields[m, 3] + wp * node_fields[m + 1, 3]
    by = wm * node_fields[m - 1, 4] + w0 * node_fields[m, 4] + wp * node_fields[m + 1, 4]
    bz = wm * node_fields[m - 1, 5] + w0 * node_fields[m, 5] + wp * node_fields[m + 1, 5]
    return ex, ey, ez, bx, by, bz


@njit(cache=True, error_model="numpy")
def gamma_of(ux, uy, uz):
    """Lorentz factor ``sqrt(1 + u^2)`` evaluated in float64.

    The push and the deposit both call this helper so that the displacement
    ``(ux / gamma) * move`` reconstructed by the deposit is bitwise the one the push used.
    """
    uxd = np.float64(ux)
    uyd = np.float64(uy)
    uzd = np.float64(uz)
    return math.sqrt(1.0 + uxd * uxd + uyd * uyd + uzd * uzd)


@njit(cache=True, error_model="numpy", inline="always")
def inv_gamma(ux, uy, uz):
    """``1 / sqrt(1 + u^2)`` in float64 (one square root, one division)."""
    a = np.float64(ux)
    b = np.float64(uy)
    c = np.float64(uz)
    return 1.0 / math.sqrt(1.0 + a * a + b * b + c * c)


@njit(cache=True, error_model="numpy", inline="always")
def displacement(ux, uy, uz, move):
    """Cells moved in one step, ``u_x * (move * inv_gamma)``.

    The push and the deposits evaluate exactly this expression on the *stored* momenta,
    so the deposit reconstructs ``x_old = x - displacement`` bitwise (charge conservation
    to round-off).
    """
    return np.float64(ux) * (move * inv_gamma(ux, uy, uz))


def weight_at(w, p):
    """Weight of particle ``p``: ``w[p]`` if ``w`` is an array, else the scalar ``w``."""
    if np.ndim(w) == 0:
        return w
    return w[p]


@overload(weight_at, inline="always")
def _ov_weight_at(w, p):
    if isinstance(w, types.Array):

        def impl(w, p):
            return np.float64(w[p])

    else:

        def impl(w, p):
            return np.float64(w)

    return impl
