"""Tracer outputs: raw openPMD dumps, in-situ accumulators (insitu.h5) and test hooks.

Like the other writers (pic1d.diagnostics.output) these objects are called by
:class:`pic1d.simulation.Runner` at integer times t_n = n dt, where the tracer positions
are x^n and the momenta u^(n-1/2) (time level t_n - dt/2). Formats: docs/outputs.md,
section "Tracers". Physics: PHYSICS.md 2.6, 3, 4.3-4.5.

* :class:`TracerOutput` -- ``RUN/tracers/data%06d.h5``: id, x, u of every tracer species
  (optionally every n-th tracer by id, optionally float32), sorted by id.
* :class:`InsituOutput` -- ``RUN/insitu.h5``: per in-situ interval, binned sums for
  D_mumu / D_pp, the compress-revert gain by p0 and (p0, mu0), the (p0, p_rev)
  Green's-function histogram and the non-adiabatic / total energy change by p0.
* :class:`TracerHooks` with :class:`MuRandomWalk` and :class:`Isotropise` -- test hooks:
  callables in ``sim.tracer_hooks`` applied to every tracer species once per step, right
  after the push (at the start of ``Runner.diagnostics``; never at the initial state).

Per-tracer state lives in ``Species.extra`` (capacity-sized arrays that migrate and are
checkpointed with the particles): ``insitu_u_mark`` (capacity, 3) float64, u at the
previous in-situ output; ``insitu_e_nonad`` (capacity,) float64, the running
non-adiabatic energy (m_e c^2); ``insitu_bin0`` (capacity,) int32, a cache of the
(p0, mu0) bin; and, only if the non-adiabatic integral is updated more often than the
in-situ output, ``insitu_u_nonad`` (capacity, 3) float64. (36 bytes per tracer, 60 with
the per-step integral.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pic1d.diagnostics.output import common_attrs
from pic1d.io.openpmd import ParticleSpecies, write_particles_iteration
from pic1d.io.series import AppendableSeries
from pic1d.kernels.tracers import (
    CHUNKS,
    insitu_accumulate,
    nonadiabatic_update,
    set_marks,
    sums_layout,
)

#: default number of mu0 bins of the (p0, mu0) gain map
MU0_BINS = 20
#: the p_rev range of the Green's function covers p0 * [1/R, R] with
#: R = REV_MARGIN * max_k (max a_k / min a_k over the run)
REV_MARGIN = 2.0
#: chunk length (particles) of the raw tracer dumps
DUMP_CHUNK = 16384
#: row datasets at least this long are stored gzip-compressed, one row per chunk
COMPRESS_MIN = 256

MARK = "insitu_u_mark"
NONAD = "insitu_e_nonad"
NONAD_MARK = "insitu_u_nonad"
BIN0 = "insitu_bin0"


# ----------------------------------------------------------------------- bin edges
def log_edges(p_min: float, p_max: float, n: int) -> np.ndarray:
    """n log-spaced bins over [p_min, p_max] (n + 1 edges, exact end points)."""
    return np.geomspace(float(p_min), float(p_max), int(n) + 1)


def lin_edges(n: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """n uniform bins over [lo, hi] (default: mu in [-1, 1])."""
    return np.linspace(lo, hi, int(n) + 1)


def rev_edges(p0_edges: np.ndarray, ratio: float) -> tuple[np.ndarray, int]:
    """p_rev edges: the p0 edges extended by ``ext`` bins of the same log width each side.

    Parameters
    ----------
    p0_edges : ndarray
        Log-spaced p0 edges.
    ratio : float
        The range covers p0 in [p0_edges[0] / ratio, p0_edges[-1] * ratio] (at least).

    Returns
    -------
    edges : ndarray
        ``n_p0 + 2 ext + 1`` edges; ``edges[ext:ext + n_p0 + 1] == p0_edges`` exactly, so
        p_rev = p0 falls in column ``i + ext`` of p0 row ``i`` (the diagonal).
    ext : int
    """
    n = p0_edges.size - 1
    dlog = math.log(p0_edges[-1] / p0_edges[0]) / n
    ext = max(1, math.ceil(math.log(max(ratio, 1.0)) / dlog - 1e-9))
    k = np.arange(1, ext + 1)
    left = p0_edges[0] * np.exp(-dlog * k[::-1])
    right = p0_edges[-1] * np.exp(dlog * k)
    return np.concatenate([left, p0_edges, right]), ext


def scale_ratio(sf, t_end: float, dt: float) -> float:
    """max_k (max a_k / min a_k) over [-dt/2, t_end] (the largest adiabatic gain factor)."""
    ts = np.linspace(-0.5 * dt, max(t_end, 0.0), 2001)
    a = np.array([sf.a(t) for t in ts])
    return float(np.max(a.max(axis=0) / a.min(axis=0)))


def _tracers(sim) -> list:
    return [sp for sp in sim.species if sp.tracer]


def _extra(sp, name: str, shape: tuple[int, ...] = (), dtype=np.float64) -> np.ndarray:
    """The per-tracer array ``sp.extra[name]`` (created, zero, with the capacity)."""
    arr = sp.extra.get(name)
    if arr is None or arr.shape[0] != sp.capacity:
        arr = sp.add_extra(name, shape, dtype)
    return arr


def _u0(sp) -> np.ndarray:
    if sp.u0 is None or sp.u0.shape[0] != sp.capacity:  # e.g. particles set by hand
        sp.u0 = sp.new_array((3,))
        x, ux, uy, uz = sp.live()
        sp.u0[: sp.n] = np.stack([ux, uy, uz], axis=1)
    return sp.u0


def _gather_root(dom, arrays: list[np.ndarray]) -> list[np.ndarray] | None:
    """Concatenate per-rank particle arrays on the root rank (None elsewhere)."""
    comm = getattr(dom, "comm", None)
    if comm is None or dom.size == 1:
        return arrays
    parts = comm.gather(arrays, root=0)
    if not dom.is_root:
        return None
    return [np.concatenate([p[k] for p in parts]) for k in range(len(arrays))]


def redistribute_by_id(dom, columns: list[np.ndarray], index: np.ndarray,
                       n_total: int) -> list[np.ndarray]:
    """Parallel re-sort: rank r receives the particles with global index in
    [ceil(r N/P), ceil((r+1) N/P)), sorted by index (one Alltoallv, no gather).

    Parameters
    ----------
    dom : MPIDomain
    columns : list of 1D arrays
        Per-particle values of this rank (float64, or int64/uint64 ids: sent as bits).
    index : ndarray of int64
        Dense global index 0 .. n_total - 1 of each particle (e.g. from its id).
    n_total : int
        Number of particles over all ranks.

    Returns
    -------
    list of ndarray
        The received columns (same dtypes), sorted by global index: a contiguous block.
    """
    comm, size = dom.comm, dom.size
    dest = (index * size) // max(n_total, 1)
    order = np.argsort(dest, kind="stable")
    send_counts = np.bincount(dest, minlength=size).astype(np.int64)
    recv_counts = np.empty(size, dtype=np.int64)
    comm.Alltoall(send_counts, recv_counts)
    n_cols = len(columns) + 1
    send = np.empty((index.size, n_cols))
    for k, col in enumerate(columns):
        send[:, k] = col[order].view(np.float64) if col.dtype.kind in "iu" else col[order]
    send[:, -1] = index[order].view(np.float64)
    recv = np.empty((int(recv_counts.sum()), n_cols))
    sdisp = np.concatenate([[0], np.cumsum(send_counts)[:-1]]) * n_cols
    rdisp = np.concatenate([[0], np.cumsum(recv_counts)[:-1]]) * n_cols
    from mpi4py import MPI

    comm.Alltoallv([send, send_counts * n_cols, sdisp, MPI.DOUBLE],
                   [recv, recv_counts * n_cols, rdisp, MPI.DOUBLE])  # fmt: skip
    got_index = recv[:, -1].copy().view(np.int64)
    srt = np.argsort(got_index, kind="stable")
    out = []
    for k, col in enumerate(columns):
        c = recv[srt, k].copy()
        out.append(c.view(col.dtype) if col.dtype.kind in "iu" else c.astype(col.dtype))
    return out


def momentum_time_scales(sf, t_n: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(a_k(t_n - dt/2), a_k(-dt/2)): scale factors at the time level of the stored
    momenta and of the initial momenta u0 (the loaded u is u^(-1/2))."""
    return np.array(sf.a(t_n - 0.5 * dt)), np.array(sf.a(-0.5 * dt))


