"""The main loop: owns the state and calls the pieces in TRISTAN order (PHYSICS.md 2.4).

One step from t_n to t_(n+1) = t_n + dt, given d'^n, b'^n (ghosts valid), x^n, u^(n-1/2):

1. collocate the physical E^n, B^n on integer nodes (scale factors at t_n);
2. push every species: u *= a_i(t_n - dt/2)/a_i(t_n), Boris with E^n, B^n,
   u *= a_i(t_n)/a_i(t_n + dt/2) (isotropically forced species use a_iso = D^(1/3) on
   all axes), then x' += v_x dt/(a_x(t_n + dt/2) dx);
3. migrate particles (periodic wrap / neighbour exchange);
4. deposit J'^(n+1/2) (charge-conserving; tracers deposit nothing), fold ghosts, sum
   replicas, filter (N passes of 1-2-1);
5. b' half step (e' at t_n), d' full step (h' at t_n + dt/2, J'), b' half step (e' at t_(n+1)).

Diagnostics are taken at integer times before a step (and after the last step).
"""

from __future__ import annotations

import logging
import math
import time as wallclock
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pic1d.comoving import ScaleFactors
from pic1d.deck import Config
from pic1d.grid import Grid
from pic1d.kernels.deposit import deposit_current
from pic1d.kernels.push import push_boris
from pic1d.parallel import make_domain
from pic1d.species import Species

log = logging.getLogger("pic1d")

#: number of deposit chunks: fixed, so results do not depend on the thread count
DEPOSIT_CHUNKS = 16
PHASES = ("push", "migrate", "deposit", "filter", "fields", "diagnostics", "io")


