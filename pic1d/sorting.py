"""Cell-sorted species: the fused push + deposit step and the upkeep of the sort.

A species on the sorted path keeps its live particles ordered by local cell, with the
segment offsets in ``Species.seg`` (:mod:`pic1d.kernels.sorted`). One step is

1. :meth:`CellSort.push` - fused Boris push and per-segment deposit sums;
2. :meth:`CellSort.repair` - moves the few particles that changed cell into their new
   segment; the left movers of the first cell and the right movers of the last cell end up
   at the front and back of the live range, and :meth:`CellSort.migrate_ends` hands them
   to the neighbour domain (or, on one domain, wraps them to the other end of the box);
3. :meth:`CellSort.scatter` - adds the species' current to J' from the sums.

Arrivals are written in front of the first segment and behind the last one, so the live
range moves inside its arrays (:meth:`pic1d.species.Species.shift_window`) instead of
everything being shifted. No step allocates once the buffers have grown to size.
"""

from __future__ import annotations

import numpy as np

from pic1d.kernels.boris import factor_args
from pic1d.kernels.boundary import wrap_periodic_few
from pic1d.kernels.sorted import (
    BLOCK,
    N_SUMS,
    S_NL,
    S_NR,
    apply_moves_column,
    apply_moves_xu,
    cell_counts,
    is_cell_sorted,
    plan_sort_repair,
    push_deposit_sorted,
    scatter_segment_currents,
)

#: cell ranges run in parallel by the fused kernel (results do not depend on it)
N_CHUNKS = 32


