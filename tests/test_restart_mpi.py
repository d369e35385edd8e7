"""Checkpoint/restart under MPI (issue 7): run by `make test` under `mpiexec -n 2`.

* bitwise: 2N steps == N + checkpoint + restart + N, for 2 domains and for 2 replicas,
  with compression, filtering, reset_waves at the restart step and tracers with in-situ
  output on (every checkpoint file and output dataset compared bitwise on rank 0);
* a signal on one rank stops both ranks collectively with a checkpoint (exit 0), and the
  restart is bitwise;
* a checkpoint written as 2 domains restarts as 2 replicas (particles redistributed by
  position): equal to the uninterrupted run to round-off, particle ids conserved.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest

from pic1d.cli import main

from .test_restart import (
    assert_runs_identical,
    checkpoint_at,
    write_deck,
)


def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.fixture
def shared(tmp_path):
    """A directory common to both ranks (rank 0's tmp_path)."""
    return Path(comm().bcast(str(tmp_path), root=0))


def run_cli(*args: str) -> int:
    code = main(list(args))
    codes = comm().allgather(code)
    assert len(set(codes)) == 1, codes  # every rank returns the same status
    return code


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", [("2", "1"), ("1", "2")], ids=["2 domains", "2 replicas"])
def test_bitwise_restart_mpi(shared, layout):
    par = ["--domains", layout[0], "--replicas", layout[1]]
    deck = shared / "deck.toml"
    if comm().Get_rank() == 0:
        write_deck(deck)
    comm().Barrier()
    ref, run = shared / "ref", shared / "run"
    assert run_cli("run", str(deck), "--output", str(ref), *par) == 0
    assert run_cli("run", str(deck), "--output", str(run), "--steps", "60", *par) == 0
    assert run_cli("restart", str(run), *par) == 0
    if comm().Get_rank() == 0:
        m = json.loads((checkpoint_at(run) / "manifest.json").read_text())
        assert m["decomposition"]["domains"] == int(layout[0])
        assert [f["name"] for f in m["files"]] == ["rank00000.h5", "rank00001.h5"]
        assert run_json(run)["status"] == "finished"
        assert_runs_identical(ref, run)


@pytest.mark.mpi(min_size=2)
def test_signal_on_one_rank_stops_all_ranks(shared, monkeypatch):
    import pic1d.simulation as simulation

    deck = shared / "deck.toml"
    if comm().Get_rank() == 0:
        write_deck(deck)
    comm().Barrier()
    par = ["--domains", "2"]
    orig = simulation.Simulation.advance

    def advance(self):
        orig(self)
        if self.step == 33 and comm().Get_rank() == 1:
            os.kill(os.getpid(), signal.SIGUSR1)

    monkeypatch.setattr(simulation.Simulation, "advance", advance)
    run, ref = shared / "run", shared / "ref"
    assert run_cli("run", str(deck), "--output", str(run), *par) == 0
    monkeypatch.undo()
    info = run_json(run)
    assert info["status"] == "checkpointed" and info["stop_reason"] == "signal SIGUSR1"
    stop = info["final_step"]
    assert stop == 33
    assert run_cli("restart", str(run), "--steps", "70", *par) == 0
    assert run_cli("run", str(deck), "--output", str(ref), "--steps", "70", *par) == 0
    if comm().Get_rank() == 0:
        assert_runs_identical(ref, run)


@pytest.mark.mpi(min_size=2)
def test_restart_on_another_decomposition(shared):
    """2 domains -> 1 domain x 2 replicas: redistributed by position; the continuation
    agrees with the uninterrupted 2-domain run to round-off."""
    deck = shared / "deck.toml"
    if comm().Get_rank() == 0:
        write_deck(deck, compression_extra="")
    comm().Barrier()
    ref, run = shared / "ref", shared / "run"
    assert run_cli("run", str(deck), "--output", str(ref), "--domains", "2") == 0
    assert run_cli("run", str(deck), "--output", str(run), "--steps", "60", "--domains",
                   "2") == 0  # fmt: skip
    assert run_cli("restart", str(run), "--domains", "1", "--replicas", "2") == 0
    if comm().Get_rank() != 0:
        return
    with h5py.File(ref / "history.h5", "r") as fa, h5py.File(run / "history.h5", "r") as fb:
        np.testing.assert_array_equal(fa["step"][:], fb["step"][:])
        for key in ("energy_total", "energy_B", "T_perp_ions", "T_par_electrons",
                    "energy_kinetic_electrons"):  # fmt: skip
            np.testing.assert_allclose(fb[key][:], fa[key][:], rtol=1e-11, err_msg=key)
    with h5py.File(ref / "insitu.h5", "r") as fa, h5py.File(run / "insitu.h5", "r") as fb:
        np.testing.assert_array_equal(fa["n_tracers_cre"][:], fb["n_tracers_cre"][:])
        np.testing.assert_allclose(fb["gain_dE_cre"][:], fa["gain_dE_cre"][:], rtol=1e-9,
                                   atol=1e-12)  # fmt: skip

    def gathered(path, name):
        out = {}
        for f in sorted(path.glob("rank*.h5")):
            with h5py.File(f, "r") as h:
                g = h["species"][name]
                for k in g:
                    if isinstance(g[k], h5py.Dataset):
                        out.setdefault(k, []).append(g[k][()])
        return {k: np.concatenate(v) for k, v in out.items()}

    a, b = gathered(checkpoint_at(ref, 120), "cre"), gathered(checkpoint_at(run, 120), "cre")
    ia, ib = np.argsort(a["ids"]), np.argsort(b["ids"])
    np.testing.assert_array_equal(a["ids"][ia], b["ids"][ib])
    np.testing.assert_array_equal(a["u0"][ia], b["u0"][ib])
    np.testing.assert_allclose(b["x"][ib], a["x"][ia], rtol=0, atol=1e-9)
    m = json.loads((checkpoint_at(run, 120) / "manifest.json").read_text())
    assert m["decomposition"]["replicas"] == 2
