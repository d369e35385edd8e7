"""Tests of pic1d.loading: Maxwell-Juttner samplers, drift, tracers, decomposition.

Every statistical check compares against an independent expectation (closed-form Bessel
moments, direct numerical quadrature, or a distribution-free test) with a tolerance of
4 standard errors or a KS / chi-square p-value > 0.01 at fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import kve

from pic1d import loading as L

N = 1_000_000
SEED = 8128
THETAS_MAIN = [0.01, 0.2, 1.0, 10.0]
THETAS_SPOT = [1e-3, 100.0]


def _rng(seed: int = SEED, sub: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, sub]))


def _gamma(u: np.ndarray) -> np.ndarray:
    return np.sqrt(1.0 + np.einsum("ij,ij->i", u, u))


def _within(sample: np.ndarray, expected: float, nsig: float = 4.0) -> tuple[bool, float]:
    """Sample mean within nsig standard errors of expected; returns (ok, error in SE)."""
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    z = (sample.mean() - expected) / se
    return abs(z) < nsig, z


def _mj_quad(func, theta: float) -> float:
    """<func(u)> over isotropic MJ by direct quadrature in |u| (independent of Bessel)."""
    umax = np.sqrt(100 * theta * (100 * theta + 2))

    def w(u):
        return u * u * np.exp(-(np.sqrt(1 + u * u) - 1) / theta)

    kw = dict(limit=400, epsabs=0, epsrel=1e-12)
    z = integrate.quad(w, 0, umax, **kw)[0]
    return integrate.quad(lambda u: w(u) * func(u), 0, umax, **kw)[0] / z


@pytest.fixture(scope="module")
def mj_samples() -> dict[float, np.ndarray]:
    # independent stream per theta (same stream would correlate the tests across theta)
    return {
        th: L.sample_maxwell_juttner(_rng(SEED, k), N, th)
        for k, th in enumerate(THETAS_MAIN + THETAS_SPOT)
    }


# ----------------------------------------------------------------- analytic helpers
@pytest.mark.parametrize("theta", [1e-3, 0.01, 0.2, 1.0, 10.0, 100.0])
def test_helpers_match_quadrature(theta):
    mean_g = _mj_quad(lambda u: np.sqrt(1 + u * u), theta)
    assert L.mj_mean_gamma(theta) == pytest.approx(mean_g, rel=1e-10)
    assert L.mj_mean_u2(theta) == pytest.approx(_mj_quad(lambda u: u * u, theta), rel=1e-10)
    p = _mj_quad(lambda u: u * u / (3 * np.sqrt(1 + u * u)), theta)
    assert L.mj_pressure(theta) == pytest.approx(p, rel=1e-10)
    # CDF at a few points vs direct quadrature of the gamma pdf
    g = 1 + theta * np.array([0.3, 1.0, 2.5, 7.0])
    cdf = [
        integrate.quad(L.mj_pdf_gamma, 1, gi, args=(theta,), epsabs=0, epsrel=1e-11)[0] for gi in g
    ]
    assert np.allclose(L.mj_cdf_gamma(g, theta), cdf, rtol=0, atol=1e-10)
    # pdf normalised and equal to dCDF/dgamma
    norm = integrate.quad(
        L.mj_pdf_gamma, 1, 1 + 200 * theta, args=(theta,), limit=400, epsabs=0, epsrel=1e-12
    )[0]
    assert norm == pytest.approx(1.0, abs=1e-9)
    h = 1e-4 * theta
    fd = (L.mj_cdf_gamma(g + h, theta) - L.mj_cdf_gamma(g - h, theta)) / (2 * h)
    assert np.allclose(fd, L.mj_pdf_gamma(g, theta), rtol=1e-5)


def test_helpers_limits():
    th = 1e-4  # non-relativistic: <gamma> = 1 + 3/2 th + 15/8 th^2 + O(th^3)
    assert L.mj_mean_gamma(th) - 1 == pytest.approx(1.5 * th + 15 / 8 * th**2, rel=1e-7)
    th = 1e4  # ultra-relativistic: <gamma> -> 3 th
    assert L.mj_mean_gamma(th) / (3 * th) == pytest.approx(1.0, rel=1e-4)
    assert L.mj_mean_gamma(0.0) == 1.0
    assert np.allclose(
        L.mj_mean_gamma(np.array([0.2, 1.0])), [L.mj_mean_gamma(0.2), L.mj_mean_gamma(1.0)]
    )


# --------------------------------------------------------------- VALIDATION item 6
@pytest.mark.parametrize("theta", THETAS_MAIN + THETAS_SPOT)
def test_mj_moments_and_ks(mj_samples, theta):
    u = mj_samples[theta]
    g = _gamma(u)
    ok, z = _within(g, L.mj_mean_gamma(theta))
    assert ok, f"<gamma> off by {z:.2f} SE"
    for j in range(3):  # pressure <u_j v_j> = theta, each component
        ok, z = _within(u[:, j] ** 2 / g, theta)
        assert ok, f"P_{j} off by {z:.2f} SE"
    p = stats.kstest(g, lambda x: L.mj_cdf_gamma(x, theta)).pvalue
    assert p > 0.01, f"KS p = {p}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mj_ks_other_seeds(seed):
    for theta in (0.05, 3.0):
        g = _gamma(L.sample_maxwell_juttner(_rng(seed), 200_000, theta))
        assert stats.kstest(g, lambda x, t=theta: L.mj_cdf_gamma(x, t)).pvalue > 0.01


@pytest.mark.parametrize("theta", [0.2, 10.0])
def test_isotropy(mj_samples, theta):
    u = mj_samples[theta]
    u2 = L.mj_mean_u2(theta) / 3
    for j in range(3):
        assert _within(u[:, j] ** 2, u2)[0]
        assert _within(u[:, j], 0.0)[0]
    for j, k in ((0, 1), (0, 2), (1, 2)):
        assert _within(u[:, j] * u[:, k], 0.0)[0]
    umag = np.sqrt(np.einsum("ij,ij->i", u, u))
    assert stats.kstest(u[:, 0] / umag, stats.uniform(-1, 2).cdf).pvalue > 0.01
    phase = np.arctan2(u[:, 2], u[:, 1])
    assert stats.kstest(phase, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01


# ------------------------------------------------------------------------ bi-MJ
@pytest.mark.parametrize("aniso", [0.5, 3.0])
def test_bimj_nonrelativistic(aniso):
    theta = 1e-5  # relativistic corrections O(theta) << statistical error
    u = L.sample_maxwell_juttner(_rng(), N, theta, anisotropy=aniso)
    g = _gamma(u)
    p_par = u[:, 0] ** 2 / g
    p_perp = 0.5 * (u[:, 1] ** 2 + u[:, 2] ** 2) / g
    assert _within(p_par, theta)[0]
    assert _within(p_perp, aniso * theta)[0]
    ratio = p_perp.mean() / p_par.mean()
    se = ratio * np.hypot(p_perp.std() / p_perp.mean(), p_par.std() / p_par.mean()) / np.sqrt(N)
    assert abs(ratio - aniso) < 4 * se, (ratio, se)
    # each component Gaussian with the bi-Maxwellian variance
    assert stats.kstest(u[:, 0], stats.norm(scale=np.sqrt(theta)).cdf).pvalue > 0.01
    assert stats.kstest(u[:, 1], stats.norm(scale=np.sqrt(aniso * theta)).cdf).pvalue > 0.01


def _bimj_quad_pressures(theta: float, aniso: float) -> tuple[float, float]:
    """(P_par, P_perp per component) of the bi-MJ by 2D quadrature in (|w|, mu)."""
    tp = aniso * theta
    mu, wmu = np.polynomial.legendre.leggauss(64)

    def radial(w):
        return w * w * np.exp(-(np.sqrt(1 + w * w) - 1) / tp)

    def inner(w, which):
        ux2 = (w * mu) ** 2 / aniso
        up2 = w * w * (1 - mu * mu)
        gam = np.sqrt(1 + ux2 + up2)
        q = ux2 / gam if which == 0 else 0.5 * up2 / gam
        return radial(w) * 0.5 * (q @ wmu)

    wmax = np.sqrt(100 * tp * (100 * tp + 2))
    kw = dict(limit=400, epsabs=0, epsrel=1e-11)
    z = integrate.quad(radial, 0, wmax, **kw)[0]
    return tuple(integrate.quad(inner, 0, wmax, args=(k,), **kw)[0] / z for k in (0, 1))


@pytest.mark.parametrize("theta,aniso", [(1.0, 3.0), (0.5, 0.4)])
def test_bimj_relativistic(theta, aniso):
    u = L.sample_maxwell_juttner(_rng(), N, theta, anisotropy=aniso)
    ux2, uy2 = L.bimj_mean_u2(theta, aniso)
    # independent: <u_y^2> = theta_perp K3/K2 (closed form)
    tp = aniso * theta
    assert uy2 == pytest.approx(tp * kve(3, 1 / tp) / kve(2, 1 / tp), rel=1e-12)
    assert _within(u[:, 0] ** 2, ux2)[0]
    assert _within(u[:, 1] ** 2, uy2)[0]
    assert _within(u[:, 2] ** 2, uy2)[0]
    # stretched momentum w = (sqrt(A) u_x, u_y, u_z) is an isotropic MJ at theta_perp
    w = u * np.array([np.sqrt(aniso), 1.0, 1.0])
    assert stats.kstest(_gamma(w), lambda x: L.mj_cdf_gamma(x, tp)).pvalue > 0.01
    # pressures against 2D quadrature of the defined distribution
    p_par, p_perp = _bimj_quad_pressures(theta, aniso)
    g = _gamma(u)
    assert _within(u[:, 0] ** 2 / g, p_par)[0]
    assert _within(0.5 * (u[:, 1] ** 2 + u[:, 2] ** 2) / g, p_perp)[0]
    # and the pressure ratio is not A at relativistic theta (documented)
    assert abs(p_perp / p_par - aniso) > 0.05 * aniso


# ------------------------------------------------------------------------ drift
def _boost_back(u: np.ndarray, beta: np.ndarray) -> np.ndarray:
    b = np.linalg.norm(beta)
    n = beta / b
    big = 1 / np.sqrt(1 - b * b)
    g = _gamma(u)
    upar = u @ n
    return u + ((big - 1) * upar - big * b * g)[:, None] * n[None, :]


@pytest.mark.parametrize(
    "theta,beta,aniso",
    [(1.0, (0.6, 0.0, 0.0), 1.0), (0.1, (0.3, -0.4, 0.5), 1.0), (0.2, (0.2, 0.5, 0.0), 2.5)],
)
def test_drift(theta, beta, aniso):
    beta = np.array(beta)
    u = L.sample_maxwell_juttner(_rng(), N // 2, theta, anisotropy=aniso, drift=beta)
    g = _gamma(u)
    for j in range(3):  # mean 3-velocity of a drifting Juttner gas is beta exactly
        ok, z = _within(u[:, j] / g, beta[j])
        assert ok, f"<v_{j}> off by {z:.2f} SE"
    if aniso == 1.0:  # <u> = Gamma beta K3(1/theta)/K2(1/theta) (enthalpy per particle)
        big = 1 / np.sqrt(1 - beta @ beta)
        h = kve(3, 1 / theta) / kve(2, 1 / theta)
        for j in range(3):
            assert _within(u[:, j], big * beta[j] * h)[0]
    # back in the rest frame, the flux weight (1 + beta.v') averages out on every shell,
    # so the energy (stretched for bi-MJ) is distributed exactly as the rest-frame MJ
    up = _boost_back(u, beta) * np.array([np.sqrt(aniso), 1.0, 1.0])
    gp = _gamma(up)
    tp = aniso * theta
    assert _within(gp, L.mj_mean_gamma(tp))[0]
    assert stats.kstest(gp, lambda x: L.mj_cdf_gamma(x, tp)).pvalue > 0.01


def test_drift_flux_factor_is_needed():
    """A naive boost (no flipping) misses <v> = beta by many SE: the test above is sharp."""
    theta, beta = 1.0, np.array([0.6, 0.0, 0.0])
    u0 = L.sample_maxwell_juttner(_rng(), 200_000, theta)
    naive = _boost_back(u0, -beta)
    ok, z = _within(naive[:, 0] / _gamma(naive), beta[0])
    assert abs(z) > 20
    flipped = L.drift_boost(_rng(5), u0, beta)
    assert _within(flipped[:, 0] / _gamma(flipped), beta[0])[0]


def test_cold_drift():
    beta = np.array([0.1, -0.2, 0.3])
    u = L.sample_maxwell_juttner(_rng(), 10, 0.0, drift=beta)
    assert np.allclose(u, beta / np.sqrt(1 - beta @ beta), rtol=1e-14, atol=0)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        L.sample_maxwell_juttner(_rng(), 10, 1.0, drift=(0.8, 0.6, 0.0))
    with pytest.raises(ValueError):
        L.sample_maxwell_juttner(_rng(), 10, -1.0)
    with pytest.raises(ValueError):
        L.sample_maxwell_juttner(_rng(), 10, 1.0, anisotropy=0.0)


# ------------------------------------------------------------ cell loaders, streams
KW = dict(theta=0.3, anisotropy=1.7, drift=(0.1, 0.05, -0.02))


@pytest.mark.parametrize("placement", ["random", "quiet"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thermal_decomposition_independent(placement, dtype):
    nc, ppc = 12, 50
    full = L.load_thermal_cells(7, 1, 0, 0, nc, ppc, placement=placement, dtype=dtype, **KW)
    for cuts in ([0, 6, 12], [0, 1, 5, 12], [0, 11, 12]):
        spans = zip(cuts[:-1], cuts[1:], strict=True)
        parts = [
            L.load_thermal_cells(7, 1, 0, a, b - a, ppc, placement=placement, dtype=dtype, **KW)
            for a, b in spans
        ]
        for k in range(4):
            assert np.array_equal(full[k], np.concatenate([p[k] for p in parts]))
    sub = L.load_thermal_cells(7, 1, 0, 3, 4, ppc, placement=placement, dtype=dtype, **KW)
    for k in range(4):
        assert np.array_equal(sub[k], full[k][3 * ppc : 7 * ppc])
    assert full[0].dtype == np.float64 and full[1].dtype == dtype
    if dtype == np.float32:
        f64 = L.load_thermal_cells(7, 1, 0, 0, nc, ppc, placement=placement, **KW)
        assert np.array_equal(full[1], f64[1].astype(np.float32))


def test_thermal_positions_and_species_streams():
    nc, ppc = 20, 64
    ele = L.load_thermal_cells(3, 0, 0, 0, nc, ppc, theta=0.1)
    ion = L.load_thermal_cells(3, 1, 0, 0, nc, ppc, theta=0.002, anisotropy=2.0)
    other_group = L.load_thermal_cells(3, 1, 1, 0, nc, ppc, theta=0.002)
    assert np.array_equal(ele[0], ion[0])  # zero initial charge density
    assert not np.any(ele[0] == other_group[0])
    for k in (1, 2, 3):  # independent momentum streams
        assert not np.any(ele[k] == ion[k])
        assert abs(np.corrcoef(ele[k], ion[k])[0, 1]) < 4 / np.sqrt(nc * ppc)
    cell = np.repeat(np.arange(nc), ppc)
    assert np.array_equal(np.floor(ele[0]).astype(int), cell)
    assert stats.kstest(ele[0] - cell, "uniform").pvalue > 0.01
    assert not np.array_equal(L.load_thermal_cells(4, 0, 0, 0, nc, ppc, theta=0.1)[0], ele[0])
    quiet = L.load_thermal_cells(3, 0, 0, 5, 3, 4, theta=0.1, placement="quiet")
    assert np.array_equal(
        quiet[0], np.repeat([5.0, 6.0, 7.0], 4) + np.tile([0.125, 0.375, 0.625, 0.875], 3)
    )
    # positions stay below the cell edge even for large cell indices
    big = L.load_thermal_cells(3, 0, 0, 2**40, 2, 1000, theta=0.1)
    assert np.all(np.floor(big[0]) == np.repeat([2.0**40, 2.0**40 + 1], 1000))


def test_thermal_cells_statistics():
    """Loaded cells have the requested MJ temperature (pressure within 4 SE)."""
    x, ux, uy, uz = L.load_thermal_cells(11, 0, 0, 100, 40, 2500, theta=0.5)
    u = np.stack([ux, uy, uz], axis=1)
    g = _gamma(u)
    assert _within(g, L.mj_mean_gamma(0.5))[0]
    assert _within(ux * ux / g, 0.5)[0]


# ------------------------------------------------------------------------ tracers
TR = dict(n_total=300_000, n_cells_global=97, p_min=2.0, p_max=150.0)


def _chi2_flat_p(values: np.ndarray, lo: float, hi: float, nbins: int = 40) -> float:
    counts, _ = np.histogram(values, bins=nbins, range=(lo, hi))
    assert counts.sum() == values.size
    return stats.chisquare(counts).pvalue


@pytest.mark.parametrize("sampling", ["flat_p", "flat_log_p"])
def test_tracer_distributions(sampling):
    x, ux, uy, uz, ids = L.load_tracer_cells(5, 2, 0, 97, sampling=sampling, **TR)
    umag = np.sqrt(ux * ux + uy * uy + uz * uz)
    assert umag.min() >= TR["p_min"] * (1 - 1e-12) and umag.max() <= TR["p_max"] * (1 + 1e-12)
    if sampling == "flat_p":
        p = _chi2_flat_p(umag, TR["p_min"], TR["p_max"])
    else:
        p = _chi2_flat_p(np.log(umag), np.log(TR["p_min"]), np.log(TR["p_max"]))
    assert p > 0.01
    assert stats.kstest(ux / umag, stats.uniform(-1, 2).cdf).pvalue > 0.01
    phase = np.arctan2(uz, uy)
    assert stats.kstest(phase, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 0.01
    assert stats.kstest(x / 97.0, "uniform").pvalue > 0.01
    assert np.array_equal(ids, np.arange(TR["n_total"]))  # unique, cumulative


def test_tracer_counts_and_split_independence():
    nt, nc = 1000, 7
    counts, first = L.tracer_cell_counts(0, nc, n_total=nt, n_cells_global=nc)
    i = np.arange(nc)
    assert np.array_equal(counts, (i + 1) * nt // nc - i * nt // nc)
    assert counts.sum() == nt and np.array_equal(first, i * nt // nc)
    kw = dict(n_total=nt, n_cells_global=nc, p_min=0.5, p_max=20.0, sampling="flat_log_p")
    full = L.load_tracer_cells(9, 4, 0, nc, **kw)
    assert np.array_equal(np.floor(full[0]).astype(int), np.repeat(i, counts))
    for cuts in ([0, 3, 7], [0, 1, 2, 6, 7]):
        spans = zip(cuts[:-1], cuts[1:], strict=True)
        parts = [L.load_tracer_cells(9, 4, a, b - a, **kw) for a, b in spans]
        for k in range(5):
            assert np.array_equal(full[k], np.concatenate([p[k] for p in parts]))
    # per-cell counts: ids = cell * n + k, offset honoured
    x, ux, uy, uz, ids = L.load_tracer_cells(
        9, 4, 3, 2, n_per_cell=5, p_min=1.0, p_max=2.0, id_offset=10**9
    )
    assert np.array_equal(ids, 10**9 + np.arange(15, 25))
    other = L.load_tracer_cells(9, 5, 0, nc, **kw)  # other species: other stream
    assert not np.any(other[1] == full[1])


@pytest.mark.parametrize("keep", [None, slice(1, None, 3)])
def test_chunked_species_load_equals_one_call(keep):
    """Species.load fills its arrays chunk by chunk (bounded memory); the particles are
    bitwise those of one loader call for the whole domain (also for a replica's share)."""
    from pic1d.deck import parse_deck
    from pic1d.species import Species
    from tests.conftest import THERMAL_SPECIES

    text = """
[run]
duration = "1 steps"
[grid]
cells = 40
cells_per_de = 4
[plasma]
mass_ratio = 16
beta = 1.0
theta = 0.01
ppc = 30
""" + THERMAL_SPECIES
    cfg = parse_deck(text, name="t")
    sp = Species(cfg.species[1])
    sp.LOAD_CHUNK = 100  # 3 cells per chunk: 14 chunks, the last one partial
    sp.load(9, 2, 38, 40, keep=keep)
    c = cfg.species[1]
    ref = L.load_thermal_cells(9, c.index, c.position_group, 2, 38, c.ppc, c.theta,
                               anisotropy=c.anisotropy, drift=c.drift, placement=c.placement)
    sel = keep if keep is not None else slice(None)
    for got, want in zip(sp.live(), ref, strict=True):
        np.testing.assert_array_equal(got, want[sel])
