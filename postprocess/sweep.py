"""Gather one scalar from every run of a sweep and plot it against the varied parameter
with a power-law fit (the reference study's Figs. 10 and 13 style).

```
python -m postprocess.sweep SWEEP_DIR --quantity wave_energy S alpha [--x KEY]
       [--late FRACTION] [--species ions] [--tracer NAME] [--finished-only]
       [--no-fit] [--out DIR] [--pdf] [-v]
```

``SWEEP_DIR`` is a directory written by ``pic1d sweep`` (its ``index.json`` lists the runs,
their varied values and derived parameters). Quantities (one number per run):

=================  ====================================================================
``wave_energy``    late-time mean of <dB_y^2 + dB_z^2>/B_x^2 (history ``dB2_over_B2``)
``wave_energy_max`` maximum of dB2_over_B2 over the run
``anisotropy``     late-time mean of T_perp/T_par - 1 of ``--species``
``beta_par``       late-time mean of beta_par of ``--species``
``S``, ``alpha``   marginal-stability fit Delta = S beta_par^(-alpha) of ``--species`` over
                   the late window (``postprocess.anisotropy.fit_marginal``)
``gain_peak``      largest in-situ compress-revert gain <E_rev - E0>/<E0> over p0 at the
                   last insitu.h5 row (tracer species ``--tracer``)
``gain_p0_peak``   p0 (m_e c) of that largest gain
``hist:NAME``      late-time mean of any history.h5 series NAME
``last:NAME``      last value of any history.h5 series NAME
=================  ====================================================================

The late window is the last ``--late`` fraction of the history rows (default 0.2 for the
means, 0.5 for the S, alpha fit). ``--x`` is a varied key (its number, e.g.
``compression.tau_c`` -> 200 for "200 /Omega_i0") or a derived parameter stored in the
index (``tau_c_Omega_i0``, ``mass_ratio``, ``beta``, ``theta``, ``vA_over_c``...); default:
the first varied key. Writes ``sweep_<quantities>.csv`` and ``.png`` into ``--out``
(default ``SWEEP_DIR/figures``) and prints the table and the fits y = A x^b.

Python API: ``gather(sweep_dir, quantities, x=None, ...) -> SweepTable``,
``power_law_fit(x, y) -> PowerLawFit``, ``make_figure(table, ...)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from postprocess.io import open_run

log = logging.getLogger(__name__)

__all__ = ["QUANTITIES", "PowerLawFit", "SweepTable", "gather", "make_figure", "main",
           "power_law_fit", "quantity"]  # fmt: skip

#: built-in quantities (plus hist:NAME and last:NAME)
QUANTITIES = ("wave_energy", "wave_energy_max", "anisotropy", "beta_par", "S", "alpha",
              "gain_peak", "gain_p0_peak")  # fmt: skip
LATE_MEAN, LATE_FIT = 0.2, 0.5

LABELS = {
    "wave_energy": r"$\langle\delta B_\perp^2\rangle/B^2$ (late)",
    "wave_energy_max": r"max $\langle\delta B_\perp^2\rangle/B^2$",
    "anisotropy": r"$T_\perp/T_\parallel - 1$ (late)",
    "beta_par": r"$\beta_\parallel$ (late)",
    "S": r"$S$",
    "alpha": r"$\alpha$",
    "gain_peak": r"peak gain $\langle E_{rev}-E_0\rangle/\langle E_0\rangle$",
    "gain_p0_peak": r"$p_0$ of peak gain [$m_e c$]",
}


# ---------------------------------------------------------------------- quantities


def _late_rows(n: int, fraction: float) -> slice:
    if not 0 < fraction <= 1:
        raise ValueError(f"late fraction must be in (0, 1], got {fraction}")
    return slice(min(n - 1, int(math.floor(n * (1.0 - fraction)))), n)


def quantity(run_dir: str | Path, name: str, *, late: float | None = None,
             species: str = "ions", tracer: str | None = None) -> float:
    """One scalar of one run (see the module docstring for the names).

    Parameters
    ----------
    run_dir : path-like
        Run directory.
    name : str
        Quantity name.
    late : float, optional
        Fraction of the history rows forming the late window (default 0.2 for means,
        0.5 for the S, alpha fit).
    species : str
        Thermal species for anisotropy, beta_par, S, alpha.
    tracer : str, optional
        Tracer species for the gains (default: the only one in insitu.h5).

    Returns
    -------
    float
        NaN if the run has no usable data for it.
    """
    run = open_run(run_dir)
    if name in ("gain_peak", "gain_p0_peak"):
        from postprocess.tracers import read_insitu

        sums = read_insitu(run.path, tracer)
        if sums.step.size == 0:
            return math.nan
        g = sums.gain()[-1]
        if not np.any(np.isfinite(g)):
            return math.nan
        i = int(np.nanargmax(g))
        return float(g[i]) if name == "gain_peak" else float(sums.p0_centers[i])
    hist = run.history
    n = hist.n_rows
    if n == 0:
        return math.nan
    if name in ("S", "alpha"):
        from postprocess.anisotropy import fit_marginal, species_series

        rows = _late_rows(n, late or LATE_FIT)
        s = species_series(hist, species)
        try:
            fit = fit_marginal(s["beta_par"][rows], s["anisotropy"][rows])
        except ValueError:
            return math.nan
        return float(fit.S if name == "S" else fit.alpha)
    if name.startswith("last:"):
        return float(np.asarray(hist[name[5:]])[-1])
    series = {
        "wave_energy": "dB2_over_B2",
        "wave_energy_max": "dB2_over_B2",
        "anisotropy": f"anisotropy_{species}",
        "beta_par": f"beta_par_{species}",
    }.get(name)
    if series is None and name.startswith("hist:"):
        series = name[5:]
    if series is None:
        raise ValueError(f"unknown quantity {name!r}; use one of {', '.join(QUANTITIES)}, "
                         "hist:NAME or last:NAME")  # fmt: skip
    y = np.asarray(hist[series], dtype=np.float64)
    if name == "wave_energy_max":
        return float(np.nanmax(y))
    return float(np.nanmean(y[_late_rows(n, late or LATE_MEAN)]))


# ---------------------------------------------------------------------------- fits


@dataclass
class PowerLawFit:
    """y = A x^b, least squares of ln y on ln x; 1-sigma errors with reduced chi^2 = 1."""

    A: float
    b: float
    A_err: float
    b_err: float
    n_points: int

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        return self.A * np.asarray(x, dtype=np.float64) ** self.b

    def __str__(self) -> str:
        err = "" if not math.isfinite(self.b_err) else f" +- {self.b_err:.2g}"
        return f"y = {self.A:.4g} x^({self.b:.3g}{err})  [{self.n_points} points]"


def power_law_fit(x: ArrayLike, y: ArrayLike) -> PowerLawFit | None:
    """Fit y = A x^b to the points with x > 0, y > 0 (None if fewer than two)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    good = np.isfinite(xa) & np.isfinite(ya) & (xa > 0) & (ya > 0)
    n = int(good.sum())
    if n < 2 or np.ptp(np.log(xa[good])) == 0:
        return None
    lx, ly = np.log(xa[good]), np.log(ya[good])
    design = np.column_stack([np.ones(n), lx])
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    if n > 2:
        resid = ly - design @ coef
        cov = float(resid @ resid) / (n - 2) * np.linalg.inv(design.T @ design)
        a_err = math.exp(coef[0]) * math.sqrt(cov[0, 0])
        b_err = math.sqrt(cov[1, 1])
    else:
        a_err = b_err = math.nan
    return PowerLawFit(math.exp(coef[0]), float(coef[1]), a_err, b_err, n)


