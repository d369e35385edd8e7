"""Temperature anisotropy vs parallel beta, CGL tracks and marginal stability (PHYSICS.md 4.7).

For every thermal species s of a run the history gives Delta_s = T_perp,s/T_par,s - 1 and
beta_par,s; this module plots Delta_s against beta_par,s over time together with

* the **CGL (double-adiabatic) track** from the species' initial state. The invariants
  (Chew, Goldberger & Low 1956) are

      C_perp = p_perp / (n B) = T_perp / B,      C_par = p_par B^2 / n^3 = T_par B^2 / n^2,

  so T_perp(t) = T_perp(0) B/B(0), T_par(t) = T_par(0) (n/n(0))^2 (B(0)/B)^2 and
  beta_par(t) = beta_par(0) (n/n(0))^3 (B(0)/B)^4, with n = ``n_<sp>`` and B = ``B_x`` of
  the history (the mean field: in the co-moving box with a_x = 1, B_x = B0/(a_y a_z)).
  Non-relativistic; relativistic electrons depart from it (reference study, Sec. 3).
* the **marginal-stability fit** Delta = S beta_par^(-alpha): ordinary least squares of
  ln Delta = ln S - alpha ln beta_par over a late-time interval. With no data errors, the
  1-sigma errors assume a reduced chi^2 of 1 (residual variance s^2 = RSS/(N - 2),
  covariance s^2 (X^T X)^-1), as in the reference study.

and the total, ion and electron beta vs time, beta_s = (beta_par,s + 2 beta_perp,s)/3.

Public API: :func:`cgl_invariants`, :func:`cgl_track`, :func:`fit_marginal`,
:func:`species_series`, :func:`beta_vs_time`, :func:`plot_anisotropy_beta`,
:func:`make_figures` and ``python -m postprocess.anisotropy RUN``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from numpy.typing import ArrayLike, NDArray

from postprocess import plots

log = logging.getLogger(__name__)

__all__ = [
    "CGLTrack",
    "MarginalFit",
    "beta_vs_time",
    "cgl_invariants",
    "cgl_track",
    "fit_marginal",
    "main",
    "make_figures",
    "plot_anisotropy_beta",
    "species_series",
]


# --------------------------------------------------------------------------------------
# CGL
# --------------------------------------------------------------------------------------
def cgl_invariants(
    n: ArrayLike, B: ArrayLike, T_perp: ArrayLike, T_par: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Double-adiabatic invariants C_perp = p_perp/(n B) and C_par = p_par B^2/n^3.

    Parameters
    ----------
    n : array_like
        Density (n0).
    B : array_like
        Field magnitude (m_e c omega_pe0 / e).
    T_perp, T_par : array_like
        Temperatures (m_e c^2); p = n T.

    Returns
    -------
    C_perp, C_par : numpy.ndarray
        T_perp / B and T_par B^2 / n^2 (code units), constant under CGL evolution.
    """
    n, b, tpe, tpa = (np.asarray(a, dtype=np.float64) for a in (n, B, T_perp, T_par))
    return tpe / b, tpa * b * b / (n * n)


@dataclass
class CGLTrack:
    """CGL evolution of one species from its state at the first row.

    Attributes
    ----------
    T_perp, T_par : (n_t,) temperatures (m_e c^2).
    anisotropy : (n_t,) T_perp/T_par - 1.
    beta_par : (n_t,) parallel beta.
    """

    T_perp: NDArray[np.float64]
    T_par: NDArray[np.float64]
    anisotropy: NDArray[np.float64]
    beta_par: NDArray[np.float64]


def cgl_track(
    n: ArrayLike,
    B: ArrayLike,
    T_perp0: float,
    T_par0: float,
    beta_par0: float | None = None,
) -> CGLTrack:
    """Double-adiabatic (CGL) temperatures, anisotropy and beta_par along n(t), B(t).

    T_perp = T_perp0 B/B[0], T_par = T_par0 (n/n[0])^2 (B[0]/B)^2 (constant p_perp/(n B) and
    p_par B^2/n^3).

    Parameters
    ----------
    n : array_like, shape (n_t,)
        Density (n0); n[0] is the initial state.
    B : array_like, shape (n_t,)
        Mean field magnitude (code units), e.g. ``B_x`` of the history.
    T_perp0, T_par0 : float
        Initial temperatures (m_e c^2).
    beta_par0 : float, optional
        Initial beta_par; if given, beta_par = beta_par0 (n/n0)(T_par/T_par0)(B0/B)^2
        (inherits whatever field definition the data used), else 2 n T_par / B^2.

    Returns
    -------
    CGLTrack
    """
    nn = np.asarray(n, dtype=np.float64)
    bb = np.asarray(B, dtype=np.float64)
    rn, rb = nn / nn[0], bb / bb[0]
    tpe = T_perp0 * rb
    tpa = T_par0 * rn * rn / (rb * rb)
    if beta_par0 is None:
        beta = 2.0 * nn * tpa / (bb * bb)
    else:
        beta = beta_par0 * rn**3 / rb**4
    return CGLTrack(T_perp=tpe, T_par=tpa, anisotropy=tpe / tpa - 1.0, beta_par=beta)


