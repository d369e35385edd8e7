#!/usr/bin/env python
"""pic1d validation campaign (``make validate``).

Runs the reduced-cost decks of ``decks/validation/`` (minutes each on 2 cores), analyses
them with the ``postprocess`` tools and writes

* ``validation/report.md``   every check: its measured number next to its expectation,
                             with the figures (``validation/figures/``);
* ``validation/results.json`` pass/fail per check, the numbers, the runs' cost.

Checks (details in validation/README.md and validation/checks.py):

1. linear anisotropy instabilities from bi-Maxwellian initial states (no compression):
   (a) ion cyclotron, (b) electron whistler: growth rate and k of the fastest growth vs
   the dispersion solver (15 %), polarisation;
2. compression-driven IC instability: CGL phase, onset at the threshold, LCP waves on
   the L branch, marginal stability S and alpha (fitted across runs with beta0 = 2,
   6.3 and 20), the whistler burst first; with ``--extended`` also the tau_c trend of
   the marginal state and the marginal law at the study's tau_c = 800 /Omega_i0 with
   its particle-noise control;
3. CRe tracers in that run: D_mumu on the IC resonance contour, a pumping-gain band at
   the resonant momentum, growing in time and moving to higher p0;
4. isotropic forcing of the electrons removes the RCP (whistler) burst, IC waves remain,
   and their onset moves as the dispersion solver predicts.

Usage::

    python validation/run.py [--only 1 2 3 4] [--no-run] [--rerun] [--extended]
                             [--threads N] [--runs-dir validation/runs] [--out validation]

A finished run whose deck is unchanged is not run again (``--rerun`` forces it); an
interrupted one (killed, or stopped by a signal or its wall time) continues from its
newest checkpoint with ``pic1d restart``, and a run whose deck changed only in what a
restart may change (a longer duration, outputs) is extended from its newest checkpoint
with ``pic1d run DECK --restart latest``.
Exit status: 0 if every check passed, 1 otherwise (the report is written either way).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from validation.checks import (  # noqa: E402
    Check,
    check_compression,
    check_forcing,
    check_growth,
    check_tracers,
)

log = logging.getLogger("validation")

DECKS = ROOT / "decks" / "validation"
RUNS = {
    "ic_anisotropy": DECKS / "ic_anisotropy.toml",
    "whistler_anisotropy": DECKS / "whistler_anisotropy.toml",
    "compression_ic": DECKS / "compression_ic.toml",
    "compression_ic_forced": DECKS / "compression_ic_forced.toml",
    "compression_ic_beta2": DECKS / "compression_ic_beta2.toml",
    "compression_ic_beta6": DECKS / "compression_ic_beta6.toml",
    "compression_ic_tau400": DECKS / "compression_ic_tau400.toml",
    "compression_ic_tau800": DECKS / "compression_ic_tau800.toml",
    "compression_ic_tau800_ppc512": DECKS / "compression_ic_tau800_ppc512.toml",
    "compression_ic_tau800_ppc1024": DECKS / "compression_ic_tau800_ppc1024.toml",
}
#: runs with other initial beta, for the marginal-stability fit across beta (check 2)
BETA_SERIES = ("compression_ic_beta2", "compression_ic_beta6")
#: runs with a slower compression, for the tau_c trend of the marginal state and the
#: marginal law at the study's tau_c = 800 /Omega_i0 (check 2; only run with --extended,
#: about 25 min and 2.8 h, but used whenever a finished run is there)
TAU_SERIES = ("compression_ic_tau400", "compression_ic_tau800")
#: the noise controls of the tau_c = 800 run: the same deck at a quarter and a half of its
#: ppc, for the extrapolation of check 2.S800 to infinite ppc and the test that the noise
#: bias is linear in 1/ppc (only run with --extended, about 35 min and 1.1 h, but used
#: whenever a finished run is there)
NOISE_CONTROL = ("compression_ic_tau800_ppc512", "compression_ic_tau800_ppc1024")
#: the optional runs of ``make validate-extended``
EXTENDED = (*TAU_SERIES, *NOISE_CONTROL)
NEEDS = {
    "1": ["ic_anisotropy", "whistler_anisotropy"],
    "2": ["compression_ic", *BETA_SERIES],
    "3": ["compression_ic"],
    "4": ["compression_ic", "compression_ic_forced"],
}
TITLES = {
    "1": "Linear anisotropy instabilities vs the dispersion solver (VALIDATION.md 8)",
    "2": "Compression-driven ion-cyclotron instability (VALIDATION.md 14)",
    "3": "CR-electron tracers in the compression run",
    "4": "Isotropic forcing of the electrons",
}


# ------------------------------------------------------------------------------ runs


def run_status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def _has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint (``pic1d restart`` picks the newest valid)."""
    ckpt = run_dir / "checkpoints"
    return ckpt.is_dir() and any(ckpt.glob("ckpt_*"))


