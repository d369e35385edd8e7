"""Checkpoints: the complete state of a run, written atomically and checksummed.

Layout (docs/restart.md)::

    RUN/checkpoints/ckpt_000012000/          one directory per checkpoint (step, 9 digits)
        rank00000.h5 ... rankNNNNN.h5        one HDF5 file per MPI rank
        manifest.json                        written last: step, decomposition, SHA-256 of
                                             every file, the deck, the runner state
    RUN/checkpoints/ckpt_000012345.failed/   the state that tripped a numerical guard
                                             (debugging only, never restarted from)

Writing (collective): the root creates a hidden temporary directory
``.ckpt_XXXXXXXXX.<random>.tmp``; every rank writes its file in it with
:func:`pic1d.io.atomic.atomic_h5` (temporary name, fsync, rename) and computes its SHA-256;
the root gathers the checksums, writes ``manifest.json`` (atomically), fsyncs and renames
the directory onto its final name and fsyncs ``checkpoints/``. A crash at any moment
leaves either no ``ckpt_XXXXXXXXX`` directory or a complete one; previous checkpoints are
never touched before the new one is complete (then the oldest beyond ``keep`` are removed,
by renaming them to a hidden name first).

A checkpoint is **valid** when its manifest exists, parses, says ``"status": "valid"``
and every file listed has the recorded size and SHA-256. :func:`find_checkpoint` verifies
the files in parallel (rank r hashes files r, r + size, ...) and skips invalid
checkpoints with a warning.

Rank file (HDF5)::

    /                 attrs: format, version, step, time, rank, size, domains, replicas,
                      domain_index, replica_index, i_lo, n_local, n_global, n_ghost,
                      precision, hooks (JSON: generator states of sim.tracer_hooks)
    /grid/d, b, j     (3, n_local + 2 N_GHOST) float64, ghosts included (bitwise state)
    /species/<name>/  attrs n, index, tracer, extra_names (order of Species.extra)
        x ux uy uz    (n,) live particles in storage order and precision
        ids           (n,) int64        (tracers)
        u0            (n, 3) float64    (tracers: initial momenta)
        extra/<key>   (n, ...)          every per-particle array of Species.extra
                                        (in-situ marks, non-adiabatic energy, weights)

Random numbers: pic1d draws random numbers only when loading particles (streams keyed by
seed, species and global cell); no random stream is used during the run, so no generator
state is needed for a bitwise restart. The generators of test hooks (``sim.tracer_hooks``
objects with an ``rng`` attribute) are saved per rank all the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import fields as dc_fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pic1d.io.atomic import atomic_h5, fsync_directory, write_json_atomic
from pic1d.kernels import N_GHOST

log = logging.getLogger("pic1d")

FORMAT = "pic1d-checkpoint"
VERSION = 1
MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"
CKPT_RE = re.compile(r"^ckpt_(\d{9})$")
HASH_CHUNK = 1 << 22

__all__ = [
    "CheckpointError",
    "checkpoint_name",
    "estimate_checkpoint_bytes",
    "find_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "physics_differences",
    "prune_checkpoints",
    "read_manifest",
    "set_aside",
    "verify_checkpoint",
    "write_checkpoint",
]


class CheckpointError(RuntimeError):
    """A checkpoint could not be written, or no valid checkpoint could be read."""


# ------------------------------------------------------------------------ naming
def checkpoint_name(step: int) -> str:
    """``ckpt_%09d``."""
    return f"ckpt_{int(step):09d}"


def rank_file_name(rank: int) -> str:
    return f"rank{int(rank):05d}.h5"


def checkpoints_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CHECKPOINTS


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(step, directory) of every ``ckpt_XXXXXXXXX`` directory, newest first (validity is
    not checked; failed/corrupt/superseded ones have a suffix and are never listed)."""
    base = checkpoints_dir(run_dir)
    if not base.is_dir():
        return []
    found = [(int(m.group(1)), e) for e in base.iterdir()
             if (m := CKPT_RE.match(e.name)) and e.is_dir()]  # fmt: skip
    return sorted(found, reverse=True)


def set_aside(path: Path, suffix: str) -> Path:
    """Rename ``path`` to ``path.<suffix>`` (or ``.<suffix>.2``, ...); returns the new path."""
    k = 1
    while True:
        new = path.with_name(f"{path.name}.{suffix}" + ("" if k == 1 else f".{k}"))
        if not new.exists():
            os.rename(path, new)
            fsync_directory(path.parent)
            return new
        k += 1


