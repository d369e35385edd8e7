"""The derived-parameter code reproduces the reference study's Table F (issue 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pic1d.cli import main
from tests.conftest import DECKS

#: the reference study's Table F as printed (a copy of ../shared/design/table_f.csv)
TABLE = DECKS / "table_f" / "table_f.csv"


def _rows():
    with TABLE.open() as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _deck_for(row) -> Path:
    mr, beta, theta = float(row["mass_ratio"]), float(row["beta"]), float(row["theta"])
    theta = 0.025 if theta == 0.03 else theta
    param = {
        "fiducial": "",
        "vary_tau_c": f"_tau{int(float(row['tau_c_Omega_i0']))}",
        "vary_theta": f"_theta{theta:g}",
        "vary_mass_ratio": f"_mr{mr:g}",
        "vary_beta": f"_beta{beta:g}",
    }[row["purpose"]]
    return DECKS / "table_f" / f"{row['purpose']}{param}.toml"


def test_every_row_has_a_deck_and_is_reproduced(capsys):
    rows = _rows()
    assert len(rows) == 15
    worst = {}
    for row in rows:
        deck = _deck_for(row)
        assert deck.exists(), deck
        assert main(["info", "--json", str(deck)]) == 0
        info = json.loads(capsys.readouterr().out)
        checks = {
            "vA_over_c": float(row["vA_over_c"]),
            "L_over_rho_i0": float(row["L_over_rho_i0"]),
            "output_interval_Omega_i0": float(row["intv_Omega_i0"]),
            "tau_c_Omega_i0": float(row["tau_c_Omega_i0"]),
            "cells": float(row["cells"]),
            "mass_ratio": float(row["mass_ratio"]),
            "beta": float(row["beta"]),
        }
        if row["dur_over_tau_c"]:
            checks["duration_tau_c"] = float(row["dur_over_tau_c"])
        for key, expected in checks.items():
            rel = abs(info[key] / expected - 1)
            worst[key] = max(worst.get(key, 0), rel)
            # the table prints 2-3 significant digits; 5 % is the tolerance
            assert rel < 0.05, f"{deck.name}: {key} = {info[key]:.4g}, table {expected}"
        assert info["steps_total"] == int(row["dur_steps"])
    # the achieved agreement (documented in docs/reference-study.md)
    assert worst["vA_over_c"] < 0.02  # the table prints v_A0/c with 2 digits
    assert worst["L_over_rho_i0"] < 0.025
    assert worst["output_interval_Omega_i0"] < 0.025
