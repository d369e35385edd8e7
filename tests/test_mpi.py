"""MPI decomposition (issue 6): run by `make test` under `mpiexec -n 2` (marker `mpi`).

Each test runs the same deck as one rank (a SerialDomain on every rank, independently) and
as two ranks (2 domains, or 1 domain x 2 replicas), and compares on rank 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from pic1d.deck import parse_deck
from pic1d.kernels import N_GHOST
from pic1d.kernels.deposit import deposit_charge
from pic1d.parallel import MPIDomain, SerialDomain
from pic1d.simulation import Simulation
from tests.conftest import THERMAL_SPECIES, run_keeping_history, tracer_species

DECK = """
[run]
duration = "100 steps"
seed = 21
[grid]
cells = 48
cells_per_de = 4
filter_passes = 8
[plasma]
mass_ratio = 8
beta = 2.0
theta = 0.05
ppc = 16
[compression]
profile = "power"
tau_c = "20 /Omega_i0"
{species}
[output]
history = "50 steps"
fields = 0
[output.spectra]
interval = 0
""".replace("{species}", THERMAL_SPECIES + tracer_species())


def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _sorted(p):
    return p[np.lexsort((p[:, 1], p[:, 0]))]


def local_particles(sim, species_index):
    """This rank's particles of a species sorted by (x, ux): an (n, 4) array."""
    sp = sim.species[species_index]
    return _sorted(np.stack(sp.live(), axis=1))


def gather_particles(sim, species_index):
    """All particles of a species on rank 0, sorted by (x, ux): an (n, 4) array."""
    parts = comm().gather(local_particles(sim, species_index), root=0)
    if comm().Get_rank() != 0:
        return None
    return _sorted(np.concatenate(parts))


def run_history(sim, steps):
    _, hist = run_keeping_history(sim, steps)
    return [{k: v[i] for k, v in hist.items()} for i in range(len(hist["step"]))]


@pytest.fixture(scope="module")
def serial_reference():
    cfg = parse_deck(DECK)
    sim = Simulation(cfg, SerialDomain(cfg.grid.cells))
    sim.initialize()
    init = [local_particles(sim, k) for k in range(3)]
    rows = run_history(sim, 100)
    fields = sim.gather_node_fields()
    final = [local_particles(sim, k) for k in range(3)]
    return {"init": init, "rows": rows, "fields": fields, "final": final,
            "ids": np.sort(sim.species[2].ids[: sim.species[2].n])}


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", [(2, 1), (1, 2)], ids=["2 domains", "2 replicas"])
def test_decomposition_independence(serial_reference, layout):
    domains, replicas = layout
    cfg = parse_deck(DECK)
    dom = MPIDomain(cfg.grid.cells, comm(), domains, replicas)
    sim = Simulation(cfg, dom)
    sim.initialize()
    init = [gather_particles(sim, k) for k in range(3)]
    rows = run_history(sim, 100)
    fields = sim.gather_node_fields()
    final = [gather_particles(sim, k) for k in range(3)]
    counts = comm().allreduce(sim.species[2].n)
    ids = comm().gather(sim.species[2].ids[: sim.species[2].n].copy(), root=0)
    if comm().Get_rank() != 0:
        return
    ref = serial_reference
    for k in range(3):  # bitwise identical initial state
        np.testing.assert_array_equal(init[k], ref["init"][k])
    # fields and energies after 100 steps: 1e-12 relative
    scale = np.max(np.abs(ref["fields"]), axis=0)
    diff = np.max(np.abs(fields - ref["fields"]), axis=0)
    assert np.all(diff <= 1e-12 * scale + 1e-300), diff / scale
    for key in ("energy_total", "energy_E", "energy_dB", "T_perp_ions", "T_par_electrons",
                "energy_kinetic_electrons", "work_rate"):
        a, b = rows[-1][key], ref["rows"][-1][key]
        assert abs(a - b) <= 1e-12 * abs(b), (key, a, b)
    # particles: same set to round-off; counts and tracer ids conserved by migration
    for k in range(3):
        assert final[k].shape == ref["final"][k].shape
        np.testing.assert_allclose(final[k], ref["final"][k], rtol=0, atol=1e-9)
    assert counts == ref["ids"].size
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), ref["ids"])


@pytest.mark.mpi(min_size=2)
def test_gauss_law_across_domain_boundaries():
    cfg = parse_deck(DECK.replace('"100 steps"', '"400 steps"'))
    dom = MPIDomain(cfg.grid.cells, comm(), 2, 1)
    sim = Simulation(cfg, dom)
    sim.initialize()
    crossed = 0
    lo, hi = dom.i_lo, dom.i_lo + dom.n_local
    for _ in range(400):
        before = sim.species[1].n
        sim.advance()
        crossed += abs(sim.species[1].n - before)
        x = sim.species[1].x[: sim.species[1].n]
        assert np.all((x >= lo) & (x < hi))
    rho = np.zeros(sim.grid.n_arr)
    for sp in sim.species:
        if not sp.tracer:
            deposit_charge(sp.x[: sp.n], sp.qw, dom.x_offset, rho, 1)
    dom.fold_ghosts(rho)
    dom.filter(rho, sim.grid.tmp, cfg.grid.filter_passes)
    j = np.arange(N_GHOST, N_GHOST + dom.n_local)
    div = (sim.grid.d[0][j] - sim.grid.d[0][j - 1]) / cfg.grid.dx
    err = comm().allreduce(float(np.max(np.abs(div - rho[j]))), op=__import__("mpi4py").MPI.MAX)
    scale = comm().allreduce(float(np.max(np.abs(div))), op=__import__("mpi4py").MPI.MAX)
    total_crossed = comm().allreduce(crossed)
    assert total_crossed > 0
    assert scale > 1e-6
    assert err <= 1e-10 * scale