def _remove_dir(path: Path) -> None:
    """Remove a checkpoint directory: rename it to a hidden name first (atomic), so a
    crash during the removal never leaves a half-deleted directory under a valid name."""
    hidden = path.with_name(f".{path.name}.{secrets.token_hex(4)}.delete.tmp")
    os.rename(path, hidden)
    fsync_directory(path.parent)
    shutil.rmtree(hidden, ignore_errors=True)


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------- collectives
def _gather(dom, obj) -> list | None:
    """Gather a Python object on the root rank (list there, None elsewhere)."""
    comm = getattr(dom, "comm", None)
    if comm is None or dom.size == 1:
        return [obj]
    return comm.gather(obj, root=0)


def _allgather(dom, obj) -> list:
    comm = getattr(dom, "comm", None)
    if comm is None or dom.size == 1:
        return [obj]
    return comm.allgather(obj)


# --------------------------------------------------------------------------- write
def _hook_states(sim) -> list:
    """Bit-generator states of the test hooks (None for hooks without ``rng``)."""
    out = []
    for hook in getattr(sim, "tracer_hooks", None) or []:
        rng = getattr(hook, "rng", None)
        out.append(rng.bit_generator.state if isinstance(rng, np.random.Generator) else None)
    return out


def _write_rank_file(path: Path, sim) -> dict[str, int]:
    """Write this rank's state; returns the particle count per species."""
    dom, grid = sim.domain, sim.grid
    counts = {}
    with atomic_h5(path) as f:
        a = f.attrs
        a["format"] = FORMAT
        a["version"] = VERSION
        a["step"] = np.int64(sim.step)
        a["time"] = float(sim.time)
        for key in ("rank", "size", "domains", "replicas", "domain_index", "replica_index",
                    "i_lo", "n_local", "n_global"):  # fmt: skip
            a[key] = np.int64(getattr(dom, key))
        a["n_ghost"] = np.int64(N_GHOST)
        a["precision"] = sim.cfg.run.precision
        a["hooks"] = json.dumps(_hook_states(sim))
        g = f.create_group("grid")
        for name in ("d", "b", "j"):
            g.create_dataset(name, data=getattr(grid, name))
        sps = f.create_group("species")
        for sp in sim.species:
            n = sp.n
            s = sps.create_group(sp.name)
            s.attrs["n"] = np.int64(n)
            s.attrs["index"] = np.int64(sp.cfg.index)
            s.attrs["tracer"] = bool(sp.tracer)
            for key, arr in zip(("x", "ux", "uy", "uz"), sp.live(), strict=True):
                s.create_dataset(key, data=arr)
            if sp.ids is not None:
                s.create_dataset("ids", data=sp.ids[:n])
            if sp.u0 is not None:
                s.create_dataset("u0", data=sp.u0[:n])
            ex = s.create_group("extra")
            names = list(sp.extra)
            s.attrs["extra_names"] = json.dumps(names)
            for key in names:
                ex.create_dataset(key, data=sp.extra[key][:n])
            counts[sp.name] = n
    return counts


