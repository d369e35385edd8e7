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

#: free rows kept in front of the live range (fraction of the count, plus a minimum), so
#: that a cell-sorted species can take arrivals at its front without moving everything
FRONT_SLACK = 0.01
FRONT_SLACK_MIN = 256


def front_rows(a: np.ndarray) -> int:
    """Rows of ``a``'s base array that lie before ``a[0]`` (0 if ``a`` owns its data)."""
    base = a.base
    if not isinstance(base, np.ndarray) or base.dtype != a.dtype or a.strides[0] <= 0:
        return 0
    delta = a.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return delta // a.strides[0] if delta >= 0 else 0


def _with_front(a: np.ndarray, front: int, length: int, n: int) -> np.ndarray:
    """A new zeroed array of ``length`` rows with ``front`` free rows before it in its
    base; the first ``n`` rows of ``a`` are copied."""
    base = np.zeros((front + length, *a.shape[1:]), dtype=a.dtype)
    out = base[front:]
    n = min(n, a.shape[0], length)
    out[:n] = a[:n]
    return out


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
        self.extra: dict[str, np.ndarray] = {}
        #: cell-sort offsets (local cell k owns live particles seg[k]:seg[k+1]), or None
        #: when the order is unknown (see pic1d.sorting)
        self.seg: np.ndarray | None = None

    @property
    def qm(self) -> float:
        """Charge-to-mass ratio q/m (e/m_e)."""
        return self.charge / self.mass

    @property
    def qw(self) -> float:
        """Charge times weight (e n0 per particle per cell); 0 for tracers."""
        return self.charge * self.weight

    def qw_arg(self):
        """Charge times weight for the kernels: the scalar, or the per-particle array
        (``extra["qw"]``, live part) once weights differ (after ``reset_waves``)."""
        if "qw" in self.extra:
            return self.extra["qw"][: self.n]
        return self.qw

    def weight_arg(self):
        """Weight (n0 per particle per cell) for the kernels: scalar or live array."""
        if "qw" in self.extra:
            return self.extra["qw"][: self.n] / self.charge
        return self.weight

    @property
    def capacity(self) -> int:
        """Allocated length of the particle arrays."""
        return self.x.shape[0]

    def live(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views (x, ux, uy, uz) of the live particles."""
        n = self.n
        return self.x[:n], self.ux[:n], self.uy[:n], self.uz[:n]

    def particle_columns(self) -> list[np.ndarray]:
        """Every per-particle array as a list of 1D columns (for migration and
        checkpoints): x, ux, uy, uz, then ids (bits viewed as float64), the three columns
        of u0, and the columns of each array registered in ``extra``."""
        cols = [self.x, self.ux, self.uy, self.uz]
        if self.ids is not None:
            cols.append(self.ids.view(np.float64))
        if self.u0 is not None:
            cols.extend(self.u0[:, k] for k in range(self.u0.shape[1]))
        for arr in self.extra.values():
            if arr.ndim == 1:
                cols.append(arr)
            else:
                cols.extend(arr[:, k] for k in range(arr.shape[1]))
        return cols

    def _arrays(self) -> list[tuple[str, np.ndarray]]:
        """Every per-particle array as (name, array); extras are named ``extra:<key>``."""
        out = [("x", self.x), ("ux", self.ux), ("uy", self.uy), ("uz", self.uz)]
        if self.ids is not None:
            out.append(("ids", self.ids))
        if self.u0 is not None:
            out.append(("u0", self.u0))
        out.extend((f"extra:{k}", v) for k, v in self.extra.items())
        return out

    def _assign(self, name: str, arr: np.ndarray) -> None:
        if name.startswith("extra:"):
            self.extra[name[6:]] = arr
        else:
            setattr(self, name, arr)

    def _reallocate(self, capacity: int, front: int) -> None:
        for name, arr in self._arrays():
            self._assign(name, _with_front(arr, front, capacity, self.n))

    def _default_front(self, n: int) -> int:
        return FRONT_SLACK_MIN + int(FRONT_SLACK * n)

    def grow(self, needed: int) -> None:
        """Enlarge every per-particle array to hold at least ``needed`` particles."""
        cap = max(int(needed * (1.0 + CAPACITY_MARGIN)) + 16, self.capacity)
        self._reallocate(cap, self._default_front(needed))

    def shift_window(self, delta: int) -> None:
        """Move the start of every per-particle array by ``delta`` rows within its base
        (negative: ``delta`` free rows in front become the first rows; positive: the first
        rows are dropped). The live count ``n`` is not changed; the caller moves data.

        Reallocates (with fresh front slack) when a base has no room; the capacity after
        the shift is at least ``n``.
        """
        if delta == 0:
            return
        arrays = self._arrays()
        room = min(front_rows(a) for _, a in arrays)
        if delta < 0 and room < -delta:
            self._reallocate(self.capacity + self._default_front(self.n),
                             self._default_front(self.n) - delta)  # fmt: skip
            arrays = self._arrays()
        for name, arr in arrays:
            base = arr.base
            start = front_rows(arr) + delta
            self._assign(name, base[start:])
        if self.capacity < self.n:
            self.grow(self.n)

    def add_extra(self, name: str, shape: tuple[int, ...] = (), dtype=np.float64) -> np.ndarray:
        """Register a per-particle array (capacity, *shape) that migrates with the particles."""
        arr = self.new_array(shape, dtype)
        self.extra[name] = arr
        return arr

    def new_array(self, shape: tuple[int, ...] = (), dtype=np.float64) -> np.ndarray:
        """A zeroed per-particle array (capacity, *shape) with the same front slack as x."""
        front = front_rows(self.x)
        return np.zeros((front + self.capacity, *shape), dtype=dtype)[front:]

    def set_particles(self, x, ux, uy, uz, ids=None, margin: float = CAPACITY_MARGIN) -> None:
        """Replace the particles (allocates with spare capacity)."""
        n = x.shape[0]
        cap = max(int(n * (1.0 + margin)) + 16, 16)
        front = self._default_front(n)
        self.x = _with_front(np.asarray(x, dtype=np.float64), front, cap, n)
        self.ux = _with_front(np.asarray(ux, dtype=self.dtype), front, cap, n)
        self.uy = _with_front(np.asarray(uy, dtype=self.dtype), front, cap, n)
        self.uz = _with_front(np.asarray(uz, dtype=self.dtype), front, cap, n)
        if ids is not None:
            self.ids = _with_front(np.asarray(ids, dtype=np.int64), front, cap, n)
        self.n = n
        self.seg = None

    def load(self, seed: int, i_lo: int, n_local: int, n_global: int,
             keep: slice | None = None) -> None:
        """Load the initial particles of global cells [i_lo, i_lo + n_local).

        ``keep`` selects this rank's share of the domain's particles (replicas).

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
            if keep is not None:
                x, ux, uy, uz, ids = (a[keep] for a in (x, ux, uy, uz, ids))
            self.set_particles(x, ux, uy, uz, ids)
            self.u0 = self.new_array((3,))
            self.u0[: self.n, 0] = ux
            self.u0[: self.n, 1] = uy
            self.u0[: self.n, 2] = uz
        else:
            self._load_thermal_in_chunks(seed, i_lo, n_local, keep)

    #: particles generated per call of the loader (bounds the temporary memory)
    LOAD_CHUNK = 1 << 18

    def _load_thermal_in_chunks(self, seed: int, i_lo: int, n_local: int,
                                keep: slice | None) -> None:
        """Fill the arrays cell range by cell range, so the peak memory of loading is the
        particle arrays plus one chunk (the random streams are keyed per cell, so the
        result is identical to one call for the whole domain)."""
        c = self.cfg
        start = 0 if keep is None or keep.start is None else keep.start
        step = 1 if keep is None or keep.step is None else keep.step
        n_total = c.ppc * n_local
        self.allocate(len(range(start, n_total, step)))
        cells_per_chunk = max(1, self.LOAD_CHUNK // max(c.ppc, 1))
        pos = 0
        for c0 in range(0, n_local, cells_per_chunk):
            n_cells = min(cells_per_chunk, n_local - c0)
            x, ux, uy, uz = load_thermal_cells(
                seed, c.index, c.position_group, i_lo + c0, n_cells, c.ppc, c.theta,
                anisotropy=c.anisotropy, drift=c.drift, placement=c.placement,
                dtype=self.dtype,
            )  # fmt: skip
            first = (start - c0 * c.ppc) % step
            sel = slice(first, None, step)
            m = len(range(first, n_cells * c.ppc, step))
            for dst, src in ((self.x, x), (self.ux, ux), (self.uy, uy), (self.uz, uz)):
                dst[pos : pos + m] = src[sel]
            pos += m

    def allocate(self, n: int, margin: float = CAPACITY_MARGIN) -> None:
        """Zeroed arrays for ``n`` particles (with spare capacity and front slack); the
        caller fills ``x[:n]`` etc."""
        cap = max(int(n * (1.0 + margin)) + 16, 16)
        front = self._default_front(n)

        def zeros(dtype):
            return np.zeros(front + cap, dtype=dtype)[front:]

        self.x = zeros(np.float64)
        self.ux = zeros(self.dtype)
        self.uy = zeros(self.dtype)
        self.uz = zeros(self.dtype)
        self.ids = None
        self.n = n
        self.seg = None

    def expected_count(self, n_global: int) -> int:
        """Number of particles of this species in the whole box."""
        return self.cfg.total_count(n_global)
