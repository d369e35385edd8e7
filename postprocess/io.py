"""Read pic1d run directories (modelled on Smilei's ``happi``).

Dependency-light: numpy, h5py and the standard library only; never imports the
simulation. Works on finished runs, on runs still being written (only complete rows of
``history.h5``/``spectra.h5`` -- the first ``n_rows`` -- and complete field files are
seen), and on runs written by many MPI ranks (one file per output).

Examples
--------
>>> from postprocess.io import open_run
>>> run = open_run("runs/fiducial")                       # doctest: +SKIP
>>> t = run.time_in("Omega_i0")                           # history time axis in 1/Omega_i0
>>> dB = run.history["dB2_over_B2"]
>>> sp = run.spectra(); sp.dBy.shape                      # (n_t, n_x)
>>> x, Ey = run.field(run.field_iterations[-1], "E", "y")  # x in d_e0
>>> x_rho = run.length_in("rho_i0", x)

All returned values are in pic1d code units (docs/conventions.md) unless a conversion
helper is used: time 1/omega_pe0, length d_e0, fields m_e c omega_pe0 / e.
"""

from __future__ import annotations

import json
import math
import os
import re
import time as _time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

__all__ = ["History", "Run", "Spectra", "open_run"]

_T = TypeVar("_T")
_ITER_FILE = re.compile(r"^data(\d+)\.h5$")

#: time unit name -> how to get its size in 1/omega_pe0 from the run
_TIME_ALIASES = {
    "omega_pe0": "omega_pe0",
    "/omega_pe0": "omega_pe0",
    "1/omega_pe0": "omega_pe0",
    "code": "omega_pe0",
    "Omega_i0": "Omega_i0",
    "/Omega_i0": "Omega_i0",
    "1/Omega_i0": "Omega_i0",
    "tau_c": "tau_c",
    "steps": "steps",
}
_LENGTH_UNITS = ("d_e0", "d_i0", "rho_i0", "cells")


