"""openPMD 1.1 (+ ED-PIC extension) writer for 1D meshes and particles, file-based.

One file per iteration (``fields/data%06d.h5``, ``tracers/data%06d.h5``), written
atomically with :func:`pic1d.io.atomic.atomic_h5`, so a reader never sees a partial
iteration. The files pass ``openPMD_check_h5`` and are read unchanged by openPMD-viewer,
openPMD-api, yt, VisIt and ParaView.

Units
-----
pic1d computes in normalised code units (PHYSICS.md section 1): time 1/omega_pe0, length
d_e0 = c/omega_pe0, velocity c, mass m_e, charge e, density n0, fields
m_e c omega_pe0 / e, momentum per unit mass u = gamma v / c. The data are always stored in
these code units. The openPMD ``unitSI`` / ``timeUnitSI`` / ``gridUnitSI`` factors are 1.0
unless the caller passes SI conversion factors (e.g. for a chosen reference density n0);
``unitDimension`` always states the physical dimension of the record, and the code unit of
each record is spelled out in its ``comment`` attribute and in the root attribute
``pic1d_units``. Readers that apply ``unitSI`` blindly (openPMD-viewer) therefore get code
units, except that openPMD-viewer's ``ux`` is ``p / (m c_SI)``; pic1d's own reader
(:mod:`postprocess.io`) always returns the stored code-unit values.

All string attributes are written as fixed-length ASCII (``numpy.bytes_``), as the
standard and its validator require.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from pic1d.io.atomic import atomic_h5

__all__ = [
    "CODE_UNITS",
    "MeshRecord",
    "OPENPMD_VERSION",
    "ParticleSpecies",
    "UNIT_DIMENSION",
    "write_mesh_iteration",
    "write_particle_iteration",
    "write_particles_iteration",
    "iteration_files",
    "remove_iterations_after",
]

#: openPMD standard version written in the root attribute ``openPMD``.
OPENPMD_VERSION = "1.1.0"
#: Bit of the ED-PIC extension in ``openPMDextension``.
ED_PIC = 1

#: Human-readable description of the code units, stored as root attribute ``pic1d_units``.
CODE_UNITS = (
    "pic1d code units: time 1/omega_pe0; length d_e0 = c/omega_pe0; velocity c; "
    "momentum per unit mass u = gamma v/c; mass m_e; charge e; density n0 (initial "
    "electron density); E and B m_e c omega_pe0/e; J e n0 c; rho e n0; pressure "
    "n0 m_e c^2. Stored values are in these units; unitSI/timeUnitSI/gridUnitSI = 1 means "
    "no SI conversion was supplied."
)

# Powers of (L, M, T, I, theta, N, J) for the records pic1d writes.
_DIM_E = (1.0, 1.0, -3.0, -1.0, 0.0, 0.0, 0.0)
_DIM_B = (0.0, 1.0, -2.0, -1.0, 0.0, 0.0, 0.0)
_DIM_J = (-2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
_DIM_RHO = (-3.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
_DIM_DENSITY = (-3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_DIM_PRESSURE = (-1.0, 1.0, -2.0, 0.0, 0.0, 0.0, 0.0)
_DIM_LENGTH = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_DIM_MOMENTUM = (1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0)
_DIM_MASS = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_DIM_CHARGE = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
_DIM_NONE = (0.0,) * 7

#: Default ``unitDimension`` and code-unit comment of mesh records, by name or prefix
#: (a prefix ends with ``_``).
UNIT_DIMENSION: dict[str, tuple[tuple[float, ...], str]] = {
    "E": (_DIM_E, "m_e c omega_pe0 / e"),
    "B": (_DIM_B, "m_e c omega_pe0 / e"),
    "J": (_DIM_J, "e n0 c"),
    "rho": (_DIM_RHO, "e n0"),
    "density_": (_DIM_DENSITY, "n0"),
    "bulk_u_": (_DIM_NONE, "c (u = gamma v / c)"),
    "pressure_": (_DIM_PRESSURE, "n0 m_e c^2"),
}

_NAME = re.compile(r"^\w+$", re.ASCII)


# ----------------------------------------------------------------------------- helpers
def _s(text: str) -> np.bytes_:
    """A fixed-length string attribute value."""
    return np.bytes_(str(text).encode("utf-8"))


def _attr(value: Any) -> Any:
    """Convert a Python value to an HDF5 attribute value (strings fixed-length)."""
    if isinstance(value, str):
        return _s(value)
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return np.array([v.encode("utf-8") for v in value])
    if isinstance(value, Mapping):
        return _s(json.dumps(value, default=str))
    return value


def _set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any] | None) -> None:
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        obj.attrs[key] = _attr(value)


def _software_version() -> str:
    try:
        return metadata.version("pic1d")
    except metadata.PackageNotFoundError:  # pragma: no cover - uninstalled checkout
        return "unknown"


def _date() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def _iteration_format(path: Path, iteration: int) -> str:
    """``data%T.h5`` from ``data000100.h5`` (openPMD 1.1 has no padding syntax)."""
    m = re.match(r"^(.*?)(\d+)(\.h5|\.hdf5)$", path.name)
    if m is None or int(m.group(2)) != iteration:
        raise ValueError(
            f"file-based openPMD: the file name {path.name!r} must contain the iteration "
            f"{iteration} as its last number before the extension, e.g. data{iteration:06d}.h5"
        )
    return f"{m.group(1)}%T{m.group(3)}"


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"openPMD {what} name {name!r} may only contain a-z, A-Z, 0-9 and _")


def _write_root(
    f: h5py.File,
    path: Path,
    iteration: int,
    has_meshes: bool,
    has_particles: bool,
    attrs: Mapping[str, Any] | None,
) -> None:
    """Root attributes required/recommended by the standard, then the caller's extras."""
    f.attrs["openPMD"] = _s(OPENPMD_VERSION)
    f.attrs["openPMDextension"] = np.uint32(ED_PIC)
    f.attrs["basePath"] = _s("/data/%T/")
    if has_meshes:
        f.attrs["meshesPath"] = _s("meshes/")
    if has_particles:
        f.attrs["particlesPath"] = _s("particles/")
    f.attrs["iterationEncoding"] = _s("fileBased")
    f.attrs["iterationFormat"] = _s(_iteration_format(path, iteration))
    f.attrs["author"] = _s("unknown")
    f.attrs["software"] = _s("pic1d")
    f.attrs["softwareVersion"] = _s(_software_version())
    f.attrs["date"] = _s(_date())
    f.attrs["pic1d_units"] = _s(CODE_UNITS)
    _set_attrs(f, attrs)


