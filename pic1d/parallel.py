"""Domain decomposition and communication (serial implementation).

A :class:`Domain` says which global cells this rank owns and provides the operations the
simulation needs from its neighbours: ghost fill and fold for field/current arrays,
filter passes across domain edges, particle migration and global sums. The serial
domain owns the whole periodic box; the MPI implementation (domains x replicas) provides
the same methods.
"""

from __future__ import annotations

import numpy as np

from pic1d.kernels import N_GHOST
from pic1d.kernels.boundary import wrap_periodic
from pic1d.kernels.deposit import fill_ghosts_periodic, fold_ghosts_periodic
from pic1d.kernels.filter import binomial_passes_periodic


class SerialDomain:
    """The whole periodic box on one process.

    Parameters
    ----------
    n_global : int
        Number of cells in the box.

    Attributes
    ----------
    i_lo, n_local : int
        First global cell and number of cells owned (0 and n_global).
    rank, size : int
        0 and 1.
    is_root : bool
        True (this process writes the log and the outputs).
    """

    def __init__(self, n_global: int):
        if n_global < N_GHOST:
            raise ValueError(f"the box needs at least {N_GHOST} cells, got {n_global}")
        self.n_global = n_global
        self.i_lo = 0
        self.n_local = n_global
        self.rank = 0
        self.size = 1
        self.is_root = True
        self.domains = 1
        self.replicas = 1

    @property
    def x_offset(self) -> float:
        """``i_lo - N_GHOST``: array coordinate of a particle is ``x - x_offset``."""
        return float(self.i_lo - N_GHOST)

    def fill_ghosts(self, *arrays: np.ndarray) -> None:
        """Copy the neighbours' (here: periodic) interior values into the ghosts."""
        for a in arrays:
            fill_ghosts_periodic(a, self.n_local)

    def fold_ghosts(self, *arrays: np.ndarray) -> None:
        """Add deposits that landed in ghost cells onto their owners; zero the ghosts."""
        for a in arrays:
            fold_ghosts_periodic(a, self.n_local)

    def sum_replicas(self, *arrays: np.ndarray) -> None:
        """Sum arrays over the ranks sharing this domain (no-op here)."""

    def filter(self, a: np.ndarray, tmp: np.ndarray, passes: int) -> None:
        """Apply ``passes`` 1-2-1 passes to a folded array; ghosts valid on return."""
        binomial_passes_periodic(a, tmp, passes, self.n_local)

    def migrate(self, species) -> None:
        """Bring particles that left the box back in (periodic wrap)."""
        if species.n:
            wrap_periodic(species.x[: species.n], float(self.n_global))

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum a small array over all ranks (returns a new array)."""
        return np.array(values, dtype=np.float64, copy=True)

    def allreduce_max(self, value: float) -> float:
        """Maximum of a scalar over all ranks."""
        return float(value)

    def barrier(self) -> None:
        """Synchronise all ranks (no-op here)."""


def make_domain(n_global: int, domains: int = 0, replicas: int = 0):
    """The domain of this process for a run of ``n_global`` cells.

    Without MPI (or on one rank) this is a :class:`SerialDomain`.
    """
    size = 1
    try:  # pragma: no cover - depends on the launcher
        from mpi4py import MPI

        size = MPI.COMM_WORLD.Get_size()
    except ImportError:
        pass
    if size == 1 and domains in (0, 1) and replicas in (0, 1):
        return SerialDomain(n_global)
    raise NotImplementedError(
        "MPI decomposition (domains x replicas) is not available yet; run on one rank"
    )
