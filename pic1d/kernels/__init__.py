"""Numba kernels of pic1d: pure functions on preallocated arrays.

Every kernel is compiled with ``numba.njit(cache=True)``; none of them allocates inside
the per-step path (the callers own all buffers). Layouts and units follow
``docs/conventions.md``:

* particle positions ``x`` are float64 in global cell units; array coordinate
  ``xa = x - x_offset`` with ``x_offset = i_lo - N_GHOST`` (so array index ``j`` holds
  global integer node ``i = j + i_lo - N_GHOST`` and half node ``i + 1/2``);
* momenta ``ux, uy, uz`` are ``u = gamma v / c`` (float64 or float32);
* field arrays have length ``n_local + 2 * N_GHOST``.

Submodules
----------
interp   : particle shape functions (CIC, TSC) and the field gather.
push     : relativistic Boris push with co-moving compression factors.
deposit  : Esirkepov current deposit, charge deposit, periodic halo fold/fill.
filter   : 1-2-1 binomial filter passes.
fields   : collocation to integer nodes, Yee updates of the co-moving b' and d'.
moments  : density / flux / momentum-flux moments, kinetic energy sums.
"""

N_GHOST = 3
"""Number of ghost cells on each side of every field array."""


def _init_threading():
    """Start numba's threading layer now.

    Work-around for numba issue #8578: a cached (``cache=True``) non-parallel jitted
    function that calls a parallel kernel does not re-initialise the threading layer when
    it is loaded from the cache, and segfaults. Launching the threads at import makes any
    caller (e.g. a jitted time-step driver) safe.
    """
    from numba.np.ufunc.parallel import _launch_threads

    _launch_threads()


_init_threading()

from pic1d.kernels.deposit import (  # noqa: E402
    deposit_charge,
    deposit_current,
    fill_ghosts_periodic,
    fold_ghosts_periodic,
)
from pic1d.kernels.fields import advance_b, advance_d, collocate_fields  # noqa: E402
from pic1d.kernels.filter import binomial_pass, binomial_passes_periodic  # noqa: E402
from pic1d.kernels.moments import (  # noqa: E402
    deposit_moments,
    kinetic_energy_sum,
    velocity_moments,
)
from pic1d.kernels.push import push_boris  # noqa: E402

__all__ = [
    "N_GHOST",
    "advance_b",
    "advance_d",
    "binomial_pass",
    "binomial_passes_periodic",
    "collocate_fields",
    "deposit_charge",
    "deposit_current",
    "deposit_moments",
    "fill_ghosts_periodic",
    "fold_ghosts_periodic",
    "kinetic_energy_sum",
    "push_boris",
    "velocity_moments",
]
