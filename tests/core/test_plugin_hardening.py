"""Plugins as first-class (issues 26 items 6, 7 and 27 item 2): a `module:Class` selector without
a name of its own has its runs kept; a selector never changes what the others see; a contract
broken at run time fails with the rule and a pointer to check_selector, no traceback; a plugin
that breaks the contract is refused before the sweep writes anything; installed plugins join a
sweep only when named (or with --with-plugins)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from core import selection
from core.cli.main import main
from core.run.sweep import run_sweep
from core.selection import registry
from core.selection.plugins import stored_name
from core.selection.pool_guard import ContractViolation
from core.storage.store import RunStore

PLUGINS = textwrap.dedent(
    """
    import numpy as np

    from core.selection import Selector


    class Nameless(Selector):  # no `name`: registered under its spec
        def _select(self, pool, n_picks, seed):
            return np.random.default_rng(seed).permutation(pool.n)[:n_picks]


    class EditsPoolWhenLarge(Selector):  # passes the contract's tiny pools, then edits z
        name = "edits-pool-when-large"

        def _select(self, pool, n_picks, seed):
            if pool.n > 60:
                pool.z_t.mul_(0.5)
            return np.arange(n_picks)


    class FloatsWhenLarge(Selector):  # passes the contract's tiny pools, then floats
        name = "floats-when-large"

        def _select(self, pool, n_picks, seed):
            picks = np.arange(n_picks)
            return picks + 0.5 if pool.n > 60 else picks


    class EditsLogits(Selector):
        name = "edits-logits"

        def _select(self, pool, n_picks, seed):
            pool.logits *= 0
            return np.arange(n_picks)
    """
)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch):
    """The module above importable as `fl_test_plugins`; the registry restored afterwards."""
    (tmp_path / "fl_test_plugins.py").write_text(PLUGINS)
    monkeypatch.syspath_prepend(str(tmp_path))
    selectors, sources = registry.SELECTORS.snapshot(), dict(registry.PLUGIN_SOURCES)
    yield
    registry.SELECTORS.restore(selectors)
    registry.PLUGIN_SOURCES.clear()
    registry.PLUGIN_SOURCES.update(sources)
    registry._discovered = False


@pytest.fixture
def trained_store(trained) -> Path:
    """The session's trained debug source model cache (copied into each test's store)."""
    return trained[2]


def _store(models: Path, path: Path) -> Path:
    shutil.copytree(models, path / "_models")
    return path


def test_a_nameless_module_class_plugin_keeps_its_runs(plugins, trained_store, tmp_path):
    root = _store(trained_store, tmp_path / "runs")
    spec = "fl_test_plugins:Nameless"
    first = run_sweep("debug", [spec], [0.1], [0, 1], root=str(root), device="cpu")
    store = RunStore(root)
    assert sorted(store.run_ids()) == sorted(first)
    assert store.load_config(first[0])["config"]["method"] == "fl_test_plugins.Nameless"
    again = run_sweep("debug", [spec], [0.1], [0, 1], root=str(root), device="cpu")
    assert again == first and store.damaged() == []
    assert sorted(RunStore(root).run_ids()) == sorted(first)


def test_stored_names_are_plain() -> None:
    assert stored_name("pkg.mod:Cls") == "pkg.mod.Cls"
    odd = stored_name("pkg.mod:Outer.In ner" + "x" * 200)
    assert len(odd) <= 128 and ":" not in odd and " " not in odd


def test_a_selector_editing_the_pool_at_run_time_fails_by_name(plugins, trained_store, tmp_path):
    """The other selectors' runs are those of a clean sweep; the offending run is not stored."""
    root = _store(trained_store, tmp_path / "runs")
    methods = ["random", "fl_test_plugins:EditsPoolWhenLarge", "coreset"]
    with pytest.raises(ContractViolation, match=r"'edits-pool-when-large' changed .* z_t"):
        run_sweep("debug", methods, [0.1], [0], root=str(root), device="cpu")
    store = RunStore(root)
    (random_id,) = store.run_ids()
    assert store.load_config(random_id)["config"]["method"] == "random"
    clean = run_sweep("debug", ["random", "coreset"], [0.1], [0], root=str(root), device="cpu")
    assert clean[0] == random_id and len(store.run_ids()) == 2


def test_a_run_time_contract_violation_is_one_sentence(plugins, trained_store, tmp_path, capsys):
    root = _store(trained_store, tmp_path / "runs")
    args = ["run", "--scenario", "debug", "--methods", "fl_test_plugins:FloatsWhenLarge"]
    args += ["--budgets", "0.1", "--seeds", "0", "--out", str(root), "--device", "cpu"]
    assert main([*args, "--no-umap", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "'floats-when-large' returned indices of dtype float64" in err
    assert "rule 1" in err and "check_selector" in err
    assert RunStore(root).run_ids() == []


def test_a_plugin_breaking_the_contract_is_refused_before_anything_is_written(
    plugins, tmp_path, capsys
):
    root = tmp_path / "runs"
    args = ["run", "--scenario", "debug", "--methods", "random,fl_test_plugins:EditsLogits"]
    args += ["--budgets", "0.1", "--seeds", "0", "--out", str(root), "--device", "cpu"]
    assert main([*args, "--no-umap", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "'edits-logits' (fl_test_plugins:EditsLogits) breaks the selector contract" in err
    assert "inputs are left unchanged" in err and "check_selector" in err
    written = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert written == []  # not even the source model or the pool


def _install(site: Path) -> None:
    info = site / "fl_test_plugins-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fl-test-plugins\n")
    (info / "entry_points.txt").write_text(
        "[forgelens.selectors]\nnameless-installed = fl_test_plugins:Nameless\n"
    )


def test_installed_plugins_join_a_sweep_only_when_asked(
    plugins, trained_store, tmp_path, monkeypatch
) -> None:
    site = tmp_path / "site"
    _install(site)
    monkeypatch.syspath_prepend(str(site))
    registry._discovered = False
    assert "nameless-installed" in selection.available()
    assert "nameless-installed" not in selection.default_methods()
    assert "nameless-installed" in selection.default_methods(plugins=True)
    from core.cli.main import parser

    assert "nameless-installed" not in parser().parse_args(["run"]).methods
    root = _store(trained_store, tmp_path / "runs")
    args = ["run", "--scenario", "debug", "--methods", "random", "--budgets", "0.1"]
    args += ["--seeds", "0", "--out", str(root), "--device", "cpu", "--no-umap", "--quiet"]
    assert main(args) == 0
    assert {
        RunStore(root).load_config(r)["config"]["method"] for r in RunStore(root).run_ids()
    } == {"random"}
    assert main([*args, "--with-plugins"]) == 0
    methods = {RunStore(root).load_config(r)["config"]["method"] for r in RunStore(root).run_ids()}
    assert methods == {"random", "nameless-installed"}