# ----------------------------------------------------------------------- test hooks
class TracerHooks:
    """Applies ``sim.tracer_hooks`` (a list of ``hook(sim, species)``) to every tracer
    species once per step after the push (not to the initial state, not twice per step).

    Called at the start of :meth:`pic1d.simulation.Runner.diagnostics`; a hook changes the
    momenta u^(n-1/2) after the push that produced them, before any output of step n.
    Hooks are for tests (prescribed scattering); they are not deck options.
    """

    def __init__(self, sim):
        self.sim = sim
        self.last_step = sim.step

    def apply(self) -> None:
        sim = self.sim
        hooks = getattr(sim, "tracer_hooks", None)
        if sim.step <= self.last_step:
            return
        self.last_step = sim.step
        if not hooks:
            return
        for sp in _tracers(sim):
            if sp.n:
                for hook in hooks:
                    hook(sim, sp)


def _set_direction(sp, mu: np.ndarray, phi: np.ndarray | None = None) -> None:
    """Set the pitch cosine (and gyrophase) of the live tracers at fixed |u|."""
    x, ux, uy, uz = sp.live()
    u = np.sqrt(ux.astype(np.float64) ** 2 + uy.astype(np.float64) ** 2
                + uz.astype(np.float64) ** 2)  # fmt: skip
    if phi is None:
        phi = np.arctan2(uz.astype(np.float64), uy.astype(np.float64))
    perp = u * np.sqrt(np.maximum(1.0 - mu * mu, 0.0))
    ux[:] = u * mu
    uy[:] = perp * np.cos(phi)
    uz[:] = perp * np.sin(phi)


