"""Appendable time series in one HDF5 file (``history.h5``, ``spectra.h5``).

Layout
------
* Row datasets: axis 0 is the output index (one row per output time), created resizable
  (``maxshape[0] is None``) and chunked along axis 0. 1D ``(n_t,)`` or 2D ``(n_t, n_x)``.
* Static datasets (e.g. the ``x`` axis of spectra.h5): fixed shape, written once.
* Root attribute ``n_rows`` (int64): the number of complete rows. Readers use only the
  first ``n_rows`` rows of every row dataset and ignore anything beyond.

Crash consistency
-----------------
:meth:`AppendableSeries.append` first resizes every row dataset and writes the new row,
flushes, and only then increments ``n_rows`` and flushes again. A process killed between
the two leaves a longer dataset but the old ``n_rows``: readers see the old, consistent
table; the next writer that opens the file trims the extra rows. By default the file is
opened only for the duration of each call (``keep_open=False``), so it is closed (and
consistent on disk) between outputs and readers can open it at any time.

Only one process (MPI rank 0) writes a given series.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from pic1d.io.atomic import atomic_h5

__all__ = ["AppendableSeries", "read_series"]

N_ROWS = "n_rows"


def _attr_value(value: Any) -> Any:
    """Convert a Python value into something h5py stores as an attribute."""
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return np.array(list(value), dtype=h5py.string_dtype())
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, bool) for v in value):
        return np.array(value, dtype=np.bool_)
    if isinstance(value, (list, tuple)) and not value:
        return np.array([], dtype=np.float64)
    return value


def _decode(value: Any) -> Any:
    """Attribute value -> plain Python/numpy (bytes decoded, 1-element kept as is)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_row_dataset(obj: Any) -> bool:
    return isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and obj.maxshape[0] is None


def _write_row(d: h5py.Dataset, n: int, tail: tuple[int, ...], value: np.ndarray) -> None:
    """Set the length of row dataset ``d`` to n + 1 and write row ``n`` (low-level API,
    a few times faster than ``d.resize(); d[n] = value`` for many small datasets)."""
    d.id.set_extent((n + 1, *tail))
    fspace = d.id.get_space()
    fspace.select_hyperslab((n, *(0 for _ in tail)), (1, *tail))
    buf = np.ascontiguousarray(value, dtype=d.dtype).reshape((1, *tail))
    d.id.write(h5py.h5s.create_simple((1, *tail)), fspace, buf)


