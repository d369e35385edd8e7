"""TOML decks -> validated, frozen, typed configuration (code units).

A deck is parsed in two passes. The first checks every key's type and range and keeps
quantities with units unresolved; the second computes the run's scales (dx, dt,
Omega_i0, tau_c, d_i0, rho_i0) and converts every quantity to code units or steps.
All problems found are reported together in one :class:`DeckError`; each message names
the section, the key, the given value and what is allowed.

The keys are documented in docs/decks.md.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pic1d.comoving import AxisProfile, ScaleFactors
from pic1d.quantity import Quantity, QuantityError, UnitScales, parse_quantity
from pic1d.units import b0_from_beta, larmor_radius, skin_depth

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class DeckError(ValueError):
    """A deck is invalid. ``problems`` lists every message (section, key, value, allowed)."""

    def __init__(self, problems: list[str], source: str = "deck"):
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


# --------------------------------------------------------------------------- schema

_REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """Schema of one deck key.

    kind is one of: int, float, bool, str, time, length, interval, float3, time_list,
    int_or_auto, mass, temperature, str_list.
    """

    kind: str
    default: Any = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _at_least_one(v: int) -> str | None:
    return None if v >= 1 else "must be >= 1"


def _open_unit(v: float) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


def _growth(v: float) -> str | None:
    return None if v == 0 or v >= 1 else "must be 0 (off) or >= 1"


def _angle(v: float) -> str | None:
    return None if 0 <= v < 90 else "must be in [0, 90) degrees"


SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("str", None, doc="run name (default: the deck's file name)"),
        "output": Key("str", None, doc="run directory (default: runs/<name>)"),
        "seed": Key("int", 12345, check=_non_negative),
        "precision": Key("str", "float64", choices=("float64", "float32")),
        "duration": Key("time", _REQUIRED, doc="simulated time"),
        "progress_seconds": Key("float", 5.0, check=_positive),
        "frozen_fields": Key("bool", False, doc="test-particle mode: no deposit, no field solve"),
        "kernels": Key("str", "auto", choices=("auto", "sorted", "reference"),
                       doc="particle kernels: cell-sorted fused push+deposit (CIC only), the "
                       "split reference kernels, or auto (sorted for CIC, reference for TSC)"),
        "max_energy_growth": Key("float", 10.0, check=_growth,
                                 doc="numerical guard: stop when the total energy exceeds this "
                                 "factor times the initial one (0 = off)"),
    },
    "grid": {
        "cells": Key("int", None, check=_at_least_one),
        "length": Key("length", None),
        "cells_per_de": Key("float", _REQUIRED, check=_positive),
        "cfl": Key("float", 0.45, check=_open_unit),
        "filter_passes": Key("int", 0, check=_non_negative),
        "shape_order": Key("int", 1, choices=(1, 2)),
    },
    "plasma": {
        "mass_ratio": Key("float", _REQUIRED, check=_positive),
        "beta": Key("float", _REQUIRED, check=_positive),
        "theta": Key("float", _REQUIRED, check=_positive, doc="kT_e/(m_e c^2)"),
        "T_e_over_T_i": Key("float", 1.0, check=_positive),
        "B_angle_deg": Key("float", 0.0, check=_angle),
        "ppc": Key("int", 64, check=_at_least_one, doc="default particles per cell per species"),
    },
    "compression": {
        "profile": Key("str", "none", choices=("none", "power", "exponential")),
        "tau_c": Key("time", None),
        "axes": Key("str_list", ["y", "z"], choices=("x", "y", "z")),
        "exponent": Key("float", 1.0),
        "tau_x": Key("time", None),
        "tau_y": Key("time", None),
        "tau_z": Key("time", None),
        "exponent_x": Key("float", None),
        "exponent_y": Key("float", None),
        "exponent_z": Key("float", None),
        "t_halt": Key("time", None),
        "t_reset_waves": Key("time_list", []),
    },
    "species": {
        "name": Key("str", _REQUIRED),
        "charge": Key("float", None),
        "mass": Key("mass", None),
        "density": Key("float", 1.0, check=_positive),
        "ppc": Key("int", None, check=_non_negative),
        "count": Key("int", None, check=_non_negative),
        "temperature": Key("temperature", None),
        "anisotropy": Key("float", 1.0, check=_positive),
        "drift": Key("float3", [0.0, 0.0, 0.0]),
        "isotropic_forcing": Key("bool", False),
        "tracer": Key("bool", False),
        "placement": Key("str", "random", choices=("random", "quiet")),
        "position_group": Key("int", 0, check=_non_negative),
        "p_min": Key("float", None, check=_positive),
        "p_max": Key("float", None, check=_positive),
        "sampling": Key("str", "flat_log_p", choices=("flat_p", "flat_log_p")),
    },
    "output": {
        "history": Key("interval", "20 steps"),
        "fields": Key("interval", "1 /Omega_i0"),
        "moments": Key("bool", True),
    },
    "output.spectra": {
        "interval": Key("interval", "0.1 /Omega_i0"),
        "stride": Key("int", 1, check=_at_least_one),
    },
    "output.tracers": {
        "interval": Key("interval", 0),
        "every": Key("int", 1, check=_at_least_one),
        "precision": Key("str", "float32", choices=("float64", "float32")),
    },
    "output.insitu": {
        "interval": Key("interval", 0, doc="dt_measure"),
        "p_bins": Key("int", 50, check=_at_least_one),
        "mu_bins": Key("int", 140, check=_at_least_one),
        "p0_bins": Key("int", 300, check=_at_least_one),
    },
    "checkpoint": {
        "every": Key("interval", 0),
        "every_minutes": Key("float", 0.0, check=_non_negative),
        "keep": Key("int", 2, check=_at_least_one),
    },
    "parallel": {
        "domains": Key("int_or_auto", "auto"),
        "replicas": Key("int_or_auto", "auto"),
    },
}

TOP_LEVEL = ("run", "grid", "plasma", "compression", "species", "output", "checkpoint", "parallel")
REQUIRED_SECTIONS = ("run", "grid", "plasma")
TRACER_ONLY = ("p_min", "p_max", "sampling", "count")
THERMAL_ONLY = ("temperature", "anisotropy", "drift", "isotropic_forcing", "density", "placement")


# --------------------------------------------------------------------- config types


@dataclass(frozen=True)
class RunConfig:
    """[run]: name, output directory, seed, particle precision, duration (code units)."""

    name: str
    output: str
    seed: int
    precision: str
    duration: float
    steps: int
    progress_seconds: float
    frozen_fields: bool = False
    max_energy_growth: float = 10.0
    kernels: str = "auto"


@dataclass(frozen=True)
class GridConfig:
    """[grid]: cells, resolution; dx in d_e0 and dt in 1/omega_pe0 are derived."""

    cells: int
    cells_per_de: float
    cfl: float
    filter_passes: int
    shape_order: int
    dx: float
    dt: float


@dataclass(frozen=True)
class PlasmaConfig:
    """[plasma]: mass ratio, total beta, electron temperature (m_e c^2), B0 (derived)."""

    mass_ratio: float
    beta: float
    theta: float
    T_e_over_T_i: float
    B_angle_deg: float
    ppc: int
    B0: float

    @property
    def theta_i(self) -> float:
        """Ion temperature kT_i/(m_e c^2)."""
        return self.theta / self.T_e_over_T_i


@dataclass(frozen=True)
class CompressionConfig:
    """[compression]: scale-factor profiles (code units) and Appendix-C procedures."""

    profile: str
    tau_c: float | None
    scale_factors: ScaleFactors
    t_halt: float | None
    t_reset_waves: tuple[float, ...]


@dataclass(frozen=True)
class SpeciesConfig:
    """One [[species]] entry (charge in e, mass in m_e, temperature kT in m_e c^2)."""

    name: str
    index: int
    charge: float
    mass: float
    density: float
    ppc: int
    count: int | None
    temperature: float
    anisotropy: float
    drift: tuple[float, float, float]
    isotropic_forcing: bool
    tracer: bool
    placement: str
    position_group: int
    p_min: float | None
    p_max: float | None
    sampling: str

    @property
    def theta(self) -> float:
        """kT/(m_s c^2) of this species."""
        return self.temperature / self.mass

    @property
    def weight(self) -> float:
        """Density per macro-particle (n0), thermal species only."""
        return self.density / self.ppc if self.ppc else 0.0

    def total_count(self, cells: int) -> int:
        """Number of macro-particles in the whole box."""
        if self.count is not None:
            return self.count
        return self.ppc * cells


@dataclass(frozen=True)
class OutputConfig:
    """[output]: cadences in steps (0 = off)."""

    history_every: int
    fields_every: int
    moments: bool
    spectra_every: int
    spectra_stride: int
    tracers_every: int
    tracers_subsample: int
    tracers_precision: str
    insitu_every: int
    insitu_p_bins: int
    insitu_mu_bins: int
    insitu_p0_bins: int


@dataclass(frozen=True)
class CheckpointConfig:
    """[checkpoint]: step cadence (0 = off), wall-clock cadence (minutes, 0 = off), keep."""

    every: int
    every_minutes: float
    keep: int


@dataclass(frozen=True)
class ParallelConfig:
    """[parallel]: domains and replicas (0 = automatic)."""

    domains: int
    replicas: int


@dataclass(frozen=True)
class Config:
    """A validated deck in code units."""

    run: RunConfig
    grid: GridConfig
    plasma: PlasmaConfig
    compression: CompressionConfig
    species: tuple[SpeciesConfig, ...]
    output: OutputConfig
    checkpoint: CheckpointConfig
    parallel: ParallelConfig
    scales: UnitScales
    source_text: str = field(repr=False)
    source_path: str = ""

    def species_by_name(self, name: str) -> SpeciesConfig:
        """The species called ``name``."""
        for s in self.species:
            if s.name == name:
                return s
        raise KeyError(name)


# ------------------------------------------------------------------- first pass


class _Collector:
    """Collects problems while reading raw values."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, key: str, value: Any, why: str) -> None:
        self.problems.append(f"{where} {key} = {value!r}: {why}")


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (allowed: {', '.join(sorted(allowed))})"