def write_checkpoint(sim, run_dir: str | os.PathLike[str], manifest_extra: dict[str, Any],
                     failed: bool = False, reason: str = "") -> Path:
    """Write a checkpoint of the current state (collective over all ranks).

    Parameters
    ----------
    sim : Simulation
    run_dir : path-like
        The run directory (the checkpoint goes to ``RUN/checkpoints/``).
    manifest_extra : dict
        Added to the manifest: ``deck`` (text), ``runner`` (Runner state), ...
    failed : bool
        Write the (bad) state as ``ckpt_XXXXXXXXX.failed`` with ``"status": "failed"``.
    reason : str
        Why it was written (``cadence``, ``signal SIGTERM``, ``walltime``, ``steps``...).

    Returns
    -------
    Path
        The final checkpoint directory (on every rank).

    Raises
    ------
    CheckpointError
        On every rank if any rank failed (disk full, permissions); the temporary
        directory is removed and the previous checkpoints are untouched.
    """
    dom = sim.domain
    base = checkpoints_dir(run_dir)
    name = checkpoint_name(sim.step) + (".failed" if failed else "")
    t0 = time.perf_counter()
    tmp = err = None
    if dom.is_root:
        try:
            base.mkdir(parents=True, exist_ok=True)
            for e in base.iterdir():  # leftovers of an interrupted write or removal
                if e.name.startswith(".ckpt_") and e.name.endswith(".tmp"):
                    shutil.rmtree(e, ignore_errors=True)
            tmp = str(base / f".{name}.{secrets.token_hex(6)}.tmp")
            os.mkdir(tmp)
        except OSError as exc:
            err = f"cannot create a checkpoint directory in {base}: {exc}"
    tmp, err = dom.bcast((tmp, err))
    if err:
        raise CheckpointError(err)
    info = None
    try:
        path = Path(tmp) / rank_file_name(dom.rank)
        counts = _write_rank_file(path, sim)
        info = {"name": path.name, "rank": dom.rank, "domain": dom.domain_index,
                "replica": dom.replica_index, "i_lo": dom.i_lo, "n_local": dom.n_local,
                "particles": counts, "bytes": path.stat().st_size,
                "sha256": sha256_file(path)}  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - reported collectively below
        err = f"rank {dom.rank}: {type(exc).__name__}: {exc}"
    gathered = _gather(dom, (info, err))
    result = None
    if dom.is_root:
        errors = [e for _, e in gathered if e]
        final = base / name
        if not errors:
            try:
                files = sorted((i for i, _ in gathered), key=lambda i: i["rank"])
                totals = {sp.name: sum(f["particles"][sp.name] for f in files)
                          for sp in sim.species}  # fmt: skip
                manifest = {
                    "format": FORMAT,
                    "version": VERSION,
                    "status": "failed" if failed else "valid",
                    "reason": reason,
                    "step": int(sim.step),
                    "time": float(sim.time),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "scale_factors": {"a": list(sim.sf.a(sim.time)),
                                      "a_u": list(sim.sf.a(sim.time - 0.5 * sim.cfg.grid.dt))},
                    "decomposition": {"size": dom.size, "domains": dom.domains,
                                      "replicas": dom.replicas, "cells": sim.cfg.grid.cells},
                    "precision": sim.cfg.run.precision,
                    "particles": totals,
                    "rng": {"used_during_run": False, "seed": sim.cfg.run.seed,
                            "note": "random numbers are drawn only at load (keyed by seed, "
                                    "species, global cell); test-hook generators are stored "
                                    "per rank (attribute 'hooks')"},
                    "files": files,
                    **manifest_extra,
                }  # fmt: skip
                write_json_atomic(Path(tmp) / MANIFEST, manifest)
                fsync_directory(tmp)
                if final.exists():
                    set_aside(final, "old")
                os.rename(tmp, final)
                fsync_directory(base)
            except OSError as exc:
                errors.append(f"rank 0: {exc}")
        if errors:
            shutil.rmtree(tmp, ignore_errors=True)
        result = (str(final), errors)
    final, errors = dom.bcast(result)
    if errors:
        raise CheckpointError(f"checkpoint at step {sim.step} failed (the previous checkpoints "
                              f"are intact): {'; '.join(errors)}")
    if dom.is_root:
        log.info("checkpoint %s written in %.2f s%s", final, time.perf_counter() - t0,
                 f" ({reason})" if reason else "")  # fmt: skip
    return Path(final)