def _can_extend(old_deck: Path, new_deck: Path, run_dir: Path) -> bool:
    """Whether the run of ``old_deck`` in ``run_dir`` can be continued with ``new_deck``:
    the decks differ only in what a restart may change (outputs, checkpoints, parallel
    layout, duration; ``pic1d.io.checkpoint.physics_differences``) and the new duration
    does not end before the run's newest checkpoint."""
    from pic1d.deck import DeckError, load_deck
    from pic1d.io.checkpoint import physics_differences

    try:
        old, new = load_deck(old_deck), load_deck(new_deck)
    except (DeckError, OSError) as exc:
        log.info("%s: not comparable with %s (%s)", old_deck, new_deck, exc)
        return False
    steps = [int(c.name[5:]) for c in (run_dir / "checkpoints").glob("ckpt_*")
             if c.name[5:].isdigit()]
    return not physics_differences(old, new) and bool(steps) and new.run.steps >= max(steps)


def ensure_run(name: str, runs_dir: Path, rerun: bool, threads: int | None,
               no_run: bool) -> dict:
    """Run ``decks/validation/<name>.toml`` into ``runs_dir/<name>`` unless a finished run
    of the same deck is there. Unless ``rerun``, a run with a checkpoint is continued
    rather than started again: an interrupted run of the same deck with ``pic1d restart``,
    and a run of a deck with the same physics (e.g. a longer ``[run] duration`` or other
    outputs) with ``pic1d run DECK --restart latest``, which extends it. A run that did
    not end with the deck's text in its directory counts as missing. Returns a summary
    (status, wall time, cost)."""
    deck = RUNS[name]
    run_dir = runs_dir / name
    info = run_status(run_dir)
    old_deck = run_dir / "deck.toml"
    same = old_deck.is_file() and old_deck.read_text() == deck.read_text()
    ran = False
    if not (info.get("status") == "finished" and same and not rerun):
        resume = same and not rerun and _has_checkpoint(run_dir)
        extend = (not same and not rerun and old_deck.is_file()
                  and _can_extend(old_deck, deck, run_dir))
        same = False
        if no_run:
            log.warning("%s: no finished run of the current deck (--no-run)", name)
        else:
            env = dict(os.environ)
            if threads:
                env["NUMBA_NUM_THREADS"] = str(threads)
            if resume:  # an interrupted run of the same deck continues from its checkpoint
                cmd = [sys.executable, "-m", "pic1d", "restart", str(run_dir)]
            elif extend:  # same physics, e.g. a longer duration: continue with the new deck
                cmd = [sys.executable, "-m", "pic1d", "run", str(deck), "--output",
                       str(run_dir), "--restart", "latest"]  # fmt: skip
            else:
                cmd = [sys.executable, "-m", "pic1d", "run", str(deck), "--output",
                       str(run_dir), "--overwrite"]  # fmt: skip
            log.info("running %s: %s", name, " ".join(cmd[1:]))
            t0 = time.perf_counter()
            res = subprocess.run(cmd, cwd=ROOT, env=env)
            log.info("%s: exit %d after %.0f s", name, res.returncode, time.perf_counter() - t0)
            ran = True
            info = run_status(run_dir)
            same = old_deck.is_file() and old_deck.read_text() == deck.read_text()
    timing = info.get("timing", {})
    derived = info.get("derived", {})
    return {
        "deck": str(deck.relative_to(ROOT)),
        "run_dir": str(run_dir),
        "status": info.get("status", "missing") if same else "missing or stale (deck changed)",
        "ran_now": ran,
        "steps": timing.get("steps"),
        "particles": timing.get("particles"),
        "wall_seconds": timing.get("wall_seconds"),
        "ns_per_particle_step": timing.get("ns_per_particle_step"),
        "cells": derived.get("cells"),
        "duration_Omega_i0": derived.get("duration_Omega_i0"),
    }


