"""Deck parsing, unit strings, validation messages (issue 2)."""

from __future__ import annotations

import math
import sys

import pytest

from pic1d.deck import DeckError, load_deck, parse_deck
from pic1d.quantity import Quantity, QuantityError, UnitScales, parse_quantity
from tests.conftest import DECKS, to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# PIC decks (decks/fokker_planck/ holds Fokker-Planck model configs and decks/sweeps/
# sweep files; both have their own tests)
ALL_DECKS = sorted(
    p for p in DECKS.rglob("*.toml") if not {"fokker_planck", "sweeps"} & set(p.parts)
)

MINIMAL = """
[run]
duration = "10 /Omega_i0"
[grid]
cells = 64
cells_per_de = 4
[plasma]
mass_ratio = 16
beta = 1.0
theta = 0.01
"""


@pytest.mark.parametrize("path", ALL_DECKS, ids=[str(p.relative_to(DECKS)) for p in ALL_DECKS])
def test_every_shipped_deck_parses(path):
    cfg = load_deck(path)
    assert cfg.run.steps > 0
    assert cfg.grid.dt == pytest.approx(cfg.grid.cfl / cfg.grid.cells_per_de, rel=1e-15)
    # neutrality of the thermal plasma is enforced
    assert sum(s.charge * s.density for s in cfg.species if not s.tracer) == pytest.approx(
        0, abs=1e-12
    )


def test_minimal_deck_defaults_and_physics():
    cfg = parse_deck(MINIMAL)
    names = [s.name for s in cfg.species]
    assert names == ["ions", "electrons"]
    ions, el = cfg.species
    assert ions.mass == 16 and el.mass == 1
    # beta = 2 sum n T / B0^2 with T_i = T_e = theta
    assert 2 * (ions.temperature + el.temperature) / cfg.plasma.B0**2 == pytest.approx(
        1.0, rel=1e-14
    )
    # duration 10/Omega_i0 with Omega_i0 = B0/m_i
    omega_ci0 = cfg.plasma.B0 / 16
    assert cfg.run.steps == round(10 / omega_ci0 / cfg.grid.dt)


@pytest.mark.parametrize(
    "text, unit, value",
    [
        ("1.41 tau_c", "tau_c", 1.41),
        ("0.94 /Omega_i0", "/Omega_i0", 0.94),
        ("800 /Omega_i0", "/Omega_i0", 800.0),
        ("1000 steps", "steps", 1000.0),
        ("5 /omega_pe0", "/omega_pe0", 5.0),
        ("2.5e3 steps", "steps", 2500.0),
        (7, "", 7.0),
    ],
)
def test_time_quantities_parse(text, unit, value):
    q = parse_quantity(text, "time")
    assert q == Quantity(value, unit)
    # round trip through str
    assert parse_quantity(str(q), "time") == q if unit else True


@pytest.mark.parametrize(
    "text, unit",
    [("80 rho_i0", "rho_i0"), ("4608 cells", "cells"), ("10 d_e0", "d_e0"), ("2 d_i0", "d_i0")],
)
def test_length_quantities_parse(text, unit):
    assert parse_quantity(text, "length").unit == unit


@pytest.mark.parametrize(
    "bad", ["1 parsec", "fast", "1 tau_c extra", "nan steps", "", "1e400 steps"]
)
def test_bad_quantities_rejected(bad):
    with pytest.raises(QuantityError):
        parse_quantity(bad, "time")


def test_wrong_dimension_rejected_with_allowed_units():
    with pytest.raises(QuantityError, match="rho_i0") as exc:
        parse_quantity("10 steps", "length")
    assert "not a length" in str(exc.value)


def test_unit_conversions_against_hand_values():
    s = UnitScales(dt=0.05, dx=0.1, omega_ci0=0.025, tau_c=32000.0, d_i0=2.0, rho_i0=6.0)
    assert s.time(parse_quantity("0.94 /Omega_i0", "time")) == pytest.approx(37.6)
    assert s.steps(parse_quantity("0.94 /Omega_i0", "time")) == 752
    assert s.time(parse_quantity("1.5 tau_c", "time")) == pytest.approx(48000.0)
    assert s.cells(parse_quantity("80 rho_i0", "length")) == 4800
    assert s.length(parse_quantity("100 cells", "length")) == pytest.approx(10.0)


