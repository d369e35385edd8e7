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
    t0 = time.perf_counter()
    for _ in range(steps):
        sim.advance()
    wall = time.perf_counter() - t0
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


def run_benchmark(deck: str | Path | None = None, threads=(1, 2),
                  precisions=("float64", "float32"), steps: int = 1000,
                  warmup: int = 100) -> dict:
    """Run the benchmark matrix and return the JSON-ready dictionary."""
    base = load_deck(deck or BENCH_DECK)
    results = []
    for prec in precisions:
        cfg = replace(base, run=replace(base.run, precision=prec))
        for n in threads:
            res = bench_case(cfg, n, warmup=warmup, steps=steps)
            log.info("%s, %d thread(s): %.2f ns/particle/step", prec, n,
                     res["ns_per_particle_step"])  # fmt: skip
            results.append(res)
    return {
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


def cmd_bench(args) -> int:
    """``pic1d bench [--json FILE] [--steps N] [--deck DECK]``."""
    out = run_benchmark(args.deck, steps=args.steps, warmup=args.warmup)
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
        log.info("benchmark written to %s", args.json)
    else:
        print(text)
    return 0
