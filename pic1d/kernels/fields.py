"""Field kernels: collocation of physical fields on integer nodes and the co-moving Yee
updates of b' and d' (conventions.md "Field update", PHYSICS.md 2.3).

Layout (array index j, length n_local + 2 N_GHOST):

* integer node j: d'_y, d'_z, b'_x, J'_y, J'_z;
* half node j + 1/2: d'_x, b'_y, b'_z, J'_x.

Circulation-type fields used in the curls are ``e'_i = (a_i^2 / D) d'_i`` and
``h'_i = (a_i^2 / D) b'_i``; physical fields are ``E_i = (a_i / D) d'_i``,
``B_i = (a_i / D) b'_i``. The callers pass these scale factors.
"""

from numba import njit


@njit(cache=True)
def collocate_fields(d_x, d_y, d_z, b_x, b_y, b_z, ex_scale, ey_scale, ez_scale,
                     bx_scale, by_scale, bz_scale, node_fields, j_lo, j_hi):
    """Physical (E, B) on integer nodes for the particle gather.

    ``node_fields[j] = (ex_scale (d_x[j-1] + d_x[j]) / 2, ey_scale d_y[j], ez_scale d_z[j],
    bx_scale b_x[j], by_scale (b_y[j-1] + b_y[j]) / 2, bz_scale (b_z[j-1] + b_z[j]) / 2)``.

    Parameters
    ----------
    d_x, b_y, b_z : ndarray, float64, shape (n_arr,)
        Half-node co-moving fields d'_x, b'_y, b'_z.
    d_y, d_z, b_x : ndarray, float64, shape (n_arr,)
        Integer-node co-moving fields d'_y, d'_z, b'_x.
    ex_scale, ey_scale, ez_scale, bx_scale, by_scale, bz_scale : float
        ``a_i / D`` (co-moving flux field -> physical component).
    node_fields : ndarray, float64, shape (n_arr, 6)
        Output (E_x, E_y, E_z, B_x, B_y, B_z), code units, written on [j_lo, j_hi).
    j_lo, j_hi : int
        Index range, ``j_lo >= 1`` (reads the half node j - 1/2, array index j - 1).
    """
    for j in range(j_lo, j_hi):
        node_fields[j, 0] = ex_scale * (0.5 * (d_x[j - 1] + d_x[j]))
        node_fields[j, 1] = ey_scale * d_y[j]
        node_fields[j, 2] = ez_scale * d_z[j]
        node_fields[j, 3] = bx_scale * b_x[j]
        node_fields[j, 4] = by_scale * (0.5 * (b_y[j - 1] + b_y[j]))
        node_fields[j, 5] = bz_scale * (0.5 * (b_z[j - 1] + b_z[j]))


@njit(cache=True)
def advance_b(b_y, b_z, d_y, d_z, e_scale_y, e_scale_z, dt_over_dx, j_lo, j_hi):
    """Faraday update of the half-node b'_y, b'_z on [j_lo, j_hi) (in place).

    ``b_y[j] += dt/dx (e_z[j+1] - e_z[j])``, ``b_z[j] -= dt/dx (e_y[j+1] - e_y[j])`` with
    ``e'_i = e_scale_i d'_i``.

    Parameters
    ----------
    b_y, b_z : ndarray, float64, shape (n_arr,)
        Half-node b' (index j = node j + 1/2).
    d_y, d_z : ndarray, float64, shape (n_arr,)
        Integer-node d'; reads index j_hi.
    e_scale_y, e_scale_z : float
        ``a_i^2 / D`` at the time the curl is evaluated.
    dt_over_dx : float
        (fraction of dt) / dx; pass ``0.5 dt / dx`` for the half steps.
    j_lo, j_hi : int
        Index range.
    """
    cy = dt_over_dx * e_scale_y
    cz = dt_over_dx * e_scale_z
    for j in range(j_lo, j_hi):
        b_y[j] += cz * (d_z[j + 1] - d_z[j])
        b_z[j] -= cy * (d_y[j + 1] - d_y[j])


@njit(cache=True)
def advance_d(d_x, d_y, d_z, b_y, b_z, j_x, j_y, j_z, h_scale_y, h_scale_z, dt,
              dt_over_dx, j_lo, j_hi):
    """Ampere update of d' on [j_lo, j_hi) (in place).

    ``d_y[j] -= dt/dx (h_z[j] - h_z[j-1]) + dt J_y[j]``,
    ``d_z[j] += dt/dx (h_y[j] - h_y[j-1]) - dt J_z[j]``, ``d_x[j] -= dt J_x[j]``,
    with ``h'_i = h_scale_i b'_i``.

    Parameters
    ----------
    d_x : ndarray, float64, shape (n_arr,)
        Half-node d'_x.
    d_y, d_z : ndarray, float64, shape (n_arr,)
        Integer-node d'.
    b_y, b_z : ndarray, float64, shape (n_arr,)
        Half-node b' at t + dt/2; reads index j_lo - 1.
    j_x, j_y, j_z : ndarray, float64, shape (n_arr,)
        Co-moving (filtered) current J' at t + dt/2 (J_x half nodes, J_y, J_z integer).
    h_scale_y, h_scale_z : float
        ``a_i^2 / D`` at t + dt/2.
    dt : float
        Time step (1/omega_pe0).
    dt_over_dx : float
        ``dt / dx``.
    j_lo, j_hi : int
        Index range, ``j_lo >= 1``.
    """
    cy = dt_over_dx * h_scale_y
    cz = dt_over_dx * h_scale_z
    for j in range(j_lo, j_hi):
        d_y[j] -= cz * (b_z[j] - b_z[j - 1]) + dt * j_y[j]
        d_z[j] += cy * (b_y[j] - b_y[j - 1]) - dt * j_z[j]
        d_x[j] -= dt * j_x[j]
