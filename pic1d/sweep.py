"""Parameter sweeps: a base deck plus varied keys -> one validated deck per point, an
index of the varied values, and a Slurm job-array script (``pic1d sweep``).

A sweep file is TOML (format: docs/sweeps.md)::

    base = "../fiducial.toml"          # the deck every point starts from (relative to this file)
    name = "tau_c"                     # default: the file's stem
    mode = "zip"                       # "product" (Cartesian, default) or "zip"
    output = "runs/sweeps/tau_c"       # sweep directory (default runs/sweeps/<name>)
    run_name = "{name}_{index:02d}"    # run names; also {<key>} = the value's number

    [vary]                             # deck keys -> values (lists, ranges, linked keys)
    "compression.tau_c" = ["200 /Omega_i0", "400 /Omega_i0"]
    "plasma.theta" = {start = 0.05, stop = 0.4, num = 4, log = true}
    "species.ions.ppc, species.electrons.ppc" = [[64, 64], [128, 128]]

    [set]                              # fixed overrides applied to every point
    "checkpoint.every_minutes" = 30

    [slurm]                            # job-array script options
    ranks = 64
    threads = 1
    time = "24:00:00"

Keys address deck keys as ``section.key`` (``output.spectra.interval`` for sub-tables)
and species by name, ``species.<name>.<key>``. Every generated deck is validated with
:func:`pic1d.deck.parse_deck` (and the stability checks of ``pic1d info``); every problem
is reported at once, naming the sweep key or the point.

Sweep directory::

    SWEEP/sweep.toml     the sweep file as given      SWEEP/base.toml   the base deck
    SWEEP/decks/<run>.toml   one deck per point       SWEEP/index.csv, index.json
    SWEEP/sweep.sbatch   Slurm job-array script       SWEEP/runs/<run>/ run directories
    SWEEP/logs/          Slurm logs

All pic1d commands of a sweep run from the sweep directory (``runs/<run>`` relative to it).
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import difflib
import io
import itertools
import json
import math
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pic1d.deck import SCHEMA, Config, DeckError, parse_deck
from pic1d.quantity import QuantityError, parse_quantity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SlurmOptions",
    "Sweep",
    "SweepError",
    "SweepPoint",
    "build_points",
    "estimate_cost",
    "expand",
    "load_sweep",
    "parse_sweep",
    "plan_text",
    "run_local",
    "run_status",
    "slurm_script",
    "to_toml",
    "write_sweep",
]

#: ns per particle per step per core assumed by the cost estimates (plasma particles)
NS_PER_PARTICLE_STEP = 20.0
#: cost of a tracer relative to a plasma particle (push and migrate, no deposit)
TRACER_COST_FACTOR = 0.5

TOP_KEYS = ("base", "name", "mode", "output", "run_name", "vary", "set", "slurm")
MODES = ("product", "zip")
#: deck sections addressable as section.key (section names as in pic1d.deck.SCHEMA)
SECTIONS = tuple(s for s in SCHEMA if s != "species")
#: keys a sweep may not set: the sweep names the runs and places their directories
RESERVED = ("run.name", "run.output")


class SweepError(DeckError):
    """An invalid sweep file or a sweep point whose deck is invalid (all problems listed)."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class SlurmOptions:
    """``[slurm]``: resources of one array task and the environment of the job.

    Attributes
    ----------
    ranks : int
        MPI ranks per run (``--ntasks``).
    threads : int
        numba threads per rank (``--cpus-per-task``; exported as NUMBA_NUM_THREADS).
    nodes : int or None
        ``--nodes`` (default: let Slurm decide).
    time : str
        Wall-clock limit per job (``--time``), e.g. ``"24:00:00"``.
    partition, account, qos, mem : str or None
        Passed through when given.
    modules : list of str
        ``module load`` lines.
    setup : list of str
        Shell lines run before pic1d (e.g. activating a virtual environment).
    pic1d : str
        Command that runs pic1d (default: this Python interpreter with ``-m pic1d``).
    launcher : str
        Parallel launcher (``srun``; ``mpirun``/``mpiexec`` also work).
    signal_seconds : int
        Seconds before the limit at which Slurm sends SIGUSR1 (``--signal=B:USR1@N``).
    max_parallel : int
        Array throttle (``--array=0-N%max_parallel``; 0: no limit).
    max_requeues : int
        Give up after this many requeues of one point.
    extra : list of str
        Additional ``#SBATCH`` options, e.g. ``"--constraint=cpu"``.
    """

    ranks: int = 1
    threads: int = 1
    nodes: int | None = None
    time: str = "24:00:00"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    mem: str | None = None
    modules: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    pic1d: str = ""
    launcher: str = "srun"
    signal_seconds: int = 300
    max_parallel: int = 0
    max_requeues: int = 20
    extra: tuple[str, ...] = ()


_SLURM_KINDS: dict[str, str] = {
    "ranks": "posint", "threads": "posint", "nodes": "posint", "time": "walltime",
    "partition": "str", "account": "str", "qos": "str", "mem": "str", "modules": "strlist",
    "setup": "strlist", "pic1d": "str", "launcher": "str", "signal_seconds": "posint",
    "max_parallel": "nonnegint", "max_requeues": "nonnegint", "extra": "strlist",
}  # fmt: skip


