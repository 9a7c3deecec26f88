"""The command line: validate and synth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLED, write_tables

from itoutcomes.cli import main


def test_validate_valid_cohort(capsys):
    assert main(["validate", str(BUNDLED)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Cohort at {BUNDLED} is valid: 2000 patients")


def test_validate_reports_every_problem_and_exits_non_zero(tmp_path, tables, capsys):
    tables["pain"].loc[0, "nrs"] = 14
    tables["patients"]["mrn"] = ["1", "2", "3", "4"]
    assert main(["validate", str(write_tables(tmp_path, tables))]) == 1
    err = capsys.readouterr().err
    assert "failed validation with 2 problems" in err
    assert "pain.nrs has 1 value outside 0-10 (patient P01)" in err
    assert "patients.mrn has 4 values that look like an identifier" in err
    assert "Traceback" not in err


def test_validate_allow_identifier_flag(tmp_path, tables, capsys):
    tables["patients"]["mrn"] = ["1", "2", "3", "4"]
    folder = write_tables(tmp_path, tables)
    assert main(["validate", str(folder), "--allow-identifier", "patients.mrn"]) == 0
    assert main(["validate", str(folder), "--allow-identifier", "mrn"]) == 2
    assert "'allow_identifiers' parameter takes 'table.column'" in capsys.readouterr().err


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "itoutcomes.cli", "validate", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "missing folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_synth_rejects_bad_size(tmp_path, capsys):
    assert main(["synth", "--n", "0", "--out", str(tmp_path)]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_run_writes_whole_outputs_and_refuses_a_used_folder(tmp_path, capsys, monkeypatch):
    from itoutcomes import runner

    plan = str(Path(__file__).resolve().parents[1] / "analyses" / "overview.yaml")
    out = tmp_path / "out"
    assert main(["run", plan, "--cohort", str(BUNDLED), "--out", str(out)]) == 0
    before = sorted(p.name for p in out.rglob("*"))
    (out / "stale.csv").write_text("x\n")
    assert main(["run", plan, "--cohort", str(BUNDLED), "--out", str(out)]) == 2
    assert "is not empty: pass --overwrite" in capsys.readouterr().err
    assert main(["run", plan, "--cohort", str(BUNDLED), "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.rglob("*")) == before  # no stale file of the earlier run
    # a run that dies half way leaves the previous outputs as they were, and no partial folder
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "build_release", dies)
    with pytest.raises(KeyboardInterrupt):
        runner.run([plan], cohort=BUNDLED, out=out, overwrite=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_unwritable_output_paths_are_errors_not_tracebacks(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--cohort", str(BUNDLED), "--out", str(blocker / "x")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert main(["report", "--cohort", str(BUNDLED), "--out", str(blocker / "x")]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_run_prints_a_progress_line_per_step(tmp_path, capsys):
    analyses = Path(__file__).resolve().parents[1] / "analyses"
    plans = [str(analyses / "overview.yaml"), str(analyses / "conversion.yaml")]
    assert main(["run", *plans, "--cohort", str(BUNDLED), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "working (" not in err  # not a terminal: plain log lines only
    lines = err.splitlines()
    assert [line.split(":")[1].split()[0] for line in lines] == ["validated", "ran", "ran", "protected"]
    assert lines[0].startswith("itoutcomes run: validated synthetic: 2000 patients (")
    assert {line.split()[3] for line in lines[1:3]} == {"overview", "conversion"}


def test_on_a_terminal_run_also_shows_the_step_under_way(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    analyses = Path(__file__).resolve().parents[1] / "analyses"
    command = [
        sys.executable,
        "-c",
        "import sys; from itoutcomes.cli import main; sys.exit(main())",
        "run",
        str(analyses / "overview.yaml"),
        str(analyses / "complications.yaml"),
        "--cohort",
        str(BUNDLED),
        "--out",
        str(tmp_path / "out"),
    ]
    primary, secondary = pty.openpty()  # stderr is a terminal, stdout a pipe
    child = subprocess.Popen(command, stderr=secondary, stdout=subprocess.PIPE)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert child.wait(timeout=300) == 0
    text = seen.decode()
    assert "working (" in text and "\r\x1b[K" in text  # the live line, rewritten in place
    finished = [
        part for part in text.replace("\r\x1b[K", "\n").splitlines() if part.startswith("itoutcomes run: ")
    ]
    steps = [line.split(":")[1].split()[0] for line in finished if "working (" not in line]
    assert steps == ["validated", "ran", "ran", "protected"]
    assert "files from 2 plan(s) in" in child.stdout.read().decode()  # the summary on stdout, as ever