def _pitch(sp) -> np.ndarray:
    x, ux, uy, uz = sp.live()
    u = np.sqrt(ux.astype(np.float64) ** 2 + uy.astype(np.float64) ** 2
                + uz.astype(np.float64) ** 2)  # fmt: skip
    return np.where(u > 0, ux / np.where(u > 0, u, 1.0), 0.0)


class MuRandomWalk:
    """Test hook: mu -> mu +- s(mu) with a random sign each step, at fixed |u| and
    gyrophase, reflected at |mu| = 1 (mu > 1 -> 2 - mu, mu < -1 -> -2 - mu).

    The variance per step is s(mu)^2, so D_mumu(mu) = s(mu)^2 / (2 dt) (away from the
    reflecting ends, for steps small compared with the variation of s).

    Parameters
    ----------
    step : float or callable
        s, or a function s(mu) (array in, array out).
    seed : int
        Random seed.
    species : str or sequence of str, optional
        Species names to act on (default: every tracer species).
    """

    def __init__(self, step, seed: int = 0, species=None):
        self.step = step
        self.rng = np.random.default_rng(seed)
        self.species = {species} if isinstance(species, str) else (
            set(species) if species is not None else None)  # fmt: skip

    def __call__(self, sim, sp) -> None:
        if self.species is not None and sp.name not in self.species:
            return
        mu = _pitch(sp)
        s = self.step(mu) if callable(self.step) else self.step
        sign = self.rng.integers(0, 2, size=mu.size) * 2.0 - 1.0
        mu = mu + sign * s
        mu = np.where(mu > 1.0, 2.0 - mu, mu)
        mu = np.where(mu < -1.0, -2.0 - mu, mu)
        _set_direction(sp, mu)


class Isotropise:
    """Test hook: at step ``at_step`` give every tracer an isotropic random direction
    (mu uniform in [-1, 1], gyrophase uniform) at fixed |u|.

    Parameters
    ----------
    at_step : int
        The step (>= 1) after whose push the directions are redrawn.
    seed : int
    species : str or sequence of str, optional
        Species to act on (default: every tracer species).
    """

    def __init__(self, at_step: int, seed: int = 0, species=None):
        self.at_step = int(at_step)
        self.rng = np.random.default_rng(seed)
        self.species = {species} if isinstance(species, str) else (
            set(species) if species is not None else None)  # fmt: skip

    def __call__(self, sim, sp) -> None:
        if sim.step != self.at_step:
            return
        if self.species is not None and sp.name not in self.species:
            return
        mu = self.rng.uniform(-1.0, 1.0, sp.n)
        phi = self.rng.uniform(0.0, 2.0 * np.pi, sp.n)
        _set_direction(sp, mu, phi)