@dataclass(frozen=True)
class Axis:
    """One varied axis: linked keys and their values (one tuple per position)."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]


@dataclass
class Sweep:
    """A parsed sweep file (see the module docstring)."""

    path: Path
    name: str
    base: Path
    base_text: str
    mode: str
    axes: list[Axis]
    fixed: dict[str, Any]
    output: str
    run_name: str
    slurm: SlurmOptions
    text: str = ""
    base_given: str = ""

    @property
    def keys(self) -> list[str]:
        """Varied keys in the order they were given."""
        return [k for ax in self.axes for k in ax.keys]


@dataclass
class SweepPoint:
    """One point of a sweep: its values, run name and validated deck."""

    index: int
    name: str
    values: dict[str, Any]
    deck_text: str = ""
    cfg: Config | None = None
    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def deck(self) -> str:
        """Deck path relative to the sweep directory."""
        return f"decks/{self.name}.toml"

    @property
    def run_dir(self) -> str:
        """Run directory relative to the sweep directory."""
        return f"runs/{self.name}"


# ----------------------------------------------------------------------- key paths


def split_key(key: str) -> tuple[str, str | None, str]:
    """``"compression.tau_c"`` -> ("compression", None, "tau_c");
    ``"species.ions.ppc"`` -> ("species", "ions", "ppc");
    ``"output.spectra.interval"`` -> ("output.spectra", None, "interval")."""
    parts = [p.strip() for p in key.split(".")]
    if parts[0] == "species":
        if len(parts) != 3 or not all(parts):
            raise ValueError("species keys are species.<name>.<key>")
        return "species", parts[1], parts[2]
    if len(parts) == 3:
        return f"{parts[0]}.{parts[1]}", None, parts[2]
    if len(parts) != 2 or not all(parts):
        raise ValueError("write section.key (e.g. compression.tau_c) or species.<name>.<key>")
    return parts[0], None, parts[1]


def check_key(key: str, species_names: list[str]) -> str | None:
    """Why ``key`` does not address a deck key (None if it does)."""
    try:
        section, sp, name = split_key(key)
    except ValueError as exc:
        return str(exc)
    if section not in SCHEMA:
        close = difflib.get_close_matches(section, list(SCHEMA), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown deck section {section!r}{hint} (sections: {', '.join(SCHEMA)})"
    if key.replace(" ", "") in RESERVED:
        return "set by the sweep itself (run names and directories come from run_name)"
    allowed = list(SCHEMA[section])
    if name not in allowed:
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {section}.{close[0]}?" if close else ""
        if section == "species" and close:
            hint = f"; did you mean species.{sp}.{close[0]}?"
        return f"unknown key {name!r} in [{section}]{hint} (allowed: {', '.join(allowed)})"
    if section == "species" and sp not in species_names:
        return f"no species named {sp!r} in the base deck (species: {', '.join(species_names)})"
    if section == "species" and name == "name":
        return "species names cannot be varied"
    return None


def _base_species(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The base deck's [[species]] list (the default ions + electrons if it has none)."""
    species = raw.get("species")
    if species is None:
        species = [{"name": "ions", "charge": 1, "mass": "m_i"},
                   {"name": "electrons", "charge": -1, "mass": "m_e"}]  # fmt: skip
        raw["species"] = species
    return species


