"""Command line: ``pic1d info|run|restart|bench``.

Exit status: 0 success (also a run stopped by --steps, SIGTERM/SIGUSR1 or --walltime after
writing its checkpoint), 1 runtime failure, 2 invalid input (deck, arguments, existing run
directory, no disk space, no valid checkpoint, a restart that changes physics), 3 a
numerical guard stopped the run (docs/restart.md). Deck errors are printed without a
traceback and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from pic1d.deck import Config, DeckError, load_deck
from pic1d.units import (
    DerivedParameters,
    derive,
    format_bytes,
    resolution_warnings,
    stability_errors,
)

log = logging.getLogger("pic1d")

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INPUT = 2
EXIT_GUARD = 3

#: signals received before the run installed its handlers (see main)
_EARLY_SIGNALS: list[int] = []


def format_info(cfg: Config, d: DerivedParameters) -> str:
    """The derived-parameter table as text (what ``pic1d info`` prints)."""

    def opt(v: float | None, fmt: str = ".4g") -> str:
        return "-" if v is None else format(v, fmt)

    rows: list[tuple[str, str] | str] = [
        "plasma",
        ("mass ratio m_i/m_e", f"{d.mass_ratio:g}"),
        ("beta (total), beta_i, beta_e", f"{d.beta:.4g}, {d.beta_i:.4g}, {d.beta_e:.4g}"),
        ("kT_e/(m_e c^2), kT_i/(m_e c^2)", f"{d.theta:.4g}, {d.theta_i:.4g}"),
        ("B0 = Omega_ce0/omega_pe0", f"{d.B0:.5g}"),
        ("sigma_e = B0^2/(n0 m_e c^2)", f"{d.sigma_e:.4g}"),
        ("v_A0/c (n0 (m_i+m_e))", f"{d.vA_over_c:.5g}"),
        ("Omega_i0/omega_pe0", f"{d.omega_ci0:.5g}"),
        ("d_i0, rho_i0 [d_e0]", f"{d.d_i0:.4g}, {d.rho_i0:.4g}"),
        "resolution (start -> end of run)",
        ("dx [d_e0], dt [1/omega_pe0], cfl", f"{d.dx:.4g}, {d.dt:.4g}, {d.cfl:g}"),
        ("omega_pe dt", f"{d.omega_pe_dt:.4g} -> {d.omega_pe_dt_end:.4g}"),
        ("Omega_i0 dt", f"{d.Omega_i0_dt:.4g}"),
        ("cells per d_e", f"{d.cells_per_de:.4g} -> {d.cells_per_de_end:.4g}"),
        ("lambda_De [cells]", f"{d.lambda_De_cells:.4g} -> {d.lambda_De_cells_end:.4g} (CGL est.)"),
        ("cells per d_i0, per rho_i0", f"{d.d_i0_cells:.4g}, {d.rho_i0_cells:.4g}"),
        ("a_x, a_y, a_z at end", ", ".join(f"{a:.4g}" for a in d.a_end)),
        ("B/B0, n/n0 at end", f"{d.B_end_over_B0:.4g}, {d.density_end:.4g}"),
        ("max Courant number cfl/a_x", f"{d.courant_max:.4g}"),
        "box",
        ("cells", f"{d.cells}"),
        (
            "L [d_e0], [d_i0], [rho_i0]",
            f"{d.L_d_e0:.4g}, {d.L_over_d_i0:.4g}, {d.L_over_rho_i0:.4g}",
        ),
        "time",
        ("tau_c Omega_i0", opt(d.tau_c_Omega_i0)),
        ("steps per tau_c", opt(d.steps_per_tau_c, ".6g")),
        ("duration [1/Omega_i0], [tau_c]", f"{d.duration_Omega_i0:.4g}, {opt(d.duration_tau_c)}"),
        ("total steps", f"{d.steps_total}"),
        "output",
        (
            "field output every [steps], [1/Omega_i0]",
            f"{d.output_interval_steps}, {d.output_interval_Omega_i0:.4g}",
        ),
        ("outputs: history, fields, spectra", f"{d.n_history}, {d.n_fields}, {d.n_spectra}"),
        ("estimated output volume", format_bytes(d.output_bytes)),
        "resources",
        ("particles, tracers", f"{d.particles_total:,}, {d.tracers_total:,}"),
        (f"memory per rank ({d.ranks_assumed} rank(s))", format_bytes(d.memory_bytes_per_rank)),
    ]
    width = max(len(r[0]) for r in rows if isinstance(r, tuple)) + 2
    lines = [f"pic1d derived parameters: {cfg.run.name} ({cfg.source_path})"]
    for r in rows:
        if isinstance(r, str):
            lines.append(f"-- {r}")
        else:
            lines.append(f"   {r[0]:<{width}}{r[1]}")
    lines.append(f"   species: {', '.join(s.name for s in cfg.species)}")
    return "\n".join(lines)


def _load(path: str) -> tuple[Config, DerivedParameters]:
    cfg = load_deck(path)
    d = derive(cfg)
    errors = stability_errors(d)
    if errors:
        raise DeckError(errors, cfg.source_path)
    return cfg, d


def cmd_info(args: argparse.Namespace) -> int:
    """``pic1d info DECK [--json] [--ranks N]``."""
    cfg, d = _load(args.deck)
    d = derive(cfg, ranks=args.ranks)
    warnings = resolution_warnings(d)
    if args.json:
        out = d.as_dict()
        out["name"] = cfg.run.name
        out["warnings"] = warnings
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(format_info(cfg, d))
        for w in warnings:
            print(f"warning: {w}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``pic1d run DECK [--output DIR] [--overwrite] [--steps N] [--restart latest|PATH]
    [--walltime HH:MM:SS]``."""
    cfg, d = _load(args.deck)
    for w in resolution_warnings(d):
        log.warning(w)
    from pic1d.simulation import run_from_config  # heavy imports (numba) only here

    return run_from_config(cfg, args)


