"""Checkpoint/restart and run safety (issue 7): bitwise restarts, signals, wall time,
corrupted checkpoints, numerical guards, refused physics changes, disk checks.

The reference is one uninterrupted run (module fixture); every restarted run is compared
with it **bitwise**: the final checkpoint files (grid d, b, j with ghosts; every particle
array incl. ids, u0 and the in-situ per-tracer state) and every dataset of history.h5,
spectra.h5, insitu.h5 and of the fields/ and tracers/ iteration files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pic1d.cli import main
from pic1d.io.checkpoint import find_checkpoint, list_checkpoints, read_manifest
from pic1d.kernels import N_GHOST
from pic1d.parallel import SerialDomain
from tests.conftest import THERMAL_SPECIES, tracer_species

DECK = """
[run]
duration = "{duration}"
seed = 5
progress_seconds = {progress}
{run_extra}
[grid]
cells = 32
cells_per_de = 4
filter_passes = {passes}
[plasma]
mass_ratio = 8
beta = {beta}
theta = 0.05
ppc = 16
[compression]
profile = "power"
tau_c = "20 /Omega_i0"
{compression_extra}
{species}
[output]
history = "{history} steps"
fields = "{fields} steps"
[output.spectra]
interval = "5 steps"
[output.tracers]
interval = "20 steps"
precision = "float64"
[output.insitu]
interval = "10 steps"
p_bins = 5
mu_bins = 8
p0_bins = 10
[checkpoint]
every = "{every} steps"
keep = {keep}
"""

#: reset_waves exactly at the restart step 60 and again at 90: procedures, per-particle
#: weights (Species.extra["qw"]) and the restart point are all exercised
RESET = 't_reset_waves = ["60 steps", "90 steps"]'


def deck_text(duration="120 steps", progress=5.0, passes=4, beta=2.0, history=10, fields=20,
              every=40, keep=2, run_extra="", compression_extra=RESET) -> str:
    return DECK.format(duration=duration, progress=progress, passes=passes, beta=beta,
                       history=history, fields=fields, every=every, keep=keep,
                       run_extra=run_extra, compression_extra=compression_extra,
                       species=THERMAL_SPECIES + tracer_species())


def write_deck(path: Path, **kw) -> Path:
    path.write_text(deck_text(**kw))
    return path


# ------------------------------------------------------------------ comparisons
def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj)
                 if isinstance(obj, h5py.Dataset) else None)  # fmt: skip
    return out


def assert_h5_identical(a: Path, b: Path) -> None:
    """Every dataset bitwise equal (row datasets: the first n_rows rows)."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = _datasets(fa), _datasets(fb)
        assert set(da) == set(db), (a, set(da) ^ set(db))
        na, nb = fa.attrs.get("n_rows"), fb.attrs.get("n_rows")
        assert na == nb, (a, na, nb)
        for key, dsa in da.items():
            x, y = dsa[()], db[key][()]
            if na is not None and dsa.maxshape and dsa.maxshape[0] is None:
                x, y = x[:na], y[:na]
            assert x.dtype == y.dtype and x.shape == y.shape, (a, key)
            assert x.tobytes() == y.tobytes(), f"{a}: dataset {key} differs"


def assert_runs_identical(a: Path, b: Path, step: int | None = None) -> None:
    """Outputs and the checkpoint at ``step`` (default: the newest) bitwise equal."""
    for name in ("history.h5", "spectra.h5", "insitu.h5"):
        assert_h5_identical(a / name, b / name)
    for sub in ("fields", "tracers"):
        # files of the series and, for multi-rank tracer dumps, their part files
        fa = sorted(str(p.relative_to(a / sub)) for p in (a / sub).rglob("*.h5"))
        assert fa == sorted(str(p.relative_to(b / sub)) for p in (b / sub).rglob("*.h5")), sub
        for name in fa:
            assert_h5_identical(a / sub / name, b / sub / name)
    assert_checkpoints_identical(a, b, step)


def checkpoint_at(run: Path, step: int | None = None) -> Path:
    found = dict(list_checkpoints(run))
    return found[max(found) if step is None else step]