# ------------------------------------------------------------------------ raw dumps
class TracerOutput:
    """``RUN/tracers/data%06d.h5``: openPMD particle records of all tracer species.

    Parameters
    ----------
    sim : Simulation
    directory : Path or None
        ``RUN/tracers`` (None: nothing is written).
    every : int
        Cadence (steps); 0 disables.
    subsample : int
        Keep the tracers with ``id % subsample == 0`` (the same tracers in every dump).
    precision : {"float32", "float64"}
        Storage type of the momenta (positions are float64).
    chunk : int
        Chunk length (particles) of the per-particle datasets (default
        :data:`DUMP_CHUNK` = 16384: 128 KiB of float64, so reading one tracer's element
        costs little while a snapshot still reads in large contiguous pieces).

    Notes
    -----
    Tracers are written sorted by id. Tracers are never created or lost, so with a fixed
    subsample a tracer has the same index in every file: one tracer's history is one
    element (one chunk) per file, one snapshot is a few large contiguous chunks.
    """

    def __init__(self, sim, directory: Path | None, every: int, subsample: int = 1,
                 precision: str = "float32", chunk: int = DUMP_CHUNK):
        self.sim = sim
        self.every = int(every or 0)
        self.subsample = max(1, int(subsample))
        self.dtype = np.float32 if precision == "float32" else np.float64
        self.chunk = chunk
        self.directory = directory if (directory is not None and sim.domain.is_root) else None
        if self.directory is not None and self.every and _tracers(sim):
            self.directory.mkdir(parents=True, exist_ok=True)

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0 and bool(_tracers(self.sim))

    def write(self) -> None:
        if self.sim.domain.size > 1:
            return self._write_parallel()
        sim = self.sim
        cfg = sim.cfg
        dx, dt, t = cfg.grid.dx, cfg.grid.dt, sim.time
        out = []
        for sp in _tracers(sim):
            x, ux, uy, uz = sp.live()
            ids = sp.ids[: sp.n]
            if self.subsample > 1:
                keep = ids % self.subsample == 0
                x, ux, uy, uz, ids = x[keep], ux[keep], uy[keep], uz[keep], ids[keep]
            got = _gather_root(sim.domain, [x, ux, uy, uz, ids])
            if got is None:
                continue
            x, ux, uy, uz, ids = got
            order = np.argsort(ids, kind="stable")
            c = sp.cfg
            out.append(ParticleSpecies(
                name=sp.name, ids=ids[order], x=x[order], ux=ux[order], uy=uy[order],
                uz=uz[order], dx=dx, charge=sp.charge, mass=sp.mass, weighting=0.0,
                dtype=self.dtype, chunk=self.chunk, shape_order=cfg.grid.shape_order,
                current_deposition="none",
                attrs={"pic1d_subsample": np.int64(self.subsample),
                       "pic1d_sorted_by_id": np.int64(1),
                       "pic1d_p_min": float(c.p_min), "pic1d_p_max": float(c.p_max),
                       "pic1d_sampling": c.sampling},
            ))  # fmt: skip
        if self.directory is None or not sim.domain.is_root:
            return
        write_particles_iteration(self.directory / f"data{sim.step:06d}.h5", sim.step, t, dt,
                                  out, iteration_attrs=self._iteration_attrs())  # fmt: skip

    def _iteration_attrs(self) -> dict:
        sim = self.sim
        t, dt = sim.time, sim.cfg.grid.dt
        a_n = sim.sf.a(t)
        a_u, a_u0 = momentum_time_scales(sim.sf, t, dt)
        it_attrs = {"step": np.int64(sim.step)}
        for k, ax in enumerate("xyz"):
            it_attrs[f"a_{ax}"] = float(a_n[k])
            it_attrs[f"a_u_{ax}"] = float(a_u[k])
            it_attrs[f"a_u0_{ax}"] = float(a_u0[k])
        return it_attrs

    def _write_parallel(self) -> None:
        """Multi-rank dump without a gather: the tracers are re-sorted by id over the
        ranks (one Alltoallv; rank r gets a contiguous block of ids), each rank writes its
        block to ``tracers/parts/dataNNNNNN_rRRRRR.h5`` and rank 0 writes the openPMD file
        ``tracers/dataNNNNNN.h5`` whose records are virtual datasets over the parts, in id
        order (the same layout as a serial dump)."""
        sim = self.sim
        dom, cfg = sim.domain, sim.cfg
        dx, dt, t = cfg.grid.dx, cfg.grid.dt, sim.time
        from pic1d.io.openpmd import write_particle_part
        from pic1d.species import ID_SHIFT

        run_tracers = sim_dir = None
        if dom.is_root and self.directory is not None:
            run_tracers = self.directory
        run_tracers = dom.bcast(None if run_tracers is None else str(run_tracers))
        if run_tracers is None:
            return
        sim_dir = Path(run_tracers)
        part_dir = sim_dir / "parts"
        if dom.is_root:
            part_dir.mkdir(parents=True, exist_ok=True)
        dom.barrier()
        mine, meta = [], []
        for sp in _tracers(sim):
            x, ux, uy, uz = sp.live()
            ids = sp.ids[: sp.n]
            offset = np.int64(sp.cfg.index) << ID_SHIFT
            dense = ids - offset
            s = self.subsample
            r0 = (-int(offset)) % s  # kept ids are those with id % s == 0
            keep = ids % s == 0
            index = (dense[keep] - r0) // s
            n_total = int(dom.allreduce_sum(np.array([float(index.size)]))[0])
            cols = redistribute_by_id(dom, [x[keep], ux[keep].astype(np.float64),
                                            uy[keep].astype(np.float64),
                                            uz[keep].astype(np.float64), ids[keep]],
                                      index.astype(np.int64), n_total)  # fmt: skip
            xs, uxs, uys, uzs, idss = cols
            lo = float(xs.min()) if xs.size else np.inf
            hi = float(xs.max()) if xs.size else -np.inf
            mine.append(ParticleSpecies(name=sp.name, ids=idss, x=xs, ux=uxs, uy=uys, uz=uzs,
                                        dx=dx, charge=sp.charge, mass=sp.mass,
                                        dtype=self.dtype))  # fmt: skip
            meta.append((sp, idss.size, lo, hi))
        fname = f"data{sim.step:06d}_r{dom.rank:05d}.h5"
        write_particle_part(part_dir / fname, mine)
        counts = dom.comm.gather([m[1] for m in meta], root=0)
        ranges = dom.comm.gather([(m[2], m[3]) for m in meta], root=0)
        dom.barrier()  # every part file exists before the virtual datasets point at it
        if not dom.is_root:
            return
        out = []
        for k, (sp, _, _, _) in enumerate(meta):
            c = sp.cfg
            parts = [(f"parts/data{sim.step:06d}_r{r:05d}.h5", int(counts[r][k]))
                     for r in range(dom.size)]
            lo = min(rg[k][0] for rg in ranges)
            hi = max(rg[k][1] for rg in ranges)
            out.append(ParticleSpecies(
                name=sp.name, ids=np.zeros(0, np.int64), x=np.zeros(0), ux=np.zeros(0),
                uy=np.zeros(0), uz=np.zeros(0), dx=dx, charge=sp.charge, mass=sp.mass,
                weighting=0.0, dtype=self.dtype, chunk=self.chunk,
                shape_order=cfg.grid.shape_order, current_deposition="none", parts=parts,
                x_range=(lo, hi) if np.isfinite(lo) else (0.0, 0.0),
                attrs={"pic1d_subsample": np.int64(self.subsample),
                       "pic1d_sorted_by_id": np.int64(1),
                       "pic1d_p_min": float(c.p_min), "pic1d_p_max": float(c.p_max),
                       "pic1d_sampling": c.sampling, "pic1d_parts": np.int64(dom.size)},
            ))  # fmt: skip
        write_particles_iteration(sim_dir / f"data{sim.step:06d}.h5", sim.step, t, dt, out,
                                  iteration_attrs=self._iteration_attrs())  # fmt: skip


