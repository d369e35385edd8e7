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

Diagnostics are taken at integer times before a step (and after the last step); the
procedures (reset_waves) of a step come before its diagnostics, also at the last step.
:class:`Runner` runs the loop; with a :class:`RunControl` (``pic1d run``/``restart``) it
also checks numerical guards, writes checkpoints and stops on signals or wall time
(docs/restart.md).
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
from pic1d.kernels.boris import cell_coefficients, factor_args, push_gather_cic
from pic1d.kernels.deposit import deposit_current
from pic1d.kernels.push import push_boris
from pic1d.parallel import make_domain
from pic1d.sorting import CellSort
from pic1d.species import Species
from pic1d.units import format_bytes

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
        kernels = cfg.run.kernels
        self.sorted = kernels == "sorted" or (kernels == "auto" and self.order == 1)
        self.cell_sort = [CellSort(self.domain.n_local) for _ in self.species] if self.sorted \
            else None
        #: per-cell gather coefficients of each tracer species (sorted path), in the
        #: precision of its momenta
        self.tracer_coef = {i: np.zeros((self.grid.n_arr - 1, 12), dtype=dtype)
                            for i, sp in enumerate(self.species) if sp.tracer}  # fmt: skip

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
        if self.sorted:
            return self._advance_sorted()
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
            deposit_current(x, ux, uy, uz, sp.qw_arg(), move, dx / dt, 1.0 / a_half[1],
                            1.0 / a_half[2], x_offset, jx, jy, jz, self.deposit_buffers,
                            self.order)  # fmt: skip
        dom.fold_ghosts(jx, jy, jz)
        dom.sum_replicas(grid.j)
        t3 = tick()
        self.timers.add("push", t1 - t0)
        self.timers.add("migrate", t2 - t1)
        self._filter_and_fields(t, t2, t3)

    def _advance_sorted(self) -> None:
        """:meth:`advance` with the cell-sorted fused kernels (:mod:`pic1d.sorting`) for
        the plasma species; tracers (no deposit) keep the gather push and plain migration.

        Phases: "push" is the fused push and per-cell deposit sums, "migrate" the sort
        repair and the exchange of the particles leaving the domain, "deposit" the sums
        turned into J' (plus folds and replica sums)."""
        cfg, grid, sf, dom = self.cfg, self.grid, self.sf, self.domain
        dt, dx = cfg.grid.dt, cfg.grid.dx
        t = self.time
        tick = wallclock.perf_counter
        frozen = cfg.run.frozen_fields

        t0 = tick()
        grid.collocate(sf, t)
        a_half = sf.a(t + 0.5 * dt)
        move = dt / (a_half[0] * dx)
        x_offset = dom.x_offset
        for i, (sp, cs) in enumerate(zip(self.species, self.cell_sort, strict=True)):
            pre, post = compression_factors(sf, t, dt, sp.cfg.isotropic_forcing)
            if sp.tracer:  # no deposit: the gather kernel needs no sort (cheaper for
                if sp.n:  # relativistic tracers, which change cell often)
                    coef = self.tracer_coef[i]
                    cell_coefficients(grid.node_fields, 0.5 * sp.qm * dt, coef)
                    x, ux, uy, uz = sp.live()
                    args = factor_args(pre, post, sp.dtype)
                    push_gather_cic(x, ux, uy, uz, coef, x_offset, *args, move)
                continue
            cs.ensure_sorted(sp, x_offset)
            if sp.n:
                cs.push(sp, grid.node_fields, x_offset, 0.5 * sp.qm * dt, pre, post, move,
                        deposit=not frozen)  # fmt: skip
        t1 = tick()
        for sp, cs in zip(self.species, self.cell_sort, strict=True):
            if sp.tracer:
                dom.migrate(sp)
                continue
            n_front, n_back = cs.repair(sp, x_offset) if sp.n else (0, 0)
            cs.migrate_ends(sp, dom, n_front, n_back)
        t2 = tick()
        self.timers.add("push", t1 - t0)
        self.timers.add("migrate", t2 - t1)
        if frozen:  # test-particle mode: the co-moving fields d', b' stay
            self.step += 1
            return
        grid.j[:] = 0.0
        jx, jy, jz = grid.j
        for sp, cs in zip(self.species, self.cell_sort, strict=True):
            if sp.tracer or not sp.n:
                continue
            cs.scatter(sp, dx / dt, 1.0 / a_half[1], 1.0 / a_half[2], jx, jy, jz)
        dom.fold_ghosts(jx, jy, jz)
        dom.sum_replicas(grid.j)
        t3 = tick()
        self._filter_and_fields(t, t2, t3)

    def _filter_and_fields(self, t: float, t2: float, t3: float) -> None:
        """Filter J' and advance the fields (both paths); adds the phase timers."""
        cfg, grid, sf, dom = self.cfg, self.grid, self.sf, self.domain
        dt = cfg.grid.dt
        tick = wallclock.perf_counter
        jx, jy, jz = grid.j
        dom.filter_many((jx, jy, jz), grid.tmp, cfg.grid.filter_passes)
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

    The loop, for each step n from the start step to ``last_step``::

        [control] guards on the state (fields every step, particles every few steps)
        procedures(n); diagnostics(n)              (skipped at the start step of a restart)
        [control] energy guard; checkpoint / stop decisions
        stop at last_step, else advance to n + 1

    so a checkpoint at step n holds the state *after* the procedures and outputs of step n
    and a restart from it continues with the push of step n (nothing is repeated).

    Parameters
    ----------
    sim : Simulation
    run_dir : Path or None
        Run directory (None: no files are written; for tests).
    insitu_t_end : float, optional
        End time sizing the in-situ p_rev range (default: the deck's duration; a restart
        passes the value of the original run so the bins do not change).
    """

    def __init__(self, sim: Simulation, run_dir: Path | None, insitu_t_end: float | None = None):
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
        self.insitu_t_end = (sim.cfg.run.steps * sim.cfg.grid.dt if insitu_t_end is None
                             else float(insitu_t_end))  # fmt: skip
        self.insitu = InsituOutput(sim, p("insitu.h5"), out.insitu_every, out.insitu_p_bins,
                                   out.insitu_mu_bins, out.insitu_p0_bins,
                                   t_end=self.insitu_t_end)  # fmt: skip
        self.energy0: float | None = None
        self.kinetic0: float | None = None
        self.work = 0.0  # compression work since t = 0 (history cadence, trapezoid)
        self.work_last: tuple[float, float] | None = None
        #: checkpoints, guards and stop requests (set by run_from_config; None = plain loop)
        self.control: RunControl | None = None
        self._guard_energy0: float | None = None
        self.wall_seconds = 0.0
        self.steps_done = 0
        self.n_particles = 0

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
            # compression work W = int work_rate dt (trapezoid over history rows)
            if self.work_last is not None:
                t_prev, rate_prev = self.work_last
                self.work += 0.5 * (rate_prev + row["work_rate"]) * (row["time"] - t_prev)
            self.work_last = (row["time"], row["work_rate"])
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

    def procedures(self) -> None:
        """Apply the Appendix-C procedures due at this step: ``reset_waves`` at the first
        integer time t_n >= each requested time (decided from the step number alone, so
        a restarted run makes the same decision)."""
        sim = self.sim
        dt = sim.cfg.grid.dt
        t_n, t_prev = sim.step * dt, (sim.step - 1) * dt
        for t_reset in sim.cfg.compression.t_reset_waves:
            if t_prev < t_reset <= t_n or (sim.step == 0 and t_reset <= 0.0):
                from pic1d.procedures import reset_waves

                reset_waves(sim)

    def energy_error(self) -> float | None:
        """(E_total - E_total(0) - W) / E_kinetic(0) from the last history row, W the work
        done by the compression so far (docs/physics-notes.md): the energy the scheme
        gained or lost by itself."""
        last = self.history.last
        if last is None or self.energy0 is None or not self.kinetic0:
            return None
        return (last["energy_total"] - self.energy0 - self.work) / self.kinetic0

    # ------------------------------------------------------------------ restarts
    def checkpoint_state(self) -> dict:
        """Runner scalars a checkpoint keeps (JSON-ready)."""
        st = self.insitu.state()
        return {
            "energy0": self.energy0,
            "kinetic0": self.kinetic0,
            "work": self.work,
            "work_last": self.work_last,
            "history_last": self.history.last,
            "insitu": {"mark_step": st.get("mark_step"), "nonad_step": st.get("nonad_step")},
            "insitu_t_end": self.insitu_t_end,
            "guard_energy0": self._guard_energy0 if self.control is None
            else self.control.energy0,
            "cadences": {"history": self.history.every, "spectra": self.spectra.every,
                         "fields": self.fields.every, "tracers": self.tracers.every,
                         "insitu": self.insitu.every},
        }  # fmt: skip

    def restore_state(self, state: dict) -> None:
        """Restore :meth:`checkpoint_state` (after the simulation state was loaded)."""
        self.energy0 = state.get("energy0")
        self.kinetic0 = state.get("kinetic0")
        self.work = float(state.get("work") or 0.0)
        last_work = state.get("work_last")
        self.work_last = tuple(last_work) if last_work else None
        last = state.get("history_last")
        self.history.last = dict(last) if last else None
        if self.insitu.every and (state.get("cadences") or {}).get("insitu"):
            self.insitu.restore(state.get("insitu") or {})
        self.insitu._done_step = self.sim.step
        self.tracer_hooks.last_step = self.sim.step
        self._guard_energy0 = state.get("guard_energy0")
        if self.control is not None:
            self.control.energy0 = self._guard_energy0

    def catch_up_outputs(self) -> list[str]:
        """After a restart at step S: write the outputs due at S under the (possibly new)
        cadences that the checkpointing run did not write (history, spectra, fields,
        tracer dumps; in-situ sums start at their next due step). Returns their names."""
        sim = self.sim
        step = sim.step
        todo = None
        if sim.domain.is_root:
            from pic1d.io.series import AppendableSeries

            def has_row(series: AppendableSeries | None) -> bool:
                if series is None:
                    return True
                steps = series.read("step") if "step" in series.names else np.zeros(0)
                return bool(steps.size) and int(steps[-1]) == step

            def has_file(directory) -> bool:
                return directory is None or (Path(directory) / f"data{step:06d}.h5").exists()

            todo = {
                "history": self.history.due(step) and not has_row(self.history.series),
                "spectra": self.spectra.due(step) and not has_row(self.spectra.series),
                "fields": self.fields.due(step) and not has_file(self.fields.directory),
                "tracers": self.tracers.due(step) and not has_file(self.tracers.directory),
            }  # fmt: skip
        todo = sim.domain.bcast(todo)
        done = []
        for name, out in (("history", self.history), ("spectra", self.spectra),
                          ("fields", self.fields), ("tracers", self.tracers)):  # fmt: skip
            if todo[name]:
                out.write()
                done.append(name)
        return done

    # ---------------------------------------------------------------------- loop
    def run(self, last_step: int, resume: bool = False) -> str:
        """Advance until the global step ``last_step``, writing outputs on the way.

        Parameters
        ----------
        last_step : int
            Global step to stop at.
        resume : bool
            The outputs and procedures of the current step were done before a checkpoint
            (restart): start with the push.

        Returns
        -------
        str
            Why the loop ended: ``"steps"`` (reached ``last_step``), or with a
            :attr:`control`, ``"signal SIGTERM"``/``"signal SIGUSR1"``, ``"walltime"``.

        Raises
        ------
        pic1d.guards.GuardTripped
            A numerical guard failed (only with a :attr:`control`).
        """
        sim = self.sim
        cfg = sim.cfg
        ctl = self.control
        n_particles = sim.particle_count()
        start_step = sim.step
        t_start = wallclock.perf_counter()
        t_last = t_start
        omega_ci0 = cfg.scales.omega_ci0
        skip = resume
        reason = "steps"
        if ctl is not None:
            ctl.start(start_step)
        while True:
            if ctl is not None:
                ctl.check_state()
            if not skip:
                self.procedures()
                self.diagnostics()
            skip = False
            if ctl is not None:
                stop = ctl.after_outputs(last_step)
                if stop is not None:
                    reason = stop
                    break
            elif sim.step >= last_step:
                break
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
        self.wall_seconds = wallclock.perf_counter() - t_start
        self.steps_done = sim.step - start_step
        self.n_particles = n_particles
        return reason

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


class RunControl:
    """Checkpoints, numerical guards and stop requests of a run with a run directory.

    One allreduce of a few flags per step (a guard failed, SIGTERM or SIGUSR1 received,
    wall time nearly used up, wall-clock checkpoint due) makes every decision collective.

    Parameters
    ----------
    runner : Runner
    run_dir : Path
    stops : pic1d.guards.StopRequests
    manifest_extra : callable
        Returns the extra manifest entries (deck text, ...) at checkpoint time.
    """

    def __init__(self, runner: Runner, run_dir: Path, stops, manifest_extra):
        from pic1d.guards import ENERGY_CHECK_EVERY, Guards

        self.runner = runner
        self.sim = runner.sim
        self.run_dir = Path(run_dir)
        self.stops = stops
        self.manifest_extra = manifest_extra
        cfg = self.sim.cfg
        self.every = cfg.checkpoint.every
        self.every_seconds = 60.0 * cfg.checkpoint.every_minutes
        self.keep = cfg.checkpoint.keep
        self.guards = Guards(self.sim)
        self.energy_every = ENERGY_CHECK_EVERY
        self.max_growth = cfg.run.max_energy_growth
        self.energy0: float | None = runner._guard_energy0
        self.start_step = self.sim.step
        self.last_checkpoint_step: int | None = None
        self.last_checkpoint: Path | None = None
        self.t_checkpoint = wallclock.monotonic()
        self.t_step = None
        self.flags = np.zeros(5)

    def start(self, step: int) -> None:
        self.start_step = step
        self.t_step = wallclock.monotonic()
        self.t_checkpoint = wallclock.monotonic()
        sim = self.sim
        nbytes = sum(a.nbytes for sp in sim.species for a in sp.particle_columns())
        self.stops.checkpoint_estimate = 0.2 + nbytes / 100e6  # until one is measured

    # --------------------------------------------------------------- per step
    def check_state(self) -> None:
        """Local guards + signal/walltime/clock flags, combined over the ranks."""
        from pic1d.guards import GuardTripped

        now = wallclock.monotonic()
        if self.t_step is not None and self.sim.step > self.start_step:
            self.stops.record_step(now - self.t_step)
        self.t_step = now
        problem = self.guards.local_problem()
        got = self.stops.received
        local = np.array([
            1.0 if problem else 0.0,
            1.0 if got == "SIGTERM" else 0.0,
            1.0 if got is not None and got != "SIGTERM" else 0.0,
            1.0 if self.stops.walltime_reached() else 0.0,
            1.0 if self.every_seconds and now - self.t_checkpoint >= self.every_seconds else 0.0,
        ])  # fmt: skip
        self.flags = self.sim.domain.allreduce_sum(local)
        if self.flags[0] > 0:
            msgs = _gather_strings(self.sim.domain, problem)
            raise self._fail(GuardTripped(self.sim.step, msgs))

    def after_outputs(self, last_step: int) -> str | None:
        """Energy guard, then checkpoint/stop decisions at the current step."""
        from pic1d.guards import GuardTripped, adiabatic_factor, energy_problem

        sim = self.sim
        step = sim.step
        if self.max_growth > 0:
            row = None
            last = self.runner.history.last
            if last is not None and int(last["step"]) == step:
                row = last
            elif not self.runner.history.every and (
                    self.energy0 is None or step % self.energy_every == 0):
                from pic1d.diagnostics.output import history_row

                row = history_row(sim, self.runner.history.moments)
            if row is not None:
                energy = float(row["energy_total"])
                if self.energy0 is None and math.isfinite(energy):
                    self.energy0 = energy
                msg = energy_problem(energy, self.energy0 or 0.0,
                                     adiabatic_factor(sim.sf, sim.time), self.max_growth, step)
                if msg:
                    raise self._fail(GuardTripped(step, [msg]))
        if step >= last_step:
            self.checkpoint("steps" if step < sim.cfg.run.steps else "finished")
            return "finished" if step >= sim.cfg.run.steps else "steps"
        if self.flags[1] > 0 or self.flags[2] > 0:
            reason = "signal SIGTERM" if self.flags[1] > 0 else "signal SIGUSR1"
            self.checkpoint(reason)
            return reason
        if self.flags[3] > 0:
            self.checkpoint("walltime")
            return "walltime"
        if step > self.start_step and ((self.every and step % self.every == 0)
                                       or self.flags[4] > 0):  # fmt: skip
            self.checkpoint("cadence" if self.every and step % self.every == 0 else "clock")
        return None

    # ------------------------------------------------------------ checkpoints
    def checkpoint(self, reason: str) -> Path | None:
        """Write a valid checkpoint of the current step (unless it exists) and prune."""
        from pic1d.io.checkpoint import prune_checkpoints, write_checkpoint

        sim = self.sim
        if self.last_checkpoint_step == sim.step:
            return self.last_checkpoint
        t0 = wallclock.monotonic()
        extra = {**self.manifest_extra(), "runner": self.runner.checkpoint_state()}
        path = write_checkpoint(sim, self.run_dir, extra, reason=reason)
        if sim.domain.is_root:
            prune_checkpoints(self.run_dir, self.keep)
        self.last_checkpoint_step = sim.step
        self.last_checkpoint = path
        self.t_checkpoint = wallclock.monotonic()
        self.stops.record_checkpoint(self.t_checkpoint - t0)
        self.t_step = self.t_checkpoint  # step times exclude checkpoint writes
        return path

    def _fail(self, exc):
        """Log the guard failure and write the bad state as ``ckpt_XXXXXXXXX.failed``."""
        from pic1d.io.checkpoint import CheckpointError, write_checkpoint

        sim = self.sim
        if sim.domain.is_root:
            for msg in exc.problems:
                log.error("%s", msg)
        try:
            extra = {**self.manifest_extra(), "runner": self.runner.checkpoint_state(),
                     "problems": exc.problems}  # fmt: skip
            exc.checkpoint = str(write_checkpoint(sim, self.run_dir, extra, failed=True,
                                                  reason="numerical guard"))
        except CheckpointError as err:
            if sim.domain.is_root:
                log.error("could not write the failed state: %s", err)
        return exc


def _gather_strings(dom, msg: str | None) -> list[str]:
    """Every rank's message (None dropped), the same list on all ranks."""
    comm = getattr(dom, "comm", None)
    msgs = [msg] if comm is None or dom.size == 1 else comm.allgather(msg)
    return [m for m in msgs if m]


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


