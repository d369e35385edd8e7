"""Analyses of the validation runs (``validation/run.py``, ``make validate``).

Each ``check_*`` function reads run directories (``postprocess`` readers only), returns a
list of :class:`Check` (measured number next to its expectation, pass/fail) and writes
its figures. Units: times in 1/Omega_i0 (ion checks) or 1/|Omega_e0| (whistler check),
wavenumbers in 1/d_i0 or 1/d_e0, as stated in each check's name.

Growth rates (``growth_analysis``) are measured from ``spectra.h5``:

1. b(x, t) = (dB_y + i dB_z)/B0 is Fourier transformed in x; each mode +-k is a time
   series b_k(t) ~ exp(-i omega t) (omega > 0: LCP, ion sense; omega < 0: RCP).
2. Each series is band-passed around the linear-theory frequency of its k on the
   unstable branch (Gaussian kernel exp(-tau^2/2 sigma^2 - i omega_r tau), sigma =
   1/(3 gamma_max)). A linear filter maps exp(-i w t) to H(w) exp(-i w t), so an
   exponentially growing mode keeps its growth rate exactly, while the thermal noise of
   the other polarisation and frequencies (the "noise floor") is removed. The first and
   last 3 sigma (kernel edges) are not used. sigma = 1/(3 gamma_max): a bandwidth of
   3 gamma_max, narrow enough to separate +omega_r from -omega_r.
3. Linear phase: from 3 sigma to the time at which the anisotropy of the unstable species
   has relaxed by 2 % of its initial value (the distribution the theory describes is
   still there; at least 1/gamma_max long). ln |b_k|^2 (summed over +-k) is fitted by a
   straight line there: slope = 2 gamma(k).
4. gamma_max and k of peak: vertex of a parabola fitted to the measured gamma(k) over
   the modes with theoretical gamma > gamma_max/2 (robust to the +-20 % scatter of single
   modes seeded by noise); also reported: the growth rate of the summed power of the
   fastest-growing band (theory gamma > 0.85 gamma_max), compared with the same sum of
   theoretical exponentials over the same window.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from postprocess.io import open_run

log = logging.getLogger("validation")


@dataclass
class Check:
    """One verdict: a measured number next to its expectation."""

    id: str
    name: str
    measured: str
    expected: str
    passed: bool | None
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if self.value is None or not math.isfinite(self.value) else self.value
        return d


def _rel(a: float, b: float) -> float:
    return abs(a / b - 1.0) if b else math.inf


def _fmt(v: float, digits: int = 3) -> str:
    return "nan" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


# --------------------------------------------------------------------------- spectra


def mode_series(run) -> dict[str, Any]:
    """Fourier modes of b = (dB_y + i dB_z)/B0 from spectra.h5.

    Returns
    -------
    dict
        ``t`` (1/omega_pe0), ``k`` (positive mode wavenumbers, 1/d_e0), ``bp``, ``bm``
        (complex b_k(t) at +k and -k, shape (n_t, n_k)).
    """
    sp = run.spectra()
    b0 = float(run.param("B0"))
    b = (sp.dBy + 1j * sp.dBz) / b0
    nx = b.shape[1]
    bk = np.fft.fft(b, axis=1) / nx
    dx = float(sp.x[1] - sp.x[0])
    k = 2 * np.pi * np.fft.fftfreq(nx, dx)
    nm = (nx - 1) // 2 + 1
    return {"t": np.asarray(sp.time, float), "k": k[1:nm], "bp": bk[:, 1:nm],
            "bm": bk[:, nx - 1: nx - nm: -1]}  # fmt: skip


def bandpass(series: np.ndarray, t: np.ndarray, omega_c: float, sigma: float) -> np.ndarray:
    """Complex Gaussian band-pass of a time series b(t) ~ exp(-i omega t) around
    omega = ``omega_c`` (same time units as ``t``; sign selects the polarisation)."""
    dt = float(t[1] - t[0])
    n = max(int(4 * sigma / dt), 1)
    tau = np.arange(-n, n + 1) * dt
    ker = np.exp(-0.5 * (tau / sigma) ** 2) * np.exp(-1j * omega_c * tau)
    ker /= np.abs(ker).sum()
    return np.convolve(series, ker, mode="same")


def _theory_on_modes(run, mode: str, k_code: np.ndarray):
    """Linear theory at t = 0 (history row 0) on the box modes: omega(k) in omega_pe0,
    and the fastest-growing mode (k_max in 1/d_e0, gamma_max and omega_r in omega_pe0)."""
    from postprocess.dispersion import from_history, max_growth, solve_branch

    dh = from_history(run.path, times=[0.0])
    sps, va = dh.species[0], float(dh.v_A_over_c[0])
    om_ref, d_ref = float(dh.omega_ref[0]), float(dh.d_ref[0])
    w = solve_branch(k_code * d_ref, sps, va, mode, on_lost="nan") * om_ref
    k_max, w_max = max_growth(sps, va, mode)
    return w, k_max / d_ref, complex(w_max) * om_ref


def growth_analysis(run_dir: str | Path, mode: str, species: str, *, drop: float = 0.02,
                    sigma_factor: float = 1.0 / 3.0) -> dict[str, Any]:
    """Measure the linear growth of an anisotropy instability (see the module docstring).

    Parameters
    ----------
    run_dir : path-like
        Run with spectra.h5 and history.h5 (no compression).
    mode : {"L", "R"}
        Unstable branch (L: ion cyclotron, R: whistler).
    species : str
        The anisotropic species (its anisotropy history ends the linear phase).
    drop : float
        Relative relaxation of the anisotropy that ends the linear phase.

    Returns
    -------
    dict
        Units: ``unit_t`` (omega_pe0 per unit: Omega_i0 for L, |Omega_e0| for R) and
        ``unit_k`` (per d_e0: 1/d_i0 for L, 1/d_e0 for R); all rates and wavenumbers
        in those units.
    """
    run = open_run(run_dir)
    ms = mode_series(run)
    sign = 1.0 if mode.upper() == "L" else -1.0
    if mode.upper() == "L":
        unit_t, unit_k = float(run.param("omega_ci0")), 1.0 / float(run.param("d_i0"))
    else:
        unit_t, unit_k = float(run.param("B0")), 1.0  # |Omega_e0| = B0 (m_e = 1)
    w_code, kmax_code, wmax_code = _theory_on_modes(run, mode, ms["k"])
    k = ms["k"] / unit_k
    g_th = w_code.imag / unit_t
    w_th = w_code.real / unit_t
    gmax, kmax, wrmax = wmax_code.imag / unit_t, kmax_code / unit_k, wmax_code.real / unit_t
    t = ms["t"] * unit_t
    sigma = sigma_factor / gmax
    # filtered power per mode (+k and -k summed)
    top = np.isfinite(g_th) & (g_th > 0.3 * gmax)
    idx = np.flatnonzero(np.isfinite(g_th) & (g_th > 0.05 * gmax))
    pf = np.full((t.size, k.size), np.nan)
    p_raw = np.abs(ms["bp"]) ** 2 + np.abs(ms["bm"]) ** 2
    for j in idx:
        wc = sign * abs(w_th[j])
        pf[:, j] = (np.abs(bandpass(ms["bp"][:, j], t, wc, sigma)) ** 2
                    + np.abs(bandpass(ms["bm"][:, j], t, wc, sigma)) ** 2)
    # linear phase
    hist = run.history
    th = np.asarray(hist["time"], float) * unit_t
    an = np.asarray(hist[f"anisotropy_{species}"], float)
    below = np.flatnonzero(an < an[0] * (1.0 - drop))
    t_a = 3.0 * sigma
    t_b = float(th[below[0]]) if below.size else float(t[-1] - 3 * sigma)
    t_b = min(max(t_b, t_a + 1.0 / gmax), float(t[-1] - 3 * sigma))
    win = (t >= t_a) & (t <= t_b)
    if win.sum() < 5:
        raise ValueError(f"linear phase too short: {t_a:.3g}-{t_b:.3g}")
    g_meas = np.full(k.size, np.nan)
    for j in idx:
        g_meas[j] = 0.5 * np.polyfit(t[win], np.log(pf[win, j]), 1)[0]
    # parabola through the measured gamma(k) of the modes with gamma_th > gamma_max / 2
    half = np.isfinite(g_th) & (g_th > 0.5 * gmax) & np.isfinite(g_meas)
    k_peak, g_peak = math.nan, math.nan
    if half.sum() >= 3:
        a, b, c = np.polyfit(k[half], g_meas[half], 2)
        if a < 0:
            k_peak = -b / (2 * a)
            g_peak = c - b * b / (4 * a)
        if not (k[half].min() <= k_peak <= k[half].max()):
            k_peak, g_peak = math.nan, math.nan
    j_best = int(np.nanargmax(np.where(top, g_meas, np.nan)))
    if not math.isfinite(k_peak):
        k_peak, g_peak = float(k[j_best]), float(g_meas[j_best])
    # band of the fastest-growing modes, and the same sum of theoretical exponentials
    band = np.isfinite(g_th) & (g_th > 0.85 * gmax)
    g_band = 0.5 * np.polyfit(t[win], np.log(pf[win][:, band].sum(axis=1)), 1)[0]
    tt = t[win] - t[win][0]
    g_band_th = 0.5 * np.polyfit(t[win], np.log(np.exp(2 * np.outer(tt, g_th[band])).sum(1)),
                                 1)[0]  # fmt: skip
    # polarisation: band power through narrow filters (bandwidth omega_r/2) at +omega_r
    # and -omega_r, 1/gamma_max after the linear phase (well above the noise)
    sig_p = 2.0 / abs(wrmax)
    t_c = min(t_b + 1.0 / gmax, float(t[-1]) - 3 * sig_p)
    i_c = int(np.argmin(np.abs(t - t_c)))
    p_right = p_wrong = 0.0
    for j in np.flatnonzero(band):
        for s_ in (ms["bp"][:, j], ms["bm"][:, j]):
            p_right += abs(bandpass(s_, t, sign * abs(w_th[j]), sig_p)[i_c]) ** 2
            p_wrong += abs(bandpass(s_, t, -sign * abs(w_th[j]), sig_p)[i_c]) ** 2
    pol = float(p_right / (p_right + p_wrong))
    return {
        "mode": mode.upper(), "species": species, "unit_t": unit_t, "unit_k": unit_k,
        "t": t, "k": k, "gamma_theory": g_th, "omega_theory": w_th,
        "gamma_max_theory": gmax, "k_max_theory": kmax, "omega_r_theory": wrmax,
        "gamma_measured": g_meas, "gamma_peak": g_peak, "k_peak": k_peak,
        "k_best_mode": float(k[j_best]), "gamma_best_mode": float(g_meas[j_best]),
        "gamma_band": g_band, "gamma_band_theory": g_band_th, "band": band,
        "window": (t_a, t_b), "sigma": sigma, "power_filtered": pf, "power_raw": p_raw,
        "polarisation_fraction": pol, "polarisation_time": float(t[i_c]),
        "anisotropy0": float(an[0]),
        "history_t": th, "anisotropy": an,
    }


def figure_growth(res: dict[str, Any], out_dir: Path, name: str, title: str) -> Path:
    """(a) band power vs time (raw and filtered) with the fit; (b) gamma(k) vs theory."""
    from postprocess import plots

    lt, lk = ("\\Omega_{i0}", "d_{i0}") if res["mode"] == "L" else ("|\\Omega_{e0}|", "d_{e0}")
    with plots.style():
        fig, (a1, a2) = plots.figure(1, 2, width=7.0, height=2.8)
        t, band = res["t"], res["band"]
        raw = res["power_raw"][:, band].sum(1)
        filt = res["power_filtered"][:, band].sum(1)
        a1.semilogy(t, raw, color="0.6", lw=0.8, label="all frequencies")
        a1.semilogy(t, filt, color=plots.TOTAL_COLOR, lw=1.0,
                    label=f"band-passed ({'LCP' if res['mode'] == 'L' else 'RCP'})")
        t_a, t_b = res["window"]
        w = (t >= t_a) & (t <= t_b)
        c = np.polyfit(t[w], np.log(filt[w]), 1)
        a1.semilogy(t[w], np.exp(np.polyval(c, t[w])) * 1.5, "--", color="C3",
                    label=rf"fit $2\gamma$, $\gamma$ = {res['gamma_band']:.3f}")  # fmt: skip
        a1.axvspan(t_a, t_b, color="C2", alpha=0.12, lw=0)
        a1.set_xlabel(rf"$t\,{lt}$")
        a1.set_ylabel(r"$\sum_{\rm band} |\delta b_k|^2 / B_0^2$")
        a1.legend(fontsize=7, loc="lower right")
        k = res["k"]
        sel = np.isfinite(res["gamma_theory"]) & (res["gamma_theory"] > -0.2 * res[
            "gamma_max_theory"])  # fmt: skip
        a2.plot(k[sel], res["gamma_theory"][sel], color="0.3", lw=1, label="linear theory")
        m = np.isfinite(res["gamma_measured"])
        a2.plot(k[m], res["gamma_measured"][m], "o", ms=3, color=plots.TOTAL_COLOR,
                label="PIC (per mode)")
        a2.plot([res["k_peak"]], [res["gamma_peak"]], "*", ms=9, color="C3",
                label="PIC peak (parabola)")
        a2.plot([res["k_max_theory"]], [res["gamma_max_theory"]], "x", ms=7, color="k")
        a2.axhline(0, color="0.8", lw=0.5)
        a2.set_xlabel(rf"$k\,{lk}$")
        a2.set_ylabel(rf"$\gamma / {lt}$")
        a2.set_ylim(-0.2 * res["gamma_max_theory"], 1.6 * res["gamma_max_theory"])
        a2.legend(fontsize=7)
        fig.suptitle(title, fontsize=9)
        path = plots.save_figure(fig, out_dir, name)[0]
    return path


def check_growth(run_dir: Path, out_dir: Path, cid: str, mode: str, species: str,
                 tol: float = 0.15) -> list[Check]:
    """Check 1a/1b: growth rate and k of peak against the dispersion solver."""
    res = growth_analysis(run_dir, mode, species)
    what = "ion-cyclotron (L)" if mode == "L" else "electron whistler (R)"
    ut, uk = ("Omega_i0", "d_i0") if mode == "L" else ("|Omega_e0|", "d_e0")
    fig = figure_growth(res, out_dir, f"check{cid}_growth",
                        f"{what} anisotropy instability: A0 = {res['anisotropy0'] + 1:.2f}")
    figs = [fig.name]
    details = {k: res[k] for k in ("gamma_max_theory", "k_max_theory", "omega_r_theory",
                                   "gamma_peak", "k_peak", "gamma_band", "gamma_band_theory",
                                   "k_best_mode", "gamma_best_mode", "polarisation_fraction",
                                   "sigma")}  # fmt: skip
    details["window"] = list(res["window"])
    details["gamma_per_mode"] = {f"{kk:.4g}": float(g) for kk, g in
                                 zip(res["k"], res["gamma_measured"], strict=True)
                                 if math.isfinite(g)}  # fmt: skip
    g_err = _rel(res["gamma_peak"], res["gamma_max_theory"])
    k_err = _rel(res["k_peak"], res["k_max_theory"])
    b_err = _rel(res["gamma_band"], res["gamma_band_theory"])
    win = f"fit window t = {res['window'][0]:.3g}-{res['window'][1]:.3g} /{ut}"
    return [
        Check(f"{cid}.gamma", f"{what}: maximum growth rate [{ut}]",
              f"gamma_max = {res['gamma_peak']:.4f} ({100 * g_err:.1f} % off; {win})",
              f"dispersion solver gamma_max = {res['gamma_max_theory']:.4f} within "
              f"{100 * tol:.0f} %", g_err <= tol, res["gamma_peak"], details, figs),
        Check(f"{cid}.k", f"{what}: wavenumber of the fastest growth [1/{uk}]",
              f"k = {res['k_peak']:.4f} ({100 * k_err:.1f} % off; best single mode "
              f"{res['k_best_mode']:.4f})",
              f"solver k_max = {res['k_max_theory']:.4f} within {100 * tol:.0f} %",
              k_err <= tol, res["k_peak"], {}, figs),
        Check(f"{cid}.band", f"{what}: growth of the fastest band (theory gamma > 0.85 max)",
              f"gamma_band = {res['gamma_band']:.4f} ({100 * b_err:.1f} % off)",
              f"same sum of theory exponentials: {res['gamma_band_theory']:.4f} within "
              f"{100 * tol:.0f} %", b_err <= tol, res["gamma_band"], {}, figs),
        Check(f"{cid}.pol", f"{what}: polarisation of the growing band",
              f"{100 * res['polarisation_fraction']:.1f} % of the band power at "
              f"{'+' if mode == 'L' else '-'}omega_r (t = {res['polarisation_time']:.3g} /{ut})",
              f"> 80 % {'LCP' if mode == 'L' else 'RCP'}", res["polarisation_fraction"] > 0.8,
              res["polarisation_fraction"], {}, figs),
    ]


# ----------------------------------------------------------------- compression runs

#: growth rate (in the instantaneous Omega_i) defining the IC threshold crossing
GAMMA_THRESHOLD = 1e-2
#: sliding window of the LCP/RCP wave energies (1/Omega_i0)
WAVE_WINDOW = 5.0
#: the late (marginal-state) window of a compressing run, in tau_c before its end
LATE_FRACTION = 0.1
#: the reference study's compression time (its fiducial run), 1/Omega_i0
STUDY_TAU_C = 800.0
#: the end of the tau_c-trend windows, in tau_c: the duration of the tau_c = 200 base
#: run, so that every run of the trend is compared at the same B/B0 = 4
TAU_COMPARE = 1.0


def wave_energies(run, window: float = WAVE_WINDOW) -> dict[str, np.ndarray]:
    """LCP and RCP magnetic energy <|db|^2>/2 / B_x(t)^2 in sliding windows (t in 1/Omega_i0)."""
    from postprocess.omega_k import wave_energy_vs_time

    om, di = float(run.param("omega_ci0")), float(run.param("d_i0"))
    sp = run.spectra()
    we = wave_energy_vs_time(sp.time * om, sp.x / di, sp.dBy, sp.dBz, window, 0.5)
    th = run.time_in("Omega_i0")
    b2 = np.interp(we.t, th, np.asarray(run.history["B_x"], float) ** 2)
    return {"t": we.t, "lcp": we.lcp / b2, "rcp": we.rcp / b2, "total": we.total / b2}


def theory_history(run, n_times: int = 40):
    """L and R fastest growth (in the instantaneous Omega_i) along the run's history."""
    from postprocess.dispersion import from_history

    th = np.asarray(run.history["time"], float)
    times = np.linspace(th[0], th[-1], n_times)
    dh = from_history(run.path, times=times)
    om = float(run.param("omega_ci0"))
    bl, br = dh.band_arrays("L"), dh.band_arrays("R")
    return {"t": dh.time * om, "gamma_L": bl["gamma_max"], "gamma_R": br["gamma_max"],
            "k_lo": bl["k_lo"], "k_hi": bl["k_hi"], "k_max": bl["k_max"],
            "omega_r_max": bl["omega_r_max"], "d_ref": dh.d_ref,
            "omega_ref": dh.omega_ref, "dh": dh}  # fmt: skip


