"""Parameter sweeps (issue 12): expansion, deck validation, the Slurm job-array script,
``pic1d sweep --local`` and gathering a scalar across a sweep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from pic1d.cli import main as cli_main
from pic1d.deck import load_deck
from pic1d.sweep import (
    SweepError,
    build_points,
    expand,
    load_sweep,
    slurm_script,
    write_sweep,
)
from pic1d.units import derive

ROOT = Path(__file__).resolve().parents[1]
BASH = shutil.which("bash")

TOY_DECK = """
[run]
name = "toy"
seed = 5
duration = "60 steps"
[grid]
cells = 32
cells_per_de = 4
filter_passes = 2
[plasma]
mass_ratio = 8
beta = 2.0
theta = 0.05
ppc = 16
[compression]
profile = "power"
tau_c = "20 /Omega_i0"
[output]
history = "10 steps"
fields = 0
[output.spectra]
interval = 0
"""


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "base.toml"
    path.write_text(TOY_DECK)
    return path


def sweep_file(tmp_path: Path, body: str, name: str = "toy") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'base = "base.toml"\n{body}')
    return path


# ----------------------------------------------------------------------- expansion


def test_product_expansion_order_and_names(tmp_path, base):
    sw = load_sweep(sweep_file(tmp_path, """
[vary]
"plasma.beta" = [1.0, 2.0]
"plasma.theta" = [0.02, 0.05, 0.1]
"""))
    pts = expand(sw)
    assert len(pts) == 6
    # Cartesian product, first key slowest
    assert [(p["plasma.beta"], p["plasma.theta"]) for p in pts] == [
        (1.0, 0.02), (1.0, 0.05), (1.0, 0.1), (2.0, 0.02), (2.0, 0.05), (2.0, 0.1)]
    points = build_points(sw)
    assert [p.name for p in points] == [f"toy_{i:02d}" for i in range(6)]
    for p in points:  # the values reach the validated decks
        assert p.cfg.plasma.beta == p.values["plasma.beta"]
        assert p.cfg.plasma.theta == p.values["plasma.theta"]
        assert p.cfg.run.name == p.name and p.cfg.run.output == f"runs/{p.name}"


def test_zip_linked_keys_units_and_ranges(tmp_path, base):
    sw = load_sweep(sweep_file(tmp_path, """
mode = "zip"
run_name = "tau{compression.tau_c}"
[vary]
"compression.tau_c" = {start = "10 /Omega_i0", stop = "40 /Omega_i0", num = 3, log = true}
"grid.cells, run.duration" = [[32, "1 tau_c"], [48, "0.5 tau_c"], [64, "40 steps"]]
"""))
    points = build_points(sw)
    assert [p.values["compression.tau_c"] for p in points] == [
        "10 /Omega_i0", "20 /Omega_i0", "40 /Omega_i0"]
    assert [p.name for p in points] == ["tau10", "tau20", "tau40"]
    for p, tau, cells in zip(points, (10, 20, 40), (32, 48, 64), strict=True):
        c = p.cfg
        assert c.compression.tau_c * c.scales.omega_ci0 == pytest.approx(tau, rel=1e-12)
        assert c.grid.cells == cells
    # durations with units resolve against each point's own tau_c
    dt = points[0].cfg.grid.dt
    assert points[0].cfg.run.steps == round(points[0].cfg.compression.tau_c / dt)
    assert points[1].cfg.run.steps == round(0.5 * points[1].cfg.compression.tau_c / dt)
    assert points[2].cfg.run.steps == 40


def test_linear_range_step_integer_keys_and_species_by_name(tmp_path, base):
    sw = load_sweep(sweep_file(tmp_path, """
