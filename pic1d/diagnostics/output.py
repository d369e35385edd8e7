"""Writers of the run's diagnostics: history.h5, spectra.h5 and fields/dataNNNNNN.h5.

Every writer is called with the simulation at an integer time t_n = n dt (fields d'^n,
b'^n collocated at t_n; positions x^n; momenta u^(n-1/2), the leapfrog convention) and
decides from the global step whether it is due. Dataset names and units are documented in
docs/outputs.md and docs/conventions.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pic1d.diagnostics.moments import MomentCalculator, field_aligned_temperatures
from pic1d.io.openpmd import write_mesh_iteration
from pic1d.io.series import AppendableSeries
from pic1d.kernels import N_GHOST
from pic1d.kernels.moments import kinetic_energy_sum, velocity_moments
from pic1d.kernels.procedures import weighted_flux_diagonal, weighted_kinetic_sum

FIELD_NAMES = ("Ex", "Ey", "Ez", "Bx", "By", "Bz")


def common_attrs(sim) -> dict:
    """Root attributes shared by history.h5 and spectra.h5 (see docs/conventions.md)."""
    cfg = sim.cfg
    return {
        "species_names": [s.name for s in cfg.species],
        "species_charge": np.array([s.charge for s in cfg.species]),
        "species_mass": np.array([s.mass for s in cfg.species]),
        "species_tracer": np.array([s.tracer for s in cfg.species]),
        "B0": cfg.plasma.B0,
        "mass_ratio": cfg.plasma.mass_ratio,
        "omega_ci0": cfg.scales.omega_ci0,
        "dx": cfg.grid.dx,
        "dt": cfg.grid.dt,
        "cells": cfg.grid.cells,
        "units": "code units: time 1/omega_pe0, length d_e0, fields m_e c omega_pe0/e, "
        "density n0, temperature m_e c^2, energy n0 m_e c^2 d_e0",
    }


def history_row(sim, moments: MomentCalculator) -> dict[str, float]:
    """All history quantities at the current time (global, reduced over ranks)."""
    grid, sf, t, dom = sim.grid, sim.sf, sim.time, sim.domain
    det = sf.det(t)
    ax, ay, az = sf.a(t)
    fx, fy, fz = sf.flux_to_physical(t)
    s = grid.interior
    # field sums from the staggered (exact Yee) values: E^2, B^2 per component, mean B
    ex, ey, ez = fx * grid.d[0][s], fy * grid.d[1][s], fz * grid.d[2][s]
    bx, by, bz = fx * grid.b[0][s], fy * grid.b[1][s], fz * grid.b[2][s]
    # grid quantities are counted once per domain (replicas hold identical copies);
    # particle sums (kinetic energy, momentum flux) by every rank
    own = 1.0 if dom.field_owner else 0.0
    local = [own * np.dot(v, v) for v in (ex, ey, ez, bx, by, bz)]
    local += [own * bx.sum(), own * by.sum(), own * bz.sum()]
    # species moments
    thermal = [sp for sp in sim.species if not sp.tracer]
    for sp in thermal:
        fl = moments.fluid(sp, det)
        x, ux, uy, uz = sp.live()
        if "qw" in sp.extra:  # per-particle weights (after reset_waves)
            w = sp.weight_arg()
            ekin = weighted_kinetic_sum(ux, uy, uz, w) * sp.mass
            flux = weighted_flux_diagonal(ux, uy, uz, w) * sp.mass
        else:
            ekin = kinetic_energy_sum(ux, uy, uz) * sp.weight * sp.mass if sp.n else 0.0
            flux = velocity_moments(ux, uy, uz)[4:7] * sp.weight * sp.mass if sp.n else np.zeros(3)
        local += [own * fl["n"].sum(), *(own * fl["P"].sum(axis=1)), ekin, *flux]
    tot = dom.allreduce_sum(np.array(local))
    n_cells = grid_cells = sim.cfg.grid.cells
    vol = det * grid.dx  # energy per co-moving cell: D dx |F|^2/2
    row: dict[str, float] = {
        "time": t,
        "step": sim.step,
        "a_x": ax,
        "a_y": ay,
        "a_z": az,
    }
    e_sq, b_sq = tot[0:3], tot[3:6]
    b_mean = tot[6:9] / grid_cells
    row["B_x"] = b_mean[0]
    for name, val in zip(("Ex", "Ey", "Ez"), e_sq, strict=True):
        row[f"energy_{name}"] = 0.5 * vol * val
    for name, val in zip(("Bx", "By", "Bz"), b_sq, strict=True):
        row[f"energy_{name}"] = 0.5 * vol * val
    row["energy_E"] = 0.5 * vol * e_sq.sum()
    row["energy_B"] = 0.5 * vol * b_sq.sum()
    db_sq = (b_sq[1] - grid_cells * b_mean[1] ** 2) + (b_sq[2] - grid_cells * b_mean[2] ** 2)
    row["energy_dB"] = 0.5 * vol * db_sq
    b2 = float(b_mean @ b_mean)
    row["dB2_over_B2"] = db_sq / n_cells / b2
    e_total = row["energy_E"] + row["energy_B"]
    # compression work: dE_total/dt = -sum_i r_i stress_ii (docs/physics-notes.md)
    rates = sf.rates(t)
    e2_tot, b2_tot = e_sq.sum(), b_sq.sum()
    stress = 0.5 * vol * (e2_tot + b2_tot - 2.0 * (e_sq + b_sq))  # field pressure P^F_ii
    work_rate = -float(np.dot(rates, stress))
    rate_iso = sum(rates) / 3.0  # d ln D^(1/3)/dt, used by isotropically forced species
    k = 9
    for sp in thermal:
        flux = tot[k + 8 : k + 11] * grid.dx
        stress = stress + flux
        if sp.cfg.isotropic_forcing:
            work_rate -= rate_iso * float(flux.sum())
        else:
            work_rate -= float(np.dot(rates, flux))
        k += 11
    for i, ax_name in enumerate("xyz"):
        row[f"rate_{ax_name}"] = rates[i]
        row[f"stress_{ax_name}{ax_name}"] = stress[i]
    row["work_rate"] = work_rate
    k = 9
    for sp in thermal:
        n_sum, pres, ekin = tot[k], tot[k + 1 : k + 7], tot[k + 7]
        k += 11
        n_mean = n_sum / n_cells
        t_par, t_perp = field_aligned_temperatures(pres / n_cells, n_mean, b_mean)
        row[f"n_{sp.name}"] = n_mean
        row[f"T_par_{sp.name}"] = t_par
        row[f"T_perp_{sp.name}"] = t_perp
        row[f"anisotropy_{sp.name}"] = t_perp / t_par - 1.0 if t_par > 0 else math.nan
        row[f"beta_par_{sp.name}"] = 2.0 * n_mean * t_par / b2
        row[f"beta_perp_{sp.name}"] = 2.0 * n_mean * t_perp / b2
        row[f"energy_kinetic_{sp.name}"] = ekin * grid.dx
        e_total += ekin * grid.dx
    row["energy_total"] = e_total
    return row


class HistoryOutput:
    """history.h5: one row of scalars every ``every`` steps."""

    def __init__(self, sim, path: Path | None, every: int):
        self.every = every
        self.sim = sim
        self.moments = MomentCalculator(sim.domain, sim.grid.n_arr, sim.cfg.grid.shape_order)
        self.series = None
        if path is not None and every and sim.domain.is_root:
            self.series = AppendableSeries(path, attrs=common_attrs(sim))
        self.last: dict[str, float] | None = None
        #: rows kept in memory when not None (set ``keep_rows()``; for in-process use)
        self.rows: list[dict[str, float]] | None = None

    def keep_rows(self) -> None:
        """Also keep every written row in :attr:`rows` (in-process analysis, tests)."""
        self.rows = []

    def arrays(self) -> dict[str, np.ndarray]:
        """The kept rows as one array per quantity."""
        if not self.rows:
            return {}
        return {k: np.array([row[k] for row in self.rows]) for k in self.rows[0]}

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def write(self) -> dict[str, float]:
        """Compute (all ranks) and append (root) one row; returns the row."""
        row = history_row(self.sim, self.moments)
        if self.series is not None:
            self.series.append(row)
        if self.rows is not None:
            self.rows.append(row)
        self.last = row
        return row


class SpectraOutput:
    """spectra.h5: dB_y, dB_z, E_y, E_z on integer nodes (every ``stride``-th cell)."""

    def __init__(self, sim, path: Path | None, every: int, stride: int):
        self.every = every
        self.stride = stride
        self.sim = sim
        self.series = None
        n = sim.cfg.grid.cells
        self.x = np.arange(0, n, stride) * sim.cfg.grid.dx
        if path is not None and every and sim.domain.is_root:
            attrs = common_attrs(sim)
            attrs.update({"interval": every, "stride": stride})
            self.series = AppendableSeries(path, attrs=attrs)
            self.series.define("time")
            self.series.define("step", dtype=np.int64)
            for name in ("dBy", "dBz", "Ey", "Ez"):
                self.series.define(name, n_x=self.x.size)
            with self.series._open() as f:  # static coordinate
                if "x" not in f:
                    f.create_dataset("x", data=self.x)

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def write(self) -> None:
        sim = self.sim
        nodes = sim.gather_node_fields()
        if self.series is None:
            return
        f = nodes[:: self.stride]
        by, bz = nodes[:, 4], nodes[:, 5]
        self.series.append({
            "time": sim.time,
            "step": sim.step,
            "dBy": f[:, 4] - by.mean(),
            "dBz": f[:, 5] - bz.mean(),
            "Ey": f[:, 1],
            "Ez": f[:, 2],
        })  # fmt: skip


class FieldOutput:
    """fields/dataNNNNNN.h5: openPMD meshes E, B, J, rho and per-species moments."""

    def __init__(self, sim, directory: Path | None, every: int, moments: bool):
        self.every = every
        self.sim = sim
        self.directory = directory
        self.with_moments = moments
        self.moments = MomentCalculator(sim.domain, sim.grid.n_arr, sim.cfg.grid.shape_order)
        self.rho = np.zeros(sim.grid.n_arr)
        if directory is not None and every and sim.domain.is_root:
            directory.mkdir(parents=True, exist_ok=True)

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def write(self) -> None:
        sim = self.sim
        grid, sf, t = sim.grid, sim.sf, sim.time
        det = sf.det(t)
        nodes = sim.gather_node_fields()
        current = sim.gather_interior(grid.physical_current(sf, t))
        from pic1d.kernels.deposit import deposit_charge

        self.rho[:] = 0.0
        for sp in sim.species:
            if not sp.tracer and sp.n:
                deposit_charge(sp.x[: sp.n], sp.qw_arg(), sim.domain.x_offset, self.rho,
                               sim.cfg.grid.shape_order)  # fmt: skip
        sim.domain.fold_ghosts(self.rho)
        sim.domain.sum_replicas(self.rho)
        rho = sim.gather_interior(self.rho[grid.interior][None, :] / det)
        gathered = []
        if self.with_moments:
            for sp in sim.species:
                if sp.tracer:
                    continue
                fl = self.moments.fluid(sp, det)
                gathered.append((sp.name, sim.gather_interior(fl["n"][None, :]),
                                 sim.gather_interior(fl["U"]), sim.gather_interior(fl["P"])))
        if not sim.domain.is_root or self.directory is None:
            return
        meshes: dict = {
            "E": {"x": nodes[:, 0], "y": nodes[:, 1], "z": nodes[:, 2]},
            "B": {"x": nodes[:, 3], "y": nodes[:, 4], "z": nodes[:, 5]},
            "J": {"x": current[0], "y": current[1], "z": current[2]},
            "rho": rho[0],
        }
        for name, n, u, p in gathered:
            meshes[f"density_{name}"] = n[0]
            meshes[f"bulk_velocity_{name}"] = {"x": u[0], "y": u[1], "z": u[2]}
            meshes[f"pressure_{name}"] = dict(
                zip(("xx", "yy", "zz", "xy", "xz", "yz"), p, strict=True)
            )
        ax, ay, az = sf.a(t)
        write_mesh_iteration(
            self.directory / f"data{sim.step:06d}.h5", sim.step, t, grid.dt, meshes,
            grid_spacing=grid.dx, grid_offset=0.0,
            iteration_attrs={"step": sim.step, "a_x": ax, "a_y": ay, "a_z": az},
        )  # fmt: skip


def interior_of(a: np.ndarray) -> np.ndarray:
    """Interior part of a grid array (last axis)."""
    return a[..., N_GHOST:-N_GHOST]