# --------------------------------------------------------------------------------------
# Marginal-stability fit
# --------------------------------------------------------------------------------------
@dataclass
class MarginalFit:
    """Least-squares fit Delta = S beta_par^(-alpha) in log space.

    Attributes
    ----------
    S, alpha : float
        Best fit.
    S_err, alpha_err : float
        1-sigma errors (reduced chi^2 = 1); S_err = S ln_S_err (first order).
    ln_S_err : float
        1-sigma error of ln S (S is log-normally distributed: use this for intervals).
    cov : (2, 2) covariance of (ln S, alpha).
    n_points : int
    residual_std : float
        Standard deviation of ln Delta about the fit (sqrt(RSS/(N-2))).
    """

    S: float
    alpha: float
    S_err: float
    alpha_err: float
    ln_S_err: float
    cov: NDArray[np.float64]
    n_points: int
    residual_std: float

    def __call__(self, beta_par: ArrayLike) -> NDArray[np.float64]:
        """Delta = S beta_par^(-alpha)."""
        return self.S * np.asarray(beta_par, dtype=np.float64) ** (-self.alpha)


#: a power law in beta_par is only fitted when beta_par spans at least this factor
MIN_FIT_BETA_SPAN = 1.5


def fit_marginal(beta_par: ArrayLike, delta: ArrayLike) -> MarginalFit:
    """Fit Delta = S beta_par^(-alpha) by linear least squares of ln Delta on ln beta_par.

    Points with non-positive or non-finite Delta or beta_par are dropped (logged).

    Parameters
    ----------
    beta_par : array_like
        Parallel beta (dimensionless).
    delta : array_like
        Anisotropy T_perp/T_par - 1 (dimensionless).

    Returns
    -------
    MarginalFit

    Raises
    ------
    ValueError
        If fewer than three usable points remain.
    """
    b = np.asarray(beta_par, dtype=np.float64).ravel()
    d = np.asarray(delta, dtype=np.float64).ravel()
    good = np.isfinite(b) & np.isfinite(d) & (b > 0) & (d > 0)
    if np.count_nonzero(~good):
        log.info("fit_marginal: dropped %d points with Delta <= 0 or beta <= 0",
                 np.count_nonzero(~good))
    x, y = np.log(b[good]), np.log(d[good])
    n = x.size
    if n < 3:
        raise ValueError(f"need at least 3 points with Delta > 0 to fit, got {n}")
    design = np.column_stack([np.ones(n), -x])  # y = ln S - alpha x
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    s2 = float(resid @ resid) / (n - 2)
    cov = s2 * np.linalg.inv(design.T @ design)
    ln_s_err = math.sqrt(cov[0, 0])
    s = math.exp(coef[0])
    return MarginalFit(S=s, alpha=float(coef[1]), S_err=s * ln_s_err,
                       alpha_err=math.sqrt(cov[1, 1]), ln_S_err=ln_s_err, cov=cov,
                       n_points=n, residual_std=math.sqrt(s2))


