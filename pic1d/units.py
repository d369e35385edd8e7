"""Plasma formulas in pic1d code units, and the derived-parameter table of a run.

Code units (PHYSICS.md section 1): time 1/omega_pe0, length d_e0 = c/omega_pe0, velocity c,
mass m_e, charge e, density n0, fields m_e c omega_pe0/e, temperatures kT in m_e c^2.
Maxwell's equations carry no 4 pi: omega_ps^2 = n_s q_s^2/m_s, magnetic pressure B^2/2,
beta_s = 2 n_s T_s/B^2, v_A^2/c^2 = B^2/(n0 (m_i + m_e)).

Every formula lives here once; other modules import it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pic1d.deck import Config

#: bytes per particle for positions (float64) + 3 momenta, by precision
BYTES_PER_PARTICLE = {"float64": 32, "float32": 20}


def format_bytes(n: float) -> str:
    """Human-readable size (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def b0_from_beta(beta: float, pressure: float) -> float:
    """Background field from the total plasma beta.

    Parameters
    ----------
    beta : float
        Total beta = 8 pi sum_s n_s k T_s / B0^2 (Gaussian) = 2 sum n_s T_s / B0^2 (code).
    pressure : float
        sum_s n_s T_s over thermal species (n0 m_e c^2).

    Returns
    -------
    float
        B0 in code units (m_e c omega_pe0 / e); equals Omega_ce0/omega_pe0.
    """
    return math.sqrt(2.0 * pressure / beta)


def alfven_speed(b: float, density: float, mass_ratio: float) -> float:
    """Alfven speed v_A/c = B / sqrt(n (m_i + m_e)) (non-relativistic, ion+electron mass)."""
    return b / math.sqrt(density * (mass_ratio + 1.0))


def plasma_frequency(density: float, charge: float = -1.0, mass: float = 1.0) -> float:
    """Plasma frequency omega_ps = sqrt(n q^2/m) in omega_pe0."""
    return math.sqrt(density * charge * charge / mass)


def cyclotron_frequency(b: float, charge: float, mass: float) -> float:
    """Non-relativistic cyclotron frequency |q| B / m in omega_pe0."""
    return abs(charge) * b / mass


def skin_depth(density: float, charge: float = -1.0, mass: float = 1.0) -> float:
    """Skin depth c/omega_ps in d_e0."""
    return 1.0 / plasma_frequency(density, charge, mass)


def thermal_speed(temperature: float, mass: float) -> float:
    """Thermal speed sqrt(kT/m) in c (choice: no factor 2), T in m_e c^2, m in m_e."""
    return math.sqrt(temperature / mass)


def larmor_radius(temperature: float, mass: float, b: float, charge: float = 1.0) -> float:
    """Thermal Larmor radius v_t/Omega = sqrt(kT/m)/(|q| B/m) in d_e0."""
    return thermal_speed(temperature, mass) / cyclotron_frequency(b, charge, mass)


def debye_length(temperature: float, density: float) -> float:
    """Debye length sqrt(kT/(n e^2)) in d_e0 (T in m_e c^2, n in n0)."""
    return math.sqrt(temperature / density)


def magnetization(b: float, density: float = 1.0, mass: float = 1.0) -> float:
    """Cold magnetization sigma = B^2/(n m c^2) (= (Omega_c/omega_p)^2)."""
    return b * b / (density * mass)


def beta_species(density: float, temperature: float, b: float) -> float:
    """Species beta 2 n T / B^2."""
    return 2.0 * density * temperature / (b * b)


@dataclass(frozen=True)
class DerivedParameters:
    """The derived-parameter table of a run (code units unless the name says otherwise).

    The ``*_end`` entries are estimated at the end of the run from the compression
    profile: density n = n0/D, field B_x = B0 a_x/D, temperatures from the adiabatic
    (CGL, no scattering) scaling T_ii ~ 1/a_i^2, so they are lower bounds on the
    degradation of resolution when waves isotropise the plasma.
    """

    mass_ratio: float
    beta: float
    beta_i: float
    beta_e: float
    theta: float
    theta_i: float
    T_e_over_T_i: float
    B0: float
    sigma_e: float
    vA_over_c: float
    omega_ci0: float
    dx: float
    dt: float
    cfl: float
    cells_per_de: float
    omega_pe_dt: float
    Omega_i0_dt: float
    d_i0: float
    rho_i0: float
    d_e0_cells: float
    d_i0_cells: float
    rho_i0_cells: float
    lambda_De_cells: float
    cells: int
    L_d_e0: float
    L_over_d_i0: float
    L_over_rho_i0: float
    tau_c_Omega_i0: float | None
    steps_per_tau_c: float | None
    steps_total: int
    duration_omega_pe0: float
    duration_Omega_i0: float
    duration_tau_c: float | None
    output_interval_steps: int
    output_interval_Omega_i0: float
    n_history: int
    n_fields: int
    n_spectra: int
    particles_total: int
    tracers_total: int
    memory_bytes_per_rank: float
    ranks_assumed: int
    a_end: tuple[float, float, float]
    a_x_min: float
    courant_max: float
    B_end_over_B0: float
    density_end: float
    omega_pe_dt_end: float
    cells_per_de_end: float
    lambda_De_cells_end: float
    output_bytes: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (keys documented in docs/decks.md)."""
        out = asdict(self)
        out["a_end"] = list(self.a_end)
        return out


def derive(cfg: Config, ranks: int = 1) -> DerivedParameters:
    """Compute the derived-parameter table of a validated deck.

    Parameters
    ----------
    cfg : pic1d.deck.Config
        The validated configuration.
    ranks : int
        Number of MPI ranks to estimate memory per rank for.
    """
    pl, gr, sc = cfg.plasma, cfg.grid, cfg.scales
    b0 = pl.B0
    thermal = [s for s in cfg.species if not s.tracer]
    beta_i = sum(beta_species(s.density, s.temperature, b0) for s in thermal if s.charge > 0)
    beta_e = sum(beta_species(s.density, s.temperature, b0) for s in thermal if s.charge < 0)
    omega_ci0 = sc.omega_ci0
    dx, dt = gr.dx, gr.dt
    lam_de = debye_length(pl.theta, 1.0)
    length = gr.cells * dx
    steps = cfg.run.steps
    duration = steps * dt
    tau_c = cfg.compression.tau_c
    out = cfg.output
    n_hist = steps // out.history_every + 1 if out.history_every else 0
    n_fields = steps // out.fields_every + 1 if out.fields_every else 0
    n_spec = steps // out.spectra_every + 1 if out.spectra_every else 0
    n_part = sum(s.ppc * gr.cells for s in thermal)
    n_trac = sum(s.total_count(gr.cells) for s in cfg.species if s.tracer)
    bpp = BYTES_PER_PARTICLE[cfg.run.precision]
    # particles (+25 % migration/sort slack) + tracer extras (id, p0, mu0) + fields
    mem = (n_part * bpp * 1.25 + n_trac * (bpp + 24) * 1.25) / ranks + gr.cells * 8 * 40
    # output volume: spectra (4 float64 per sampled cell), fields (~20 arrays), history
    n_x_spec = -(-gr.cells // max(out.spectra_stride, 1))
    out_bytes = n_spec * n_x_spec * 4 * 8 + n_fields * gr.cells * 8 * (10 + 19 * len(thermal))
    out_bytes += n_hist * 8 * (30 + 10 * len(cfg.species))

    prof = cfg.compression.scale_factors
    a_end = prof.a(duration)
    ext = prof.extremes(duration)
    a_x_min = ext["x"][0]
    d_end = a_end[0] * a_end[1] * a_end[2]
    density_end = 1.0 / d_end
    # electron x-temperature under adiabatic (CGL) evolution: T_xx ~ 1/a_x^2
    t_x_end = pl.theta / a_end[0] ** 2
    de_end = skin_depth(density_end)
    return DerivedParameters(
        mass_ratio=pl.mass_ratio,
        beta=pl.beta,
        beta_i=beta_i,
        beta_e=beta_e,
        theta=pl.theta,
        theta_i=pl.theta_i,
        T_e_over_T_i=pl.T_e_over_T_i,
        B0=b0,
        sigma_e=magnetization(b0),
        vA_over_c=alfven_speed(b0, 1.0, pl.mass_ratio),
        omega_ci0=omega_ci0,
        dx=dx,
        dt=dt,
        cfl=gr.cfl,
        cells_per_de=gr.cells_per_de,
        omega_pe_dt=dt,
        Omega_i0_dt=omega_ci0 * dt,
        d_i0=sc.d_i0,
        rho_i0=sc.rho_i0,
        d_e0_cells=1.0 / dx,
        d_i0_cells=sc.d_i0 / dx,
        rho_i0_cells=sc.rho_i0 / dx,
        lambda_De_cells=lam_de / dx,
        cells=gr.cells,
        L_d_e0=length,
        L_over_d_i0=length / sc.d_i0,
        L_over_rho_i0=length / sc.rho_i0,
        tau_c_Omega_i0=None if tau_c is None else tau_c * omega_ci0,
        steps_per_tau_c=None if tau_c is None else tau_c / dt,
        steps_total=steps,
        duration_omega_pe0=duration,
        duration_Omega_i0=duration * omega_ci0,
        duration_tau_c=None if tau_c is None else duration / tau_c,
        output_interval_steps=out.fields_every,
        output_interval_Omega_i0=out.fields_every * dt * omega_ci0,
        n_history=n_hist,
        n_fields=n_fields,
        n_spectra=n_spec,
        particles_total=n_part,
        tracers_total=n_trac,
        memory_bytes_per_rank=mem,
        ranks_assumed=ranks,
        a_end=a_end,
        a_x_min=a_x_min,
        courant_max=gr.cfl / a_x_min,
        B_end_over_B0=a_end[0] / d_end,
        density_end=density_end,
        omega_pe_dt_end=plasma_frequency(density_end) * dt,
        cells_per_de_end=de_end / (a_end[0] * dx),
        lambda_De_cells_end=debye_length(t_x_end, density_end) / (a_end[0] * dx),
        output_bytes=out_bytes,
    )


def resolution_warnings(d: DerivedParameters) -> list[str]:
    """Warnings for poor (but runnable) resolution choices."""
    warn = []
    if d.lambda_De_cells_end < 1.0:
        warn.append(
            f"Debye length at the end of the run is {d.lambda_De_cells_end:.2f} cells (< 1): "
            "expect numerical heating (finite-grid instability)"
        )
    if max(d.omega_pe_dt, d.omega_pe_dt_end) > 0.2:
        warn.append(
            f"omega_pe*dt reaches {max(d.omega_pe_dt, d.omega_pe_dt_end):.3f} (> 0.2): "
            "plasma oscillations are poorly resolved"
        )
    if min(d.cells_per_de, d.cells_per_de_end) < 3.0:
        warn.append(
            f"the electron skin depth drops to {min(d.cells_per_de, d.cells_per_de_end):.2f} "
            "cells (< 3)"
        )
    return warn


def stability_errors(d: DerivedParameters) -> list[str]:
    """Errors for choices that make the scheme unstable or invalid."""
    err = []
    if d.courant_max >= 1.0:
        err.append(
            f"[grid] cfl = {d.cfl:g}: the co-moving Courant number cfl/a_x reaches "
            f"{d.courant_max:.3f} >= 1 at the smallest a_x = {d.a_x_min:.4g} of the run; "
            f"lower cfl below {d.a_x_min:.4g}"
        )
    if d.omega_pe_dt_end >= 2.0:
        err.append(
            f"omega_pe*dt reaches {d.omega_pe_dt_end:.3f} >= 2 at the end of the run: "
            "the leapfrog plasma oscillation is unstable; raise [grid] cells_per_de"
        )
    return err
