"""Tracer (test-particle) accumulation kernels: in-situ D_mumu / D_pp bins, compress-revert
gain, Green's-function histogram and the non-adiabatic energy integral (PHYSICS.md 3,
4.3-4.5; the file layout is documented in docs/outputs.md, "Tracers").

Per tracer ``i`` (live part of a species, mass ``m`` in m_e, momenta ``u = gamma v / c``
at the time level t_n - dt/2 of the output step n):

* ``p = m |u|`` (m_e c), ``mu = u_x / |u|`` (pitch cosine relative to x, the mean field),
  ``E = m sqrt(1 + |u|^2)`` (m_e c^2);
* ``u_mark[i]`` is u at the previous in-situ output (the start of the interval): the
  (p, mu) bin of the D sums is taken from it, and ``Delta mu = mu - mu_mark``,
  ``Delta p = p - p_mark``;
* revert: ``u_rev,k = u_k * rev[k]`` with ``rev[k] = a_k(t_n - dt/2) / a_k(-dt/2)``
  (undoes the adiabatic compression of axis k), ``E_rev = m sqrt(1 + |u_rev|^2)``,
  ``p_rev = m |u_rev|``; ``p0``, ``mu0``, ``E0`` from the initial ``u0``;
* non-adiabatic energy: ``e_nonad[i] += E - E_ad`` with
  ``E_ad = m sqrt(1 + sum_k (u_mark,k ad[k])^2)``, ``ad[k] = a_k(t_m - dt/2) /
  a_k(t_n - dt/2)`` (the energy the compression alone would give from the marked state).

Bins follow numpy's histogram convention: ``[e_j, e_(j+1))``, the last bin closed on the
right; values outside ``[e_0, e_last]`` (or NaN) get index -1. The index is guessed from
the uniform (linear or logarithmic) spacing -- with a fast logarithm accurate to ~1e-5 --
and then corrected against the edge array, so it equals
``searchsorted(edges, v, "right") - 1`` exactly (the postprocess reader re-bins raw dumps
with numpy and gets the same bins).

Accumulator layout (:func:`sums_layout`): one flat float64 vector per species holding,
in this order, ``d`` (n_p, n_mu, 5) = [count, sum dmu, sum dmu^2, sum dp, sum dp^2];
``g`` (n_p0, 5) = [count, sum (E_rev - E0), sum E0, sum e_nonad, sum (E - E0)];
``gm`` (n_p0, n_mu0, 3) = [count, sum (E_rev - E0), sum E0]; ``green`` (n_p0, n_rev)
counts; ``misc`` (3,) = tracers outside the D bins / outside the p_rev range / with p0
outside the p0 range. Counts are float64 (exact below 2^53) so one ``allreduce_sum``
combines ranks. The tracers are split into :data:`CHUNKS` fixed contiguous chunks, each
accumulated (in parallel) into its own copy, then the copies are summed in chunk order:
the result does not depend on the number of threads.
"""

import math

import numpy as np
from numba import njit, prange

#: number of private accumulator copies (fixed: results independent of the thread count)
CHUNKS = 8
_LN2 = math.log(2.0)


@njit(cache=True, error_model="numpy", inline="always")
def fast_ln(v):
    """ln(v) for v > 0 to ~1.2e-5 absolute (frexp + 4 terms of 2 atanh(x/(2+x)))."""
    m, e = math.frexp(v)
    x = 2.0 * m - 1.0
    s = x / (2.0 + x)
    s2 = s * s
    return (e - 1) * _LN2 + 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0))))


@njit(cache=True, error_model="numpy")
def bin_params(edges, log_scale):
    """(lo, inv_width) of uniformly spaced (in v or ln v) bin edges."""
    n = edges.shape[0] - 1
    if log_scale:
        lo = math.log(edges[0])
        return lo, n / (math.log(edges[n]) - lo)
    return edges[0], n / (edges[n] - edges[0])


@njit(cache=True, error_model="numpy", inline="always")
def bin_index(v, edges, lo, inv_w, log_scale):
    """Bin of ``v`` in ``edges`` (histogram convention, -1 outside; see module doc).

    Parameters
    ----------
    v : float
        Value.
    edges : ndarray, float64, shape (n + 1,)
        Increasing edges, uniformly spaced in v (``log_scale`` False) or ln v (True).
    lo, inv_w : float
        From :func:`bin_params` (first-guess parameters only; the result is exact
        against ``edges``).
    log_scale : bool
    """
    n = edges.shape[0] - 1
    if not (v >= edges[0] and v <= edges[n]):
        return -1
    if log_scale:
        g = (fast_ln(v) - lo) * inv_w
    else:
        g = (v - lo) * inv_w
    i = int(g)
    if i < 0:
        i = 0
    elif i > n - 1:
        i = n - 1
    while i > 0 and v < edges[i]:
        i -= 1
    while i < n - 1 and v >= edges[i + 1]:
        i += 1
    return i


