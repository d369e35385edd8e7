"""Appendix-C procedures of the reference study, acting at given times of a run.

* **halt** (``[compression] t_halt``): all scale factors freeze from then on (Ldot = 0);
  implemented in :class:`pic1d.comoving.ScaleFactors`.
* **reset_waves** (``[compression] t_reset_waves``): :func:`reset_waves` below.
"""

from __future__ import annotations

import logging

import numpy as np

from pic1d.diagnostics.moments import MomentCalculator
from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import deposit_charge
from pic1d.kernels.procedures import (
    boost_to_local_frame,
    cell_sums,
    rescale_per_cell,
)

log = logging.getLogger("pic1d")

#: passes of the 1-2-1 filter applied to the CIC moments: a 1-4-6-4-1 (5-cell) kernel
BULK_SMOOTH_PASSES = 2


def remove_bulk_flow(sim, species) -> None:
    """Boost each particle of ``species`` into its species' local bulk frame.

    The bulk 3-velocity U(x) = N/n comes from CIC moments smoothed with a 5-cell
    binomial kernel (1-4-6-4-1)/16, gathered to the particles with CIC weights. Each
    particle is Lorentz-boosted by -U and its weight multiplied by gamma'/gamma; weights
    are then renormalised per cell so the charge of every cell is unchanged. The species
    gets a per-particle charge-weight array ``extra["qw"]``.
    """
    dom, grid = sim.domain, sim.grid
    calc = MomentCalculator(dom, grid.n_arr, 1)
    raw = calc.deposit(species)
    n = raw[:, 0].copy()
    flux = raw[:, 1:4].T.copy()
    tmp = np.zeros(grid.n_arr)
    dom.filter(n, tmp, BULK_SMOOTH_PASSES)
    for i in range(3):
        dom.filter(flux[i], tmp, BULK_SMOOTH_PASSES)
    bulk = np.zeros((grid.n_arr, 3))
    ok = n > 0
    for i in range(3):
        bulk[ok, i] = flux[i][ok] / n[ok]
    # no early return for n = 0: sum_replicas below is collective
    if "qw" not in species.extra:
        species.add_extra("qw")[: species.n] = species.qw
    qw = species.extra["qw"]
    x, ux, uy, uz = species.live()
    w = qw[: species.n] / species.charge
    cell_of = np.zeros(species.n, dtype=np.int64)
    before = np.zeros(grid.n_arr)
    cell_sums(w, cell_of_initial(x, dom.x_offset), before)
    boost_to_local_frame(x, ux, uy, uz, w, bulk, dom.x_offset, cell_of)
    after = np.zeros(grid.n_arr)
    cell_sums(w, cell_of, after)
    # the replicas of a domain share its cells: renormalise with the cell totals of all
    dom.sum_replicas(before, after)
    factor = np.ones(grid.n_arr)
    nz = after > 0
    factor[nz] = before[nz] / after[nz]
    rescale_per_cell(w, cell_of, factor)
    qw[: species.n] = w * species.charge


def cell_of_initial(x: np.ndarray, x_offset: float) -> np.ndarray:
    """Array index of the cell holding each particle (floor of the array coordinate)."""
    return np.floor(x - x_offset).astype(np.int64)


def solve_gauss_x(sim) -> None:
    """Set d'_x from Gauss's law, div' d' = F^N(rho') with zero box mean (the filtered
    charge density, consistent with the filtered current the run deposits)."""
    dom, grid, cfg = sim.domain, sim.grid, sim.cfg
    rho = np.zeros(grid.n_arr)
    for sp in sim.species:
        if not sp.tracer and sp.n:
            deposit_charge(sp.x[: sp.n], sp.qw_arg(), dom.x_offset, rho, sim.order)
    dom.fold_ghosts(rho)
    dom.sum_replicas(rho)
    dom.filter(rho, grid.tmp, cfg.grid.filter_passes)
    s = grid.interior
    # d_x(i + 1/2) = d_x(i - 1/2) + dx rho(i): local prefix sum plus the offset carried
    # from the domains to the left, then the global mean removed
    local = np.cumsum(rho[s]) * cfg.grid.dx
    offset = dom.exscan_sum(float(local[-1]))
    dx_half = local + offset
    mean = dom.allreduce_sum(np.array([dx_half.sum() if dom.field_owner else 0.0]))[0]
    dx_half -= mean / cfg.grid.cells
    grid.d[0][s] = dx_half
    dom.fill_ghosts(grid.d[0])


def reset_waves(sim, repeats: int = 2) -> None:
    """Zero the waves and each species' bulk flow (reference study Appendix C).

    * E_perp = 0 and B_perp = its box mean (the background), B_x kept;
    * every thermal species: bulk flow removed (:func:`remove_bulk_flow`), ``repeats``
      times (the first pass leaves a few per cent of the flow, the second removes it);
    * E_x recomputed from Gauss's law with the new charge density (zeroing E_x outright
      would violate div E = rho, which the charge-conserving scheme would then carry
      for the rest of the run).
    """
    grid, dom = sim.grid, sim.domain
    s = grid.interior
    for comp in (1, 2):
        grid.d[comp][:] = 0.0
        mean = dom.allreduce_sum(np.array([grid.b[comp][s].sum() if dom.field_owner else 0.0]))
        grid.b[comp][:] = mean[0] / sim.cfg.grid.cells
    for _ in range(repeats):
        for sp in sim.species:
            if not sp.tracer:
                remove_bulk_flow(sim, sp)
    solve_gauss_x(sim)
    dom.fill_ghosts(*grid.d, *grid.b)
    grid.collocate(sim.sf, sim.time)
    log.info("reset_waves at step %d (t = %.4g /omega_pe0)", sim.step, sim.time)


__all__ = ["reset_waves", "remove_bulk_flow", "solve_gauss_x", "N_GHOST"]
