"""Numerical guards and stop requests of a running simulation (docs/restart.md).

* :class:`Guards` -- cheap checks that stop a run before garbage is written or a kernel
  indexes memory with a NaN position:

  - fields d', b' finite (NaN/Inf), **every step** (O(cells): a few microseconds);
  - particles finite and moving less than one cell per step, every ``every`` steps
    (default :data:`PARTICLE_CHECK_EVERY`; one sum per array and
    :func:`pic1d.kernels.boundary.max_abs_displacement`, < 2 % of a step's cost);
  - total energy below ``max_energy_growth`` times the initial energy times the adiabatic
    factor A(t) = max(1, max_k a_k) / min(1, min_k a_k)^2 (the largest factor by which
    compression alone can raise any energy in the box), at every history row (or every
    :data:`ENERGY_CHECK_EVERY` steps when history output is off).

  A NaN can only enter the particles through a NaN field (checked every step) or through
  code acting on the particles directly (procedures, test hooks), so the cadenced particle
  check is a second line of defence.
* :class:`StopRequests` -- SIGTERM / SIGUSR1 handlers (what Slurm sends before the time
  limit) and the ``--walltime`` budget; they only set flags, which the run loop turns into
  a collective "checkpoint and stop" at the end of the current step.

Every check here is local to a rank; the caller combines the flags with one small
allreduce per step so that all ranks take the same decision.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections import deque

import numpy as np

from pic1d.kernels import N_GHOST
from pic1d.kernels.boundary import max_abs_displacement

log = logging.getLogger("pic1d")

#: steps between particle checks (finite values, displacement < 1 cell per step)
PARTICLE_CHECK_EVERY = 20
#: steps between energy checks when the run writes no history (one history_row)
ENERGY_CHECK_EVERY = 100
#: signals that request "checkpoint at the end of this step and exit 0"
STOP_SIGNALS = ("SIGTERM", "SIGUSR1")

FIELD_NAMES = {("d", 0): "d_x (E_x)", ("d", 1): "d_y (E_y)", ("d", 2): "d_z (E_z)",
               ("b", 0): "b_x (B_x)", ("b", 1): "b_y (B_y)", ("b", 2): "b_z (B_z)"}  # fmt: skip


class GuardTripped(RuntimeError):
    """A numerical guard stopped the run (exit status 3).

    Attributes
    ----------
    step : int
        Step at which the problem was detected.
    problems : list of str
        One message per rank/quantity that failed.
    checkpoint : str or None
        The ``ckpt_XXXXXXXXX.failed`` directory holding the bad state, if written.
    """

    def __init__(self, step: int, problems: list[str], checkpoint: str | None = None):
        self.step = step
        self.problems = list(problems)
        self.checkpoint = checkpoint
        super().__init__("; ".join(self.problems))


# ------------------------------------------------------------------------- checks
def field_problem(sim) -> str | None:
    """A message if d' or b' of this rank holds a NaN/Inf (interior or ghosts), else None."""
    grid = sim.grid
    if math.isfinite(float(grid.d.sum())) and math.isfinite(float(grid.b.sum())):
        return None
    for name, arr in (("d", grid.d), ("b", grid.b)):
        for comp in range(3):
            bad = np.flatnonzero(~np.isfinite(arr[comp]))
            if bad.size:
                cell = sim.domain.i_lo + int(bad[0]) - N_GHOST
                return (f"numerical guard: non-finite value (NaN/Inf) in field "
                        f"{FIELD_NAMES[(name, comp)]} at step {sim.step}, global cell "
                        f"{cell % sim.cfg.grid.cells} ({bad.size} bad nodes on rank "
                        f"{sim.domain.rank})")  # fmt: skip
    return None  # pragma: no cover - a sum overflowing finite values; not a real field


def particle_problem(sim) -> str | None:
    """A message if a particle array holds a NaN/Inf or a particle moves >= 1 cell per
    step (with the scale factor of the last push), else None (this rank only)."""
    cfg = sim.cfg
    t = sim.time
    move = cfg.grid.dt / (sim.sf.a(t - 0.5 * cfg.grid.dt)[0] * cfg.grid.dx)
    for sp in sim.species:
        if not sp.n:
            continue
        arrays = dict(zip(("x", "ux", "uy", "uz"), sp.live(), strict=True))
        for key, arr in arrays.items():
            if not math.isfinite(float(arr.sum(dtype=np.float64))):
                bad = int(np.count_nonzero(~np.isfinite(arr)))
                return (f"numerical guard: non-finite value (NaN/Inf) in particle {key} of "
                        f"species '{sp.name}' at step {sim.step} ({bad} particles on rank "
                        f"{sim.domain.rank})")  # fmt: skip
        worst = float(max_abs_displacement(arrays["ux"], arrays["uy"], arrays["uz"], move))
        if worst >= 1.0:
            return (f"numerical guard: a particle of species '{sp.name}' moves {worst:.3f} "
                    f"cells per step at step {sim.step} (must be < 1)")
    return None


def adiabatic_factor(sf, t: float) -> float:
    """A(t) = max(1, max_k a_k(t)) / min(1, min_k a_k(t))^2: an upper bound of the factor
    by which compression alone raises the field or kinetic energy of the box."""
    a = sf.a(t)
    return max(1.0, max(a)) / min(1.0, min(a)) ** 2


def energy_problem(energy: float, energy0: float, factor: float, limit: float,
                   step: int) -> str | None:
    """A message if ``energy`` is not finite or exceeds ``limit * factor * energy0``."""
    if not math.isfinite(energy):
        return f"numerical guard: total energy is {energy} at step {step}"
    if limit > 0 and energy0 > 0 and energy > limit * factor * energy0:
        return (f"numerical guard: total energy grew to {energy / energy0:.4g} x its initial "
                f"value at step {step} (limit [run] max_energy_growth = {limit:g} x the "
                f"adiabatic factor {factor:.4g})")
    return None


class Guards:
    """The per-step local checks of one rank.

    Parameters
    ----------
    sim : Simulation
    every : int
        Steps between particle checks.
    """

    def __init__(self, sim, every: int = PARTICLE_CHECK_EVERY):
        self.sim = sim
        self.every = max(1, int(every))

    def local_problem(self) -> str | None:
        """Fields every step, particles every ``every`` steps (this rank)."""
        msg = field_problem(self.sim)
        if msg is None and self.sim.step % self.every == 0:
            msg = particle_problem(self.sim)
        return msg


# ------------------------------------------------------------------ stop requests
def parse_walltime(text: str) -> float:
    """Seconds in ``[D-]HH:MM:SS`` or ``MM:SS`` (Slurm's notation).

    Raises
    ------
    ValueError
        For anything else.
    """
    s = text.strip()
    days = 0
    if "-" in s:
        d, s = s.split("-", 1)
        days = int(d)
    parts = s.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"walltime {text!r}: use [D-]HH:MM:SS or MM:SS")
    nums = [int(p) for p in parts]
    if len(nums) == 2:
        nums = [0, *nums]
    h, m, sec = nums
    if m >= 60 or sec >= 60 or days < 0:
        raise ValueError(f"walltime {text!r}: minutes and seconds must be < 60")
    total = ((days * 24 + h) * 60 + m) * 60 + sec
    if total <= 0:
        raise ValueError(f"walltime {text!r} must be > 0")
    return float(total)


class StopRequests:
    """Signals and the wall-clock budget, turned into flags polled once per step.

    Parameters
    ----------
    walltime : float or None
        Seconds available from ``t0`` (``--walltime``); None = unlimited.
    t0 : float, optional
        ``time.monotonic()`` when the process started (default: now).
    pending : list of int, optional
        Signal numbers received before :meth:`install` (by the CLI's start-up handler);
        the first one counts as received.

    Notes
    -----
    The wall-time stop leaves a margin of twice the longest of the last 50 steps (output
    steps included) plus 1.5 times the (measured or estimated) checkpoint cost, so the
    final checkpoint completes before the budget runs out.
    """

    def __init__(self, walltime: float | None = None, t0: float | None = None,
                 pending: list[int] | None = None):
        self.walltime = walltime
        self.t0 = time.monotonic() if t0 is None else t0
        self.received: str | None = None
        self.pending = pending
        self._previous: dict = {}
        self.step_seconds: deque[float] = deque(maxlen=50)
        self.checkpoint_seconds: float | None = None
        self.checkpoint_estimate = 1.0

    # signals ---------------------------------------------------------------
    def _handler(self, signum, frame) -> None:  # noqa: ARG002
        if self.received is None:  # the loop reports it (logging here is not safe)
            self.received = signal.Signals(signum).name

    def install(self) -> None:
        """Catch :data:`STOP_SIGNALS` (main thread only; elsewhere a no-op)."""
        if self.pending and self.received is None:
            self.received = signal.Signals(self.pending[0]).name
        for name in STOP_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:  # pragma: no cover - platform without SIGUSR1
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # pragma: no cover - not the main thread
                log.debug("cannot install a %s handler outside the main thread", name)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, old in self._previous.items():
            try:
                signal.signal(sig, old)
            except (ValueError, TypeError):  # pragma: no cover
                pass
        self._previous.clear()

    # wall time ---------------------------------------------------------------
    def record_step(self, seconds: float) -> None:
        """Wall-clock seconds of one step (push to push, outputs included)."""
        self.step_seconds.append(seconds)

    def record_checkpoint(self, seconds: float) -> None:
        self.checkpoint_seconds = seconds

    def margin(self) -> float:
        """Seconds to keep in reserve for the current step and the final checkpoint."""
        step = max(self.step_seconds) if self.step_seconds else 0.0
        ckpt = self.checkpoint_seconds
        if ckpt is None:
            ckpt = self.checkpoint_estimate
        return 2.0 * step + 1.5 * ckpt

    def walltime_reached(self) -> bool:
        """True once the remaining budget is below :meth:`margin`."""
        if self.walltime is None:
            return False
        return time.monotonic() - self.t0 + self.margin() >= self.walltime

    def remaining(self) -> float:
        """Seconds left of the budget (inf without one)."""
        if self.walltime is None:
            return math.inf
        return self.walltime - (time.monotonic() - self.t0)