# ------------------------------------------------------------------------ gathering


@dataclass
class SweepTable:
    """One row per run: the x value, run status and one column per quantity."""

    sweep: str
    x_name: str
    names: list[str]
    x: NDArray[np.float64]
    status: list[str]
    values: dict[str, NDArray[np.float64]]
    varied: dict[str, list[Any]] = field(default_factory=dict)

    def to_csv(self, path: str | Path) -> Path:
        """Write name, status, x, the varied values and the quantities."""
        path = Path(path)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "status", self.x_name, *self.varied, *self.values])
            for i, name in enumerate(self.names):
                w.writerow([name, self.status[i], f"{self.x[i]:.8g}",
                            *(self.varied[k][i] for k in self.varied),
                            *(f"{self.values[q][i]:.8g}" for q in self.values)])  # fmt: skip
        return path


def _read_index(sweep_dir: Path) -> dict[str, Any]:
    path = sweep_dir / "index.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {sweep_dir} a `pic1d sweep` directory?")
    return json.loads(path.read_text())


def _x_value(row: dict[str, Any], x: str) -> float:
    if x in row.get("numbers", {}):
        v = row["numbers"][x]
        return math.nan if v is None else float(v)
    d = row.get("derived", {})
    if x in d and d[x] is not None:
        return float(d[x])
    raise KeyError(x)