@dataclass
class Timers:
    """Accumulated wall-clock seconds per phase of the step."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def add(self, phase: str, dt: float) -> None:
        self.seconds[phase] += dt

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def compression_factors(sf: ScaleFactors, t: float, dt: float, isotropic: bool):
    """Exact compression factors around the Boris step at t (PHYSICS.md 2.2).

    Returns
    -------
    pre, post : tuple of 3 floats
        ``a_i(t - dt/2)/a_i(t)`` and ``a_i(t)/a_i(t + dt/2)``; with ``isotropic`` the
        common factor a_iso = D^(1/3) replaces every a_i.
    """
    if isotropic:
        g0, g1, g2 = sf.a_iso(t - 0.5 * dt), sf.a_iso(t), sf.a_iso(t + 0.5 * dt)
        return (g0 / g1,) * 3, (g1 / g2,) * 3
    a0, a1, a2 = sf.a(t - 0.5 * dt), sf.a(t), sf.a(t + 0.5 * dt)
    pre = tuple(p / q for p, q in zip(a0, a1, strict=True))
    post = tuple(p / q for p, q in zip(a1, a2, strict=True))
    return pre, post


class Simulation:
    """A pic1d run: configuration, domain, grid, species, time and timers.

    Parameters
    ----------
    cfg : Config
        Validated deck.
    domain : Domain, optional
        Decomposition (default: from the deck's [parallel] section and the MPI size).
    """

    def __init__(self, cfg: Config, domain=None):
        self.cfg = cfg
        self.domain = domain or make_domain(cfg.grid.cells, cfg.parallel.domains,
                                            cfg.parallel.replicas)  # fmt: skip
        self.sf = cfg.compression.scale_factors
        g = cfg.grid
        self.grid = Grid(self.domain.n_local, g.dx, g.dt)
        dtype = np.float32 if cfg.run.precision == "float32" else np.float64
        self.species = [Species(s, dtype) for s in cfg.species]
        self.step = 0
        self.timers = Timers()
        self.deposit_buffers = np.zeros((DEPOSIT_CHUNKS, 3, self.grid.n_arr))
        self.order = g.shape_order

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        """Current time t_n = n dt (1/omega_pe0)."""
        return self.step * self.cfg.grid.dt

    def initialize(self) -> None:
        """Load particles and the background field (t = 0)."""
        cfg, dom = self.cfg, self.domain
        self.grid.set_background(cfg.plasma.B0, cfg.plasma.B_angle_deg)
        for sp in self.species:
            keep = dom.split_particles() if dom.replicas > 1 else None
            sp.load(cfg.run.seed, dom.i_lo, dom.n_local, cfg.grid.cells, keep=keep)
        self.step = 0
        self.grid.collocate(self.sf, 0.0)

    def particle_count(self) -> int:
        """Particles (plasma and tracers) in the whole box."""
        return int(self.domain.allreduce_sum(np.array([sum(s.n for s in self.species)]))[0])

    # ------------------------------------------------------------------- step
    def advance(self) -> None:
        """Advance the state by one time step (see the module docstring)."""
        cfg, grid, sf, dom = self.cfg, self.grid, self.sf, self.domain
        dt, dx = cfg.grid.dt, cfg.grid.dx
        t = self.time
        tick = wallclock.perf_counter

        t0 = tick()
        grid.collocate(sf, t)
        a_half = sf.a(t + 0.5 * dt)
        move = dt / (a_half[0] * dx)
        x_offset = dom.x_offset
        for sp in self.species:
            if not sp.n:
                continue
            pre, post = compression_factors(sf, t, dt, sp.cfg.isotropic_forcing)
            x, ux, uy, uz = sp.live()
            push_boris(x, ux, uy, uz, grid.node_fields, x_offset, 0.5 * sp.qm * dt,
                       pre[0], pre[1], pre[2], post[0], post[1], post[2], move,
                       self.order)  # fmt: skip
        t1 = tick()
        for sp in self.species:
            dom.migrate(sp)
        t2 = tick()
        if cfg.run.frozen_fields:  # test-particle mode: the co-moving fields d', b' stay
            self.step += 1
            self.timers.add("push", t1 - t0)
            self.timers.add("migrate", t2 - t1)
            return
        grid.j[:] = 0.0
        jx, jy, jz = grid.j
        for sp in self.species:
            if sp.tracer or not sp.n:
                continue
            x, ux, uy, uz = sp.live()
            deposit_current(x, ux, uy, uz, sp.qw, move, dx / dt, 1.0 / a_half[1],
                            1.0 / a_half[2], x_offset, jx, jy, jz, self.deposit_buffers,
                            self.order)  # fmt: skip
        dom.fold_ghosts(jx, jy, jz)
        dom.sum_replicas(grid.j)
        t3 = tick()
        passes = cfg.grid.filter_passes
        for comp in (jx, jy, jz):
            dom.filter(comp, grid.tmp, passes)
        t4 = tick()
        grid.advance_b_half(sf, t)
        dom.fill_ghosts(grid.b[1], grid.b[2])
        grid.advance_d_full(sf, t + 0.5 * dt)
        dom.fill_ghosts(grid.d[0], grid.d[1], grid.d[2])
        grid.advance_b_half(sf, t + dt)
        dom.fill_ghosts(grid.b[1], grid.b[2])
        self.step += 1
        t5 = tick()
        tm = self.timers
        tm.add("push", t1 - t0)
        tm.add("migrate", t2 - t1)
        tm.add("deposit", t3 - t2)
        tm.add("filter", t4 - t3)
        tm.add("fields", t5 - t4)

    # ---------------------------------------------------------------- helpers
    def gather_node_fields(self) -> np.ndarray:
        """Physical node fields of the whole box at the current time, shape (cells, 6).

        Collocates at the current time first. (Serial: the interior; MPI: gathered on root.)
        """
        self.grid.collocate(self.sf, self.time)
        out = self.gather_interior(self.grid.physical_node_fields().T)
        return None if out is None else out.T

    def gather_interior(self, arr: np.ndarray) -> np.ndarray | None:
        """Assemble per-domain interior arrays (..., n_local) into (..., cells) on the root
        rank (None elsewhere)."""
        return self.domain.gather_interior(arr)


# ------------------------------------------------------------------------- driver


def _versions() -> dict[str, str]:
    import h5py
    import numba
    import scipy

    import pic1d

    out = {"pic1d": pic1d.__version__, "numpy": np.__version__, "numba": numba.__version__,
           "scipy": scipy.__version__, "h5py": h5py.__version__}  # fmt: skip
    try:
        import mpi4py

        out["mpi4py"] = mpi4py.__version__
    except ImportError:
        pass
    return out


def _git_hash() -> str | None:
    import subprocess

    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)  # fmt: skip
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


class Runner:
    """Runs a simulation with its outputs, progress line and timers.

    Parameters
    ----------
    sim : Simulation
    run_dir : Path or None
        Run directory (None: no files are written; for tests).
    """

    def __init__(self, sim: Simulation, run_dir: Path | None):
        from pic1d.diagnostics.output import FieldOutput, HistoryOutput, SpectraOutput
        from pic1d.diagnostics.tracers import InsituOutput, TracerHooks, TracerOutput

        self.sim = sim
        self.run_dir = run_dir
        out = sim.cfg.output
        p = (lambda name: run_dir / name) if run_dir is not None else (lambda name: None)
        self.history = HistoryOutput(sim, p("history.h5"), out.history_every)
        self.spectra = SpectraOutput(sim, p("spectra.h5"), out.spectra_every, out.spectra_stride)
        self.fields = FieldOutput(sim, p("fields"), out.fields_every, out.moments)
        self.tracer_hooks = TracerHooks(sim)  # test hooks: sim.tracer_hooks, after each push
        self.tracers = TracerOutput(sim, p("tracers"), out.tracers_every,
                                    out.tracers_subsample, out.tracers_precision)
        self.insitu = InsituOutput(sim, p("insitu.h5"), out.insitu_every, out.insitu_p_bins,
                                   out.insitu_mu_bins, out.insitu_p0_bins)
        self.energy0: float | None = None
        self.kinetic0: float | None = None

    def diagnostics(self) -> None:
        """Write every output due at the current step."""
        sim = self.sim
        t0 = wallclock.perf_counter()
        step = sim.step
        self.tracer_hooks.apply()
        if self.insitu.due(step):
            self.insitu.write()
        if self.history.due(step):
            row = self.history.write()
            if self.energy0 is None:
                self.energy0 = row["energy_total"]
                self.kinetic0 = sum(v for k, v in row.items() if k.startswith("energy_kinetic_"))
        t1 = wallclock.perf_counter()
        if self.spectra.due(step):
            self.spectra.write()
        if self.fields.due(step):
            self.fields.write()
        if self.tracers.due(step):
            self.tracers.write()
        t2 = wallclock.perf_counter()
        sim.timers.add("diagnostics", t1 - t0)
        sim.timers.add("io", t2 - t1)

    def energy_error(self) -> float | None:
        """(E_total - E_total(0)) / E_kinetic(0) from the last history row."""
        last = self.history.last
        if last is None or self.energy0 is None or not self.kinetic0:
            return None
        return (last["energy_total"] - self.energy0) / self.kinetic0

    def run(self, last_step: int) -> None:
        """Advance until the global step ``last_step``, writing outputs on the way."""
        sim = self.sim
        cfg = sim.cfg
        n_particles = sim.particle_count()
        start_step = sim.step
        t_start = wallclock.perf_counter()
        t_last = t_start
        omega_ci0 = cfg.scales.omega_ci0
        while sim.step < last_step:
            self.diagnostics()
            sim.advance()
            now = wallclock.perf_counter()
            if now - t_last >= cfg.run.progress_seconds and sim.domain.is_root:
                t_last = now
                done = sim.step - start_step
                rate = done / (now - t_start)
                ns = sim.timers.total / max(done * n_particles, 1) * 1e9
                err = self.energy_error()
                eta = (last_step - sim.step) / rate if rate > 0 else math.inf
                log.info(
                    "step %d/%d  t = %.3f /Omega_i0  %.1f steps/s  %.2f ns/particle/step  "
                    "ETA %s  energy error %s",
                    sim.step, last_step, sim.time * omega_ci0, rate, ns, _hms(eta),
                    "-" if err is None else f"{err:+.2e}",
                )  # fmt: skip
        self.diagnostics()
        self.wall_seconds = wallclock.perf_counter() - t_start
        self.steps_done = sim.step - start_step
        self.n_particles = n_particles

    def timing_summary(self) -> dict:
        """Per-phase seconds and ns/particle/step of the loop."""
        sim = self.sim
        denom = max(self.steps_done * self.n_particles, 1)
        phases = {k: v for k, v in sim.timers.seconds.items()}
        return {
            "wall_seconds": self.wall_seconds,
            "steps": self.steps_done,
            "particles": self.n_particles,
            "phase_seconds": phases,
            "phase_ns_per_particle_step": {k: v / denom * 1e9 for k, v in phases.items()},
            "ns_per_particle_step": sim.timers.total / denom * 1e9,
        }


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def run_from_config(cfg: Config, args) -> int:
    """``pic1d run``: create the run directory, run, write run.json. Returns the exit code."""
    import shutil
    import sys

    from pic1d.io.atomic import RunDirectoryExists, create_run_directory, write_json_atomic
    from pic1d.units import derive

    run_dir = Path(args.output or cfg.run.output)
    domains = getattr(args, "domains", None)
    replicas = getattr(args, "replicas", None)
    if domains is not None or replicas is not None:
        from dataclasses import replace

        par = replace(cfg.parallel, domains=domains or 0, replicas=replicas or 0)
        cfg = replace(cfg, parallel=par)
    try:
        sim = Simulation(cfg)
    except ValueError as exc:  # impossible decomposition
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dom = sim.domain
    error = None
    if dom.is_root:
        try:
            create_run_directory(run_dir, overwrite=args.overwrite)
        except (RunDirectoryExists, NotADirectoryError, OSError) as exc:
            error = str(exc)
    error = dom.bcast(error)
    if error is not None:
        if dom.is_root:
            print(f"error: {error}", file=sys.stderr)
        return 2
    if dom.is_root:
        handler = logging.FileHandler(run_dir / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logging.getLogger("pic1d").addHandler(handler)
        if cfg.source_path and Path(cfg.source_path).exists():
            shutil.copyfile(cfg.source_path, run_dir / "deck.toml")
        else:
            (run_dir / "deck.toml").write_text(cfg.source_text)
    derived = derive(cfg, ranks=dom.size)
    last_step = cfg.run.steps if args.steps is None else int(args.steps)
    info = {
        "name": cfg.run.name,
        "derived": derived.as_dict(),
        "versions": _versions(),
        "git": _git_hash(),
        "command": sys.argv,
        "ranks": dom.size,
        "last_step": last_step,
        # flat copies of the scales most readers need (see docs/outputs.md)
        "omega_ci0": cfg.scales.omega_ci0,
        "B0": cfg.plasma.B0,
        "mass_ratio": cfg.plasma.mass_ratio,
        "dx": cfg.grid.dx,
        "dt": cfg.grid.dt,
        "d_i0": cfg.scales.d_i0,
        "rho_i0": cfg.scales.rho_i0,
        "tau_c": cfg.compression.tau_c,
        "cells": cfg.grid.cells,
        "species": [
            {"name": s.name, "charge": s.charge, "mass": s.mass, "tracer": s.tracer,
             "ppc": s.ppc, "temperature": s.temperature, "anisotropy": s.anisotropy}
            for s in cfg.species
        ],  # fmt: skip
    }
    if dom.is_root:
        write_json_atomic(run_dir / "run.json", {**info, "status": "running"})
        log.info("pic1d run %s -> %s: %d steps, %d cells, %d ranks", cfg.run.name, run_dir,
                 last_step, cfg.grid.cells, dom.size)  # fmt: skip
    t0 = wallclock.perf_counter()
    sim.initialize()
    log.info("initialised %d particles in %.1f s (%d domains x %d replicas)",
             sim.particle_count(), wallclock.perf_counter() - t0, dom.domains,
             dom.replicas)  # fmt: skip
    runner = Runner(sim, run_dir)
    runner.run(last_step)
    timing = runner.timing_summary()
    if dom.is_root:
        log.info("done: %d steps in %.1f s, %.2f ns/particle/step", timing["steps"],
                 timing["wall_seconds"], timing["ns_per_particle_step"])  # fmt: skip
        for phase, sec in timing["phase_seconds"].items():
            log.info("  %-12s %8.2f s  %6.2f ns/particle/step", phase, sec,
                     timing["phase_ns_per_particle_step"][phase])  # fmt: skip
        write_json_atomic(run_dir / "run.json", {**info, "status": "finished",
                                                  "final_step": sim.step, "timing": timing})
    return 0