def assert_checkpoints_identical(a: Path, b: Path, step: int | None = None) -> None:
    ca, cb = checkpoint_at(a, step), checkpoint_at(b, step)
    assert ca.name == cb.name
    files = sorted(p.name for p in ca.glob("*.h5"))
    assert files and files == sorted(p.name for p in cb.glob("*.h5"))
    for name in files:
        assert_h5_identical(ca / name, cb / name)
    ma, mb = read_manifest(ca), read_manifest(cb)
    assert ma["runner"]["insitu"] == mb["runner"]["insitu"]
    assert ma["particles"] == mb["particles"]


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: 120 steps, checkpoints at 80 and 120 (every 40, keep 2)."""
    d = tmp_path_factory.mktemp("reference")
    deck = write_deck(d / "deck.toml")
    assert main(["run", str(deck), "--output", str(d / "run")]) == 0
    info = run_json(d / "run")
    assert info["status"] == "finished" and info["final_step"] == 120
    assert [s for s, _ in list_checkpoints(d / "run")] == [120, 80]  # keep = 2
    return d / "run"


# -------------------------------------------------------------------- bitwise
def test_bitwise_restart_serial(reference, tmp_path):
    """60 steps + final checkpoint + `pic1d restart` to 120 == 120 steps, bitwise."""
    deck = write_deck(tmp_path / "deck.toml")
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run), "--steps", "60"]) == 0
    info = run_json(run)
    assert info["status"] == "checkpointed" and info["stop_reason"] == "steps"
    assert info["final_step"] == 60 and info["checkpoint"].endswith("ckpt_000000060")
    m = read_manifest(checkpoint_at(run, 60))
    assert m["status"] == "valid" and m["step"] == 60 and m["deck"] == deck.read_text()
    assert m["decomposition"] == {"size": 1, "domains": 1, "replicas": 1, "cells": 32}
    assert m["rng"]["used_during_run"] is False
    with h5py.File(checkpoint_at(run, 60) / "rank00000.h5", "r") as f:
        cre = f["species/cre"]
        assert set(cre) >= {"x", "ux", "ids", "u0", "extra"}
        assert set(cre["extra"]) >= {"insitu_u_mark", "insitu_e_nonad"}
        assert "qw" in f["species/electrons/extra"]  # weights after reset_waves at 60
        assert f["grid/d"].shape == (3, 32 + 2 * N_GHOST)

    assert main(["restart", str(run)]) == 0
    info = run_json(run)
    assert info["status"] == "finished" and info["final_step"] == 120
    assert info["restarts"][-1]["from_step"] == 60 and not info["restarts"][-1]["deck_changed"]
    assert_runs_identical(reference, run)
    # nothing left behind: no temporary files or directories anywhere
    assert not [p for p in run.rglob(".*") if p.name.endswith(".tmp")]


def test_restart_with_new_output_cadences(reference, tmp_path):
    """`pic1d run DECK --restart latest` with other output cadences continues at the global
    step cadence: no duplicated or missing rows, the outputs due at the restart step under
    the new cadences are written, the physics stays bitwise identical."""
    deck = write_deck(tmp_path / "deck.toml", every=50)
    run = tmp_path / "run"
    # checkpoints at 50 and 70; restarting from 50 must drop the outputs of 51..70
    assert main(["run", str(deck), "--output", str(run), "--steps", "70"]) == 0
    deck2 = write_deck(tmp_path / "deck2.toml", history=5, fields=25)
    ckpt = run / "checkpoints" / "ckpt_000000050"
    assert main(["run", str(deck2), "--output", str(run), "--restart", str(ckpt)]) == 0
    info = run_json(run)
    assert info["status"] == "finished" and info["restarts"][-1]["deck_changed"]
    assert info["restarts"][-1]["previous_deck"] == deck.read_text()
    assert (run / "checkpoints" / "ckpt_000000070.superseded").is_dir()
    assert (run / "deck.toml").read_text() == deck2.read_text()
    with h5py.File(run / "history.h5", "r") as f:
        steps = f["step"][: int(f.attrs["n_rows"])]
    expect = list(range(0, 51, 10)) + list(range(55, 121, 5))
    np.testing.assert_array_equal(steps, expect)
    with h5py.File(reference / "history.h5", "r") as f:  # same physics: same values
        ref = {int(s): e for s, e in zip(f["step"][:], f["energy_total"][:], strict=True)}
    with h5py.File(run / "history.h5", "r") as f:
        got = dict(zip(f["step"][:].tolist(), f["energy_total"][:], strict=True))
    for s in range(0, 121, 10):
        assert got[s] == ref[s], s
    fields = sorted(int(p.name[4:10]) for p in (run / "fields").glob("data*.h5"))
    assert fields == [0, 20, 40, 50, 75, 100]  # 50: due under the new cadence, caught up
    assert_checkpoints_identical(reference, run, 120)


def test_restart_extends_a_finished_run(reference, tmp_path):
    """A finished run keeps its final checkpoint; a longer duration continues it."""
    deck = write_deck(tmp_path / "deck.toml", duration="80 steps")
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run)]) == 0
    assert run_json(run)["status"] == "finished"
    assert [s for s, _ in list_checkpoints(run)] == [80, 40]
    deck2 = write_deck(tmp_path / "deck2.toml", duration="120 steps")
    assert main(["run", str(deck2), "--output", str(run), "--restart", "latest"]) == 0
    assert run_json(run)["final_step"] == 120
    assert_checkpoints_identical(reference, run, 120)


# -------------------------------------------------------------- refused changes
@pytest.mark.parametrize("change, key", [
    ({"beta": 3.0}, "[plasma] beta"),
    ({"passes": 2}, "[grid] filter_passes"),
    ({"run_extra": "precision = \"float32\""}, "[run] precision"),
    ({"compression_extra": 't_reset_waves = ["60 steps"]'}, "[compression] t_reset_waves"),
], ids=["beta", "filter", "precision", "reset"])  # fmt: skip
def test_physics_change_is_refused(tmp_path, capsys, change, key):
    deck = write_deck(tmp_path / "deck.toml")
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run), "--steps", "30"]) == 0
    rows = run_json(run)["final_step"]
    capsys.readouterr()
    deck2 = write_deck(tmp_path / "deck2.toml", **change)
    assert main(["run", str(deck2), "--output", str(run), "--restart", "latest"]) == 2
    err = capsys.readouterr().err
    assert "restart refused" in err and key in err, err
    # nothing was touched
    assert run_json(run)["status"] == "checkpointed" and rows == 30
    assert (run / "deck.toml").read_text() == deck.read_text()
    with h5py.File(run / "history.h5", "r") as f:
        assert int(f.attrs["n_rows"]) == 4


# ---------------------------------------------------------- corrupt checkpoints
def _corrupt(ckpt: Path, how: str) -> None:
    f = ckpt / "rank00000.h5"
    if how == "truncated":
        data = f.read_bytes()
        f.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        with open(f, "r+b") as fh:
            fh.seek(f.stat().st_size // 2)
            byte = fh.read(1)
            fh.seek(-1, os.SEEK_CUR)
            fh.write(bytes([byte[0] ^ 0x01]))
    elif how == "no-manifest":  # a crash before the manifest (cannot happen with the
        (ckpt / "manifest.json").unlink()  # rename protocol, but must be handled)


@pytest.mark.parametrize("how", ["truncated", "flipped", "no-manifest"])
def test_corrupted_checkpoint_is_skipped(reference, tmp_path, caplog, how):
    deck = write_deck(tmp_path / "deck.toml", every=20, keep=3)
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run), "--steps", "60"]) == 0
    assert [s for s, _ in list_checkpoints(run)] == [60, 40, 20]
    _corrupt(checkpoint_at(run, 60), how)
    with pytest.raises(Exception, match="invalid checkpoint"):
        find_checkpoint(run, SerialDomain(32), checkpoint_at(run, 60))
    assert main(["restart", str(run), "--steps", "80"]) == 0
    assert "skipping invalid checkpoint ckpt_000000060" in caplog.text
    info = run_json(run)
    assert info["restarts"][-1]["from_step"] == 40
    assert "ckpt_000000060" in info["restarts"][-1]["skipped"][0]
    assert (run / "checkpoints" / "ckpt_000000060.corrupt").is_dir()
    assert [s for s, _ in list_checkpoints(run)][:1] == [80]
    assert_checkpoints_identical(reference, run, 80)


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    """A checkpoint that cannot be written (disk full) stops the run with exit 1; the
    previous checkpoint stays valid and nothing half-written is left."""
    import pic1d.io.checkpoint as ck

    orig = ck._write_rank_file

    def failing(path, sim):
        if sim.step >= 40:
            with open(path, "wb") as fh:  # a partial file, then the disk is full
                fh.write(b"\0" * 100)
            raise OSError(28, "No space left on device")
        return orig(path, sim)

    monkeypatch.setattr(ck, "_write_rank_file", failing)
    deck = write_deck(tmp_path / "deck.toml", every=20, keep=3)
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run), "--steps", "60"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert [s for s, _ in list_checkpoints(run)] == [20]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt_000000020"]
    info = run_json(run)
    assert info["status"] == "failed" and info["stop_reason"] == "checkpoint failed"
    monkeypatch.undo()
    path, manifest, skipped = find_checkpoint(run, SerialDomain(32))
    assert manifest["step"] == 20 and not skipped


# ----------------------------------------------------------- signals, walltime
LONG = dict(duration="100000 steps", progress=0.02, every=0,
            compression_extra='t_halt = "150 steps"')  # fmt: skip


def test_sigterm_checkpoints_and_restarts_bitwise(tmp_path):
    """SIGTERM to a running `pic1d run`: exit 0 with a checkpoint at the end of the current
    step; restarting it equals an uninterrupted run to the same step, bitwise."""
    deck = write_deck(tmp_path / "deck.toml", **LONG)
    run = tmp_path / "run"
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "pic1d", "run", str(deck), "--output",
                             str(run)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)  # fmt: skip
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= 25:
                proc.send_signal(signal.SIGTERM)
                break
        out.append(proc.stdout.read())
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(out)
    assert rc == 0, text
    assert "received SIGTERM" in text and "pic1d restart" in text, text
    info = run_json(run)
    assert info["status"] == "checkpointed" and info["stop_reason"] == "signal SIGTERM"
    stop = info["final_step"]
    assert stop >= 25 and [s for s, _ in list_checkpoints(run)] == [stop]
    # continue 15 steps, and compare with an uninterrupted run to the same step
    assert main(["restart", str(run), "--steps", str(stop + 15)]) == 0
    ref = tmp_path / "ref"
    assert main(["run", str(deck), "--output", str(ref), "--steps", str(stop + 15)]) == 0
    assert_runs_identical(ref, run)


def test_walltime_stops_with_a_checkpoint(tmp_path):
    deck = write_deck(tmp_path / "deck.toml", **LONG)
    run = tmp_path / "run"
    t0 = time.monotonic()
    assert main(["run", str(deck), "--output", str(run), "--walltime", "00:00:03"]) == 0
    elapsed = time.monotonic() - t0
    info = run_json(run)
    assert info["status"] == "checkpointed" and info["stop_reason"] == "walltime"
    assert 0 < info["final_step"] and list_checkpoints(run)[0][0] == info["final_step"]
    assert elapsed < 3.0, elapsed


def test_walltime_parsing():
    from pic1d.guards import parse_walltime

    assert parse_walltime("01:02:03") == 3723
    assert parse_walltime("1-00:00:10") == 86410
    assert parse_walltime("05:00") == 300
    for bad in ("abc", "1:61:00", "0:00:00", "12"):
        with pytest.raises(ValueError):
            parse_walltime(bad)


# ------------------------------------------------------------- numerical guards
def _inject(monkeypatch, at_step, action):
    import pic1d.simulation as simulation

    orig = simulation.Simulation.advance

    def advance(self):
        orig(self)
        if self.step == at_step:
            action(self)

    monkeypatch.setattr(simulation.Simulation, "advance", advance)


def test_nan_in_a_field_stops_with_status_3(tmp_path, monkeypatch, capsys):
    def poison(sim):
        sim.grid.d[1][N_GHOST + 7] = np.nan

    _inject(monkeypatch, 25, poison)
    deck = write_deck(tmp_path / "deck.toml", every=10, keep=5)
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run)]) == 3
    err = capsys.readouterr().err
    assert ("numerical guard: non-finite value (NaN/Inf) in field d_y (E_y) at step 25, "
            "global cell 7") in err, err
    info = run_json(run)
    assert info["status"] == "failed" and info["final_step"] == 25
    assert info["stop_reason"] == "numerical guard"
    failed = run / "checkpoints" / "ckpt_000000025.failed"
    assert read_manifest(failed)["status"] == "failed"
    with h5py.File(failed / "rank00000.h5", "r") as f:
        assert np.isnan(f["grid/d"][1, N_GHOST + 7])
    # the last good checkpoint is the restart point; the failed state is never used
    assert [s for s, _ in list_checkpoints(run)] == [20, 10]
    monkeypatch.undo()
    path, manifest, _ = find_checkpoint(run, SerialDomain(32))
    assert manifest["step"] == 20
    with pytest.raises(Exception, match="failed"):
        find_checkpoint(run, SerialDomain(32), failed)
    history = h5py.File(run / "history.h5", "r")
    with history:  # no output of the bad state
        assert history["step"][int(history.attrs["n_rows"]) - 1] == 20


def test_energy_growth_stops_with_status_3(tmp_path, monkeypatch, capsys):
    def heat(sim):
        sp = sim.species[1]
        for u in (sp.ux, sp.uy, sp.uz):
            u[: sp.n] *= 5.0

    _inject(monkeypatch, 15, heat)
    deck = write_deck(tmp_path / "deck.toml", run_extra="max_energy_growth = 2.0")
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run)]) == 3
    err = capsys.readouterr().err
    assert "numerical guard: total energy grew to" in err and "at step 20" in err, err
    assert (run / "checkpoints" / "ckpt_000000020.failed").is_dir()
    assert run_json(run)["status"] == "failed"


def test_max_energy_growth_deck_key():
    from pic1d.deck import DeckError, parse_deck

    assert parse_deck(deck_text()).run.max_energy_growth == 10.0
    assert parse_deck(deck_text(run_extra="max_energy_growth = 0")).run.max_energy_growth == 0
    with pytest.raises(DeckError, match="max_energy_growth"):
        parse_deck(deck_text(run_extra="max_energy_growth = 0.5"))


# ---------------------------------------------------------------------- disks
def test_disk_space_is_checked_at_start(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10_000, 9_000, 1_000))
    deck = write_deck(tmp_path / "deck.toml")
    run = tmp_path / "run"
    assert main(["run", str(deck), "--output", str(run)]) == 2
    err = capsys.readouterr().err
    assert "not enough disk space" in err and "--no-disk-check" in err
    assert not (run / "run.json").exists()
    assert main(["run", str(deck), "--output", str(run), "--steps", "5", "--overwrite",
                 "--no-disk-check"]) == 0  # fmt: skip


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_is_an_input_error(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        deck = write_deck(tmp_path / "deck.toml")
        assert main(["run", str(deck), "--output", str(parent / "run")]) == 2
        assert "error" in capsys.readouterr().err
    finally:
        parent.chmod(0o700)


def test_run_directory_below_a_file_is_an_input_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    deck = write_deck(tmp_path / "deck.toml")
    assert main(["run", str(deck), "--output", str(tmp_path / "file" / "run")]) == 2
    assert "error" in capsys.readouterr().err


def test_restart_errors_are_input_errors(tmp_path, capsys):
    deck = write_deck(tmp_path / "deck.toml")
    assert main(["restart", str(tmp_path / "missing")]) == 2
    run = tmp_path / "run"
    run.mkdir()
    (run / "deck.toml").write_text(deck.read_text())
    assert main(["restart", str(run)]) == 2
    assert "no valid checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------- library API
def test_library_restart_with_random_test_hooks(tmp_path):
    """write_checkpoint / load_checkpoint / Runner.run(resume=True) without the CLI: the
    generator of a random test hook is saved per rank, so a restart stays bitwise."""
    from pic1d.deck import parse_deck
    from pic1d.diagnostics.tracers import MuRandomWalk
    from pic1d.io.checkpoint import load_checkpoint, write_checkpoint
    from pic1d.simulation import Runner, Simulation

    cfg = parse_deck(deck_text(duration="40 steps", compression_extra=""))

    def new_sim():
        sim = Simulation(cfg)
        sim.tracer_hooks = [MuRandomWalk(0.05, seed=7)]
        return sim

    ref = new_sim()
    ref.initialize()
    Runner(ref, None).run(40)

    sim = new_sim()
    sim.initialize()
    r = Runner(sim, None)
    r.run(20)
    path = write_checkpoint(sim, tmp_path, {"runner": r.checkpoint_state()})
    manifest = read_manifest(path)
    back = new_sim()  # a fresh generator: restored from the checkpoint
    assert load_checkpoint(back, path, manifest) is True
    r2 = Runner(back, None)
    r2.restore_state(manifest["runner"])
    assert r2.run(40, resume=True) == "steps"
    for a, b in zip(ref.species, back.species, strict=True):
        assert a.n == b.n
        for ca, cb in zip(a.particle_columns(), b.particle_columns(), strict=True):
            assert ca[: a.n].tobytes() == cb[: b.n].tobytes(), a.name
    assert ref.grid.d.tobytes() == back.grid.d.tobytes()
    assert ref.grid.b.tobytes() == back.grid.b.tobytes()
