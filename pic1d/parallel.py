"""Domain decomposition and communication: serial, and MPI as domains x replicas.

A domain object says which global cells this rank owns and provides the operations the
simulation needs from its neighbours: ghost fill and fold for field/current arrays,
filter passes across domain edges, particle migration and global sums.

* :class:`SerialDomain`: the whole periodic box on one process (also used when mpi4py is
  missing or the run has one rank).
* :class:`MPIDomain`: MPI_COMM_WORLD split into ``domains x replicas``. World rank r
  belongs to domain ``r // replicas`` and is replica ``r % replicas`` of it. A domain is
  a contiguous block of cells; its replicas hold the same cells and fields (advanced
  redundantly) and split its particles; their currents are summed with an Allreduce on
  the domain communicator. Replica k of every domain forms the "ring" communicator over
  which halos and particles are exchanged with the neighbouring domains (periodic).
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
        self.domain_index = 0
        self.replica_index = 0
        self.field_owner = True  # this rank's copy of the fields is counted in reductions

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

    def filter_many(self, arrays, tmp: np.ndarray, passes: int) -> None:
        """:meth:`filter` applied to each array."""
        for a in arrays:
            binomial_passes_periodic(a, tmp, passes, self.n_local)

    def migrate(self, species) -> None:
        """Bring particles that left the box back in (periodic wrap)."""
        species.seg = None
        if species.n:
            wrap_periodic(species.x[: species.n], float(self.n_global))

    def exchange_rows(self, send_left: np.ndarray, send_right: np.ndarray, cols: int,
                      name: str) -> tuple[np.ndarray, np.ndarray]:
        """Particle rows (rows, cols) leaving left/right -> rows arriving from the left and
        from the right (periodic: what leaves right arrives from the left)."""
        return send_right, send_left

    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum a small array over all ranks (returns a new array)."""
        return np.array(values, dtype=np.float64, copy=True)

    def allreduce_max(self, value: float) -> float:
        """Maximum of a scalar over all ranks."""
        return float(value)

    def exscan_sum(self, value: float) -> float:
        """Sum of ``value`` over the domains to the left of this one (0 here)."""
        return 0.0

    def barrier(self) -> None:
        """Synchronise all ranks (no-op here)."""

    def gather_interior(self, arr: np.ndarray) -> np.ndarray | None:
        """Assemble per-domain interior arrays (..., n_local) into (..., cells)."""
        return np.array(arr, copy=True)

    def split_particles(self) -> slice:
        """Which of a domain's loaded particles this replica keeps (all of them here)."""
        return slice(None)

    def bcast(self, obj):
        """Broadcast a Python object from the root (identity here)."""
        return obj

    def abort(self, code: int = 1) -> None:
        """Terminate all ranks (raise SystemExit here)."""
        raise SystemExit(code)




def split_cells(n_global: int, domains: int, index: int) -> tuple[int, int]:
    """(first cell, number of cells) of domain ``index`` among ``domains`` equal blocks."""
    lo = (index * n_global) // domains
    hi = ((index + 1) * n_global) // domains
    return lo, hi - lo


#: minimum cells per domain: halos of N_GHOST cells must come from the nearest neighbour
MIN_CELLS_PER_DOMAIN = max(N_GHOST, 4)
#: the automatic decomposition prefers domains of at least this many cells
AUTO_MIN_CELLS = 64


def choose_decomposition(size: int, n_global: int, domains: int = 0, replicas: int = 0):
    """Resolve ``domains x replicas = size`` (0 = automatic).

    The automatic choice uses as many domains as possible while each keeps at least
    ``AUTO_MIN_CELLS`` cells, and replicas for the remaining factor.

    Raises
    ------
    ValueError
        With a message naming [parallel] domains/replicas if the request is impossible.
    """
    if domains and replicas:
        if domains * replicas != size:
            raise ValueError(
                f"[parallel] domains x replicas = {domains} x {replicas} = "
                f"{domains * replicas}, but the run has {size} MPI ranks"
            )
    elif domains:
        if size % domains:
            raise ValueError(f"[parallel] domains = {domains} does not divide the {size} ranks")
        replicas = size // domains
    elif replicas:
        if size % replicas:
            raise ValueError(f"[parallel] replicas = {replicas} does not divide the {size} ranks")
        domains = size // replicas
    else:
        domains = 1
        for d in range(size, 0, -1):
            if size % d == 0 and n_global // d >= AUTO_MIN_CELLS:
                domains = d
                break
        replicas = size // domains
    if n_global // domains < MIN_CELLS_PER_DOMAIN:
        raise ValueError(
            f"[parallel] domains = {domains}: {n_global} cells give {n_global // domains} "
            f"cells per domain, fewer than the {MIN_CELLS_PER_DOMAIN} the halos need; use "
            "fewer domains and more replicas"
        )
    return domains, replicas


