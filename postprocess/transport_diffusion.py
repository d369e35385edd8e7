"""Running diffusion coefficient from tracer trajectories, with bootstrap errors.

Core (arrays in, no files): :func:`running_diffusion` computes, per momentum bin,

    kappa(t) = <(x(t) - x(t0))^2> / (2 (t - t0))                     (study Eq. 20, CRW off)

along the mean field (x), optionally multiplied by the correlated-random-walk factor of
the study's Eq. 20, (1 + <cos Theta>) / (1 - <cos Theta>), with bootstrap error bars over
tracers and the asymptotic value from :func:`asymptotic_kappa` (plateau criterion).
Periodic crossings are unwrapped when ``box_length`` is given (tracers must move less
than half a box between snapshots).

Reader: :func:`running_diffusion_from_run` loads tracer snapshots from ``RUN/tracers/``
openPMD particle files, matches tracers by ``id`` and calls the core.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from numpy.typing import ArrayLike

from postprocess.transport_theory import crw_factor

__all__ = [
    "Plateau",
    "RunningDiffusion",
    "TracerSnapshots",
    "asymptotic_kappa",
    "bootstrap_means",
    "box_length_from_run",
    "read_tracer_snapshots",
    "running_diffusion",
    "running_diffusion_from_run",
    "unwrap_periodic",
]

log = logging.getLogger(__name__)

_CRW_MODES = (None, "direction", "parallel")


# ----------------------------------------------------------------------- containers


@dataclass(frozen=True)
class Plateau:
    """Asymptotic diffusion coefficient of one running-kappa curve.

    Attributes
    ----------
    value, error : float
        kappa_infinity and its bootstrap standard error (nan without bootstrap samples).
    converged : bool
        The plateau criterion holds (|d ln kappa / d ln t| < ``slope_tol`` over the window).
    t_start : float
        First time of the window used (the plateau start when converged).
    log_slope : float
        d ln kappa / d ln t fitted over the window.
    """

    value: float
    error: float
    converged: bool
    t_start: float
    log_slope: float


@dataclass(frozen=True)
class RunningDiffusion:
    """Result of :func:`running_diffusion` (n_b momentum bins, n_t times).

    Attributes
    ----------
    t : numpy.ndarray
        Time lags t - t0 (n_t,); kappa is nan at lag 0.
    kappa, kappa_err : numpy.ndarray
        Running coefficient and its bootstrap standard error (n_b, n_t), length^2/time.
    p_edges : numpy.ndarray
        Momentum bin edges (n_b + 1,).
    n_tracers : numpy.ndarray
        Tracers per bin (n_b,).
    mean_cos : numpy.ndarray or None
        <cos Theta>(t) used by the CRW factor (n_b, n_t).
    asymptotic : list of Plateau
        Per-bin asymptotic values.
    kappa_boot : numpy.ndarray
        Bootstrap realisations (n_b, n_boot, n_t) (empty when n_boot = 0).
    """

    t: np.ndarray
    kappa: np.ndarray
    kappa_err: np.ndarray
    p_edges: np.ndarray
    n_tracers: np.ndarray
    mean_cos: np.ndarray | None
    asymptotic: list[Plateau]
    kappa_boot: np.ndarray = field(repr=False)

    @property
    def p_centers(self) -> np.ndarray:
        """Geometric bin centres (arithmetic when an edge is <= 0)."""
        e = self.p_edges
        if np.all(e > 0):
            return np.sqrt(e[1:] * e[:-1])
        return 0.5 * (e[1:] + e[:-1])

    @property
    def kappa_inf(self) -> np.ndarray:
        """Asymptotic values per bin (n_b,)."""
        return np.array([a.value for a in self.asymptotic])

    @property
    def kappa_inf_err(self) -> np.ndarray:
        """Bootstrap errors of the asymptotic values (n_b,)."""
        return np.array([a.error for a in self.asymptotic])


# --------------------------------------------------------------------------- core


def unwrap_periodic(x: ArrayLike, box_length: float) -> np.ndarray:
    """Undo periodic wrapping along axis 0 (time) of positions x[time, tracer].

    Each jump between consecutive snapshots is mapped to the nearest image, so tracers
    must move less than ``box_length / 2`` between snapshots.
    """
    a = np.asarray(x, dtype=float)
    d = np.diff(a, axis=0)
    d -= box_length * np.round(d / box_length)
    out = np.empty_like(a)
    out[0] = a[0]
    np.cumsum(d, axis=0, out=out[1:])
    out[1:] += a[0]
    return out


def bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                    batch: int = 32) -> np.ndarray:
    """Bootstrap realisations of the mean over tracers.

    Parameters
    ----------
    values : numpy.ndarray
        Per-tracer samples (n_t, n) (several quantities may be stacked along axis 0).
    n_boot : int
        Number of resamples (with replacement, n tracers each).
    rng : numpy.random.Generator
        Random generator.
    batch : int
        Resamples drawn per matrix product (memory: batch * n integers).

    Returns
    -------
    numpy.ndarray
        (n_boot, n_t) bootstrap means.
    """
    n = values.shape[1]
    batch = max(1, min(batch, 10_000_000 // max(n, 1)))  # cap the count matrix at ~80 MB
    out = np.empty((n_boot, values.shape[0]))
    pvals = np.full(n, 1.0 / n)
    for start in range(0, n_boot, batch):
        m = min(batch, n_boot - start)
        counts = rng.multinomial(n, pvals, size=m).astype(float)
        out[start:start + m] = counts @ values.T / n
    return out


def _window_fit(t: np.ndarray, k: np.ndarray, method: str) -> float:
    """kappa_infinity over a window: mean, or intercept of kappa = a + b / t."""
    if method == "mean":
        return float(np.mean(k))
    design = np.stack([np.ones_like(t), 1.0 / t], axis=1)
    coef, *_ = np.linalg.lstsq(design, k, rcond=None)
    return float(coef[0])


def _log_slope(t: np.ndarray, k: np.ndarray) -> float:
    """Least-squares d ln kappa / d ln t (nan if kappa is not positive)."""
    if np.any(k <= 0) or t.size < 2:
        return float("nan")
    return float(np.polyfit(np.log(t), np.log(k), 1)[0])


def asymptotic_kappa(t: ArrayLike, kappa: ArrayLike, kappa_boot: ArrayLike | None = None, *,
                     slope_tol: float = 0.1, min_fraction: float = 0.5, min_points: int = 4,
                     method: str = "fit") -> Plateau:
    """Asymptotic diffusion coefficient with a plateau criterion.

    The plateau is the longest tail window [t_s, t_end] (t_s scanned from late to early,
    at least ``min_points`` points, t_s <= ``min_fraction`` * t_end required to accept)
    on which the fitted log-slope |d ln kappa / d ln t| < ``slope_tol``; the tail window
    [min_fraction t_end, t_end] is used when no plateau is found (``converged=False``).
    On the window, ``method="fit"`` fits kappa(t) = kappa_inf + b / t (removes the 1/t
    approach of <dx^2>/2t = kappa + C/2t; the default) and ``"mean"`` averages. The error
    is the standard deviation of the same estimator over the bootstrap realisations.

    Parameters
    ----------
    t : array_like
        Time lags (n_t,), positive where used.
    kappa : array_like
        Running coefficient (n_t,).
    kappa_boot : array_like, optional
        Bootstrap realisations (n_boot, n_t).
    slope_tol : float
        Plateau tolerance on the log-slope.
    min_fraction : float
        The window must start at or before this fraction of the last time.
    min_points : int
        Minimum number of points in a window.
    method : {"fit", "mean"}
        Window estimator.

    Returns
    -------
    Plateau
    """
    if method not in ("fit", "mean"):
        raise ValueError("method must be 'fit' or 'mean'")
    tt = np.asarray(t, dtype=float)
    kk = np.asarray(kappa, dtype=float)
    ok = (tt > 0) & np.isfinite(kk)
    idx = np.flatnonzero(ok)
    if idx.size < min_points:
        return Plateau(float("nan"), float("nan"), False, float("nan"), float("nan"))
    t_end = tt[idx[-1]]
    default = idx[tt[idx] >= min_fraction * t_end]
    if default.size < min_points:
        default = idx[-min_points:]
    window, converged = default, False
    # candidate window starts, late to early, at most ~64 of them (log-spaced in count)
    n_tail = np.unique(np.geomspace(min_points, idx.size, 64).astype(int))
    for m in n_tail:
        w = idx[idx.size - m:]
        if tt[w[0]] > min_fraction * t_end:
            continue
        if abs(_log_slope(tt[w], kk[w])) < slope_tol:
            window, converged = w, True
        else:
            break
    value = _window_fit(tt[window], kk[window], method)
    error = float("nan")
    if kappa_boot is not None and np.size(kappa_boot) > 0:
        kb = np.asarray(kappa_boot, dtype=float)
        vals = [_window_fit(tt[window], row[window], method) for row in kb]
        error = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
    return Plateau(value, error, converged, float(tt[window[0]]),
                   _log_slope(tt[window], kk[window]))


def _cos_terms(u0: np.ndarray, u: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-tracer numerator and denominator of <cos Theta> between u0 (n, 3) and u (..., n, 3).

    ``"direction"``: cos of the angle between u(t0) and u(t) (the study's Theta);
    ``"parallel"``: <v_x(t0) v_x(t)> / <v_x(t0)^2> (insensitive to gyration).
    """
    if mode == "direction":
        n0 = u0 / np.linalg.norm(u0, axis=-1, keepdims=True)
        num = np.einsum("...nk,nk->...n", u / np.linalg.norm(u, axis=-1, keepdims=True), n0)
        return num, np.ones_like(num)
    vx0 = u0[:, 0] / np.sqrt(1.0 + np.sum(u0 * u0, axis=-1))
    vx = u[..., 0] / np.sqrt(1.0 + np.sum(u * u, axis=-1))
    num = vx * vx0
    return num, np.broadcast_to(vx0 * vx0, num.shape)


