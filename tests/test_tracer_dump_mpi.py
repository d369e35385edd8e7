"""Raw tracer dumps under MPI without a gather (issue 6): per-rank part files stitched
with HDF5 virtual datasets give the same id-sorted openPMD dump as a serial run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pic1d.deck import parse_deck
from pic1d.parallel import MPIDomain, SerialDomain
from pic1d.simulation import Runner, Simulation
from tests.conftest import THERMAL_SPECIES, tracer_species

DECK = """
[run]
duration = "60 steps"
seed = 4
[grid]
cells = 32
cells_per_de = 4
filter_passes = 2
[plasma]
mass_ratio = 8
beta = 2.0
theta = 0.05
ppc = 8
{species}
[output]
history = 0
fields = 0
[output.spectra]
interval = 0
[output.tracers]
interval = "30 steps"
every = 2
precision = "float64"
""".replace("{species}", THERMAL_SPECIES + tracer_species(ppc=6, p_min=1.0, p_max=30.0))


def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def run_into(directory: Path, domain) -> None:
    cfg = parse_deck(DECK)
    sim = Simulation(cfg, domain)
    sim.initialize()
    Runner(sim, directory).run(cfg.run.steps)


@pytest.mark.mpi(min_size=2)
def test_parallel_tracer_dump_equals_serial():
    from postprocess.tracers import read_dump

    base = comm().bcast(tempfile.mkdtemp(prefix="pic1d_tr_") if comm().Get_rank() == 0 else None)
    base = Path(base)
    par, ser = base / "par", base / "ser"
    if comm().Get_rank() == 0:
        par.mkdir()
        ser.mkdir()
    comm().Barrier()
    run_into(par, MPIDomain(32, comm(), 2, 1))
    if comm().Get_rank() == 0:
        run_into(ser, SerialDomain(32))
    comm().Barrier()
    if comm().Get_rank() != 0:
        return
    try:
        for step in (0, 30, 60):
            name = f"data{step:06d}.h5"
            assert (par / "tracers" / "parts" / f"data{step:06d}_r00001.h5").exists()
            a = read_dump(par, step, "cre")
            b = read_dump(ser, step, "cre")
            np.testing.assert_array_equal(a.ids, b.ids)  # same tracers, same order
            assert np.all(np.diff(a.ids.astype(np.int64)) > 0)
            np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-9)
            np.testing.assert_allclose(a.u, b.u, rtol=1e-9, atol=1e-12)
            checker = [sys.executable, "-m", "openpmd_validator.check_h5", "-i",
                       str(par / "tracers" / name)]
            proc = subprocess.run(checker, capture_output=True, text=True, timeout=120)
            assert "Result: 0 Errors" in proc.stdout, proc.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)