class MPIDomain(SerialDomain):
    """One rank of a ``domains x replicas`` decomposition of MPI_COMM_WORLD.

    Parameters
    ----------
    n_global : int
        Cells in the box.
    comm : mpi4py.MPI.Comm
        The world communicator.
    domains, replicas : int
        The decomposition (0 = automatic, see :func:`choose_decomposition`).
    """

    def __init__(self, n_global: int, comm, domains: int = 0, replicas: int = 0):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.n_global = n_global
        self.domains, self.replicas = choose_decomposition(self.size, n_global, domains,
                                                           replicas)  # fmt: skip
        self.domain_index = self.rank // self.replicas
        self.replica_index = self.rank % self.replicas
        self.i_lo, self.n_local = split_cells(n_global, self.domains, self.domain_index)
        self.is_root = self.rank == 0
        self.field_owner = self.replica_index == 0
        # ranks sharing this domain (replica sums) and the ring of this replica index
        self.domain_comm = comm.Split(self.domain_index, self.replica_index)
        self.ring = comm.Split(self.replica_index, self.domain_index)
        d = self.domains
        self.left = (self.domain_index - 1) % d
        self.right = (self.domain_index + 1) % d
        #: filter passes per halo exchange (N_GHOST: batched; 1: one exchange per pass)
        self.filter_batch = N_GHOST
        self._halo_send = np.zeros(2 * N_GHOST)
        self._halo_recv = np.zeros(2 * N_GHOST)
        self._leave_left = np.zeros(0, dtype=np.int64)
        self._leave_right = np.zeros(0, dtype=np.int64)
        self._holes = np.zeros(0, dtype=np.int64)
        self._dst = np.zeros(0, dtype=np.int64)
        self._src = np.zeros(0, dtype=np.int64)
        self._send_l = np.zeros((0, 1))
        self._send_r = np.zeros((0, 1))
        self._recv_l = np.zeros((0, 1))
        self._recv_r = np.zeros((0, 1))

    # ----------------------------------------------------------------- halos
    def _exchange(self, send_left: np.ndarray, send_right: np.ndarray,
                  recv_left: np.ndarray, recv_right: np.ndarray) -> None:
        """Send to both neighbours on the ring and receive from both (tags keep the
        directions apart when left == right)."""
        ring = self.ring
        reqs = [
            ring.Irecv(recv_left, source=self.left, tag=1),
            ring.Irecv(recv_right, source=self.right, tag=2),
            ring.Isend(send_left, dest=self.left, tag=2),
            ring.Isend(send_right, dest=self.right, tag=1),
        ]
        self.MPI.Request.Waitall(reqs)

    def _halo_buffers(self, n_arrays: int) -> tuple[np.ndarray, ...]:
        """Send/receive buffers for ``n_arrays`` halos of N_GHOST cells (grown, not
        reallocated per call)."""
        need = n_arrays * N_GHOST
        if self._halo_send.shape[0] < 2 * need:
            self._halo_send = np.zeros(2 * need)
            self._halo_recv = np.zeros(2 * need)
        s, r = self._halo_send, self._halo_recv
        return s[:need], s[need : 2 * need], r[:need], r[need : 2 * need]

    def fill_ghosts(self, *arrays: np.ndarray) -> None:
        """Ghosts <- the neighbouring domains' edge interior values (one message per
        direction for all arrays)."""
        if self.domains == 1:
            return SerialDomain.fill_ghosts(self, *arrays)
        g, n = N_GHOST, self.n_local
        send_l, send_r, recv_l, recv_r = self._halo_buffers(len(arrays))
        for k, a in enumerate(arrays):
            send_l[k * g : (k + 1) * g] = a[g : 2 * g]
            send_r[k * g : (k + 1) * g] = a[n : n + g]
        self._exchange(send_l, send_r, recv_l, recv_r)
        for k, a in enumerate(arrays):
            a[:g] = recv_l[k * g : (k + 1) * g]
            a[n + g : n + 2 * g] = recv_r[k * g : (k + 1) * g]
        return None

    def fold_ghosts(self, *arrays: np.ndarray) -> None:
        """Ghost contributions are added to the neighbours' edge cells; ghosts zeroed
        (one message per direction for all arrays)."""
        if self.domains == 1:
            return SerialDomain.fold_ghosts(self, *arrays)
        g, n = N_GHOST, self.n_local
        send_l, send_r, recv_l, recv_r = self._halo_buffers(len(arrays))
        for k, a in enumerate(arrays):
            send_l[k * g : (k + 1) * g] = a[:g]
            send_r[k * g : (k + 1) * g] = a[n + g : n + 2 * g]
        self._exchange(send_l, send_r, recv_l, recv_r)
        for k, a in enumerate(arrays):
            a[g : 2 * g] += recv_l[k * g : (k + 1) * g]
            a[n : n + g] += recv_r[k * g : (k + 1) * g]
            a[:g] = 0.0
            a[n + g :] = 0.0
        return None

    def sum_replicas(self, *arrays: np.ndarray) -> None:
        """Allreduce(SUM) over the replicas of this domain, in place."""
        if self.replicas == 1:
            return
        for a in arrays:
            self.domain_comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)

    def filter(self, a: np.ndarray, tmp: np.ndarray, passes: int) -> None:
        """1-2-1 passes across domain edges (see :meth:`filter_many`)."""
        self.filter_many((a,), tmp, passes)

    def filter_many(self, arrays, tmp: np.ndarray, passes: int) -> None:
        """1-2-1 passes of several arrays across domain edges, batched: one halo exchange
        (all arrays in one message) per ``filter_batch`` passes (the valid region shrinks
        by one cell per pass); ghosts valid on return."""
        if self.domains == 1:
            for a in arrays:
                SerialDomain.filter(self, a, tmp, passes)
            return
        from pic1d.kernels.filter import binomial_pass

        done = 0
        while done < passes:
            self.fill_ghosts(*arrays)
            batch = min(self.filter_batch, passes - done)
            for a in arrays:
                n_arr = a.shape[0]
                for p in range(batch):
                    binomial_pass(a, tmp, 1 + p, n_arr - 1 - p)
            done += batch
        self.fill_ghosts(*arrays)

    # ------------------------------------------------------------- particles
    def _grow_index(self, n: int) -> None:
        if self._leave_left.shape[0] < n:
            size = int(n * 1.25) + 64
            self._leave_left = np.zeros(size, dtype=np.int64)
            self._leave_right = np.zeros(size, dtype=np.int64)
            self._holes = np.zeros(size, dtype=np.int64)
            self._dst = np.zeros(size, dtype=np.int64)
            self._src = np.zeros(size, dtype=np.int64)

    @staticmethod
    def _buffer(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
        if buf.shape[0] < rows or buf.shape[1] != cols:
            return np.zeros((int(rows * 1.5) + 16, cols))
        return buf

    def exchange_rows(self, send_left: np.ndarray, send_right: np.ndarray, cols: int,
                      name: str) -> tuple[np.ndarray, np.ndarray]:
        """Send particle rows (rows, cols) to the left/right neighbour domain of this
        replica; returns the rows received from the left and from the right."""
        if self.domains == 1:
            return send_right, send_left
        counts_out = np.array([send_left.shape[0], cols, send_right.shape[0], cols],
                              dtype=np.int64)  # fmt: skip
        counts_in = np.zeros(4, dtype=np.int64)
        self._exchange(counts_out[0:2], counts_out[2:4], counts_in[0:2], counts_in[2:4])
        in_l, in_r = int(counts_in[0]), int(counts_in[2])
        if counts_in[1] != cols or counts_in[3] != cols:
            raise RuntimeError(
                f"migration of species {name!r}: this rank moves {cols} per-particle "
                f"columns but a neighbour moves {counts_in[1]}/{counts_in[3]} (per-particle "
                "arrays must be created on every rank)"
            )
        self._recv_l = self._buffer(self._recv_l, max(in_l, 1), cols)
        self._recv_r = self._buffer(self._recv_r, max(in_r, 1), cols)
        send_left = np.ascontiguousarray(send_left)
        send_right = np.ascontiguousarray(send_right)
        self._exchange(send_left, send_right, self._recv_l[:in_l], self._recv_r[:in_r])
        return self._recv_l[:in_l], self._recv_r[:in_r]

    def migrate(self, species) -> None:
        """Send particles that left the domain to the neighbour domain of this replica."""
        species.seg = None
        if self.domains == 1:
            return SerialDomain.migrate(self, species)
        from pic1d.kernels.boundary import (
            apply_moves,
            compaction_plan,
            pack_rows,
            select_leavers,
            unpack_rows,
        )

        n = species.n
        self._grow_index(n)
        lo = float(self.i_lo)
        hi = float(self.i_lo + self.n_local)
        n_l, n_r = select_leavers(species.x, n, lo, hi, float(self.n_global),
                                  self._leave_left, self._leave_right)  # fmt: skip
        columns = species.particle_columns()
        cols = len(columns)
        self._send_l = self._buffer(self._send_l, max(n_l, 1), cols)
        self._send_r = self._buffer(self._send_r, max(n_r, 1), cols)
        for c, arr in enumerate(columns):
            pack_rows(arr, self._leave_left, n_l, self._send_l, c)
            pack_rows(arr, self._leave_right, n_r, self._send_r, c)
        recv_l, recv_r = self.exchange_rows(self._send_l[:n_l], self._send_r[:n_r], cols,
                                            species.name)  # fmt: skip
        in_l, in_r = recv_l.shape[0], recv_r.shape[0]
        # remove the leavers: merge the two sorted index lists, fill holes from the end
        n_out = n_l + n_r
        holes = self._holes[:n_out]
        holes[:n_l] = self._leave_left[:n_l]
        holes[n_l:] = self._leave_right[:n_r]
        holes.sort()
        m = compaction_plan(holes, n_out, n, self._dst, self._src)
        for arr in columns:
            apply_moves(arr, self._dst, self._src, m)
        n_keep = n - n_out
        n_new = n_keep + in_l + in_r
        if n_new > species.capacity:
            species.grow(n_new)
            columns = species.particle_columns()
        for c, arr in enumerate(columns):
            unpack_rows(recv_l, in_l, c, arr, n_keep)
            unpack_rows(recv_r, in_r, c, arr, n_keep + in_l)
        species.n = n_new
        return None

    # ------------------------------------------------------------ reductions
    def allreduce_sum(self, values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=np.float64, copy=True)
        self.comm.Allreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM)
        return out

    def allreduce_max(self, value: float) -> float:
        return float(self.comm.allreduce(float(value), op=self.MPI.MAX))

    def barrier(self) -> None:
        self.comm.Barrier()

    def exscan_sum(self, value: float) -> float:
        """Sum of ``value`` over the domains to the left of this one (along the ring)."""
        out = self.ring.exscan(float(value), op=self.MPI.SUM)
        return 0.0 if out is None else float(out)

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)

    def gather_interior(self, arr: np.ndarray) -> np.ndarray | None:
        """Gather (..., n_local) interior arrays of all domains to world rank 0 (which is
        replica 0 of domain 0); returns (..., cells) there and None elsewhere."""
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if self.replica_index != 0:
            return None
        lead = arr.shape[:-1]
        flat = arr.reshape(-1, arr.shape[-1])
        counts = [split_cells(self.n_global, self.domains, d)[1] for d in range(self.domains)]
        out = None
        if self.ring.Get_rank() == 0:
            out = np.empty((flat.shape[0], self.n_global))
        for row in range(flat.shape[0]):
            recv = None
            if out is not None:
                recv = [out[row], counts, None, self.MPI.DOUBLE]
            self.ring.Gatherv(np.ascontiguousarray(flat[row]), recv, root=0)
        if out is None:
            return None
        return out.reshape(*lead, self.n_global)

    def split_particles(self) -> slice:
        """Replica k keeps every replicas-th particle starting at k."""
        return slice(self.replica_index, None, self.replicas)


def make_domain(n_global: int, domains: int = 0, replicas: int = 0):
    """The domain of this process for a run of ``n_global`` cells.

    Without mpi4py, or on a single rank, this is a :class:`SerialDomain` (after
    checking that the [parallel] request is compatible with one rank).
    """
    try:
        from mpi4py import MPI
    except ImportError:  # pragma: no cover - mpi4py is an optional dependency
        MPI = None
    size = MPI.COMM_WORLD.Get_size() if MPI is not None else 1
    if size == 1:
        choose_decomposition(1, n_global, domains, replicas)
        return SerialDomain(n_global)
    return MPIDomain(n_global, MPI.COMM_WORLD, domains, replicas)
