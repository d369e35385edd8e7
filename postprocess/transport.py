"""Cosmic-ray transport tools (issue 13; PHYSICS.md 4.8, VALIDATION.md item 23).

Public API, re-exported from three helper modules:

* :mod:`postprocess.transport_diffusion`: running diffusion coefficient
  kappa(t) = <dx^2>/(2t) per momentum bin, the correlated-random-walk factor of the
  micromirror study's Eq. 20, bootstrap error bars, the asymptotic value with a plateau
  criterion, and the tracer-dump reader :func:`running_diffusion_from_run`;
* :mod:`postprocess.transport_particles`: numba test-particle integrators (relativistic
  Boris push in frozen grid fields or plane-wave synthetic turbulence, stochastic
  small-angle scattering, the 1D two-phase medium);
* :mod:`postprocess.transport_theory`: Eqs. 3-11 of the study, quasi-linear slab
  estimate, gyroradius/energy conversions in cgs/astrophysical units.

Figure script (code units of the data, c = 1)::

    python -m postprocess.transport RUN [RUN|result.npz ...] --l-mm 5 --db-over-b 0.3 \\
        --l-c 200 --delta 0.333 -o kappa.png

plots kappa_infinity (with bootstrap errors) against the gyroradius r_g = |u| / (|q/m| B0)
of each momentum bin (top axis: kinetic energy in m c^2), with kappa_mm (Eq. 4), kappa_res
(Eq. 7), kappa_eff (Eq. 11, if ``--f-mm``) and the transition gyroradius (Eq. 8). Inputs
are pic1d run directories (tracer dumps) or ``.npz`` files written by :func:`save_kappa`
(arrays ``r_g``, ``kappa``, ``kappa_err``, optional ``u_per_rg``).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from postprocess.transport_diffusion import (
    Plateau,
    RunningDiffusion,
    TracerSnapshots,
    asymptotic_kappa,
    bootstrap_means,
    box_length_from_run,
    read_tracer_snapshots,
    running_diffusion,
    running_diffusion_from_run,
    unwrap_periodic,
)
from postprocess.transport_particles import (
    GridField,
    Scattering,
    Trajectories,
    Trajectories1D,
    WaveField,
    integrate_particles,
    integrate_scattering_1d,
    isotropic_directions,
    synthetic_turbulence,
)
from postprocess.transport_theory import (
    C_CGS,
    KPC_CM,
    M_ELECTRON_GEV,
    M_PROTON_GEV,
    NPC_CM,
    PC_CM,
    Length,
    crw_factor,
    energy_from_gyroradius,
    gyroradius,
    kappa_eff,
    kappa_he,
    kappa_isotropic,
    kappa_mm,
    kappa_mm_cgs,
    kappa_perp_mm,
    kappa_perp_mm_cgs,
    kappa_qlt_slab,
    kappa_res,
    kappa_res_cgs,
    nu_eff,
    nu_from_kappa,
    nu_mm,
    transition_energy_gev,
    transition_gyroradius,
)

__all__ = [
    "C_CGS",
    "KPC_CM",
    "M_ELECTRON_GEV",
    "M_PROTON_GEV",
    "NPC_CM",
    "PC_CM",
    "GridField",
    "KappaSet",
    "Length",
    "Plateau",
    "RunningDiffusion",
    "Scattering",
    "TracerSnapshots",
    "Trajectories",
    "Trajectories1D",
    "WaveField",
    "asymptotic_kappa",
    "bootstrap_means",
    "box_length_from_run",
    "crw_factor",
    "energy_from_gyroradius",
    "gyroradius",
    "integrate_particles",
    "integrate_scattering_1d",
    "isotropic_directions",
    "kappa_eff",
    "kappa_he",
    "kappa_isotropic",
    "kappa_mm",
    "kappa_mm_cgs",
    "kappa_perp_mm",
    "kappa_perp_mm_cgs",
    "kappa_qlt_slab",
    "kappa_res",
    "kappa_res_cgs",
    "kappa_set_from_run",
    "load_kappa",
    "main",
    "nu_eff",
    "nu_from_kappa",
    "nu_mm",
    "plot_kappa",
    "read_tracer_snapshots",
    "running_diffusion",
    "running_diffusion_from_run",
    "save_kappa",
    "synthetic_turbulence",
    "transition_energy_gev",
    "transition_gyroradius",
    "unwrap_periodic",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------- result sets


@dataclass
class KappaSet:
    """Asymptotic kappa per momentum bin of one run, ready to plot.

    Attributes
    ----------
    r_g, kappa, kappa_err : numpy.ndarray
        Gyroradius of each bin, kappa_infinity and its error (units of the source).
    label : str
        Legend label.
    u_per_rg : float, optional
        |q/m| B0: momentum u = gamma v / c per unit gyroradius (enables the energy axis).
    """

    r_g: np.ndarray
    kappa: np.ndarray
    kappa_err: np.ndarray
    label: str
    u_per_rg: float | None = None


def save_kappa(path: str | Path, result: RunningDiffusion, r_g: np.ndarray,
               label: str = "", u_per_rg: float | None = None) -> None:
    """Write the per-bin asymptotic kappa of ``result`` with gyroradii ``r_g`` to ``.npz``."""
    extra = {} if u_per_rg is None else {"u_per_rg": float(u_per_rg)}
    np.savez(path, r_g=np.asarray(r_g, dtype=float), kappa=result.kappa_inf,
             kappa_err=result.kappa_inf_err, label=np.array(label), **extra)


def load_kappa(path: str | Path) -> KappaSet:
    """Read a ``.npz`` file written by :func:`save_kappa`."""
    with np.load(path) as d:
        label = str(d["label"]) if "label" in d and str(d["label"]) else Path(path).stem
        scale = float(d["u_per_rg"]) if "u_per_rg" in d else None
        return KappaSet(np.asarray(d["r_g"], dtype=float), np.asarray(d["kappa"], dtype=float),
                        np.asarray(d["kappa_err"], dtype=float), label, scale)


def _run_attrs(run: Path) -> dict:
    """Root attributes of ``history.h5`` (B0, species charges/masses) if readable."""
    path = run / "history.h5"
    if not path.is_file():
        return {}
    try:
        with h5py.File(path, "r") as f:
            return {k: f.attrs[k] for k in f.attrs}
    except OSError:
        return {}


def _run_json_b0(run: Path) -> float | None:
    """B0 from ``run.json`` (top-level key), if present."""
    try:
        value = json.loads((run / "run.json").read_text()).get("B0")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _species_qm(attrs: dict, species: str | None) -> float | None:
    """|q/m| of ``species`` (e/m_e) from history attributes, if present."""
    try:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in attrs["species_names"]]
        tracer = list(attrs.get("species_tracer", [False] * len(names)))
        i = names.index(species) if species else (tracer.index(True) if True in tracer else 0)
        return abs(float(attrs["species_charge"][i]) / float(attrs["species_mass"][i]))
    except (KeyError, ValueError, IndexError, TypeError):
        return None


def kappa_set_from_run(run_dir: str | Path, *, species: str | None = None, n_bins: int = 8,
                       b0: float | None = None, charge_over_mass: float | None = None,
                       box_length: float | None = None, crw: str | None = None,
                       n_boot: int = 200) -> KappaSet:
    """Asymptotic kappa in log-spaced |u| bins of a pic1d run's tracer dumps.

    B0 comes from the ``history.h5`` attributes and |q/m| from the tracer files' ``charge``
    and ``mass`` records (else ``history.h5``) unless given. Gyroradii are
    r_g = |u| / (|q/m| B0) in d_e0; kappa in d_e0^2 omega_pe0 = c d_e0.
    """
    run = Path(run_dir)
    attrs = _run_attrs(run)
    snaps = read_tracer_snapshots(run / "tracers", species)
    if b0 is None:
        b0 = float(attrs["B0"]) if "B0" in attrs else _run_json_b0(run)
    qm = abs(charge_over_mass) if charge_over_mass is not None else None
    if qm is None and snaps.charge is not None and snaps.mass:
        qm = abs(snaps.charge / snaps.mass)
    if qm is None:
        qm = _species_qm(attrs, species)
    if b0 is None or qm is None:
        raise ValueError(f"{run}: B0 and charge/mass unknown; pass --b0 and --qm")
    p = np.linalg.norm(snaps.u[0], axis=-1)
    edges = np.geomspace(max(p.min(), 1e-12), p.max() * (1 + 1e-12), n_bins + 1)
    if box_length is None:
        box_length = box_length_from_run(run)
        if box_length is None:
            log.warning("%s: box length unknown, tracer positions are not unwrapped", run)
    res = running_diffusion(snaps.x, snaps.t, box_length=box_length,
                            u=snaps.u, momenta=p, p_edges=edges, crw=crw, n_boot=n_boot)
    pc = res.p_centers
    return KappaSet(pc / (qm * b0), res.kappa_inf, res.kappa_inf_err, run.name, qm * b0)


# ------------------------------------------------------------------------ figure


def plot_kappa(sets: Sequence[KappaSet], path: str | Path, *, l_mm: float | None = None,
               db_over_b: float = 1.0 / 3.0, l_c: float | None = None, delta: float = 1 / 3,
               f_mm: float | None = None, v: float = 1.0, r_range: tuple | None = None,
               title: str = "") -> Path:
    """kappa versus gyroradius for several runs with the study's theory lines.

    Parameters
    ----------
    sets : sequence of KappaSet
        Measured values (any consistent length/time units, speed ``v``).
    path : str or Path
        Output image (format from the suffix).
    l_mm, db_over_b : float
        Micromirror scale and amplitude for kappa_mm (Eq. 4); omitted if ``l_mm`` is None.
    l_c, delta : float
        Correlation length and exponent for kappa_res (Eq. 7); omitted if ``l_c`` is None.
    f_mm : float, optional
        Micromirror fraction for kappa_eff (Eq. 11), needs both lines.
    v : float
        Particle speed in the data units (c = 1 in code units).
    r_range : tuple, optional
        Gyroradius range of the theory lines (default: data range widened by 3).
    title : str
        Figure title.

    Returns
    -------
    Path
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    all_r = np.concatenate([s.r_g[np.isfinite(s.kappa)] for s in sets]) if sets else np.array([])
    if r_range is None:
        r_range = ((all_r.min() / 3, all_r.max() * 3) if all_r.size
                   else (0.1 * (l_mm or 1.0), 10 * (l_c or 10.0)))
    for s in sets:
        ok = np.isfinite(s.kappa)
        ax.errorbar(s.r_g[ok], s.kappa[ok], yerr=s.kappa_err[ok], fmt="o", ms=4, capsize=2,
                    label=s.label)
    r = np.geomspace(*r_range, 200)
    k_mm = k_res = None
    if l_mm is not None:
        k_mm = kappa_mm(r, l_mm, db_over_b, v)
        ax.plot(r, k_mm, "k--", lw=1, label=r"$\kappa_{mm}$ (Eq. 4)")
    if l_c is not None:
        k_res = kappa_res(r, l_c, delta, v)
        ax.plot(r, k_res, "k-.", lw=1, label=rf"$\kappa_{{res}}$, $\delta$={delta:.2g} (Eq. 7)")
    if k_mm is not None and k_res is not None:
        if f_mm is not None:
            ax.plot(r, kappa_eff(f_mm, k_mm, k_res), "C3-", lw=1.2,
                    label=rf"$\kappa_{{eff}}$, $f_{{mm}}$={f_mm:.2g} (Eq. 11)")
        ax.axvline(transition_gyroradius(l_c, l_mm, db_over_b, delta), color="0.6", lw=4,
                   alpha=0.4, label="transition (Eq. 8)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    scale = sets[0].u_per_rg if sets else None
    if scale:
        top = ax.secondary_xaxis(
            "top", functions=(lambda rg: np.sqrt(1.0 + (np.asarray(rg) * scale) ** 2) - 1.0,
                              lambda ek: np.sqrt(np.maximum((np.asarray(ek) + 1.0) ** 2 - 1.0,
                                                            1e-300)) / scale))
        top.set_xlabel(r"kinetic energy $(\gamma - 1)\,m c^2$")
    ax.set_xlabel(r"gyroradius $r_g$")
    ax.set_ylabel(r"$\kappa_\parallel$")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    log.info("wrote %s", out)
    return out


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m postprocess.transport",
        description="kappa vs gyroradius from pic1d runs (tracer dumps) or .npz results, "
                    "with the micromirror-study theory lines (code units, c = 1).")
    p.add_argument("inputs", nargs="+", help="run directories or .npz files (save_kappa)")
    p.add_argument("-o", "--output", default="kappa_vs_rg.png", help="figure file")
    p.add_argument("--species", default=None, help="tracer species (default: first)")
    p.add_argument("--n-bins", type=int, default=8, help="log-spaced |u| bins")
    p.add_argument("--b0", type=float, default=None, help="B0 (code units) if not in history")
    p.add_argument("--qm", type=float, default=None, help="|q/m| (e/m_e) if not in the files")
    p.add_argument("--box-length", type=float, default=None,
                   help="box length (d_e0) if not in run.json/history.h5")
    p.add_argument("--crw", choices=["direction", "parallel"], default=None,
                   help="apply the correlated-random-walk factor (Eq. 20)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples")
    p.add_argument("--l-mm", type=float, default=None, help="micromirror scale (d_e0)")
    p.add_argument("--db-over-b", type=float, default=1 / 3, help="dB_mm / B")
    p.add_argument("--l-c", type=float, default=None, help="correlation length (d_e0)")
    p.add_argument("--delta", type=float, default=1 / 3, help="resonant exponent delta")
    p.add_argument("--f-mm", type=float, default=None, help="micromirror fraction (Eq. 11)")
    p.add_argument("--json", default=None, help="also write the measured points as JSON")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    sets = []
    for item in args.inputs:
        path = Path(item)
        if path.suffix == ".npz":
            sets.append(load_kappa(path))
        else:
            sets.append(kappa_set_from_run(path, species=args.species, n_bins=args.n_bins,
                                           b0=args.b0, charge_over_mass=args.qm,
                                           box_length=args.box_length, crw=args.crw,
                                           n_boot=args.n_boot))
    out = plot_kappa(sets, args.output, l_mm=args.l_mm, db_over_b=args.db_over_b,
                     l_c=args.l_c, delta=args.delta, f_mm=args.f_mm)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"label": s.label, "r_g": s.r_g.tolist(), "kappa": s.kappa.tolist(),
              "kappa_err": s.kappa_err.tolist()} for s in sets], indent=1))
    print(f"wrote {out}")
    for s in sets:
        for r, k, e in zip(s.r_g, s.kappa, s.kappa_err, strict=True):
            print(f"{s.label}: r_g = {r:.4g}  kappa = {k:.4g} +- {e:.2g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