# -------------------------------------------------------------------------- analyses


def _failed(cid: str, what: str, exc: BaseException) -> Check:
    log.error("check %s failed with an error:\n%s", cid, traceback.format_exc())
    return Check(f"{cid}.error", what, f"analysis error: {type(exc).__name__}: {exc}", "-",
                 False)


def analyse(only: list[str], runs_dir: Path, fig_dir: Path, runs: dict) -> list[Check]:
    checks: list[Check] = []

    def usable(name: str) -> bool:
        return runs.get(name, {}).get("status") == "finished"

    if "1" in only:
        for cid, name, mode, sp in (("1a", "ic_anisotropy", "L", "ions"),
                                    ("1b", "whistler_anisotropy", "R", "electrons")):
            if not usable(name):
                checks.append(Check(f"{cid}.run", f"run {name}", "not finished", "finished",
                                    False))
                continue
            try:
                checks += check_growth(runs_dir / name, fig_dir, cid, mode, sp)
            except Exception as exc:  # noqa: BLE001 - report, do not stop the campaign
                checks.append(_failed(cid, f"growth analysis of {name}", exc))
    base = None
    if {"2", "3", "4"} & set(only):
        if not usable("compression_ic"):
            checks.append(Check("2.run", "run compression_ic", "not finished", "finished",
                                False))
        else:
            try:
                series = tuple(runs_dir / n for n in BETA_SERIES if usable(n))
                slower = tuple(runs_dir / n for n in TAU_SERIES if usable(n))
                noise = tuple(runs_dir / n for n in NOISE_CONTROL if usable(n))
                c2, base = check_compression(runs_dir / "compression_ic", fig_dir, "2",
                                             series, slower, noise)  # fmt: skip
                if "2" in only:
                    checks += c2
            except Exception as exc:  # noqa: BLE001
                checks.append(_failed("2", "compression analysis", exc))
    if "3" in only and base is not None:
        try:
            checks += check_tracers(runs_dir / "compression_ic", base, fig_dir, "3")
        except Exception as exc:  # noqa: BLE001
            checks.append(_failed("3", "tracer analysis", exc))
    if "4" in only and base is not None:
        if not usable("compression_ic_forced"):
            checks.append(Check("4.run", "run compression_ic_forced", "not finished",
                                "finished", False))
        else:
            try:
                checks += check_forcing(runs_dir / "compression_ic_forced", base, fig_dir, "4")
            except Exception as exc:  # noqa: BLE001
                checks.append(_failed("4", "forcing analysis", exc))
    return checks


# ---------------------------------------------------------------------------- report