def sums_layout(n_p, n_mu, n_p0, n_mu0, n_rev):
    """Offsets and shapes of the blocks of the flat accumulator vector.

    Returns
    -------
    dict
        name -> (offset, shape) for ``d``, ``g``, ``gm``, ``green``, ``misc``; the key
        ``"size"`` gives the total length.
    """
    shapes = {"d": (n_p, n_mu, 5), "g": (n_p0, 5), "gm": (n_p0, n_mu0, 3),
              "green": (n_p0, n_rev), "misc": (3,)}  # fmt: skip
    out, off = {}, 0
    for key, shape in shapes.items():
        out[key] = (off, shape)
        off += int(np.prod(shape))
    out["size"] = off
    return out


@njit(cache=True, error_model="numpy")
def _accumulate_range(lo_i, hi_i, ux, uy, uz, u0, u_mark, e_nonad, bin0, mass, rev, ad,
                      have_start, update_nonad, p_edges, mu_edges, p0_edges, mu0_edges,
                      prev_edges, buf):
    n_mu = mu_edges.shape[0] - 1
    n_p = p_edges.shape[0] - 1
    n_mu0 = mu0_edges.shape[0] - 1
    n_p0 = p0_edges.shape[0] - 1
    n_rev = prev_edges.shape[0] - 1
    o_g = n_p * n_mu * 5
    o_gm = o_g + n_p0 * 5
    o_gr = o_gm + n_p0 * n_mu0 * 3
    o_mi = o_gr + n_p0 * n_rev
    lp, ip_w = bin_params(p_edges, True)
    lm, im_w = bin_params(mu_edges, False)
    lp0, ip0_w = bin_params(p0_edges, True)
    lm0, im0_w = bin_params(mu0_edges, False)
    lr, ir_w = bin_params(prev_edges, True)
    for i in range(lo_i, hi_i):
        vx = np.float64(ux[i])
        vy = np.float64(uy[i])
        vz = np.float64(uz[i])
        u2 = vx * vx + vy * vy + vz * vz
        umag = math.sqrt(u2)
        p = mass * umag
        e = mass * math.sqrt(1.0 + u2)
        mu = vx / umag if umag > 0.0 else 0.0
        if have_start:
            sx = u_mark[i, 0]
            sy = u_mark[i, 1]
            sz = u_mark[i, 2]
            s2 = sx * sx + sy * sy + sz * sz
            smag = math.sqrt(s2)
            ps = mass * smag
            mus = sx / smag if smag > 0.0 else 0.0
            jp = bin_index(ps, p_edges, lp, ip_w, True)
            jm = bin_index(mus, mu_edges, lm, im_w, False)
            if jp >= 0 and jm >= 0:
                dmu = mu - mus
                dp = p - ps
                k = (jp * n_mu + jm) * 5
                buf[k] += 1.0
                buf[k + 1] += dmu
                buf[k + 2] += dmu * dmu
                buf[k + 3] += dp
                buf[k + 4] += dp * dp
            else:
                buf[o_mi] += 1.0
            if update_nonad:
                ax = sx * ad[0]
                ay = sy * ad[1]
                az = sz * ad[2]
                e_nonad[i] += e - mass * math.sqrt(1.0 + ax * ax + ay * ay + az * az)
        u_mark[i, 0] = vx
        u_mark[i, 1] = vy
        u_mark[i, 2] = vz
        # initial state: cached (p0, mu0) bins (0: not computed yet, -1: p0 outside)
        wx = u0[i, 0]
        wy = u0[i, 1]
        wz = u0[i, 2]
        w2 = wx * wx + wy * wy + wz * wz
        e0 = mass * math.sqrt(1.0 + w2)
        code = bin0[i]
        if code == 0:
            wmag = math.sqrt(w2)
            mu0 = wx / wmag if wmag > 0.0 else 0.0
            j0 = bin_index(mass * wmag, p0_edges, lp0, ip0_w, True)
            k0 = bin_index(mu0, mu0_edges, lm0, im0_w, False)
            code = -1 if j0 < 0 else 1 + j0 * (n_mu0 + 1) + (k0 + 1)
            bin0[i] = code
        if code < 0:
            buf[o_mi + 2] += 1.0
            continue
        j0 = (code - 1) // (n_mu0 + 1)
        k0 = (code - 1) % (n_mu0 + 1) - 1
        # compress-revert
        rx = vx * rev[0]
        ry = vy * rev[1]
        rz = vz * rev[2]
        r2 = rx * rx + ry * ry + rz * rz
        p_rev = mass * math.sqrt(r2)
        de = mass * math.sqrt(1.0 + r2) - e0
        k = o_g + j0 * 5
        buf[k] += 1.0
        buf[k + 1] += de
        buf[k + 2] += e0
        buf[k + 3] += e_nonad[i]
        buf[k + 4] += e - e0
        if k0 >= 0:
            k = o_gm + (j0 * n_mu0 + k0) * 3
            buf[k] += 1.0
            buf[k + 1] += de
            buf[k + 2] += e0
        jr = bin_index(p_rev, prev_edges, lr, ir_w, True)
        if jr >= 0:
            buf[o_gr + j0 * n_rev + jr] += 1.0
        else:
            buf[o_mi + 1] += 1.0