def gather(sweep_dir: str | Path, quantities: Sequence[str], x: str | None = None, *,
           late: float | None = None, species: str = "ions", tracer: str | None = None,
           finished_only: bool = False) -> SweepTable:
    """Collect ``quantities`` from every run of a sweep directory.

    Runs without a history (not started) are skipped; unfinished runs are kept (their
    status says so) unless ``finished_only``.

    Parameters
    ----------
    sweep_dir : path-like
        Directory written by ``pic1d sweep``.
    quantities : sequence of str
        Names (see :func:`quantity`).
    x : str, optional
        Varied key or derived parameter for the abscissa (default: first varied key).

    Returns
    -------
    SweepTable
    """
    sd = Path(sweep_dir)
    index = _read_index(sd)
    keys = index.get("keys", [])
    x_name = x or (keys[0] if keys else "index")
    names, xs, status = [], [], []
    values: dict[str, list[float]] = {q: [] for q in quantities}
    varied: dict[str, list[Any]] = {k: [] for k in keys}
    for row in index["runs"]:
        run_dir = sd / row["run_dir"]
        if not (run_dir / "history.h5").is_file():
            log.info("%s: no history.h5 yet, skipped", row["name"])
            continue
        try:
            st = str(json.loads((run_dir / "run.json").read_text()).get("status", "unknown"))
        except (OSError, ValueError):
            st = "unknown"
        if finished_only and st != "finished":
            continue
        try:
            xv = float(row["index"]) if x_name == "index" else _x_value(row, x_name)
        except KeyError:
            avail = sorted(set(row.get("numbers", {})) | set(row.get("derived", {})))
            raise KeyError(f"--x {x_name!r} is neither a varied key nor a derived parameter; "
                           f"available: {', '.join(avail)}") from None  # fmt: skip
        names.append(row["name"])
        xs.append(xv)
        status.append(st)
        for k in keys:
            varied[k].append(row["values"].get(k))
        for q in quantities:
            try:
                values[q].append(quantity(run_dir, q, late=late, species=species,
                                          tracer=tracer))  # fmt: skip
            except (KeyError, OSError, ValueError) as exc:
                log.warning("%s: %s unavailable (%s)", row["name"], q, exc)
                values[q].append(math.nan)
    return SweepTable(index.get("sweep", sd.name), x_name, names, np.array(xs, dtype=float),
                      status, {q: np.array(v, dtype=float) for q, v in values.items()},
                      varied)  # fmt: skip


# ---------------------------------------------------------------------------- figure