def set_key(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set a deck key (section.key, output.sub.key or species.<name>.key) in a raw deck."""
    section, sp, name = split_key(key)
    if section == "species":
        for entry in _base_species(raw):
            if isinstance(entry, dict) and entry.get("name") == sp:
                entry[name] = value
                return
        raise KeyError(key)
    tbl = raw
    for part in section.split("."):
        tbl = tbl.setdefault(part, {})
    tbl[name] = value


def _key_kind(key: str) -> str | None:
    try:
        section, _, name = split_key(key)
        return SCHEMA[section][name].kind
    except (ValueError, KeyError):
        return None


# ------------------------------------------------------------------------- values


def _clean_number(v: float) -> float | int:
    """Round away floating-point noise of ranges (12 significant digits)."""
    r = float(f"{v:.12g}")
    return int(r) if r.is_integer() and abs(r) < 2**53 else r


def _range_values(spec: dict[str, Any], where: str, problems: list[str]) -> list[Any] | None:
    """Values of a range table {start, stop, num | step, log, unit} or {values, unit}."""
    allowed = ("start", "stop", "num", "step", "log", "unit", "values")
    for k in spec:
        if k not in allowed:
            problems.append(f"{where}: unknown range key {k!r} (allowed: {', '.join(allowed)})")
            return None
    unit = spec.get("unit", "")
    if not isinstance(unit, str):
        problems.append(f"{where} unit = {unit!r}: must be a string such as \"/Omega_i0\"")
        return None
    if "values" in spec:
        vals = spec["values"]
        if not isinstance(vals, list) or not vals or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals
        ):
            problems.append(f"{where} values = {vals!r}: must be a non-empty list of numbers")
            return None
        return [f"{_clean_number(v)} {unit}" if unit else v for v in vals]
    if "start" not in spec or "stop" not in spec:
        problems.append(f"{where}: a range needs start and stop (and num or step)")
        return None
    ends = []
    for end in ("start", "stop"):
        raw = spec[end]
        if isinstance(raw, str):  # "200 /Omega_i0": the unit is taken from the string
            m = re.match(r"^\s*([+-]?[\d.]+(?:[eE][+-]?\d+)?)\s*(.*?)\s*$", raw)
            if m is None:
                problems.append(f"{where} {end} = {raw!r}: not '<number> <unit>'")
                return None
            if unit and m.group(2) and m.group(2) != unit:
                problems.append(f"{where} {end} = {raw!r}: unit differs from {unit!r}")
                return None
            unit = unit or m.group(2)
            ends.append(float(m.group(1)))
        elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
            problems.append(f"{where} {end} = {raw!r}: must be a number or '<number> <unit>'")
            return None
        else:
            ends.append(float(raw))
    start, stop = ends
    log = spec.get("log", False)
    if not isinstance(log, bool):
        problems.append(f"{where} log = {log!r}: must be true or false")
        return None
    if ("num" in spec) == ("step" in spec):
        problems.append(f"{where}: give exactly one of num and step")
        return None
    if log and (start <= 0 or stop <= 0):
        problems.append(f"{where}: log ranges need start > 0 and stop > 0")
        return None
    if "num" in spec:
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            problems.append(f"{where} num = {num!r}: must be an integer >= 1")
            return None
        if num == 1:
            vals = [start]
        elif log:
            r = math.log(stop / start)
            vals = [start * math.exp(r * i / (num - 1)) for i in range(num)]
        else:
            vals = [start + (stop - start) * i / (num - 1) for i in range(num)]
    else:
        step = spec["step"]
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step == 0:
            problems.append(f"{where} step = {step!r}: must be a non-zero number")
            return None
        if log and step <= 0:
            problems.append(f"{where} step = {step!r}: log ranges step by a factor > 0")
            return None
        vals, i = [], 0
        while len(vals) <= 10_000:
            v = start * step**i if log else start + i * step
            if (v - stop) * (1 if (stop >= start) else -1) > 1e-9 * max(abs(stop), 1e-300):
                break
            vals.append(v)
            i += 1
        if log and step == 1 or not vals or len(vals) > 10_000:
            problems.append(f"{where}: step {step!r} does not reach stop from start")
            return None
    vals = [_clean_number(v) for v in vals]
    return [f"{v} {unit}" if unit else v for v in vals]


def _coerce(key: str, value: Any) -> Any:
    """Integers for integer deck keys when a range produced whole floats."""
    if _key_kind(key) == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def number_of(value: Any) -> float | None:
    """The number in a value as written (``"200 /Omega_i0"`` -> 200.0; True -> 1.0)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        for dim in ("time", "length"):
            try:
                return parse_quantity(value, dim).value
            except QuantityError:
                continue
        try:
            return float(value)
        except ValueError:
            return None
    return None


# -------------------------------------------------------------------------- parsing


def _check_slurm(raw: Any, problems: list[str]) -> SlurmOptions:
    if raw is None:
        return SlurmOptions(pic1d=default_pic1d())
    if not isinstance(raw, dict):
        problems.append("[slurm] must be a table")
        return SlurmOptions(pic1d=default_pic1d())
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _SLURM_KINDS.get(key)
        where = f"[slurm] {key} = {value!r}"
        if kind is None:
            close = difflib.get_close_matches(key, list(_SLURM_KINDS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"[slurm] {key}: unknown key{hint} "
                            f"(allowed: {', '.join(_SLURM_KINDS)})")  # fmt: skip
            continue
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind == "posint" and not (is_int and value >= 1):
            problems.append(f"{where}: must be an integer >= 1")
        elif kind == "nonnegint" and not (is_int and value >= 0):
            problems.append(f"{where}: must be an integer >= 0")
        elif kind == "str" and not (isinstance(value, str) and value.strip()):
            problems.append(f"{where}: must be a non-empty string")
        elif kind == "strlist" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"{where}: must be a list of strings")
        elif kind == "walltime" and not (
            isinstance(value, str)
            and re.fullmatch(r"(\d+-)?\d+(:\d{1,2}){0,2}", value.strip())
        ):
            problems.append(f"{where}: must be a Slurm time such as \"24:00:00\" or \"1-12:00:00\"")
        else:
            out[key] = tuple(value) if kind == "strlist" else value
    if "pic1d" not in out:
        out["pic1d"] = default_pic1d()
    return SlurmOptions(**out)


def default_pic1d() -> str:
    """``<this python> -m pic1d``: the pic1d that generated the sweep runs it."""
    return f"{shlex.quote(sys.executable)} -m pic1d"


def parse_sweep(text: str, path: str | Path = "sweep.toml") -> Sweep:
    """Parse and validate a sweep file's text (the base deck is read relative to ``path``).

    Raises
    ------
    SweepError
        Listing every problem (unknown or misspelt keys, bad values, unequal zip lengths).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError([f"not valid TOML: {exc}"], str(path)) from None
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, list(TOP_KEYS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{key}: unknown sweep key{hint} (allowed: {', '.join(TOP_KEYS)})")
    base_raw = raw.get("base")
    base_text, base_deck = "", {}
    base = Path()
    if not isinstance(base_raw, str) or not base_raw:
        problems.append("base: required, the path of the base deck (relative to the sweep file)")
    else:
        base = Path(base_raw)
        if not base.is_absolute():
            base = (path.parent / base).resolve()
        try:
            base_text = base.read_text()
            base_deck = tomllib.loads(base_text)
        except OSError as exc:
            problems.append(f"base = {base_raw!r}: cannot read {base}: {exc.strerror}")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"base = {base_raw!r}: not valid TOML: {exc}")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        problems.append(f"name = {name!r}: must be a string of letters, digits and _ . + -")
        name = path.stem
    mode = raw.get("mode", "product")
    if mode not in MODES:
        problems.append(f"mode = {mode!r}: allowed values are {', '.join(MODES)}")
        mode = "product"
    output = raw.get("output", f"runs/sweeps/{name}")
    if not isinstance(output, str) or not output:
        problems.append(f"output = {output!r}: must be a directory path")
        output = f"runs/sweeps/{name}"
    run_name = raw.get("run_name", "{name}_{index:02d}")
    if not isinstance(run_name, str) or "{index" not in run_name and "{" not in run_name:
        problems.append(f"run_name = {run_name!r}: must be a template such as "
                        "\"{name}_{index:02d}\" (runs need distinct names)")  # fmt: skip
        run_name = "{name}_{index:02d}"

    species_names = [s.get("name") for s in _base_species(copy.deepcopy(base_deck))
                     if isinstance(s, dict)]  # fmt: skip
    axes: list[Axis] = []
    vary = raw.get("vary")
    if not isinstance(vary, dict) or not vary:
        problems.append("[vary]: required, a table of deck keys -> values")
        vary = {}
    seen: set[str] = set()
    for group, spec in vary.items():
        keys = tuple(k.strip() for k in group.split(","))
        where = f"[vary] {group!r}"
        bad = False
        for k in keys:
            why = check_key(k, species_names)
            if why:
                problems.append(f"[vary] {k!r}: {why}")
                bad = True
            elif k in seen:
                problems.append(f"[vary] {k!r}: varied twice")
                bad = True
            seen.add(k)
        if isinstance(spec, dict):
            if len(keys) > 1:
                problems.append(f"{where}: linked keys need a list of value lists, not a range")
                continue
            vals = _range_values(spec, where, problems)
            if vals is None:
                continue
            values = [(v,) for v in vals]
        elif isinstance(spec, list) and spec:
            if len(keys) == 1:
                values = [(v,) for v in spec]
            else:
                values = []
                for item in spec:
                    if not isinstance(item, list) or len(item) != len(keys):
                        problems.append(f"{where}: each entry must be a list of {len(keys)} "
                                        f"values (one per key), got {item!r}")  # fmt: skip
                        bad = True
                        break
                    values.append(tuple(item))
        else:
            problems.append(f"{where} = {spec!r}: must be a non-empty list of values or a "
                            "range table {start, stop, num|step, log, unit}")  # fmt: skip
            continue
        if bad:
            continue
        values = [tuple(_coerce(k, v) for k, v in zip(keys, vals, strict=True))
                  for vals in values]  # fmt: skip
        if any(isinstance(v, dict) for vals in values for v in vals):
            problems.append(f"{where}: values must be numbers, strings, booleans or lists")
            continue
        axes.append(Axis(keys, tuple(values)))
    if mode == "zip" and axes:
        lengths = {ax.keys: len(ax.values) for ax in axes}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{', '.join(k)}: {n}" for k, n in lengths.items())
            problems.append(f"mode = \"zip\": every [vary] entry needs the same number of "
                            f"values ({detail})")  # fmt: skip
    fixed = raw.get("set", {})
    if not isinstance(fixed, dict):
        problems.append("[set] must be a table of deck keys -> values")
        fixed = {}
    for k in fixed:
        why = check_key(k, species_names)
        if why:
            problems.append(f"[set] {k!r}: {why}")
        elif k in seen:
            problems.append(f"[set] {k!r}: also in [vary]")
    slurm = _check_slurm(raw.get("slurm"), problems)
    if problems:
        raise SweepError(problems, str(path))
    fixed = {k.strip(): _coerce(k.strip(), v) for k, v in fixed.items()}
    return Sweep(path=path, name=name, base=base, base_text=base_text, mode=mode, axes=axes,
                 fixed=fixed, output=output, run_name=run_name, slurm=slurm,
                 text=text, base_given=str(base_raw))  # fmt: skip


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (see :func:`parse_sweep`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepError([f"cannot read sweep file: {exc.strerror}"], str(path)) from None
    return parse_sweep(text, path)


# ------------------------------------------------------------------------ expansion


def expand(sweep: Sweep) -> list[dict[str, Any]]:
    """The points of a sweep: one {key: value} dict each, in index order.

    ``product``: Cartesian product of the axes, the first axis varying slowest;
    ``zip``: the i-th values of every axis together.
    """
    if not sweep.axes:
        return [{}]
    if sweep.mode == "zip":
        combos = zip(*(ax.values for ax in sweep.axes), strict=True)
    else:
        combos = itertools.product(*(ax.values for ax in sweep.axes))
    points = []
    for combo in combos:
        values: dict[str, Any] = {}
        for ax, vals in zip(sweep.axes, combo, strict=True):
            values.update(zip(ax.keys, vals, strict=True))
        points.append(values)
    return points


def _slug(value: Any) -> str:
    num = number_of(value)
    text = f"{num:g}" if num is not None else str(value)
    return re.sub(r"[^A-Za-z0-9_.+-]+", "", text.replace(" ", "")) or "x"


_FIELD = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")


def format_run_name(template: str, name: str, index: int, values: dict[str, Any]) -> str:
    """Expand ``{name}``, ``{index[:fmt]}`` and ``{<varied key>[:fmt]}`` in a run name."""

    def sub(m: re.Match[str]) -> str:
        key, fmt = m.group(1).strip(), m.group(2) or ""
        if key == "name":
            return format(name, fmt)
        if key == "index":
            return format(index, fmt)
        if key in values:
            num = number_of(values[key])
            if fmt and num is not None:
                return format(num, fmt)
            return _slug(values[key])
        raise KeyError(key)

    return _FIELD.sub(sub, template)


def to_toml(data: dict[str, Any]) -> str:
    """Serialise a raw deck (nested tables, arrays of tables, scalars, lists) to TOML."""

    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{key(k)} = {scalar(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
            return v.isoformat()
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    lines: list[str] = []

    def table(prefix: str, tbl: dict[str, Any]) -> None:
        for k, v in tbl.items():
            if not isinstance(v, dict) and not is_table_array(v):
                lines.append(f"{key(k)} = {scalar(v)}")
        for k, v in tbl.items():
            name = f"{prefix}.{key(k)}" if prefix else key(k)
            if isinstance(v, dict):
                lines.append("")
                lines.append(f"[{name}]")
                table(name, v)
            elif is_table_array(v):
                for item in v:
                    lines.append("")
                    lines.append(f"[[{name}]]")
                    table(name, item)

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _derived_summary(cfg: Config) -> dict[str, Any]:
    from pic1d.units import derive

    d = derive(cfg).as_dict()
    keep = ("mass_ratio", "beta", "beta_i", "beta_e", "theta", "vA_over_c", "tau_c_Omega_i0",
            "cells", "L_over_rho_i0", "L_over_d_i0", "steps_total", "duration_Omega_i0",
            "duration_tau_c", "output_interval_Omega_i0", "particles_total", "tracers_total",
            "B_end_over_B0", "output_bytes")  # fmt: skip
    out = {k: d[k] for k in keep}
    out.update(estimate_cost(out["particles_total"], out["tracers_total"], out["steps_total"]))
    return out


def estimate_cost(particles: int, tracers: int, steps: int,
                  ns_per_particle_step: float = NS_PER_PARTICLE_STEP,
                  tracer_factor: float = TRACER_COST_FACTOR) -> dict[str, float]:
    """Cost model of a run: core-hours = (N_p + f N_tracer) N_steps t_pps / 3600 s.

    Parameters
    ----------
    particles, tracers : int
        Plasma macro-particles and tracers in the box.
    steps : int
        Time steps.
    ns_per_particle_step : float
        Throughput of one core (ns per particle per step), default 20 (the middle of the
        10-30 ns measured on an idle core; `pic1d bench` measures yours).
    tracer_factor : float
        Tracer cost relative to a plasma particle (push + migrate, no deposit): 0.5.

    Returns
    -------
    dict
        ``particle_steps`` and ``core_hours``.
    """
    ps = (particles + tracer_factor * tracers) * steps
    return {"particle_steps": float(ps),
            "core_hours": ps * ns_per_particle_step * 1e-9 / 3600.0}  # fmt: skip


def build_points(sweep: Sweep) -> list[SweepPoint]:
    """Expand a sweep into validated decks.

    Raises
    ------
    SweepError
        If run names collide or any generated deck is invalid; each message names the
        point (index, run name and its varied values).
    """
    from pic1d.units import derive, stability_errors

    base_raw = tomllib.loads(sweep.base_text)
    problems: list[str] = []
    points: list[SweepPoint] = []
    names: dict[str, int] = {}
    for index, values in enumerate(expand(sweep)):
        try:
            run = format_run_name(sweep.run_name, sweep.name, index, values)
        except (KeyError, ValueError) as exc:
            raise SweepError([f"run_name = {sweep.run_name!r}: cannot expand {exc} (use "
                              "{name}, {index} or a varied key)"], str(sweep.path)) from None
        if run in names:
            problems.append(f"run_name = {sweep.run_name!r}: points {names[run]} and {index} "
                            f"are both named {run!r}")  # fmt: skip
        names[run] = index
        raw = copy.deepcopy(base_raw)
        for k, v in {**sweep.fixed, **values}.items():
            set_key(raw, k, v)
        raw.setdefault("run", {})
        raw["run"]["name"] = run
        raw["run"]["output"] = f"runs/{run}"
        order = ["run"] + [k for k in raw if k != "run"]
        raw = {k: raw[k] for k in order}
        header = [f"# Generated by `pic1d sweep {sweep.path.name}` (sweep {sweep.name!r}, "
                  f"point {index}), base deck {sweep.base_given}.",
                  "# Varied: " + (", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
                                  or "(nothing)")]  # fmt: skip
        if sweep.fixed:
            header.append("# Set: " + ", ".join(f"{k} = {json.dumps(v)}"
                                                for k, v in sweep.fixed.items()))  # fmt: skip
        header.append("# Paths are relative to the sweep directory.")
        text = "\n".join(header) + "\n" + to_toml(raw)
        label = f"point {index} ({run}: " + ", ".join(f"{k} = {v!r}" for k, v in values.items())
        try:
            cfg = parse_deck(text, source=f"decks/{run}.toml", name=run)
            errors = stability_errors(derive(cfg))
        except DeckError as exc:
            problems.extend(f"{label}): {p}" for p in exc.problems)
            continue
        if errors:
            problems.extend(f"{label}): {p}" for p in errors)
            continue
        pt = SweepPoint(index, run, dict(values), text, cfg)
        pt.derived = _derived_summary(cfg)
        points.append(pt)
    if problems:
        raise SweepError(problems, str(sweep.path))
    return points


# ---------------------------------------------------------------------------- index


def index_rows(sweep: Sweep, points: list[SweepPoint]) -> list[dict[str, Any]]:
    """One JSON-ready row per point: index, name, deck, run_dir, values, numbers, derived."""
    return [
        {
            "index": p.index,
            "name": p.name,
            "deck": p.deck,
            "run_dir": p.run_dir,
            "values": p.values,
            "numbers": {k: number_of(v) for k, v in p.values.items()},
            "derived": p.derived,
        }
        for p in points
    ]


def index_csv(sweep: Sweep, points: list[SweepPoint]) -> str:
    """CSV: index, name, deck, run_dir, one column per varied key (as written), then
    tau_c_Omega_i0, mass_ratio, beta, theta, steps_total, particles_total, core_hours."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    extra = ("tau_c_Omega_i0", "mass_ratio", "beta", "theta", "steps_total", "particles_total",
             "tracers_total", "core_hours")  # fmt: skip
    w.writerow(["index", "name", "deck", "run_dir", *sweep.keys, *extra])
    for p in points:
        w.writerow([p.index, p.name, p.deck, p.run_dir,
                    *(_show(p.values[k]) for k in sweep.keys),
                    *(_csv_num(p.derived.get(k)) for k in extra)])  # fmt: skip
    return buf.getvalue()