def _origins(t: np.ndarray, max_lag: int | None, origin_stride: int | None) -> np.ndarray:
    """Indices of the time origins (one origin, t[0], unless ``max_lag`` is given)."""
    if max_lag is None:
        return np.array([0])
    if not 0 < max_lag < t.size:
        raise ValueError("max_lag must be in [1, len(t) - 1]")
    dt = np.diff(t)
    if not np.allclose(dt, dt[0], rtol=1e-6, atol=0.0):
        raise ValueError("several time origins need uniformly spaced snapshots")
    stride = max_lag if origin_stride is None else origin_stride
    if stride < 1:
        raise ValueError("origin_stride must be >= 1")
    return np.arange(0, t.size - max_lag, stride)


def _per_tracer_terms(x: np.ndarray, u: np.ndarray | None, crw: str | None,
                      origins: np.ndarray, n_lag: int) -> list[np.ndarray]:
    """Per-tracer (n_lag, n) squared displacement [and CRW cos terms], origin-averaged."""
    d2 = np.zeros((n_lag, x.shape[1]))
    num = np.zeros_like(d2) if crw is not None else None
    den = np.zeros_like(d2) if crw is not None else None
    for o in origins:
        d2 += (x[o:o + n_lag] - x[o]) ** 2
        if crw is not None:
            a, b = _cos_terms(u[o], u[o:o + n_lag], crw)
            num += a
            den += b
    terms = [d2 / origins.size]
    if crw is not None:
        terms += [num / origins.size, den / origins.size]
    return terms


