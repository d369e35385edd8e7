"""The 1D Yee grid of one domain: co-moving fields d', b', currents J', and their update.

Layout (docs/conventions.md): arrays of length ``n_local + 2 N_GHOST``; integer nodes hold
d'_y, d'_z, b'_x, J'_y, J'_z; half nodes hold d'_x, b'_y, b'_z, J'_x. The stored fields are
the co-moving flux fields b'_i = (D/a_i) B_i and d'_i = (D/a_i) E_i (PHYSICS.md 2.3); with
L = identity they equal the physical fields. Physical fields for the push are put on
integer nodes by :meth:`Grid.collocate`.
"""

from __future__ import annotations

import math

import numpy as np

from pic1d.comoving import ScaleFactors
from pic1d.kernels import N_GHOST
from pic1d.kernels.fields import advance_b, advance_d, collocate_fields

X, Y, Z = 0, 1, 2


class Grid:
    """Fields and currents of one domain.

    Parameters
    ----------
    n_local : int
        Cells owned by this domain.
    dx : float
        Cell size (d_e0).
    dt : float
        Time step (1/omega_pe0).

    Attributes
    ----------
    d, b : ndarray, shape (3, n_arr)
        Co-moving flux fields d' and b' (components x, y, z; staggering as above).
    j : ndarray, shape (3, n_arr)
        Co-moving current J' of the current step (e n0 c).
    node_fields : ndarray, shape (n_arr, 6)
        Physical (E_x, E_y, E_z, B_x, B_y, B_z) on integer nodes at the last
        :meth:`collocate` time.
    """

    def __init__(self, n_local: int, dx: float, dt: float):
        self.n_local = n_local
        self.n_arr = n_local + 2 * N_GHOST
        self.dx = dx
        self.dt = dt
        self.d = np.zeros((3, self.n_arr))
        self.b = np.zeros((3, self.n_arr))
        self.j = np.zeros((3, self.n_arr))
        self.node_fields = np.zeros((self.n_arr, 6))
        self.tmp = np.zeros(self.n_arr)
        self.interior = slice(N_GHOST, N_GHOST + n_local)

    def set_background(self, b0: float, angle_deg: float = 0.0) -> None:
        """Uniform B = B0 (cos angle, sin angle, 0) at t = 0 (L = identity), E = 0."""
        self.d[:] = 0.0
        self.b[:] = 0.0
        angle = math.radians(angle_deg)
        self.b[X, :] = b0 * math.cos(angle)
        self.b[Y, :] = b0 * math.sin(angle)

    def collocate(self, sf: ScaleFactors, t: float) -> None:
        """Physical fields at time t on integer nodes (ghosts of d, b must be valid)."""
        fx, fy, fz = sf.flux_to_physical(t)
        collocate_fields(
            self.d[X], self.d[Y], self.d[Z], self.b[X], self.b[Y], self.b[Z],
            fx, fy, fz, fx, fy, fz, self.node_fields, 1, self.n_arr,
        )  # fmt: skip

    def advance_b_half(self, sf: ScaleFactors, t_e: float) -> None:
        """b' += (dt/2) curl' e' with e' = (a^2/D) d' evaluated at time t_e (interior)."""
        _, sy, sz = sf.flux_to_circulation(t_e)
        advance_b(self.b[Y], self.b[Z], self.d[Y], self.d[Z], sy, sz,
                  0.5 * self.dt / self.dx, N_GHOST, N_GHOST + self.n_local)  # fmt: skip

    def advance_d_full(self, sf: ScaleFactors, t_h: float) -> None:
        """d' += dt (curl' h' - J') with h' = (a^2/D) b' evaluated at time t_h (interior)."""
        _, sy, sz = sf.flux_to_circulation(t_h)
        advance_d(self.d[X], self.d[Y], self.d[Z], self.b[Y], self.b[Z],
                  self.j[X], self.j[Y], self.j[Z], sy, sz, self.dt, self.dt / self.dx,
                  N_GHOST, N_GHOST + self.n_local)  # fmt: skip

    def physical_node_fields(self) -> np.ndarray:
        """View of the interior integer-node physical fields, shape (n_local, 6)."""
        return self.node_fields[self.interior]

    def physical_current(self, sf: ScaleFactors, t: float) -> np.ndarray:
        """Physical current density J = (a/D) J' on integer nodes (J_x averaged), (3, n)."""
        fx, fy, fz = sf.flux_to_physical(t)
        s = self.interior
        jx = 0.5 * (self.j[X][s] + self.j[X][N_GHOST - 1 : N_GHOST - 1 + self.n_local])
        return np.array([fx * jx, fy * self.j[Y][s], fz * self.j[Z][s]])

    def field_energy(self, sf: ScaleFactors, t: float) -> np.ndarray:
        """Field energy per component in the co-moving box, (E_x, E_y, E_z, B_x, B_y, B_z).

        Energy of the physical fields in the co-moving volume per unit initial transverse
        area: dx sum D |F|^2/2 over the interior (collocated values; n0 m_e c^2 d_e0).
        The node fields must be collocated at time t.
        """
        det = sf.det(t)
        f = self.physical_node_fields()
        return 0.5 * det * self.dx * np.einsum("ij,ij->j", f, f)