def _read_value(spec: Key, raw: Any, where: str, key: str, col: _Collector) -> Any:
    """Type-check one raw value; returns the parsed value or None on error."""

    def bad(why: str) -> None:
        col.add(where, key, raw, why)

    kind = spec.kind
    value: Any
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            return bad("must be an integer")
        value = raw
    elif kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return bad("must be a number")
        value = float(raw)
        if not math.isfinite(value):
            return bad("must be finite (not NaN or inf)")
    elif kind == "bool":
        if not isinstance(raw, bool):
            return bad("must be true or false")
        value = raw
    elif kind == "str":
        if not isinstance(raw, str):
            return bad("must be a string")
        value = raw
    elif kind in ("time", "length", "interval"):
        dim = "length" if kind == "length" else "time"
        try:
            value = parse_quantity(raw, dim)
        except QuantityError as exc:
            return bad(str(exc))
    elif kind == "time_list":
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for item in items:
            try:
                out.append(parse_quantity(item, "time"))
            except QuantityError as exc:
                return bad(str(exc))
        value = out
    elif kind == "float3":
        if (
            not isinstance(raw, list)
            or len(raw) != 3
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw)
        ):
            return bad("must be a list of three numbers")
        value = [float(v) for v in raw]
        if not all(math.isfinite(v) for v in value):
            return bad("must be finite")
    elif kind == "str_list":
        if not isinstance(raw, list) or any(not isinstance(v, str) for v in raw):
            return bad("must be a list of strings")
        value = raw
        if spec.choices:
            wrong = [v for v in value if v not in spec.choices]
            if wrong:
                return bad(f"allowed entries are {', '.join(map(str, spec.choices))}")
        return value
    elif kind == "int_or_auto":
        if raw == "auto":
            return 0
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            return bad('must be a positive integer or "auto"')
        return raw
    elif kind == "mass":
        if raw in ("m_i", "m_e"):
            return raw
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return bad('must be a number (m_e) or "m_i" or "m_e"')
        value = float(raw)
        if not (math.isfinite(value) and value > 0):
            return bad("must be > 0 and finite")
        return value
    elif kind == "temperature":
        if raw in ("T_i", "T_e"):
            return raw
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return bad('must be a number (kT/(m_e c^2)) or "T_i" or "T_e"')
        value = float(raw)
        if not (math.isfinite(value) and value >= 0):
            return bad("must be >= 0 and finite")
        return value
    else:  # pragma: no cover
        raise AssertionError(kind)
    if spec.choices is not None and value not in spec.choices:
        return bad(f"allowed values are {', '.join(map(str, spec.choices))}")
    if spec.check is not None and not isinstance(value, Quantity):
        why = spec.check(value)
        if why:
            return bad(why)
    return value


