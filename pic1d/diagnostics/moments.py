"""Per-species fluid moments in the local fluid frame, in physical units.

From the binned sums n' = sum w S, N'_i = sum w S v_i, T'_ij = sum w S u_i v_j (co-moving
density units) the physical quantities at time t are (D = det L):

    n = n'/D,  U = N_s/n_s (bulk 3-velocity from n', N' smoothed over a few cells),
    P_ij = m (T'_ij - N'_i U_j - U_i N'_j + n' U_i U_j) / D.

The bulk velocity is smoothed (``SMOOTH_PASSES`` passes of the 1-2-1 filter, a Gaussian
of sigma = sqrt(SMOOTH_PASSES/2) cells) so that its sampling noise does not bias the
temperature: subtracting an unsmoothed per-cell mean would remove ~1/ppc of the thermal
pressure. The subtraction is non-relativistic in the bulk speed (U << c in pic1d's runs).
Temperatures are relative to the mean-field direction b = <B>/|<B>|:
T_par = b.P.b/n, T_perp = (tr P - n T_par)/(2 n).
"""

from __future__ import annotations

import numpy as np

from pic1d.kernels import N_GHOST
from pic1d.kernels.moments import deposit_moments

SMOOTH_PASSES = 8
XX, YY, ZZ, XY, XZ, YZ = 4, 5, 6, 7, 8, 9


class MomentCalculator:
    """Binned moments of a species on one domain (buffers allocated once).

    Parameters
    ----------
    domain : Domain
        Provides ghost folding and filtering across domain edges.
    n_arr : int
        Length of the grid arrays (with ghosts).
    order : int
        Particle shape order.
    """

    def __init__(self, domain, n_arr: int, order: int):
        self.domain = domain
        self.order = order
        self.raw = np.zeros((n_arr, 10))
        self.col = np.zeros(n_arr)
        self.smooth_n = np.zeros(n_arr)
        self.smooth_flux = np.zeros((3, n_arr))
        self.tmp = np.zeros(n_arr)
        self.interior = slice(N_GHOST, N_GHOST + domain.n_local)

    def deposit(self, species) -> np.ndarray:
        """Fold-complete binned sums (n', N'_x,y,z, T'_xx,yy,zz,xy,xz,yz), shape (n_arr, 10)."""
        self.raw[:] = 0.0
        if species.n:
            x, ux, uy, uz = species.live()
            deposit_moments(x, ux, uy, uz, species.weight_arg(), self.domain.x_offset, self.raw,
                            self.order)  # fmt: skip
        for k in range(10):
            self.col[:] = self.raw[:, k]
            self.domain.fold_ghosts(self.col)
            self.domain.sum_replicas(self.col)
            self.raw[:, k] = self.col
        return self.raw

    def fluid(self, species, det: float) -> dict[str, np.ndarray]:
        """Physical density, bulk velocity and pressure tensor on the interior nodes.

        Returns
        -------
        dict
            ``n`` (n0), ``U`` (3, n_local) (c), ``P`` (6, n_local) in the order
            (xx, yy, zz, xy, xz, yz) (n0 m_e c^2).
        """
        raw = self.deposit(species)
        self.smooth_n[:] = raw[:, 0]
        self.domain.filter(self.smooth_n, self.tmp, SMOOTH_PASSES)
        for i in range(3):
            self.smooth_flux[i] = raw[:, 1 + i]
            self.domain.filter(self.smooth_flux[i], self.tmp, SMOOTH_PASSES)
        s = self.interior
        n_c = raw[s, 0]
        flux = raw[s, 1:4].T
        with np.errstate(invalid="ignore", divide="ignore"):
            u_bulk = np.where(self.smooth_n[s] > 0, self.smooth_flux[:, s] / self.smooth_n[s], 0.0)
        pairs = ((0, 0, XX), (1, 1, YY), (2, 2, ZZ), (0, 1, XY), (0, 2, XZ), (1, 2, YZ))
        pres = np.empty((6, n_c.shape[0]))
        for k, (i, j, col) in enumerate(pairs):
            t_ij = raw[s, col]
            pres[k] = t_ij - flux[i] * u_bulk[j] - u_bulk[i] * flux[j] + n_c * u_bulk[i] * u_bulk[j]
        pres *= species.mass / det
        return {"n": n_c / det, "U": u_bulk, "P": pres}


def field_aligned_temperatures(pressure: np.ndarray, density: float, b_mean: np.ndarray):
    """T_par and T_perp (m_e c^2) from a mean pressure tensor and the mean field direction.

    Parameters
    ----------
    pressure : ndarray, shape (6,)
        (P_xx, P_yy, P_zz, P_xy, P_xz, P_yz) in n0 m_e c^2.
    density : float
        Density (n0).
    b_mean : ndarray, shape (3,)
        Mean magnetic field (any normalisation).
    """
    pxx, pyy, pzz, pxy, pxz, pyz = pressure
    p = np.array([[pxx, pxy, pxz], [pxy, pyy, pyz], [pxz, pyz, pzz]])
    b = b_mean / np.linalg.norm(b_mean)
    p_par = float(b @ p @ b)
    p_perp = 0.5 * (float(np.trace(p)) - p_par)
    return p_par / density, p_perp / density