class CellSort:
    """Sort state and scratch buffers of one species on one domain.

    Parameters
    ----------
    n_local : int
        Cells of the domain.
    """

    def __init__(self, n_local: int):
        self.n_local = n_local
        self.sums = np.zeros((n_local, N_SUMS))
        self.counts = np.zeros(n_local, dtype=np.int64)
        self.far = np.zeros(n_local, dtype=np.int64)
        self.new_seg = np.zeros(n_local + 1, dtype=np.int64)
        self.move_start = np.zeros(n_local + 1, dtype=np.int64)
        self.scratch = np.zeros((N_CHUNKS, 3, BLOCK))
        self.src = np.zeros(64, dtype=np.int64)
        self.dst = np.zeros(64, dtype=np.int64)
        self.tmp: dict[np.dtype, np.ndarray] = {}
        self.tmp_u: np.ndarray | None = None
        self.send_l = np.zeros((16, 1))
        self.send_r = np.zeros((16, 1))
        self.moves = 0
        self.deposited = False

    # ------------------------------------------------------------------ order
    def ensure_sorted(self, sp, x_offset: float) -> None:
        """Establish ``sp.seg`` (sorting the particles if needed, e.g. after loading)."""
        if sp.seg is not None:
            return
        n = sp.n
        x = sp.x[:n]
        if not cell_counts(x, x_offset, self.n_local, self.counts):
            raise RuntimeError(f"species {sp.name!r}: a particle lies outside this domain's "
                               "cells; cannot sort by cell")  # fmt: skip
        if not is_cell_sorted(x, x_offset):
            order = np.argsort(np.floor(x - x_offset), kind="stable")
            for _, arr in sp._arrays():
                arr[:n] = arr[:n][order]
        seg = np.zeros(self.n_local + 1, dtype=np.int64)
        np.cumsum(self.counts, out=seg[1:])
        sp.seg = seg

    # ------------------------------------------------------------------- step
    def push(self, sp, node_fields: np.ndarray, x_offset: float, qm_half_dt: float,
             pre, post, move: float, deposit: bool) -> None:
        """Fused push (+ deposit sums when ``deposit``) of the sorted species."""
        x, ux, uy, uz = sp.live()
        w = sp.extra["qw"][: sp.n] if ("qw" in sp.extra and deposit) else None
        pre, post = factor_args(pre, post, sp.dtype)
        push_deposit_sorted(x, ux, uy, uz, w, sp.seg, node_fields, x_offset, qm_half_dt,
                            pre, post, move, deposit, self.sums, self.scratch)  # fmt: skip
        self.deposited = deposit
        self.weights_per_particle = w is not None

    def check_moves(self, sp) -> None:
        """Raise if a particle went beyond the neighbouring cell in one step (CFL
        broken: the CIC stencil of the deposit no longer covers the move)."""
        if self.far.any():
            cells = np.flatnonzero(self.far)
            raise RuntimeError(
                f"species {sp.name!r}: particles of {cells.size} cell(s) (first: local cell "
                f"{int(cells[0])}) moved beyond the neighbouring cell in one step "
                "(|v_x| dt / (a_x dx) must stay below 1): the time step is too large for "
                "the compressed cell (see the CFL check in docs/decks.md)")

    def repair(self, sp, x_offset: float) -> tuple[int, int]:
        """Restore the cell sort after :meth:`push`.

        Returns
        -------
        (int, int)
            Left movers of the first cell (now at the front of the live range) and right
            movers of the last cell (at the back): the particles leaving the domain.
        """
        movers = 2 * int(self.sums[:, S_NL].sum() + self.sums[:, S_NR].sum())
        if self.src.shape[0] < movers:
            size = int(movers * 1.5) + 64
            self.src = np.zeros(size, dtype=np.int64)
            self.dst = np.zeros(size, dtype=np.int64)
        n = sp.n
        total = plan_sort_repair(sp.x[:n], sp.seg, self.sums, x_offset, self.new_seg,
                                 self.move_start, self.src, self.dst, self.far)  # fmt: skip
        self.check_moves(sp)
        self.moves = total
        if total:
            cols = sp.particle_columns()
            tmp_u = self._tmp_u(sp.ux.dtype, total)
            apply_moves_xu(*cols[:4], self.src, self.dst, total,
                           self._tmp(cols[0].dtype, total), tmp_u)  # fmt: skip
            for col in cols[4:]:
                apply_moves_column(col, self.src, self.dst, total, self._tmp(col.dtype, total))
        return int(self.new_seg[0]), n - int(self.new_seg[self.n_local])

    def _tmp_u(self, dtype, size: int) -> np.ndarray:
        buf = self.tmp_u
        if buf is None or buf.dtype != dtype or buf.shape[1] < size:
            buf = np.zeros((3, int(size * 1.5) + 64), dtype=dtype)
            self.tmp_u = buf
        return buf

    def _tmp(self, dtype, size: int) -> np.ndarray:
        buf = self.tmp.get(dtype)
        if buf is None or buf.shape[0] < size:
            buf = np.zeros(int(size * 1.5) + 64, dtype=dtype)
            self.tmp[dtype] = buf
        return buf

    def migrate_ends(self, sp, dom, n_front: int, n_back: int) -> None:
        """Hand the front (leaving left) and back (leaving right) particles to the
        neighbour domains through ``dom.exchange_rows`` and place the arrivals in front of
        the first segment and behind the last one; updates ``sp.seg``."""
        n = sp.n
        length = float(dom.n_global)
        cols = sp.particle_columns()
        nc = len(cols)
        self.send_l = _rows(self.send_l, n_front, nc)
        self.send_r = _rows(self.send_r, n_back, nc)
        for c, col in enumerate(cols):
            self.send_l[:n_front, c] = col[:n_front]
            self.send_r[:n_back, c] = col[n - n_back : n]
        wrap_periodic_few(self.send_l[:n_front, 0], length)
        wrap_periodic_few(self.send_r[:n_back, 0], length)
        recv_l, recv_r = dom.exchange_rows(self.send_l[:n_front], self.send_r[:n_back], nc,
                                           sp.name)  # fmt: skip
        in_l, in_r = recv_l.shape[0], recv_r.shape[0]
        n_new = n - n_front - n_back + in_l + in_r
        if n + in_l + in_r > sp.capacity:
            sp.grow(n + in_l + in_r)
        delta = n_front - in_l
        sp.shift_window(delta)
        if n_new > sp.capacity:
            sp.grow(n_new)
        sp.n = n_new
        cols = sp.particle_columns()
        for c, col in enumerate(cols):
            col[:in_l] = recv_l[:, c]
            col[n_new - in_r : n_new] = recv_r[:, c]
        seg = sp.seg
        seg[:] = self.new_seg
        seg -= delta
        seg[0] = 0
        seg[self.n_local] = n_new

    def scatter(self, sp, dx_over_dt: float, inv_a_y: float, inv_a_z: float,
                j_x: np.ndarray, j_y: np.ndarray, j_z: np.ndarray) -> None:
        """Add this species' current (from the sums of the last :meth:`push`) to J'."""
        qw = 1.0 if self.weights_per_particle else sp.qw
        scatter_segment_currents(self.sums, qw, dx_over_dt, inv_a_y, inv_a_z, j_x, j_y, j_z)


def _rows(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if buf.shape[0] < rows or buf.shape[1] != cols:
        return np.zeros((int(rows * 1.5) + 16, cols))
    return buf