def make_figure(table: SweepTable, out_dir: str | Path, *, fit: bool = True,
                pdf: bool = False) -> tuple[list[Path], dict[str, PowerLawFit | None]]:
    """One panel per quantity vs x (log-log where all values are positive), with the
    power-law fit. Returns the written paths and the fits."""
    from postprocess import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    qs = list(table.values)
    fits: dict[str, PowerLawFit | None] = {}
    with plots.style():
        fig, axes = plots.figure(1, len(qs), width=3.0 * len(qs) + 0.4, height=2.8,
                                 squeeze=False)
        axes = list(axes[0])
        order = np.argsort(table.x)
        for ax, q in zip(axes, qs, strict=True):
            y = table.values[q]
            xs = table.x
            done = np.array([s == "finished" for s in table.status])
            ax.plot(xs[order], y[order], color="0.6", lw=0.8, zorder=1)
            ax.scatter(xs[done], y[done], color=plots.TOTAL_COLOR, s=18, zorder=3,
                       label="finished")  # fmt: skip
            if (~done).any():
                ax.scatter(xs[~done], y[~done], facecolor="none", edgecolor=plots.TOTAL_COLOR,
                           s=18, zorder=3, label="unfinished")  # fmt: skip
            good = np.isfinite(y) & np.isfinite(xs)
            if good.any() and np.all(xs[good] > 0):
                ax.set_xscale("log")
            if good.any() and np.all(y[good] > 0):
                ax.set_yscale("log")
            f = power_law_fit(xs, y) if fit else None
            fits[q] = f
            if f is not None:
                xx = np.geomspace(np.nanmin(xs[xs > 0]), np.nanmax(xs), 50)
                lab = rf"$\propto x^{{{f.b:.2f}}}$"
                if math.isfinite(f.b_err):
                    lab = rf"$\propto x^{{{f.b:.2f}\pm{f.b_err:.2f}}}$"
                ax.plot(xx, f(xx), "--", color="C3", lw=1, label=lab, zorder=2)
            ax.set_xlabel(table.x_name)
            ax.set_ylabel(LABELS.get(q, q))
            ax.legend(loc="best", fontsize=7)
        fig.suptitle(f"sweep {table.sweep}", fontsize=9)
        stem = "sweep_" + "_".join(q.replace(":", "-") for q in qs)
        paths = plots.save_figure(fig, out, stem, pdf=pdf)
    return list(paths), fits


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m postprocess.sweep SWEEP_DIR --quantity Q [Q ...] ...``."""
    p = argparse.ArgumentParser(prog="python -m postprocess.sweep",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("sweep_dir")
    p.add_argument("--quantity", "-q", nargs="+", default=["wave_energy"],
                   help=f"{', '.join(QUANTITIES)}, hist:NAME, last:NAME")
    p.add_argument("--x", help="varied key or derived parameter on the abscissa")
    p.add_argument("--late", type=float, help="late-window fraction of the history rows")
    p.add_argument("--species", default="ions", help="thermal species (anisotropy, S, alpha)")
    p.add_argument("--tracer", help="tracer species for the gains")
    p.add_argument("--finished-only", action="store_true", help="skip unfinished runs")
    p.add_argument("--no-fit", action="store_true", help="no power-law fit")
    p.add_argument("--out", help="output directory (default SWEEP_DIR/figures)")
    p.add_argument("--pdf", action="store_true", help="also write PDF")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")  # fmt: skip
    table = gather(args.sweep_dir, args.quantity, args.x, late=args.late,
                   species=args.species, tracer=args.tracer,
                   finished_only=args.finished_only)  # fmt: skip
    if not table.names:
        print(f"{args.sweep_dir}: no run has output yet")
        return 1
    out = Path(args.out) if args.out else Path(args.sweep_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    stem = "sweep_" + "_".join(q.replace(":", "-") for q in args.quantity)
    csv_path = table.to_csv(out / f"{stem}.csv")
    paths, fits = make_figure(table, out, fit=not args.no_fit, pdf=args.pdf)
    width = max(len(n) for n in table.names)
    print(f"{'run':<{width}}  {table.x_name:>14}  " + "  ".join(f"{q:>14}" for q in table.values)
          + "  status")  # fmt: skip
    for i, name in enumerate(table.names):
        print(f"{name:<{width}}  {table.x[i]:>14.6g}  "
              + "  ".join(f"{table.values[q][i]:>14.6g}" for q in table.values)
              + f"  {table.status[i]}")  # fmt: skip
    for q, f in fits.items():
        if f is not None:
            print(f"fit {q}: {f}")
    print(f"wrote {csv_path}" + "".join(f", {p_}" for p_ in paths))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
