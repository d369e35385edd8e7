"""Throughput benchmark: ns per particle per step of the whole step and of each phase.

The standard case is ``decks/bench/thermal.toml`` (electron-proton plasma at 1 keV, cell
= Debye length, 2048 cells, 128 particles per cell per species, 8 filter passes): 100
warm-up steps, then 1000 timed steps, for float64 and float32 and 1 and 2 numba threads.
The JSON layout is documented in docs/performance.md.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from pic1d.deck import Config, load_deck

log = logging.getLogger("pic1d")

BENCH_DECK = Path(__file__).resolve().parents[1] / "decks" / "bench" / "thermal.toml"


def memory_bandwidth_bound(n: int = 4_000_000, repeats: int = 5) -> float:
    """Measured ns per particle to read and write 4 float64 values (x, ux, uy, uz).

    A streaming update ``a += 1`` over four arrays of n float64 values; the best of
    ``repeats`` is taken. This is the floor of any particle push that touches every
    particle once per step.
    """
    arrays = [np.zeros(n) for _ in range(4)]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in arrays:
            np.add(a, 1.0, out=a)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9


#: the timed steps are split into this many blocks; the fastest block (scaled to all
#: steps) is reported, which removes transient noise of a shared machine
BLOCKS = 5


def _best_of_blocks(sim, steps: int, comm=None) -> float:
    """Wall time of ``steps`` steps estimated from the fastest of :data:`BLOCKS` blocks
    (with ``comm``: the slowest rank of each block). Phase timers accumulate over all."""
    per = max(steps // BLOCKS, 1)
    best = float("inf")
    done = 0
    while done < steps:
        n = min(per, steps - done)
        if comm is not None:
            comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(n):
            sim.advance()
        dt = time.perf_counter() - t0
        if comm is not None:
            from mpi4py import MPI

            dt = comm.allreduce(dt, op=MPI.MAX)
        best = min(best, dt / n)
        done += n
    return best * steps


def bench_case(cfg: Config, threads: int, warmup: int = 100, steps: int = 1000) -> dict:
    """Time one configuration; returns a result entry of the JSON."""
    import numba

    from pic1d.simulation import Simulation

    numba.set_num_threads(threads)
    sim = Simulation(cfg)
    sim.initialize()
    for _ in range(warmup):
        sim.advance()
    for k in sim.timers.seconds:
        sim.timers.seconds[k] = 0.0
    n_particles = sim.particle_count()
    wall = _best_of_blocks(sim, steps)
    denom = steps * n_particles
    return {
        "precision": cfg.run.precision,
        "threads": threads,
        "ranks": sim.domain.size,
        "particles": n_particles,
        "steps": steps,
        "wall_seconds": wall,
        "ns_per_particle_step": wall / denom * 1e9,
        "phases": {k: v / denom * 1e9 for k, v in sim.timers.seconds.items()},
    }


TRACER_SPECIES = """
[[species]]
name = "ions"
charge = 1
mass = "m_i"
[[species]]
name = "electrons"
charge = -1
mass = 1
[[species]]
name = "cre"
tracer = true
ppc = {ppc}
p_min = 0.1
p_max = 100.0
sampling = "flat_log_p"
"""


def bench_tracers(deck: str | Path | None = None, steps: int = 1000, warmup: int = 100,
                  insitu_every: int = 100) -> dict:
    """ns per tracer per step with the in-situ accumulators on (one thread).

    The standard case with 128 tracers per cell added; the tracer cost is the extra time
    over the same run without tracers, per tracer-step. The plasma-only cost per particle
    is reported alongside for the ratio.
    """
    import numba

    from pic1d.deck import parse_deck
    from pic1d.diagnostics.tracers import InsituOutput
    from pic1d.simulation import Simulation

    numba.set_num_threads(1)
    path = Path(deck or BENCH_DECK)
    text = path.read_text()
    ppc = load_deck(path).species[0].ppc

    def timed(cfg, insitu: bool) -> tuple[float, int, int]:
        sim = Simulation(cfg)
        sim.initialize()
        out = InsituOutput(sim, None, insitu_every) if insitu else None
        for _ in range(warmup):
            sim.advance()
        if out is not None:  # compile the in-situ reductions outside the timed steps
            out.write()
        t0 = time.perf_counter()
        for _ in range(steps):
            if out is not None and out.due(sim.step):
                out.write()
            sim.advance()
        wall = time.perf_counter() - t0
        n_tr = sum(sp.n for sp in sim.species if sp.tracer)
        return wall, sim.particle_count() - n_tr, n_tr

    plain, n_plasma, _ = timed(parse_deck(text, name="bench"), False)
    with_tr, _, n_tr = timed(parse_deck(text + TRACER_SPECIES.format(ppc=ppc), name="bench"),
                             True)  # fmt: skip
    plasma_ns = plain / (steps * n_plasma) * 1e9
    tracer_ns = (with_tr - plain) / (steps * n_tr) * 1e9
    return {"tracers": n_tr, "plasma_particles": n_plasma, "insitu_every": insitu_every,
            "ns_per_plasma_particle_step": plasma_ns, "ns_per_tracer_step": tracer_ns,
            "tracer_over_plasma": tracer_ns / plasma_ns}  # fmt: skip


def bench_config(deck: str | Path | None = None, ppc: int | None = None) -> Config:
    """The benchmark deck, optionally with ``[plasma] ppc`` replaced (per species)."""
    import tomllib

    from pic1d.deck import parse_deck
    from pic1d.sweep import set_key, to_toml

    path = Path(deck or BENCH_DECK)
    if ppc is None:
        return load_deck(path)
    raw = tomllib.loads(path.read_text())
    set_key(raw, "plasma.ppc", int(ppc))
    return parse_deck(to_toml(raw), name=path.stem)


def _rss_bytes() -> int:
    """Current resident set size of this process (bytes)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_particle(deck: str | Path | None = None, ppc: int | None = None,
                        steps: int = 5) -> dict:
    """Bytes per plasma particle of a float64 run: (peak RSS - RSS before loading) / N.

    A small copy of the case is run first so that compiled kernels and the interpreter
    are in the baseline; the measured case then loads and runs ``steps`` steps. Meant to
    run in a fresh process (``pic1d bench --memory``), since the peak is per process.
    """
    import numba

    from pic1d.simulation import Simulation

    numba.set_num_threads(1)
    cfg = bench_config(deck, ppc)
    small = replace(cfg, grid=replace(cfg.grid, cells=64))
    warm = Simulation(bench_config(deck, 4) if ppc else small)
    warm.initialize()
    for _ in range(3):
        warm.advance()
    del warm
    baseline = _rss_bytes()
    sim = Simulation(cfg)
    sim.initialize()
    for _ in range(steps):
        sim.advance()
    n = sim.particle_count()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"particles": n, "ppc_per_species": [s.ppc for s in cfg.species],
            "baseline_rss_bytes": baseline, "peak_rss_bytes": peak,
            "bytes_per_particle": (peak - baseline) / n}  # fmt: skip