def prune_checkpoints(run_dir: str | os.PathLike[str], keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` ``ckpt_XXXXXXXXX`` directories (root only).

    Failed, corrupt and superseded checkpoints (suffixed names) are never removed.
    """
    removed = []
    for _, path in list_checkpoints(run_dir)[max(int(keep), 1):]:
        _remove_dir(path)
        removed.append(path)
    return removed


# ------------------------------------------------------------------ read / verify
def read_manifest(path: str | os.PathLike[str]) -> dict:
    """The manifest of a checkpoint directory.

    Raises
    ------
    CheckpointError
        Missing (an interrupted write), unreadable or not a pic1d checkpoint.
    """
    p = Path(path) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no {MANIFEST} (incomplete checkpoint)") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable {MANIFEST}: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise CheckpointError(f"{path}: {MANIFEST} is not a pic1d checkpoint manifest")
    if m.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {m.get('version')} "
                              f"(this pic1d reads version {VERSION})")
    return m


def _verify_file(path: Path, entry: dict) -> str | None:
    f = path / entry["name"]
    try:
        size = f.stat().st_size
    except OSError:
        return f"{entry['name']} is missing"
    if size != entry["bytes"]:
        return f"{entry['name']} has {size} bytes, the manifest says {entry['bytes']}"
    if sha256_file(f) != entry["sha256"]:
        return f"{entry['name']}: SHA-256 mismatch (corrupted)"
    return None


def verify_checkpoint(path: str | os.PathLike[str], manifest: dict, dom) -> list[str]:
    """Check every file's size and SHA-256 (collective: rank r checks files r, r+size...).

    Returns the list of problems (the same on every rank; empty = valid).
    """
    path = Path(path)
    files = manifest["files"]
    mine = []
    for k in range(dom.rank, len(files), dom.size):
        msg = _verify_file(path, files[k])
        if msg:
            mine.append(msg)
    return [m for part in _allgather(dom, mine) for m in part]


def find_checkpoint(run_dir: str | os.PathLike[str], dom,
                    explicit: str | os.PathLike[str] | None = None):
    """The checkpoint to restart from (collective).

    Parameters
    ----------
    run_dir : path-like
    dom : Domain
    explicit : path-like, optional
        A checkpoint directory to use (it must be valid); default: the newest valid one
        in ``RUN/checkpoints``, skipping invalid ones with a warning.

    Returns
    -------
    path : Path
    manifest : dict
    skipped : list of (Path, str)
        Invalid newer checkpoints and why.

    Raises
    ------
    CheckpointError
        No valid checkpoint (or the explicit one is invalid).
    """
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        candidates = dom.bcast([p for _, p in list_checkpoints(run_dir)] if dom.is_root
                               else None)  # fmt: skip
    skipped: list[tuple[Path, str]] = []
    for path in candidates:
        res = None
        if dom.is_root:
            try:
                m = read_manifest(path)
                if m.get("status") != "valid":
                    raise CheckpointError(f"{path}: a '{m.get('status')}' checkpoint (the state "
                                          "that tripped a numerical guard, for debugging only)")
                res = (m, None)
            except CheckpointError as exc:
                res = (None, str(exc))
        manifest, problem = dom.bcast(res)
        if manifest is not None:
            problems = verify_checkpoint(path, manifest, dom)
            problem = f"{path}: " + "; ".join(problems) if problems else None
        if problem is None:
            return path, manifest, skipped
        if explicit is not None:
            raise CheckpointError(f"invalid checkpoint: {problem}")
        if dom.is_root:
            log.warning("warning: skipping invalid checkpoint %s: %s", path.name, problem)
        skipped.append((path, problem))
    where = checkpoints_dir(run_dir)
    raise CheckpointError(f"no valid checkpoint in {where}" + (
        f" ({len(skipped)} invalid ones skipped)" if skipped else ""))


# --------------------------------------------------------------------------- load
def _restore_species(sp, cols: dict[str, np.ndarray], extras: list[tuple[str, np.ndarray]]):
    n = cols["x"].shape[0]
    sp.set_particles(cols["x"], cols["ux"], cols["uy"], cols["uz"], cols.get("ids"))
    if "ids" not in cols:
        sp.ids = None
    if "u0" in cols:
        sp.u0 = sp.new_array((3,))
        sp.u0[:n] = cols["u0"]
    else:
        sp.u0 = None
    sp.extra = {}
    for key, arr in extras:
        sp.add_extra(key, arr.shape[1:], arr.dtype)[:n] = arr
    sp.n = n


def _read_species(g: h5py.Group, mask: np.ndarray | None = None):
    sel = (lambda d: d[()]) if mask is None else (lambda d: d[()][mask])  # noqa: E731
    cols = {k: sel(g[k]) for k in ("x", "ux", "uy", "uz", "ids", "u0") if k in g}
    names = json.loads(g.attrs["extra_names"])
    extras = [(k, sel(g["extra"][k])) for k in names]
    return cols, extras


def _restore_hooks(sim, text: str) -> None:
    states = json.loads(text)
    hooks = getattr(sim, "tracer_hooks", None) or []
    for hook, state in zip(hooks, states, strict=False):
        rng = getattr(hook, "rng", None)
        if state is not None and isinstance(rng, np.random.Generator):
            rng.bit_generator.state = state


def load_checkpoint(sim, path: str | os.PathLike[str], manifest: dict) -> bool:
    """Load a verified checkpoint into a freshly constructed Simulation (collective).

    With the decomposition of the checkpoint (same domains x replicas) every rank reads its
    own file and the state is restored bitwise (ghosts, particle order, capacity-free).
    Otherwise the fields are assembled from the replica-0 files and the particles are
    redistributed by position (each rank reads the files of the old domains overlapping
    its cells; replicas take every replicas-th particle): a valid continuation, equal to
    the uninterrupted run to round-off only.

    Returns
    -------
    bool
        True if the restore was bitwise (same decomposition).
    """
    path = Path(path)
    dom, grid = sim.domain, sim.grid
    dec = manifest["decomposition"]
    if dec["cells"] != sim.cfg.grid.cells:
        raise CheckpointError(f"{path}: {dec['cells']} cells, the deck has {sim.cfg.grid.cells}")
    same = dec["domains"] == dom.domains and dec["replicas"] == dom.replicas
    files = manifest["files"]
    if same:
        entry = files[dom.rank]
        if entry["rank"] != dom.rank:
            raise CheckpointError(f"{path}: manifest lists {entry['name']} for rank {dom.rank}")
        with h5py.File(path / entry["name"], "r", locking=False) as f:
            if int(f.attrs["i_lo"]) != dom.i_lo or int(f.attrs["n_local"]) != dom.n_local:
                raise CheckpointError(f"{path}: {entry['name']} covers other cells")
            for name in ("d", "b", "j"):
                getattr(grid, name)[...] = f["grid"][name][()]
            for sp in sim.species:
                cols, extras = _read_species(f["species"][sp.name])
                _restore_species(sp, cols, extras)
            _restore_hooks(sim, f.attrs["hooks"])
    else:
        lo, hi = dom.i_lo, dom.i_lo + dom.n_local
        glob = {name: np.zeros((3, dec["cells"])) for name in ("d", "b", "j")}
        parts: dict[str, list] = {sp.name: [] for sp in sim.species}
        for entry in files:
            e_lo, e_n = entry["i_lo"], entry["n_local"]
            overlap = e_lo < hi and lo < e_lo + e_n
            if entry["replica"] != 0 and not overlap:
                continue
            with h5py.File(path / entry["name"], "r", locking=False) as f:
                if entry["replica"] == 0:
                    inner = slice(N_GHOST, N_GHOST + e_n)
                    for name in glob:
                        glob[name][:, e_lo : e_lo + e_n] = f["grid"][name][:, inner]
                if not overlap:
                    continue
                for sp in sim.species:
                    g = f["species"][sp.name]
                    x = g["x"][()]
                    mask = (x >= lo) & (x < hi)
                    parts[sp.name].append(_read_species(g, mask))
        for name, arr in glob.items():
            target = getattr(grid, name)
            target[:, N_GHOST : N_GHOST + dom.n_local] = arr[:, lo:hi]
            dom.fill_ghosts(*target)
        for sp in sim.species:
            got = parts[sp.name]
            keys = ["x", "ux", "uy", "uz"] + [k for k in ("ids", "u0") if got and k in got[0][0]]
            cols = {}
            for k in keys:
                arrs = [c[k] for c, _ in got]
                cols[k] = np.concatenate(arrs) if arrs else np.zeros(0)
            # extras: the union over files (a file without one contributes zeros)
            ex_names: dict[str, tuple] = {}
            for _, extras in got:
                for k, arr in extras:
                    ex_names.setdefault(k, (arr.shape[1:], arr.dtype))
            extras = []
            for k, (shape, dtype) in ex_names.items():
                chunks = []
                for c, ex in got:
                    d = dict(ex)
                    chunks.append(d[k] if k in d else np.zeros((c["x"].shape[0], *shape), dtype))
                extras.append((k, np.concatenate(chunks)))
            if dom.replicas > 1:
                take = slice(dom.replica_index, None, dom.replicas)
                cols = {k: v[take] for k, v in cols.items()}
                extras = [(k, v[take]) for k, v in extras]
            if not sp.tracer:
                cols.pop("ids", None)
                cols.pop("u0", None)
            _restore_species(sp, cols, extras)
    sim.step = int(manifest["step"])
    a_now = list(sim.sf.a(sim.time))
    if a_now != list(manifest["scale_factors"]["a"]):
        raise CheckpointError(f"{path}: scale factors at step {sim.step} differ from the "
                              f"checkpoint's ({a_now} vs {manifest['scale_factors']['a']})")
    grid.collocate(sim.sf, sim.time)
    return same


# ------------------------------------------------------------------ deck comparison
#: [[species]] keys that only affect outputs (none today: every species key changes the
#: loaded particles or their motion)
OUTPUT_ONLY_SPECIES_KEYS: frozenset[str] = frozenset()
_COMPRESSION_KEYS = ("tau_c", "axes", "exponent", "tau_x", "tau_y", "tau_z", "exponent_x",
                     "exponent_y", "exponent_z")  # fmt: skip


def _raw_section(text: str, section: str) -> dict:
    from pic1d.deck import tomllib

    try:
        return dict(tomllib.loads(text).get(section, {}))
    except Exception:  # noqa: BLE001
        return {}


def physics_differences(old, new) -> list[str]:
    """Physics parameters that differ between two validated decks (Config objects).

    Compared: [grid] (cells, cells_per_de, cfl, filter_passes, shape_order), [plasma]
    (mass_ratio, beta, theta, T_e_over_T_i, B_angle_deg), [compression] (profile, the
    scale-factor profiles, t_halt, t_reset_waves), every [[species]] key (except
    :data:`OUTPUT_ONLY_SPECIES_KEYS`), [run] seed, precision and frozen_fields. Values are
    compared after unit conversion, so "20 /Omega_i0" and the same time in code units are
    equal. Output, checkpoint, parallel and duration keys may differ.

    Returns
    -------
    list of str
        ``"[section] key: old -> new"`` messages (empty: the same physics).
    """
    out: list[str] = []

    def cmp(section: str, key: str, a, b) -> None:
        if a != b:
            out.append(f"{section} {key}: {a!r} -> {b!r}")

    for key in ("cells", "cells_per_de", "cfl", "filter_passes", "shape_order"):
        cmp("[grid]", key, getattr(old.grid, key), getattr(new.grid, key))
    for key in ("mass_ratio", "beta", "theta", "T_e_over_T_i", "B_angle_deg"):
        cmp("[plasma]", key, getattr(old.plasma, key), getattr(new.plasma, key))
    oc, nc = old.compression, new.compression
    for key in ("profile", "t_halt", "t_reset_waves"):
        cmp("[compression]", key, getattr(oc, key), getattr(nc, key))
    if oc.scale_factors != nc.scale_factors:
        ro = _raw_section(old.source_text, "compression")
        rn = _raw_section(new.source_text, "compression")
        keys = [k for k in _COMPRESSION_KEYS if ro.get(k) != rn.get(k)]
        if keys:
            for k in keys:
                cmp("[compression]", k, ro.get(k), rn.get(k))
        elif not any(m.startswith("[compression]") for m in out):
            out.append("[compression] the scale-factor profile differs")
    for key in ("seed", "precision", "frozen_fields"):
        cmp("[run]", key, getattr(old.run, key), getattr(new.run, key))
    if len(old.species) != len(new.species):
        out.append(f"[[species]]: {len(old.species)} -> {len(new.species)} entries")
    else:
        for so, sn in zip(old.species, new.species, strict=True):
            for f in dc_fields(so):
                if f.name in OUTPUT_ONLY_SPECIES_KEYS or f.name == "index":
                    continue
                cmp(f"[[species]] {so.name}", f.name, getattr(so, f.name), getattr(sn, f.name))
    return out


# ------------------------------------------------------------------------ sizing
def estimate_checkpoint_bytes(cfg, ranks: int = 1) -> float:
    """Bytes of one checkpoint of a run (all rank files; HDF5 overhead included roughly).

    Particles: x (8) + three momenta (8 or 4); tracers add id (8), u0 (24) and the in-situ
    per-tracer arrays (36, or 60 with a per-step non-adiabatic integral) when in-situ
    output is on; per-particle weights (8) appear after reset_waves.
    """
    bpp = 8 + 3 * (4 if cfg.run.precision == "float32" else 8)
    n_thermal = sum(s.ppc * cfg.grid.cells for s in cfg.species if not s.tracer)
    n_tracer = sum(s.total_count(cfg.grid.cells) for s in cfg.species if s.tracer)
    per_tracer = bpp + 8 + 24 + (60 if cfg.output.insitu_every else 0)
    per_thermal = bpp + (8 if cfg.compression.t_reset_waves else 0)
    ranks = max(int(ranks), 1)
    fields = 9 * 8 * (cfg.grid.cells + 2 * N_GHOST) * ranks  # upper bound (replicas copy)
    return n_thermal * per_thermal + n_tracer * per_tracer + fields + 65536 * ranks