# ------------------------------------------------------------------- in-situ sums
class _SpeciesSums:
    """Bin edges and accumulators of one tracer species."""

    def __init__(self, sp, n_p: int, n_mu: int, n_p0: int, n_mu0: int, ratio: float):
        c = sp.cfg
        self.name = sp.name
        self.mass = float(sp.mass)
        self.p_edges = log_edges(c.p_min, c.p_max, n_p)
        self.mu_edges = lin_edges(n_mu)
        self.p0_edges = log_edges(c.p_min, c.p_max, n_p0)
        self.mu0_edges = lin_edges(n_mu0)
        self.prev_edges, self.ext = rev_edges(self.p0_edges, ratio)
        self.lay = sums_layout(n_p, n_mu, n_p0, n_mu0, self.prev_edges.size - 1)
        self.buffer = np.zeros(self.lay["size"])
        self.scratch = np.zeros((CHUNKS, self.lay["size"]))
        self.views = {}
        for key in ("d", "g", "gm", "green", "misc"):
            off, shape = self.lay[key]
            self.views[key] = self.buffer[off : off + int(np.prod(shape))].reshape(shape)
        # create the per-tracer state now on every rank, also where there are no tracers
        # yet: migration moves the same set of columns on all ranks
        _u0(sp)
        _extra(sp, MARK, (3,))
        _extra(sp, NONAD)
        _extra(sp, BIN0, (), np.int32)

    def accumulate(self, sp, rev, ad, have_start: bool, update_nonad: bool) -> None:
        if not sp.n:
            self.buffer[:] = 0.0
            return
        x, ux, uy, uz = sp.live()
        insitu_accumulate(ux, uy, uz, _u0(sp), _extra(sp, MARK, (3,)), _extra(sp, NONAD),
                          _extra(sp, BIN0, (), np.int32), self.mass, rev, ad, have_start,
                          update_nonad, self.p_edges, self.mu_edges, self.p0_edges,
                          self.mu0_edges, self.prev_edges, self.scratch, self.buffer)  # fmt: skip

    def reduce(self, dom) -> None:
        self.buffer[:] = dom.allreduce_sum(self.buffer)

    def row(self, n_tracers: int) -> dict[str, np.ndarray]:
        v, s = self.views, self.name
        d, g, gm = v["d"], v["g"], v["gm"]
        cnt = lambda a: np.rint(a).astype(np.int64).ravel()  # noqa: E731
        return {
            f"n_tracers_{s}": np.int64(n_tracers),
            f"dmumu_count_{s}": cnt(d[..., 0]),
            f"dmu_sum_{s}": d[..., 1].ravel(),
            f"dmu2_sum_{s}": d[..., 2].ravel(),
            f"dp_sum_{s}": d[..., 3].ravel(),
            f"dp2_sum_{s}": d[..., 4].ravel(),
            f"dmumu_outside_{s}": np.int64(round(v["misc"][0])),
            f"gain_count_{s}": cnt(g[:, 0]),
            f"gain_dE_{s}": g[:, 1].copy(),
            f"gain_E0_{s}": g[:, 2].copy(),
            f"gain_mu0_count_{s}": cnt(gm[..., 0]),
            f"gain_mu0_dE_{s}": gm[..., 1].ravel(),
            f"gain_mu0_E0_{s}": gm[..., 2].ravel(),
            f"green_{s}": cnt(v["green"]),
            f"green_outside_{s}": np.int64(round(v["misc"][1])),
            f"p0_outside_{s}": np.int64(round(v["misc"][2])),
            f"nonad_{s}": g[:, 3].copy(),
            f"dE_{s}": g[:, 4].copy(),
        }

    def layout(self) -> dict[str, tuple[tuple[int, ...], type, str, str]]:
        """Row dataset name -> (unflattened shape, dtype, units, description)."""
        s = self.name
        n_p, n_mu = self.lay["d"][1][:2]
        n_p0, n_mu0 = self.lay["gm"][1][:2]
        pm, gr = (n_p, n_mu), (n_p0, n_mu0)
        i8, f8 = np.int64, np.float64
        return {
            f"n_tracers_{s}": ((), i8, "", "number of tracers"),
            f"dmumu_count_{s}": (pm, i8, "", "tracers per (p, mu) bin at the interval start"),
            f"dmu_sum_{s}": (pm, f8, "", "sum of Delta mu over the interval"),
            f"dmu2_sum_{s}": (pm, f8, "", "sum of (Delta mu)^2"),
            f"dp_sum_{s}": (pm, f8, "m_e c", "sum of Delta p"),
            f"dp2_sum_{s}": (pm, f8, "(m_e c)^2", "sum of (Delta p)^2"),
            f"dmumu_outside_{s}": ((), i8, "", "tracers whose start p is outside p_edges"),
            f"gain_count_{s}": ((n_p0,), i8, "", "tracers per p0 bin"),
            f"gain_dE_{s}": ((n_p0,), f8, "m_e c^2", "sum of E_rev - E0 per p0 bin"),
            f"gain_E0_{s}": ((n_p0,), f8, "m_e c^2", "sum of E0 per p0 bin"),
            f"gain_mu0_count_{s}": (gr, i8, "", "tracers per (p0, mu0) bin"),
            f"gain_mu0_dE_{s}": (gr, f8, "m_e c^2", "sum of E_rev - E0 per (p0, mu0) bin"),
            f"gain_mu0_E0_{s}": (gr, f8, "m_e c^2", "sum of E0 per (p0, mu0) bin"),
            f"green_{s}": (self.lay["green"][1], i8, "", "tracers per (p0, p_rev) bin"),
            f"green_outside_{s}": ((), i8, "", "tracers with p_rev outside prev_edges"),
            f"p0_outside_{s}": ((), i8, "", "tracers with p0 outside p0_edges"),
            f"nonad_{s}": ((n_p0,), f8, "m_e c^2",
                           "sum of the accumulated non-adiabatic energy change per p0 bin"),
            f"dE_{s}": ((n_p0,), f8, "m_e c^2", "sum of E - E0 (actual change) per p0 bin"),
        }  # fmt: skip


