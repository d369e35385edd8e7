"""An exception on one rank ends the whole MPI run promptly (issue 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import sys
from mpi4py import MPI
import pic1d.simulation as s
orig = s.Simulation.advance
def advance(self):
    if MPI.COMM_WORLD.Get_rank() == 1 and self.step == 20:
        raise RuntimeError("injected failure on rank 1")
    orig(self)
s.Simulation.advance = advance
from pic1d.cli import main
sys.exit(main(["run", sys.argv[1], "--output", sys.argv[2], "--domains", "2"]))
"""

DECK = """
[run]
duration = "100000 steps"
[grid]
cells = 32
cells_per_de = 4
[plasma]
mass_ratio = 8
beta = 2.0
theta = 0.05
ppc = 4
"""


def _mpiexec() -> str | None:
    local = Path(sys.executable).with_name("mpiexec")
    return str(local) if local.exists() else shutil.which("mpiexec")


@pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec")
def test_exception_on_one_rank_aborts_all(tmp_path):
    (tmp_path / "abort.py").write_text(SCRIPT)
    (tmp_path / "deck.toml").write_text(DECK)
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [_mpiexec(), "-n", "2", sys.executable, str(tmp_path / "abort.py"),
         str(tmp_path / "deck.toml"), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert "injected failure on rank 1" in proc.stderr + proc.stdout
    # start-up (imports, JIT cache) dominates; the abort itself must not hang
    assert elapsed < 120, elapsed
