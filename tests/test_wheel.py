"""The built wheel, installed into a fresh virtual environment outside the repository, runs the whole
command line: the plans, the reports and the bundled cohort ship as package data (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from conftest import ROOT


def _run(command: list[str], cwd: Path, timeout: int = 900) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout + done.stderr


def test_the_installed_wheel_works_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)], tmp_path
    )
    # the build prints no warning about the package's own configuration (license, package data)
    assert "BuildBackendWarning" not in built and "DeprecationWarning" not in built, built
    wheel = next(wheels.glob("itoutcomes-*.whl"))
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path)
    work = tmp_path / "elsewhere"  # no analyses/, reports/ or data/ here
    work.mkdir()
    itoutcomes = str(env / "bin" / "itoutcomes")
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> str:
        done = subprocess.run(
            [itoutcomes, *args],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=900,
            env=environment,
            check=False,
        )
        assert done.returncode == 0, (
            f"itoutcomes {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
        return done.stdout + done.stderr

    run("synth", "--n", "60", "--controls", "40", "--seed", "3", "--out", "cohort")
    # the shipped plans on the user's cohort, then on the shipped bundled cohort
    assert "from 7 plan(s)" in run("run", "--cohort", "cohort", "--out", "results")
    run("run", "--out", "bundled_results")
    assert (work / "bundled_results" / "pump" / "provenance.json").exists()
    out = run("report", "--cohort", "cohort", "--out", "reports")
    assert "report(s) in" in out and "Warning" not in out
    pages = sorted(p.name for p in (work / "reports").glob("*.html"))
    assert "pump.html" in pages and "validity.html" in pages and len(pages) == 8
    assert str(ROOT) not in (work / "results" / "overview" / "provenance.json").read_text()