def _write_iteration_group(
    f: h5py.File,
    iteration: int,
    time: float,
    dt: float,
    time_unit_si: float,
    iteration_attrs: Mapping[str, Any] | None,
) -> h5py.Group:
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    it = f.create_group(f"data/{int(iteration)}")
    it.attrs["time"] = np.float64(time)
    it.attrs["dt"] = np.float64(dt)
    it.attrs["timeUnitSI"] = np.float64(time_unit_si)
    _set_attrs(it, iteration_attrs)
    return it


def _as_1d(values: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1D array, got shape {arr.shape}")
    return arr


# ------------------------------------------------------------------------------ meshes
@dataclass(frozen=True)
class MeshRecord:
    """A mesh record with per-record openPMD metadata.

    Attributes
    ----------
    data : array_like or mapping of str to array_like
        A 1D array (scalar record, e.g. ``rho``) or component name -> 1D array
        (``E`` -> {"x", "y", "z"}; pressure -> {"xx", ...}).
    position : float
        Staggering of the values within a cell, in [0, 1): 0.0 for integer nodes, 0.5 for
        half nodes. pic1d writes all fields collocated at integer nodes (0.0).
    unit_dimension : sequence of 7 float, optional
        Powers of (L, M, T, I, theta, N, J). Default from :data:`UNIT_DIMENSION` by name
        (zeros for unknown names).
    unit_si : float
        Factor converting the stored code-unit values to SI (1.0: no conversion known).
    time_offset : float
        Offset of this record's time from the iteration's ``time`` (1/omega_pe0).
    unit : str, optional
        Human-readable code unit, stored as the record's ``comment``.
    attrs : mapping, optional
        Extra attributes of the record (group or scalar dataset).
    """

    data: ArrayLike | Mapping[str, ArrayLike]
    position: float = 0.0
    unit_dimension: Sequence[float] | None = None
    unit_si: float = 1.0
    time_offset: float = 0.0
    unit: str | None = None
    attrs: Mapping[str, Any] | None = None


def _default_dimension(name: str) -> tuple[tuple[float, ...], str | None]:
    if name in UNIT_DIMENSION:
        return UNIT_DIMENSION[name]
    for key, value in UNIT_DIMENSION.items():
        if key.endswith("_") and name.startswith(key):
            return value
    return _DIM_NONE, None


_EDPIC_MESHES_DEFAULTS: dict[str, Any] = {
    "fieldSolver": "Yee",
    "fieldBoundary": ["periodic", "periodic"],
    "particleBoundary": ["periodic", "periodic"],
    "currentSmoothing": "none",
    "chargeCorrection": "none",
}


def write_mesh_iteration(
    path: str | os.PathLike[str],
    iteration: int,
    time: float,
    dt: float,
    meshes: Mapping[str, ArrayLike | Mapping[str, ArrayLike] | MeshRecord],
    grid_spacing: float | Sequence[float],
    grid_offset: float | Sequence[float],
    time_unit_si: float = 1.0,
    length_unit_si: float = 1.0,
    attrs: Mapping[str, Any] | None = None,
    *,
    iteration_attrs: Mapping[str, Any] | None = None,
    meshes_attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write one openPMD iteration of 1D meshes to its own file, atomically.

    Parameters
    ----------
    path : path-like
        Output file, e.g. ``RUN/fields/data000100.h5``; its name must end with the
        iteration number (``iterationFormat`` is derived from it: ``data%T.h5``).
    iteration : int
        Step number of the snapshot (>= 0).
    time : float
        Simulation time of the iteration (1/omega_pe0).
    dt : float
        Time step (1/omega_pe0).
    meshes : mapping
        Record name -> 1D array (scalar record), mapping component -> 1D array (vector /
        tensor record), or :class:`MeshRecord`. All arrays must have the same length
        n_x (global grid, gathered on the writing rank). Names: ``\\w+`` only.
    grid_spacing : float or sequence of one float
        Spacing of the written points (d_e0); ``stride * dx`` for a down-sampled output.
    grid_offset : float or sequence of one float
        Position of the first written point minus ``position * grid_spacing`` (d_e0).
    time_unit_si : float
        Seconds per code time unit (1.0 if unknown).
    length_unit_si : float
        Metres per code length unit (``gridUnitSI``; 1.0 if unknown).
    attrs : mapping, optional
        Extra root attributes, and overrides of the recommended ones (``author``,
        ``softwareVersion``, ``comment``...). Strings are stored fixed-length.
    iteration_attrs : mapping, optional
        Extra attributes of the iteration group ``/data/<iteration>/`` (e.g. ``step``,
        ``a_x``, ``a_y``, ``a_z``).
    meshes_attrs : mapping, optional
        ED-PIC attributes of the meshes group overriding the defaults
        (``fieldSolver="Yee"``, periodic ``fieldBoundary``/``particleBoundary``,
        ``currentSmoothing="none"``, ``chargeCorrection="none"``). When a smoothing is
        given, also give its ``...Parameters`` string, e.g.
        ``{"currentSmoothing": "Binomial",
        "currentSmoothingParameters": "period=1;numPasses=4;compensator=false"}``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    spacing = np.atleast_1d(np.asarray(grid_spacing, dtype=np.float64))
    offset = np.atleast_1d(np.asarray(grid_offset, dtype=np.float64))
    if spacing.shape != (1,) or offset.shape != (1,):
        raise ValueError("grid_spacing and grid_offset must be scalars (1D meshes)")
    if not meshes:
        raise ValueError("write_mesh_iteration: no mesh records given")

    records: dict[str, tuple[MeshRecord, dict[str, np.ndarray] | np.ndarray]] = {}
    n_x: int | None = None
    for name, spec in meshes.items():
        _check_name(name, "mesh record")
        rec = spec if isinstance(spec, MeshRecord) else MeshRecord(spec)
        if not 0.0 <= rec.position < 1.0:
            raise ValueError(f"mesh {name}: position must be in [0, 1), got {rec.position}")
        if isinstance(rec.data, Mapping):
            if not rec.data:
                raise ValueError(f"mesh {name}: no components")
            comps = {}
            for cname, values in rec.data.items():
                _check_name(cname, f"component of mesh {name}")
                comps[cname] = _as_1d(values, f"mesh {name}/{cname}")
            arrays: dict[str, np.ndarray] | np.ndarray = comps
            lengths = [a.shape[0] for a in comps.values()]
        else:
            arrays = _as_1d(rec.data, f"mesh {name}")
            lengths = [arrays.shape[0]]
        n_x = lengths[0] if n_x is None else n_x
        if any(n != n_x for n in lengths):
            raise ValueError(
                f"mesh {name}: all records and components must have the same length "
                f"(got {lengths}, expected {n_x})"
            )
        records[name] = (rec, arrays)

    with atomic_h5(out) as f:
        _write_root(f, out, iteration, True, False, attrs)
        it = _write_iteration_group(f, iteration, time, dt, time_unit_si, iteration_attrs)
        mgroup = it.create_group("meshes")
        edpic = dict(_EDPIC_MESHES_DEFAULTS)
        edpic.update(meshes_attrs or {})
        _set_attrs(mgroup, edpic)
        for name, (rec, arrays) in records.items():
            dim, unit = _default_dimension(name)
            if rec.unit_dimension is not None:
                dim = tuple(float(v) for v in rec.unit_dimension)
                if len(dim) != 7:
                    raise ValueError(f"mesh {name}: unit_dimension needs 7 entries")
            unit = rec.unit if rec.unit is not None else unit
            if isinstance(arrays, dict):
                rgroup = mgroup.create_group(name)
                for cname, values in arrays.items():
                    dset = rgroup.create_dataset(cname, data=values)
                    dset.attrs["unitSI"] = np.float64(rec.unit_si)
                    dset.attrs["position"] = np.array([rec.position], dtype=np.float64)
                target: h5py.HLObject = rgroup
            else:
                target = mgroup.create_dataset(name, data=arrays)
                target.attrs["unitSI"] = np.float64(rec.unit_si)
                target.attrs["position"] = np.array([rec.position], dtype=np.float64)
            target.attrs["unitDimension"] = np.array(dim, dtype=np.float64)
            target.attrs["timeOffset"] = np.float64(rec.time_offset)
            target.attrs["geometry"] = _s("cartesian")
            target.attrs["dataOrder"] = _s("C")
            target.attrs["axisLabels"] = np.array([b"x"])
            target.attrs["gridSpacing"] = spacing
            target.attrs["gridGlobalOffset"] = offset
            target.attrs["gridUnitSI"] = np.float64(length_unit_si)
            target.attrs["fieldSmoothing"] = _s("none")
            if unit:
                target.attrs["comment"] = _s(f"code unit: {unit}")
            _set_attrs(target, rec.attrs)
    return out


# --------------------------------------------------------------------------- particles
@dataclass(frozen=True)
class ParticleSpecies:
    """Particle data of one species for :func:`write_particles_iteration`.

    Attributes
    ----------
    name : str
        Species name (``\\w+``).
    ids : array_like of int
        Non-negative unique particle ids (stored as uint64).
    x : array_like
        Positions in **cells** (pic1d convention, global co-moving); stored as
        ``x * dx`` in d_e0.
    ux, uy, uz : array_like
        Momentum per unit mass u = gamma v / c (physical components).
    dx : float
        Cell size (d_e0) used to convert ``x``.
    charge : float
        Charge of one particle (e).
    mass : float
        Mass of one particle (m_e).
    weighting : float
        Macro-particle weight (pic1d: n_s / ppc_s in n0 per particle per cell; 0 for test
        particles).
    dtype : dtype, optional
        Storage type of the momenta (e.g. ``numpy.float32``); positions stay float64.
    chunk : int, optional
        Chunk length (particles) of the datasets; default min(n, 131072).
    shape_order : int
        Particle shape order (ED-PIC ``particleShape``): 1 CIC, 2 TSC.
    current_deposition : str
        ED-PIC ``currentDeposition`` ("Esirkepov"; "none" for test particles).
    particle_push : str
        ED-PIC ``particlePush``.
    particle_interpolation : str
        ED-PIC ``particleInterpolation``.
    length_unit_si, momentum_unit_si, mass_unit_si, charge_unit_si : float
        SI factors of the code units d_e0, m_e c, m_e, e (1.0: code units). The
        momentum component's ``unitSI`` is ``mass * momentum_unit_si`` because the stored
        value is the momentum per unit mass.
    attrs : mapping, optional
        Extra attributes of the species group.
    """

    name: str
    ids: ArrayLike
    x: ArrayLike
    ux: ArrayLike
    uy: ArrayLike
    uz: ArrayLike
    dx: float
    charge: float
    mass: float
    weighting: float = 1.0
    dtype: DTypeLike | None = None
    chunk: int | None = None
    shape_order: int = 1
    current_deposition: str = "Esirkepov"
    particle_push: str = "Boris"
    particle_interpolation: str = "momentumConserving"
    length_unit_si: float = 1.0
    momentum_unit_si: float = 1.0
    mass_unit_si: float = 1.0
    charge_unit_si: float = 1.0
    attrs: Mapping[str, Any] | None = field(default=None)
    #: written by several ranks: ((part file relative to the output file, count), ...) in
    #: the order of the global particle index; ids/x/u are then ignored and the datasets
    #: are HDF5 virtual datasets over ``<species>/{id,x,ux,uy,uz}`` of the part files
    #: (see :func:`write_particle_part`); ``x_range`` = (min, max) of x in cells
    parts: Sequence[tuple[str, int]] | None = None
    x_range: tuple[float, float] | None = None


def _record_attrs(
    obj: h5py.HLObject,
    dim: Sequence[float],
    weighting_power: float,
    macro_weighted: int,
    comment: str | None = None,
) -> None:
    obj.attrs["unitDimension"] = np.array(dim, dtype=np.float64)
    obj.attrs["timeOffset"] = np.float64(0.0)
    obj.attrs["weightingPower"] = np.float64(weighting_power)
    obj.attrs["macroWeighted"] = np.uint32(macro_weighted)
    if comment:
        obj.attrs["comment"] = _s(comment)


def _constant(group: h5py.Group, name: str, value: float, n: int, unit_si: float) -> h5py.Group:
    g = group.create_group(name)
    g.attrs["value"] = np.float64(value)
    g.attrs["shape"] = np.array([n], dtype=np.uint64)
    g.attrs["unitSI"] = np.float64(unit_si)
    return g


def write_particle_part(path: str | os.PathLike[str],
                        species: Sequence[ParticleSpecies]) -> Path:
    """One rank's share of a multi-rank particle dump (plain HDF5, atomic).

    Datasets ``<species>/id`` (uint64), ``<species>/x`` (float64, d_e0 = x_cells * dx),
    ``<species>/ux``, ``uy``, ``uz`` (the species' dtype). The openPMD file of the
    iteration maps them with virtual datasets (:class:`ParticleSpecies` ``parts``).
    """
    out = Path(path)
    with atomic_h5(out) as f:
        for sp in species:
            g = f.create_group(sp.name)
            g.create_dataset("id", data=_as_1d(sp.ids, "ids").astype(np.uint64, copy=False))
            g.create_dataset("x", data=_as_1d(sp.x, "x").astype(np.float64) * np.float64(sp.dx))
            dt = np.dtype(sp.dtype) if sp.dtype is not None else None
            for comp, values in (("ux", sp.ux), ("uy", sp.uy), ("uz", sp.uz)):
                arr = _as_1d(values, comp)
                g.create_dataset(comp, data=arr.astype(dt, copy=False) if dt is not None else arr)
    return out


def _virtual(group: h5py.Group, name: str, sp: ParticleSpecies, source: str,
             dtype: DTypeLike) -> h5py.Dataset:
    """A virtual dataset concatenating ``<species>/<source>`` of the part files."""
    total = sum(n for _, n in sp.parts)
    layout = h5py.VirtualLayout(shape=(total,), dtype=np.dtype(dtype))
    offset = 0
    for fname, n in sp.parts:
        if n:
            layout[offset : offset + n] = h5py.VirtualSource(fname, f"{sp.name}/{source}",
                                                             shape=(n,))  # fmt: skip
        offset += n
    return group.create_virtual_dataset(name, layout, fillvalue=0)


def _check_species_data(sp: ParticleSpecies):
    """Validated (ids, x, momenta by component) of an in-memory species."""
    ids = _as_1d(sp.ids, f"{sp.name}: ids")
    x = _as_1d(sp.x, f"{sp.name}: x").astype(np.float64, copy=False)
    mom_dtype = np.dtype(sp.dtype) if sp.dtype is not None else None
    moms = {}
    for comp, values in (("x", sp.ux), ("y", sp.uy), ("z", sp.uz)):
        arr = _as_1d(values, f"{sp.name}: u{comp}")
        moms[comp] = arr.astype(mom_dtype, copy=False) if mom_dtype is not None else arr
    n = ids.shape[0]
    if x.shape[0] != n or any(a.shape[0] != n for a in moms.values()):
        raise ValueError(f"species {sp.name}: ids, x, ux, uy, uz must have the same length")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"species {sp.name}: ids must be integers, got {ids.dtype}")
    if ids.dtype.kind == "i" and n and ids.min() < 0:
        raise ValueError(f"species {sp.name}: ids must be non-negative")
    return ids, x, moms


def _write_species(pgroup: h5py.Group, sp: ParticleSpecies) -> None:
    """One species: records id, position, positionOffset, momentum, charge, mass,
    weighting and particlePatches. The per-particle records are regular datasets of the
    in-memory arrays, or (``sp.parts``) virtual datasets over the part files."""
    _check_name(sp.name, "particle species")
    if not math.isfinite(sp.dx) or sp.dx <= 0:
        raise ValueError(f"species {sp.name}: dx must be positive, got {sp.dx}")
    virtual = sp.parts is not None
    mom_dtype = None
    if virtual:
        n = int(sum(c for _, c in sp.parts))
        mom_dtype = np.dtype(sp.dtype) if sp.dtype is not None else np.dtype(np.float64)
        counts = np.array([c for _, c in sp.parts], dtype=np.uint64)
        x_lo, x_hi = sp.x_range if sp.x_range is not None else (0.0, 0.0)
    else:
        ids, x, moms = _check_species_data(sp)
        n = ids.shape[0]
        counts = np.array([n], dtype=np.uint64)
        x_lo = float(x.min()) if n else 0.0
        x_hi = float(x.max()) if n else -1.0
    chunk = (int(max(1, min(n, sp.chunk if sp.chunk else 1 << 17))),) if n > 0 else None

    def put(group: h5py.Group, name: str, source: str, data, dtype) -> h5py.Dataset:
        if virtual:
            return _virtual(group, name, sp, source, dtype)
        return group.create_dataset(name, data=data, chunks=chunk)

    g = pgroup.create_group(sp.name)
    _set_attrs(g, {"particleShape": np.float64(sp.shape_order),
                   "currentDeposition": sp.current_deposition,
                   "particlePush": sp.particle_push,
                   "particleInterpolation": sp.particle_interpolation,
                   "particleSmoothing": "none"})  # fmt: skip
    d = put(g, "id", "id", None if virtual else ids.astype(np.uint64, copy=False), np.uint64)
    d.attrs["unitSI"] = np.float64(1.0)
    _record_attrs(d, _DIM_NONE, 0.0, 0, "globally unique particle id")

    pos = g.create_group("position")
    _record_attrs(pos, _DIM_LENGTH, 0.0, 0, "code unit: d_e0 (co-moving, x_cells * dx)")
    d = put(pos, "x", "x", None if virtual else x * np.float64(sp.dx), np.float64)
    d.attrs["unitSI"] = np.float64(sp.length_unit_si)

    off = g.create_group("positionOffset")
    _record_attrs(off, _DIM_LENGTH, 0.0, 0, "code unit: d_e0")
    _constant(off, "x", 0.0, n, sp.length_unit_si)

    mom = g.create_group("momentum")
    _record_attrs(mom, _DIM_MOMENTUM, 1.0, 0,
                  "stored value: u = gamma v / c (momentum per unit mass, code unit c); "
                  "momentum = mass * u in m_e c")  # fmt: skip
    for comp in ("x", "y", "z"):
        d = put(mom, comp, f"u{comp}", None if virtual else moms[comp], mom_dtype)
        d.attrs["unitSI"] = np.float64(sp.mass * sp.momentum_unit_si)

    for name, value, dim, unit_si, text in (
        ("charge", sp.charge, _DIM_CHARGE, sp.charge_unit_si, "code unit: e"),
        ("mass", sp.mass, _DIM_MASS, sp.mass_unit_si, "code unit: m_e"),
    ):
        c = _constant(g, name, value, n, unit_si)
        _record_attrs(c, dim, 1.0, 0, text)
    w = _constant(g, "weighting", sp.weighting, n, 1.0)
    _record_attrs(w, _DIM_NONE, 1.0, 1, "pic1d macro-particle weight (n0 per particle per cell)")

    # particle patches: one per written block (one for serial / gathered output, one per
    # part file of a multi-rank dump), each spanning the occupied x range
    patches = g.create_group("particlePatches")
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.uint64)
    for pname, value in (("numParticles", counts), ("numParticlesOffset", offsets)):
        d = patches.create_dataset(pname, data=value)
        d.attrs["unitSI"] = np.float64(1.0)
    lo = float(np.floor(x_lo)) if n else 0.0
    hi = float(np.floor(x_hi)) + 1.0 if n else 0.0
    for pname, value in (("offset", lo * sp.dx), ("extent", (hi - lo) * sp.dx)):
        pg = patches.create_group(pname)
        pg.attrs["unitDimension"] = np.array(_DIM_LENGTH, dtype=np.float64)
        d = pg.create_dataset("x", data=np.full(counts.size, value, dtype=np.float64))
        d.attrs["unitSI"] = np.float64(sp.length_unit_si)
    _set_attrs(g, sp.attrs)


