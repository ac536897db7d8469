"""Scenario files: the TOML is checked key by key, relative paths follow the file, overrides
reach the hyper-parameters, and a saved file is found by name in the run store."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.hparams import default_adaptation, hparams_for
from core.base.validation import ForgeLensError
from core.scenarios import describe
from core.scenarios.scenario_file import (
    read_scenario_file,
    register_table,
    save_scenario,
    to_toml,
)
from core.storage.store import RUNS_ENV
from tests.helpers.scenario_registry import restore_registries  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("restore_registries")

BASE = 'name = "x1"\nkind = "image-folder"\nroot = "data"\nsource = ["a"]\ntarget = ["b"]\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BASE + "colour = 3\n", "key\\(s\\) colour not known for kind='image-folder'"),
        (BASE.replace('"x1"', '"Has Space"'), "name='Has Space' is not allowed"),
        (BASE.replace('"image-folder"', '"video"'), "kind='video' is not known"),
        (BASE + "source = [\n", "is not valid TOML"),
        (BASE.replace('source = ["a"]\n', ""), "source is missing"),
    ],
)
def test_bad_scenario_files_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ForgeLensError, match=needle):
        read_scenario_file(path)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "s.toml"
    path.write_text(BASE)
    assert read_scenario_file(path)["root"] == str(tmp_path / "sub" / "data")


def test_overrides_and_defaults_reach_the_registry(tmp_path: Path) -> None:
    data = {
        "name": "with-overrides",
        "kind": "image-folder",
        "root": str(tmp_path),
        "source": ["a"],
        "target": ["b"],
        "adaptation": "full",
        "hparams": {"adapt_lr": 0.5, "adapt_epochs": 3},
    }
    register_table(data)
    hp = hparams_for("with-overrides")
    assert (hp.adapt_lr, hp.adapt_epochs, hp.arch) == (0.5, 3, "effnet-lite0")
    assert default_adaptation("with-overrides") == "full"
    with pytest.raises(ForgeLensError, match="\\[hparams\\] key\\(s\\) speed not known"):
        register_table({**data, "name": "bad-hp", "hparams": {"speed": 1}})
    with pytest.raises(ForgeLensError, match="is a built-in scenario"):
        register_table({**data, "name": "digits-to-mnist"})
    with pytest.raises(ForgeLensError, match="weights only with resnet18 or resnet50"):
        register_table({**data, "name": "effnet-weights", "weights": "/x.pth"})


def test_a_saved_file_is_found_by_name_in_the_default_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "runs"))
    data = {
        "name": "saved-one",
        "kind": "image-folder",
        "root": str(tmp_path),
        "source": ["a"],
        "target": ["b"],
        "description": "mine",
    }
    with pytest.raises(ForgeLensError, match="is relative"):
        save_scenario(None, to_toml({**data, "root": "data"}))
    path = save_scenario(None, to_toml(data))
    assert path == tmp_path / "runs" / "_scenarios" / "saved-one.toml"
    assert describe("saved-one") == "mine"  # registered on first use, from the store