class AppendableSeries:
    """A table of time-indexed 1D/2D datasets in one HDF5 file that grows by rows.

    Parameters
    ----------
    path : path-like
        The HDF5 file.
    mode : {"a", "w", "r"}
        "a": open, creating the file if missing (default); "w": create a new empty file,
        replacing any existing one; "r": read only.
    attrs : mapping, optional
        Root attributes to set (created or updated) when opening for writing.
    keep_open : bool
        Keep the HDF5 file open between calls (faster for very frequent appends). The
        default False opens and closes the file in every call, so the file on disk is
        closed and consistent between outputs and readers can open it at any time.
    chunk_bytes : int
        Target chunk size in bytes for new row datasets (axis 0 chunk length is
        ``max(1, chunk_bytes // row_bytes)``, at most 4096 rows).

    Examples
    --------
    >>> s = AppendableSeries("history.h5", attrs={"dt": 0.05})  # doctest: +SKIP
    >>> s.define("step", dtype=np.int64); s.define("time"); s.define("Ey", n_x=128)
    >>> s.append({"step": 0, "time": 0.0, "Ey": np.zeros(128)})
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str = "a",
        attrs: Mapping[str, Any] | None = None,
        keep_open: bool = False,
        chunk_bytes: int = 1 << 18,
    ) -> None:
        if mode not in ("a", "w", "r"):
            raise ValueError(f"AppendableSeries: mode must be 'a', 'w' or 'r', got {mode!r}")
        self.path = Path(path)
        self.readonly = mode == "r"
        self.keep_open = keep_open
        self.chunk_bytes = int(chunk_bytes)
        self._h5: h5py.File | None = None
        self._dsets: dict[str, h5py.Dataset] = {}  # cache, only while the file is kept open
        self._layout: dict[str, tuple[int, ...]] = {}  # row dataset -> trailing shape
        if mode == "w" or (mode == "a" and not self.path.exists()):
            with atomic_h5(self.path) as f:
                f.attrs[N_ROWS] = np.int64(0)
        elif mode == "r" and not self.path.exists():
            raise FileNotFoundError(f"series file {self.path} does not exist")
        with self._open() as f:
            if not self.readonly:
                if N_ROWS not in f.attrs:
                    f.attrs[N_ROWS] = np.int64(self._min_rows(f))
                self._trim(f)
                for key, value in (attrs or {}).items():
                    f.attrs[key] = _attr_value(value)
            self._layout = {k: d.shape[1:] for k, d in f.items() if _is_row_dataset(d)}

    # ------------------------------------------------------------------ file handling
    @contextmanager
    def _open(self) -> Iterator[h5py.File]:
        if self._h5 is not None:
            yield self._h5
            return
        # locking=False: a user holding the file open in a notebook must never make the
        # simulation fail; consistency comes from n_rows, not from locks.
        f = h5py.File(self.path, "r" if self.readonly else "r+", locking=False)
        if self.keep_open:
            self._h5 = f
            yield f
            return
        try:
            yield f
        finally:
            f.close()

    def flush(self) -> None:
        """Flush buffered data to disk (only relevant with ``keep_open=True``)."""
        if self._h5 is not None:
            self._h5.flush()

    def close(self) -> None:
        """Close the file if it is being kept open. The object can still be used."""
        self._dsets.clear()
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _dataset(self, f: h5py.File, name: str) -> h5py.Dataset:
        if self._h5 is None:
            return f[name]
        if name not in self._dsets:
            self._dsets[name] = f[name]
        return self._dsets[name]

    def __enter__(self) -> AppendableSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _min_rows(f: h5py.File) -> int:
        lengths = [d.shape[0] for d in f.values() if _is_row_dataset(d)]
        return min(lengths) if lengths else 0

    @staticmethod
    def _trim(f: h5py.File) -> None:
        """Resize every row dataset to ``n_rows`` (drops rows of an interrupted append)."""
        n = int(f.attrs[N_ROWS])
        for d in f.values():
            if _is_row_dataset(d) and d.shape[0] != n:
                d.resize(n, axis=0)

    def _writable(self) -> None:
        if self.readonly:
            raise PermissionError(f"series {self.path} was opened read-only")

    # ---------------------------------------------------------------------- metadata
    @property
    def n_rows(self) -> int:
        """Number of complete rows."""
        with self._open() as f:
            return int(f.attrs[N_ROWS])

    @property
    def names(self) -> list[str]:
        """Names of the row (time-indexed) datasets."""
        return sorted(self._layout)

    @property
    def static_names(self) -> list[str]:
        """Names of the static (not time-indexed) datasets."""
        with self._open() as f:
            return [
                k for k, d in f.items() if isinstance(d, h5py.Dataset) and not _is_row_dataset(d)
            ]

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (strings decoded), including ``n_rows``."""
        with self._open() as f:
            return {k: _decode(v) for k, v in f.attrs.items()}

    def set_attrs(self, attrs: Mapping[str, Any]) -> None:
        """Create or update root attributes (``n_rows`` is reserved).

        Parameters
        ----------
        attrs : mapping
            Name -> value. Strings, lists of strings, numbers, arrays, bools; mappings are
            stored as JSON strings.
        """
        self._writable()
        if N_ROWS in attrs:
            raise ValueError("the root attribute 'n_rows' is managed by AppendableSeries")
        with self._open() as f:
            for key, value in attrs.items():
                f.attrs[key] = _attr_value(value)

    # --------------------------------------------------------------------- structure
    def define(
        self,
        name: str,
        n_x: int | None = None,
        dtype: DTypeLike = np.float64,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Define a row dataset (idempotent: an existing compatible one is kept).

        Parameters
        ----------
        name : str
            Dataset name.
        n_x : int, optional
            None for a 1D series ``(n_t,)``; otherwise the row length of a 2D series
            ``(n_t, n_x)``.
        dtype : dtype
            Storage type (float64 default; int64 for ``step``).
        attrs : mapping, optional
            Dataset attributes, e.g. ``{"units": "1/omega_pe0"}``.

        Notes
        -----
        A dataset defined after rows were appended is back-filled with the fill value
        (NaN for floats, 0 for integers) for the existing rows.
        """
        self._writable()
        with self._open() as f:
            self._define(f, name, n_x, dtype, attrs)

    def _define(
        self,
        f: h5py.File,
        name: str,
        n_x: int | None,
        dtype: DTypeLike,
        attrs: Mapping[str, Any] | None,
    ) -> None:
        dt = np.dtype(dtype)
        shape_tail: tuple[int, ...] = () if n_x is None else (int(n_x),)
        if name in f:
            d = f[name]
            if not _is_row_dataset(d) or d.shape[1:] != shape_tail or d.dtype != dt:
                raise ValueError(
                    f"{self.path}: dataset {name!r} exists with shape {d.shape}, dtype "
                    f"{d.dtype}; cannot redefine as (n_t, *{shape_tail}) {dt}"
                )
        else:
            n = int(f.attrs[N_ROWS])
            row_bytes = dt.itemsize * (shape_tail[0] if shape_tail else 1)
            rows = int(min(4096, max(1, self.chunk_bytes // max(row_bytes, 1))))
            fill = np.nan if dt.kind in "fc" else 0
            d = f.create_dataset(
                name,
                shape=(n, *shape_tail),
                maxshape=(None, *shape_tail),
                chunks=(rows, *shape_tail),
                dtype=dt,
                fillvalue=fill,
            )
        for key, value in (attrs or {}).items():
            d.attrs[key] = _attr_value(value)
        self._layout[name] = shape_tail

    def write_static(
        self, name: str, data: ArrayLike, attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write (or overwrite with the same shape) a static dataset such as an axis.

        Parameters
        ----------
        name : str
            Dataset name.
        data : array_like
            The values.
        attrs : mapping, optional
            Dataset attributes.
        """
        self._writable()
        arr = np.asarray(data)
        with self._open() as f:
            if name in f:
                d = f[name]
                if _is_row_dataset(d) or d.shape != arr.shape:
                    self._layout.pop(name, None)
                    self._dsets.pop(name, None)
                    del f[name]
                    d = f.create_dataset(name, data=arr)
                else:
                    d[...] = arr
            else:
                d = f.create_dataset(name, data=arr)
            for key, value in (attrs or {}).items():
                d.attrs[key] = _attr_value(value)

    # ------------------------------------------------------------------------ append
    def append(self, row: Mapping[str, ArrayLike], auto_define: bool = True) -> int:
        """Append one time level to every row dataset.

        Parameters
        ----------
        row : mapping
            Name -> value (scalar for 1D series, length-n_x array for 2D ones). Every
            defined row dataset must be present.
        auto_define : bool
            Define datasets for unknown names from the value (scalar -> 1D float64 or
            int64; 1D array -> 2D with its dtype). If False unknown names are an error.

        Returns
        -------
        int
            The new number of rows.
        """
        self._writable()
        values = {k: np.asarray(v) for k, v in row.items()}
        with self._open() as f:
            unknown = [k for k in values if k not in self._layout]
            if unknown and not auto_define:
                raise KeyError(f"{self.path}: unknown series {unknown}; define() them first")
            for k in unknown:
                v = values[k]
                if v.ndim == 0:
                    dt = np.int64 if v.dtype.kind in "iub" else np.float64
                    self._define(f, k, None, dt, None)
                elif v.ndim == 1:
                    dt = v.dtype if v.dtype.kind in "fiu" else np.float64
                    self._define(f, k, v.shape[0], dt, None)
                else:
                    raise ValueError(f"series {k!r}: a row must be a scalar or a 1D array")
            missing = sorted(set(self._layout) - set(values))
            if missing:
                raise KeyError(f"{self.path}: row is missing series {missing}")
            for k, tail in self._layout.items():
                if values[k].shape != tail:
                    raise ValueError(f"series {k!r}: row shape {values[k].shape} != {tail}")
            n = int(f.attrs[N_ROWS])
            # 1. data (overwriting any row left by an interrupted append) ...
            for k, tail in self._layout.items():
                _write_row(self._dataset(f, k), n, tail, values[k])
            f.flush()
            # 2. ... then publish the row.
            f.attrs[N_ROWS] = np.int64(n + 1)
            f.flush()
        return n + 1

    # ----------------------------------------------------------------------- restart
    def truncate_after(self, value: float, key: str = "step") -> int:
        """Drop every row whose ``key`` is greater than ``value`` (for restarts).

        Parameters
        ----------
        value : float
            Last value to keep (e.g. the step of the checkpoint being restarted from).
        key : str
            A 1D row dataset that increases monotonically (``step`` or ``time``).

        Returns
        -------
        int
            The new number of rows.
        """
        self._writable()
        with self._open() as f:
            n = int(f.attrs[N_ROWS])
            if key not in f or not _is_row_dataset(f[key]) or f[key].ndim != 1:
                raise KeyError(f"{self.path}: no 1D series {key!r} to truncate on")
            keyvals = f[key][:n]
            if n > 1 and np.any(np.diff(keyvals) < 0):
                raise ValueError(f"{self.path}: series {key!r} is not monotonic")
            new_n = int(np.searchsorted(keyvals, value, side="right"))
            if new_n < n:
                f.attrs[N_ROWS] = np.int64(new_n)
                f.flush()
                self._trim(f)
                f.flush()
            return new_n

    # -------------------------------------------------------------------------- read
    def read(self, name: str) -> np.ndarray:
        """Return the complete rows of a dataset (static datasets are returned whole)."""
        with self._open() as f:
            d = f[name]
            if _is_row_dataset(d):
                return d[: int(f.attrs[N_ROWS])]
            return d[()]


def read_series(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every dataset of a series file, honouring ``n_rows``.

    Parameters
    ----------
    path : path-like
        The HDF5 series file.

    Returns
    -------
    dict of str to numpy.ndarray
    """
    with h5py.File(path, "r", locking=False) as f:
        n = int(f.attrs.get(N_ROWS, AppendableSeries._min_rows(f)))
        return {
            k: (d[:n] if _is_row_dataset(d) else d[()])
            for k, d in f.items()
            if isinstance(d, h5py.Dataset)
        }