def write_particles_iteration(
    path: str | os.PathLike[str],
    iteration: int,
    time: float,
    dt: float,
    species: Sequence[ParticleSpecies],
    time_unit_si: float = 1.0,
    attrs: Mapping[str, Any] | None = None,
    *,
    iteration_attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write one openPMD iteration holding several particle species, atomically.

    Parameters
    ----------
    path : path-like
        Output file, e.g. ``RUN/tracers/data000100.h5``.
    iteration : int
        Step number (>= 0).
    time, dt : float
        Time of the snapshot and time step (1/omega_pe0).
    species : sequence of ParticleSpecies
        The species to write (distinct names).
    time_unit_si : float
        Seconds per code time unit (1.0 if unknown).
    attrs : mapping, optional
        Extra root attributes / overrides (see :func:`write_mesh_iteration`).
    iteration_attrs : mapping, optional
        Extra attributes of ``/data/<iteration>/``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    names = [sp.name for sp in species]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate species names: {names}")
    with atomic_h5(out) as f:
        _write_root(f, out, iteration, False, True, attrs)
        it = _write_iteration_group(f, iteration, time, dt, time_unit_si, iteration_attrs)
        pgroup = it.create_group("particles")
        for sp in species:
            _write_species(pgroup, sp)
    return out


def write_particle_iteration(
    path: str | os.PathLike[str],
    iteration: int,
    time: float,
    dt: float,
    species_name: str,
    ids: ArrayLike,
    x: ArrayLike,
    ux: ArrayLike,
    uy: ArrayLike,
    uz: ArrayLike,
    dtype: DTypeLike | None = None,
    chunk: int | None = None,
    attrs: Mapping[str, Any] | None = None,
    *,
    dx: float,
    charge: float,
    mass: float,
    weighting: float = 1.0,
    time_unit_si: float = 1.0,
    iteration_attrs: Mapping[str, Any] | None = None,
    **species_options: Any,
) -> Path:
    """Write one species' tracer dump as an openPMD iteration (one file), atomically.

    Parameters
    ----------
    path : path-like
        Output file, e.g. ``RUN/tracers/data000100.h5``.
    iteration : int
        Step number (>= 0).
    time, dt : float
        Time of the snapshot and time step (1/omega_pe0).
    species_name : str
        Species group name.
    ids : array_like of int
        Particle ids (non-negative; stored uint64).
    x : array_like
        Positions in cells (stored as ``x * dx``, d_e0).
    ux, uy, uz : array_like
        u = gamma v / c per unit mass.
    dtype : dtype, optional
        Storage type of the momenta (e.g. float32). Positions stay float64.
    chunk : int, optional
        Chunk length in particles (default min(n, 131072): one snapshot reads in a few
        large contiguous pieces).
    attrs : mapping, optional
        Extra root attributes / overrides.
    dx : float
        Cell size (d_e0). Keyword-only and required so cells are never mistaken for d_e0.
    charge, mass : float
        Charge (e) and mass (m_e) of one particle.
    weighting : float
        Macro-particle weight.
    time_unit_si : float
        Seconds per code time unit.
    iteration_attrs : mapping, optional
        Extra attributes of ``/data/<iteration>/``.
    **species_options
        Further :class:`ParticleSpecies` fields (``shape_order``, ``current_deposition``,
        SI factors, ``attrs``...).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    sp = ParticleSpecies(
        name=species_name,
        ids=ids,
        x=x,
        ux=ux,
        uy=uy,
        uz=uz,
        dx=dx,
        charge=charge,
        mass=mass,
        weighting=weighting,
        dtype=dtype,
        chunk=chunk,
        **species_options,
    )
    return write_particles_iteration(
        path, iteration, time, dt, [sp], time_unit_si, attrs, iteration_attrs=iteration_attrs
    )


_ITER_FILE = re.compile(r"^data(\d+)\.h5$")


_PART_FILE = re.compile(r"^data(\d+)_r\d+\.h5$")


def iteration_files(directory: str | os.PathLike[str]) -> dict[int, Path]:
    """Complete iteration files ``data%06d.h5`` of a file-based series, by iteration.

    Parameters
    ----------
    directory : path-like
        E.g. ``RUN/fields``. A missing directory gives an empty dict.

    Returns
    -------
    dict of int to pathlib.Path
        Sorted by iteration. Temporary files (``.data...tmp``) are never included.
    """
    d = Path(directory)
    if not d.is_dir():
        return {}
    found = {int(m.group(1)): e for e in d.iterdir() if (m := _ITER_FILE.match(e.name))}
    return dict(sorted(found.items()))


def remove_iterations_after(directory: str | os.PathLike[str], step: int) -> list[int]:
    """Delete iteration files with iteration > ``step`` (restart from a checkpoint at step).

    Parameters
    ----------
    directory : path-like
        E.g. ``RUN/fields`` or ``RUN/tracers``.
    step : int
        Step of the checkpoint being restarted from.

    Returns
    -------
    list of int
        The removed iterations.
    """
    removed = []
    for it, path in iteration_files(directory).items():
        if it > step:
            path.unlink(missing_ok=True)
            removed.append(it)
    parts = Path(directory) / "parts"  # part files of multi-rank dumps
    if parts.is_dir():
        for e in parts.iterdir():
            m = _PART_FILE.match(e.name)
            if m and int(m.group(1)) > step:
                e.unlink(missing_ok=True)
    return removed