class InsituOutput:
    """``RUN/insitu.h5``: in-situ tracer reductions every ``every`` steps (dt_measure).

    Parameters
    ----------
    sim : Simulation
    path : Path or None
        The file (None: compute only; the last row is kept in :attr:`last`).
    every : int
        dt_measure in steps; 0 disables.
    p_bins, mu_bins : int
        D bins: log p over each species' [p_min, p_max] (m_e c), mu over [-1, 1].
    p0_bins : int
        Log p0 bins over [p_min, p_max] (gain, Green's function, energy budget).
    mu0_bins : int
        mu0 bins of the (p0, mu0) gain map.
    nonadiabatic_every : int, optional
        Cadence (steps) of the non-adiabatic energy update; must divide ``every``.
        Default: ``every`` (one update per in-situ interval, no per-step cost); 1 gives
        the per-step integral.
    revert : {"components", "gyrotropic"}
        "components" (default): u_k scaled by a_k(t - dt/2)/a_k(-dt/2) per axis.
        "gyrotropic": u_x by the x factor, u_y and u_z both by the geometric mean of the
        y and z factors (conserves p_perp^2/B of gyrating tracers when a_y != a_z;
        identical for a_y = a_z). Also used for the adiabatic step of the non-adiabatic
        integral.
    t_end : float, optional
        End time used to size the p_rev range (default: the deck's duration).
    """

    def __init__(self, sim, path: Path | None, every: int, p_bins: int = 50,
                 mu_bins: int = 140, p0_bins: int = 300, mu0_bins: int = MU0_BINS,
                 nonadiabatic_every: int | None = None, revert: str = "components",
                 t_end: float | None = None):  # fmt: skip
        if revert not in ("components", "gyrotropic"):
            raise ValueError(f"revert must be 'components' or 'gyrotropic', got {revert!r}")
        self.sim = sim
        self.every = int(every or 0)
        self.nonad_every = int(nonadiabatic_every or self.every)
        if self.every and (self.nonad_every < 1 or self.every % self.nonad_every):
            raise ValueError("nonadiabatic_every must divide the in-situ interval")
        self.separate = bool(self.every) and self.nonad_every != self.every
        self.revert = revert
        self.last: dict | None = None
        self.mark_step: int | None = None  # step of the current marks (interval start)
        self.nonad_step: int | None = None  # step of the last non-adiabatic update
        self._done_step: int | None = None
        self.sums: list[_SpeciesSums] = []
        self.series: AppendableSeries | None = None
        tracers = _tracers(sim)
        if not self.every or not tracers:
            self.every = 0
            return
        cfg = sim.cfg
        dt = cfg.grid.dt
        t_end = cfg.run.steps * dt if t_end is None else t_end
        ratio = REV_MARGIN * scale_ratio(sim.sf, t_end, dt)
        self.sums = [_SpeciesSums(sp, p_bins, mu_bins, p0_bins, mu0_bins, ratio)
                     for sp in tracers]  # fmt: skip
        if path is not None and sim.domain.is_root:
            self._create(Path(path), t_end, ratio)

    # ------------------------------------------------------------------ file layout
    def _create(self, path: Path, t_end: float, ratio: float) -> None:
        sim = self.sim
        dt = sim.cfg.grid.dt
        a_u0 = sim.sf.a(-0.5 * dt)
        attrs = common_attrs(sim)
        attrs.update({
            "interval": self.every,
            "nonadiabatic_every": self.nonad_every,
            "revert": self.revert,
            "tracer_species": [s.name for s in self.sums],
            "a_u0_x": a_u0[0], "a_u0_y": a_u0[1], "a_u0_z": a_u0[2],
            "rev_ratio": ratio,
            "t_end": t_end,
            "description": "pic1d in-situ tracer reductions; see docs/outputs.md, Tracers",
        })  # fmt: skip
        s = self.series = AppendableSeries(path, attrs=attrs)
        for name, units in (("time", "1/omega_pe0"), ("dt_interval", "1/omega_pe0")):
            s.define(name, attrs={"units": units})
        s.define("step", dtype=np.int64)
        for ax in "xyz":
            s.define(f"a_u_{ax}", attrs={"description": f"a_{ax}(t - dt/2)"})
            s.define(f"revert_{ax}", attrs={"description": "revert factor used"})
        for acc in self.sums:
            for name, (shape, dtype, units, text) in acc.layout().items():
                a = {"units": units, "description": text, "shape": np.array(shape, np.int64)}
                self._define(name, shape, dtype, a)
            for ename, edges, units in (
                (f"p_edges_{acc.name}", acc.p_edges, "m_e c"),
                (f"mu_edges_{acc.name}", acc.mu_edges, ""),
                (f"p0_edges_{acc.name}", acc.p0_edges, "m_e c"),
                (f"mu0_edges_{acc.name}", acc.mu0_edges, ""),
                (f"prev_edges_{acc.name}", acc.prev_edges, "m_e c"),
            ):
                s.write_static(ename, edges, attrs={"units": units})
            s.set_attrs({f"prev_ext_{acc.name}": acc.ext, f"mass_{acc.name}": acc.mass})

    def _define(self, name: str, shape: tuple[int, ...], dtype, attrs: dict) -> None:
        s = self.series
        n = int(np.prod(shape)) if shape else None
        if n is not None and n >= COMPRESS_MIN:
            with s._open() as f:  # compressed, one row per chunk; define() then adopts it
                if name not in f:
                    f.create_dataset(name, shape=(int(f.attrs["n_rows"]), n),
                                     maxshape=(None, n), chunks=(1, n), dtype=dtype,
                                     compression="gzip", compression_opts=1, shuffle=True,
                                     fillvalue=0)  # fmt: skip
        s.define(name, n_x=n, dtype=dtype, attrs=attrs)

    # ----------------------------------------------------------------------- output
    def due(self, step: int) -> bool:
        if not self.every:
            return False
        return step % self.every == 0 or (self.separate and step % self.nonad_every == 0)

    def write(self) -> dict | None:
        """Update the per-tracer state and, at the in-situ cadence, append one row.

        Returns the row (all ranks) or None when only the non-adiabatic integral was
        updated.
        """
        sim = self.sim
        step = sim.step
        if not self.every or step == self._done_step:
            return None
        self._done_step = step
        dt = sim.cfg.grid.dt
        a_u, a_u0 = momentum_time_scales(sim.sf, sim.time, dt)
        if self.separate:
            self._nonad_update(step, a_u)
        if step % self.every:
            return None
        have_start = self.mark_step is not None
        rev = self._factors(a_u / a_u0)
        if have_start:
            a_mark, _ = momentum_time_scales(sim.sf, self.mark_step * dt, dt)
            ad = self._factors(a_mark / a_u)
            interval = (step - self.mark_step) * dt
        else:
            ad = np.ones(3)
            interval = 0.0
            if not self.separate:
                for sp in _tracers(sim):
                    _extra(sp, NONAD)[:] = 0.0
        row: dict = {"time": sim.time, "step": np.int64(step), "dt_interval": interval}
        for k, ax in enumerate("xyz"):
            row[f"a_u_{ax}"] = float(a_u[k])
            row[f"revert_{ax}"] = float(rev[k])
        for acc, sp in zip(self.sums, _tracers(sim), strict=True):
            acc.accumulate(sp, rev, ad, have_start, not self.separate)
            acc.reduce(sim.domain)
            n_tr = int(sim.domain.allreduce_sum(np.array([sp.n]))[0])
            row.update(acc.row(n_tr))
        self.mark_step = step
        if self.series is not None:
            self.series.append(row, auto_define=False)
        self.last = row
        return row

    def _factors(self, f: np.ndarray) -> np.ndarray:
        f = np.array(f, dtype=np.float64)
        if self.revert == "gyrotropic":
            f[1] = f[2] = math.sqrt(f[1] * f[2])
        return f

    def _nonad_update(self, step: int, a_u: np.ndarray) -> None:
        sim = self.sim
        dt = sim.cfg.grid.dt
        if self.nonad_step is None:
            for sp in _tracers(sim):
                x, ux, uy, uz = sp.live()
                set_marks(ux, uy, uz, _extra(sp, NONAD_MARK, (3,)))
                _extra(sp, NONAD)[:] = 0.0
        else:
            a_prev, _ = momentum_time_scales(sim.sf, self.nonad_step * dt, dt)
            ad = self._factors(a_prev / a_u)
            for sp in _tracers(sim):
                if sp.n:
                    x, ux, uy, uz = sp.live()
                    nonadiabatic_update(ux, uy, uz, _extra(sp, NONAD_MARK, (3,)),
                                        _extra(sp, NONAD), float(sp.mass), ad)  # fmt: skip
        self.nonad_step = step

    # -------------------------------------------------------------------- restarts
    def state(self) -> dict:
        """Scalars a checkpoint must keep (the per-tracer arrays live in Species.extra)."""
        return {"mark_step": self.mark_step, "nonad_step": self.nonad_step}

    def restore(self, state: dict) -> None:
        """Restore :meth:`state` after a restart (before the first write)."""
        self.mark_step = state.get("mark_step")
        self.nonad_step = state.get("nonad_step")
