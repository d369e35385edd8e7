"""Co-moving box: scale factors a_i(t), Ldot L^-1 and field maps (PHYSICS.md section 2).

Lab coordinates x = L(t) x' with L = diag(a_x, a_y, a_z), a_i(0) = 1. Profiles per axis:

* ``"fixed"``: a = 1;
* ``"power"``: a = (1 + t/tau)^(-s) (tau < 0 expands for s > 0);
* ``"exponential"``: a = exp(-t/tau).

After ``t_halt`` every a_i is frozen at its value at t_halt (Ldot = 0).
All times are in code units (1/omega_pe0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AXES = ("x", "y", "z")
PROFILES = ("fixed", "power", "exponential")


@dataclass(frozen=True)
class AxisProfile:
    """Scale factor of one axis.

    Attributes
    ----------
    kind : {"fixed", "power", "exponential"}
    tau : float
        Time scale (1/omega_pe0); sign gives compression (> 0) or expansion (< 0)
        for a positive exponent. Ignored for ``"fixed"``.
    exponent : float
        s in (1 + t/tau)^(-s); ignored for the other kinds.
    """

    kind: str = "fixed"
    tau: float = math.inf
    exponent: float = 1.0

    def a(self, t: float) -> float:
        """Scale factor at time t (dimensionless)."""
        if self.kind == "power":
            return (1.0 + t / self.tau) ** (-self.exponent)
        if self.kind == "exponential":
            return math.exp(-t / self.tau)
        return 1.0

    def rate(self, t: float) -> float:
        """Logarithmic rate d ln a / dt at time t (omega_pe0)."""
        if self.kind == "power":
            return -self.exponent / (self.tau + t)
        if self.kind == "exponential":
            return -1.0 / self.tau
        return 0.0

    def singular_time(self) -> float:
        """First t > 0 where the profile breaks down (a -> 0 or inf), or inf."""
        if self.kind == "power" and self.tau < 0:
            return -self.tau
        return math.inf


@dataclass(frozen=True)
class ScaleFactors:
    """The diagonal co-moving transformation L(t) = diag(a_x, a_y, a_z).

    Attributes
    ----------
    axes : tuple of AxisProfile
        Profiles for x, y, z.
    t_halt : float
        Time after which all a_i are frozen (inf: never).
    """

    axes: tuple[AxisProfile, AxisProfile, AxisProfile] = (
        AxisProfile(),
        AxisProfile(),
        AxisProfile(),
    )
    t_halt: float = math.inf

    @property
    def is_static(self) -> bool:
        """True when L is the identity at all times."""
        return all(p.kind == "fixed" for p in self.axes)

    def a(self, t: float) -> tuple[float, float, float]:
        """(a_x, a_y, a_z) at time t."""
        te = min(t, self.t_halt)
        return tuple(p.a(te) for p in self.axes)  # type: ignore[return-value]

    def rates(self, t: float) -> tuple[float, float, float]:
        """Diagonal of Ldot L^-1 = d ln a_i/dt at time t (omega_pe0); zero after t_halt."""
        if t >= self.t_halt:
            return (0.0, 0.0, 0.0)
        return tuple(p.rate(t) for p in self.axes)  # type: ignore[return-value]

    def det(self, t: float) -> float:
        """D = det L = a_x a_y a_z at time t."""
        ax, ay, az = self.a(t)
        return ax * ay * az

    def a_iso(self, t: float) -> float:
        """Isotropic scale factor D^(1/3) used by isotropically forced species."""
        return self.det(t) ** (1.0 / 3.0)

    def extremes(self, t_end: float, samples: int = 2001) -> dict[str, tuple[float, float]]:
        """Smallest and largest a_i reached on [0, t_end] (monotone profiles: ends suffice,
        sampled anyway for safety).

        Returns
        -------
        dict
            axis name -> (min a, max a).
        """
        out = {}
        for name, prof in zip(AXES, self.axes, strict=True):
            vals = [prof.a(min(t_end * k / (samples - 1), self.t_halt)) for k in range(samples)]
            out[name] = (min(vals), max(vals))
        return out

    def flux_to_physical(self, t: float) -> tuple[float, float, float]:
        """Factors a_i/D mapping co-moving flux fields (d', b') to physical (E, B)."""
        ax, ay, az = self.a(t)
        d = ax * ay * az
        return (ax / d, ay / d, az / d)

    def flux_to_circulation(self, t: float) -> tuple[float, float, float]:
        """Factors a_i^2/D mapping flux fields (d', b') to circulation fields (e', h')."""
        ax, ay, az = self.a(t)
        d = ax * ay * az
        return (ax * ax / d, ay * ay / d, az * az / d)