def running_diffusion(x: ArrayLike, t: ArrayLike, *, box_length: float | None = None,
                      momenta: ArrayLike | None = None, p_edges: ArrayLike | None = None,
                      u: ArrayLike | None = None, crw: str | None = None,
                      max_lag: int | None = None, origin_stride: int | None = None,
                      n_boot: int = 200, seed: int = 0, plateau_kw: dict | None = None,
                      ) -> RunningDiffusion:
    """Running parallel diffusion coefficient per momentum bin with bootstrap errors.

    Parameters
    ----------
    x : array_like
        Positions along the mean field, shape (n_t, n) (length unit, e.g. d_e0).
    t : array_like
        Snapshot times (n_t,) (time unit); t[0] is the reference time t0.
    box_length : float, optional
        Period of the box; if given, ``x`` is unwrapped first.
    momenta : array_like, optional
        Per-tracer momentum used for binning (n,); default |u(t0)| if ``u`` is given.
    p_edges : array_like, optional
        Momentum bin edges; default one bin holding every tracer.
    u : array_like, optional
        Momenta u = gamma v / c, shape (n_t, n, 3); needed for ``crw``.
    crw : {None, "direction", "parallel"}
        Multiply by the correlated-random-walk factor (1 + <cos>) / (1 - <cos>) of Eq. 20.
    max_lag : int, optional
        Use lags of 0..max_lag snapshots averaged over several time origins (every
        ``origin_stride`` snapshots, default ``max_lag``; uniform spacing required). This
        time average over a stationary state multiplies the statistics of long runs.
        Default: one origin, t[0], and every snapshot.
    origin_stride : int, optional
        Spacing of the time origins in snapshots.
    n_boot : int
        Bootstrap resamples over tracers (0: no error bars).
    seed : int
        Seed of the bootstrap.
    plateau_kw : dict, optional
        Keyword arguments for :func:`asymptotic_kappa`.

    Returns
    -------
    RunningDiffusion
    """
    if crw not in _CRW_MODES:
        raise ValueError(f"crw must be one of {_CRW_MODES}")
    xx = np.asarray(x, dtype=float)
    tt = np.asarray(t, dtype=float)
    if xx.ndim != 2 or xx.shape[0] != tt.size:
        raise ValueError("x must have shape (n_t, n) with n_t = len(t)")
    if box_length is not None:
        xx = unwrap_periodic(xx, box_length)
    uu = None if u is None else np.asarray(u, dtype=float)
    if crw is not None and uu is None:
        raise ValueError("the CRW factor needs momenta u")
    if momenta is None:
        p = np.linalg.norm(uu[0], axis=-1) if uu is not None else np.zeros(xx.shape[1])
    else:
        p = np.asarray(momenta, dtype=float)
    edges = (np.array([p.min(), p.max()]) if p_edges is None
             else np.asarray(p_edges, dtype=float))
    origins = _origins(tt, max_lag, origin_stride)
    nt = tt.size if max_lag is None else max_lag + 1
    lag = tt[:nt] - tt[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv2t = np.where(lag > 0, 0.5 / lag, np.nan)
    terms = _per_tracer_terms(xx, uu, crw, origins, nt)
    rng = np.random.default_rng(seed)
    nb = edges.size - 1
    kappa = np.full((nb, nt), np.nan)
    err = np.full((nb, nt), np.nan)
    boot = np.full((nb, n_boot, nt), np.nan)
    mean_cos = None if crw is None else np.full((nb, nt), np.nan)
    counts = np.zeros(nb, dtype=int)
    plateaus = []
    for b in range(nb):
        last = b == nb - 1
        sel = (p >= edges[b]) & ((p <= edges[b + 1]) if last else (p < edges[b + 1]))
        counts[b] = int(sel.sum())
        if counts[b] == 0:
            plateaus.append(Plateau(np.nan, np.nan, False, np.nan, np.nan))
            continue
        values = np.concatenate([term[:, sel] for term in terms], axis=0)
        means = values.mean(axis=1)
        reps = bootstrap_means(values, n_boot, rng) if n_boot > 0 else np.zeros((0, means.size))
        kappa[b] = means[:nt] * inv2t
        boot_b = reps[:, :nt] * inv2t
        if crw is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_cos[b] = means[nt:2 * nt] / means[2 * nt:]
                kappa[b] *= crw_factor(mean_cos[b])
                boot_b *= crw_factor(reps[:, nt:2 * nt] / reps[:, 2 * nt:])
        if n_boot > 1:
            boot[b] = boot_b
            err[b] = np.std(boot_b, axis=0, ddof=1)
        plateaus.append(asymptotic_kappa(lag, kappa[b], boot_b if n_boot > 1 else None,
                                         **(plateau_kw or {})))
    return RunningDiffusion(t=lag, kappa=kappa, kappa_err=err, p_edges=edges,
                            n_tracers=counts, mean_cos=mean_cos, asymptotic=plateaus,
                            kappa_boot=boot)


# ------------------------------------------------------------------------- reader


@dataclass(frozen=True)
class TracerSnapshots:
    """Tracers present in every snapshot, matched by id and sorted by id.

    ``t`` (n_t,), ``x`` (n_t, n), ``u`` (n_t, n, 3), ``ids`` (n,); ``species`` name and
    per-particle ``charge`` (e) and ``mass`` (m_e) when the files hold those records.
    """

    t: np.ndarray
    x: np.ndarray
    u: np.ndarray
    ids: np.ndarray
    species: str = ""
    charge: float | None = None
    mass: float | None = None


def _iterations(f: h5py.File) -> list[tuple[int, h5py.Group]]:
    """(iteration, group) pairs of an open openPMD file (basePath /data/%T/)."""
    data = f.get("data")
    if not isinstance(data, h5py.Group):
        return []
    return [(int(k), data[k]) for k in sorted((k for k in data if k.isdigit()), key=int)]


def _record(group: h5py.Group, name: str, comp: str | None) -> np.ndarray | None:
    """One (scalar or component) particle record, constant records expanded."""
    rec = group.get(name)
    if rec is None:
        return None
    node = rec if comp is None else rec.get(comp)
    if node is None:
        return None
    if isinstance(node, h5py.Dataset):
        return node[()]
    if "value" in node.attrs and "shape" in node.attrs:  # openPMD constant record
        return np.full(tuple(node.attrs["shape"]), node.attrs["value"])
    return None


def _first_value(group: h5py.Group, name: str) -> float | None:
    """First value of a (usually constant) per-particle scalar record, if present."""
    node = group.get(name)
    if isinstance(node, h5py.Group) and "value" in node.attrs:
        return float(node.attrs["value"])
    if isinstance(node, h5py.Dataset) and node.size:
        return float(node[0])
    return None


def _read_species(it: h5py.Group, species: str | None) -> tuple[str, dict] | None:
    parts = it.get("particles")
    if parts is None or len(parts) == 0:
        return None
    name = species if species is not None else sorted(parts)[0]
    if name not in parts:
        return None
    g = parts[name]
    ids = _record(g, "id", None)
    x = _record(g, "position", "x")
    if ids is None or x is None:
        return None
    off = _record(g, "positionOffset", "x")
    if off is not None:
        x = x + off
    mom = [_record(g, "momentum", c) for c in "xyz"]
    u = np.stack([np.zeros_like(x) if m is None else m for m in mom], axis=-1)
    out = {"ids": np.asarray(ids).astype(np.int64), "x": np.asarray(x, dtype=float),
           "u": np.asarray(u, dtype=float)}
    for key in ("charge", "mass"):
        out[key] = _first_value(g, key)
    return name, out


def read_tracer_snapshots(tracer_dir: str | Path, species: str | None = None
                          ) -> TracerSnapshots:
    """Read tracer snapshots from openPMD files and match tracers across them by id.

    Reads every ``*.h5`` in ``tracer_dir`` (file- or group-based iterations), takes
    ``position/x`` (+ ``positionOffset/x``), ``momentum/x,y,z`` and ``id`` of ``species``
    (default: the first species found) in code units as stored (no unitSI scaling), and
    the iteration attribute ``time`` (falls back to the iteration number). Tracers
    missing from any snapshot are dropped (logged).
    """
    files = sorted(p for p in Path(tracer_dir).glob("*.h5") if not p.name.startswith("."))
    snaps = []
    name = species or ""
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                for it, g in _iterations(f):
                    got = _read_species(g, species)
                    if got is not None:
                        name = got[0]
                        snaps.append((float(g.attrs.get("time", it)), got[1]))
        except OSError as exc:
            log.warning("skipping unreadable %s: %s", path, exc)
    if not snaps:
        raise FileNotFoundError(f"no tracer snapshots with id and position/x in {tracer_dir}")
    snaps.sort(key=lambda s: s[0])
    common = snaps[0][1]["ids"]
    for _, s in snaps[1:]:
        common = np.intersect1d(common, s["ids"])
    dropped = max(s["ids"].size for _, s in snaps) - common.size
    if dropped:
        log.info("%d tracers are missing from some snapshots and were dropped", dropped)
    xs, us = [], []
    for _, s in snaps:
        order = np.argsort(s["ids"])
        pos = order[np.searchsorted(s["ids"][order], common)]
        xs.append(s["x"][pos])
        us.append(s["u"][pos])
    first = snaps[0][1]
    return TracerSnapshots(t=np.array([s[0] for s in snaps]), x=np.array(xs),
                           u=np.array(us), ids=common, species=name,
                           charge=first["charge"], mass=first["mass"])


def _run_json(run_dir: Path) -> dict:
    """``run.json`` of a run directory ({} if absent or unreadable)."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def box_length_from_run(run_dir: str | Path) -> float | None:
    """Box length in d_e0 of a pic1d run: ``cells * dx`` from ``run.json`` or the
    ``history.h5`` attributes, else a ``box_length``/``length`` key anywhere in ``run.json``.
    """
    run = Path(run_dir)
    info = _run_json(run)
    sources = [info]
    try:
        with h5py.File(run / "history.h5", "r") as f:
            sources.append({k: f.attrs[k] for k in ("cells", "dx") if k in f.attrs})
    except OSError:
        pass
    for src in sources:
        try:
            length = float(src["cells"]) * float(src["dx"])
        except (KeyError, TypeError, ValueError):
            continue
        if length > 0:
            return length
    pattern = re.compile(r"^(box_length|box_length_de|length_de|length)$")
    stack: list = [info]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if pattern.match(str(k)) and isinstance(v, (int, float)) and v > 0:
                    return float(v)
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
    return None


def running_diffusion_from_run(run_dir: str | Path, species: str | None = None, *,
                               box_length: float | None = None, **kwargs) -> RunningDiffusion:
    """Running diffusion coefficient from the tracer dumps of a pic1d run.

    Parameters
    ----------
    run_dir : str or Path
        Run directory with ``tracers/*.h5`` (openPMD particle files).
    species : str, optional
        Tracer species name (default: first species in the files).
    box_length : float, optional
        Box length in d_e0 for unwrapping; else :func:`box_length_from_run`, and
        positions are used as stored (no unwrapping) if it cannot be found.
    **kwargs
        Passed to :func:`running_diffusion` (``p_edges``, ``crw``, ``n_boot``, ...).
        Binning uses |u(t0)| (m_e c units for electrons).

    Returns
    -------
    RunningDiffusion
        Lags in 1/omega_pe0, kappa in d_e0^2 omega_pe0 (code units).
    """
    run = Path(run_dir)
    snaps = read_tracer_snapshots(run / "tracers", species)
    if box_length is None:
        box_length = box_length_from_run(run)
        if box_length is None:
            log.warning("box length unknown: tracer positions are not unwrapped")
    return running_diffusion(snaps.x, snaps.t, box_length=box_length, u=snaps.u, **kwargs)