def test_problems_are_all_reported_together():
    bad = MINIMAL.replace("cells = 64", "cells = -3\ncfl = 1.2\nfilter_pases = 2")
    bad = bad.replace("beta = 1.0", "beta = -1.0")
    with pytest.raises(DeckError) as exc:
        parse_deck(bad)
    msg = str(exc.value)
    assert "[grid] cells = -3" in msg
    assert "[grid] cfl = 1.2: must be in (0, 1)" in msg
    assert "did you mean 'filter_passes'" in msg
    assert "[plasma] beta = -1.0" in msg
    assert len(exc.value.problems) >= 4


def test_tracer_isotropic_forcing_forbidden():
    deck = (
        MINIMAL
        + """
[[species]]
name = "ions"
charge = 1
mass = "m_i"
[[species]]
name = "electrons"
charge = -1
mass = 1
[[species]]
name = "cre"
tracer = true
isotropic_forcing = true
ppc = 2
p_min = 1
p_max = 10
"""
    )
    with pytest.raises(DeckError, match="isotropic forcing is never applied to test particles"):
        parse_deck(deck)


def test_non_neutral_plasma_rejected():
    deck = (
        MINIMAL
        + """
[[species]]
name = "ions"
charge = 2
mass = "m_i"
[[species]]
name = "electrons"
charge = -1
mass = 1
"""
    )
    with pytest.raises(DeckError, match="must be neutral"):
        parse_deck(deck)


def test_compression_units_and_profile():
    deck = (
        MINIMAL.replace('duration = "10 /Omega_i0"', 'duration = "1.5 tau_c"')
        + """
[compression]
profile = "power"
tau_c = "100 /Omega_i0"
"""
    )
    cfg = parse_deck(deck)
    omega_ci0 = cfg.plasma.B0 / 16
    assert cfg.compression.tau_c == pytest.approx(100 / omega_ci0)
    sf = cfg.compression.scale_factors
    t = cfg.run.duration
    assert sf.a(t)[1] == pytest.approx(1 / (1 + t / cfg.compression.tau_c), rel=1e-14)
    assert sf.a(t)[0] == 1.0
    # B_x = B0/(a_y a_z): 2.5^2 at 1.5 tau_c
    assert 1 / (sf.a(t)[1] * sf.a(t)[2]) == pytest.approx(6.25, rel=1e-3)


def test_tau_c_unit_without_compression_is_an_error():
    deck = MINIMAL.replace('duration = "10 /Omega_i0"', 'duration = "1 tau_c"')
    with pytest.raises(DeckError, match="tau_c"):
        parse_deck(deck)


def test_cfl_check_uses_smallest_a_x():
    from pic1d.units import derive, stability_errors

    deck = (
        MINIMAL.replace('duration = "10 /Omega_i0"', 'duration = "2 tau_c"')
        + """
[compression]
profile = "power"
tau_c = "100 /Omega_i0"
axes = ["x"]
"""
    )
    cfg = parse_deck(deck)
    d = derive(cfg)
    # a_x = 1/(1 + t/tau_c) reaches 1/3: Courant number 0.45 * 3 > 1
    assert d.a_x_min == pytest.approx(1 / 3, rel=1e-4)  # duration rounded to whole steps
    assert d.courant_max == pytest.approx(1.35, rel=1e-4)
    errors = stability_errors(d)
    assert errors and "cfl/a_x" in errors[0]


def test_expansion_singularity_detected():
    deck = (
        MINIMAL.replace('duration = "10 /Omega_i0"', 'duration = "2 tau_c"')
        + """
[compression]
profile = "power"
tau_c = "-100 /Omega_i0"
"""
    )
    with pytest.raises(DeckError, match="singularity"):
        parse_deck(deck)


def test_not_toml():
    with pytest.raises(DeckError, match="not valid TOML"):
        parse_deck("[run\nx=")


def test_roundtrip_serialiser_matches_shipped_deck():
    raw = tomllib.loads((DECKS / "fiducial.toml").read_text())
    assert tomllib.loads(to_toml(raw)) == raw
    assert not math.isnan(load_deck(DECKS / "fiducial.toml").grid.dx)
