"""1-2-1 binomial filter (VALIDATION.md item 7)."""

import math

import numpy as np
import pytest

from pic1d.kernels import N_GHOST
from pic1d.kernels.filter import binomial_pass, binomial_passes_periodic

NG = N_GHOST


@pytest.mark.parametrize("n_passes", [1, 5, 32])
def test_delta_response_is_binomial(n_passes):
    """N passes on a delta: C(2N, N + m) / 4^N at offset m (exact big-integer reference)."""
    n_local = 160
    a = np.zeros(n_local + 2 * NG)
    j0 = NG + 50
    a[j0] = 1.0
    binomial_passes_periodic(a, np.zeros_like(a), n_passes, n_local)
    expect = np.zeros_like(a)
    for m in range(-n_passes, n_passes + 1):
        expect[j0 + m] = math.comb(2 * n_passes, n_passes + m) / 4**n_passes
    sl = slice(NG, NG + n_local)
    err = np.max(np.abs(a[sl] - expect[sl]))
    print(f"filter delta N={n_passes}: max abs err {err:.1e}")
    assert err < 1e-16
    assert abs(a[sl].sum() - 1.0) < 1e-14  # total preserved


@pytest.mark.parametrize("n_passes", [1, 8, 32])
def test_transfer_function(n_passes):
    """Fourier mode m: amplitude multiplied by cos^(2N)(k dx / 2), k dx = 2 pi m / n."""
    n_local = 64
    j = np.arange(n_local)
    tmp = np.zeros(n_local + 2 * NG)
    worst = 0.0
    for m in (1, 3, 8, 16, 31):
        for phase in (0.0, 0.7):
            a = np.zeros(n_local + 2 * NG)
            a[NG:NG + n_local] = np.cos(2 * np.pi * m * j / n_local + phase)
            expect = np.cos(np.pi * m / n_local) ** (2 * n_passes) * a[NG:NG + n_local]
            binomial_passes_periodic(a, tmp, n_passes, n_local)
            worst = max(worst, np.max(np.abs(a[NG:NG + n_local] - expect)))
    print(f"filter transfer N={n_passes}: max abs err {worst:.1e}")
    assert worst < 1e-12


def test_pass_range_and_ghosts():
    """One pass only touches [j_lo, j_hi); the periodic driver leaves filled ghosts."""
    rng = np.random.default_rng(0)
    a = rng.random(20)
    b = a.copy()
    binomial_pass(a, np.zeros(20), 5, 12)
    assert np.array_equal(a[:5], b[:5]) and np.array_equal(a[12:], b[12:])
    assert np.allclose(a[5:12], 0.25 * b[4:11] + 0.5 * b[5:12] + 0.25 * b[6:13], rtol=1e-15)
    n_local = 20 - 2 * NG
    binomial_passes_periodic(a, np.zeros(20), 3, n_local)
    assert np.array_equal(a[:NG], a[n_local:n_local + NG])
    assert np.array_equal(a[NG + n_local:], a[NG:2 * NG])