def _retry(func: Callable[[], _T], attempts: int = 5, delay: float = 0.2) -> _T:
    """Call ``func``; retry on OSError (a writer may be closing/renaming the file)."""
    for i in range(attempts):
        try:
            return func()
        except OSError:
            if i == attempts - 1:
                raise
            _time.sleep(delay * (i + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _open_h5(path: Path) -> h5py.File:
    # locking=False: never block (or be blocked by) the running simulation.
    return _retry(lambda: h5py.File(path, "r", locking=False))


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_row_dataset(obj: Any) -> bool:
    return isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.maxshape[0] is None


def _n_rows(f: h5py.File) -> int:
    if "n_rows" in f.attrs:
        return int(f.attrs["n_rows"])
    lengths = [d.shape[0] for d in f.values() if _is_row_dataset(d)]
    return min(lengths) if lengths else 0


def _find_key(obj: Any, name: str) -> Any:
    """Breadth-first search for key ``name`` in nested dicts; KeyError if absent."""
    queue = [obj]
    while queue:
        cur = queue.pop(0)
        if isinstance(cur, Mapping):
            if name in cur and cur[name] is not None:
                return cur[name]
            queue.extend(v for v in cur.values() if isinstance(v, Mapping))
    raise KeyError(name)


class History(Mapping[str, np.ndarray]):
    """The complete rows of ``history.h5`` (a mapping name -> 1D array).

    The number of rows is fixed when the object is created (a consistent snapshot of a
    run that may still be running); arrays are read lazily and cached.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    n_rows : int
        Number of complete rows.
    names : list of str
        Names of the time series.
    attrs : dict
        Root attributes (species names, B0, omega_ci0, dx, dt...).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with _open_h5(self.path) as f:
            self.n_rows = _n_rows(f)
            self.names = [k for k, d in f.items() if _is_row_dataset(d)]
            self.attrs = {k: _decode(v) for k, v in f.attrs.items()}
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in self.names:
                raise KeyError(f"{name!r} is not in {self.path}; available: {self.names}")

            def read() -> np.ndarray:
                with h5py.File(self.path, "r", locking=False) as f:
                    return f[name][: self.n_rows]

            self._cache[name] = _retry(read)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"History({str(self.path)!r}, n_rows={self.n_rows}, names={self.names})"


@dataclass
class Spectra:
    """The dense (t, x) field series of ``spectra.h5``.

    Attributes
    ----------
    time : numpy.ndarray, shape (n_t,)
        Output times (1/omega_pe0).
    x : numpy.ndarray, shape (n_x,)
        Co-moving positions of the sampled integer nodes (d_e0).
    dBy, dBz, Ey, Ez : numpy.ndarray, shape (n_t, n_x)
        Physical field components at integer nodes (m_e c omega_pe0 / e).
    step : numpy.ndarray or None
        Step of each row, if stored.
    attrs : dict
        Root attributes (``interval`` in steps, ``stride`` in cells, B0, dx, dt...).
    data : dict
        Every dataset of the file (complete rows), including the ones above.
    """

    time: np.ndarray
    x: np.ndarray
    dBy: np.ndarray
    dBz: np.ndarray
    Ey: np.ndarray
    Ez: np.ndarray
    step: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, np.ndarray] = field(default_factory=dict)


def _read_table(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    def read() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        with h5py.File(path, "r", locking=False) as f:
            n = _n_rows(f)
            data = {
                k: (d[:n] if _is_row_dataset(d) else d[()])
                for k, d in f.items()
                if isinstance(d, h5py.Dataset)
            }
            return data, {k: _decode(v) for k, v in f.attrs.items()}

    return _retry(read)


class Run:
    """A pic1d run directory.

    Parameters
    ----------
    path : path-like
        The run directory (containing ``run.json``, ``history.h5``...).

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    params : dict
        Contents of ``run.json`` (empty if absent). Use :meth:`param` to look up a derived
        parameter wherever it is nested.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"run directory {self.path} does not exist")
        run_json = self.path / "run.json"
        self.params: dict[str, Any] = {}
        if run_json.exists():
            self.params = json.loads(run_json.read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ---------------------------------------------------------------------- params
    def param(self, name: str, default: Any = KeyError) -> Any:
        """A run parameter by name.

        Looked up in ``run.json`` (its ``derived`` section first, then breadth-first
        through all nested sections), then in the root attributes of ``history.h5``.
        ``tau_c`` falls back to ``tau_c_Omega_i0 / omega_ci0``.

        Parameters
        ----------
        name : str
            E.g. ``"omega_ci0"``, ``"B0"``, ``"dx"``, ``"dt"``, ``"d_i0"``, ``"rho_i0"``,
            ``"mass_ratio"``, ``"tau_c"`` (1/omega_pe0).
        default : object, optional
            Returned if the parameter is not found; otherwise KeyError is raised.
        """
        for section in (self.params.get("derived"), self.params):
            try:
                return _find_key(section, name)
            except KeyError:
                pass
        if name == "tau_c":
            try:
                return self.param("tau_c_Omega_i0") / self.param("omega_ci0")
            except (KeyError, TypeError):
                pass
        hist = self.path / "history.h5"
        if hist.exists():
            with _open_h5(hist) as f:
                if name in f.attrs:
                    return _decode(f.attrs[name])
        if default is KeyError:
            raise KeyError(f"parameter {name!r} not found in {self.path}/run.json or history.h5")
        return default

    # --------------------------------------------------------------------- history
    @property
    def history(self) -> History:
        """The complete rows of ``history.h5`` at the time of access."""
        return History(self.path / "history.h5")

    def spectra(self) -> Spectra:
        """Read ``spectra.h5`` (complete rows only)."""
        data, attrs = _read_table(self.path / "spectra.h5")
        missing = [k for k in ("time", "x", "dBy", "dBz", "Ey", "Ez") if k not in data]
        if missing:
            raise KeyError(f"{self.path}/spectra.h5 lacks datasets {missing}")
        return Spectra(
            time=data["time"],
            x=data["x"],
            dBy=data["dBy"],
            dBz=data["dBz"],
            Ey=data["Ey"],
            Ez=data["Ez"],
            step=data.get("step"),
            attrs=attrs,
            data=data,
        )

    # --------------------------------------------------------------- openPMD series
    @staticmethod
    def _iterations(directory: Path) -> dict[int, Path]:
        if not directory.is_dir():
            return {}
        found = {}
        for entry in directory.iterdir():
            m = _ITER_FILE.match(entry.name)
            if m:
                found[int(m.group(1))] = entry
        return dict(sorted(found.items()))

    @property
    def field_iterations(self) -> list[int]:
        """Iterations (steps) with a complete file in ``fields/``."""
        return list(self._iterations(self.path / "fields"))

    @property
    def tracer_iterations(self) -> list[int]:
        """Iterations (steps) with a complete file in ``tracers/``."""
        return list(self._iterations(self.path / "tracers"))

    def _iteration_file(self, sub: str, iteration: int) -> Path:
        files = self._iterations(self.path / sub)
        if iteration not in files:
            raise KeyError(
                f"no {sub} iteration {iteration} in {self.path}; available: {list(files)}"
            )
        return files[iteration]

    def field_records(self, iteration: int) -> dict[str, list[str]]:
        """Mesh records of an iteration: name -> component names ([] for scalars)."""
        path = self._iteration_file("fields", iteration)
        with _open_h5(path) as f:
            meshes = f[f"data/{iteration}/{_decode(f.attrs['meshesPath'])}"]
            return {
                k: ([] if isinstance(v, h5py.Dataset) or "value" in v.attrs else list(v))
                for k, v in meshes.items()
            }

    def field_time(self, iteration: int) -> float:
        """Time (1/omega_pe0) of a field iteration."""
        path = self._iteration_file("fields", iteration)
        with _open_h5(path) as f:
            return float(f[f"data/{iteration}"].attrs["time"])

    def field(
        self, iteration: int, record: str, component: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One mesh record component of a field iteration.

        Parameters
        ----------
        iteration : int
            Step number (one of :attr:`field_iterations`).
        record : str
            Mesh record, e.g. ``"E"``, ``"B"``, ``"J"``, ``"rho"``, ``"density_ions"``.
        component : str, optional
            ``"x"``, ``"y"``, ``"z"`` (or ``"xx"``... for pressures); None for scalars.

        Returns
        -------
        x : numpy.ndarray
            Node positions (d_e0, co-moving): offset + (i + position) * spacing.
        values : numpy.ndarray
            Stored values (code units).
        """
        path = self._iteration_file("fields", iteration)
        with _open_h5(path) as f:
            meshes = f[f"data/{iteration}/{_decode(f.attrs['meshesPath'])}"]
            if record not in meshes:
                raise KeyError(f"no mesh {record!r} at iteration {iteration}: {list(meshes)}")
            rec = meshes[record]
            scalar = isinstance(rec, h5py.Dataset) or "value" in rec.attrs
            if scalar:
                if component is not None:
                    raise ValueError(f"mesh {record!r} is a scalar record; omit component")
                comp = rec
            else:
                if component is None or component not in rec:
                    raise ValueError(
                        f"mesh {record!r} needs one of the components {list(rec)}, "
                        f"got {component!r}"
                    )
                comp = rec[component]
            if isinstance(comp, h5py.Dataset):
                values = comp[()]
            else:
                values = np.full(tuple(comp.attrs["shape"]), comp.attrs["value"])
            spacing = float(rec.attrs["gridSpacing"][0])
            offset = float(rec.attrs["gridGlobalOffset"][0])
            position = float(comp.attrs["position"][0])
        x = offset + (np.arange(values.shape[0]) + position) * spacing
        return x, values

    def particles(self, iteration: int, species: str | None = None) -> dict[str, np.ndarray]:
        """A tracer dump: ``id``, ``x`` (d_e0), ``ux``, ``uy``, ``uz`` (u = gamma v/c).

        Parameters
        ----------
        iteration : int
            One of :attr:`tracer_iterations`.
        species : str, optional
            Species name; may be omitted when the file holds a single species.
        """
        path = self._iteration_file("tracers", iteration)
        with _open_h5(path) as f:
            group = f[f"data/{iteration}/{_decode(f.attrs['particlesPath'])}"]
            names = list(group)
            if species is None:
                if len(names) != 1:
                    raise ValueError(f"several species {names}: pass species=")
                species = names[0]
            sp = group[species]

            def comp(path_: str) -> np.ndarray:
                obj = sp[path_]
                if isinstance(obj, h5py.Dataset):
                    return obj[()]
                return np.full(tuple(obj.attrs["shape"]), obj.attrs["value"])

            return {
                "id": comp("id"),
                "x": comp("position/x") + comp("positionOffset/x"),
                "ux": comp("momentum/x"),
                "uy": comp("momentum/y"),
                "uz": comp("momentum/z"),
            }

    # -------------------------------------------------------------- unit helpers
    def time_scale(self, unit: str) -> float:
        """Size of one ``unit`` in 1/omega_pe0.

        Parameters
        ----------
        unit : {"omega_pe0", "Omega_i0", "tau_c", "steps"}
            ``"omega_pe0"`` means code time 1/omega_pe0 (aliases "/omega_pe0",
            "1/omega_pe0", "code"); ``"Omega_i0"`` means 1/Omega_i0 (aliases
            "/Omega_i0", "1/Omega_i0").
        """
        key = _TIME_ALIASES.get(unit)
        if key is None:
            raise ValueError(f"unknown time unit {unit!r}; use one of {sorted(_TIME_ALIASES)}")
        if key == "omega_pe0":
            return 1.0
        if key == "Omega_i0":
            return 1.0 / float(self.param("omega_ci0"))
        if key == "tau_c":
            tau_c = self.param("tau_c", None)
            if tau_c is None or not math.isfinite(float(tau_c)):
                raise ValueError(f"run {self.path} has no compression time scale tau_c")
            return float(tau_c)
        return float(self.param("dt"))

    def time_in(self, unit: str, t: np.ndarray | float | None = None) -> np.ndarray:
        """Convert times from 1/omega_pe0 to ``unit`` (default: the history time axis).

        Examples
        --------
        ``run.time_in("Omega_i0")`` is ``history["time"] * omega_ci0``.
        """
        if t is None:
            t = self.history["time"]
        t = np.asarray(t, dtype=np.float64)
        key = _TIME_ALIASES.get(unit)
        if key == "Omega_i0":  # multiply, as the definition t Omega_i0 reads
            return t * float(self.param("omega_ci0"))
        return t / self.time_scale(unit)

    def length_scale(self, unit: str) -> float:
        """Size of one ``unit`` in d_e0; unit in {"d_e0", "d_i0", "rho_i0", "cells"}."""
        if unit == "d_e0":
            return 1.0
        if unit == "cells":
            return float(self.param("dx"))
        if unit in ("d_i0", "rho_i0"):
            return float(self.param(unit))
        raise ValueError(f"unknown length unit {unit!r}; use one of {_LENGTH_UNITS}")

    def length_in(self, unit: str, x: np.ndarray | float) -> np.ndarray:
        """Convert lengths from d_e0 to ``unit``."""
        return np.asarray(x, dtype=np.float64) / self.length_scale(unit)


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open a pic1d run directory for reading.

    Parameters
    ----------
    path : path-like
        The run directory.

    Returns
    -------
    Run
    """
    return Run(path)
