"""Crash-safe file writing and run-directory creation.

Every file pic1d writes that a reader may open at any moment (``run.json``, field and
tracer iterations, checkpoints) is written to a temporary file in the same directory,
flushed and fsync'ed, then renamed onto its final name with :func:`os.replace` (atomic on
POSIX file systems), and finally the directory itself is fsync'ed so the rename survives a
power loss. A reader therefore sees either the complete previous file or the complete new
one, never a half-written file. Temporary files are named ``.<name>.<random>.tmp`` so
directory listings that look for ``*.h5`` or ``data*.h5`` never pick them up.

Only one process (MPI rank 0) should call these functions for a given path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np

__all__ = [
    "PIC1D_OUTPUTS",
    "RunDirectoryExists",
    "atomic_h5",
    "atomic_write",
    "create_run_directory",
    "fsync_directory",
    "write_json_atomic",
]

#: Names (files or directories) in a run directory that belong to pic1d. Only these are
#: removed by ``create_run_directory(..., overwrite=True)``.
PIC1D_OUTPUTS: tuple[str, ...] = (
    "deck.toml",
    "run.json",
    "history.h5",
    "spectra.h5",
    "insitu.h5",
    "fields",
    "tracers",
    "checkpoints",
    "log.txt",
)


class RunDirectoryExists(FileExistsError):
    """The run directory exists, is not empty, and overwriting was not requested."""


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry table to disk (makes a preceding rename durable).

    Parameters
    ----------
    directory : path-like
        The directory to fsync. Silently does nothing on platforms or file systems
        that cannot open or fsync directories.
    """
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync the contents of a closed file, given its path."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(path: Path) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.<name>.<hex>.tmp``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Write a file atomically: temp file, flush, fsync, rename, fsync the directory.

    Parameters
    ----------
    path : path-like
        Final file name. Its directory must exist.
    mode : {"wb", "w"}
        Binary or text mode of the yielded file object.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).

    Yields
    ------
    file object
        Open on a temporary file ``.<name>.<random>.tmp`` in the same directory.

    Notes
    -----
    If the body raises, the temporary file is removed, ``path`` is left exactly as it
    was (or absent), and the exception propagates. The file gets the usual permissions
    (``0o666`` minus the umask).

    Examples
    --------
    >>> with atomic_write(tmp_path / "a.txt", "w") as fh:  # doctest: +SKIP
    ...     fh.write("hello")
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    final = Path(path)
    while True:
        tmp = _temp_name(final)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        if mode == "w":
            fh = os.fdopen(fd, "w", encoding=encoding or "utf-8")
        else:
            fh = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        _remove_quietly(tmp)
        raise
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_directory(final.parent)


@contextmanager
def atomic_h5(path: str | os.PathLike[str], **h5_kwargs: Any) -> Iterator[h5py.File]:
    """Create an HDF5 file atomically (same semantics as :func:`atomic_write`).

    Parameters
    ----------
    path : path-like
        Final file name. Its directory must exist.
    **h5_kwargs
        Passed to :class:`h5py.File` (e.g. ``libver``); the mode is always "create".

    Yields
    ------
    h5py.File
        Open for writing on a hidden temporary file. It is closed, fsync'ed and renamed
        onto ``path`` when the body completes; on an exception it is closed and removed,
        and any previous file at ``path`` is untouched.
    """
    final = Path(path)
    tmp = _temp_name(final)
    h5_kwargs.pop("mode", None)
    f = h5py.File(tmp, "w-", **h5_kwargs)
    try:
        try:
            yield f
        finally:
            f.close()
        _fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_directory(final.parent)


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays, paths and sets JSON-serialisable."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON (UTF-8, trailing newline) atomically.

    Parameters
    ----------
    path : path-like
        Destination file.
    obj : object
        JSON-serialisable data; numpy scalars and arrays, paths and sets are converted.
    indent : int
        Indentation of the output.
    """
    text = json.dumps(obj, indent=indent, default=_json_default, ensure_ascii=False)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def _is_own_temp(name: str) -> bool:
    """Whether ``name`` is a leftover temporary file of one of pic1d's outputs."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    return any(name.startswith(f".{out}.") for out in PIC1D_OUTPUTS)


def _remove_entry(entry: Path) -> None:
    if entry.is_symlink() or not entry.is_dir():
        entry.unlink()
    else:
        shutil.rmtree(entry)


def create_run_directory(
    path: str | os.PathLike[str],
    overwrite: bool = False,
    keep: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Create (or reuse) a run directory.

    Parameters
    ----------
    path : path-like
        The run directory. Missing parents are created.
    overwrite : bool
        If False (default) an existing non-empty directory is refused. If True, only
        pic1d's own outputs (:data:`PIC1D_OUTPUTS` and their leftover temporary files)
        are removed from it; every other file is left alone.
    keep : iterable of path-like
        Paths that must survive ``overwrite`` even if they are pic1d outputs, e.g. the
        input deck when it lives in the run directory as ``deck.toml``.

    Returns
    -------
    pathlib.Path
        The run directory.

    Raises
    ------
    RunDirectoryExists
        If the directory exists, is not empty and ``overwrite`` is False.
    NotADirectoryError
        If ``path`` exists and is not a directory.

    Notes
    -----
    Call on one rank only (MPI rank 0) and broadcast/barrier afterwards.
    """
    run = Path(path)
    if run.exists() and not run.is_dir():
        raise NotADirectoryError(f"run directory {run} exists and is not a directory")
    run.parent.mkdir(parents=True, exist_ok=True)
    try:
        run.mkdir()
        return run
    except FileExistsError:
        pass
    entries = sorted(run.iterdir())
    if not entries:
        return run
    if not overwrite:
        shown = ", ".join(e.name for e in entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise RunDirectoryExists(
            f"run directory {run} already exists and is not empty ({shown}); "
            f"pass --overwrite to replace pic1d's outputs in it (other files are kept), "
            f"or choose another output directory"
        )
    kept = {Path(k).absolute() for k in keep} | {Path(k).resolve() for k in keep}
    for entry in entries:
        if entry.name not in PIC1D_OUTPUTS and not _is_own_temp(entry.name):
            continue
        if entry.absolute() in kept or entry.resolve() in kept:
            continue
        _remove_entry(entry)
    fsync_directory(run)
    return run
