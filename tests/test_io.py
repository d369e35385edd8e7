"""Tests of the I/O layer: atomic files, run directory, openPMD writer, series, reader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from pic1d.io import (
    AppendableSeries,
    MeshRecord,
    ParticleSpecies,
    RunDirectoryExists,
    atomic_h5,
    atomic_write,
    create_run_directory,
    iteration_files,
    read_series,
    remove_iterations_after,
    write_json_atomic,
    write_mesh_iteration,
    write_particle_iteration,
    write_particles_iteration,
)
from postprocess.io import open_run

VALIDATOR = Path(sys.executable).with_name("openPMD_check_h5")


def validate(path: Path, edpic: bool = True) -> tuple[int, int, str]:
    """Run openPMD_check_h5 on ``path``; return (errors, warnings, output)."""
    exe = str(VALIDATOR) if VALIDATOR.exists() else shutil.which("openPMD_check_h5")
    if exe is None:
        pytest.skip("openPMD_check_h5 not installed")
    cmd = [exe, "-i", str(path)] + (["--EDPIC"] if edpic else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    m = re.search(r"Result: (\d+) Errors and (\d+) Warnings", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return int(m.group(1)), int(m.group(2)), proc.stdout


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- atomic
def test_atomic_write_replaces_and_fsyncs(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    with atomic_write(target) as fh:
        fh.write(b"one")
    assert target.read_bytes() == b"one"
    with atomic_write(target, "w") as fh:
        fh.write("two")
        assert not target.read_text() == "two"  # not visible before the rename
    assert target.read_text() == "two"
    assert leftovers(tmp_path) == []


def test_atomic_write_exception_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target, "w") as fh:
            fh.write("half-written")
            raise RuntimeError("boom")
    assert target.read_text() == "previous"
    assert leftovers(tmp_path) == []
    # and with no previous file, nothing is created
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.bin") as fh:
            raise RuntimeError
    assert not (tmp_path / "new.bin").exists()
    assert leftovers(tmp_path) == []


def test_atomic_h5_exception_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "data000000.h5"
    with atomic_h5(target) as f:
        f["a"] = np.arange(3)
    with pytest.raises(KeyError):
        with atomic_h5(target) as f:
            f["a"] = np.arange(5)
            raise KeyError("x")
    with h5py.File(target, "r") as f:
        np.testing.assert_array_equal(f["a"][()], np.arange(3))
    assert leftovers(tmp_path) == []


def test_write_json_atomic(tmp_path: Path) -> None:
    import json

    obj = {"B0": np.float64(0.5), "cells": np.int64(64), "a": np.arange(2), "p": tmp_path}
    write_json_atomic(tmp_path / "run.json", obj)
    back = json.loads((tmp_path / "run.json").read_text())
    assert back == {"B0": 0.5, "cells": 64, "a": [0, 1], "p": str(tmp_path)}


# ---------------------------------------------------------------------- run directory
def test_create_run_directory(tmp_path: Path) -> None:
    run = create_run_directory(tmp_path / "a" / "b" / "run")
    assert run.is_dir()
    assert create_run_directory(run) == run  # empty: fine
    (run / "history.h5").write_text("x")
    (run / "fields").mkdir()
    (run / "fields" / "data000000.h5").write_text("x")
    (run / ".history.h5.abc.tmp").write_text("x")
    (run / "notes.txt").write_text("mine")
    (run / "deck.toml").write_text("keep me")
    with pytest.raises(RunDirectoryExists, match=r"--overwrite") as info:
        create_run_directory(run)
    assert str(run) in str(info.value)
    assert (run / "history.h5").exists()
    create_run_directory(run, overwrite=True, keep=[run / "deck.toml"])
    assert sorted(p.name for p in run.iterdir()) == ["deck.toml", "notes.txt"]
    create_run_directory(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        create_run_directory(tmp_path / "file", overwrite=True)


# -------------------------------------------------------------------------- openPMD
def _meshes(n: int, rng: np.random.Generator) -> dict:
    return {
        "E": {c: rng.normal(size=n) for c in "xyz"},
        "B": MeshRecord({c: rng.normal(size=n) for c in "xyz"}, time_offset=0.0),
        "J": {c: rng.normal(size=n) for c in "xyz"},
        "rho": rng.normal(size=n),
        "density_ions": rng.uniform(size=n),
        "pressure_ions": {k: rng.normal(size=n) for k in ("xx", "yy", "zz", "xy", "xz", "yz")},
    }


def test_mesh_iteration_valid_and_viewer_round_trip(tmp_path: Path) -> None:
    from openpmd_viewer import OpenPMDTimeSeries

    rng = np.random.default_rng(0)
    fields = tmp_path / "fields"
    fields.mkdir()
    n, dx, dt = 48, 0.25, 0.1
    written = {}
    for it in (0, 20):
        meshes = _meshes(n, rng)
        written[it] = meshes
        path = write_mesh_iteration(
            fields / f"data{it:06d}.h5",
            it,
            it * dt,
            dt,
            meshes,
            dx,
            0.0,
            attrs={"author": "pic1d test suite"},
            iteration_attrs={"step": it, "a_y": 0.9},
            meshes_attrs={
                "currentSmoothing": "Binomial",
                "currentSmoothingParameters": "period=1;numPasses=2;compensator=false",
            },
        )
        errors, warnings, out = validate(path)
        assert (errors, warnings) == (0, 0), out
    assert leftovers(fields) == []

    ts = OpenPMDTimeSeries(str(fields), check_all_files=True)
    assert list(ts.iterations) == [0, 20]
    np.testing.assert_allclose(ts.t, [0.0, 2.0])
    ex, info = ts.get_field("E", "x", iteration=20)
    np.testing.assert_array_equal(ex, written[20]["E"]["x"])
    np.testing.assert_array_equal(info.x, np.arange(n) * dx)
    rho, _ = ts.get_field("rho", iteration=0)
    np.testing.assert_array_equal(rho, written[0]["rho"])
    # openpmd-viewer only knows vector components x, y, z (r, t): tensor records such as
    # pressure_<sp>/xy are read with h5py or postprocess.io instead.
    with h5py.File(fields / "data000000.h5", "r") as f:
        pxy = f["data/0/meshes/pressure_ions/xy"][()]
    np.testing.assert_array_equal(pxy, written[0]["pressure_ions"]["xy"])

    with h5py.File(fields / "data000020.h5", "r") as f:
        assert f.attrs["iterationFormat"] == b"data%T.h5"
        e = f["data/20/meshes/E"]
        np.testing.assert_array_equal(e.attrs["unitDimension"], [1, 1, -3, -1, 0, 0, 0])
        assert e["x"].attrs["position"][0] == 0.0
        assert f["data/20"].attrs["a_y"] == 0.9


def test_mesh_iteration_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        write_mesh_iteration(
            tmp_path / "data000001.h5", 1, 0.0, 1.0, {"E": {"x": np.zeros(3), "y": np.zeros(4)}},
            1.0, 0.0,
        )  # fmt: skip
    with pytest.raises(ValueError, match="iteration"):
        write_mesh_iteration(tmp_path / "fields.h5", 1, 0.0, 1.0, {"rho": np.zeros(3)}, 1.0, 0.0)
    with pytest.raises(ValueError, match="may only contain"):
        write_mesh_iteration(
            tmp_path / "data000001.h5", 1, 0.0, 1.0, {"rho-x": np.zeros(3)}, 1.0, 0.0
        )
    assert list(tmp_path.iterdir()) == []


def test_particle_iteration_valid_and_viewer_round_trip(tmp_path: Path) -> None:
    from openpmd_viewer import OpenPMDTimeSeries
    from scipy import constants

    rng = np.random.default_rng(1)
    tracers = tmp_path / "tracers"
    tracers.mkdir()
    n, dx = 1000, 0.5
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    x = rng.uniform(0, 64, n)
    u = rng.normal(size=(3, n))
    path = write_particle_iteration(
        tracers / "data000040.h5", 40, 2.0, 0.05, "electrons", ids, x, *u,
        chunk=256, attrs={"author": "pic1d test suite"},
        dx=dx, charge=-1.0, mass=1.0, weighting=0.01, shape_order=2,
    )  # fmt: skip
    errors, warnings, out = validate(path)
    assert (errors, warnings) == (0, 0), out

    ts = OpenPMDTimeSeries(str(tracers))
    pid, px, pux = ts.get_particle(["id", "x", "ux"], species="electrons", iteration=40)
    np.testing.assert_array_equal(pid, ids.astype(np.uint64))
    np.testing.assert_array_equal(px, x * dx)  # stored in d_e0, offset 0
    # code units: the viewer returns p / (m c_SI) = u * (1 / (1 * c_SI)) for m = 1
    np.testing.assert_array_equal(pux, u[0] * (1.0 / (1.0 * constants.c)))

    with h5py.File(path, "r") as f:
        sp = f["data/40/particles/electrons"]
        assert sp["momentum/x"].chunks == (256,)
        np.testing.assert_array_equal(sp["momentum/z"][()], u[2])
        assert sp["charge"].attrs["value"] == -1.0
        assert sp["particlePatches/numParticles"][0] == n


def test_particles_float32_several_species_and_empty(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 50
    u = rng.normal(size=(3, n))
    species = [
        ParticleSpecies("ions", np.arange(n), rng.uniform(0, 8, n), *u, dx=0.5, charge=1.0,
                        mass=16.0, dtype=np.float32),
        ParticleSpecies("cre", np.arange(0), np.zeros(0), np.zeros(0), np.zeros(0),
                        np.zeros(0), dx=0.5, charge=-1.0, mass=1.0, weighting=0.0,
                        current_deposition="none"),
    ]  # fmt: skip
    (tmp_path / "tracers").mkdir()
    path = write_particles_iteration(tmp_path / "tracers" / "data000007.h5", 7, 0.35, 0.05, species)
    errors, warnings, out = validate(path)
    assert errors == 0, out
    p = open_run(tmp_path).particles(7, "ions")
    assert p["ux"].dtype == np.float32
    np.testing.assert_array_equal(p["ux"], u[0].astype(np.float32))
    assert open_run(tmp_path).particles(7, "cre")["x"].shape == (0,)


# --------------------------------------------------------------------------- series
def test_series_append_reopen_truncate(tmp_path: Path) -> None:
    path = tmp_path / "spectra.h5"
    rows = []
    s = AppendableSeries(path, attrs={"species_names": ["electrons", "ions"], "dt": 0.05})
    s.define("step", dtype=np.int64)
    s.define("time", attrs={"units": "1/omega_pe0"})
    s.define("Ey", n_x=16)
    s.write_static("x", np.arange(16) * 0.5)
    rng = np.random.default_rng(3)
    for k in range(5):
        row = {"step": 10 * k, "time": 0.5 * k, "Ey": rng.normal(size=16)}
        rows.append(row)
        assert s.append(row) == k + 1
    s.close()

    s = AppendableSeries(path)  # reopen and continue
    assert s.n_rows == 5
    s.define("step", dtype=np.int64)  # idempotent
    for k in range(5, 8):
        row = {"step": 10 * k, "time": 0.5 * k, "Ey": rng.normal(size=16)}
        rows.append(row)
        s.append(row)
    assert s.attrs["species_names"] == ["electrons", "ions"]
    np.testing.assert_array_equal(s.read("Ey"), np.array([r["Ey"] for r in rows]))
    np.testing.assert_array_equal(s.read("x"), np.arange(16) * 0.5)
    with pytest.raises(KeyError, match="missing"):
        s.append({"step": 80, "time": 4.0})

    assert s.truncate_after(35) == 4  # restart from step 35: keep steps 0..30
    data = read_series(path)
    np.testing.assert_array_equal(data["step"], [0, 10, 20, 30])
    np.testing.assert_array_equal(data["Ey"], np.array([r["Ey"] for r in rows[:4]]))
    s.append({"step": 40, "time": 2.0, "Ey": np.ones(16)})
    np.testing.assert_array_equal(read_series(path)["Ey"][-1], np.ones(16))
    assert read_series(path)["time"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_series_keep_open_and_auto_define(tmp_path: Path) -> None:
    path = tmp_path / "history.h5"
    with AppendableSeries(path, mode="w", keep_open=True) as s:
        for k in range(300):
            s.append({"step": k, "time": 0.1 * k, "energy_E": float(k) ** 2})
        s.flush()
        assert s.names == ["energy_E", "step", "time"]
    data = read_series(path)
    assert data["step"].dtype == np.int64
    np.testing.assert_array_equal(data["energy_E"], np.arange(300.0) ** 2)


def test_reader_ignores_unpublished_row(tmp_path: Path) -> None:
    path = tmp_path / "history.h5"
    s = AppendableSeries(path)
    for k in range(3):
        s.append({"step": k, "time": float(k)})
    # Simulate a crash after the data were written but before n_rows was bumped.
    with h5py.File(path, "r+") as f:
        for name in ("step", "time"):
            f[name].resize(4, axis=0)
            f[name][3] = 99
    assert read_series(path)["time"].tolist() == [0.0, 1.0, 2.0]
    (tmp_path / "run.json").write_text("{}")
    assert open_run(tmp_path).history["step"].tolist() == [0, 1, 2]
    # A writer reopening the file trims the stale row and appends cleanly.
    s = AppendableSeries(path)
    s.append({"step": 3, "time": 3.0})
    assert read_series(path)["step"].tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------------- reader
def test_open_run_synthetic(tmp_path: Path) -> None:
    run = create_run_directory(tmp_path / "run")
    derived = {
        "B0": 0.3, "omega_ci0": 0.3 / 16, "mass_ratio": 16.0, "dx": 0.2, "dt": 0.09,
        "d_i0": 4.0, "rho_i0": 6.5, "tau_c_Omega_i0": 800.0,
    }  # fmt: skip
    write_json_atomic(run / "run.json", {"command": "pic1d run x.toml", "derived": derived})
    n_x, n_t = 32, 6
    hist = AppendableSeries(run / "history.h5", attrs={"B0": 0.3, "species_names": ["e", "i"]})
    spec = AppendableSeries(run / "spectra.h5", attrs={"interval": 10, "stride": 1})
    x = np.arange(n_x) * derived["dx"]
    spec.write_static("x", x)
    rng = np.random.default_rng(4)
    ey = rng.normal(size=(n_t, n_x))
    for k in range(n_t):
        t = 10 * k * derived["dt"]
        hist.append({"step": 10 * k, "time": t, "energy_B": 1.0 + k})
        spec.append({"step": 10 * k, "time": t, "dBy": ey[k] * 2, "dBz": ey[k] * 3,
                     "Ey": ey[k], "Ez": -ey[k]})  # fmt: skip
    (run / "fields").mkdir()
    rho = {}
    for it in (0, 30):
        rho[it] = rng.normal(size=n_x)
        meshes = {"E": {c: ey[it // 10] for c in "xyz"}, "rho": rho[it]}
        write_mesh_iteration(run / "fields" / f"data{it:06d}.h5", it, it * 0.09, 0.09, meshes,
                             derived["dx"], 0.0)  # fmt: skip
    (run / "fields" / ".data000040.h5.0123.tmp").write_text("in progress")

    r = open_run(run)
    assert r.params["derived"]["B0"] == 0.3
    assert r.param("omega_ci0") == derived["omega_ci0"]
    assert r.param("species_names") == ["e", "i"]  # from history.h5 attributes
    h = r.history
    assert h.n_rows == n_t and "energy_B" in h.names
    t = h["time"]
    np.testing.assert_array_equal(r.time_in("Omega_i0"), t * derived["omega_ci0"])
    np.testing.assert_array_equal(r.time_in("omega_pe0"), t)
    tau_c = derived["tau_c_Omega_i0"] / derived["omega_ci0"]
    np.testing.assert_allclose(r.time_in("tau_c"), t / tau_c, rtol=1e-15)
    np.testing.assert_allclose(r.time_in("steps"), h["step"], rtol=1e-12)
    np.testing.assert_array_equal(r.length_in("rho_i0", x), x / 6.5)
    np.testing.assert_array_equal(r.length_in("d_i0", x), x / 4.0)
    np.testing.assert_allclose(r.length_in("cells", x), np.arange(n_x), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown"):
        r.time_in("fortnights")

    sp = r.spectra()
    np.testing.assert_array_equal(sp.x, x)
    np.testing.assert_array_equal(sp.Ey, ey)
    np.testing.assert_array_equal(sp.dBz, 3 * ey)
    assert sp.attrs["interval"] == 10 and sp.time.shape == (n_t,)

    assert r.field_iterations == [0, 30]
    xx, rr = r.field(30, "rho")
    np.testing.assert_array_equal(rr, rho[30])
    np.testing.assert_allclose(xx, x, rtol=1e-15)
    _, ez = r.field(30, "E", "z")
    np.testing.assert_array_equal(ez, ey[3])
    assert r.field_records(0) == {"E": ["x", "y", "z"], "rho": []}
    assert r.field_time(30) == 30 * 0.09
    with pytest.raises(ValueError, match="components"):
        r.field(0, "E")

    # the run keeps going: new rows appear for a new Run/History snapshot
    hist.append({"step": 60, "time": 5.4, "energy_B": 7.0})
    assert h.n_rows == n_t and r.history.n_rows == n_t + 1

    # restart from step 10: later field files go, the temporary file is never listed
    assert list(iteration_files(run / "fields")) == [0, 30]
    assert remove_iterations_after(run / "fields", 10) == [30]
    assert r.field_iterations == [0]
