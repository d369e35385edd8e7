"""Particle storage (structure of arrays) and initial loading of one species on one domain.

Positions ``x`` are float64 global co-moving cell coordinates; momenta ``ux, uy, uz`` are
physical u = gamma v/c (per unit mass) in the run's precision. Arrays have a capacity
larger than the particle count so migration can add particles without reallocating;
the live particles are the first ``n`` entries.
"""

from __future__ import annotations

import numpy as np

from pic1d.deck import SpeciesConfig
from pic1d.loading import load_thermal_cells, load_tracer_cells

#: tracer ids are (species index << ID_SHIFT) + box-wide index: unique across species
ID_SHIFT = 40

#: spare capacity as a fraction of the initial count (for migration imbalance)
CAPACITY_MARGIN = 0.25


class Species:
    """The particles of one species on one domain.

    Parameters
    ----------
    cfg : SpeciesConfig
        The deck entry (charge in e, mass in m_e, temperature in m_e c^2).
    dtype : numpy dtype
        Precision of the momentum arrays.

    Attributes
    ----------
    x : ndarray, float64
        Positions (global cells, co-moving); live part ``x[:n]``.
    ux, uy, uz : ndarray
        Momenta u = gamma v/c.
    ids : ndarray of int64 or None
        Unique ids (tracers).
    u0 : ndarray, shape (capacity, 3) or None
        Initial momenta of tracers (for p0 and mu0).
    n : int
        Number of live particles.
    weight : float
        Density per macro-particle (n0); 0 for tracers.
    """

    def __init__(self, cfg: SpeciesConfig, dtype=np.float64):
        self.cfg = cfg
        self.name = cfg.name
        self.charge = cfg.charge
        self.mass = cfg.mass
        self.tracer = cfg.tracer
        self.dtype = np.dtype(dtype)
        self.weight = 0.0 if cfg.tracer else cfg.weight
        self.n = 0
        self.x = np.zeros(0)
        self.ux = np.zeros(0, dtype=self.dtype)
        self.uy = np.zeros(0, dtype=self.dtype)
        self.uz = np.zeros(0, dtype=self.dtype)
        self.ids: np.ndarray | None = None
        self.u0: np.ndarray | None = None

    @property
    def qm(self) -> float:
        """Charge-to-mass ratio q/m (e/m_e)."""
        return self.charge / self.mass

    @property
    def qw(self) -> float:
        """Charge times weight (e n0 per particle per cell); 0 for tracers."""
        return self.charge * self.weight

    @property
    def capacity(self) -> int:
        """Allocated length of the particle arrays."""
        return self.x.shape[0]

    def live(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views (x, ux, uy, uz) of the live particles."""
        n = self.n
        return self.x[:n], self.ux[:n], self.uy[:n], self.uz[:n]

    def set_particles(self, x, ux, uy, uz, ids=None, margin: float = CAPACITY_MARGIN) -> None:
        """Replace the particles (allocates with spare capacity)."""
        n = x.shape[0]
        cap = max(int(n * (1.0 + margin)) + 16, 16)
        self.x = np.zeros(cap)
        self.ux = np.zeros(cap, dtype=self.dtype)
        self.uy = np.zeros(cap, dtype=self.dtype)
        self.uz = np.zeros(cap, dtype=self.dtype)
        self.x[:n] = x
        self.ux[:n] = ux
        self.uy[:n] = uy
        self.uz[:n] = uz
        if ids is not None:
            self.ids = np.zeros(cap, dtype=np.int64)
            self.ids[:n] = ids
        self.n = n

    def load(self, seed: int, i_lo: int, n_local: int, n_global: int) -> None:
        """Load the initial particles of global cells [i_lo, i_lo + n_local).

        Thermal species: (bi-)Maxwell-Juttner with theta = T/m, anisotropy T_perp/T_par
        (``temperature`` is T_par), drift; tracers: the deck's momentum sampling.
        """
        c = self.cfg
        if c.tracer:
            x, ux, uy, uz, ids = load_tracer_cells(
                seed, c.index, i_lo, n_local,
                n_per_cell=c.ppc if c.count is None else None,
                n_total=c.count, n_cells_global=n_global,
                p_min=c.p_min / c.mass, p_max=c.p_max / c.mass,
                sampling=c.sampling, dtype=self.dtype, id_offset=c.index << ID_SHIFT,
            )  # fmt: skip
            self.set_particles(x, ux, uy, uz, ids)
            self.u0 = np.zeros((self.capacity, 3))
            self.u0[: self.n, 0] = ux
            self.u0[: self.n, 1] = uy
            self.u0[: self.n, 2] = uz
        else:
            x, ux, uy, uz = load_thermal_cells(
                seed, c.index, c.position_group, i_lo, n_local, c.ppc, c.theta,
                anisotropy=c.anisotropy, drift=c.drift, placement=c.placement,
                dtype=self.dtype,
            )  # fmt: skip
            self.set_particles(x, ux, uy, uz)

    def expected_count(self, n_global: int) -> int:
        """Number of particles of this species in the whole box."""
        return self.cfg.total_count(n_global)