def _show(v: Any) -> str:
    """A value as written in TOML (true/false for booleans)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _csv_num(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


# ----------------------------------------------------------------------------- Slurm


def slurm_script(sweep: Sweep, points: list[SweepPoint], sweep_dir: str | Path) -> str:
    """The Slurm job-array script: one array task per point, requeued across wall-clock
    limits.

    Contract (docs/sweeps.md): Slurm sends SIGUSR1 to the batch shell ``signal_seconds``
    before the limit (``#SBATCH --signal=B:USR1@N``); the script forwards it to the
    launcher, pic1d writes a checkpoint and exits 0 without setting run.json
    ``"status": "finished"``; the script then requeues the task (``scontrol requeue``),
    and the requeued task continues with ``pic1d restart RUN``. A task whose run.json
    says ``"finished"`` exits at once; a failing pic1d (exit != 0) is never requeued.
    """
    s = sweep.slurm
    n = len(points)
    array = f"0-{n - 1}" + (f"%{s.max_parallel}" if s.max_parallel else "")
    sd = Path(sweep_dir).resolve()
    lines = [
        "#!/bin/bash",
        f"# Slurm job array for the pic1d sweep {sweep.name!r}: {n} run(s), one per array task.",
        f"# Generated by `pic1d sweep {sweep.path.name}` on "
        f"{_dt.datetime.now().isoformat(timespec='seconds')}. Submit from anywhere:",
        f"#     sbatch {sd / 'sweep.sbatch'}",
        "# Each task runs decks/<run>.toml into runs/<run> (relative to the sweep directory).",
        f"# SIGUSR1 arrives {s.signal_seconds} s before the time limit; pic1d checkpoints and",
        "# exits 0; the task is requeued and continues with `pic1d restart runs/<run>` until",
        "# runs/<run>/run.json has \"status\": \"finished\".",
        f"#SBATCH --job-name=pic1d-{sweep.name}",
        f"#SBATCH --array={array}",
        f"#SBATCH --ntasks={s.ranks}",
        f"#SBATCH --cpus-per-task={s.threads}",
    ]
    if s.nodes:
        lines.append(f"#SBATCH --nodes={s.nodes}")
    lines.append(f"#SBATCH --time={s.time}")
    for opt in ("partition", "account", "qos", "mem"):
        val = getattr(s, opt)
        if val:
            lines.append(f"#SBATCH --{opt}={val}")
    lines += [
        f"#SBATCH --output={sd}/logs/%x_%A_%a.out",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        f"#SBATCH --signal=B:USR1@{s.signal_seconds}",
    ]
    lines += [f"#SBATCH {e}" for e in s.extra]
    names = " ".join(shlex.quote(p.name) for p in points)
    lines += [
        "",
        "set -u",
        f"SWEEP_DIR={shlex.quote(str(sd))}",
        'cd "$SWEEP_DIR" || exit 1',
    ]
    if s.modules:
        lines.append("module purge 2>/dev/null || true")
        lines += [f"module load {m}" for m in s.modules]
    lines += list(s.setup)
    lines += [
        'export NUMBA_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
        "export OMP_NUM_THREADS=1",
        f"PIC1D=({s.pic1d})",
        f"LAUNCH=({s.launcher})",
        f"MAX_REQUEUES={s.max_requeues}",
        f"NAMES=({names})",
        'TASK="${SLURM_ARRAY_TASK_ID:?run this script with sbatch (a job array)}"',
        'NAME="${NAMES[$TASK]}"',
        'DECK="decks/${NAME}.toml"',
        'RUN="runs/${NAME}"',
        'JOB="${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID}}_${TASK}"',
        'RESTARTS="${SLURM_RESTART_COUNT:-0}"',
        "",
        "# run.json \"status\": none (no run yet), running, finished, ...",
        "run_status() {",
        '    [ -f "$RUN/run.json" ] || { echo none; return; }',
        "    local s",
        '    s=$(tr -d \'\\n\' < "$RUN/run.json" \\',
        "        | grep -o '\"status\"[[:space:]]*:[[:space:]]*\"[^\"]*\"' | head -n 1 \\",
        "        | sed 's/.*\"\\([^\"]*\\)\"$/\\1/')",
        '    echo "${s:-unknown}"',
        "}",
        "",
        "# a valid checkpoint is a directory checkpoints/ckpt_<step> (docs/restart.md)",
        "has_checkpoint() {",
        '    ls "$RUN/checkpoints" 2>/dev/null | grep -q \'^ckpt_[0-9]*$\'',
        "}",
        "",
        "requeue() {",
        '    if [ "$RESTARTS" -ge "$MAX_REQUEUES" ]; then',
        '        echo "pic1d-sweep: $NAME not finished after $RESTARTS requeues; giving up" >&2',
        "        exit 1",
        "    fi",
        '    echo "pic1d-sweep: $NAME not finished (status $(run_status)); requeueing $JOB"',
        '    scontrol requeue "$JOB"',
        "    exit 0",
        "}",
        "",
        'STATUS=$(run_status)',
        'echo "pic1d-sweep: task $TASK -> $NAME (status $STATUS, requeues $RESTARTS) on'
        ' $(hostname) at $(date)"',
        'if [ "$STATUS" = finished ]; then',
        '    echo "pic1d-sweep: $NAME already finished"',
        "    exit 0",
        "fi",
        "",
        "PID=",
        "SIGNALLED=0",
        "# forward SIGUSR1 to pic1d once: srun job steps through scancel (which signals the",
        "# job's steps, not the batch shell), other launchers (mpirun/mpiexec forward it) directly",
        "FORWARDED=0",
        "forward_usr1() {",
        '    [ "$FORWARDED" = 1 ] && return',
        "    FORWARDED=1",
        '    if [ "$(basename "${LAUNCH[0]}")" = srun ] && [ -n "${SLURM_JOB_ID:-}" ]; then',
        '        scancel --signal=USR1 "$SLURM_JOB_ID"',
        "    else",
        '        kill -USR1 "$PID" 2>/dev/null',
        "    fi",
        "}",
        "on_usr1() {",
        "    SIGNALLED=1",
        '    echo "pic1d-sweep: SIGUSR1 (wall-clock limit near) at $(date)"',
        '    if [ -n "$PID" ]; then forward_usr1; fi',
        "}",
        "trap on_usr1 USR1",
        "",
        "if has_checkpoint; then",
        '    CMD=("${LAUNCH[@]}" "${PIC1D[@]}" restart "$RUN")',
        "else",
        '    CMD=("${LAUNCH[@]}" "${PIC1D[@]}" run "$DECK" --output "$RUN" --overwrite)',
        "fi",
        'echo "pic1d-sweep: ${CMD[*]}"',
        '"${CMD[@]}" &',
        "PID=$!",
        '[ "$SIGNALLED" = 1 ] && forward_usr1   # the signal came before pic1d started',
        "# wait returns early (status > 128) when the trap runs: keep waiting for pic1d",
        "# to write its checkpoint and exit",
        "while :; do",
        '    wait "$PID"',
        "    RC=$?",
        '    if [ "$RC" -gt 128 ] && kill -0 "$PID" 2>/dev/null; then continue; fi',
        "    break",
        "done",
        "",
        'STATUS=$(run_status)',
        'echo "pic1d-sweep: pic1d exited with $RC, status $STATUS"',
        'if [ "$STATUS" = finished ]; then exit 0; fi',
        'if [ "$RC" -ne 0 ]; then',
        '    echo "pic1d-sweep: $NAME failed (exit $RC); not requeued" >&2',
        '    exit "$RC"',
        "fi",
        "requeue",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- writing/plan


def plan_text(sweep: Sweep, points: list[SweepPoint], sweep_dir: str | Path) -> str:
    """What ``pic1d sweep --dry-run`` prints: the points, their cost and the files."""
    out = [f"sweep {sweep.name!r}: {len(points)} run(s), mode {sweep.mode}, "
           f"base {sweep.base}", f"sweep directory: {sweep_dir}"]  # fmt: skip
    keys = sweep.keys
    head = ["#", "name", *keys, "steps", "particles", "core-h"]
    rows = [[str(p.index), p.name, *(_show(p.values[k]) for k in keys),
             str(p.derived["steps_total"]),
             f"{p.derived['particles_total'] + p.derived['tracers_total']:.3g}",
             f"{p.derived['core_hours']:.3g}"] for p in points]  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    total = sum(p.derived["core_hours"] for p in points)
    out.append(f"total {total:.4g} core-hours at {NS_PER_PARTICLE_STEP:g} ns/particle/step "
               f"(tracers x{TRACER_COST_FACTOR:g})")  # fmt: skip
    out.append("would write:")
    for f in ("sweep.toml", "base.toml", *(p.deck for p in points), "index.csv", "index.json",
              "sweep.sbatch", "logs/"):
        out.append(f"  {Path(sweep_dir) / f}")
    s = sweep.slurm
    out.append(f"Slurm: --array=0-{len(points) - 1}, {s.ranks} rank(s) x {s.threads} "
               f"thread(s), --time={s.time}, requeue on SIGUSR1 {s.signal_seconds} s "
               "before the limit")  # fmt: skip
    return "\n".join(out)


def resolve_output(sweep: Sweep, output: str | Path | None) -> Path:
    """The sweep directory: ``--output`` or the sweep file's ``output`` (relative to cwd)."""
    return Path(output) if output else Path(sweep.output)


def write_sweep(sweep: Sweep, points: list[SweepPoint], sweep_dir: str | Path,
                force: bool = False) -> Path:
    """Write decks, index and Slurm script into ``sweep_dir``.

    An existing sweep directory is reused when its decks are identical to the new ones
    (re-running ``pic1d sweep`` is safe); a directory holding different decks is refused
    unless ``force`` (its runs are kept; decks, index and script are replaced).

    Raises
    ------
    SweepError
        If the directory holds another sweep (and not ``force``) or is not a directory.
    """
    sd = Path(sweep_dir)
    if sd.exists() and not sd.is_dir():
        raise SweepError([f"--output {sd}: exists and is not a directory"], str(sweep.path))
    old_index = sd / "index.json"
    if old_index.exists() and not force:
        try:
            old = json.loads(old_index.read_text())
            old_names = [r["name"] for r in old.get("runs", [])]
        except (OSError, ValueError, KeyError, TypeError):
            old_names = None
        same = old_names == [p.name for p in points] and all(
            (sd / p.deck).is_file() and (sd / p.deck).read_text() == p.deck_text for p in points
        )
        if not same:
            raise SweepError([f"{sd} holds a different sweep (decks or runs differ); "
                              "choose another --output or pass --force"],
                             str(sweep.path))  # fmt: skip
    (sd / "decks").mkdir(parents=True, exist_ok=True)
    (sd / "logs").mkdir(exist_ok=True)
    (sd / "runs").mkdir(exist_ok=True)
    (sd / "sweep.toml").write_text(sweep.text)
    (sd / "base.toml").write_text(sweep.base_text)
    for p in points:
        target = sd / p.deck
        if not target.exists() or target.read_text() != p.deck_text:
            target.write_text(p.deck_text)
    (sd / "index.csv").write_text(index_csv(sweep, points))
    index = {
        "sweep": sweep.name,
        "sweep_file": str(sweep.path.resolve()),
        "base": str(sweep.base),
        "mode": sweep.mode,
        "keys": sweep.keys,
        "fixed": sweep.fixed,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "cost_model": {"ns_per_particle_step": NS_PER_PARTICLE_STEP,
                       "tracer_factor": TRACER_COST_FACTOR},  # fmt: skip
        "runs": index_rows(sweep, points),
    }
    (sd / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    script = sd / "sweep.sbatch"
    script.write_text(slurm_script(sweep, points, sd))
    script.chmod(0o755)
    return sd


# ------------------------------------------------------------------------ local runs


def run_status(run_dir: str | Path) -> str:
    """run.json ``"status"`` of a run directory (``"none"`` if there is no run.json)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return "none"
    try:
        return str(json.loads(path.read_text()).get("status", "unknown"))
    except (OSError, ValueError):
        return "unknown"


def _restart_available() -> bool:
    from pic1d.cli import build_parser

    parser = build_parser()
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no API
        if "restart" in getattr(action, "choices", {}):
            return True
    return False


def run_local(sweep_dir: str | Path, points: list[SweepPoint],
              python: str | None = None, extra_args: list[str] | None = None,
              stdout=None) -> dict[str, int]:
    """Run the points one after another in this machine (``pic1d sweep --local``).

    Finished runs (run.json ``"status": "finished"``) are skipped; a run with a
    checkpoint continues with ``pic1d restart`` when that command exists; otherwise the
    run starts afresh (``--overwrite``). Each run is a separate process.

    Returns
    -------
    dict
        Run name -> exit code (0 also for skipped runs).
    """
    sd = Path(sweep_dir)
    py = python or sys.executable
    results: dict[str, int] = {}
    restart = None
    for p in points:
        run = sd / p.run_dir
        status = run_status(run)
        if status == "finished":
            print(f"[{p.index + 1}/{len(points)}] {p.name}: finished, skipped", file=stdout,
                  flush=True)  # fmt: skip
            results[p.name] = 0
            continue
        ckpt = run / "checkpoints"
        has_ckpt = ckpt.is_dir() and any(re.fullmatch(r"ckpt_\d+", f.name)
                                         for f in ckpt.iterdir())  # fmt: skip
        if has_ckpt and restart is None:
            restart = _restart_available()
        if has_ckpt and restart:
            cmd = [py, "-m", "pic1d", "restart", p.run_dir]
        else:
            cmd = [py, "-m", "pic1d", "run", p.deck, "--output", p.run_dir, "--overwrite"]
        cmd += list(extra_args or [])
        print(f"[{p.index + 1}/{len(points)}] {p.name}: {' '.join(cmd[1:])}", file=stdout,
              flush=True)  # fmt: skip
        res = subprocess.run(cmd, cwd=sd, stdout=stdout, stderr=subprocess.STDOUT
                             if stdout is not None else None)  # fmt: skip
        results[p.name] = res.returncode
        if res.returncode != 0:
            print(f"  {p.name} failed with exit status {res.returncode}", file=stdout,
                  flush=True)  # fmt: skip
    return results


def main(args) -> int:
    """``pic1d sweep SWEEP.toml [--output DIR] [--local] [--dry-run] [--force]``."""
    sweep = load_sweep(args.sweep)
    points = build_points(sweep)
    sd = resolve_output(sweep, args.output)
    if args.dry_run:
        print(plan_text(sweep, points, sd))
        return 0
    write_sweep(sweep, points, sd, force=args.force)
    total = sum(p.derived["core_hours"] for p in points)
    print(f"sweep {sweep.name!r}: {len(points)} deck(s), index and Slurm script written to "
          f"{sd} (~{total:.3g} core-hours at {NS_PER_PARTICLE_STEP:g} ns/particle/step)")
    if not args.local:
        print(f"submit with: sbatch {sd / 'sweep.sbatch'}")
        return 0
    results = run_local(sd, points)
    failed = [k for k, v in results.items() if v != 0]
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(points)} run(s) finished in {sd / 'runs'}")
    return 0
