"""Monte Carlo Fokker-Planck model of magnetic pumping (PHYSICS.md 4.6).

An isotropic sample of test particles (monoenergetic, flat in p, flat in ln p, a power
law, or any arrays) is compressed with the scale factors of a pic1d deck's
``[compression]`` section. Each step dt, from t_k to t_{k+1}:

1. if t_k >= t_start and the particle is resonant at t_k, mu -> mu +- delta (random
   sign, fixed step ``delta``; reflected at |mu| = 1: mu -> 2 - mu or -2 - mu) at fixed
   |p|. The effective pitch-angle diffusion coefficient is D_mumu = delta^2 / (2 dt);
2. adiabatic compression: p_par -> p_par a_x(t_k)/a_x(t_{k+1}),
   p_perp -> p_perp sqrt(a_y a_z(t_k) / a_y a_z(t_{k+1})) (p_perp^2/B and p_par a_x
   conserved; for the reference a_x = 1 this is p_perp ~ sqrt(B), p_par constant).

Resonance conditions:

* ``"none"`` (pure CGL compression), ``"everywhere"``;
* ``"k_band"``: k_min(t) < k_res < k_max(t) with the magnetostatic cyclotron resonance
  k_res = e B(t) / (c p |mu|) = kappa b(t) / (p |mu|), p in m_e c, b = B/B0, and
  kappa = Omega_ce0 l / c the resonant k l of p = m_e c, |mu| = 1 at t = 0 (l the length
  unit of k: kappa = B0 l/d_e0 in code units, e.g. B0 rho_i0 for k in 1/rho_i0).
  k_min, k_max are constants or functions of t (e.g. a drifting band, tables in the
  configuration); k_max = inf gives the reference study's one-sided condition
  k_res > k_min (no barrier at mu = 0);
* any Python function ``resonant(p, mu, t) -> bool array``.

The built-in conditions run in a numba kernel (parallel over particle chunks; the random
signs come from a counter-based generator keyed by (seed, particle index, step), so
results do not depend on the number of threads or on the output times); a Python
function runs in a vectorised numpy loop with the same random signs.

Snapshots of the state feed :class:`postprocess.pumping.PumpingAnalysis`, so the model
returns the same Delta E/E maps, distributions and Green's kernels as the PIC
postprocessor (and :func:`postprocess.pumping.write_figures` draws them). The model has
no momentum diffusion: the non-adiabatic gain (4.5) is zero by construction and not
computed.

Units: momenta in m_e c; times in the model's ``time_unit`` (with a deck: "Omega_i0"
(1/Omega_i0), "tau_c" or "omega_pe0" (1/omega_pe0); without a deck, whatever unit the
configuration's times and compression time scales share).

Configuration (TOML; examples in ``decks/fokker_planck/``)::

    [model]
    deck = "../fiducial.toml"   # optional: [compression], Omega_i0, tau_c, B0, rho_i0
    time_unit = "Omega_i0"      # unit of every time in this file
    t_end = 1128.0              # default: the deck's duration
    n_steps = 10000
    t_start = 200.0
    seed = 1
    [compression]               # only without a deck: the deck's keys, bare numbers
    profile = "power"           #   in time_unit
    tau_c = 1.0
    axes = ["y", "z"]
    [sample]
    kind = "flat_log_p"         # "flat_p", "flat_log_p", "mono" (p = [...]), "power_law"
    p_min = 0.1
    p_max = 100.0
    count = 1000000
    [scattering]
    resonance = "k_band"        # "none", "everywhere", "k_band"
    step = 0.02                 # |Delta mu| per step
    k_min = 0.5                 # number or [[t, k], ...] (piecewise linear in t)
    k_max = inf
    k_unit = "rho_i0"           # with a deck: "d_e0", "d_i0", "rho_i0"; or give kappa
    [output]
    times = 40                  # number of evenly spaced outputs, or a list of times
    p0_bins = 60
    select = [1.0, 5.0, 20.0]   # p0 of the Fig.-4 distributions

Public API: :class:`FPModel`, :func:`isotropic_sample`, :func:`simulate`,
:func:`run_model`, :class:`Snapshots`, :func:`run_snapshots`, :func:`resonance_mask`,
:func:`table_function`, :class:`FPConfig`, :func:`load_config`, :func:`parse_config`,
:func:`run_config`, :func:`plot_snapshots`, :func:`benchmark`, :func:`make_figures` and
``python -m postprocess.fokker_planck CONFIG [CONFIG ...]``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
from matplotlib.axes import Axes
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from pic1d.comoving import AxisProfile, ScaleFactors
from postprocess import plots
from postprocess import pumping as pm

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

log = logging.getLogger(__name__)

__all__ = [
    "FPConfig",
    "FPModel",
    "Snapshots",
    "benchmark",
    "isotropic_sample",
    "load_config",
    "main",
    "make_figures",
    "parse_config",
    "plot_snapshots",
    "resonance_mask",
    "run_config",
    "run_model",
    "run_snapshots",
    "simulate",
    "table_function",
]

F64 = NDArray[np.float64]
KFunc = float | Callable[[F64], ArrayLike]
ResonanceFunc = Callable[[F64, F64, float], ArrayLike]

RESONANCES = ("none", "everywhere", "k_band")
SAMPLES = ("mono", "flat_p", "flat_log_p", "power_law")

# ------------------------------------------------------------------ random signs
# splitmix64 finaliser, used as a counter-based generator: word(i, j) =
# mix(key_i + j * GOLDEN) gives the signs of steps 64 j ... 64 j + 63 of particle i.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_ONE = np.uint64(1)


@njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def _mix_np(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """numpy version of :func:`_mix` (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def _particle_keys(n: int, seed: int) -> NDArray[np.uint64]:
    """Per-particle keys of the sign generator (independent of threads and chunks)."""
    with np.errstate(over="ignore"):
        base = _mix_np(np.array([seed], dtype=np.uint64) * _GOLDEN + _MIX1)[0]
        idx = np.arange(n, dtype=np.uint64)
        return _mix_np(idx * _GOLDEN + base)


def _words(keys: NDArray[np.uint64], block: int) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        return _mix_np(keys + np.uint64(block) * _GOLDEN)


# ------------------------------------------------------------------ numba kernel
@njit(cache=True, parallel=True)
def _advance(p_par, p_perp, keys, k0, k1, fpar, fperp, on, lo, hi, step,
             chunk):  # pragma: no cover - compiled
    """Advance all particles from step k0 to k1 (built-in resonance: lo <= |p_par| <= hi)."""
    n = p_par.shape[0]
    nchunks = (n + chunk - 1) // chunk
    for c in prange(nchunks):
        i0 = c * chunk
        i1 = min(n, i0 + chunk)
        m = i1 - i0
        pa = p_par[i0:i1].copy()
        pe = p_perp[i0:i1].copy()
        words = np.empty(m, dtype=np.uint64)
        sgn = np.empty(m, dtype=np.float64)
        have_words = False
        for k in range(k0, k1):
            fa = fpar[k]
            fe = fperp[k]
            if on[k]:
                sh = k & 63
                if sh == 0 or not have_words:
                    ctr = np.uint64(k >> 6) * _GOLDEN
                    for i in range(m):
                        words[i] = _mix(keys[i0 + i] + ctr)
                    have_words = True
                ush = np.uint64(sh)
                for i in range(m):
                    sgn[i] = step if (words[i] >> ush) & _ONE else -step
                lk = lo[k]
                hk = hi[k]
                for i in range(m):
                    a = pa[i]
                    e = pe[i]
                    aa = abs(a)
                    if aa >= lk and aa <= hk:
                        p = np.sqrt(a * a + e * e)
                        # p = 0 stays 0 (mu is then irrelevant); written without a
                        # branch so that LLVM vectorises the loop
                        mu = a / (p if p > 0.0 else 1.0) + sgn[i]
                        if mu > 1.0:
                            mu = 2.0 - mu
                        elif mu < -1.0:
                            mu = -2.0 - mu
                        a = p * mu
                        e = p * np.sqrt(max(0.0, 1.0 - mu * mu))
                    pa[i] = a * fa
                    pe[i] = e * fe
            else:
                have_words = False
                for i in range(m):
                    pa[i] *= fa
                    pe[i] *= fe
        p_par[i0:i1] = pa
        p_perp[i0:i1] = pe


# ------------------------------------------------------------------ the model
def table_function(points: Sequence[Sequence[float]]) -> Callable[[F64], F64]:
    """Piecewise-linear function of time from ``[[t0, v0], [t1, v1], ...]``.

    Constant beyond the first and last points. Times in the model unit.
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"a table must be [[t, value], ...], got {points!r}")
    order = np.argsort(arr[:, 0], kind="stable")
    ts, vs = arr[order, 0], arr[order, 1]

    def f(t: F64) -> F64:
        return np.interp(np.asarray(t, dtype=np.float64), ts, vs)

    return f


def _eval_k(k: KFunc, t: F64) -> F64:
    if callable(k):
        return np.broadcast_to(np.asarray(k(t), dtype=np.float64), t.shape).copy()
    return np.full(t.shape, float(k))


@dataclass(frozen=True)
class FPModel:
    """Parameters of the Monte Carlo Fokker-Planck model.

    Attributes
    ----------
    scale_factors : ScaleFactors
        Compression profile with times in the model unit (:meth:`from_deck` converts a
        deck's profile).
    t_end : float
        End time (model unit).
    n_steps : int
        Number of steps; dt = t_end / n_steps.
    t_start : float
        No scattering before this time.
    step : float
        Pitch-cosine step delta (dimensionless); D_mumu = delta^2/(2 dt).
    resonance : str or callable
        "none", "everywhere", "k_band" or ``f(p, mu, t) -> bool array`` (p in m_e c).
    k_min, k_max : float or callable of t
        Resonant band (1/length unit) for "k_band"; k_max = inf means no upper bound.
    kappa : float
        Omega_ce0 l / c: k_res l = kappa b(t) / (p |mu|) (dimensionless).
    seed : int
        Seed of the random signs.
    mass : float
        Particle mass (m_e); energies sqrt(m^2 + p^2).
    time_unit : str
        Label of the model time unit.
    threads : int or None
        numba threads (default: numba's setting).
    """

    scale_factors: ScaleFactors
    t_end: float
    n_steps: int
    t_start: float = 0.0
    step: float = 0.0
    resonance: str | ResonanceFunc = "everywhere"
    k_min: KFunc = 0.0
    k_max: KFunc = math.inf
    kappa: float = 1.0
    seed: int = 0
    mass: float = 1.0
    time_unit: str = "tau_c"
    threads: int | None = None

    def __post_init__(self) -> None:
        if not callable(self.resonance) and self.resonance not in RESONANCES:
            raise ValueError(f"resonance must be one of {RESONANCES} or a function, got "
                             f"{self.resonance!r}")
        if self.n_steps < 1 or not self.t_end > 0:
            raise ValueError("need n_steps >= 1 and t_end > 0")
        if not 0.0 <= self.step <= 2.0:
            raise ValueError(f"step must be in [0, 2], got {self.step}")
        if self.kappa <= 0:
            raise ValueError("kappa must be > 0")

    @property
    def dt(self) -> float:
        """Time step (model unit)."""
        return self.t_end / self.n_steps

    @property
    def d_mumu(self) -> float:
        """Effective pitch-angle diffusion coefficient delta^2/(2 dt) (1/model unit)."""
        return self.step**2 / (2.0 * self.dt)

    def times(self) -> F64:
        """Step times t_k = k dt, k = 0..n_steps."""
        return np.arange(self.n_steps + 1, dtype=np.float64) * self.dt

    def scale(self, t: ArrayLike) -> F64:
        """Scale factors (n, 3) at times t (model unit)."""
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return np.array([self.scale_factors.a(float(x)) for x in ts], dtype=np.float64)

    def b(self, t: ArrayLike) -> F64:
        """B/B0 = 1/(a_y a_z) at times t."""
        a = self.scale(t)
        return 1.0 / (a[:, 1] * a[:, 2])

    @classmethod
    def from_deck(cls, deck: str | os.PathLike[str] | Any, *, time_unit: str = "Omega_i0",
                  k_unit: str | None = "rho_i0", t_end: float | None = None,
                  **kw: Any) -> FPModel:
        """Model with the compression of a pic1d deck (path or parsed ``Config``).

        Parameters
        ----------
        deck : path-like or pic1d.deck.Config
        time_unit : {"Omega_i0", "tau_c", "omega_pe0"}
            Model time unit (all times of ``kw`` are in it).
        k_unit : {"d_e0", "d_i0", "rho_i0"} or None
            Length unit of k_min/k_max: kappa = B0 l / d_e0 (ignored if ``kappa`` given).
        t_end : float, optional
            Default: the deck's duration.
        **kw
            Other :class:`FPModel` fields.
        """
        cfg = _load_deck(deck)
        unit = _deck_time_unit(cfg, time_unit)
        sf = _rescale(cfg.compression.scale_factors, unit)
        if t_end is None:
            t_end = cfg.run.duration / unit
        if "kappa" not in kw and k_unit is not None:
            kw["kappa"] = _deck_kappa(cfg, k_unit)
        return cls(scale_factors=sf, t_end=float(t_end), time_unit=time_unit, **kw)


def _load_deck(deck: Any) -> Any:
    if isinstance(deck, (str, os.PathLike)):
        from pic1d.deck import load_deck

        return load_deck(deck)
    return deck


def _deck_time_unit(cfg: Any, time_unit: str) -> float:
    """Size of one model time unit in 1/omega_pe0 for a deck."""
    if time_unit in ("omega_pe0", "/omega_pe0", "code"):
        return 1.0
    if time_unit in ("Omega_i0", "/Omega_i0"):
        return 1.0 / cfg.scales.omega_ci0
    if time_unit == "tau_c":
        if cfg.compression.tau_c is None:
            raise ValueError("the deck has no tau_c: use time_unit = 'Omega_i0'")
        return abs(cfg.compression.tau_c)
    raise ValueError(f"time_unit must be 'Omega_i0', 'tau_c' or 'omega_pe0' with a deck, "
                     f"got {time_unit!r}")


def _deck_kappa(cfg: Any, k_unit: str) -> float:
    """Omega_ce0 l / c = B0 l (code units) for k in 1/l."""
    lengths = {"d_e0": 1.0, "d_i0": cfg.scales.d_i0, "rho_i0": cfg.scales.rho_i0}
    if k_unit not in lengths:
        raise ValueError(f"k_unit must be one of {sorted(lengths)}, got {k_unit!r}")
    return float(cfg.plasma.B0) * float(lengths[k_unit])


def _rescale(sf: ScaleFactors, unit: float) -> ScaleFactors:
    """The same profile with times measured in a unit of ``unit`` (1/omega_pe0)."""
    axes = tuple(AxisProfile(p.kind, p.tau / unit, p.exponent) for p in sf.axes)
    return ScaleFactors(axes, sf.t_halt / unit)  # type: ignore[arg-type]


def isotropic_sample(
    count: int,
    kind: str = "flat_log_p",
    *,
    p_min: float | None = None,
    p_max: float | None = None,
    p: Sequence[float] | float | None = None,
    index: float | None = None,
    seed: int = 0,
    stratified: bool = False,
) -> tuple[F64, F64]:
    """An isotropic sample of initial momenta and pitch cosines.

    Parameters
    ----------
    count : int
        Number of particles (for "mono" with several p: split evenly).
    kind : {"flat_p", "flat_log_p", "mono", "power_law"}
        Uniform in p or ln p over [p_min, p_max]; monoenergetic at ``p``; or
        dN/dp ~ p^-index over [p_min, p_max].
    p_min, p_max : float
        Range (m_e c).
    p : float or sequence of float
        Momenta of "mono" (m_e c).
    index : float
        Power-law index of "power_law".
    seed : int
    stratified : bool
        mu0 on a shuffled midpoint grid of [-1, 1] (exactly isotropic moments) instead of
        uniform random.

    Returns
    -------
    p0, mu0 : numpy.ndarray
        Momenta (m_e c) and pitch cosines.
    """
    rng = np.random.default_rng(seed)
    if kind == "mono":
        if p is None:
            raise ValueError("'mono' needs p")
        ps = np.atleast_1d(np.asarray(p, dtype=np.float64))
        p0 = np.repeat(ps, -(-count // ps.size))[:count]
    else:
        if p_min is None or p_max is None or not 0 < p_min < p_max:
            raise ValueError(f"{kind!r} needs 0 < p_min < p_max")
        x = rng.random(count)
        if kind == "flat_p":
            p0 = p_min + (p_max - p_min) * x
        elif kind == "flat_log_p":
            p0 = p_min * (p_max / p_min) ** x
        elif kind == "power_law":
            if index is None:
                raise ValueError("'power_law' needs index")
            if abs(index - 1.0) < 1e-12:
                p0 = p_min * (p_max / p_min) ** x
            else:
                s = 1.0 - index
                p0 = (p_min**s + x * (p_max**s - p_min**s)) ** (1.0 / s)
        else:
            raise ValueError(f"kind must be one of {SAMPLES}, got {kind!r}")
    if stratified:
        mu0 = -1.0 + (2.0 * np.arange(count) + 1.0) / count
        rng.shuffle(mu0)
    else:
        mu0 = rng.uniform(-1.0, 1.0, count)
    return np.asarray(p0, dtype=np.float64), mu0


def _band_limits(model: FPModel, t: F64, b: F64) -> tuple[F64, F64]:
    """Limits lo <= p |mu| <= hi of the built-in resonances at times t."""
    n = t.size
    if model.resonance == "everywhere":
        return np.zeros(n), np.full(n, np.inf)
    if model.resonance == "none":
        return np.full(n, np.inf), np.zeros(n)
    kmin = _eval_k(model.k_min, t)
    kmax = _eval_k(model.k_max, t)
    with np.errstate(divide="ignore"):
        lo = np.where(np.isinf(kmax), 0.0, model.kappa * b / kmax)
        hi = np.where(kmin <= 0, np.inf, model.kappa * b / np.where(kmin > 0, kmin, 1.0))
    return lo, hi


def resonance_mask(model: FPModel, p: ArrayLike, mu: ArrayLike, t: float) -> NDArray[np.bool_]:
    """Where the model scatters at time t (ignoring t_start), for plotting.

    Parameters
    ----------
    p, mu : array_like (broadcast)
        Momentum (m_e c) and pitch cosine.
    t : float
        Model time.
    """
    p = np.asarray(p, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    if callable(model.resonance):
        pb, mb = np.broadcast_arrays(p, mu)
        return np.asarray(model.resonance(pb.astype(np.float64), mb.astype(np.float64),
                                          float(t)), dtype=bool)
    tt = np.array([float(t)])
    lo, hi = _band_limits(model, tt, model.b(tt))
    x = p * np.abs(mu)
    return (x >= lo[0]) & (x <= hi[0])


def simulate(
    model: FPModel,
    p0: ArrayLike,
    mu0: ArrayLike,
    output_times: ArrayLike,
    callback: Callable[[int, float, tuple[float, float, float], F64, F64], None],
    *,
    chunk: int = 512,
) -> F64:
    """Advance the sample and call ``callback`` at the output times.

    Parameters
    ----------
    model : FPModel
    p0, mu0 : array_like
        Initial momenta (m_e c) and pitch cosines.
    output_times : array_like
        Model times, rounded to the nearest step (duplicates dropped).
    callback : callable
        ``callback(k, t_k, a_k, p_par, p_perp)`` with the step index, time, scale factors
        and the momenta (m_e c; do not modify them).
    chunk : int
        Particles per work unit of the numba kernel.

    Returns
    -------
    numpy.ndarray
        The output times actually used (model unit).
    """
    p0 = np.asarray(p0, dtype=np.float64).ravel()
    mu0 = np.asarray(mu0, dtype=np.float64).ravel()
    pa = np.ascontiguousarray(p0 * mu0)
    pe = np.ascontiguousarray(p0 * np.sqrt(np.maximum(0.0, 1.0 - mu0 * mu0)))
    t = model.times()
    a = model.scale(t)
    axk = a[:, 0]
    ayz = a[:, 1] * a[:, 2]
    fpar = np.ascontiguousarray(axk[:-1] / axk[1:])
    fperp = np.ascontiguousarray(np.sqrt(ayz[:-1] / ayz[1:]))
    b = 1.0 / ayz
    on = (t[:-1] >= model.t_start) & (model.step > 0) & (model.resonance != "none")
    steps = np.unique(np.clip(np.rint(np.asarray(output_times, np.float64) / model.dt),
                              0, model.n_steps).astype(np.int64))
    keys = _particle_keys(p0.size, model.seed)
    k = 0
    t0 = _time.perf_counter()
    threads_before = numba.get_num_threads()
    if model.threads:
        numba.set_num_threads(min(int(model.threads), numba.config.NUMBA_NUM_THREADS))
    try:
        if callable(model.resonance):
            advance = _numpy_advancer(model, pa, pe, keys, t, fpar, fperp, on)
        else:
            lo, hi = _band_limits(model, t[:-1], b[:-1])
            on = on & (lo <= hi)

            def advance(k0: int, k1: int) -> None:
                _advance(pa, pe, keys, k0, k1, fpar, fperp, on, lo, hi, float(model.step),
                         int(chunk))
        for ks in steps:
            if ks > k:
                advance(k, int(ks))
                k = int(ks)
            callback(k, float(t[k]), (float(a[k, 0]), float(a[k, 1]), float(a[k, 2])), pa, pe)
    finally:
        numba.set_num_threads(threads_before)
    log.info("F-P model: %d particles x %d steps in %.2f s", p0.size, k,
             _time.perf_counter() - t0)
    return t[steps]


def _numpy_advancer(model: FPModel, pa: F64, pe: F64, keys: NDArray[np.uint64], t: F64,
                    fpar: F64, fperp: F64, on: NDArray[np.bool_]) -> Callable[[int, int], None]:
    """Vectorised numpy stepping for a user resonance function (same random signs)."""
    func = model.resonance
    assert callable(func)
    state: dict[str, Any] = {"block": -1, "words": None}

    def advance(k0: int, k1: int) -> None:
        for k in range(k0, k1):
            if on[k]:
                blk = k >> 6
                if state["block"] != blk:
                    state["words"] = _words(keys, blk)
                    state["block"] = blk
                bit = (state["words"] >> np.uint64(k & 63)) & _ONE
                sgn = np.where(bit == 1, model.step, -model.step)
                p = np.sqrt(pa * pa + pe * pe)
                with np.errstate(divide="ignore", invalid="ignore"):
                    mu = pa / p
                    res = np.asarray(func(p, mu, float(t[k])), dtype=bool) & (p > 0)
                mu = mu + sgn
                mu = np.where(mu > 1.0, 2.0 - mu, mu)
                mu = np.where(mu < -1.0, -2.0 - mu, mu)
                pa[:] = np.where(res, p * mu, pa)
                pe[:] = np.where(res, p * np.sqrt(np.maximum(0.0, 1.0 - mu * mu)), pe)
            np.multiply(pa, fpar[k], out=pa)
            np.multiply(pe, fperp[k], out=pe)

    return advance


def run_model(
    model: FPModel,
    p0: ArrayLike,
    mu0: ArrayLike,
    *,
    times: int | ArrayLike = 40,
    detail_times: Sequence[float] | None = None,
    chunk: int = 512,
    **options: Any,
) -> pm.PumpingResult:
    """Run the model and accumulate the compress-revert analysis of :mod:`pumping`.

    Parameters
    ----------
    model : FPModel
    p0, mu0 : array_like
        Initial sample (:func:`isotropic_sample`).
    times : int or array_like
        Number of evenly spaced outputs in (0, t_end], or the output times (model unit).
    detail_times : sequence of float, optional
        Times of the Green's kernels and distributions (default: t_end).
    chunk : int
    **options
        Passed to :class:`postprocess.pumping.PumpingAnalysis` (``weights``, bins,
        ``select``, ``energy``...).

    Returns
    -------
    postprocess.pumping.PumpingResult
        Times in the model unit.
    """
    if np.ndim(times) == 0:
        out_t = np.linspace(0.0, model.t_end, int(times) + 1)[1:]
    else:
        out_t = np.asarray(times, dtype=np.float64)
    out_t = model.dt * np.unique(np.clip(np.rint(out_t / model.dt), 0, model.n_steps))
    wanted = [model.t_end] if detail_times is None else list(detail_times)
    detail_steps = {int(np.clip(np.rint(x / model.dt), 0, model.n_steps)) for x in wanted}
    out_t = np.union1d(out_t, model.dt * np.array(sorted(detail_steps), dtype=np.float64))
    options.setdefault("mass", model.mass)
    options.setdefault("time_unit", model.time_unit)
    options.setdefault("nonadiabatic", False)
    ana = pm.PumpingAnalysis(p0, mu0, **options)

    def cb(k: int, t: float, a: tuple[float, float, float], pa: F64, pe: F64) -> None:
        ana.add(t, pa, pe, a, detail=k in detail_steps)

    simulate(model, p0, mu0, out_t, cb, chunk=chunk)
    return ana.result()


@dataclass
class Snapshots:
    """States (p, mu) of monoenergetic populations at chosen times (Fig. 8).

    Attributes
    ----------
    time : (n_t,) model times; ``b`` (n_t,) B/B0.
    p0_values : (n_g,) initial momenta of the populations (m_e c).
    group : (n,) population index of each particle.
    p, mu : (n_t, n) momentum (m_e c) and pitch cosine.
    """

    time: F64
    b: F64
    p0_values: F64
    group: NDArray[np.intp]
    p: F64
    mu: F64


def run_snapshots(model: FPModel, p0_values: Sequence[float], count: int = 2000,
                  times: ArrayLike | None = None, seed: int = 0) -> Snapshots:
    """Evolve isotropic monoenergetic populations and keep every particle's (p, mu).

    Parameters
    ----------
    model : FPModel
    p0_values : sequence of float
        Initial momenta (m_e c).
    count : int
        Particles per population.
    times : array_like, optional
        Model times (default: 4 evenly spaced including t = 0 and t_end).
    seed : int
        Seed of the initial pitch cosines.
    """
    ps = np.asarray(p0_values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    p0 = np.repeat(ps, count)
    mu0 = rng.uniform(-1.0, 1.0, p0.size)
    group = np.repeat(np.arange(ps.size), count)
    if times is None:
        times = np.linspace(0.0, model.t_end, 4)
    rec_t: list[float] = []
    rec_p: list[F64] = []
    rec_mu: list[F64] = []

    def cb(k: int, t: float, a: tuple[float, float, float], pa: F64, pe: F64) -> None:
        p = np.sqrt(pa * pa + pe * pe)
        rec_t.append(t)
        rec_p.append(p.copy())
        rec_mu.append(np.where(p > 0, pa / np.where(p > 0, p, 1.0), 0.0))

    simulate(model, p0, mu0, times, cb)
    tt = np.array(rec_t)
    return Snapshots(time=tt, b=model.b(tt), p0_values=ps, group=group,
                     p=np.array(rec_p), mu=np.array(rec_mu))


def plot_snapshots(axes: Sequence[Axes], snaps: Snapshots, model: FPModel, *,
                   max_points: int = 1500) -> None:
    """Fig. 8: (mu, p) of each population at each snapshot, scattering region in grey."""
    p_all = snaps.p[np.isfinite(snaps.p) & (snaps.p > 0)]
    p_lo, p_hi = float(p_all.min()) / 1.5, float(p_all.max()) * 1.5
    pg = np.geomspace(p_lo, p_hi, 300)
    mg = np.linspace(-1, 1, 201)
    rng = np.random.default_rng(0)
    for ax, k in zip(axes, range(snaps.time.size), strict=False):
        t = float(snaps.time[k])
        if t >= model.t_start and model.resonance != "none" and model.step > 0:
            mask = resonance_mask(model, pg[:, None], mg[None, :], t)
            ax.contourf(mg, pg, mask.astype(float), levels=[0.5, 1.5], colors=["0.85"])
        for g in range(snaps.p0_values.size):
            idx = np.flatnonzero(snaps.group == g)
            if idx.size > max_points:
                idx = rng.choice(idx, max_points, replace=False)
            col = plots.SPECIES_COLORS[g % len(plots.SPECIES_COLORS)]
            ax.scatter(snaps.mu[k, idx], snaps.p[k, idx], s=0.5, color=col, lw=0,
                       label=rf"$p_0={snaps.p0_values[g]:.3g}$", rasterized=True)
        ax.set_yscale("log")
        ax.set_ylim(p_lo, p_hi)
        ax.set_xlim(-1, 1)
        ax.set_xlabel(r"$\mu$")
        ax.set_title(f"t = {t:.4g}, B/B0 = {snaps.b[k]:.2f}", fontsize=7)
    axes[0].set_ylabel(r"$p/m_ec$")
    axes[0].text(0.02, 0.02, f"t in {model.time_unit}", transform=axes[0].transAxes,
                 fontsize=6, va="bottom")


def benchmark(count: int = 1_000_000, n_steps: int = 10_000, *,
              resonance: str = "everywhere", threads: int | None = None) -> dict[str, float]:
    """Time the numba kernel (compilation excluded) on a flat-ln-p sample.

    Reference compression a_y = a_z = (1 + t)^-1 to t = 1.41 (B/B0 = 5.8), scattering
    from t = 0 with delta = 0.02; "k_band" uses k_res > 1 with kappa = 1.

    Returns
    -------
    dict
        ``wall`` and ``cpu`` seconds, ``ns_per_particle_step`` (wall), ``threads``.
    """
    sf = ScaleFactors((AxisProfile(), AxisProfile("power", 1.0, 1.0),
                       AxisProfile("power", 1.0, 1.0)))
    model = FPModel(sf, 1.41, n_steps, step=0.02, resonance=resonance, k_min=1.0,
                    threads=threads)
    warm = replace(model, n_steps=64)
    p0, mu0 = isotropic_sample(1000, "flat_log_p", p_min=0.1, p_max=100.0)
    simulate(warm, p0, mu0, [warm.t_end], lambda *a: None)
    p0, mu0 = isotropic_sample(count, "flat_log_p", p_min=0.1, p_max=100.0)
    w0, c0 = _time.perf_counter(), _time.process_time()
    simulate(model, p0, mu0, [model.t_end], lambda *a: None)
    wall, cpu = _time.perf_counter() - w0, _time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "ns_per_particle_step": 1e9 * wall / (count * n_steps),
            "threads": float(threads or numba.get_num_threads()), "count": float(count),
            "n_steps": float(n_steps)}


# ------------------------------------------------------------------ configuration
@dataclass
class FPConfig:
    """A parsed Fokker-Planck configuration file.

    Attributes
    ----------
    name : str
        Configuration name (file stem unless ``[model] name``).
    model : FPModel
    sample : dict
        Keyword arguments of :func:`isotropic_sample` (``count``, ``kind``...).
    output : dict
        ``times``, ``detail_times``, ``p0_bins``, ``mu0_bins``, ``kernel_bins``,
        ``select``, ``snapshot_p``, ``snapshot_count``, ``snapshot_times``, ``index``,
        ``p_cut``, ``cycles``, ``energy``.
    source : str
    deck : str or None
    """

    name: str
    model: FPModel
    sample: dict[str, Any]
    output: dict[str, Any]
    source: str = ""
    deck: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


_MODEL_KEYS = {"name", "deck", "time_unit", "t_end", "n_steps", "t_start", "seed", "mass",
               "threads"}
_COMP_KEYS = {"profile", "tau_c", "axes", "exponent", "tau_x", "tau_y", "tau_z",
              "exponent_x", "exponent_y", "exponent_z", "t_halt"}
_SAMPLE_KEYS = {"kind", "count", "p_min", "p_max", "p", "index", "seed", "stratified"}
_SCAT_KEYS = {"resonance", "step", "k_min", "k_max", "k_unit", "kappa"}
_OUT_KEYS = {"times", "detail_times", "p0_bins", "mu0_bins", "kernel_bins", "select",
             "select_width", "snapshot_p", "snapshot_count", "snapshot_times", "index",
             "p_cut", "cycles", "energy"}


class ConfigError(ValueError):
    """An invalid Fokker-Planck configuration (the message lists every problem)."""


def _check_keys(table: dict[str, Any], allowed: set[str], where: str,
                problems: list[str]) -> None:
    for k in table:
        if k not in allowed:
            problems.append(f"{where}: unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")


def _number(table: dict[str, Any], key: str, where: str, problems: list[str],
            default: Any = None) -> Any:
    v = table.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        problems.append(f"{where} {key}: expected a number, got {v!r}")
        return default
    return float(v)


def _compression_from_table(comp: dict[str, Any], problems: list[str]) -> ScaleFactors:
    """ScaleFactors from a deck-style [compression] table with bare numbers."""
    where = "[compression]"
    _check_keys(comp, _COMP_KEYS, where, problems)
    profile = comp.get("profile", "none")
    if profile not in ("none", "power", "exponential"):
        problems.append(f"{where} profile: must be 'none', 'power' or 'exponential', "
                        f"got {profile!r}")
        return ScaleFactors()
    if profile == "none":
        return ScaleFactors()
    tau_c = _number(comp, "tau_c", where, problems)
    axes_list = comp.get("axes", ["y", "z"])
    if not isinstance(axes_list, list) or any(a not in ("x", "y", "z") for a in axes_list):
        problems.append(f"{where} axes: must be a list of 'x', 'y', 'z', got {axes_list!r}")
        axes_list = []
    exponent = _number(comp, "exponent", where, problems, 1.0)
    profs = []
    for ax in "xyz":
        tau = _number(comp, f"tau_{ax}", where, problems)
        if tau is None and ax in axes_list:
            tau = tau_c
        ex = _number(comp, f"exponent_{ax}", where, problems)
        if tau is None:
            profs.append(AxisProfile())
            continue
        if tau == 0:
            problems.append(f"{where} tau_{ax}: must be non-zero")
            profs.append(AxisProfile())
            continue
        profs.append(AxisProfile(profile, tau, exponent if ex is None else ex))
    if all(p.kind == "fixed" for p in profs):
        problems.append(f"{where} profile: needs tau_c (with axes) or tau_x/tau_y/tau_z")
    t_halt = _number(comp, "t_halt", where, problems)
    return ScaleFactors(tuple(profs), math.inf if t_halt is None else t_halt)  # type: ignore


def _k_value(raw: Any, key: str, problems: list[str], default: float) -> KFunc:
    if raw is None:
        return default
    if isinstance(raw, bool):
        problems.append(f"[scattering] {key}: expected a number or [[t, k], ...]")
        return default
    if isinstance(raw, (int, float)):
        return float(raw)
    try:
        return table_function(raw)
    except (ValueError, TypeError) as err:
        problems.append(f"[scattering] {key}: {err}")
        return default


def _output_options(out: dict[str, Any]) -> dict[str, Any]:
    """The [output] options with their defaults."""
    return {"times": out.get("times", 40), "detail_times": out.get("detail_times"),
            "p0_bins": int(out.get("p0_bins", 60)), "mu0_bins": int(out.get("mu0_bins", 8)),
            "kernel_bins": int(out.get("kernel_bins", 300)), "select": out.get("select"),
            "select_width": float(out.get("select_width", 0.02)),
            "snapshot_p": out.get("snapshot_p"),
            "snapshot_count": int(out.get("snapshot_count", 2000)),
            "snapshot_times": out.get("snapshot_times"),
            "index": float(out.get("index", 3.0)), "p_cut": out.get("p_cut"),
            "cycles": int(out.get("cycles", 4)), "energy": out.get("energy", "total")}


def parse_config(text: str, *, base_dir: str | os.PathLike[str] = ".",
                 name: str = "fokker_planck", source: str = "config") -> FPConfig:
    """Parse a Fokker-Planck TOML configuration (see the module docstring).

    Parameters
    ----------
    text : str
        TOML text.
    base_dir : path-like
        Directory against which a relative ``deck`` path is resolved (then the current
        directory).
    name : str
        Default configuration name.
    source : str
        Name used in error messages.

    Raises
    ------
    ConfigError
        Listing every problem found.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None
    problems: list[str] = []
    for sec in raw:
        if sec not in ("model", "compression", "sample", "scattering", "output"):
            problems.append(f"unknown section [{sec}] (allowed: model, compression, sample, "
                            "scattering, output)")
    mod = raw.get("model", {})
    _check_keys(mod, _MODEL_KEYS, "[model]", problems)
    time_unit = str(mod.get("time_unit", "Omega_i0" if "deck" in mod else "tau_c"))
    deck_path = None
    cfg = None
    if "deck" in mod:
        cand = [Path(base_dir) / mod["deck"], Path(mod["deck"])]
        found = [c for c in cand if c.exists()]
        if not found:
            problems.append(f"[model] deck: {mod['deck']!r} not found (relative to "
                            f"{base_dir} or the current directory)")
        else:
            deck_path = str(found[0])
            from pic1d.deck import DeckError, load_deck

            try:
                cfg = load_deck(deck_path)
            except DeckError as err:
                problems.append(f"[model] deck: {err}")
        if "compression" in raw:
            problems.append("[compression] cannot be combined with [model] deck (the deck's "
                            "[compression] is used)")
    scat = raw.get("scattering", {})
    _check_keys(scat, _SCAT_KEYS, "[scattering]", problems)
    kappa = _number(scat, "kappa", "[scattering]", problems)
    k_unit = scat.get("k_unit")
    sf = ScaleFactors()
    unit = 1.0
    t_end_default = None
    if cfg is not None:
        try:
            unit = _deck_time_unit(cfg, time_unit)
        except ValueError as err:
            problems.append(f"[model] time_unit: {err}")
        sf = _rescale(cfg.compression.scale_factors, unit)
        t_end_default = cfg.run.duration / unit
        if kappa is None:
            try:
                kappa = _deck_kappa(cfg, k_unit or "rho_i0")
            except ValueError as err:
                problems.append(f"[scattering] k_unit: {err}")
    elif "deck" not in mod:
        sf = _compression_from_table(raw.get("compression", {}), problems)
        if k_unit is not None:
            problems.append("[scattering] k_unit needs [model] deck; give kappa instead")
    t_end = _number(mod, "t_end", "[model]", problems, t_end_default)
    if t_end is None:
        problems.append("[model] t_end: required without a deck")
    n_steps = mod.get("n_steps", 10000)
    if not isinstance(n_steps, int) or isinstance(n_steps, bool) or n_steps < 1:
        problems.append(f"[model] n_steps: expected an integer >= 1, got {n_steps!r}")
        n_steps = 1
    resonance = scat.get("resonance", "everywhere")
    if resonance not in RESONANCES:
        problems.append(f"[scattering] resonance: must be one of {RESONANCES}, got "
                        f"{resonance!r}")
    if resonance == "k_band" and kappa is None:
        problems.append("[scattering] kappa: needed for 'k_band' without a deck")
    k_min = _k_value(scat.get("k_min"), "k_min", problems, 0.0)
    k_max = _k_value(scat.get("k_max"), "k_max", problems, math.inf)
    samp = raw.get("sample", {})
    _check_keys(samp, _SAMPLE_KEYS, "[sample]", problems)
    sample = {"count": int(samp.get("count", 100_000)),
              "kind": samp.get("kind", "flat_log_p"),
              "p_min": samp.get("p_min"), "p_max": samp.get("p_max"), "p": samp.get("p"),
              "index": samp.get("index"), "seed": int(samp.get("seed", 0)),
              "stratified": bool(samp.get("stratified", False))}
    if sample["kind"] not in SAMPLES:
        problems.append(f"[sample] kind: must be one of {SAMPLES}, got {sample['kind']!r}")
    out = raw.get("output", {})
    _check_keys(out, _OUT_KEYS, "[output]", problems)
    output = _output_options(out)
    if problems:
        raise ConfigError(f"{source}:\n  " + "\n  ".join(problems))
    try:
        model = FPModel(
            scale_factors=sf, t_end=float(t_end), n_steps=int(n_steps),
            t_start=float(mod.get("t_start", 0.0)),
            step=float(scat.get("step", 0.0)), resonance=resonance, k_min=k_min,
            k_max=k_max, kappa=1.0 if kappa is None else float(kappa),
            seed=int(mod.get("seed", 0)), mass=float(mod.get("mass", 1.0)),
            time_unit=time_unit, threads=mod.get("threads"))
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    return FPConfig(name=str(mod.get("name", name)), model=model, sample=sample,
                    output=output, source=source, deck=deck_path, raw=raw)


def load_config(path: str | os.PathLike[str]) -> FPConfig:
    """Read a configuration file: a Fokker-Planck TOML, or a pic1d deck.

    A pic1d deck (it has a ``[run]`` section) gives a model with the deck's compression
    and duration, time unit 1/Omega_i0, flat-ln-p sample over the deck's first tracer
    species range (default 0.1-100 m_e c), scattering everywhere from t = 0 with a step
    of 0.02 (override in a configuration of its own).
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    if "run" in raw:
        from pic1d.deck import load_deck

        cfg = load_deck(p)
        tr = [s for s in cfg.species if s.tracer]
        lo = tr[0].p_min if tr and tr[0].p_min else 0.1
        hi = tr[0].p_max if tr and tr[0].p_max else 100.0
        model = FPModel.from_deck(cfg, time_unit="Omega_i0", n_steps=10000, step=0.02)
        return FPConfig(name=p.stem, model=model,
                        sample={"count": 100_000, "kind": "flat_log_p", "p_min": lo,
                                "p_max": hi, "p": None, "index": None, "seed": 0,
                                "stratified": False},
                        output=_output_options({}), source=str(p),
                        deck=str(p))
    return parse_config(text, base_dir=p.parent, name=p.stem, source=str(p))


def run_config(config: FPConfig, *, count: int | None = None,
               n_steps: int | None = None) -> pm.PumpingResult:
    """Run the model of a configuration (optionally overriding count and steps)."""
    model = config.model if n_steps is None else replace(config.model, n_steps=n_steps)
    s = dict(config.sample)
    if count is not None:
        s["count"] = count
    p0, mu0 = isotropic_sample(**s)
    o = config.output
    select = None
    if o["select"]:
        w = o["select_width"]
        select = [(p * (1 - w), p * (1 + w)) for p in o["select"]]
    return run_model(model, p0, mu0, times=o["times"], detail_times=o["detail_times"],
                     n_p0=o["p0_bins"], n_mu0=o["mu0_bins"], n_kernel=o["kernel_bins"],
                     select=select, energy=o["energy"])


# ------------------------------------------------------------------ figures and CLI
def make_figures(
    configs: Sequence[str | os.PathLike[str] | FPConfig],
    *,
    out: str | os.PathLike[str] | None = None,
    pdf: bool = False,
    count: int | None = None,
    n_steps: int | None = None,
    compare_run: str | os.PathLike[str] | None = None,
    snapshots: bool = True,
) -> dict[str, Any]:
    """Run each configuration and write its figures (Figs. 4, 5, 7, 8 style).

    Per configuration ``<name>``: ``fp_<name>_gain``, ``fp_<name>_gain_mu0``,
    ``fp_<name>_distributions``, ``fp_<name>_green`` (as :func:`pumping.write_figures`)
    and ``fp_<name>_snapshots`` (Fig. 8, if ``snapshot_p`` is configured); for several
    configurations (or with ``compare_run``) ``fp_gain_panels``: the Delta E/E maps side
    by side on a common colour scale (Fig. 7), the PIC run's map first.

    Parameters
    ----------
    configs : sequence of path-like or FPConfig
    out : path-like, optional
        Output directory (default ``runs/fokker_planck``).
    count, n_steps : int, optional
        Override the sample size and steps of every configuration.
    compare_run : path-like, optional
        A PIC run whose tracer dumps are analysed by :func:`pumping.analyse_run`.
    snapshots : bool
        Also run the Fig.-8 populations.

    Returns
    -------
    dict
        ``results`` (name -> PumpingResult), ``snapshots`` (name -> Snapshots),
        ``paths``.
    """
    out_dir = Path(out) if out is not None else Path("runs") / "fokker_planck"
    results: dict[str, pm.PumpingResult] = {}
    snaps: dict[str, Snapshots] = {}
    paths: list[Path] = []
    cfgs = [c if isinstance(c, FPConfig) else load_config(c) for c in configs]
    for cfg in cfgs:
        w0 = _time.perf_counter()
        res = run_config(cfg, count=count, n_steps=n_steps)
        log.info("%s: %.1f s", cfg.name, _time.perf_counter() - w0)
        results[cfg.name] = res
        o = cfg.output
        pc = o["p_cut"] if o["p_cut"] is not None else 3.0 * float(res.p0_edges[0])
        figs = pm.write_figures(res, out_dir, prefix=f"fp_{cfg.name}",
                                f0=pm.cutoff_power_law(o["index"], pc), cycles=o["cycles"],
                                pdf=pdf, title=cfg.name)
        paths += figs["paths"]
        if snapshots and o["snapshot_p"]:
            model = cfg.model if n_steps is None else replace(cfg.model, n_steps=n_steps)
            sn = run_snapshots(model, o["snapshot_p"], o["snapshot_count"],
                               o["snapshot_times"])
            snaps[cfg.name] = sn
            with plots.style():
                n = sn.time.size
                fig, axes = plots.figure(1, n, width=min(plots.PAGE_WIDTH, 1.9 * n + 0.4),
                                         height=2.3, squeeze=False, sharey=True)
                plot_snapshots(list(axes[0]), sn, model)
                axes[0, 0].legend(loc="lower left", fontsize=6, markerscale=6)
                plots.label_panels(axes[0])
                paths += plots.save_figure(fig, out_dir, f"fp_{cfg.name}_snapshots", pdf=pdf)
    panels: list[tuple[str, pm.PumpingResult]] = []
    if compare_run is not None:
        panels.append(("PIC", pm.analyse_run(compare_run, nonadiabatic=False)))
    panels += list(results.items())
    if len(panels) > 1:
        paths += _figure_panels(panels, out_dir, pdf)
    for p in paths:
        log.info("wrote %s", p)
    return {"results": results, "snapshots": snaps, "paths": paths}


def _figure_panels(panels: Sequence[tuple[str, pm.PumpingResult]], out: Path,
                   pdf: bool) -> list[Path]:
    """Fig. 7: Delta E/E(p0, t) maps side by side, one colour scale."""
    vals = np.concatenate([np.abs(r.gain[np.isfinite(r.gain)]).ravel() for _, r in panels])
    vmax = 100.0 * float(vals.max()) if vals.size and vals.max() > 0 else 1.0
    n = len(panels)
    with plots.style():
        fig, axes = plots.figure(1, n, width=min(plots.PAGE_WIDTH, 2.0 * n + 0.8),
                                 height=2.6, squeeze=False)
        mesh = None
        for ax, (name, r) in zip(axes[0], panels, strict=True):
            mesh = pm.plot_gain_map(ax, r.p0_edges, r.time, r.gain, vmax=vmax,
                                    time_unit=r.time_unit, colorbar=False)
            ax.set_title(name, fontsize=7)
        plots.label_panels(axes[0])
        if mesh is not None:
            plots.add_colorbar(axes[0, -1], mesh, pm.GAIN_LABEL)
        return plots.save_figure(fig, out, "fp_gain_panels", pdf=pdf)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m postprocess.fokker_planck -h``)."""
    ap = argparse.ArgumentParser(
        prog="python -m postprocess.fokker_planck",
        description="Monte Carlo Fokker-Planck model of magnetic pumping (PHYSICS.md 4.6): "
                    "compression + random-walk pitch-angle scattering in a resonance "
                    "region; writes the Delta E/E maps, distributions, Green's-function "
                    "and snapshot figures.")
    ap.add_argument("config", nargs="*", help="F-P configuration TOML(s) or pic1d deck(s)")
    ap.add_argument("--count", type=int, help="override the number of particles")
    ap.add_argument("--steps", type=int, help="override the number of steps")
    ap.add_argument("--compare", metavar="RUN", help="PIC run to show side by side")
    ap.add_argument("--no-snapshots", action="store_true", help="skip the Fig.-8 runs")
    ap.add_argument("--benchmark", type=int, nargs=2, metavar=("COUNT", "STEPS"),
                    help="time the kernel (scattering everywhere) and exit")
    ap.add_argument("--threads", type=int, help="numba threads (benchmark)")
    ap.add_argument("--out", help="output directory (default runs/fokker_planck)")
    ap.add_argument("--pdf", action="store_true", help="also write PDF")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.benchmark:
        r = benchmark(args.benchmark[0], args.benchmark[1], threads=args.threads)
        print(f"{int(r['count'])} particles x {int(r['n_steps'])} steps, "
              f"{int(r['threads'])} threads: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s "
              f"({r['ns_per_particle_step']:.2f} ns per particle-step)")
        return 0
    if not args.config:
        ap.error("give at least one CONFIG (or --benchmark COUNT STEPS)")
    try:
        res = make_figures(args.config, out=args.out, pdf=args.pdf, count=args.count,
                           n_steps=args.steps, compare_run=args.compare,
                           snapshots=not args.no_snapshots)
    except ConfigError as err:
        print(err)
        return 2
    for name, r in res["results"].items():
        g = np.where(np.isfinite(r.gain[-1]), r.gain[-1], -np.inf)
        i = int(np.argmax(g))
        print(f"{name}: t = {r.time[-1]:.4g} ({r.time_unit}), B/B0 = {r.b[-1]:.3f}, "
              f"mean Delta E/E = {100 * r.gain_all[-1]:.2f} %, max {100 * g[i]:.2f} % at "
              f"p0 = {r.p0_centres[i]:.3g} m_e c")
    for p in res["paths"]:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