# --------------------------------------------------------------------- run_from_config
EXIT_OK, EXIT_RUNTIME, EXIT_INPUT, EXIT_GUARD = 0, 1, 2, 3


def disk_space_problem(cfg: Config, run_dir: Path, ranks: int, first_step: int,
                       last_step: int) -> str | None:
    """A message if the file system of ``run_dir`` lacks room for the planned outputs of
    steps [first_step, last_step] plus ``keep + 1`` checkpoints, else None."""
    import shutil

    from pic1d.io.checkpoint import estimate_checkpoint_bytes
    from pic1d.units import derive

    steps = max(cfg.run.steps, 1)
    frac = max(last_step - first_step, 0) / steps
    outputs = derive(cfg, ranks=ranks).output_bytes * frac
    every = cfg.checkpoint.every
    planned = (max(last_step - first_step, 0) // every if every else 0) + 1
    ckpt = estimate_checkpoint_bytes(cfg, ranks) * min(cfg.checkpoint.keep + 1, planned + 1)
    need = outputs + ckpt
    try:
        free = shutil.disk_usage(run_dir).free
    except OSError:
        return None
    if need > free:
        return (f"not enough disk space in {run_dir}: the run needs about {format_bytes(need)} "
                f"(outputs {format_bytes(outputs)} + checkpoints {format_bytes(ckpt)}), "
                f"{format_bytes(free)} are free; free some space, lower output cadences or "
                "[checkpoint] keep, or pass --no-disk-check")
    return None


def _with_parallel_overrides(cfg: Config, args) -> Config:
    domains = getattr(args, "domains", None)
    replicas = getattr(args, "replicas", None)
    if domains is not None or replicas is not None:
        from dataclasses import replace

        par = replace(cfg.parallel, domains=domains or 0, replicas=replicas or 0)
        cfg = replace(cfg, parallel=par)
    return cfg


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _add_log_file(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("pic1d").addHandler(handler)
    return handler


def _run_info(cfg: Config, dom, last_step: int) -> dict:
    import sys

    from pic1d.units import derive

    derived = derive(cfg, ranks=dom.size)
    return {
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


def run_from_config(cfg: Config, args) -> int:
    """``pic1d run`` / ``pic1d restart``: set up the run directory (fresh or from a
    checkpoint), run, checkpoint, write run.json. Returns the exit code (0 ok, 1 runtime
    error, 2 input error, 3 numerical guard; docs/restart.md)."""
    import sys

    from pic1d.guards import StopRequests
    from pic1d.io.checkpoint import CheckpointError

    restart = getattr(args, "restart", None)
    run_dir = Path(args.output or cfg.run.output)
    cfg = _with_parallel_overrides(cfg, args)
    try:
        sim = Simulation(cfg)
    except ValueError as exc:  # impossible decomposition
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    dom = sim.domain
    walltime = getattr(args, "walltime", None)
    stops = StopRequests(walltime, getattr(args, "t_launch", None),
                         getattr(args, "early_signals", None))
    stops.install()  # a signal during the set-up still ends in a checkpoint at the first step
    handler = None
    try:
        if restart:
            setup = _setup_restart(sim, args, run_dir, restart)
        else:
            setup = _setup_fresh(sim, args, run_dir)
        if isinstance(setup, int):
            return setup
        runner, info, last_step, resume, handler = setup
        deck_text = cfg.source_text
        ctl = RunControl(runner, run_dir, stops,
                         lambda: {"deck": deck_text, "pic1d_version": info["versions"]["pic1d"],
                                  "git": info.get("git")})  # fmt: skip
        runner.control = ctl
        if resume:
            ctl.last_checkpoint_step = sim.step
        return _execute(runner, ctl, info, last_step, resume, run_dir)
    except CheckpointError as exc:
        if dom.is_root:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        stops.restore()
        if handler is not None:
            logging.getLogger("pic1d").removeHandler(handler)
            handler.close()


def _setup_fresh(sim: Simulation, args, run_dir: Path):
    import shutil
    import sys

    from pic1d.io.atomic import RunDirectoryExists, create_run_directory, write_json_atomic
    from pic1d.io.checkpoint import CHECKPOINTS

    cfg, dom = sim.cfg, sim.domain
    last_step = cfg.run.steps if args.steps is None else int(args.steps)
    error = None
    if dom.is_root:
        try:
            create_run_directory(run_dir, overwrite=args.overwrite)
            (run_dir / CHECKPOINTS).mkdir(exist_ok=True)  # also proves the directory writable
        except (RunDirectoryExists, NotADirectoryError, OSError) as exc:
            error = str(exc)
        if error is None and not getattr(args, "no_disk_check", False):
            error = disk_space_problem(cfg, run_dir, dom.size, 0, last_step)
    error = dom.bcast(error)
    if error is not None:
        if dom.is_root:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    handler = None
    if dom.is_root:
        handler = _add_log_file(run_dir)
        if cfg.source_path and Path(cfg.source_path).exists():
            shutil.copyfile(cfg.source_path, run_dir / "deck.toml")
        else:
            (run_dir / "deck.toml").write_text(cfg.source_text)
    info = _run_info(cfg, dom, last_step)
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
    return runner, info, last_step, False, handler


def _setup_restart(sim: Simulation, args, run_dir: Path, restart: str):
    """Find and verify the checkpoint, refuse physics changes, truncate the outputs past
    it, load the state. Returns (runner, info, last_step, True, handler) or an exit code."""
    import sys
    from datetime import datetime, timezone

    from pic1d.deck import DeckError, parse_deck
    from pic1d.io.atomic import atomic_write, write_json_atomic
    from pic1d.io.checkpoint import (
        CheckpointError,
        find_checkpoint,
        list_checkpoints,
        load_checkpoint,
        physics_differences,
        set_aside,
    )
    from pic1d.io.openpmd import remove_iterations_after
    from pic1d.io.series import AppendableSeries

    cfg, dom = sim.cfg, sim.domain

    def fail(msg: str) -> int:
        if dom.is_root:
            print(f"error: {msg}", file=sys.stderr)
        return EXIT_INPUT

    if getattr(args, "overwrite", False):
        return fail("--restart and --overwrite exclude each other")
    error = None
    if dom.is_root and not run_dir.is_dir():
        error = f"run directory {run_dir} does not exist (nothing to restart)"
    error = dom.bcast(error)
    if error:
        return fail(error)
    explicit = None if restart == "latest" else Path(restart)
    if explicit is not None and not (explicit / "manifest.json").exists() and \
            (explicit / "checkpoints").is_dir():  # fmt: skip
        run_dir, explicit = explicit, None  # a run directory: its newest checkpoint
    try:
        path, manifest, skipped = find_checkpoint(run_dir, dom, explicit)
    except CheckpointError as exc:
        return fail(str(exc))
    step = int(manifest["step"])
    try:
        old_cfg = parse_deck(manifest["deck"], source=f"{path}/manifest.json deck")
    except (DeckError, KeyError) as exc:
        return fail(f"cannot read the deck stored in {path}: {exc}")
    diffs = physics_differences(old_cfg, cfg)
    if diffs:
        return fail(
            f"restart refused: physics parameters differ from the run's deck (stored with "
            f"checkpoint {path.name}): " + "; ".join(diffs) + ". Only [output], [checkpoint], "
            "[parallel], [run] duration/name/output/progress_seconds/max_energy_growth may "
            "change on a restart; start a new run for new physics.")
    last_step = cfg.run.steps if args.steps is None else int(args.steps)
    if last_step < step:
        return fail(f"--steps {last_step} is before the checkpoint step {step}")
    error = None
    handler = None
    info = None
    if dom.is_root:
        if not getattr(args, "no_disk_check", False):
            error = disk_space_problem(cfg, run_dir, dom.size, step, last_step)
        if error is None:
            handler = _add_log_file(run_dir)
            log.info("pic1d restart %s from %s (step %d, t = %.6g /omega_pe0) to step %d on "
                     "%d ranks", run_dir, path.name, step, manifest["time"], last_step,
                     dom.size)  # fmt: skip
            # newer checkpoints: corrupt ones and (explicit restarts) valid ones set aside
            bad = {p for p, _ in skipped}
            for s, p in list_checkpoints(run_dir):
                if s > step:
                    new = set_aside(p, "corrupt" if p in bad else "superseded")
                    log.info("  %s -> %s", p.name, new.name)
            # outputs past the checkpoint
            for name in ("history.h5", "spectra.h5", "insitu.h5"):
                f = run_dir / name
                if f.exists():
                    n = AppendableSeries(f).truncate_after(step)
                    log.info("  %s: %d rows kept (step <= %d)", name, n, step)
            for sub in ("fields", "tracers"):
                removed = remove_iterations_after(run_dir / sub, step)
                if removed:
                    log.info("  %s/: removed iterations %s", sub, removed)
            # the deck of this segment
            deck_file = run_dir / "deck.toml"
            old_text = deck_file.read_text() if deck_file.exists() else None
            changed = old_text != cfg.source_text
            if changed:
                with atomic_write(deck_file, "w") as fh:
                    fh.write(cfg.source_text)
            info = _read_json(run_dir / "run.json") or _run_info(cfg, dom, last_step)
            entry = {"from_step": step, "checkpoint": path.name,
                     "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "command": sys.argv, "ranks": dom.size, "last_step": last_step,
                     "skipped": [f"{p.name}: {why}" for p, why in skipped],
                     "deck_changed": changed}  # fmt: skip
            if changed and old_text is not None:
                entry["previous_deck"] = old_text
            info.setdefault("restarts", []).append(entry)
            info.update({"last_step": last_step, "ranks": dom.size, "status": "running"})
            info.pop("timing", None)
            write_json_atomic(run_dir / "run.json", info)
    error = dom.bcast(error)
    if error:
        return fail(error)
    info = dom.bcast(info)
    t0 = wallclock.perf_counter()
    bitwise = load_checkpoint(sim, path, manifest)
    log.info("loaded %d particles from %s in %.1f s (%d domains x %d replicas%s)",
             sim.particle_count(), path.name, wallclock.perf_counter() - t0, dom.domains,
             dom.replicas, "" if bitwise else ", redistributed from "
             f"{manifest['decomposition']['domains']} x "
             f"{manifest['decomposition']['replicas']}")  # fmt: skip
    state = manifest.get("runner") or {}
    runner, problem = None, None
    try:
        runner = Runner(sim, run_dir, insitu_t_end=state.get("insitu_t_end"))
    except ValueError as exc:  # an output file with an incompatible layout (root only)
        problem = str(exc)
    problems = _gather_strings(dom, problem)
    if problems:
        if handler is not None:
            logging.getLogger("pic1d").removeHandler(handler)
            handler.close()
        return fail(f"cannot continue the outputs: {problems[0]}")
    runner.restore_state(state)
    caught = runner.catch_up_outputs()
    if caught:
        log.info("  wrote the outputs due at step %d under the new cadences: %s", step,
                 ", ".join(caught))  # fmt: skip
    return runner, info, last_step, True, handler


def _execute(runner: Runner, ctl: RunControl, info: dict, last_step: int, resume: bool,
             run_dir: Path) -> int:
    """Run the loop; map the outcome to run.json status and the exit code."""
    import sys

    from pic1d.guards import GuardTripped
    from pic1d.io.atomic import write_json_atomic
    from pic1d.io.checkpoint import CheckpointError

    sim = runner.sim
    dom = sim.domain
    info = {k: v for k, v in info.items() if not k.startswith("_")}

    def status(**kw) -> None:
        if dom.is_root:
            write_json_atomic(run_dir / "run.json", {**info, **kw})

    try:
        reason = runner.run(last_step, resume=resume)
    except GuardTripped as exc:
        status(status="failed", final_step=sim.step, stop_reason="numerical guard",
               failure=exc.problems, failed_checkpoint=exc.checkpoint,
               checkpoint=None if ctl.last_checkpoint is None else str(ctl.last_checkpoint))
        if dom.is_root:
            print(f"error: {exc.problems[0]}", file=sys.stderr)
            print(f"error: the run stopped at step {exc.step} (exit status {EXIT_GUARD}); the "
                  f"bad state is in {exc.checkpoint}; the last good checkpoint is "
                  f"{ctl.last_checkpoint or 'none'}", file=sys.stderr)  # fmt: skip
        return EXIT_GUARD
    except CheckpointError as exc:
        status(status="failed", final_step=sim.step, stop_reason="checkpoint failed",
               failure=[str(exc)])
        raise
    except BaseException as exc:
        status(status="failed", final_step=sim.step, stop_reason="runtime error",
               failure=[f"{type(exc).__name__}: {exc}"])
        raise
    timing = runner.timing_summary()
    finished = reason == "finished"
    ckpt = None if ctl.last_checkpoint is None else str(ctl.last_checkpoint)
    if dom.is_root:
        log.info("done: %d steps in %.1f s, %.2f ns/particle/step", timing["steps"],
                 timing["wall_seconds"], timing["ns_per_particle_step"])  # fmt: skip
        for phase, sec in timing["phase_seconds"].items():
            log.info("  %-12s %8.2f s  %6.2f ns/particle/step", phase, sec,
                     timing["phase_ns_per_particle_step"][phase])  # fmt: skip
        if not finished:
            why = {"steps": f"reached --steps {last_step}", "walltime": "the wall-time budget "
                   "is nearly used up"}.get(reason, f"received {reason.split()[-1]}")  # fmt: skip
            log.info("stopped at step %d (%s): checkpoint %s written; continue with "
                     "`pic1d restart %s`", sim.step, why, ckpt, run_dir)  # fmt: skip
    status(status="finished" if finished else "checkpointed", final_step=sim.step,
           stop_reason=reason, checkpoint=ckpt, timing=timing)
    return EXIT_OK
