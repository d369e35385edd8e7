"""Property-based deck mutation: every invalid deck is a DeckError naming the key (issue 2)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pic1d.cli import main
from pic1d.deck import DeckError, parse_deck
from tests.conftest import to_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VALID = {
    "run": {"name": "fuzz", "duration": "5 /Omega_i0", "seed": 3},
    "grid": {"cells": 32, "cells_per_de": 4.0, "cfl": 0.45, "filter_passes": 2},
    "plasma": {"mass_ratio": 8.0, "beta": 2.0, "theta": 0.05},
    "compression": {"profile": "power", "tau_c": "100 /Omega_i0"},
    "species": [
        {"name": "ions", "charge": 1.0, "mass": "m_i", "ppc": 4},
        {"name": "electrons", "charge": -1.0, "mass": 1.0, "ppc": 4},
    ],
    "output": {"history": "10 steps", "fields": "1 /Omega_i0"},
}

# (section, key) -> kind of constraint, for targeted mutations
POSITIVE = [
    ("grid", "cells"),
    ("grid", "cells_per_de"),
    ("plasma", "mass_ratio"),
    ("plasma", "beta"),
    ("plasma", "theta"),
    ("species", "ppc"),
]
FLOATS = [
    ("grid", "cells_per_de"),
    ("grid", "cfl"),
    ("plasma", "mass_ratio"),
    ("plasma", "beta"),
    ("plasma", "theta"),
    ("species", "charge"),
]
ALL_KEYS = [(s, k) for s, tbl in VALID.items() if isinstance(tbl, dict) for k in tbl] + [
    ("species", k) for k in VALID["species"][0]
]


def _set(deck: dict, section: str, key: str, value) -> None:
    if section == "species":
        deck["species"][0][key] = value
    else:
        deck[section][key] = value


mutations = st.one_of(
    st.tuples(
        st.just("unknown"),
        st.sampled_from([s for s in VALID]),
        st.from_regex(r"[a-z]{3,12}_x", fullmatch=True),
    ),
    st.tuples(
        st.just("type"), st.sampled_from(ALL_KEYS), st.sampled_from([[1, 2], {"a": 1}, True])
    ),
    st.tuples(
        st.just("negative"), st.sampled_from(POSITIVE), st.floats(min_value=-1e6, max_value=-1e-6)
    ),
    st.tuples(st.just("nan"), st.sampled_from(FLOATS), st.just(float("nan"))),
    st.tuples(st.just("missing"), st.sampled_from(["run", "grid", "plasma"]), st.none()),
)


def _apply(mutation) -> tuple[dict, str]:
    kind, target, value = mutation
    deck = copy.deepcopy(VALID)
    if kind == "unknown":
        section = target
        if section == "species":
            deck["species"][0][value] = 1
        else:
            deck[section][value] = 1
        return deck, value
    if kind == "missing":
        del deck[target]
        return deck, f"[{target}]"
    section, key = target
    if kind == "negative" and key in ("cells", "ppc"):
        value = int(value) - 1
    _set(deck, section, key, value)
    return deck, key


def test_valid_base_deck_is_valid():
    assert parse_deck(to_toml(VALID)).run.name == "fuzz"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=mutations)
def test_mutated_deck_is_rejected_naming_the_key(mutation, tmp_path_factory):
    deck, key = _apply(mutation)
    text = to_toml(deck)
    assert tomllib.loads(text) == deck or mutation[0] == "nan"
    with pytest.raises(DeckError) as exc:
        parse_deck(text)
    assert key in str(exc.value), (mutation, str(exc.value))
    # the CLI: exit status 2, no run directory created
    tmp = tmp_path_factory.mktemp("fuzz")
    out = tmp / "run_dir"
    if "run" in deck:
        deck["run"]["output"] = str(out)
    path = tmp / "deck.toml"
    path.write_text(to_toml(deck))
    assert main(["run", str(path)]) == 2
    assert main(["info", str(path)]) == 2
    assert not out.exists()
    assert sorted(p.name for p in tmp.iterdir()) == ["deck.toml"]


def test_console_script_exits_2_without_traceback(tmp_path):
    deck = copy.deepcopy(VALID)
    deck["grid"]["cfl"] = 1.5
    deck["run"]["output"] = str(tmp_path / "out")
    path = tmp_path / "bad.toml"
    path.write_text(to_toml(deck))
    exe = Path(sys.executable).with_name("pic1d")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pic1d"]
    proc = subprocess.run([*cmd, "run", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "[grid] cfl = 1.5: must be in (0, 1)" in proc.stderr
    assert not (tmp_path / "out").exists()