@njit(cache=True, parallel=True, error_model="numpy")
def insitu_accumulate(ux, uy, uz, u0, u_mark, e_nonad, bin0, mass, rev, ad, have_start,
                      update_nonad, p_edges, mu_edges, p0_edges, mu0_edges, prev_edges,
                      scratch, out):
    """Accumulate one in-situ output of one species and re-mark every tracer (in place).

    Parameters
    ----------
    ux, uy, uz : ndarray, shape (n,)
        Live momenta u at t_n - dt/2 (float32 or float64).
    u0 : ndarray, float64, shape (>= n, 3)
        Initial momenta.
    u_mark : ndarray, float64, shape (>= n, 3)
        Momenta at the start of the interval; overwritten with the current u.
    e_nonad : ndarray, float64, shape (>= n,)
        Running non-adiabatic energy of each tracer (m_e c^2).
    bin0 : ndarray, int32, shape (>= n,)
        Cache of the (p0, mu0) bins (0 = not yet computed; filled here).
    mass : float
        Tracer mass (m_e).
    rev : ndarray, float64, shape (3,)
        Revert factors a_k(t_n - dt/2)/a_k(-dt/2).
    ad : ndarray, float64, shape (3,)
        Adiabatic factors a_k(t_mark - dt/2)/a_k(t_n - dt/2) of the interval.
    have_start : bool
        False at the first output (no interval yet: only marks are set, no D sums).
    update_nonad : bool
        Add the interval's non-adiabatic energy (False when a finer-cadence
        :func:`nonadiabatic_update` keeps ``e_nonad`` current).
    p_edges, mu_edges : ndarray
        D bins: log-spaced p (m_e c), linear mu.
    p0_edges, mu0_edges, prev_edges : ndarray
        Gain/Green bins: log p0, linear mu0, log p_rev (m_e c).
    scratch : ndarray, float64, shape (CHUNKS, size)
        Work space (overwritten).
    out : ndarray, float64, shape (size,)
        The sums of this output (overwritten), layout :func:`sums_layout`.
    """
    n = ux.shape[0]
    n_chunks = scratch.shape[0]
    size = out.shape[0]
    for c in prange(n_chunks):
        buf = scratch[c]
        buf[:] = 0.0
        _accumulate_range(c * n // n_chunks, (c + 1) * n // n_chunks, ux, uy, uz, u0,
                          u_mark, e_nonad, bin0, mass, rev, ad, have_start, update_nonad,
                          p_edges, mu_edges, p0_edges, mu0_edges, prev_edges, buf)
    for k in prange(size):
        s = 0.0
        for c in range(n_chunks):
            s += scratch[c, k]
        out[k] = s


@njit(cache=True, parallel=True, error_model="numpy")
def nonadiabatic_update(ux, uy, uz, u_nm, e_nonad, mass, ad):
    """Add the non-adiabatic energy change since the last update and re-mark (in place).

    ``e_nonad[i] += E(u) - E(u_nm[i] * ad)`` then ``u_nm[i] = u``, with
    ``ad[k] = a_k(t_prev - dt/2) / a_k(t_n - dt/2)``. Used when the non-adiabatic
    integral is updated more often than the in-situ output (down to every step).

    Parameters
    ----------
    ux, uy, uz : ndarray, shape (n,)
        Live momenta at t_n - dt/2.
    u_nm : ndarray, float64, shape (>= n, 3)
        Momenta at the previous update.
    e_nonad : ndarray, float64, shape (>= n,)
        Running non-adiabatic energy (m_e c^2).
    mass : float
        Tracer mass (m_e).
    ad : ndarray, float64, shape (3,)
        Adiabatic factors of the elapsed interval.
    """
    for i in prange(ux.shape[0]):
        vx = np.float64(ux[i])
        vy = np.float64(uy[i])
        vz = np.float64(uz[i])
        ax = u_nm[i, 0] * ad[0]
        ay = u_nm[i, 1] * ad[1]
        az = u_nm[i, 2] * ad[2]
        e = mass * math.sqrt(1.0 + vx * vx + vy * vy + vz * vz)
        e_nonad[i] += e - mass * math.sqrt(1.0 + ax * ax + ay * ay + az * az)
        u_nm[i, 0] = vx
        u_nm[i, 1] = vy
        u_nm[i, 2] = vz


@njit(cache=True, parallel=True, error_model="numpy")
def set_marks(ux, uy, uz, u_mark):
    """``u_mark[i] = u[i]`` for the live tracers (float64 copy)."""
    for i in prange(ux.shape[0]):
        u_mark[i, 0] = np.float64(ux[i])
        u_mark[i, 1] = np.float64(uy[i])
        u_mark[i, 2] = np.float64(uz[i])
