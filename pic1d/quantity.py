"""Quantities with named units in decks: ``"1.41 tau_c"``, ``"80 rho_i0"``, ``"1000 steps"``.

A deck value is either a bare number (code units: 1/omega_pe0 for times, d_e0 for
lengths) or a string ``"<number> <unit>"``. This module only parses; the conversion to
code units needs the run's derived scales and is done by :class:`UnitScales`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: time units -> name of the scale (in 1/omega_pe0) they multiply
TIME_UNITS = ("/omega_pe0", "/Omega_i0", "tau_c", "steps")
#: length units -> name of the scale (in d_e0) they multiply
LENGTH_UNITS = ("d_e0", "d_i0", "rho_i0", "cells")

_ALIASES = {
    "1/omega_pe0": "/omega_pe0",
    "omega_pe0^-1": "/omega_pe0",
    "1/Omega_i0": "/Omega_i0",
    "Omega_i0^-1": "/Omega_i0",
    "step": "steps",
    "cell": "cells",
}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*(\S+)?\s*$")


class QuantityError(ValueError):
    """A quantity string could not be parsed or has the wrong dimension."""


@dataclass(frozen=True)
class Quantity:
    """A number with a named unit, as written in a deck.

    Attributes
    ----------
    value : float
        The number as written.
    unit : str
        One of :data:`TIME_UNITS` or :data:`LENGTH_UNITS`, or ``""`` for code units.
    """

    value: float
    unit: str = ""

    @property
    def dimension(self) -> str:
        """``"time"``, ``"length"`` or ``"code"`` (a bare number)."""
        if self.unit in TIME_UNITS:
            return "time"
        if self.unit in LENGTH_UNITS:
            return "length"
        return "code"

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}".strip()


def parse_quantity(raw: object, dimension: str) -> Quantity:
    """Parse a deck value into a :class:`Quantity` of the given dimension.

    Parameters
    ----------
    raw : int, float or str
        A bare number (code units) or ``"<number> <unit>"``.
    dimension : {"time", "length"}
        The dimension the key requires.

    Returns
    -------
    Quantity

    Raises
    ------
    QuantityError
        If the value is not a number, the unit is unknown, or it has the wrong
        dimension. The message lists the allowed units.
    """
    allowed = TIME_UNITS if dimension == "time" else LENGTH_UNITS
    allowed_txt = ", ".join(allowed)
    if isinstance(raw, bool):
        raise QuantityError(
            f"expected a number or a string with a {dimension} unit ({allowed_txt})"
        )
    if isinstance(raw, (int, float)):
        value = float(raw)
        unit = ""
    elif isinstance(raw, str):
        match = _PATTERN.match(raw)
        if match is None:
            raise QuantityError(
                f"cannot parse {raw!r}: write '<number> <unit>' with unit one of {allowed_txt}"
            )
        value = float(match.group(1))
        unit = match.group(2) or ""
        unit = _ALIASES.get(unit, unit)
        if unit and unit not in allowed:
            other = LENGTH_UNITS if dimension == "time" else TIME_UNITS
            if unit in other:
                raise QuantityError(
                    f"{raw!r} is not a {dimension}: allowed {dimension} units are {allowed_txt}"
                )
            raise QuantityError(
                f"unknown unit {unit!r} in {raw!r}: allowed units are {allowed_txt}"
            )
    else:
        raise QuantityError(
            f"expected a number or a string with a {dimension} unit ({allowed_txt}), "
            f"got {type(raw).__name__}"
        )
    if not math.isfinite(value):
        raise QuantityError(f"{raw!r} is not finite")
    return Quantity(value, unit)


@dataclass(frozen=True)
class UnitScales:
    """The scales that turn named units into code units.

    All attributes are in code units; ``None`` means the unit is not available in this
    run (e.g. ``tau_c`` without compression).

    Attributes
    ----------
    dt : float
        Time step (1/omega_pe0).
    dx : float
        Cell size (d_e0).
    omega_ci0 : float
        Initial ion cyclotron frequency Omega_i0 (omega_pe0).
    tau_c : float or None
        Compression time scale (1/omega_pe0).
    d_i0 : float
        Initial ion skin depth (d_e0).
    rho_i0 : float
        Initial ion Larmor radius v_ti/Omega_i0 with v_ti = sqrt(kT_i/m_i) (d_e0).
    """

    dt: float
    dx: float
    omega_ci0: float
    tau_c: float | None
    d_i0: float
    rho_i0: float

    def time(self, q: Quantity) -> float:
        """Convert a time quantity to code units (1/omega_pe0)."""
        factor = {
            "": 1.0,
            "/omega_pe0": 1.0,
            "/Omega_i0": 1.0 / self.omega_ci0,
            "tau_c": self.tau_c,
            "steps": self.dt,
        }[q.unit]
        if factor is None:
            raise QuantityError(f"{q} uses tau_c but the run has no compression time scale")
        return q.value * factor

    def steps(self, q: Quantity) -> int:
        """Convert a time quantity to a whole number of steps (rounded to nearest)."""
        if q.unit == "steps":
            return int(round(q.value))
        return int(round(self.time(q) / self.dt))

    def length(self, q: Quantity) -> float:
        """Convert a length quantity to code units (d_e0)."""
        factor = {
            "": 1.0,
            "d_e0": 1.0,
            "d_i0": self.d_i0,
            "rho_i0": self.rho_i0,
            "cells": self.dx,
        }[q.unit]
        return q.value * factor

    def cells(self, q: Quantity) -> int:
        """Convert a length quantity to a whole number of cells (rounded to nearest)."""
        if q.unit == "cells":
            return int(round(q.value))
        return int(round(self.length(q) / self.dx))