def cmd_restart(args: argparse.Namespace) -> int:
    """``pic1d restart RUN [--steps N] [--walltime HH:MM:SS] [--checkpoint PATH]``: continue
    a run from its newest valid checkpoint with the deck stored in ``RUN/deck.toml``."""
    from pathlib import Path

    run = Path(args.run)
    deck = run / "deck.toml"
    if not deck.is_file():
        if _mpi_rank_size()[0] == 0:
            print(f"error: {run} is not a pic1d run directory (no deck.toml)", file=sys.stderr)
        return EXIT_INPUT
    cfg, d = _load(str(deck))
    args.output = str(run)
    args.overwrite = False
    args.restart = args.checkpoint or "latest"
    from pic1d.simulation import run_from_config

    return run_from_config(cfg, args)


def _walltime(text: str) -> float:
    from pic1d.guards import parse_walltime

    try:
        return parse_walltime(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_control_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``restart``."""
    p.add_argument("--walltime", type=_walltime, metavar="[D-]HH:MM:SS",
                   help="checkpoint and exit 0 before this wall-clock time from the start "
                   "(leaves a margin for one step and the checkpoint)")
    p.add_argument("--no-disk-check", action="store_true",
                   help="skip the free-space check against the planned output volume")
    p.add_argument("--domains", type=int, help="MPI domains (overrides [parallel] domains)")
    p.add_argument("--replicas", type=int, help="MPI replicas per domain (overrides [parallel])")


def cmd_bench(args: argparse.Namespace) -> int:
    """``pic1d bench [--json [FILE]] [--ppc N] [--scaling | --memory]``."""
    from pic1d.bench import cmd_bench as run

    if args.json == "-":
        args.json = None
    return run(args)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``pic1d sweep SWEEP.toml [--output DIR] [--local] [--dry-run] [--force]``."""
    from pic1d.sweep import main as run  # lazy: only this command needs it

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (documented in docs/cli.md)."""
    p = argparse.ArgumentParser(prog="pic1d", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    pi = sub.add_parser("info", help="validate a deck and print its derived parameters")
    pi.add_argument("deck")
    pi.add_argument("--json", action="store_true", help="print one JSON object")
    pi.add_argument("--ranks", type=int, default=1, help="ranks for the memory estimate")
    pi.set_defaults(func=cmd_info)

    pr = sub.add_parser("run", help="run a deck")
    pr.add_argument("deck")
    pr.add_argument("--output", help="run directory (default: the deck's [run] output)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing run's outputs")
    pr.add_argument("--steps", type=int, help="stop at global step N (overrides duration) "
                    "and write a checkpoint there")
    pr.add_argument("--restart", metavar="latest|PATH",
                    help="continue from the newest valid checkpoint of the run directory "
                    "(latest) or from the checkpoint directory PATH; the deck may change "
                    "outputs, checkpoints, parallel layout and duration, not physics")
    _run_control_options(pr)
    pr.set_defaults(func=cmd_run)

    prs = sub.add_parser("restart", help="continue a run from its newest valid checkpoint")
    prs.add_argument("run", help="run directory")
    prs.add_argument("--steps", type=int, help="stop at global step N (default: the deck's "
                     "duration)")
    prs.add_argument("--checkpoint", metavar="PATH",
                     help="restart from this checkpoint directory instead of the newest")
    _run_control_options(prs)
    prs.set_defaults(func=cmd_restart)

    pb = sub.add_parser("bench", help="throughput benchmark (ns per particle per step)")
    pb.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="write the JSON result to FILE (default: print it)")
    pb.add_argument("--deck", help="benchmark deck (default: decks/bench/thermal.toml)")
    pb.add_argument("--steps", type=int, default=1000, help="timed steps")
    pb.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    pb.add_argument("--scaling", action="store_true",
                    help="1 rank vs 2 ranks (domains, replicas) parallel efficiency")
    pb.add_argument("--ppc", type=int, help="particles per cell per species (default: the "
                    "deck's 128); e.g. 16384, the reference run's density (no tracer case)")
    pb.add_argument("--memory", action="store_true",
                    help="bytes per particle from the peak RSS of a float64 run (use a fresh "
                    "process; with --ppc for the size)")
    pb.set_defaults(func=cmd_bench)

    ps = sub.add_parser("sweep", help="expand a parameter sweep into decks, an index and a "
                        "Slurm job-array script (docs/sweeps.md)")
    ps.add_argument("sweep", help="sweep file (TOML)")
    ps.add_argument("--output", help="sweep directory (default: the sweep file's output, "
                    "else runs/sweeps/<name>)")
    ps.add_argument("--local", action="store_true",
                    help="then run the points here, one after another")
    ps.add_argument("--dry-run", action="store_true",
                    help="validate and print what would be created; write nothing")
    ps.add_argument("--force", action="store_true",
                    help="replace the decks of a different sweep in the output directory")
    ps.set_defaults(func=cmd_sweep)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pic1d`` console script."""
    import time

    t_launch = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    early = _catch_early_signals() if {"run", "restart"} & set(argv) else {}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.t_launch = t_launch
        args.early_signals = _EARLY_SIGNALS
        return _dispatch(args)
    finally:
        _restore_signals(early)


def _dispatch(args: argparse.Namespace) -> int:
    rank, size = _mpi_rank_size()
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(
        level=level if rank == 0 else logging.ERROR,  # rank 0 logs; others only errors
        format="%(message)s" if size == 1 else f"[{rank}] %(message)s",
        stream=sys.stdout,
    )
    try:
        return args.func(args)
    except DeckError as exc:
        if rank == 0:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:
        if size > 1:  # never leave the other ranks hanging in a collective call
            import time
            import traceback

            # the one-line summary first: the launcher may cut the rest when it aborts
            print(f"error on rank {rank}: {type(exc).__name__}: {exc}", file=sys.stderr,
                  flush=True)  # fmt: skip
            traceback.print_exc()
            sys.stderr.flush()
            sys.stdout.flush()
            time.sleep(0.5)  # let the launcher forward the output before the abort
            from mpi4py import MPI

            MPI.COMM_WORLD.Abort(EXIT_RUNTIME)
        raise


def _catch_early_signals() -> dict:
    """Record SIGTERM/SIGUSR1 arriving during start-up (imports, deck, argument parsing),
    before the run installs its own handlers (which then act on them): their default
    action would kill the process without a checkpoint. Returns the previous handlers."""
    import signal

    _EARLY_SIGNALS.clear()

    def handler(signum, frame):  # noqa: ARG001
        _EARLY_SIGNALS.append(signum)

    previous = {}
    for name in ("SIGTERM", "SIGUSR1"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # pragma: no cover - not the main thread
                pass
    return previous


def _restore_signals(previous: dict) -> None:
    import signal

    for sig, old in previous.items():
        try:
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        except (ValueError, TypeError):  # pragma: no cover
            pass


def _mpi_rank_size() -> tuple[int, int]:
    """(rank, size) of MPI_COMM_WORLD, (0, 1) without MPI. Imports mpi4py only when the
    process was started by an MPI launcher (so plain runs never initialise MPI)."""
    import os

    launched = any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                                              "PMIX_RANK", "SLURM_PROCID", "MPI_LOCALNRANKS"))
    if not launched:
        return 0, 1
    try:
        from mpi4py import MPI
    except ImportError:
        return 0, 1
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