def _git() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(out: Path, checks: list[Check], runs: dict, only: list[str],
                 seconds: float) -> tuple[Path, Path]:
    n_pass = sum(1 for c in checks if c.passed)
    n_fail = sum(1 for c in checks if c.passed is False)
    n_na = len(checks) - n_pass - n_fail
    created = dt.datetime.now().isoformat(timespec="seconds")
    results = {
        "created": created,
        "git": _git(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "numba_threads": os.environ.get("NUMBA_NUM_THREADS")},
        "checks_requested": only,
        "summary": {"passed": n_pass, "failed": n_fail, "not_determined": n_na,
                    "total": len(checks), "all_passed": n_fail == 0 and n_pass > 0},
        "campaign_seconds": seconds,
        "runs": runs,
        "checks": [c.as_dict() for c in checks],
    }
    res_path = out / "results.json"
    res_path.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    lines = [
        "# pic1d validation report",
        "",
        f"Written by `make validate` (`validation/run.py`) on {created}, git {results['git']}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs. Checks: {', '.join(only)}. "
        f"Campaign wall time {seconds / 60:.1f} min.",
        "",
        f"**{n_pass} passed, {n_fail} failed, {n_na} not determined** (of {len(checks)}). "
        "Machine-readable: "
        "`validation/results.json`. What each check measures and why: `validation/README.md`.",
        "",
        "| check | what | measured | expected | result |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        verdict = "pass" if c.passed else ("FAIL" if c.passed is False else "n/a")
        lines.append(f"| {c.id} | {_cell(c.name)} | {_cell(c.measured)} | "
                     f"{_cell(c.expected)} | {verdict} |")
    lines += ["", "## Runs", "",
              "| run | deck | cells | particles | steps | wall time | ns/particle/step |",
              "|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        wall = r.get("wall_seconds")
        ns = r.get("ns_per_particle_step")
        lines.append(
            f"| {name} ({r['status']}) | `{r['deck']}` | {r.get('cells') or '-'} | "
            f"{r.get('particles') or '-'} | {r.get('steps') or '-'} | "
            f"{'-' if wall is None else f'{wall / 60:.1f} min'} | "
            f"{'-' if ns is None else f'{ns:.1f}'} |")
    for sec in ("1", "2", "3", "4"):
        if sec not in only:
            continue
        figs: list[str] = []
        for c in checks:
            if c.id.split(".")[0].rstrip("ab") == sec:
                figs += [f for f in c.figures if f not in figs]
        lines += ["", f"## {sec}. {TITLES[sec]}", ""]
        for c in checks:
            if c.id.split(".")[0].rstrip("ab") == sec:
                verdict = ("pass" if c.passed else "**FAIL**" if c.passed is False
                           else "not determined")
                lines.append(f"* `{c.id}` {c.name}: {c.measured}. Expected: {c.expected}. "
                             f"{verdict}")
        for f in figs:
            lines += ["", f"![{f}](figures/{f})"]
    rep_path = out / "report.md"
    rep_path.write_text("\n".join(lines) + "\n")
    return rep_path, res_path


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj)


# ------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=sorted(NEEDS), default=sorted(NEEDS),
                   help="checks to run (default: all)")
    p.add_argument("--runs-dir", default=str(ROOT / "validation" / "runs"))
    p.add_argument("--out", default=str(ROOT / "validation"),
                   help="where report.md, results.json and figures/ go")
    p.add_argument("--rerun", action="store_true", help="run even if a finished run exists")
    p.add_argument("--no-run", action="store_true", help="only analyse existing runs")
    p.add_argument("--threads", type=int, help="NUMBA_NUM_THREADS of the runs")
    p.add_argument("--extended", action="store_true",
                   help="also run the optional runs of check 2: tau_c = 400 and 800 /Omega_i0 "
                   "and the 512- and 1024-ppc noise controls of the tau_c = 800 run (about 5 h)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="validation: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    out, runs_dir = Path(args.out), Path(args.runs_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    needed = sorted({r for c in args.only for r in NEEDS[c]}, key=list(RUNS).index)
    runs = {name: ensure_run(name, runs_dir, args.rerun, args.threads, args.no_run)
            for name in needed}
    if "2" in args.only:  # the optional runs: run with --extended, else used if finished
        for name in EXTENDED:
            if args.extended or (runs_dir / name / "run.json").is_file():
                runs[name] = ensure_run(name, runs_dir, args.rerun and args.extended,
                                        args.threads, args.no_run or not args.extended)
    checks = analyse(args.only, runs_dir, fig_dir, runs)
    rep, res = write_report(out, checks, runs, args.only, time.perf_counter() - t0)
    width = max((len(c.id) for c in checks), default=4)
    verdict = {True: "PASS", False: "FAIL", None: "n/a "}
    for c in checks:
        print(f"{verdict[c.passed]}  {c.id:<{width}}  {c.measured}")
    n_fail = sum(1 for c in checks if c.passed is False)
    n_pass = sum(1 for c in checks if c.passed)
    print(f"{n_pass} passed, {n_fail} failed, {len(checks) - n_pass - n_fail} not determined; "
          f"report {rep}, results {res}")
    return 0 if n_pass and n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