def _read_table(
    raw: Any, schema: dict[str, Key], where: str, col: _Collector, subtables: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Read one table against its schema: unknown keys, types, defaults, required keys."""
    if not isinstance(raw, dict):
        col.problems.append(f"{where} must be a table, got {type(raw).__name__}")
        raw = {}
    out: dict[str, Any] = {}
    allowed = list(schema) + list(subtables)
    for key, value in raw.items():
        if key in subtables:
            continue
        if key not in schema:
            col.add(where, key, value, _suggest(key, allowed))
            continue
        parsed = _read_value(schema[key], value, where, key, col)
        if parsed is not None:
            out[key] = parsed
        else:
            out[key] = _INVALID
    for key, spec in schema.items():
        if key in out:
            continue
        if spec.default is _REQUIRED:
            col.problems.append(f"{where} {key}: required key is missing")
            out[key] = _INVALID
        elif spec.kind == "int_or_auto" and spec.default == "auto":
            out[key] = 0
        elif isinstance(spec.default, (str, int)) and spec.kind in ("interval", "time"):
            out[key] = parse_quantity(spec.default, "time")
        else:
            out[key] = spec.default
    return out


_INVALID = object()


def _valid(*values: Any) -> bool:
    return all(v is not _INVALID for v in values)


# ------------------------------------------------------------------ second pass


def parse_deck(text: str, source: str = "deck", name: str | None = None) -> Config:
    """Parse and validate a deck given as TOML text.

    Parameters
    ----------
    text : str
        The TOML text.
    source : str
        Where it came from (for messages).
    name : str, optional
        Default run name (the deck file's stem).

    Returns
    -------
    Config

    Raises
    ------
    DeckError
        With every problem found.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeckError([f"not valid TOML: {exc}"], source) from None
    col = _Collector()
    for key in raw:
        if key not in TOP_LEVEL:
            col.problems.append(f"[{key}]: unknown section; {_suggest(key, list(TOP_LEVEL))}")
    for sec in REQUIRED_SECTIONS:
        if sec not in raw:
            col.problems.append(f"[{sec}]: required section is missing")

    run = _read_table(raw.get("run", {}), SCHEMA["run"], "[run]", col)
    grid = _read_table(raw.get("grid", {}), SCHEMA["grid"], "[grid]", col)
    plasma = _read_table(raw.get("plasma", {}), SCHEMA["plasma"], "[plasma]", col)
    comp = _read_table(raw.get("compression", {}), SCHEMA["compression"], "[compression]", col)
    out_raw = raw.get("output", {})
    output = _read_table(
        out_raw, SCHEMA["output"], "[output]", col, ("spectra", "tracers", "insitu")
    )
    out_sub = {}
    for sub in ("spectra", "tracers", "insitu"):
        tbl = out_raw.get(sub, {}) if isinstance(out_raw, dict) else {}
        out_sub[sub] = _read_table(tbl, SCHEMA[f"output.{sub}"], f"[output.{sub}]", col)
    ckpt = _read_table(raw.get("checkpoint", {}), SCHEMA["checkpoint"], "[checkpoint]", col)
    par = _read_table(raw.get("parallel", {}), SCHEMA["parallel"], "[parallel]", col)

    species_raw = raw.get("species", None)
    species_tables: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    if species_raw is not None:
        if not isinstance(species_raw, list):
            col.problems.append("[[species]] must be an array of tables ([[species]] entries)")
            species_raw = []
        for i, entry in enumerate(species_raw):
            label = entry.get("name", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
            where = f"[[species]] {label!s}"
            species_tables.append((where, _read_table(entry, SCHEMA["species"], where, col), entry))

    # ---- scales
    cfg = _build(
        text, source, name, run, grid, plasma, comp, output, out_sub, ckpt, par, species_tables, col
    )
    if col.problems or cfg is None:
        raise DeckError(col.problems, source)
    return cfg


def _build(
    text, source, name, run, grid, plasma, comp, output, out_sub, ckpt, par, species_tables, col
) -> Config | None:
    """Second pass: derive scales, resolve quantities, check combinations."""
    if not _valid(
        grid["cells_per_de"],
        grid["cfl"],
        plasma["mass_ratio"],
        plasma["beta"],
        plasma["theta"],
        plasma["T_e_over_T_i"],
    ):
        return None
    mass_ratio = plasma["mass_ratio"]
    theta_e = plasma["theta"]
    theta_i = theta_e / plasma["T_e_over_T_i"]
    dx = 1.0 / grid["cells_per_de"]
    dt = grid["cfl"] * dx

    # ---- species (defaults: ions + electrons)
    ppc_default = plasma["ppc"] if _valid(plasma["ppc"]) else 1
    species: list[SpeciesConfig] = []
    if not species_tables:
        species_tables = [
            (
                "[[species]] ions",
                {**_defaults("species"), "name": "ions", "charge": 1.0, "mass": "m_i"},
                {},
            ),
            (
                "[[species]] electrons",
                {**_defaults("species"), "name": "electrons", "charge": -1.0, "mass": "m_e"},
                {},
            ),
        ]
    names = set()
    for idx, (where, sp, entry) in enumerate(species_tables):
        s = _build_species(where, idx, sp, entry, mass_ratio, theta_e, theta_i, ppc_default, col)
        if s is None:
            continue
        if s.name in names:
            col.add(where, "name", s.name, "species names must be unique")
        names.add(s.name)
        species.append(s)
    thermal = [s for s in species if not s.tracer]
    if species and not thermal:
        col.problems.append("[[species]]: at least one non-tracer (thermal) species is required")
    net_charge = sum(s.charge * s.density for s in thermal)
    if thermal and abs(net_charge) > 1e-12 * max(
        1.0, sum(abs(s.charge) * s.density for s in thermal)
    ):
        col.problems.append(
            "[[species]] charge * density: the thermal plasma must be neutral, "
            f"sum q n = {net_charge:g} (adjust density or charge)"
        )
    for s in thermal:
        if s.ppc == 0:
            col.add(f"[[species]] {s.name}", "ppc", 0, "thermal species need ppc >= 1")
    pressure = sum(s.density * s.temperature for s in thermal)
    if thermal and pressure <= 0:
        col.problems.append("[[species]] temperature: the total thermal pressure must be > 0")
        return None
    if not thermal:
        return None
    b0 = b0_from_beta(plasma["beta"], pressure)
    omega_ci0 = b0 / mass_ratio
    d_i0 = skin_depth(1.0, 1.0, mass_ratio)
    rho_i0 = larmor_radius(theta_i, mass_ratio, b0)

    # ---- compression profile (needs Omega_i0 for its own units; tau_c not yet known)
    pre = UnitScales(dt=dt, dx=dx, omega_ci0=omega_ci0, tau_c=None, d_i0=d_i0, rho_i0=rho_i0)
    profile = comp["profile"]
    tau_c = None
    if _valid(comp["tau_c"]) and comp["tau_c"] is not None:
        if comp["tau_c"].unit == "tau_c":
            col.add("[compression]", "tau_c", str(comp["tau_c"]), "cannot be given in tau_c units")
        else:
            tau_c = pre.time(comp["tau_c"])
            if tau_c == 0:
                col.add("[compression]", "tau_c", str(comp["tau_c"]), "must be non-zero")
                tau_c = None
    scales = UnitScales(
        dt=dt,
        dx=dx,
        omega_ci0=omega_ci0,
        tau_c=None if tau_c is None else abs(tau_c),
        d_i0=d_i0,
        rho_i0=rho_i0,
    )

    def resolve_time(where: str, key: str, q: Any) -> float | None:
        if q is None or q is _INVALID:
            return None
        try:
            return scales.time(q)
        except QuantityError as exc:
            col.add(where, key, str(q), str(exc))
            return None

    def resolve_steps(where: str, key: str, q: Any, allow_zero: bool = True) -> int:
        if q is None or q is _INVALID:
            return 0
        try:
            n = scales.steps(q)
        except QuantityError as exc:
            col.add(where, key, str(q), str(exc))
            return 0
        if q.value < 0:
            col.add(where, key, str(q), "must be >= 0")
            return 0
        if q.value > 0 and n < 1:
            col.add(where, key, str(q), f"is shorter than one time step (dt = {dt:.4g}/omega_pe0)")
            return 0
        if n == 0 and not allow_zero:
            col.add(where, key, str(q), "must be > 0")
        return n

    axes_profiles = [AxisProfile(), AxisProfile(), AxisProfile()]
    if _valid(profile) and profile != "none":
        kind = profile
        for ax_i, ax in enumerate("xyz"):
            tau_ax = resolve_time("[compression]", f"tau_{ax}", comp[f"tau_{ax}"])
            exp_ax = comp[f"exponent_{ax}"]
            if tau_ax is None and _valid(comp["axes"]) and ax in comp["axes"]:
                tau_ax = tau_c
            if tau_ax is None:
                continue
            if tau_ax == 0:
                col.add("[compression]", f"tau_{ax}", 0, "must be non-zero")
                continue
            if exp_ax is None or exp_ax is _INVALID:
                exp_ax = comp["exponent"] if _valid(comp["exponent"]) else 1.0
            axes_profiles[ax_i] = AxisProfile(kind, tau_ax, exp_ax)
        if all(p.kind == "fixed" for p in axes_profiles):
            col.add(
                "[compression]", "profile", profile, "needs tau_c (with axes) or tau_x/tau_y/tau_z"
            )
    else:
        for key in ("tau_x", "tau_y", "tau_z", "t_halt"):
            if comp[key] is not None and comp[key] is not _INVALID:
                col.add(
                    "[compression]", key, str(comp[key]), 'needs profile = "power" or "exponential"'
                )
    t_halt = resolve_time("[compression]", "t_halt", comp["t_halt"])
    if t_halt is not None and t_halt < 0:
        col.add("[compression]", "t_halt", str(comp["t_halt"]), "must be >= 0")
    t_resets = []
    if _valid(comp["t_reset_waves"]):
        for q in comp["t_reset_waves"]:
            t = resolve_time("[compression]", "t_reset_waves", q)
            if t is not None:
                if t < 0:
                    col.add("[compression]", "t_reset_waves", str(q), "must be >= 0")
                t_resets.append(t)
    sf = ScaleFactors(tuple(axes_profiles), math.inf if t_halt is None else t_halt)

    # ---- grid length
    cells = grid["cells"]
    if _valid(cells, grid["length"]):
        if cells is not None and grid["length"] is not None:
            col.add(
                "[grid]", "length", str(grid["length"]), "give either cells or length, not both"
            )
        elif cells is None and grid["length"] is None:
            col.problems.append("[grid] cells: required (or give length)")
            cells = None
        elif cells is None:
            cells = scales.cells(grid["length"])
            if cells < 1:
                col.add("[grid]", "length", str(grid["length"]), "is shorter than one cell")
    if cells is _INVALID or cells is None or cells < 1:
        return None
    shape_order = grid["shape_order"] if _valid(grid["shape_order"]) else 1
    filter_passes = grid["filter_passes"] if _valid(grid["filter_passes"]) else 0
    min_cells = 2 * (shape_order + 1)
    if run["kernels"] == "sorted" and shape_order != 1:
        col.add("[run]", "kernels", "sorted",
                "the sorted kernels are CIC only: use shape_order = 1, or kernels = \"auto\" "
                "or \"reference\"")
    if cells < min_cells:
        col.add("[grid]", "cells", cells, f"must be >= {min_cells} for shape order {shape_order}")

    # ---- run
    duration = resolve_time("[run]", "duration", run["duration"])
    steps = 0
    if duration is not None:
        if duration <= 0:
            col.add("[run]", "duration", str(run["duration"]), "must be > 0")
        steps = max(int(round(duration / dt)), 1) if duration > 0 else 0
        if run["duration"].unit == "steps":
            steps = int(round(run["duration"].value))
        singular = min(p.singular_time() for p in sf.axes)
        if duration >= singular and sf.t_halt >= singular:
            col.add(
                "[run]",
                "duration",
                str(run["duration"]),
                f"reaches the expansion singularity a -> inf at t = {singular:.4g} "
                "(shorten the run or set t_halt)",
            )
    run_name = run["name"] if _valid(run["name"]) and run["name"] else (name or "run")
    outdir = run["output"] if _valid(run["output"]) and run["output"] else f"runs/{run_name}"

    # ---- output cadences
    o = OutputConfig(
        history_every=resolve_steps("[output]", "history", output["history"]),
        fields_every=resolve_steps("[output]", "fields", output["fields"]),
        moments=bool(output["moments"]) if _valid(output["moments"]) else True,
        spectra_every=resolve_steps("[output.spectra]", "interval", out_sub["spectra"]["interval"]),
        spectra_stride=out_sub["spectra"]["stride"] if _valid(out_sub["spectra"]["stride"]) else 1,
        tracers_every=resolve_steps("[output.tracers]", "interval", out_sub["tracers"]["interval"]),
        tracers_subsample=out_sub["tracers"]["every"] if _valid(out_sub["tracers"]["every"]) else 1,
        tracers_precision=out_sub["tracers"]["precision"]
        if _valid(out_sub["tracers"]["precision"])
        else "float32",
        insitu_every=resolve_steps("[output.insitu]", "interval", out_sub["insitu"]["interval"]),
        insitu_p_bins=out_sub["insitu"]["p_bins"] if _valid(out_sub["insitu"]["p_bins"]) else 50,
        insitu_mu_bins=out_sub["insitu"]["mu_bins"]
        if _valid(out_sub["insitu"]["mu_bins"])
        else 140,
        insitu_p0_bins=out_sub["insitu"]["p0_bins"]
        if _valid(out_sub["insitu"]["p0_bins"])
        else 300,
    )
    if (o.tracers_every or o.insitu_every) and not any(s.tracer for s in species):
        col.problems.append(
            "[output.tracers]/[output.insitu] interval: tracer output requested but no "
            "[[species]] has tracer = true"
        )
    c = CheckpointConfig(
        every=resolve_steps("[checkpoint]", "every", ckpt["every"]),
        every_minutes=ckpt["every_minutes"] if _valid(ckpt["every_minutes"]) else 0.0,
        keep=ckpt["keep"] if _valid(ckpt["keep"]) else 2,
    )
    p = ParallelConfig(
        domains=par["domains"] if _valid(par["domains"]) else 0,
        replicas=par["replicas"] if _valid(par["replicas"]) else 0,
    )
    if col.problems:
        return None
    return Config(
        run=RunConfig(
            name=run_name,
            output=outdir,
            seed=run["seed"],
            precision=run["precision"],
            duration=steps * dt,
            steps=steps,
            progress_seconds=run["progress_seconds"],
            frozen_fields=run["frozen_fields"],
            kernels=run["kernels"],
            max_energy_growth=run["max_energy_growth"]
            if _valid(run["max_energy_growth"])
            else 10.0,
        ),
        grid=GridConfig(
            cells=cells,
            cells_per_de=grid["cells_per_de"],
            cfl=grid["cfl"],
            filter_passes=filter_passes,
            shape_order=shape_order,
            dx=dx,
            dt=dt,
        ),
        plasma=PlasmaConfig(
            mass_ratio=mass_ratio,
            beta=plasma["beta"],
            theta=theta_e,
            T_e_over_T_i=plasma["T_e_over_T_i"],
            B_angle_deg=plasma["B_angle_deg"],
            ppc=ppc_default,
            B0=b0,
        ),
        compression=CompressionConfig(
            profile=profile,
            tau_c=tau_c,
            scale_factors=sf,
            t_halt=t_halt,
            t_reset_waves=tuple(sorted(t_resets)),
        ),
        species=tuple(species),
        output=o,
        checkpoint=c,
        parallel=p,
        scales=scales,
        source_text=text,
        source_path=source,
    )


def _defaults(section: str) -> dict[str, Any]:
    return {k: (None if v.default is _REQUIRED else v.default) for k, v in SCHEMA[section].items()}


def _build_species(where, idx, sp, entry, mass_ratio, theta_e, theta_i, ppc_default, col):
    """Resolve one species entry; returns None if it is unusable."""
    if not all(_valid(v) for v in sp.values()):
        return None
    tracer = sp["tracer"]
    given = set(entry) if isinstance(entry, dict) else set()
    if tracer:
        for key in THERMAL_ONLY:
            if key in given:
                why = (
                    "isotropic forcing is never applied to test particles"
                    if key == "isotropic_forcing"
                    else "not allowed for tracer species"
                )
                col.add(where, key, entry[key], why)
        charge = -1.0 if sp["charge"] is None else sp["charge"]
        mass = 1.0 if sp["mass"] is None else sp["mass"]
    else:
        for key in TRACER_ONLY:
            if key in given:
                col.add(where, key, entry[key], "only allowed with tracer = true")
        if sp["charge"] is None:
            col.problems.append(f"{where} charge: required key is missing")
            return None
        if sp["mass"] is None:
            col.problems.append(f"{where} mass: required key is missing")
            return None
        charge, mass = sp["charge"], sp["mass"]
    if mass == "m_i":
        mass = mass_ratio
    elif mass == "m_e":
        mass = 1.0
    if charge == 0:
        col.add(where, "charge", charge, "must be non-zero")
    temperature = sp["temperature"]
    if temperature is None:
        temperature = theta_i if charge > 0 else theta_e
    elif temperature == "T_i":
        temperature = theta_i
    elif temperature == "T_e":
        temperature = theta_e
    drift = tuple(sp["drift"])
    if sum(v * v for v in drift) >= 1.0:
        col.add(where, "drift", list(drift), "|drift| must be < 1 (a 3-velocity in c)")
    ppc = sp["ppc"]
    count = sp["count"]
    p_min, p_max = sp["p_min"], sp["p_max"]
    if tracer:
        if ppc is not None and count is not None:
            col.add(where, "count", count, "give either ppc or count, not both")
        if ppc is None and count is None:
            col.problems.append(f"{where} ppc: tracers need ppc (per cell) or count (total)")
            return None
        if p_min is None or p_max is None:
            col.problems.append(f"{where} p_min/p_max: tracers need a momentum range (m_e c)")
            return None
        if p_min >= p_max:
            col.add(where, "p_max", p_max, f"must be > p_min = {p_min:g}")
        ppc = ppc or 0
    else:
        ppc = ppc_default if ppc is None else ppc
    return SpeciesConfig(
        name=sp["name"],
        index=idx,
        charge=float(charge),
        mass=float(mass),
        density=sp["density"],
        ppc=ppc,
        count=count,
        temperature=float(temperature),
        anisotropy=sp["anisotropy"],
        drift=drift,  # type: ignore[arg-type]
        isotropic_forcing=sp["isotropic_forcing"],
        tracer=tracer,
        placement=sp["placement"],
        position_group=sp["position_group"],
        p_min=p_min,
        p_max=p_max,
        sampling=sp["sampling"],
    )


def load_deck(path: str | Path) -> Config:
    """Read and validate a deck file.

    Raises
    ------
    DeckError
        If the file cannot be read or the deck is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeckError([f"cannot read deck: {exc.strerror}"], str(path)) from None
    return parse_deck(text, source=str(path), name=path.stem)