def run_benchmark(deck: str | Path | None = None, threads=(1, 2),
                  precisions=("float64", "float32"), steps: int = 1000,
                  warmup: int = 100, ppc: int | None = None, tracers: bool = True) -> dict:
    """Run the benchmark matrix and return the JSON-ready dictionary.

    Thread counts above numba's pool (``NUMBA_NUM_THREADS``) are skipped with a warning."""
    import numba

    base = bench_config(deck, ppc)
    pool = numba.config.NUMBA_NUM_THREADS
    skipped = [n for n in threads if n > pool]
    if skipped:
        log.warning("skipping %s thread(s): NUMBA_NUM_THREADS is %d",
                    ", ".join(map(str, skipped)), pool)  # fmt: skip
    results = []
    for prec in precisions:
        cfg = replace(base, run=replace(base.run, precision=prec))
        for n in (n for n in threads if n <= pool):
            res = bench_case(cfg, n, warmup=warmup, steps=steps)
            log.info("%s, %d thread(s): %.2f ns/particle/step", prec, n,
                     res["ns_per_particle_step"])  # fmt: skip
            results.append(res)
    tracer = bench_tracers(deck, steps=steps, warmup=warmup) if tracers else None
    if tracer:
        log.info("tracers with in-situ accumulators: %.2f ns/tracer/step (%.2fx a plasma "
                 "particle)", tracer["ns_per_tracer_step"], tracer["tracer_over_plasma"])
    return {
        "tracers": tracer,
        "case": {
            "deck": str(deck or BENCH_DECK),
            "cells": base.grid.cells,
            "ppc_per_species": [s.ppc for s in base.species],
            "filter_passes": base.grid.filter_passes,
            "shape_order": base.grid.shape_order,
            "warmup_steps": warmup,
            "timed_steps": steps,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "memory_bound_ns_per_particle": memory_bandwidth_bound(),
        },
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "results": results,
    }


