"""Scenario files: the TOML is checked key by key, relative paths follow the file, overrides
reach the hyper-parameters, and a saved file is found by name in the run store."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.validation import ForgeLensError
from core.scenarios import available, describe, scenario_entry
from core.scenarios.file_builders import check_table, save_table
from core.scenarios.scenario_file import check_absolute, read_scenario_file, save_scenario, to_toml
from core.storage.store import RUNS_ENV
from tests.helpers.scenario_files import file_entry

BASE = 'name = "x1"\nkind = "image-folder"\nroot = "data"\nsource = ["a"]\ntarget = ["b"]\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BASE + "colour = 3\n", "key\\(s\\) colour not known for kind='image-folder'"),
        (BASE.replace('"x1"', '"Has Space"'), "name='Has Space' is not allowed"),
        (BASE.replace('"image-folder"', '"video"'), "kind='video' is not known"),
        (BASE + "source = [\n", "is not valid TOML"),
        (BASE.replace('source = ["a"]\n', ""), "source is missing"),
        # wrong-typed values: a quoted "false" would be true, a number is no path
        (BASE + 'skip_unreadable = "false"\n', "skip_unreadable='false' is not allowed; allowed: "),
        (BASE + "image_size = 9.5\n", r"image_size=9.5 is not allowed; allowed: a positive"),
        (BASE + "split_seed = true\n", "split_seed=True is not allowed"),
        (BASE.replace('target = ["b"]', "target = []"), r"target=\[\] is not allowed"),
        (BASE.replace('root = "data"', "root = 5"), "root=5 is not allowed"),
        (
            BASE.replace('kind = "image-folder"', 'kind = "text-files"').replace(
                'root = "data"', 'files = ["a.csv"]\nmodel = 5'
            ),
            "model=5 is not allowed; allowed: a local model folder path",
        ),
        (BASE + "[hparams]\nadapt_lr = 0.1\n", None),
    ],
)
def test_bad_scenario_files_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    if needle is None:  # the well-typed control
        read_scenario_file(path)
        return
    with pytest.raises(ForgeLensError, match=needle):
        read_scenario_file(path)


@pytest.mark.parametrize("root", ["/", "/proc", "/proc/self", "/sys/class", "//"])
def test_a_system_folder_is_no_image_root(tmp_path: Path, root: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE.replace('"data"', f'"{root}"'))
    with pytest.raises(ForgeLensError, match=f"root={root!r} is not allowed"):
        check_absolute(read_scenario_file(path))
    with pytest.raises(ForgeLensError, match=f"root={root!r} is not allowed"):
        save_table(tmp_path, read_scenario_file(path))
    assert not (tmp_path / "_scenarios").exists()  # nothing saved


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "s.toml"
    path.write_text(BASE)
    assert read_scenario_file(path)["root"] == str(tmp_path / "sub" / "data")


def test_overrides_and_defaults_reach_the_entry(tmp_path: Path) -> None:
    data = {
        "name": "with-overrides",
        "kind": "image-folder",
        "root": str(tmp_path),
        "source": ["a"],
        "target": ["b"],
        "adaptation": "full",
        "hparams": {"adapt_lr": 0.5, "adapt_epochs": 3},
    }
    entry = file_entry(data)
    hp = entry.hparams()
    assert (hp.adapt_lr, hp.adapt_epochs, hp.arch) == (0.5, 3, "effnet-lite0")
    assert entry.adaptation == "full"
    assert entry.hparams("paper").adapt_lr == 1e-4  # the preset applies on top of the file's
    with pytest.raises(ForgeLensError, match="\\[hparams\\] key\\(s\\) speed not known"):
        file_entry({**data, "name": "bad-hp", "hparams": {"speed": 1}})
    with pytest.raises(ForgeLensError, match="is a built-in scenario"):
        check_table({**data, "name": "digits-to-mnist"})
    with pytest.raises(ForgeLensError, match="weights only with resnet18 or resnet50"):
        file_entry({**data, "name": "effnet-weights", "weights": "/x.pth"})


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
    assert describe("saved-one") == "mine"  # found in the default store
    assert "saved-one" in available()
    assert scenario_entry("saved-one").table["root"] == str(tmp_path)


def _table(root: Path, name: str, **extra) -> dict:
    return {
        "name": name,
        "kind": "image-folder",
        "root": str(root),
        "source": ["a"],
        "target": ["b"],
        **extra,
    }


def test_two_stores_with_one_name_never_see_each_other(tmp_path: Path) -> None:
    """Two stores hold different files under the same name; one process reads both, in both
    orders, and each store's entry is its own; the built-in registry never changes."""
    from core.scenarios import SCENARIOS

    before = SCENARIOS.names()
    first, second = tmp_path / "one", tmp_path / "two"
    save_scenario(first, to_toml(_table(tmp_path / "a", "shared", description="first")))
    save_scenario(second, to_toml(_table(tmp_path / "b", "shared", hparams={"adapt_lr": 0.5})))
    for _ in range(2):
        one, two = scenario_entry("shared", first), scenario_entry("shared", second)
        assert (one.table["root"], two.table["root"]) == (str(tmp_path / "a"), str(tmp_path / "b"))
        assert (one.description, describe("shared", second)) == ("first", two.description)
        assert one.hparams().adapt_lr != two.hparams().adapt_lr == 0.5
    assert "shared" not in available(tmp_path / "three")
    with pytest.raises(ForgeLensError, match="scenario='shared' is not allowed"):
        scenario_entry("shared", tmp_path / "three")
    assert SCENARIOS.names() == before
    with pytest.raises(ForgeLensError, match="built-ins only"):
        SCENARIOS.add("shared", "x:Y")


def test_a_broken_saved_file_is_reported_and_the_others_still_work(tmp_path: Path) -> None:
    save_scenario(tmp_path, to_toml(_table(tmp_path, "good")))
    folder = tmp_path / "_scenarios"
    (folder / "latin.toml").write_bytes(
        'name = "latin"\ndescription = "caf\xe9"\n'.encode("latin-1")
    )
    (folder / "typo.toml").write_text('name = "other"\n' + to_toml(_table(tmp_path, "x"))[10:])
    assert available(tmp_path)[-1] == "good"
    from core.scenarios import saved_scenarios

    _, broken = saved_scenarios(tmp_path)
    (folder / "m5.toml").write_text(
        to_toml({**_table(tmp_path, "m5"), "kind": "text-files"}).replace(
            f'root = "{tmp_path}"', 'files = ["/x.csv"]\nmodel = 5'
        )
    )
    assert available(tmp_path)[-1] == "good"
    _, broken = saved_scenarios(tmp_path)
    assert sorted(broken) == ["latin.toml", "m5.toml", "typo.toml"]
    assert "UTF-8" in broken["latin.toml"] and "model=5 is not allowed" in broken["m5.toml"]
    assert "m5" not in available(tmp_path)
    with pytest.raises(ForgeLensError, match="cannot be read"):
        scenario_entry("latin", tmp_path)
