"""Tracer analysis: readers of ``insitu.h5`` and of the raw dumps ``tracers/data%06d.h5``,
and D_mumu, D_pp, the compress-revert gain, the Green's function and the adiabatic /
non-adiabatic energy budget from them (PHYSICS.md 3, 4.3-4.5; formats in docs/outputs.md,
"Tracers").

Both sources give the same :class:`InsituSums` (binned sums per output row), so every
derived quantity is computed the same way:

>>> from postprocess.tracers import read_insitu, insitu_from_dumps
>>> s = read_insitu("runs/fiducial", "cre_flat_p")                     # doctest: +SKIP
>>> D = s.d_mumu(rows=slice(10, 20), drift_corrected=True)  # (n_p, n_mu)  # doctest: +SKIP
>>> g = s.gain()[-1]                 # <E_rev - E0>/<E0> per p0 bin, last row  # doctest: +SKIP
>>> r = insitu_from_dumps("runs/test", like=s)    # the same sums from raw dumps  # doctest: +SKIP

Definitions (per tracer, mass m in m_e, u = gamma v/c at t_n - dt/2): p = m |u| (m_e c),
mu = u_x/|u|, E = m sqrt(1 + |u|^2) (m_e c^2); E0, p0, mu0 from the initial u0; revert
u_rev,k = u_k a_k(t_n - dt/2)/a_k(-dt/2); binned with numpy's histogram convention
(last bin closed). Only numpy and h5py are needed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from postprocess.io import _decode, _is_row_dataset, _n_rows, _open_h5

__all__ = [
    "Dump",
    "InsituSums",
    "bin_index",
    "dump_steps",
    "green_response",
    "insitu_from_dumps",
    "read_dump",
    "read_insitu",
    "tracer_history",
]

#: defaults of the in-situ bins (deck [output.insitu] and pic1d.diagnostics.tracers)
P_BINS, MU_BINS, P0_BINS, MU0_BINS, REV_MARGIN = 50, 140, 300, 20, 2.0


def bin_index(v, edges) -> np.ndarray:
    """Bin of each value (numpy histogram convention: last bin closed; -1 outside/NaN)."""
    v = np.asarray(v, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    n = e.size - 1
    i = np.searchsorted(e, v, side="right") - 1
    i = np.where(v == e[-1], n - 1, i)
    return np.where((v >= e[0]) & (v <= e[-1]), i, -1)


def _hist(index: np.ndarray, valid: np.ndarray, size: int, weights=None) -> np.ndarray:
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[valid]
    return np.bincount(index[valid], weights=w, minlength=size).astype(np.float64)[:size]


# --------------------------------------------------------------------------- sums
@dataclass
class InsituSums:
    """Binned tracer sums of one species, one entry per output row (axis 0).

    Shapes: ``n_t`` rows; D bins ``(n_p, n_mu)``; gain bins ``n_p0`` and
    ``(n_p0, n_mu0)``; Green's histogram ``(n_p0, n_rev)`` with ``n_rev = n_p0 + 2 ext``
    (p_rev = p0 lies in column ``i + ext`` of row ``i``). Energies m_e c^2, momenta m_e c,
    times 1/omega_pe0. Row k's D sums are over the interval ending at ``step[k]``
    (length ``dt_interval[k]``; the first row has none).
    """

    species: str
    mass: float
    step: np.ndarray
    time: np.ndarray
    dt_interval: np.ndarray
    a_u: np.ndarray
    p_edges: np.ndarray
    mu_edges: np.ndarray
    p0_edges: np.ndarray
    mu0_edges: np.ndarray
    prev_edges: np.ndarray
    ext: int
    dmumu_count: np.ndarray
    dmu_sum: np.ndarray
    dmu2_sum: np.ndarray
    dp_sum: np.ndarray
    dp2_sum: np.ndarray
    gain_count: np.ndarray
    gain_dE: np.ndarray
    gain_E0: np.ndarray
    gain_mu0_count: np.ndarray
    gain_mu0_dE: np.ndarray
    gain_mu0_E0: np.ndarray
    green: np.ndarray
    nonad: np.ndarray
    dE: np.ndarray
    outside: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ axes
    @property
    def p_centers(self) -> np.ndarray:
        """Geometric centres of the D p bins (m_e c)."""
        return np.sqrt(self.p_edges[1:] * self.p_edges[:-1])

    @property
    def mu_centers(self) -> np.ndarray:
        return 0.5 * (self.mu_edges[1:] + self.mu_edges[:-1])

    @property
    def p0_centers(self) -> np.ndarray:
        return np.sqrt(self.p0_edges[1:] * self.p0_edges[:-1])

    @property
    def mu0_centers(self) -> np.ndarray:
        return 0.5 * (self.mu0_edges[1:] + self.mu0_edges[:-1])

    @property
    def prev_centers(self) -> np.ndarray:
        return np.sqrt(self.prev_edges[1:] * self.prev_edges[:-1])

    # ------------------------------------------------------------- diffusion
    def _diffusion(self, s1, s2, rows, drift_corrected, merge_p):
        n, s1, s2 = self.dmumu_count.astype(np.float64), s1, s2
        if drift_corrected:  # per row and bin: sum (Delta - <Delta>)^2
            s2 = s2 - np.where(n > 0, s1 * s1 / np.where(n > 0, n, 1.0), 0.0)
        den = 2.0 * n * self.dt_interval[:, None, None]
        if merge_p is not None and merge_p is not False:
            sel = slice(None) if merge_p is True else merge_p
            s2 = s2[:, sel].sum(axis=1)
            den = den[:, sel].sum(axis=1)
        if rows is not None:
            idx = np.arange(self.step.size)[rows]
            s2 = s2[idx].sum(axis=0) if np.ndim(idx) else s2[idx]
            den = den[idx].sum(axis=0) if np.ndim(idx) else den[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, s2 / np.where(den > 0, den, 1.0), np.nan)

    def d_mumu(self, rows=None, drift_corrected: bool = False, merge_p=None) -> np.ndarray:
        """D_mumu = <(Delta mu)^2> / (2 Delta t) in (p, mu) bins at the interval start.

        Parameters
        ----------
        rows : int, slice or index array, optional
            None: one value per row, shape (n_t, n_p, n_mu) (NaN where empty). Several
            rows: merged, sum (Delta mu)^2 / sum (2 Delta t N) over them.
        drift_corrected : bool
            Use (Delta mu - <Delta mu>_bin,row)^2: removes deterministic drifts
            (adiabatic focusing, bulk transport) within each row and bin.
        merge_p : True, slice or index array, optional
            Merge these p bins (True: all), dropping the p axis.

        Returns
        -------
        numpy.ndarray
            omega_pe0 units (1/time).
        """
        return self._diffusion(self.dmu_sum, self.dmu2_sum, rows, drift_corrected, merge_p)

    def d_pp(self, rows=None, drift_corrected: bool = False, merge_p=None) -> np.ndarray:
        """D_pp = <(Delta p)^2> / (2 Delta t) ((m_e c)^2 omega_pe0); see :meth:`d_mumu`."""
        return self._diffusion(self.dp_sum, self.dp2_sum, rows, drift_corrected, merge_p)

    # ------------------------------------------------------------------ gains
    def gain(self) -> np.ndarray:
        """<E_rev - E0>/<E0> per p0 bin, shape (n_t, n_p0) (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.gain_count > 0, self.gain_dE / self.gain_E0, np.nan)

    def gain_mu0(self) -> np.ndarray:
        """<E_rev - E0>/<E0> per (p0, mu0) bin, shape (n_t, n_p0, n_mu0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.gain_mu0_count > 0, self.gain_mu0_dE / self.gain_mu0_E0,
                            np.nan)  # fmt: skip

    def gain_total(self, bins=None) -> np.ndarray:
        """sum(E_rev - E0)/sum(E0) over the tracers of the p0 bins ``bins`` (all), (n_t,).

        Re-weight to another spectrum with :func:`postprocess.reweight.weighted_gain`.
        """
        sel = slice(None) if bins is None else bins
        return self.gain_dE[:, sel].sum(axis=1) / self.gain_E0[:, sel].sum(axis=1)

    def green_kernel(self, row: int = -1) -> np.ndarray:
        """G[i, j]: fraction of the tracers of p0 bin i whose p_rev is in bin j (row sums
        are 1 minus the fraction outside the p_rev range), shape (n_p0, n_rev)."""
        h = self.green[row].astype(np.float64)
        n = self.gain_count[row].astype(np.float64)
        return h / np.where(n > 0, n, 1.0)[:, None]

    # ------------------------------------------------------------ energy budget
    def energy_budget(self) -> dict[str, np.ndarray]:
        """Per p0 bin and row, relative to <E0>: ``total`` = <E - E0>/<E0>,
        ``nonadiabatic`` = <e_nonad>/<E0>, ``adiabatic`` = total - nonadiabatic."""
        with np.errstate(invalid="ignore", divide="ignore"):
            e0 = np.where(self.gain_count > 0, self.gain_E0, np.nan)
            tot = self.dE / e0
            na = self.nonad / e0
        return {"total": tot, "nonadiabatic": na, "adiabatic": tot - na}


# ------------------------------------------------------------------- insitu.h5
def _insitu_path(path) -> Path:
    p = Path(path)
    return p / "insitu.h5" if p.is_dir() else p


def read_insitu(path: str | os.PathLike[str], species: str | None = None) -> InsituSums:
    """Read the complete rows (``n_rows``) of ``insitu.h5`` for one tracer species.

    Parameters
    ----------
    path : path-like
        Run directory or the insitu.h5 file.
    species : str, optional
        Tracer species (may be omitted if the file holds only one).
    """
    with _open_h5(_insitu_path(path)) as f:
        attrs = {k: _decode(v) for k, v in f.attrs.items()}
        names = attrs["tracer_species"]
        names = [names] if isinstance(names, str) else list(names)
        if species is None:
            if len(names) != 1:
                raise ValueError(f"several tracer species {names}: pass species=")
            species = names[0]
        if species not in names:
            raise KeyError(f"no tracer species {species!r} in {path}: {names}")
        n = _n_rows(f)

        def rows(name: str) -> np.ndarray:
            d = f[name]
            data = d[:n] if _is_row_dataset(d) else d[()]
            shape = d.attrs.get("shape")
            if shape is not None and len(shape):
                data = data.reshape((data.shape[0], *[int(s) for s in shape]))
            return data

        s = species
        a_u = np.stack([rows(f"a_u_{ax}") for ax in "xyz"], axis=1)
        out = InsituSums(
            species=s, mass=float(attrs[f"mass_{s}"]), step=rows("step"), time=rows("time"),
            dt_interval=rows("dt_interval"), a_u=a_u,
            p_edges=f[f"p_edges_{s}"][()], mu_edges=f[f"mu_edges_{s}"][()],
            p0_edges=f[f"p0_edges_{s}"][()], mu0_edges=f[f"mu0_edges_{s}"][()],
            prev_edges=f[f"prev_edges_{s}"][()], ext=int(attrs[f"prev_ext_{s}"]),
            dmumu_count=rows(f"dmumu_count_{s}"), dmu_sum=rows(f"dmu_sum_{s}"),
            dmu2_sum=rows(f"dmu2_sum_{s}"), dp_sum=rows(f"dp_sum_{s}"),
            dp2_sum=rows(f"dp2_sum_{s}"), gain_count=rows(f"gain_count_{s}"),
            gain_dE=rows(f"gain_dE_{s}"), gain_E0=rows(f"gain_E0_{s}"),
            gain_mu0_count=rows(f"gain_mu0_count_{s}"), gain_mu0_dE=rows(f"gain_mu0_dE_{s}"),
            gain_mu0_E0=rows(f"gain_mu0_E0_{s}"), green=rows(f"green_{s}"),
            nonad=rows(f"nonad_{s}"), dE=rows(f"dE_{s}"),
            outside={k: rows(f"{k}_outside_{s}") for k in ("dmumu", "green", "p0")},
            attrs=attrs,
        )  # fmt: skip
    return out


# ------------------------------------------------------------------- raw dumps
@dataclass
class Dump:
    """One tracer species in one raw dump.

    Attributes
    ----------
    step : int
    time : float
        t_n (1/omega_pe0); the momenta are at t_n - dt/2.
    ids : ndarray of uint64
    x : ndarray
        Positions (d_e0, co-moving).
    u : ndarray, shape (n, 3), float64
        u = gamma v / c.
    mass : float
        m_e.
    a_u, a_u0 : ndarray (3,)
        a_k(t_n - dt/2) and a_k(-dt/2) (NaN if the file predates these attributes).
    attrs : dict
        Species-group attributes.
    """

    step: int
    time: float
    ids: np.ndarray
    x: np.ndarray
    u: np.ndarray
    mass: float
    a_u: np.ndarray
    a_u0: np.ndarray
    attrs: dict


def _tracer_dir(run) -> Path:
    p = Path(run)
    return p / "tracers" if (p / "tracers").is_dir() else p


def dump_steps(run: str | os.PathLike[str]) -> list[int]:
    """Steps with a complete raw tracer dump (``RUN/tracers/data%06d.h5``)."""
    import re

    pat = re.compile(r"^data(\d+)\.h5$")
    d = _tracer_dir(run)
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for e in d.iterdir() if (m := pat.match(e.name)))


def _species_group(f, step: int, species: str | None):
    group = f[f"data/{step}/{_decode(f.attrs['particlesPath'])}"]
    names = list(group)
    if species is None:
        if len(names) != 1:
            raise ValueError(f"several species {names}: pass species=")
        species = names[0]
    return group[species], species


def read_dump(run: str | os.PathLike[str], step: int, species: str | None = None) -> Dump:
    """Read one species of the raw tracer dump at ``step``."""
    path = _tracer_dir(run) / f"data{step:06d}.h5"
    with _open_h5(path) as f:
        it = f[f"data/{step}"]
        sp, name = _species_group(f, step, species)
        u = np.stack([sp[f"momentum/{c}"][()].astype(np.float64) for c in "xyz"], axis=1)
        x = sp["position/x"][()]
        mass = float(sp["mass"].attrs["value"])
        a_u = np.array([it.attrs.get(f"a_u_{c}", np.nan) for c in "xyz"], dtype=np.float64)
        a_u0 = np.array([it.attrs.get(f"a_u0_{c}", np.nan) for c in "xyz"], dtype=np.float64)
        return Dump(step=int(step), time=float(it.attrs["time"]), ids=sp["id"][()], x=x, u=u,
                    mass=mass, a_u=a_u, a_u0=a_u0,
                    attrs={k: _decode(v) for k, v in sp.attrs.items()})  # fmt: skip


def tracer_history(run: str | os.PathLike[str], ids, species: str | None = None,
                   steps=None) -> dict[str, np.ndarray]:
    """Trajectories of a few tracers from the raw dumps, reading only their elements.

    Dumps are sorted by id and hold the same tracers, so the index of an id found in the
    first file is checked (one element) and reused in every file; if the check fails the
    file's id record is searched.

    Returns
    -------
    dict
        ``step`` (n_t,), ``time`` (n_t,), ``x`` (n_t, k) d_e0, ``u`` (n_t, k, 3); rows of
        tracers missing from a dump are NaN.
    """
    want = np.asarray(ids, dtype=np.uint64)
    steps = dump_steps(run) if steps is None else list(steps)
    xs = np.full((len(steps), want.size), np.nan)
    us = np.full((len(steps), want.size, 3), np.nan)
    times = np.zeros(len(steps))
    index = None
    for k, step in enumerate(steps):
        with _open_h5(_tracer_dir(run) / f"data{step:06d}.h5") as f:
            times[k] = float(f[f"data/{step}"].attrs["time"])
            sp, species = _species_group(f, step, species)
            idd = sp["id"]
            ok = (index is not None and want.size > 0 and bool(np.all(index >= 0))
                  and bool(np.all(index < idd.shape[0])))  # fmt: skip
            if ok:  # one element per wanted tracer (sorted, unique for h5py)
                uniq, inv = np.unique(index, return_inverse=True)
                ok = np.array_equal(idd[uniq][inv], want)
            if not ok:
                all_ids = idd[()]
                pos = np.minimum(np.searchsorted(all_ids, want), max(all_ids.size - 1, 0))
                found = (all_ids[pos] == want) if all_ids.size else np.zeros(want.size, bool)
                index = np.where(found, pos, -1)
            valid = index >= 0
            if not valid.any():
                continue
            uniq, inv = np.unique(index[valid], return_inverse=True)
            xs[k, valid] = sp["position/x"][uniq][inv]
            for c, comp in enumerate("xyz"):
                us[k, valid, c] = sp[f"momentum/{comp}"][uniq][inv]
    return {"step": np.asarray(steps), "time": times, "x": xs, "u": us}


def insitu_from_dumps(run: str | os.PathLike[str], species: str | None = None,
                      like: InsituSums | None = None, p_bins: int = P_BINS,
                      mu_bins: int = MU_BINS, p0_bins: int = P0_BINS,
                      mu0_bins: int = MU0_BINS, rev_ratio: float | None = None,
                      revert: str = "components", steps=None,
                      u0: np.ndarray | None = None) -> InsituSums:
    """The in-situ sums recomputed from raw dumps (intervals = consecutive dumps).

    Parameters
    ----------
    run : path-like
        Run directory (or its ``tracers`` directory).
    species : str, optional
    like : InsituSums, optional
        Copy the bin edges (and revert mode) of this object, e.g. ``read_insitu(run)``:
        with dumps at the in-situ cadence, in float64 and without subsampling, the
        result agrees with insitu.h5 to round-off.
    p_bins, mu_bins, p0_bins, mu0_bins, rev_ratio : optional
        Bins when ``like`` is None: log p and p0 over the species' [p_min, p_max], mu and
        mu0 over [-1, 1], p_rev over p0 * [1/rev_ratio, rev_ratio] (default 2 * the
        largest a_k ratio seen in the dumps).
    revert : {"components", "gyrotropic"}
        As the in-situ diagnostic (ignored with ``like``).
    steps : sequence of int, optional
        Dumps to use (default all); the first one is the start of the first interval.
    u0 : ndarray (n, 3), optional
        Initial momenta in id order; default: the dump at step 0 (must exist).

    Notes
    -----
    Tracers are matched by id (the dumps must hold the same tracers). The non-adiabatic
    integral is updated at the dump cadence.
    """
    steps = dump_steps(run) if steps is None else list(steps)
    if not steps:
        raise FileNotFoundError(f"no tracer dumps in {run}")
    dumps = [read_dump(run, s, species) for s in steps]
    first = dumps[0]
    for d in dumps[1:]:
        if not np.array_equal(d.ids, first.ids):
            raise ValueError(f"dump {d.step} holds other tracers than dump {first.step}")
    if u0 is None:
        if first.step != 0:
            u0 = read_dump(run, 0, species).u
        else:
            u0 = first.u
    m = first.mass
    name = species or _species_group_name(run, first.step)
    if like is not None:
        edges = (like.p_edges, like.mu_edges, like.p0_edges, like.mu0_edges, like.prev_edges)
        ext = like.ext
        revert = like.attrs.get("revert", "components")
    else:
        pmin, pmax = float(first.attrs["pic1d_p_min"]), float(first.attrs["pic1d_p_max"])
        p0e = np.geomspace(pmin, pmax, p0_bins + 1)
        if rev_ratio is None:
            a = np.array([d.a_u for d in dumps] + [first.a_u0])
            rev_ratio = REV_MARGIN * float(np.max(a.max(axis=0) / a.min(axis=0)))
        prev, ext = _rev_edges(p0e, rev_ratio)
        edges = (np.geomspace(pmin, pmax, p_bins + 1), np.linspace(-1, 1, mu_bins + 1), p0e,
                 np.linspace(-1, 1, mu0_bins + 1), prev)  # fmt: skip
    pe, me, p0e, m0e, pre = edges
    n_p, n_mu, n_p0, n_mu0, n_rev = (e.size - 1 for e in edges)

    def factors(f):
        f = np.array(f, dtype=np.float64)
        if revert == "gyrotropic":
            f[1] = f[2] = math.sqrt(f[1] * f[2])
        return f

    def kin(u):
        u2 = u[:, 0] * u[:, 0] + u[:, 1] * u[:, 1] + u[:, 2] * u[:, 2]
        mag = np.sqrt(u2)
        mu = np.where(mag > 0, u[:, 0] / np.where(mag > 0, mag, 1.0), 0.0)
        return m * mag, mu, m * np.sqrt(1.0 + u2)

    p0, mu0, e0 = kin(u0)
    j0 = bin_index(p0, p0e)
    k0 = bin_index(mu0, m0e)
    ok0 = j0 >= 0
    okm0 = ok0 & (k0 >= 0)
    jm0 = np.where(okm0, j0 * n_mu0 + k0, 0)
    nt = len(dumps)
    z = lambda *s: np.zeros((nt, *s))  # noqa: E731
    out = {k: z(n_p, n_mu) for k in ("cnt", "mu1", "mu2", "p1", "p2")}
    out.update({k: z(n_p0) for k in ("g_cnt", "g_dE", "g_E0", "na", "dE")})
    out.update({k: z(n_p0, n_mu0) for k in ("gm_cnt", "gm_dE", "gm_E0")})
    green = z(n_p0, n_rev)
    outside = {k: np.zeros(nt, np.int64) for k in ("dmumu", "green", "p0")}
    e_nonad = np.zeros(u0.shape[0])
    dt_interval = np.zeros(nt)
    a_us = np.array([d.a_u for d in dumps])
    for t, d in enumerate(dumps):
        p, mu, e = kin(d.u)
        if t > 0:
            prev = dumps[t - 1]
            dt_interval[t] = d.time - prev.time
            ps, mus, _ = kin(prev.u)
            jp, jm = bin_index(ps, pe), bin_index(mus, me)
            ok = (jp >= 0) & (jm >= 0)
            outside["dmumu"][t] = int((~ok).sum())
            flat = np.where(ok, jp * n_mu + jm, 0)
            dmu, dp = mu - mus, p - ps
            for key, w in (("cnt", None), ("mu1", dmu), ("mu2", dmu * dmu), ("p1", dp),
                           ("p2", dp * dp)):  # fmt: skip
                out[key][t] = _hist(flat, ok, n_p * n_mu, w).reshape(n_p, n_mu)
            ad = factors(prev.a_u / d.a_u)
            ua = prev.u * ad
            e_nonad += e - m * np.sqrt(1.0 + (ua[:, 0] * ua[:, 0] + ua[:, 1] * ua[:, 1]
                                              + ua[:, 2] * ua[:, 2]))  # fmt: skip
        rev = factors(d.a_u / d.a_u0)
        ur = d.u * rev
        r2 = ur[:, 0] * ur[:, 0] + ur[:, 1] * ur[:, 1] + ur[:, 2] * ur[:, 2]
        p_rev, e_rev = m * np.sqrt(r2), m * np.sqrt(1.0 + r2)
        outside["p0"][t] = int((~ok0).sum())
        out["g_cnt"][t] = _hist(j0, ok0, n_p0)
        out["g_dE"][t] = _hist(j0, ok0, n_p0, e_rev - e0)
        out["g_E0"][t] = _hist(j0, ok0, n_p0, e0)
        out["na"][t] = _hist(j0, ok0, n_p0, e_nonad)
        out["dE"][t] = _hist(j0, ok0, n_p0, e - e0)
        for key, w in (("gm_cnt", None), ("gm_dE", e_rev - e0), ("gm_E0", e0)):
            out[key][t] = _hist(jm0, okm0, n_p0 * n_mu0, w).reshape(n_p0, n_mu0)
        jr = bin_index(p_rev, pre)
        okr = ok0 & (jr >= 0)
        outside["green"][t] = int((ok0 & (jr < 0)).sum())
        green[t] = _hist(np.where(okr, j0 * n_rev + jr, 0), okr, n_p0 * n_rev).reshape(
            n_p0, n_rev)  # fmt: skip
    i8 = lambda a: np.rint(a).astype(np.int64)  # noqa: E731
    return InsituSums(
        species=name, mass=m, step=np.array([d.step for d in dumps]),
        time=np.array([d.time for d in dumps]), dt_interval=dt_interval, a_u=a_us,
        p_edges=pe, mu_edges=me, p0_edges=p0e, mu0_edges=m0e, prev_edges=pre, ext=ext,
        dmumu_count=i8(out["cnt"]), dmu_sum=out["mu1"], dmu2_sum=out["mu2"],
        dp_sum=out["p1"], dp2_sum=out["p2"], gain_count=i8(out["g_cnt"]),
        gain_dE=out["g_dE"], gain_E0=out["g_E0"], gain_mu0_count=i8(out["gm_cnt"]),
        gain_mu0_dE=out["gm_dE"], gain_mu0_E0=out["gm_E0"], green=i8(green),
        nonad=out["na"], dE=out["dE"], outside=outside,
        attrs={"source": "raw dumps", "revert": revert},
    )  # fmt: skip


def _species_group_name(run, step: int) -> str:
    with _open_h5(_tracer_dir(run) / f"data{step:06d}.h5") as f:
        return _species_group(f, step, None)[1]


def _rev_edges(p0_edges: np.ndarray, ratio: float) -> tuple[np.ndarray, int]:
    """Same construction as pic1d.diagnostics.tracers.rev_edges."""
    n = p0_edges.size - 1
    dlog = math.log(p0_edges[-1] / p0_edges[0]) / n
    ext = max(1, math.ceil(math.log(max(ratio, 1.0)) / dlog - 1e-9))
    k = np.arange(1, ext + 1)
    left = p0_edges[0] * np.exp(-dlog * k[::-1])
    right = p0_edges[-1] * np.exp(dlog * k)
    return np.concatenate([left, p0_edges, right]), ext


# ------------------------------------------------------------ Green's function
def green_response(kernel: np.ndarray, ext: int, n0: np.ndarray, cycles: int = 1):
    """Apply the Green's function ``cycles`` times to a spectrum binned in p0.

    Parameters
    ----------
    kernel : ndarray, shape (n_p0, n_rev)
        :meth:`InsituSums.green_kernel` (fractions per p0 bin).
    ext : int
        p_rev bins below the first p0 bin (``InsituSums.ext``); p_rev bin ``j + ext``
        is p0 bin ``j``.
    n0 : ndarray, shape (n_p0,)
        Numbers per p0 bin (e.g. ``int_bin f0 dp``; see postprocess.reweight).
    cycles : int
        Cycles; between cycles the spectrum is assumed re-isotropised and the p_rev bins
        inside the p0 range become the next input (the part outside is lost and reported).

    Returns
    -------
    n : ndarray, shape (n_rev,)
        Numbers per p_rev bin after the last cycle.
    lost : ndarray, shape (cycles,)
        Number falling outside the p0 range before each further cycle (0 for the last).
    """
    k = np.asarray(kernel, dtype=np.float64)
    n_p0 = k.shape[0]
    cur = np.asarray(n0, dtype=np.float64)
    lost = np.zeros(cycles)
    out = cur
    for c in range(cycles):
        out = cur @ k
        if c < cycles - 1:
            nxt = out[ext : ext + n_p0]
            lost[c] = out.sum() - nxt.sum()
            cur = nxt
    return out, lost
