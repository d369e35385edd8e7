"""Boris push helpers shared by the fast CIC kernels, and the gather push for tracers.

:func:`boris_cic` is the relativistic Boris step written once for the optimised kernels:
fields gathered from per-cell coefficients (``h F(x) = F0 + fo F1`` with ``h = (q/m)
dt/2``), one square root and one division for ``t`` and ``s``, and the co-moving
compression factors before and after (:mod:`pic1d.kernels.push` is the reference it is
tested against). It runs in the precision of its inputs: float32 momenta give float32
arithmetic (:func:`like`).

:func:`push_gather_cic` pushes an unsorted species (tracers: no deposit, so no cell sort
is needed) with the coefficients of :func:`cell_coefficients`: twelve loads from one row
per particle instead of the twelve products of the reference gather.
"""

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from pic1d.kernels.push import boris_rotate

#: fast-math flags of the optimised kernels (no ``nnan``/``ninf``: NaN checks still work)
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def like(value, ref):
    """``value`` in the precision of ``ref`` (an array or a scalar): float32 for float32
    (float32 storage: float32 arithmetic), otherwise unchanged."""
    return np.asarray(ref).dtype.type(value)


@overload(like, inline="always")
def _ov_like(value, ref):
    kind = ref.dtype if isinstance(ref, types.Array) else ref
    if kind == types.float32:

        def impl(value, ref):
            return np.float32(value)

    else:

        def impl(value, ref):
            return value

    return impl


def is_single(arr):
    """True for float32 arrays (a compile-time constant inside the kernels)."""
    return arr.dtype == np.float32


@overload(is_single, inline="always")
def _ov_is_single(arr):
    single = arr.dtype == types.float32

    def impl(arr):
        return single

    return impl


def scaled(u, factors, i):
    """``u * factors[i]``, or ``u`` when ``factors`` is None (no compression)."""
    return u if factors is None else u * factors[i]


@overload(scaled, inline="always")
def _ov_scaled(u, factors, i):
    if isinstance(factors, types.NoneType):

        def impl(u, factors, i):
            return u

    else:

        def impl(u, factors, i):
            return u * factors[i]

    return impl


@njit(inline="always", error_model="numpy", fastmath=FASTMATH)
def boris_cic(fo, ux, uy, uz, cf, pre, post):
    """Boris push of one particle at offset ``fo`` in its cell, in the precision of ``fo``.

    ``cf = (e0x, e0y, e0z, b0x, b0y, b0z, e1x, ..., b1z)``: the cell's gather coefficients
    ``h F_j`` and ``h (F_(j+1) - F_j)`` (``h = (q/m) dt/2``), so ``h F(x) = F0 + fo F1``.
    Returns the new ``u`` (after the ``post`` factors)."""
    one = like(1.0, fo)
    two = one + one
    ex = cf[0] + fo * cf[6]
    ey = cf[1] + fo * cf[7]
    ez = cf[2] + fo * cf[8]
    bx = cf[3] + fo * cf[9]
    by = cf[4] + fo * cf[10]
    bz = cf[5] + fo * cf[11]
    umx = scaled(ux, pre, 0) + ex
    umy = scaled(uy, pre, 1) + ey
    umz = scaled(uz, pre, 2) + ez
    # t = hB/gamma-, s = 2t/(1+t^2) with one square root and one division:
    # q = 1/(sqrt(A) C), A = gamma-^2, C = A + (hB)^2 = A (1 + t^2)
    a2 = one + umx * umx + umy * umy + umz * umz
    sa = math.sqrt(a2)
    cc = a2 + (bx * bx + by * by + bz * bz)
    q = one / (sa * cc)
    f = cc * q
    g = two * a2 * sa * q
    umx, umy, umz = boris_rotate(umx, umy, umz, f * bx, f * by, f * bz, g)
    return scaled(umx + ex, post, 0), scaled(umy + ey, post, 1), scaled(umz + ez, post, 2)


def factor_args(pre, post, dtype) -> tuple:
    """The ``pre``, ``post`` arguments of the fast kernels: None, None when every factor
    is 1 (a specialisation without the multiplications), else the factors in ``dtype``
    (the momenta's precision, so float32 storage keeps float32 arithmetic)."""
    if all(f == 1.0 for f in (*pre, *post)):
        return None, None
    kind = np.dtype(dtype).type
    return tuple(kind(f) for f in pre), tuple(kind(f) for f in post)


@njit(cache=True)
def cell_coefficients(node_fields, qm_half_dt, coef):
    """Per-cell gather coefficients of :func:`boris_cic` for every node ``j``.

    Parameters
    ----------
    node_fields : ndarray, float64, shape (n_arr, 6)
        Physical E, B on integer nodes (code units).
    qm_half_dt : float
        ``h = (q/m) dt / 2``.
    coef : ndarray, float64 or float32, shape (n_arr - 1, 12)
        Output: ``coef[j] = (h F_j, h (F_(j+1) - F_j))`` (six fields each), in the
        precision of the momenta the push will use.
    """
    h = qm_half_dt
    for j in range(coef.shape[0]):
        for c in range(6):
            f0 = h * node_fields[j, c]
            coef[j, c] = f0
            coef[j, 6 + c] = h * node_fields[j + 1, c] - f0


@njit(cache=True, parallel=True, error_model="numpy", fastmath=FASTMATH)
def push_gather_cic(x, ux, uy, uz, coef, x_offset, pre, post, move):
    """Boris push with the CIC gather of an unsorted species (in place; no deposit).

    Equal to :func:`pic1d.kernels.push.push_boris` with ``order = 1`` to round-off.

    Parameters
    ----------
    x : ndarray, float64, shape (n,)
        Positions (global cells); advanced by ``(u_x/gamma) move`` (not wrapped).
    ux, uy, uz : ndarray, float64 or float32, shape (n,)
        ``u = gamma v / c``, from t - dt/2 to t + dt/2; the push runs in this precision.
    coef : ndarray, shape (n_arr - 1, 12), same precision as ``ux``
        From :func:`cell_coefficients`.
    x_offset : float
        ``i_lo - N_GHOST`` (array coordinate ``x - x_offset``, always positive).
    pre, post : tuple of 3 floats, or None
        Co-moving compression factors (as in :func:`pic1d.kernels.push.push_boris`), in
        the precision of the momenta; None when all are 1.
    move : float
        ``dt / (a_x dx)``.
    """
    one = like(1.0, ux)
    for p in prange(x.shape[0]):
        xa = x[p] - x_offset
        j = int(xa)
        fo = like(xa - j, ux)
        cf = (coef[j, 0], coef[j, 1], coef[j, 2], coef[j, 3], coef[j, 4], coef[j, 5],
              coef[j, 6], coef[j, 7], coef[j, 8], coef[j, 9], coef[j, 10], coef[j, 11])
        vx, vy, vz = boris_cic(fo, ux[p], uy[p], uz[p], cf, pre, post)
        ux[p] = vx
        uy[p] = vy
        uz[p] = vz
        inv_g = one / math.sqrt(one + vx * vx + vy * vy + vz * vz)
        x[p] = x[p] + np.float64(vx * inv_g) * move