# --------------------------------------------------------------------------------------
# History access
# --------------------------------------------------------------------------------------
def _species(attrs: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(name, charge) of the thermal (non-tracer) species."""
    names = [str(v) for v in np.atleast_1d(attrs["species_names"])]
    charge = np.asarray(attrs.get("species_charge", np.zeros(len(names))), float).reshape(-1)
    tracer = np.asarray(attrs.get("species_tracer", np.zeros(len(names), bool)),
                        bool).reshape(-1)
    return [(names[i], float(charge[i])) for i in range(len(names)) if not tracer[i]]


def species_series(history: Mapping[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """Moments of one species from a history mapping.

    Parameters
    ----------
    history : mapping
        ``postprocess.io.History`` or a dict of arrays with the history.h5 names.
    name : str
        Species name.

    Returns
    -------
    dict
        ``n`` (n0), ``T_perp``, ``T_par`` (m_e c^2), ``anisotropy`` (T_perp/T_par - 1;
        computed from the temperatures if the history lacks it), ``beta_par``,
        ``beta_perp`` (2 n T / B_x^2 if absent), ``beta`` ((beta_par + 2 beta_perp)/3).
    """
    n = np.asarray(history[f"n_{name}"], dtype=np.float64)
    tpe = np.asarray(history[f"T_perp_{name}"], dtype=np.float64)
    tpa = np.asarray(history[f"T_par_{name}"], dtype=np.float64)
    keys = set(history.keys())
    aniso = (np.asarray(history[f"anisotropy_{name}"], dtype=np.float64)
             if f"anisotropy_{name}" in keys else tpe / tpa - 1.0)
    bx2 = np.asarray(history["B_x"], dtype=np.float64) ** 2 if "B_x" in keys else None
    out = {"n": n, "T_perp": tpe, "T_par": tpa, "anisotropy": aniso}
    for comp, temp in (("par", tpa), ("perp", tpe)):
        key = f"beta_{comp}_{name}"
        if key in keys:
            out[f"beta_{comp}"] = np.asarray(history[key], dtype=np.float64)
        elif bx2 is not None:
            out[f"beta_{comp}"] = 2.0 * n * temp / bx2
        else:
            raise KeyError(f"history has neither {key} nor B_x")
    out["beta"] = (out["beta_par"] + 2.0 * out["beta_perp"]) / 3.0
    return out


def beta_vs_time(
    history: Mapping[str, np.ndarray], species: Sequence[tuple[str, float]]
) -> dict[str, np.ndarray]:
    """Total, ion and electron beta vs time.

    Parameters
    ----------
    history : mapping
        History arrays.
    species : sequence of (name, charge)
        Thermal species; charge > 0 counts as ions, < 0 as electrons.

    Returns
    -------
    dict
        ``beta_<name>`` per species, ``beta_i``, ``beta_e`` and ``beta_total``, each
        (beta_par + 2 beta_perp)/3 summed over the species concerned.
    """
    n_t = np.asarray(history["time"]).size
    out: dict[str, np.ndarray] = {"beta_i": np.zeros(n_t), "beta_e": np.zeros(n_t)}
    for name, q in species:
        beta = species_series(history, name)["beta"]
        out[f"beta_{name}"] = beta
        out["beta_i" if q > 0 else "beta_e"] = out["beta_i" if q > 0 else "beta_e"] + beta
    out["beta_total"] = out["beta_i"] + out["beta_e"]
    return out


# --------------------------------------------------------------------------------------
# Plotting
# --------------------------------------------------------------------------------------
def plot_anisotropy_beta(
    ax: Axes,
    beta_par: ArrayLike,
    delta: ArrayLike,
    t: ArrayLike,
    *,
    cgl: CGLTrack | None = None,
    fit: MarginalFit | None = None,
    fit_beta: ArrayLike | None = None,
    norm: Any = None,
    cmap: str = "viridis",
) -> Any:
    """Delta vs beta_par on log axes, points coloured by time, CGL track and fit.

    Parameters
    ----------
    ax : Axes
    beta_par, delta, t : (n_t,) arrays (t in the unit of the colour bar, e.g. 1/Omega_i0)
        Points with Delta <= 0 are not shown (log axis).
    cgl : CGLTrack, optional
        Drawn as a dashed black line.
    fit : MarginalFit, optional
        Drawn dotted over ``fit_beta`` (the fitted beta_par values).
    norm : matplotlib.colors.Normalize, optional
        Colour normalisation of t.
    cmap : str
        Colour map of t.

    Returns
    -------
    matplotlib.collections.PathCollection
        The scatter (for a colour bar).
    """
    b = np.asarray(beta_par, dtype=float)
    d = np.asarray(delta, dtype=float)
    tt = np.asarray(t, dtype=float)
    show = np.isfinite(b) & np.isfinite(d) & (b > 0) & (d > 0)
    sc = ax.scatter(b[show], d[show], c=tt[show], s=6, cmap=cmap, norm=norm,
                    edgecolors="none", zorder=2)
    if cgl is not None:
        ok = (cgl.anisotropy > 0) & (cgl.beta_par > 0)
        ax.plot(cgl.beta_par[ok], cgl.anisotropy[ok], "k--", lw=1.0, label="CGL", zorder=3)
    if fit is not None and fit_beta is not None:
        fb = np.asarray(fit_beta, dtype=float)
        fb = fb[np.isfinite(fb) & (fb > 0)]
        if fb.size:
            bb = np.geomspace(fb.min(), fb.max(), 50)
            lab = (rf"$S\beta_\parallel^{{-\alpha}}$: $S={fit.S:.3g}\pm{fit.S_err:.2g}$, "
                   rf"$\alpha={fit.alpha:.3g}\pm{fit.alpha_err:.2g}$")
            ax.plot(bb, fit(bb), ":", color="C3", lw=1.6, label=lab, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\beta_\parallel$")
    ax.set_ylabel(r"$T_\perp/T_\parallel-1$")
    return sc


def _time_in_omega_i(history: Mapping[str, np.ndarray], omega_ci0: float) -> np.ndarray:
    return np.asarray(history["time"], dtype=np.float64) * omega_ci0


def make_figures(
    run_path: str | os.PathLike[str],
    *,
    fit_from: float | None = None,
    fit_to: float | None = None,
    out: str | os.PathLike[str] | None = None,
    pdf: bool = False,
) -> dict[str, Any]:
    """Write the anisotropy figures of a run and return the data behind them.

    Figures (in ``out``, default ``RUN/figures``): ``anisotropy_beta`` (Delta vs beta_par
    per species with CGL track and marginal-stability fit) and ``beta_time`` (Delta and
    CGL vs time; beta_total, beta_i, beta_e vs time).

    Parameters
    ----------
    run_path : path-like
        Run directory (``history.h5``, ``run.json``).
    fit_from, fit_to : float, optional
        Fit interval in 1/Omega_i0 (default: the second half of the run).
    out : path-like, optional
        Output directory.
    pdf : bool
        Also write PDF.

    Returns
    -------
    dict
        ``t`` (1/Omega_i0), ``species`` (list of (name, charge)), per species name a dict
        with ``data`` (:func:`species_series`), ``cgl`` (CGLTrack), ``fit``
        (MarginalFit or None) and ``fit_mask`` (rows used); ``beta``
        (:func:`beta_vs_time`); ``fit_interval`` (1/Omega_i0); ``paths``.
    """
    from postprocess.io import open_run

    run = open_run(run_path)
    hist = run.history
    if hist.n_rows < 2:
        raise ValueError(f"{run.path}/history.h5 has fewer than two complete rows")
    om = float(run.param("omega_ci0"))
    t = _time_in_omega_i(hist, om)
    lo = 0.5 * (t[0] + t[-1]) if fit_from is None else float(fit_from)
    hi = t[-1] if fit_to is None else float(fit_to)
    species = _species(hist.attrs)
    bx = np.asarray(hist["B_x"], dtype=np.float64)
    res: dict[str, Any] = {"t": t, "species": species, "fit_interval": (lo, hi)}
    for name, _q in species:
        data = species_series(hist, name)
        track = cgl_track(data["n"], bx, data["T_perp"][0], data["T_par"][0],
                          beta_par0=data["beta_par"][0])
        mask = (t >= lo) & (t <= hi)
        fit = None
        b_fit = data["beta_par"][mask]
        b_fit = b_fit[np.isfinite(b_fit) & (b_fit > 0)]
        span = float(b_fit.max() / b_fit.min()) if b_fit.size else 1.0
        if span < MIN_FIT_BETA_SPAN:
            log.warning("%s: marginal-stability fit not determined: beta_par spans only a "
                        "factor %.2f (< %.1f) in the fit interval", name, span,
                        MIN_FIT_BETA_SPAN)  # fmt: skip
        else:
            try:
                fit = fit_marginal(data["beta_par"][mask], data["anisotropy"][mask])
            except ValueError as err:
                log.warning("%s: no marginal-stability fit: %s", name, err)
        res[name] = {"data": data, "cgl": track, "fit": fit, "fit_mask": mask}
    res["beta"] = beta_vs_time(hist, species)
    out_dir = Path(out) if out is not None else run.path / "figures"
    with plots.style():
        paths = _figure_anisotropy_beta(out_dir, res, pdf)
        paths += _figure_beta_time(out_dir, res, pdf)
    res["paths"] = paths
    return res


def _figure_anisotropy_beta(out_dir: Path, res: dict[str, Any], pdf: bool) -> list[Path]:
    from matplotlib.colors import Normalize

    species = res["species"]
    n = len(species)
    fig, axes = plots.figure(1, n, width=min(plots.PAGE_WIDTH, 2.9 * n + 0.5), height=2.7,
                             squeeze=False)
    t = res["t"]
    norm = Normalize(vmin=float(t[0]), vmax=float(t[-1]))
    sc = None
    for ax, (name, _q) in zip(axes[0], species, strict=True):
        r = res[name]
        fit_beta = r["data"]["beta_par"][r["fit_mask"]]
        sc = plot_anisotropy_beta(ax, r["data"]["beta_par"], r["data"]["anisotropy"], t,
                                  cgl=r["cgl"], fit=r["fit"], fit_beta=fit_beta, norm=norm)
        ax.set_title(name)
        ax.legend(loc="lower left", fontsize=6)
    plots.label_panels(axes[0])
    if sc is not None:
        plots.add_colorbar(axes[0, -1], sc, plots.time_label())
    return plots.save_figure(fig, out_dir, "anisotropy_beta", pdf=pdf)


def _figure_beta_time(out_dir: Path, res: dict[str, Any], pdf: bool) -> list[Path]:
    fig, axes = plots.figure(2, 1, height=4.6, sharex=True)
    t = res["t"]
    lo, hi = res["fit_interval"]
    for j, (name, _q) in enumerate(res["species"]):
        r = res[name]
        col = plots.SPECIES_COLORS[j % len(plots.SPECIES_COLORS)]
        axes[0].plot(t, r["data"]["anisotropy"], color=col, label=name)
        axes[0].plot(t, r["cgl"].anisotropy, color=col, ls="--", lw=0.9,
                     label=f"{name}, CGL")
    axes[0].axvspan(lo, hi, color="0.9", zorder=0, label="fit interval")
    axes[0].axhline(0.0, color="0.5", lw=0.5)
    axes[0].set_ylabel(r"$T_\perp/T_\parallel-1$")
    axes[0].legend(loc="best", fontsize=6, ncol=2)
    beta = res["beta"]
    axes[1].plot(t, beta["beta_total"], color=plots.TOTAL_COLOR, label=r"$\beta$ (total)")
    axes[1].plot(t, beta["beta_i"], color=plots.LCP_COLOR, label=r"$\beta_i$")
    axes[1].plot(t, beta["beta_e"], color=plots.RCP_COLOR, label=r"$\beta_e$")
    axes[1].set_ylabel(r"$\beta_s=(\beta_{\parallel s}+2\beta_{\perp s})/3$")
    axes[1].set_xlabel(plots.time_label())
    axes[1].legend(loc="best")
    plots.label_panels(axes)
    return plots.save_figure(fig, out_dir, "beta_time", pdf=pdf)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m postprocess.anisotropy -h``)."""
    ap = argparse.ArgumentParser(
        prog="python -m postprocess.anisotropy",
        description="Anisotropy T_perp/T_par - 1 vs beta_par with CGL tracks and the "
        "marginal-stability fit S beta_par^-alpha; beta vs time.")
    ap.add_argument("run", help="run directory")
    ap.add_argument("--fit-from", type=float,
                    help="start of the fit interval in 1/Omega_i0 (default: mid-run)")
    ap.add_argument("--fit-to", type=float,
                    help="end of the fit interval in 1/Omega_i0 (default: end)")
    ap.add_argument("--out", help="output directory (default RUN/figures)")
    ap.add_argument("--pdf", action="store_true", help="also write PDF")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    res = make_figures(args.run, fit_from=args.fit_from, fit_to=args.fit_to, out=args.out,
                       pdf=args.pdf)
    lo, hi = res["fit_interval"]
    print(f"fit Delta = S beta_par^-alpha over t Omega_i0 in [{lo:.4g}, {hi:.4g}] "
          "(1-sigma errors assume reduced chi^2 = 1):")
    for name, _q in res["species"]:
        fit = res[name]["fit"]
        if fit is None:
            print(f"  {name}: no fit (beta_par spans less than a factor {MIN_FIT_BETA_SPAN} "
                  "in the fit interval, or fewer than 3 points with Delta > 0)")
        else:
            print(f"  {name}: S = {fit.S:.4g} +- {fit.S_err:.2g}, alpha = {fit.alpha:.4g} "
                  f"+- {fit.alpha_err:.2g} ({fit.n_points} points, rms ln-residual "
                  f"{fit.residual_std:.3g})")
    for p in res["paths"]:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
