"""Shared test fixtures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DECKS = ROOT / "decks"

#: the default thermal plasma written out as [[species]] entries
THERMAL_SPECIES = """
[[species]]
name = "ions"
charge = 1
mass = "m_i"
[[species]]
name = "electrons"
charge = -1
mass = 1
"""


def tracer_species(ppc: int = 4, p_min: float = 0.5, p_max: float = 50.0,
                   name: str = "cre", extra: str = "") -> str:
    """A [[species]] entry of electron tracers (deck text)."""
    return (f'\n[[species]]\nname = "{name}"\ntracer = true\nppc = {ppc}\n'
            f"p_min = {p_min}\np_max = {p_max}\n{extra}")


def run_keeping_history(sim, last_step: int, run_dir=None):
    """Run ``sim`` to ``last_step`` with a Runner; returns (runner, history arrays)."""
    from pic1d.simulation import Runner

    r = Runner(sim, run_dir)
    r.history.keep_rows()
    r.run(last_step)
    return r, r.history.arrays()


def to_toml(data: dict) -> str:
    """Serialise a nested dict (tables, arrays of tables, scalars, lists) to TOML text."""
    lines: list[str] = []

    def scalar(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        raise TypeError(type(v))

    def table(prefix: str, tbl: dict) -> None:
        simple = {
            k: v
            for k, v in tbl.items()
            if not isinstance(v, dict)
            and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))
        }
        for k, v in simple.items():
            lines.append(f"{k} = {scalar(v)}")
        for k, v in tbl.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                lines.append(f"\n[{name}]")
                table(name, v)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for item in v:
                    lines.append(f"\n[[{name}]]")
                    table(name, item)

    table("", data)
    return "\n".join(lines) + "\n"


@pytest.fixture
def deck_dir():
    """Path of the shipped decks."""
    return DECKS


def momenta_by_id(sp) -> np.ndarray:
    """(3, n) momenta of a species with ids, ordered by id (the sorted kernels reorder
    particles every step, so per-particle comparisons must go through the ids)."""
    order = np.argsort(sp.ids[: sp.n], kind="stable")
    return np.stack([sp.ux[: sp.n][order], sp.uy[: sp.n][order], sp.uz[: sp.n][order]])