def _first_crossing(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First t at which y rises above level (linear interpolation), NaN if never."""
    above = np.flatnonzero(np.isfinite(y) & (y > level))
    if not above.size:
        return math.nan
    i = int(above[0])
    if i == 0:
        return float(t[0])
    return float(t[i - 1] + (t[i] - t[i - 1]) * (level - y[i - 1]) / (y[i] - y[i - 1]))


def compression_analysis(run_dir: str | Path) -> dict[str, Any]:
    """Everything checks 2-4 need from a compressing run (times in 1/Omega_i0)."""
    from postprocess.anisotropy import cgl_track, species_series

    run = open_run(run_dir)
    hist = run.history
    th = run.time_in("Omega_i0")
    tau = float(run.param("tau_c")) * float(run.param("omega_ci0"))
    ions, elec = species_series(hist, "ions"), species_series(hist, "electrons")
    cgl = cgl_track(ions["n"], hist["B_x"], ions["T_perp"][0], ions["T_par"][0])
    we = wave_energies(run)
    theo = theory_history(run)
    t_thr = _first_crossing(theo["t"], theo["gamma_L"], GAMMA_THRESHOLD)
    pre = we["t"] <= (t_thr if math.isfinite(t_thr) else we["t"][-1] / 4)
    base_lcp = float(np.median(we["lcp"][pre][1:])) if pre.sum() > 2 else float(we["lcp"][0])
    t_on = _first_crossing(we["t"], we["lcp"] / base_lcp, 2.0)
    i_pk = int(np.argmax(ions["anisotropy"]))
    e_pk = int(np.argmax(elec["anisotropy"]))
    early = we["t"] <= (t_on if math.isfinite(t_on) else we["t"][-1])
    base_rcp = float(np.median(we["rcp"][:3]))
    j_rcp = int(np.argmax(np.where(early, we["rcp"], -np.inf)))
    return {
        "run": run, "t_hist": th, "tau_c": tau, "ions": ions, "electrons": elec, "cgl": cgl,
        "waves": we, "theory": theo, "t_thr": t_thr, "t_onset": t_on, "lcp_base": base_lcp,
        "t_aniso_peak": float(th[i_pk]), "aniso_peak": float(ions["anisotropy"][i_pk]),
        "t_aniso_e_peak": float(th[e_pk]), "aniso_e_peak": float(elec["anisotropy"][e_pk]),
        "t_rcp_peak": float(we["t"][j_rcp]), "rcp_peak": float(we["rcp"][j_rcp]),
        "rcp_base": base_rcp,
    }


def _branch_check(res: dict[str, Any]) -> dict[str, Any]:
    """Peak of the LCP omega-k power after onset vs the L-branch root at its k."""
    from postprocess.omega_k import omega_k_power

    run = res["run"]
    om, di = float(run.param("omega_ci0")), float(run.param("d_i0"))
    sp = run.spectra()
    t = sp.time * om
    window = 40.0
    t_c = min(max(res["t_aniso_peak"], res["t_onset"] + window / 2), t[-1] - window / 2)
    k, w, p = omega_k_power(t, sp.x / di, sp.dBy, sp.dBz, (t_c - window / 2,
                                                           t_c + window / 2))  # fmt: skip
    pos = w > 0
    kk = np.abs(k)
    pk = np.where((kk > 0)[None, :], p, 0.0)
    lcp = pk[pos]
    i, j = np.unravel_index(int(np.argmax(lcp)), lcp.shape)
    w_pk, k_pk = float(w[pos][i]), float(kk[j])
    # theory at the window centre: L-branch root at k_pk and the unstable band
    theo = res["theory"]
    it = int(np.argmin(np.abs(theo["t"] - t_c)))
    dh = theo["dh"]
    d_ref, om_ref = float(dh.d_ref[it]), float(dh.omega_ref[it])
    kl = dh.k_L * di / d_ref  # 1/d_ref(t) -> 1/d_i0
    wl = dh.omega_L[it] * om_ref / om  # Omega_i0
    good = np.isfinite(wl)
    w_th = float(np.interp(k_pk, kl[good], wl.real[good]))
    lo, hi = theo["k_lo"][it] * di / d_ref, theo["k_hi"][it] * di / d_ref
    dk = float(np.min(np.diff(np.unique(kk))))
    dw = float(w[1] - w[0])
    frac_lcp = float(pk[pos].sum() / pk[w != 0].sum())
    return {"t_c": t_c, "window": window, "k_peak": k_pk, "omega_peak": w_pk,
            "omega_theory": w_th, "k_lo": float(lo), "k_hi": float(hi), "dk": dk, "dw": dw,
            "lcp_fraction": frac_lcp, "k": k, "omega": w, "P": p}  # fmt: skip


def figure_compression(res: dict[str, Any], br: dict[str, Any], fit, fit_points, out_dir: Path,
                       name: str) -> Path:
    """(a) anisotropies with CGL and threshold; (b) LCP/RCP energy; (c) Delta-beta with the
    late points of the beta series and the marginal fit; (d) omega-k power after onset
    with the L branch."""
    from postprocess import plots

    th, ions, elec = res["t_hist"], res["ions"], res["electrons"]
    we, theo = res["waves"], res["theory"]
    with plots.style():
        fig, axes = plots.figure(2, 2, width=7.0, height=5.4)
        a, b, c, d = axes.ravel()
        a.plot(th, ions["anisotropy"], color=plots.SPECIES_COLORS[0], label=r"ions $\Delta_i$")
        a.plot(th, res["cgl"].anisotropy, "--", color=plots.SPECIES_COLORS[0], lw=0.8,
               label="ions, CGL")
        a.plot(th, elec["anisotropy"], color=plots.SPECIES_COLORS[1],
               label=r"electrons $\Delta_e$")
        a.set_ylim(-0.05, max(1.2 * res["aniso_peak"], 0.1))
        for tt, lab, ls in ((res["t_thr"], r"$\gamma_L = 10^{-2}\Omega_i$", ":"),
                            (res["t_onset"], "LCP onset", "-.")):
            if math.isfinite(tt):
                a.axvline(tt, color="0.4", ls=ls, lw=0.8, label=lab)
                b.axvline(tt, color="0.4", ls=ls, lw=0.8)
        a.set_xlabel(r"$t\,\Omega_{i0}$")
        a.set_ylabel(r"$T_\perp/T_\parallel - 1$")
        a.legend(fontsize=6)
        b.semilogy(we["t"], we["lcp"], color=plots.LCP_COLOR, label="LCP")
        b.semilogy(we["t"], we["rcp"], color=plots.RCP_COLOR, label="RCP")
        b.set_xlabel(r"$t\,\Omega_{i0}$")
        b.set_ylabel(r"$\langle\delta B^2\rangle/2B_x^2$")
        b.legend(fontsize=7)
        bp, dl = ions["beta_par"], ions["anisotropy"]
        sc = c.scatter(bp, np.where(dl > 0, dl, np.nan), c=th, s=3, cmap="viridis")
        c.set_xscale("log")
        c.set_yscale("log")
        from matplotlib.ticker import LogFormatter, NullFormatter

        c.xaxis.set_minor_formatter(NullFormatter())
        c.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        for i, p in enumerate(fit_points[1:]):
            c.scatter(p["beta_par"], p["delta"], s=4, marker="^s"[i % 2], color="0.3",
                      label=rf"$\beta_0 = {p['beta0']:.3g}$, late")
        if fit is not None:
            b_all = np.concatenate([p["beta_par"] for p in fit_points])
            xx = np.geomspace(np.nanmin(b_all), np.nanmax(bp), 20)
            c.plot(xx, fit(xx), "r--", lw=1.2,
                   label=rf"$S={fit.S:.2f}$, $\alpha={fit.alpha:.2f}$")
        c.legend(fontsize=6)
        c.set_xlabel(r"$\beta_{\parallel i}$")
        c.set_ylabel(r"$\Delta_i$")
        plots.add_colorbar(c, sc, r"$t\,\Omega_{i0}$")
        if br is not None:
            k, w, p = br["k"], br["omega"], br["P"]
            sel = (np.abs(w) <= 4) & np.isfinite(w)
            ks = np.fft.fftshift(k) if not np.all(np.diff(k) > 0) else k
            img = d.pcolormesh(ks, w[sel], p[sel], norm=plots.log_norm(p[sel], 1e4),
                               shading="nearest", cmap="magma")  # fmt: skip
            it = int(np.argmin(np.abs(theo["t"] - br["t_c"])))
            dh = theo["dh"]
            di = float(res["run"].param("d_i0"))
            om = float(res["run"].param("omega_ci0"))
            kl = dh.k_L * di / dh.d_ref[it]
            wl = dh.omega_L[it] * dh.omega_ref[it] / om
            for sgn in (1, -1):
                d.plot(sgn * kl, wl.real, color="c", lw=0.8)
            d.plot([br["k_peak"]], [br["omega_peak"]], "wo", mfc="none", ms=6)
            d.set_xlim(-2, 2)
            d.set_ylim(-4, 4)
            d.set_xlabel(r"$k\,d_{i0}$")
            d.set_ylabel(r"$\omega/\Omega_{i0}$ ($>0$: LCP)")
            d.set_title(f"t = {br['t_c'] - br['window'] / 2:.0f}-"
                        f"{br['t_c'] + br['window'] / 2:.0f}" r"$/\Omega_{i0}$", fontsize=8)
            plots.add_colorbar(d, img, r"$P(k,\omega)$")
        path = plots.save_figure(fig, out_dir, name)[0]
    return path


def marginal_points(run_dir: str | Path, res: dict[str, Any] | None = None,
                    late: float = LATE_FRACTION,
                    until_tau_c: float | None = None) -> dict[str, Any]:
    """Ion (beta_par, Delta) history samples of the last ``late`` tau_c of a compressing
    run (the marginal state), with their means and the run's initial beta.

    ``until_tau_c`` ends the window at the last sample at or before that time in tau_c
    instead of at the end of the run: runs of different durations are then
    compared at the same compression factor. The returned ``"track"`` holds the whole
    ion history (t [1/Omega_i0], beta_par, Delta) and ``"t_aniso_peak"`` the time of
    the anisotropy maximum (for fits over the late track)."""
    from postprocess.anisotropy import species_series

    if res is None:
        run = open_run(run_dir)
        th = run.time_in("Omega_i0")
        tau = float(run.param("tau_c")) * float(run.param("omega_ci0"))
        ions = species_series(run.history, "ions")
    else:
        run, th, tau, ions = res["run"], res["t_hist"], res["tau_c"], res["ions"]
    beta, delta = np.asarray(ions["beta_par"]), np.asarray(ions["anisotropy"])
    t_to = float(th[-1])
    if until_tau_c is not None:  # the last sample at or before until_tau_c (+ round-off)
        t_to = float(th[th <= until_tau_c * tau * (1.0 + 1e-9)][-1])
    m = (th >= t_to - late * tau) & (th <= t_to)
    return {"beta_par": beta[m], "delta": delta[m],
            "beta_mean": float(np.mean(beta[m])), "delta_mean": float(np.mean(delta[m])),
            "beta0": float(run.param("beta")), "t_from": t_to - late * tau, "t_to": t_to,
            "tau_c": tau, "ppc": int(run.params["species"][0]["ppc"]),
            "track": (np.asarray(th), beta, delta),
            "t_aniso_peak": float(th[int(np.argmax(delta))])}


def check_compression(run_dir: Path, out_dir: Path, cid: str = "2",
                      series: tuple[Path, ...] = (), slower: tuple[Path, ...] = (),
                      noise: tuple[Path, ...] = ()) -> tuple[list[Check], dict[str, Any]]:
    """Check 2: CGL phase, onset at the threshold, LCP waves on the L branch, marginal
    stability (late Delta_i in the study's band; S and alpha fitted across ``run_dir`` and
    the runs of the beta ``series``; with ``slower`` runs (same plasma, longer tau_c) the
    tau_c trend of the marginal state and, if one of them has the study's tau_c = 800
    /Omega_i0, the marginal law there, extrapolated to infinite ppc with the ``noise``
    control run: that deck at fewer ppc), and the whistler burst first."""
    from postprocess.anisotropy import fit_marginal

    res = compression_analysis(run_dir)
    th, ions, cgl = res["t_hist"], res["ions"], res["cgl"]
    checks: list[Check] = []
    # CGL phase
    t_end = res["t_thr"] if math.isfinite(res["t_thr"]) else res["t_onset"]
    m = th <= t_end
    dev_perp = float(np.max(np.abs(ions["T_perp"][m] / cgl.T_perp[m] - 1)))
    dev_par = float(np.max(np.abs(ions["T_par"][m] / cgl.T_par[m] - 1)))
    b_ratio = float(np.interp(t_end, th, np.asarray(res["run"].history["B_x"]) /
                              res["run"].history["B_x"][0]))  # fmt: skip
    checks.append(Check(
        f"{cid}.cgl", "CGL phase: ion T_perp/B and T_par B^2/n^2 conserved before threshold",
        f"max deviation T_perp {100 * dev_perp:.1f} %, T_par {100 * dev_par:.1f} % up to "
        f"t = {t_end:.1f} /Omega_i0 (B/B0 = {b_ratio:.2f})",
        "< 5 % (double-adiabatic evolution)", max(dev_perp, dev_par) < 0.05,
        max(dev_perp, dev_par)))
    # onset
    t_thr, t_on, t_pk = res["t_thr"], res["t_onset"], res["t_aniso_peak"]
    d_thr = float(np.interp(t_thr, th, ions["anisotropy"])) if math.isfinite(t_thr) else math.nan
    d_on = float(np.interp(t_on, th, ions["anisotropy"])) if math.isfinite(t_on) else math.nan
    ok = bool(math.isfinite(t_thr) and math.isfinite(t_on)
              and t_thr - WAVE_WINDOW / 2 <= t_on <= t_pk + WAVE_WINDOW)
    checks.append(Check(
        f"{cid}.onset", "IC onset when the ion anisotropy crosses the threshold",
        f"threshold crossing (solver gamma_L,max = 0.01 Omega_i) t = {_fmt(t_thr)} "
        f"(Delta_i = {_fmt(d_thr)}); LCP energy x2 above its pre-threshold level at "
        f"t = {_fmt(t_on)} (Delta_i = {_fmt(d_on)}); Delta_i peaks at t = {t_pk:.1f} "
        f"(Delta_i = {res['aniso_peak']:.3f}) [1/Omega_i0]",
        "threshold crossing <= LCP onset <= anisotropy peak (+- one 5/Omega_i0 window)", ok,
        t_on, {"t_threshold": t_thr, "t_onset": t_on, "t_aniso_peak": t_pk,
               "delta_threshold": d_thr, "delta_onset": d_on}))
    # LCP on the branch
    br = None
    try:
        br = _branch_check(res)
    except (ValueError, IndexError) as exc:
        log.warning("omega-k branch check failed: %s", exc)
    if br is not None:
        err = abs(br["omega_peak"] / br["omega_theory"] - 1)
        tol = max(0.25, br["dw"] / abs(br["omega_theory"]))
        in_band = br["k_lo"] - br["dk"] <= br["k_peak"] <= br["k_hi"] + br["dk"]
        checks.append(Check(
            f"{cid}.branch", "IC waves are LCP and lie on the L (ion-cyclotron) branch",
            f"t = {br['t_c'] - br['window'] / 2:.0f}-{br['t_c'] + br['window'] / 2:.0f} "
            f"/Omega_i0: LCP fraction {100 * br['lcp_fraction']:.0f} %; power peak at "
            f"k d_i0 = {br['k_peak']:.3f}, omega = {br['omega_peak']:.3f} Omega_i0 vs "
            f"L root {br['omega_theory']:.3f} ({100 * err:.0f} % off, d omega = "
            f"{br['dw']:.2f}); unstable band k d_i0 = {br['k_lo']:.2f}-{br['k_hi']:.2f}",
            f"LCP > 60 %, omega within {100 * tol:.0f} % (25 % or one bin) of the root, k in "
            "the band (+- one bin)",
            bool(br["lcp_fraction"] > 0.6 and err <= tol and in_band), err,
            {k: br[k] for k in ("t_c", "k_peak", "omega_peak", "omega_theory", "k_lo", "k_hi",
                                "lcp_fraction", "dw", "dk")}))  # fmt: skip
    # marginal stability: late-time Delta_i inside the study's band S beta^-alpha, and the
    # fit itself where one run spans enough beta_par to determine a power law
    t_fit = t_pk + 0.1 * res["tau_c"]
    rows = th >= t_fit
    late = th >= th[-1] - LATE_FRACTION * res["tau_c"]
    b_late = float(np.mean(ions["beta_par"][late]))
    d_late = float(np.mean(ions["anisotropy"][late]))
    lo, hi = 0.3 * b_late ** -0.5, 0.6 * b_late ** -0.3
    checks.append(Check(
        f"{cid}.marginal", "late-time ion anisotropy at marginal stability",
        f"Delta_i = {d_late:.3f} at beta_par,i = {b_late:.2f} (last 0.1 tau_c); the band "
        f"S beta^-alpha there: {lo:.3f}-{hi:.3f}",
        "inside S beta_par^-alpha for S = 0.3-0.6, alpha = 0.3-0.5", bool(lo <= d_late <= hi),
        d_late, {"beta_par": b_late, "band": [lo, hi]}))
    # the marginal law itself: one run spans too little beta_par after saturation (its
    # fit reflects the relaxation towards the marginal state), so S and alpha are fitted
    # across the beta series (late windows of the runs with beta0 = 2, 6.3 and 20)
    b_lo, b_hi = float(np.min(ions["beta_par"][rows])), float(np.max(ions["beta_par"][rows]))
    pts = [marginal_points(run_dir, res)] + [marginal_points(d) for d in series]
    fit = None
    try:
        fit = fit_marginal(np.concatenate([p["beta_par"] for p in pts]),
                           np.concatenate([p["delta"] for p in pts]))
    except ValueError as exc:
        log.warning("marginal fit failed: %s", exc)
    if fit is not None:
        span = max(p["beta_mean"] for p in pts) / min(p["beta_mean"] for p in pts)
        enough = len(pts) >= 3 and span >= 3.0
        why = "" if enough else (f"; not determined: {len(pts)} run(s) spanning beta_par x"
                                 f"{span:.1f} (need 3 runs over x3)")
        runs_txt = ", ".join(f"beta0 = {p['beta0']:.3g}: Delta_i = {p['delta_mean']:.3f} at "
                             f"beta_par,i = {p['beta_mean']:.2f}" for p in pts)
        single = (f"; one run alone: beta_par,i = {b_lo:.2f}-{b_hi:.2f} after "
                  f"t = {t_fit:.0f} /Omega_i0")
        detail = {"S_err": fit.S_err, "alpha_err": fit.alpha_err, "n_points": fit.n_points,
                  "runs": [{k: p[k] for k in ("beta0", "beta_mean", "delta_mean", "t_from")}
                           for p in pts]}
        checks.append(Check(
            f"{cid}.S", "marginal-stability law Delta_i = S beta_par,i^-alpha across the beta "
            "series (last 0.1 tau_c of each run): S",
            f"S = {fit.S:.3g} +- {fit.S_err:.2g} ({runs_txt}{why})", "0.3 <= S <= 0.6",
            (0.3 <= fit.S <= 0.6) if enough else None, fit.S, detail))
        checks.append(Check(
            f"{cid}.alpha", "marginal-stability law across the beta series: alpha",
            f"alpha = {fit.alpha:.3g} +- {fit.alpha_err:.2g}{why}{single}",
            "0.3 <= alpha <= 0.5", (0.3 <= fit.alpha <= 0.5) if enough else None, fit.alpha,
            detail))
    if slower:
        alpha = fit.alpha if (fit is not None and enough) else 0.4
        # the tau_c trend compares every run at the base run's compression factor (its
        # end, t = 1.0 tau_c); the study's law is taken at the end of the tau_c = 800 run
        t_base = TAU_COMPARE
        slow_pts = [marginal_points(d, until_tau_c=t_base) for d in slower]
        tau_checks = [_tau_trend(cid, pts[0], slow_pts, alpha)]
        study = [d for d, p in zip(slower, slow_pts, strict=True)
                 if abs(p["tau_c"] / STUDY_TAU_C - 1) < 0.01]
        if study:
            p800 = marginal_points(study[0])
            p800["gamma_L"] = late_growth_rate(study[0], p800["t_from"], p800["t_to"])
            # the noise control: the same tau_c at fewer ppc, windowed at the same times
            ctl = [marginal_points(d, until_tau_c=p800["t_to"] / p800["tau_c"]) for d in noise]
            ctl = [c for c in ctl if abs(c["tau_c"] / p800["tau_c"] - 1) < 0.01
                   and c["ppc"] < p800["ppc"] and abs(c["t_to"] - p800["t_to"]) < 1.0]
            tau_checks.append(_study_marginal(cid, p800, ctl, alpha))
            tau_checks.append(_study_fit(cid, p800))
            tau_checks.append(_study_beta(cid, study[0]))
        try:
            tau_fig = figure_tau((run_dir, *slower), noise, alpha, out_dir,
                                 f"check{cid}_tau", until_tau_c=t_base)  # fmt: skip
            for c in tau_checks:
                c.figures.append(tau_fig.name)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("tau_c figure failed: %s", exc)
        checks += tau_checks
    # whistler first
    ok = bool(math.isfinite(t_on) and res["t_rcp_peak"] < t_on
              and res["t_aniso_e_peak"] < t_pk)
    checks.append(Check(
        f"{cid}.whistler", "whistler (RCP) burst before the IC waves",
        f"RCP energy peaks at t = {res['t_rcp_peak']:.1f} ({res['rcp_peak'] / res['rcp_base']:.2f}"
        f" x its initial level) and Delta_e at t = {res['t_aniso_e_peak']:.1f} "
        f"(Delta_e = {res['aniso_e_peak']:.3f}); LCP onset t = {_fmt(t_on)}, Delta_i peak "
        f"t = {t_pk:.1f} [1/Omega_i0]",
        "RCP peak before the LCP onset, Delta_e peak before Delta_i peak", ok,
        res["t_rcp_peak"]))
    fig = figure_compression(res, br, fit, pts, out_dir, f"check{cid}_compression")
    for c in checks:
        c.figures.append(fig.name)
    return checks, res


def late_growth_rate(path: str | Path, t_from: float, t_to: float, n_times: int = 5) -> float:
    """Fastest L-mode (ion-cyclotron) growth rate of the bi-Maxwellian with a run's
    moments, averaged over ``n_times`` outputs of the window ``t_from``-``t_to``
    [1/Omega_i0]: where the marginal state sits against the linear thresholds.

    Parameters
    ----------
    path : str or Path
        ``history.h5`` or the run directory holding it.
    t_from, t_to : float
        The window in 1/Omega_i0.

    Returns
    -------
    float
        gamma_L,max in the instantaneous Omega_i (NaN where no root was found).
    """
    import h5py

    from postprocess.dispersion import from_history

    path = Path(path)
    hfile = path / "history.h5" if path.is_dir() else path
    with h5py.File(hfile, "r") as f:
        omega_ci0 = float(f.attrs["omega_ci0"])
    times = np.linspace(t_from, t_to, n_times) / omega_ci0
    dh = from_history(hfile, times=times)
    return float(np.nanmean(dh.band_arrays("L")["gamma_max"]))


def _late_error(p: dict[str, Any]) -> float:
    """Uncertainty of a late-window mean Delta_i: the difference between the means of the
    window's two halves (drift and slow fluctuations; the samples are correlated)."""
    d = p["delta"]
    h = d.size // 2
    return float(abs(np.mean(d[:h]) - np.mean(d[h:]))) if h else math.nan


def _tau_trend(cid: str, base: dict[str, Any], slow: list[dict[str, Any]],
               alpha: float) -> Check:
    """The marginal state against the compression time: ``S_eff = Delta_i beta_par,i^alpha``
    (the late Delta_i brought to a common beta_par with the fitted alpha) must fall as
    tau_c grows (reference study Sec. 8, Fig. 10(b)); the power law through the runs is
    extrapolated to the study's tau_c = 800 /Omega_i0 for comparison with its S."""
    pts = [base, *slow]
    taus = np.array([p["tau_c"] for p in pts])
    s_eff = np.array([p["delta_mean"] * p["beta_mean"] ** alpha for p in pts])
    err = np.array([_late_error(p) * p["beta_mean"] ** alpha for p in pts])
    slope = float(np.polyfit(np.log(taus), np.log(s_eff), 1)[0])
    s800 = float(np.exp(np.polyval(np.polyfit(np.log(taus), np.log(s_eff), 1),
                                   np.log(STUDY_TAU_C))))
    drop = s_eff[0] - s_eff[1:]
    sig = np.sqrt(err[0] ** 2 + err[1:] ** 2)
    ok = bool(np.all(drop > 2.0 * sig))
    runs_txt = ", ".join(f"tau_c = {t:.0f}: Delta_i = {p['delta_mean']:.3f} at beta_par,i = "
                         f"{p['beta_mean']:.2f}, S_eff = {s:.3f} +- {e:.3f}"
                         for t, p, s, e in zip(taus, pts, s_eff, err, strict=True))
    return Check(
        f"{cid}.tau", "marginal state vs compression time: S_eff = Delta_i beta_par,i^alpha "
        f"(t = {base['t_from'] / base['tau_c']:.1f}-{base['t_to'] / base['tau_c']:.1f} tau_c "
        "of each run: the same B/B0) falls as tau_c grows (study Sec. 8, Fig. 10(b))",
        f"{runs_txt} [/Omega_i0, alpha = {alpha:.2f}]; S_eff ~ tau_c^{slope:.2f}, "
        f"extrapolated to tau_c = 800: S = {s800:.3f} (the study's fiducial law: 0.3-0.6)",
        "S_eff(slower runs) below S_eff(tau_c = 200) by more than 2 sigma", ok, slope,
        {"tau_c": taus.tolist(), "S_eff": s_eff.tolist(), "S_eff_err": err.tolist(),
         "S_extrapolated_800": s800, "alpha": alpha})


def figure_tau(runs: tuple[Path, ...], noise: tuple[Path, ...], alpha: float,
               out_dir: Path, name: str, until_tau_c: float | None = 1.0) -> Path:
    """Reference study Fig. 10(b) style: (a) Delta_i against B/B0 for the runs of one plasma
    with different tau_c (dotted: the noise control at fewer ppc);
    (b) S_eff = Delta_i beta_par,i^alpha of the late windows (ending at ``until_tau_c``,
    the same B/B0 for every run) against tau_c (open squares: the noise controls; open
    diamond: extrapolated to infinite ppc), with the study's S = 0.3-0.6 at its
    tau_c = 800 /Omega_i0."""
    from postprocess import plots
    from postprocess.anisotropy import species_series

    with plots.style():
        fig, (a, b) = plots.figure(1, 2, width=7.0, height=2.8)  # noqa: F841
        seen: dict[int, list[tuple[float, float, int]]] = {}  # tau_c -> (S_eff, err, ppc)
        for i, (d, ls) in enumerate([(r, "-") for r in runs] + [(r, ":") for r in noise]):
            run = open_run(d)
            ions = species_series(run.history, "ions")
            bx = np.asarray(run.history["B_x"], dtype=np.float64)
            tau = float(run.param("tau_c")) * float(run.param("omega_ci0"))
            ppc = run.params["species"][0]["ppc"]
            color = (plots.SPECIES_COLORS[i % len(runs)] if ls == "-"
                     else f"{0.3 + 0.3 * ((i - len(runs)) % 2):.1f}")  # controls: greys
            a.plot(bx / bx[0], ions["anisotropy"], ls, color=color, lw=0.9,
                   label=rf"$\tau_c\Omega_{{i0}} = {tau:.0f}$, {ppc} ppc")
            p = marginal_points(d, until_tau_c=until_tau_c)
            s_eff = p["delta_mean"] * p["beta_mean"] ** alpha
            err = _late_error(p) * p["beta_mean"] ** alpha
            b.errorbar([tau], [s_eff], yerr=[err], fmt="o" if ls == "-" else "s",
                       color=color, ms=4, capsize=2, mfc=color if ls == "-" else "none")
            if ls == "-" or round(tau) in seen:  # a control joins its run's tau_c
                seen.setdefault(round(tau), []).append((s_eff, err, ppc))
        for tau_r, pts in seen.items():  # extrapolate to infinite ppc
            if len({q[2] for q in pts}) < 2:
                continue
            ext = noise_extrapolation(*zip(*pts, strict=True))
            b.errorbar([tau_r * 1.04], [ext["S_inf"]], yerr=[ext["S_inf_err"]], fmt="D",
                       color="k", ms=3.5, capsize=2, mfc="none",
                       label=r"ppc $\to\infty$ (bias $\propto$ 1/ppc)")
            b.legend(fontsize=6, loc="upper right")
        a.set_xlabel(r"$B/B_0$")
        a.set_ylabel(r"$\Delta_i = T_\perp/T_\parallel - 1$")
        a.legend(fontsize=6)
        b.axhspan(0.3, 0.6, color="0.85", lw=0)
        b.axvline(STUDY_TAU_C, color="0.5", ls=":", lw=0.8)
        b.text(STUDY_TAU_C, 0.31, "study: S = 0.3-0.6 ", fontsize=6, va="bottom", ha="right")
        b.set_xscale("log")
        b.set_xlim(150.0, 1100.0)
        b.set_xlabel(r"$\tau_c\,\Omega_{i0}$")
        b.set_ylabel(rf"$S_{{\rm eff}} = \Delta_i\,\beta_{{\parallel i}}^{{{alpha:.2f}}}$ (late)")
        path = plots.save_figure(fig, out_dir, name)[0]
    return path


def noise_extrapolation(s: Sequence[float], err: Sequence[float],
                        ppc: Sequence[float]) -> dict[str, float]:
    """Extrapolate a late-time S to infinite particles per cell from runs that differ only
    in ppc, assuming the particle-noise bias is linear in 1/ppc (noise scattering rate
    ~ 1/ppc, small against the wave scattering that sets the marginal state): the
    least-squares line ``S = S_inf + c / ppc``. With two runs it passes through both,
    ``S_inf = S_hi + (S_hi - S_lo) (1/ppc_hi) / (1/ppc_lo - 1/ppc_hi)``; a third run tests
    the linearity.

    The runs are weighted equally: a late-window error (:func:`_late_error`) is mostly
    the drift of Delta_i across the window, shared by runs windowed at the same times,
    not an independent random error, and a run that happens to drift little would
    otherwise take all the weight. The errors are propagated through the (linear)
    estimator.

    Parameters
    ----------
    s, err : sequence of float
        S of each run and its 1-sigma error.
    ppc : sequence of float
        Particles per cell of each run (at least two different values).

    Returns
    -------
    dict
        ``S_inf`` and its error ``S_inf_err``, the slope ``c``, ``dof`` (runs - 2) and
        ``pull``: the largest residual from the line in units of its propagated error
        (NaN without a degree of freedom; above ~2 the bias is not linear in 1/ppc).
    """
    y, e = np.asarray(s, float), np.asarray(err, float)
    x = 1.0 / np.asarray(ppc, float)
    if y.size < 2 or np.ptp(x) == 0.0:
        raise ValueError("noise extrapolation needs runs at two or more different ppc")
    design = np.column_stack([np.ones_like(x), x])
    coef_map = np.linalg.pinv(design)  # (2, n): the estimator is linear in the S of the runs
    s_inf, slope = coef_map @ y
    resid_map = np.eye(y.size) - design @ coef_map  # residuals = resid_map @ y
    resid = resid_map @ y
    resid_err = np.sqrt((resid_map**2) @ e**2)
    dof = int(y.size - 2)
    pull = float(np.max(np.abs(resid) / resid_err)) if dof > 0 and np.all(resid_err > 0) \
        else math.nan
    return {"S_inf": float(s_inf), "S_inf_err": float(np.sqrt(np.sum((coef_map[0] * e) ** 2))),
            "c": float(slope), "dof": dof, "pull": pull}


def _study_marginal(cid: str, p800: dict[str, Any], noise: list[dict[str, Any]],
                    alpha: float) -> Check:
    """The marginal law at the study's compression time (tau_c = 800 /Omega_i0, where its
    S ~ 0.3-0.6 was measured): ``S = Delta_i beta_par,i^alpha`` of the late window (the
    end of the run, 1.31-1.41 tau_c when it runs for the study's 1.41 tau_c), with
    ``alpha`` from the beta series, and the late Delta_i inside the study's band at its
    beta_par,i.

    Particle noise scatters the ions at a rate ~ 1/ppc, which lowers Delta_i. The noise
    controls (the same deck at fewer ppc, their windows at the same times) give the
    extrapolation to infinite ppc (:func:`noise_extrapolation`), which must lie in the
    band as well."""
    s800 = p800["delta_mean"] * p800["beta_mean"] ** alpha
    err = _late_error(p800) * p800["beta_mean"] ** alpha
    b, d = p800["beta_mean"], p800["delta_mean"]
    lo, hi = 0.3 * b ** -0.5, 0.6 * b ** -0.3
    ok = bool(0.3 <= s800 <= 0.6 and lo <= d <= hi)
    detail: dict[str, Any] = {"S": s800, "S_err": err, "alpha": alpha, "beta_par": b,
                              "delta": d, "band": [lo, hi], "tau_c": p800["tau_c"],
                              "ppc": p800["ppc"]}
    noise_txt = "; no noise control run"
    gamma_txt = ""
    if math.isfinite(p800.get("gamma_L", math.nan)):
        detail["gamma_L_late"] = p800["gamma_L"]
        gamma_txt = (f"; the late state's bi-Maxwellian is linearly unstable with gamma_L,max"
                     f" = {p800['gamma_L']:.2g} Omega_i (dispersion solver)")
    if noise:
        s_ctl = [c["delta_mean"] * c["beta_mean"] ** alpha for c in noise]
        err_ctl = [_late_error(c) * c["beta_mean"] ** alpha for c in noise]
        ppc_ctl = [c["ppc"] for c in noise]
        ext = noise_extrapolation([s800, *s_ctl], [err, *err_ctl], [p800["ppc"], *ppc_ctl])
        s_inf, err_inf = ext["S_inf"], ext["S_inf_err"]
        ok = ok and bool(0.3 <= s_inf <= 0.6)
        ctl_txt = ", ".join(f"{n} ppc: S = {v:.3f} +- {e:.3f}"
                            for n, v, e in zip(ppc_ctl, s_ctl, err_ctl, strict=True))
        lin_txt = (f"; largest residual from the line {ext['pull']:.1f} sigma"
                   if ext["dof"] > 0 else "")
        noise_txt = (f"; noise control{'s' if len(noise) > 1 else ''} (same window): "
                     f"{ctl_txt}, so extrapolated to infinite ppc (bias ~ 1/ppc{lin_txt}) "
                     f"S = {s_inf:.3f} +- {err_inf:.3f}")
        detail.update({"S_noise_corrected": s_inf, "S_noise_corrected_err": err_inf,
                       "noise_bias": s_inf - s800, "noise_slope": ext["c"],
                       "noise_pull": ext["pull"], "noise_dof": ext["dof"],
                       "S_control": s_ctl, "S_control_err": err_ctl, "ppc_control": ppc_ctl})
    return Check(
        f"{cid}.S800", "marginal-stability law at the study's compression time "
        "tau_c = 800 /Omega_i0 (its fiducial run): S = Delta_i beta_par,i^alpha, alpha from "
        f"the beta series (t = {p800['t_from'] / p800['tau_c']:.2f}-"
        f"{p800['t_to'] / p800['tau_c']:.2f} tau_c, the end of the run)",
        f"Delta_i = {d:.3f} +- {_late_error(p800):.3f} at beta_par,i = {b:.2f} (band "
        f"{lo:.3f}-{hi:.3f}); S = {s800:.3f} +- {err:.3f} (alpha = {alpha:.2f}, "
        f"{p800['ppc']} ppc){noise_txt}{gamma_txt}",
        "0.3 <= S <= 0.6 (also extrapolated to infinite ppc) and Delta_i inside the band",
        ok, s800, detail)


def _study_fit(cid: str, p800: dict[str, Any]) -> Check:
    """The study's own measurement of the marginal law (Sec. 4, Fig. 1(d)): S and alpha
    fitted to the ion (beta_par, Delta) track of the tau_c = 800 run itself, up to the
    end of the run. The study's start time is lost from the text; the fit here uses the
    later half of the time between the anisotropy maximum and the end (before it, Delta_i
    still relaxes from its overshoot at nearly constant beta_par,i). Decided only when
    the window spans beta_par,i by ``MIN_FIT_BETA_SPAN``; the 1-sigma errors assume
    chi^2 = 1 as the study does (the samples are correlated: they are lower bounds)."""
    from postprocess.anisotropy import MIN_FIT_BETA_SPAN, fit_marginal

    th, beta, delta = p800["track"]
    t_fit = 0.5 * (p800["t_aniso_peak"] + th[-1])
    m = th >= t_fit
    span = float(np.max(beta[m]) / np.min(beta[m]))
    tau = p800["tau_c"]
    window = (f"t = {t_fit / tau:.2f}-{th[-1] / tau:.2f} tau_c, beta_par,i = "
              f"{np.min(beta[m]):.2f}-{np.max(beta[m]):.2f}")
    try:
        fit = fit_marginal(beta[m], delta[m])
    except ValueError as exc:
        return Check(f"{cid}.S800fit", "marginal law fitted within the tau_c = 800 run",
                     f"no fit ({exc}; {window})", "0.3 <= S <= 0.6, 0.3 <= alpha <= 0.5",
                     None, math.nan)
    enough = span >= MIN_FIT_BETA_SPAN
    why = "" if enough else (f"; not determined: beta_par,i spans x{span:.2f} "
                             f"(need x{MIN_FIT_BETA_SPAN})")
    ok = (0.3 <= fit.S <= 0.6 and 0.3 <= fit.alpha <= 0.5) if enough else None
    return Check(
        f"{cid}.S800fit", "marginal law Delta_i = S beta_par,i^-alpha fitted within the "
        "tau_c = 800 run to its end, as the study fits its fiducial run (Fig. 1(d))",
        f"S = {fit.S:.3f} +- {fit.S_err:.3f}, alpha = {fit.alpha:.3f} +- {fit.alpha_err:.3f} "
        f"({fit.n_points} samples, {window}){why}",
        "0.3 <= S <= 0.6 and 0.3 <= alpha <= 0.5", ok, fit.S,
        {"S": fit.S, "S_err": fit.S_err, "alpha": fit.alpha, "alpha_err": fit.alpha_err,
         "t_from": t_fit, "t_to": float(th[-1]), "beta_span": span, "tau_c": tau})


def _study_beta(cid: str, run_dir: Path, tol: float = 0.1) -> Check:
    """Reference study Fig. 1(e) / Sec. 3.1: in its fiducial run "the total plasma beta
    decreases to half its initial value by the simulation's end, with ions hotter than
    electrons". Measured at the end of the tau_c = 800 run (the study's 1.41 tau_c when
    run to it): beta_total(end)/beta_total(0) within ``tol`` (relative) of 1/2 and
    T_i > T_e (T = (T_par + 2 T_perp)/3). Only decided for a run that reaches 1.41 tau_c."""
    from postprocess.anisotropy import beta_vs_time, species_series

    run = open_run(run_dir)
    h = run.history
    th = run.time_in("Omega_i0")
    tau = float(run.param("tau_c")) * float(run.param("omega_ci0"))
    species = [(s["name"], float(s["charge"])) for s in run.params["species"]
               if not s.get("tracer", False)]
    beta = beta_vs_time(h, species)["beta_total"]
    temp = {}
    for name, q in species:
        s = species_series(h, name)
        temp["i" if q > 0 else "e"] = (s["T_par"][-1] + 2.0 * s["T_perp"][-1]) / 3.0
    return beta_verdict(cid, float(th[-1] / tau), float(beta[0]), float(beta[-1]),
                        float(temp["i"] / temp["e"]), tol)


def beta_verdict(cid: str, end: float, beta0: float, beta_end: float, t_ratio: float,
                 tol: float = 0.1) -> Check:
    """Check ``<cid>.beta800`` from its numbers (see :func:`_study_beta`): ``end`` the
    run's end in tau_c, the total beta at its start and end, and T_i/T_e at the end."""
    ratio = beta_end / beta0
    full = end >= 1.41 - 1e-3
    ok = bool(abs(ratio / 0.5 - 1.0) <= tol and t_ratio > 1.0) if full else None
    why = "" if full else f"; not decided: the run ends at {end:.2f} tau_c, not 1.41"
    return Check(
        f"{cid}.beta800", "total plasma beta at the end of the tau_c = 800 run (study "
        "Fig. 1(e): half its initial value, ions hotter than electrons)",
        f"beta_total = {beta0:.2f} -> {beta_end:.2f} at t = {end:.2f} tau_c (ratio "
        f"{ratio:.3f}); T_i/T_e = {t_ratio:.3f}{why}",
        f"ratio 0.5 within {100 * tol:.0f} % and T_i > T_e", ok, ratio,
        {"beta_total_0": beta0, "beta_total_end": beta_end, "ratio": ratio,
         "T_i_over_T_e": t_ratio, "t_end_tau_c": end})


def check_forcing(run_dir: Path, base: dict[str, Any], out_dir: Path,
                  cid: str = "4") -> list[Check]:
    """Check 4: isotropic forcing of the electrons removes the whistler (RCP) burst while
    the IC (LCP) waves remain (compared with the unforced run over the same times), and
    the IC onset moves by as much as the dispersion solver's threshold crossing."""
    from postprocess import plots

    forced = compression_analysis(run_dir)
    fw, bw = forced["waves"], base["waves"]
    t_end = min(fw["t"][-1], bw["t"][-1])
    t_on = base["t_onset"] if math.isfinite(base["t_onset"]) else t_end

    def excess_rcp(w, rcp_base):
        sel = w["t"] <= t_on
        return float(np.max(w["rcp"][sel]) - rcp_base)

    r_base = excess_rcp(bw, base["rcp_base"])
    r_forced = excess_rcp(fw, forced["rcp_base"])
    ratio_r = r_forced / r_base if r_base > 0 else math.nan
    ae_ratio = forced["aniso_e_peak"] / base["aniso_e_peak"]

    def lcp_max(w):
        return float(np.max(w["lcp"][w["t"] <= t_end]))

    ratio_l = lcp_max(fw) / lcp_max(bw)
    shift_on = forced["t_onset"] - base["t_onset"]
    shift_thr = forced["t_thr"] - base["t_thr"]
    with plots.style():
        fig, (a, b) = plots.figure(1, 2, width=7.0, height=2.6)
        for w, lab, ls in ((bw, "unforced", "-"), (fw, "electrons forced", "--")):
            a.semilogy(w["t"], w["rcp"], ls, color=plots.RCP_COLOR, label=f"RCP, {lab}")
            a.semilogy(w["t"], w["lcp"], ls, color=plots.LCP_COLOR, label=f"LCP, {lab}")
        a.set_xlim(0, t_end)
        a.set_xlabel(r"$t\,\Omega_{i0}$")
        a.set_ylabel(r"$\langle\delta B^2\rangle/2B_x^2$")
        a.legend(fontsize=6)
        for r_, lab, ls in ((base, "unforced", "-"), (forced, "electrons forced", "--")):
            b.plot(r_["t_hist"], r_["electrons"]["anisotropy"], ls,
                   color=plots.SPECIES_COLORS[1], label=rf"$\Delta_e$, {lab}")
            b.plot(r_["t_hist"], r_["ions"]["anisotropy"], ls, color=plots.SPECIES_COLORS[0],
                   label=rf"$\Delta_i$, {lab}")
        b.set_xlim(0, t_end)
        b.set_xlabel(r"$t\,\Omega_{i0}$")
        b.set_ylabel(r"$T_\perp/T_\parallel-1$")
        b.legend(fontsize=6)
        fig_path = plots.save_figure(fig, out_dir, f"check{cid}_forcing")[0]
    figs = [fig_path.name]
    return [
        Check(f"{cid}.rcp", "isotropic electron forcing removes the whistler (RCP) burst",
              f"RCP excess before the IC onset (t <= {t_on:.1f}): forced {r_forced:.2e} vs "
              f"unforced {r_base:.2e} (ratio {_fmt(ratio_r)}); Delta_e peak "
              f"{forced['aniso_e_peak']:.3f} vs {base['aniso_e_peak']:.3f}",
              "RCP excess ratio < 0.3 and Delta_e peak ratio < 0.3",
              bool(ratio_r < 0.3 and ae_ratio < 0.3), ratio_r, {"aniso_e_ratio": ae_ratio},
              figs),
        Check(f"{cid}.lcp", "the IC (LCP) waves remain with forced electrons",
              f"max LCP energy up to t = {t_end:.0f}: forced/unforced = {ratio_l:.2f}; LCP "
              f"onset {_fmt(forced['t_onset'])} vs {_fmt(base['t_onset'])} /Omega_i0",
              "ratio 0.5-2", bool(0.5 <= ratio_l <= 2.0), ratio_l, {}, figs),
        Check(f"{cid}.onset", "forcing moves the IC onset as the dispersion solver predicts "
              "(the electron state enters the L-mode threshold at m_i/m_e = 8)",
              f"LCP onset moves by {_fmt(shift_on)} /Omega_i0 ({_fmt(base['t_onset'])} -> "
              f"{_fmt(forced['t_onset'])}); the solver's threshold crossing (gamma_L,max = "
              f"0.01 Omega_i, measured moments of both species) by {_fmt(shift_thr)} "
              f"({_fmt(base['t_thr'])} -> {_fmt(forced['t_thr'])})",
              f"the two shifts agree within one {WAVE_WINDOW:g}/Omega_i0 window",
              bool(abs(shift_on - shift_thr) <= WAVE_WINDOW), shift_on - shift_thr,
              {"shift_onset": shift_on, "shift_threshold": shift_thr}, figs),
    ]


# ----------------------------------------------------------------------------- tracers


def _smooth(y: np.ndarray, n: int = 3) -> np.ndarray:
    ker = np.ones(n) / n
    ypad = np.concatenate([np.full(n // 2, y[0]), y, np.full(n // 2, y[-1])])
    return np.convolve(ypad, ker, mode="valid")


def ic_wavenumber(run, t_from: float, window: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Peak |k| (1/d_e0) of the LCP power in sliding windows after ``t_from`` (1/Omega_i0)."""
    from postprocess.omega_k import spectrogram

    om = float(run.param("omega_ci0"))
    sp = run.spectra()
    s = spectrogram(sp.time * om, sp.x, sp.dBy, sp.dBz, window, 0.5)
    kpos = s.k > 0
    kk = s.k[kpos]
    neg = {round(v, 12): i for i, v in enumerate(s.k)}
    j_neg = np.array([neg[round(-v, 12)] for v in kk])
    p = s.P_k_lcp[:, kpos] + s.P_k_lcp[:, j_neg]
    keep = s.t >= t_from
    k_pk = np.array([kk[int(np.argmax(_smooth(row)))] for row in p[keep]])
    return s.t[keep], k_pk


def check_tracers(run_dir: Path, res: dict[str, Any], out_dir: Path, cid: str = "3",
                  species: str | None = None) -> list[Check]:
    """Check 3: CRe tracers in the compression run: D_mumu on the IC resonance contour
    p |mu| = m_e |Omega_e| / k_IC, a pumping-gain band near that momentum, growing with time
    and moving to higher p0 as B grows."""
    from postprocess import plots
    from postprocess.tracers import read_insitu

    run = res["run"]
    om = float(run.param("omega_ci0"))
    s = read_insitu(run.path, species)
    t_rows = s.time * om
    t_on = res["t_onset"] if math.isfinite(res["t_onset"]) else res["t_aniso_peak"]
    tk, kic = ic_wavenumber(run, t_on)
    th = res["t_hist"]
    bx = np.asarray(run.history["B_x"], float)

    def p_res(t):  # m_e c: p |mu| = m_e |Omega_e| / k = B / k in code units
        return np.interp(t, th, bx) / np.interp(t, tk, kic)

    active = np.flatnonzero(t_rows >= t_on + 5.0)
    if active.size < 4:
        return [Check(f"{cid}.dmumu", "tracer analysis", "too few in-situ rows after onset",
                      "-", False)]
    # --- D_mumu on the resonance band vs beyond it (p|mu| > 2.5 p_res: no IC wave of the
    # spectrum resonates there), per p bin with 0.1 < p_res/p < 0.4, in 3 time groups
    groups = np.array_split(active, 3)
    pc, mc = s.p_centers, s.mu_centers
    amu = np.abs(mc)
    conc, loc = [], []
    maps = []
    for g in groups:
        d = s.d_mumu(rows=g, drift_corrected=True)
        pr = float(np.mean(p_res(t_rows[g])))
        maps.append((d, pr, float(t_rows[g][0]), float(t_rows[g][-1])))
        for ip, p in enumerate(pc):
            mu_r = pr / p
            if not (0.1 < mu_r < 0.4) or not np.all(np.isfinite(d[ip])):
                continue
            band = (amu > mu_r / 1.6) & (amu < mu_r * 1.6)
            beyond = (amu > 2.5 * mu_r) & (amu < 0.97)
            if band.sum() and beyond.sum():
                conc.append(float(np.mean(d[ip, band]) / np.mean(d[ip, beyond])))
                j = int(np.argmax(np.where(amu > mu_r / 2.5, d[ip], -np.inf)))
                loc.append(float(p * amu[j] / pr))
    c_med = float(np.median(conc)) if conc else math.nan
    l_med = float(np.median(loc)) if loc else math.nan
    # --- gain band above the thermal electrons (tracers with p0 below ~3 p_rms,e heat
    # like plasma electrons: whistler and noise scattering, not IC pumping)
    hist = run.history
    p_rms = math.sqrt(2 * float(hist["T_perp_electrons"][-1]) + float(hist["T_par_electrons"][-1]))
    p_cut = 3.0 * p_rms
    gain = s.gain()
    p0 = s.p0_centers
    hi_p = p0 >= p_cut
    rows_t = [active[len(active) // 2], active[-1]]
    pk_p0, pk_g, cen = [], [], []
    for r in rows_t:
        g = _smooth(np.nan_to_num(gain[r][hi_p]), 3)
        i = int(np.argmax(g))
        pk_p0.append(float(p0[hi_p][i]))
        pk_g.append(float(g[i]))
        w = np.clip(g, 0, None) * (g > 0.5 * g[i])
        cen.append(float(np.exp(np.sum(w * np.log(p0[hi_p])) / np.sum(w))))
    g_last = _smooth(np.nan_to_num(gain[rows_t[-1]][hi_p]), 3)
    g_top = float(np.mean(g_last[-3:]))
    g_cut = float(g_last[0])
    pr_on, pr_end = float(p_res(t_on + 5.0)), float(p_res(t_rows[rows_t[-1]]))
    b_mid = np.interp(t_rows[rows_t[0]], th, bx) / bx[0]
    b_end = np.interp(t_rows[rows_t[1]], th, bx) / bx[0]
    checks = [
        Check(f"{cid}.dmumu", "CRe scattering concentrated on the IC resonance p|mu| = "
              "m_e|Omega_e|/k_IC",
              f"D_mumu on the band p|mu| = p_res x/1.6 vs beyond it (p|mu| > 2.5 p_res): median "
              f"ratio {_fmt(c_med)} over {len(conc)} (p, time) slices; largest D_mumu at "
              f"p|mu|/p_res = {_fmt(l_med)} (p_res = {pr_on:.2f}-{pr_end:.2f} m_e c)",
              "ratio > 2 (no scattering where no IC wave resonates)", bool(c_med > 2), c_med,
              {"peak_location": l_med, "ratios": conc}),
        Check(f"{cid}.band", "pumping gain: a band in p0 at the IC-resonant momenta",
              f"above the thermal electrons (p0 >= {p_cut:.2f} = 3 p_rms,e) the gain peaks at "
              f"p0 = {pk_p0[-1]:.2f} m_e c ({100 * pk_g[-1]:.1f} %; {100 * g_cut:.1f} % at "
              f"p0 = {p_cut:.2f}, {100 * g_top:.1f} % at p0 = {p0[-1]:.0f}); p_res = "
              f"{pr_on:.2f} (onset) - {pr_end:.2f} (end)",
              "a band: p_res(onset)/2 <= p0_peak <= 2 p_res(end), peak > 1.1 x the gain at the "
              "thermal cut and > 2 x the gain at p_max",
              bool(pr_on / 2 <= pk_p0[-1] <= 2 * pr_end and pk_g[-1] > 2 * g_top
                   and pk_g[-1] > 1.1 * g_cut),
              pk_p0[-1], {"gain_peak": pk_g[-1], "gain_top": g_top, "gain_cut": g_cut,
                          "p_cut": p_cut}),
        Check(f"{cid}.growth", "pumping gain grows with time (p0 above the thermal cut)",
              f"peak gain {100 * pk_g[0]:.1f} % at t = {t_rows[rows_t[0]]:.0f} (B/B0 = "
              f"{b_mid:.2f}) -> {100 * pk_g[1]:.1f} % at t = {t_rows[rows_t[1]]:.0f} /Omega_i0 "
              f"(B/B0 = {b_end:.2f})", "increasing, > 0", bool(0 < pk_g[0] < pk_g[1]),
              pk_g[1] / pk_g[0] if pk_g[0] else math.nan),
        Check(f"{cid}.shift", "the gain band moves to higher p0 as B grows",
              f"gain-weighted centre of the band (gain > half its peak) p0 = {cen[0]:.2f} -> "
              f"{cen[1]:.2f} m_e c (B/B0 = {b_mid:.2f} -> {b_end:.2f})",
              "increasing", bool(cen[1] > cen[0]), cen[1] / cen[0]),
    ]
    with plots.style():
        fig, axes = plots.figure(1, 3, width=7.0, height=2.5)
        for ax, (d, pr, t0, t1) in zip(axes[:2], (maps[0], maps[-1]), strict=True):
            img = ax.pcolormesh(mc, pc, d, shading="nearest", cmap="viridis",
                                norm=plots.log_norm(np.nan_to_num(d), 1e3))  # fmt: skip
            mm = np.linspace(-1, 1, 201)
            with np.errstate(divide="ignore"):
                ax.plot(mm, pr / np.abs(mm), "w--", lw=0.8)
            ax.set_yscale("log")
            ax.set_ylim(pc[0], pc[-1])
            ax.set_xlabel(r"$\mu$")
            ax.set_ylabel(r"$p\,[m_e c]$")
            ax.set_title(rf"$D_{{\mu\mu}}$, $t\Omega_{{i0}}$ = {t0:.0f}-{t1:.0f}", fontsize=8)
            plots.add_colorbar(ax, img, r"$D_{\mu\mu}$")
        ax = axes[2]
        for r in active[:: max(1, len(active) // 5)]:
            ax.plot(p0, 100 * gain[r], lw=0.8, label=f"{t_rows[r]:.0f}")
        ax.axvline(pr_on, color="0.5", ls=":", lw=0.8, label=r"$p_{res}$ onset")
        ax.axvline(pr_end, color="0.5", ls="--", lw=0.8, label=r"$p_{res}$ end")
        ax.axvspan(p0[0], p_cut, color="0.85", lw=0, zorder=0)
        ax.set_xscale("log")
        ax.set_xlabel(r"$p_0\,[m_e c]$")
        ax.set_ylabel(r"gain $\langle E_{rev}-E_0\rangle/\langle E_0\rangle$ [%]")
        ax.legend(title=r"$t\Omega_{i0}$", fontsize=6, title_fontsize=6)
        fig_path = plots.save_figure(fig, out_dir, f"check{cid}_tracers")[0]
    for c in checks:
        c.figures.append(fig_path.name)
    return checks
