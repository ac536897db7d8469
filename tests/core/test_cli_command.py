"""The command line as a user meets it: the `forgelens` console script (installed by the
README's set-up, usable from any directory), "did you mean" for refused names, and warnings
that say once what they are about."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

from core.cli import main as cli
from core.run import duration

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_declares_the_forgelens_command_and_an_offline_build_backend() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["forgelens"] == "core.cli.main:console"
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    __import__("setuptools")  # the backend the Makefile's --no-build-isolation install uses
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"pip install .*--no-build-isolation -e \.", makefile)
    assert "forgelens" in (REPO / "README.md").read_text()


def test_the_forgelens_command_installs_offline_and_works_from_any_directory(
    tmp_path: Path,
) -> None:
    """The Makefile's install step into a fresh environment that sees this one's packages (no
    index, no download), then `forgelens` from an unrelated directory."""
    import site

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(target, "parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [venv / "bin" / "forgelens", "run", "--scenario", "digts-to-mnist"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "did you mean 'digits-to-mnist'?" in done.stderr
    assert list(elsewhere.iterdir()) == []  # a refused command writes nothing
    usage = subprocess.run(
        [venv / "bin" / "forgelens", "--help"], capture_output=True, text=True, cwd=elsewhere
    )
    assert usage.returncode == 0 and usage.stdout.startswith("usage: forgelens")


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["run", "--executor", "ry"], "did you mean 'ray'?"),
        (["run", "--set", "source_lrr=0.1"], "did you mean 'source_lr'?"),
        (["run", "--methods", "forg"], "did you mean 'forge'?"),
    ],
)
def test_a_refused_name_comes_with_the_close_one(argv, suggestion, capsys) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse refuses some before main's own checks
        code = exit_.code
    assert code == 2
    assert suggestion in capsys.readouterr().err


def test_a_warning_is_shown_once_as_one_line(monkeypatch, capsys) -> None:
    def warn_twice(args) -> int:
        for _ in range(2):  # e.g. a scenario's files read once to check and once to build
            note = "folder-x (/data/x): 3 file(s) that are not images were ignored"
            warnings.warn(note, UserWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(cli, "_dispatch", warn_twice)
    assert cli.main(["list"]) == 0
    err = capsys.readouterr().err
    assert err == "warning: folder-x (/data/x): 3 file(s) that are not images were ignored\n"


def _image_table(tmp_path: Path, name: str) -> Path:
    from core.scenarios.scenario_file import to_toml
    from tests.helpers.image_folders import make_folder

    folder = make_folder(tmp_path / "data")
    table = {
        "name": name,
        "kind": "image-folder",
        "root": str(folder),
        "source": ["a"],
        "target": ["b"],
        "image_size": 16,
    }
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(table))
    return path


def test_a_refused_run_leaves_no_scenario_registered(tmp_path: Path, capsys) -> None:
    from core.scenarios.scenario_file import scenarios_dir

    store = tmp_path / "store"
    path = _image_table(tmp_path, "shapes")
    # the file is fine, another argument is not: the command is refused after the file was read
    code = cli.main(["run", "--scenario-file", str(path), "--out", str(store), "--seeds", "-1"])
    assert code == 2
    assert not list(scenarios_dir(store).glob("*.toml"))  # not left registered
    cli.main(["run", "--scenario-file", str(path), "--out", str(store), "--methods", "forg"])
    assert "did you mean 'forge'?" in capsys.readouterr().err
    assert not list(scenarios_dir(store).glob("*.toml"))


def test_scenarios_lists_and_removes_saved_scenarios_keeping_runs(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from core.scenarios.file_builders import use_scenario_file
    from core.scenarios.scenario_file import scenarios_dir

    store = tmp_path / "store"
    use_scenario_file(_image_table(tmp_path, "shapes"), store)
    assert cli.main(["scenarios", "--out", str(store)]) == 0
    assert re.search(r"shapes\s+image-folder, 0 run\(s\)", capsys.readouterr().out)
    assert cli.main(["scenarios", "remove", "shape", "--out", str(store)]) == 2
    assert "did you mean 'shapes'?" in capsys.readouterr().err
    # its runs (planted folders, named as the store's run table would name them) are kept
    # unless --delete-runs says otherwise
    from core.cli import scenarios as command

    runs = [store / "0123456789abcdef", store / "fedcba9876543210"]
    for run in runs:
        run.mkdir()
    monkeypatch.setattr(command, "_runs_of", lambda root, name: [r.name for r in runs])
    assert cli.main(["scenarios", "remove", "shapes", "--out", str(store)]) == 0
    assert not (scenarios_dir(store) / "shapes.toml").exists()
    assert all(run.is_dir() for run in runs) and "2 run(s) are kept" in capsys.readouterr().out
    use_scenario_file(tmp_path / "shapes.toml", store)
    assert cli.main(["scenarios", "remove", "shapes", "--delete-runs", "--out", str(store)]) == 0
    assert not any(run.exists() for run in runs)


def test_run_says_the_expected_duration_from_the_one_estimator(tmp_path: Path, capsys) -> None:
    argv = ["run", "--scenario", "debug", "--methods", "random", "--budgets", "0.1"]
    argv += ["--seeds", "0", "--out", str(tmp_path), "--no-umap", "--device", "cpu"]
    assert cli.main(argv) == 0
    first = capsys.readouterr().err
    assert "expected: about" in first and "1 run(s) to compute, 0 reused" in first
    # an empty store: the documented default
    assert f"a default of {duration.DEFAULT_RUN_SECONDS:g} s per run" in first
    assert cli.main(argv) == 0
    assert "0 run(s) to compute, 1 reused" in capsys.readouterr().err