def mpi_worker(deck: str | None, domains: int, replicas: int, steps: int, warmup: int,
               filter_batch: int) -> dict | None:
    """One MPI measurement (called on every rank under mpiexec); rank 0 returns the entry.

    Every rank runs one numba thread. The time is the slowest rank's.
    """
    import numba
    from mpi4py import MPI

    from pic1d.parallel import MPIDomain
    from pic1d.simulation import Simulation

    numba.set_num_threads(1)
    cfg = load_deck(deck or BENCH_DECK)
    comm = MPI.COMM_WORLD
    dom = MPIDomain(cfg.grid.cells, comm, domains, replicas)
    dom.filter_batch = filter_batch
    sim = Simulation(cfg, dom)
    sim.initialize()
    for _ in range(warmup):
        sim.advance()
    for k in sim.timers.seconds:
        sim.timers.seconds[k] = 0.0
    n_particles = sim.particle_count()
    wall = _best_of_blocks(sim, steps, comm)
    phases = {k: comm.allreduce(v, op=MPI.MAX) for k, v in sim.timers.seconds.items()}
    if comm.Get_rank() != 0:
        return None
    denom = steps * n_particles
    return {
        "precision": cfg.run.precision, "threads": 1, "ranks": comm.Get_size(),
        "domains": dom.domains, "replicas": dom.replicas, "filter_batch": filter_batch,
        "particles": n_particles, "steps": steps, "wall_seconds": wall,
        "ns_per_particle_step": wall / denom * 1e9,
        "ns_per_particle_step_per_core": wall / denom * 1e9 * comm.Get_size(),
        "phases": {k: v / denom * 1e9 for k, v in phases.items()},
    }  # fmt: skip


def run_scaling(deck: str | None = None, steps: int = 1000, warmup: int = 100) -> dict:
    """1 rank vs 2 ranks (2 domains; 1 domain x 2 replicas; 2 domains with one halo
    exchange per filter pass), each rank one thread; parallel efficiency t_1/(2 t_2)."""
    import subprocess
    import sys

    base = load_deck(deck or BENCH_DECK)
    one = bench_case(base, 1, warmup=warmup, steps=steps)
    mpiexec = Path(sys.executable).with_name("mpiexec")
    launcher = str(mpiexec) if mpiexec.exists() else "mpiexec"
    entries = [one]
    for domains, replicas, batch in ((2, 1, 3), (1, 2, 3), (2, 1, 1)):
        cmd = [launcher, "-n", "2", sys.executable, "-m", "pic1d.bench", "--worker",
               "--domains", str(domains), "--replicas", str(replicas), "--steps", str(steps),
               "--warmup", str(warmup), "--filter-batch", str(batch)]  # fmt: skip
        if deck:
            cmd += ["--deck", str(deck)]
        env = dict(os.environ, NUMBA_NUM_THREADS="1")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        entry = json.loads(proc.stdout.strip().splitlines()[-1])
        entry["parallel_efficiency"] = one["wall_seconds"] / (2 * entry["wall_seconds"])
        log.info("2 ranks (%d domains x %d replicas, filter batch %d): %.2f ns/particle/step, "
                 "efficiency %.0f %%", domains, replicas, batch, entry["ns_per_particle_step"],
                 100 * entry["parallel_efficiency"])  # fmt: skip
        entries.append(entry)
    return {"case": {"deck": str(deck or BENCH_DECK), "timed_steps": steps,
                     "warmup_steps": warmup}, "results": entries}


def cmd_bench(args) -> int:
    """``pic1d bench [--json FILE] [--steps N] [--deck DECK] [--ppc N] [--scaling |
    --memory]``."""
    ppc = getattr(args, "ppc", None)
    if getattr(args, "memory", False):
        out = memory_per_particle(args.deck, ppc)
        log.info("%.1f bytes per particle (peak RSS %.0f MB, %d particles)",
                 out["bytes_per_particle"], out["peak_rss_bytes"] / 1e6, out["particles"])
    elif getattr(args, "scaling", False):
        out = run_scaling(args.deck, steps=args.steps, warmup=args.warmup)
    else:
        out = run_benchmark(args.deck, steps=args.steps, warmup=args.warmup, ppc=ppc,
                            tracers=ppc is None)  # fmt: skip
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
        log.info("benchmark written to %s", args.json)
    else:
        print(text)
    return 0


def _worker_main() -> None:  # pragma: no cover - exercised through run_scaling
    import argparse

    p = argparse.ArgumentParser(prog="python -m pic1d.bench")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--deck")
    p.add_argument("--domains", type=int, default=2)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--filter-batch", type=int, default=3)
    a = p.parse_args()
    res = mpi_worker(a.deck, a.domains, a.replicas, a.steps, a.warmup, a.filter_batch)
    if res is not None:
        print(json.dumps(res))


if __name__ == "__main__":  # pragma: no cover
    _worker_main()