[vary]
"grid.cells" = {start = 32, stop = 48, step = 8}
"species.electrons.isotropic_forcing" = [false, true]
[set]
"species.ions.ppc" = 8
"output.spectra.interval" = "5 steps"
"""))
    points = build_points(sw)
    assert len(points) == 6
    cells = sorted({p.cfg.grid.cells for p in points})
    assert cells == [32, 40, 48] and all(isinstance(p.values["grid.cells"], int) for p in points)
    for p in points:  # the base deck has no [[species]]: the defaults are addressed by name
        e = p.cfg.species_by_name("electrons")
        assert e.isotropic_forcing is p.values["species.electrons.isotropic_forcing"]
        assert p.cfg.species_by_name("ions").ppc == 8 and e.ppc == 16
        assert p.cfg.output.spectra_every == 5


@pytest.mark.parametrize("body, expected", [
    ('[vary]\n"compression.tau" = [1, 2]\n', ["'compression.tau'", "tau_c"]),
    ('[vary]\n"species.protons.ppc" = [1, 2]\n', ["no species named 'protons'", "ions"]),
    # a top-level key written after [vary] lands in the table: reported as a bad deck key
    ('[vary]\n"plasma.beta" = [1, 2]\nmode = "zip"\n', ["[vary] 'mode'"]),
    ('mode = "zip"\n[vary]\n"plasma.beta" = [1, 2]\n"plasma.theta" = [0.1]\n',
     ["same number of values", "plasma.beta: 2", "plasma.theta: 1"]),
    ('[vary]\n"run.name" = ["a", "b"]\n', ["'run.name'", "set by the sweep"]),
    ('[vary]\n"plasma.beta" = {start = 1, stop = 2}\n', ["exactly one of num and step"]),
    ('[vary]\n"plasma.beta" = [1]\n[slurm]\nrankz = 4\n', ["rankz", "did you mean 'ranks'"]),
    ('[vary]\n"plasma.beta" = [1]\n[slurm]\ntime = "forever"\n', ["[slurm] time"]),
    ('bsae = 1\n[vary]\n"plasma.beta" = [1]\n', ["bsae", "did you mean 'base'"]),
])
def test_sweep_file_errors_name_the_key(tmp_path, base, body, expected):
    with pytest.raises(SweepError) as err:
        load_sweep(sweep_file(tmp_path, body))
    msg = str(err.value)
    for text in expected:
        assert text in msg


def test_invalid_point_is_reported_with_point_and_deck_key(tmp_path, base):
    body = '[vary]\n"grid.cfl" = [0.4, 1.5]\n"plasma.beta" = [-1.0]\n'
    sw = load_sweep(sweep_file(tmp_path, body))
    with pytest.raises(SweepError) as err:
        build_points(sw)
    msg = str(err.value)
    assert "point 0" in msg and "point 1" in msg and "[plasma] beta" in msg
    assert "grid.cfl = 1.5" in msg and "[grid] cfl" in msg
    # the CLI reports it without a traceback, exit status 2, nothing written
    out = tmp_path / "never"
    assert cli_main(["sweep", str(sw.path), "--output", str(out)]) == 2
    assert not out.exists()


def test_table_f_sweeps_reproduce_the_table_f_decks():
    """Every point of decks/sweeps/*.toml equals a decks/table_f deck (except its name)."""
    table = {}
    for path in sorted((ROOT / "decks" / "table_f").glob("*.toml")):
        cfg = load_deck(path)
        table[json.dumps(derive(cfg).as_dict(), sort_keys=True)] = cfg
    found = set()
    for path in sorted((ROOT / "decks" / "sweeps").glob("*.toml")):
        points = build_points(load_sweep(path))
        assert len(points) >= 4
        for p in points:
            key = json.dumps(derive(p.cfg).as_dict(), sort_keys=True)
            assert key in table, f"{path.name} point {p.name} matches no Table F deck"
            ref = table[key]
            for section in ("grid", "plasma", "species", "output", "checkpoint", "parallel"):
                assert getattr(p.cfg, section) == getattr(ref, section), (p.name, section)
            assert p.cfg.compression.tau_c == ref.compression.tau_c
            assert replace(p.cfg.run, name="", output="") == replace(ref.run, name="", output="")
            found.add(ref.run.name)
    assert len(found) == len(table)  # every Table F row is in some sweep


# ----------------------------------------------------------------------------- Slurm


def fake_tools(tmp_path: Path, pic1d_body: str) -> tuple[Path, Path]:
    """A fake pic1d (a bash script) and a fake scontrol recording its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    record = tmp_path / "record.txt"
    (bindir / "scontrol").write_text(f'#!/bin/bash\necho "scontrol $*" >> {record}\n')
    (bindir / "fake-pic1d").write_text(
        f'#!/bin/bash\necho "pic1d $*" >> {record}\n'
        'RUN=""; if [ "$1" = run ]; then RUN="$4"; else RUN="$2"; fi\n'
        'mkdir -p "$RUN"\n' + pic1d_body)
    for f in bindir.iterdir():
        f.chmod(0o755)
    return bindir, record


def make_script_sweep(tmp_path: Path, base: Path, pic1d: str) -> tuple[Path, list]:
    sw = load_sweep(sweep_file(tmp_path, f"""
[vary]
"plasma.beta" = [1.0, 2.0, 3.0]
[slurm]
ranks = 4
threads = 2
time = "1-00:00:00"
partition = "cpu"
account = "proj"
max_parallel = 2
launcher = "env"
pic1d = "{pic1d}"
modules = ["gcc/12"]
setup = ["export SETUP_DONE=1"]
"""))
    points = build_points(sw)
    sd = write_sweep(sw, points, tmp_path / "sweep")
    return sd, points


def run_task(sd: Path, bindir: Path, task: int, send_usr1_after: float | None = None):
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
           "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_JOB_ID": "777",
           "SLURM_JOB_ID": "778"}
    # `module` does not exist here: define a no-op so the script's module lines pass
    script = sd / "sweep.sbatch"
    wrapper = f'module() {{ :; }}; export -f module; exec {BASH} {script}'
    proc = subprocess.Popen([BASH, "-c", wrapper], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if send_usr1_after is not None:
        time.sleep(send_usr1_after)
        proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_slurm_script_header_and_syntax(tmp_path, base):
    sd, points = make_script_sweep(tmp_path, base, "pic1d")
    text = (sd / "sweep.sbatch").read_text()
    assert subprocess.run([BASH, "-n", str(sd / "sweep.sbatch")]).returncode == 0
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --ntasks=4", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --time=1-00:00:00", "#SBATCH --partition=cpu",
                 "#SBATCH --account=proj", "#SBATCH --requeue",
                 "#SBATCH --signal=B:USR1@300", "module load gcc/12", "export SETUP_DONE=1",
                 "NAMES=(toy_00 toy_01 toy_02)", 'scontrol requeue "$JOB"'):
        assert line in text
    assert f"SWEEP_DIR={sd.resolve()}" in text
    again = slurm_script(load_sweep(tmp_path / "toy.toml"), points, sd).splitlines()
    lines = text.splitlines()
    assert len(again) == len(lines) == len(set(range(len(lines))))
    assert [a for a, b in zip(again, lines, strict=True) if a != b] in ([], [again[2]])


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_slurm_script_requeue_logic(tmp_path, base):
    """Run the array script with a fake pic1d and scontrol: requeue exactly when pic1d
    exits 0 without run.json status "finished"; restart from a checkpoint."""
    status_file = tmp_path / "next_status"
    body = (f'S=$(cat {status_file}); RC=0; [ "$S" = fail ] && RC=3\n'
            'printf \'{"name": "x",\\n "status": "%s"}\\n\' "$S" > "$RUN/run.json"\n'
            'exit $RC\n')
    bindir, record = fake_tools(tmp_path, body)
    sd, points = make_script_sweep(tmp_path, base, str(bindir / "fake-pic1d"))

    # 1. run stops (checkpoint, exit 0) before the end -> requeued, once
    status_file.write_text("running")
    rc, out = run_task(sd, bindir, 1)
    lines = record.read_text().splitlines()
    assert rc == 0, out
    assert lines == ["pic1d run decks/toy_01.toml --output runs/toy_01 --overwrite",
                     "scontrol requeue 777_1"]
    # 2. requeued with a checkpoint -> `pic1d restart`; finished -> no requeue
    (sd / "runs/toy_01/checkpoints/ckpt_000000100").mkdir(parents=True)
    status_file.write_text("finished")
    record.unlink()
    rc, out = run_task(sd, bindir, 1)
    assert rc == 0, out
    assert record.read_text().splitlines() == ["pic1d restart runs/toy_01"]
    # 3. a finished run is not started again
    record.unlink()
    rc, out = run_task(sd, bindir, 1)
    assert rc == 0 and not record.exists() and "already finished" in out
    # 4. pic1d fails -> exit status passed on, no requeue
    status_file.write_text("fail")
    rc, out = run_task(sd, bindir, 2)
    assert rc == 3, out
    assert record.read_text().splitlines() == [
        "pic1d run decks/toy_02.toml --output runs/toy_02 --overwrite"]


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_slurm_script_forwards_usr1_then_requeues(tmp_path, base):
    """SIGUSR1 to the batch shell reaches pic1d, which checkpoints and exits 0."""
    body = ('trap \'printf "{\\"status\\": \\"running\\"}" > "$RUN/run.json"; '
            'echo "pic1d got USR1" >> ' + str(tmp_path / "record.txt") + '; exit 0\' USR1\n'
            'for i in $(seq 100); do sleep 0.1; done\n'
            'printf \'{"status": "finished"}\' > "$RUN/run.json"\n')
    bindir, record = fake_tools(tmp_path, body)
    sd, _ = make_script_sweep(tmp_path, base, str(bindir / "fake-pic1d"))
    t0 = time.perf_counter()
    rc, out = run_task(sd, bindir, 0, send_usr1_after=1.5)
    assert rc == 0, out
    assert time.perf_counter() - t0 < 8  # did not run to the end
    assert record.read_text().splitlines() == [
        "pic1d run decks/toy_00.toml --output runs/toy_00 --overwrite", "pic1d got USR1",
        "scontrol requeue 777_0"]
    assert "SIGUSR1" in out


# ------------------------------------------------------------------ writing, --local


def test_dry_run_writes_nothing(tmp_path, base, capsys):
    path = sweep_file(tmp_path, '[vary]\n"plasma.beta" = [1.0, 2.0]\n')
    out = tmp_path / "s"
    assert cli_main(["sweep", str(path), "--output", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert not out.exists()
    assert "toy_00" in text and "toy_01" in text and "sweep.sbatch" in text
    assert "core-hours" in text and "--array=0-1" in text


def test_rewrite_is_idempotent_and_other_sweeps_are_refused(tmp_path, base):
    path = sweep_file(tmp_path, '[vary]\n"plasma.beta" = [1.0, 2.0]\n')
    out = tmp_path / "s"
    assert cli_main(["sweep", str(path), "--output", str(out)]) == 0
    deck = (out / "decks/toy_00.toml").read_text()
    assert cli_main(["sweep", str(path), "--output", str(out)]) == 0  # same sweep: fine
    assert (out / "decks/toy_00.toml").read_text() == deck
    other = sweep_file(tmp_path, '[vary]\n"plasma.beta" = [1.0, 4.0]\n')
    assert cli_main(["sweep", str(other), "--output", str(out)]) == 2
    assert cli_main(["sweep", str(other), "--output", str(out), "--force"]) == 0
    assert "beta = 4.0" in (out / "decks/toy_01.toml").read_text()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """A 2-point toy sweep run with `pic1d sweep --local` (tiny decks, 60 steps)."""
    tmp = tmp_path_factory.mktemp("local")
    (tmp / "base.toml").write_text(TOY_DECK)
    path = sweep_file(tmp, 'run_name = "beta{plasma.beta}"\n'
                           '[vary]\n"plasma.beta" = [1.0, 4.0]\n')
    out = tmp / "sweep"
    t0 = time.perf_counter()
    rc = cli_main(["sweep", str(path), "--output", str(out), "--local"])
    return out, rc, time.perf_counter() - t0


def test_local_runs_every_point(local_sweep):
    out, rc, _ = local_sweep
    assert rc == 0
    index = json.loads((out / "index.json").read_text())
    assert [r["name"] for r in index["runs"]] == ["beta1", "beta4"]
    b0 = []
    for row in index["runs"]:
        run = out / row["run_dir"]
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "finished" and info["final_step"] == 60
        with h5py.File(run / "history.h5", "r") as f:
            b0.append(float(f.attrs["B0"]))
            assert int(f.attrs["n_rows"]) == 7
    assert b0[0] / b0[1] == pytest.approx(2.0, rel=1e-12)  # B0 ~ beta^(-1/2)
    # a second --local skips the finished runs
    sweep_file_path = out / "sweep.toml"
    t0 = time.perf_counter()
    assert subprocess.run([sys.executable, "-m", "pic1d", "sweep", str(sweep_file_path),
                           "--output", str(out), "--local"], cwd=out.parent,
                          capture_output=True).returncode in (0, 2)
    assert time.perf_counter() - t0 < 30


def test_gather_scalar_matches_history(local_sweep, tmp_path):
    from postprocess.sweep import gather, main, power_law_fit

    out, rc, _ = local_sweep
    assert rc == 0
    table = gather(out, ["wave_energy", "hist:energy_total", "last:B_x", "anisotropy"],
                   late=0.5)
    assert table.names == ["beta1", "beta4"] and table.x_name == "plasma.beta"
    np.testing.assert_array_equal(table.x, [1.0, 4.0])
    for i, name in enumerate(table.names):
        with h5py.File(out / "runs" / name / "history.h5", "r") as f:
            n = int(f.attrs["n_rows"])
            late = slice(n // 2, n)  # the last half of the 7 rows: rows 3..6
            db = f["dB2_over_B2"][:n]
            et = f["energy_total"][:n]
            bx = f["B_x"][:n]
            an = f["anisotropy_ions"][:n]
        assert table.values["wave_energy"][i] == pytest.approx(db[late].mean(), rel=1e-12)
        assert table.values["hist:energy_total"][i] == pytest.approx(et[late].mean(),
                                                                      rel=1e-12)
        assert table.values["last:B_x"][i] == bx[-1]
        assert table.values["anisotropy"][i] == pytest.approx(an[late].mean(), rel=1e-12)
    # two points: the power law goes through both
    fit = power_law_fit(table.x, table.values["last:B_x"])
    np.testing.assert_allclose(fit(table.x), table.values["last:B_x"], rtol=1e-12)
    # the command line writes the table and the figure
    figs = tmp_path / "figs"
    assert main([str(out), "--quantity", "last:B_x", "wave_energy", "--x",
                 "beta", "--out", str(figs)]) == 0
    assert (figs / "sweep_last-B_x_wave_energy.png").stat().st_size > 1000
    rows = (figs / "sweep_last-B_x_wave_energy.csv").read_text().splitlines()
    assert rows[0].startswith("name,status,beta,plasma.beta,last:B_x,wave_energy")
    assert len(rows) == 3


def test_power_law_fit_recovers_exponent_with_errors():
    from postprocess.sweep import power_law_fit

    x = np.array([200.0, 400, 800, 1600, 3200])
    rng = np.random.default_rng(0)
    y = 3.0 * x**-0.7 * np.exp(0.01 * rng.standard_normal(x.size))
    fit = power_law_fit(x, y)
    assert fit.b == pytest.approx(-0.7, abs=3 * fit.b_err) and fit.b_err < 0.05
    assert power_law_fit([1.0], [2.0]) is None


def test_validation_bandpass_keeps_the_growth_rate():
    """The growth-rate measurement of `make validate` (validation/checks.py): a Gaussian
    band-pass around +omega_r keeps exp((gamma - i omega_r) t) growing at gamma while it
    removes an opposite-polarisation wave and broadband noise above the seed."""
    from validation.checks import bandpass

    t = np.arange(0.0, 40.0, 0.1)
    gamma, omega = 0.15, 0.6
    rng = np.random.default_rng(1)
    wave = 3e-3 * np.exp((gamma - 1j * omega) * t)
    other = 1e-2 * np.exp(1j * omega * t)  # same |omega|, other polarisation
    noise = 1e-2 * (rng.standard_normal(t.size) + 1j * rng.standard_normal(t.size))
    sigma = 1.0 / (3 * gamma)
    f = bandpass(wave + other + noise, t, omega, sigma)
    win = (t > 3 * sigma + 8) & (t < t[-1] - 3 * sigma)
    g = 0.5 * np.polyfit(t[win], np.log(np.abs(f[win]) ** 2), 1)[0]
    assert g == pytest.approx(gamma, rel=0.02)
    clean = bandpass(wave, t, omega, sigma)  # a pure exponential: a constant factor
    inner = (t > 4 * sigma) & (t < t[-1] - 4 * sigma)
    ratio = np.abs(clean[inner] / wave[inner])
    np.testing.assert_allclose(ratio, ratio[0], rtol=2e-3)  # kernel cut at 4 sigma


def _marginal_window(tau_c: float, beta: float, delta: float, drift: float = 0.0,
                     ppc: int = 2048) -> dict:
    """A synthetic late window of a compressing run (validation.checks.marginal_points)."""
    n = 40
    d = delta + drift * np.linspace(-0.5, 0.5, n)
    return {"beta_par": np.full(n, beta), "delta": d, "beta_mean": beta,
            "delta_mean": float(np.mean(d)), "beta0": 20.0, "t_from": 0.9 * tau_c,
            "t_to": tau_c, "tau_c": tau_c, "ppc": ppc}


def _marginal_track(tau_c: float, s: float, alpha: float, beta_exponent: float) -> dict:
    """A synthetic ion history of a compressing run to 1.41 tau_c: an anisotropy maximum
    of 1.0 at 0.4 tau_c, then Delta_i = s beta_par,i^-alpha (+-2 % ripple) with
    beta_par,i = 10 (1 + t/tau_c)^-beta_exponent."""
    th = np.linspace(0.0, 1.41 * tau_c, 2821)
    beta = 10.0 * (1.0 + th / tau_c) ** -beta_exponent
    delta = s * beta**-alpha * (1.0 + 0.02 * np.sin(th / 3.0))
    delta[np.argmin(np.abs(th - 0.4 * tau_c))] = 1.0
    return {"track": (th, beta, delta), "t_aniso_peak": 0.4 * tau_c, "tau_c": tau_c}


def test_validation_study_fit_within_the_run():
    """Check 2.S800fit: S and alpha fitted to the late (beta_par, Delta) track of one run
    (the later half of the time from the anisotropy peak to the end) recover the law the
    track was made with; a window spanning too little beta_par decides nothing."""
    from validation.checks import _study_fit

    c = _study_fit("2", _marginal_track(800.0, 0.45, 0.4, 2.0))
    assert c.id == "2.S800fit" and c.passed is True
    assert abs(c.details["S"] / 0.45 - 1) < 0.02 and abs(c.details["alpha"] - 0.4) < 0.01
    assert abs(c.details["t_from"] / 800.0 - 0.905) < 1e-3
    assert abs(c.details["beta_span"] - (2.41 / 1.905) ** 2) < 0.01
    assert _study_fit("2", _marginal_track(800.0, 0.8, 0.4, 2.0)).passed is False
    assert _study_fit("2", _marginal_track(800.0, 0.45, 0.7, 2.0)).passed is False
    flat = _study_fit("2", _marginal_track(800.0, 0.45, 0.4, 1.0))  # beta x1.27
    assert flat.passed is None and "not determined" in flat.measured


def test_validation_study_marginal_law_with_noise_correction():
    """Check 2.S800 of `make validate-extended`: S = Delta_i beta^alpha of the tau_c = 800
    run, its error from the window's drift, and its extrapolation to infinite ppc from the
    same run at a quarter of the ppc (bias linear in 1/ppc); the check passes only if both
    the raw and the extrapolated S are in the study's 0.3-0.6 (and Delta_i in the band)."""
    from validation.checks import _study_marginal, noise_extrapolation

    # S_inf - c/ppc at 2048 and 512 ppc recovers S_inf exactly
    s_inf, c_noise = 0.55, 40.0
    s_hi, s_lo = s_inf - c_noise / 2048, s_inf - c_noise / 512
    ext = noise_extrapolation([s_hi, s_lo], [0.0, 0.0], [2048, 512])
    assert ext["S_inf"] == pytest.approx(s_inf) and ext["c"] == pytest.approx(-c_noise)
    # errors: S_inf = (4 S_hi - S_lo) / 3 for 2048 vs 512 ppc
    ext = noise_extrapolation([s_hi, s_lo], [0.03, 0.03], [2048, 512])
    assert ext["S_inf_err"] == pytest.approx(0.03 * np.hypot(4 / 3, 1 / 3))
    assert ext["dof"] == 0 and np.isnan(ext["pull"])
    # a third ppc on the line: exact, no residual, a smaller error than from two runs
    s_mid = s_inf - c_noise / 1024
    ext3 = noise_extrapolation([s_hi, s_mid, s_lo], [0.03] * 3, [2048, 1024, 512])
    assert ext3["S_inf"] == pytest.approx(s_inf) and ext3["dof"] == 1
    assert ext3["pull"] == pytest.approx(0.0, abs=1e-9)
    assert ext3["S_inf_err"] < ext["S_inf_err"]
    # the error and the pull are the propagated ones: a Monte-Carlo of the run errors
    rng = np.random.default_rng(3)
    sig = np.array([0.01, 0.02, 0.005])
    draws = [noise_extrapolation([s_hi, s_mid, s_lo] + rng.normal(0, sig), sig,
                                 [2048, 1024, 512]) for _ in range(4000)]
    ext_w = noise_extrapolation([s_hi, s_mid, s_lo], sig, [2048, 1024, 512])
    assert np.std([d["S_inf"] for d in draws]) == pytest.approx(ext_w["S_inf_err"], rel=0.05)
    assert np.mean([d["pull"] for d in draws]) == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)
    # a middle point off the line by 3 sigma is flagged
    off = noise_extrapolation([s_hi, s_mid + 0.09, s_lo], [0.03] * 3, [2048, 1024, 512])
    assert off["pull"] > 2.0
    with pytest.raises(ValueError, match="two or more different ppc"):
        noise_extrapolation([s_hi, s_lo], [0.01, 0.01], [512, 512])

    alpha, beta = 0.35, 4.9
    slow = _marginal_window(800.0, beta, s_hi * beta**-alpha, drift=0.02)
    control = _marginal_window(800.0, beta, s_lo * beta**-alpha, ppc=512)
    c = _study_marginal("2", slow, [control], alpha)
    assert c.id == "2.S800" and c.passed
    assert c.details["ppc_control"] == [512] and c.details["noise_dof"] == 0
    assert c.value == pytest.approx(s_hi, rel=1e-12)
    assert c.details["S_noise_corrected"] == pytest.approx(s_inf, rel=1e-12)
    assert c.details["noise_bias"] == pytest.approx(c_noise / 2048, rel=1e-9)
    # the error: the difference of the two half-window means (drift 0.02 over the window)
    assert c.details["S_err"] == pytest.approx(0.01 * beta**alpha, rel=0.06)
    # a noise bias that carries S out of the band fails the check
    noisy = _marginal_window(800.0, beta, (s_hi - 0.25) * beta**-alpha, ppc=512)  # S_inf 0.61
    assert _study_marginal("2", slow, [noisy], alpha).passed is False
    # and without a control the raw S decides
    assert _study_marginal("2", slow, [], alpha).passed is True
    high = _marginal_window(800.0, beta, 0.70 * beta**-alpha)
    assert _study_marginal("2", high, [], alpha).passed is False
    # two controls (1024 and 512 ppc) on the same line: the same S_inf, linearity tested
    mid = _marginal_window(800.0, beta, (s_inf - c_noise / 1024) * beta**-alpha, ppc=1024)
    c3 = _study_marginal("2", slow, [mid, control], alpha)
    assert c3.details["S_noise_corrected"] == pytest.approx(s_inf, rel=1e-6)
    assert c3.details["noise_dof"] == 1 and "1024 ppc" in c3.measured
    # the late state's linear growth rate, when known, is reported with the check
    c = _study_marginal("2", {**slow, "gamma_L": 0.012}, [control], alpha)
    assert c.details["gamma_L_late"] == 0.012 and "gamma_L,max = 0.012" in c.measured


def test_validation_late_growth_rate_of_the_window(tmp_path):
    """The linear growth rate reported with check 2.S800: the classic proton-cyclotron
    state (beta_par,p = 1, T_perp/T_par = 2, isotropic electrons beta_e = 1, m_p/m_e =
    1836; gamma_max ~ 0.044 Omega_p, Gary 1993) inside the window 30-35 /Omega_i0 of a
    history whose B doubles (gamma in the instantaneous Omega_p), a weaker anisotropy
    (T_perp/T_par = 1.5) outside it: the window's gamma_L,max is the classic one."""
    from validation.checks import late_growth_rate

    mass_ratio, n_t = 1836.0, 41
    b = 1e-4 * np.sqrt(mass_ratio) * np.linspace(1.0, 2.0, n_t)
    omega_ci0 = b[0] / mass_ratio
    t_ci = np.linspace(0.0, 40.0, n_t)  # 1/Omega_i0
    n = (b / b[0]) ** 2  # v_A/c = 1e-4 throughout
    t_par = 0.5 * b[0] ** 2  # beta_par = 2 n T / B^2 = 1 throughout
    a_ion = np.where((t_ci >= 29.5) & (t_ci <= 35.5), 2.0, 1.5)
    with h5py.File(tmp_path / "history.h5", "w") as f:
        f["time"] = t_ci / omega_ci0  # 1/omega_pe0
        f["B_x"] = b
        for name, a in (("electrons", np.ones(n_t)), ("ions", a_ion)):
            f[f"n_{name}"] = n
            f[f"T_par_{name}"] = np.full(n_t, t_par)
            f[f"T_perp_{name}"] = a * t_par
        f.attrs["species_names"] = ["electrons", "ions"]
        f.attrs["species_charge"] = [-1.0, 1.0]
        f.attrs["species_mass"] = [1.0, mass_ratio]
        f.attrs["species_tracer"] = [False, False]
        f.attrs["mass_ratio"] = mass_ratio
        f.attrs["B0"] = b[0]
        f.attrs["omega_ci0"] = omega_ci0
    gamma = late_growth_rate(tmp_path, 30.0, 35.0)
    assert abs(gamma / 0.044 - 1) < 0.02, gamma
    assert late_growth_rate(tmp_path, 5.0, 10.0) < 0.5 * gamma  # A = 1.5 outside


def test_validation_study_beta_at_the_end():
    """Check 2.beta800 (study Fig. 1(e)): the total beta halves by 1.41 tau_c (within
    10 %) with ions hotter than electrons; a shorter run decides nothing."""
    from validation.checks import beta_verdict

    c = beta_verdict("2", 1.41, 20.0, 9.4, 1.3)
    assert c.id == "2.beta800" and c.passed is True and abs(c.value - 0.47) < 1e-12
    assert beta_verdict("2", 1.41, 20.0, 11.2, 1.3).passed is False  # ratio 0.56
    assert beta_verdict("2", 1.41, 20.0, 8.8, 1.3).passed is False  # ratio 0.44
    assert beta_verdict("2", 1.41, 20.0, 10.0, 0.9).passed is False  # electrons hotter
    short = beta_verdict("2", 1.0, 20.0, 10.0, 1.3)
    assert short.passed is None and "not decided" in short.measured


def test_validation_resumes_an_interrupted_run(tmp_path, monkeypatch):
    """`make validate` continues an interrupted run of an unchanged deck from its
    checkpoint (`pic1d restart`), extends a run whose deck changed only in duration
    (`pic1d run DECK --restart latest`), reruns a deck with other physics from scratch
    (`pic1d run --overwrite`), and leaves a finished run alone."""
    import subprocess

    from validation import run as vrun

    deck = vrun.RUNS["compression_ic_beta2"]
    calls = []
    monkeypatch.setattr(subprocess, "run",
                        lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    run_dir = tmp_path / "compression_ic_beta2"
    (run_dir / "checkpoints" / "ckpt_000000100").mkdir(parents=True)
    (run_dir / "deck.toml").write_text(deck.read_text())
    (run_dir / "run.json").write_text('{"status": "checkpointed"}')
    vrun.ensure_run("compression_ic_beta2", tmp_path, False, None, False)
    assert calls[-1][-2:] == ["restart", str(run_dir)]
    vrun.ensure_run("compression_ic_beta2", tmp_path, True, None, False)  # --rerun
    assert calls[-1][-5:] == ["run", str(deck), "--output", str(run_dir), "--overwrite"]
    text = deck.read_text()
    (run_dir / "deck.toml").write_text(text.replace("seed = ", "seed = 1"))  # new physics
    vrun.ensure_run("compression_ic_beta2", tmp_path, False, None, False)
    assert calls[-1][-5:] == ["run", str(deck), "--output", str(run_dir), "--overwrite"]
    # the run's deck was shorter (same physics): extended from its checkpoint
    short = text.replace('duration = "1.0 tau_c"', 'duration = "0.5 tau_c"')
    assert short != text
    (run_dir / "deck.toml").write_text(short)
    (run_dir / "run.json").write_text('{"status": "finished"}')
    vrun.ensure_run("compression_ic_beta2", tmp_path, False, None, False)
    assert calls[-1][-6:] == ["run", str(deck), "--output", str(run_dir), "--restart",
                              "latest"]
    vrun.ensure_run("compression_ic_beta2", tmp_path, True, None, False)  # --rerun
    assert calls[-1][-1] == "--overwrite"
    # a deck that ends before the run's newest checkpoint: run again from the start
    (run_dir / "checkpoints" / "ckpt_000000100").rename(
        run_dir / "checkpoints" / "ckpt_999999999")
    out = vrun.ensure_run("compression_ic_beta2", tmp_path, False, None, False)
    assert calls[-1][-1] == "--overwrite"
    # the (mocked) run left the old deck in place: the run counts as stale
    assert out["status"].startswith("missing or stale")
    (run_dir / "checkpoints" / "ckpt_999999999").rename(
        run_dir / "checkpoints" / "ckpt_000000100")
    (run_dir / "deck.toml").write_text(deck.read_text())
    (run_dir / "run.json").write_text('{"status": "finished"}')
    n = len(calls)
    out = vrun.ensure_run("compression_ic_beta2", tmp_path, False, None, False)
    assert len(calls) == n and out["status"] == "finished"
