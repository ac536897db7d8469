"""Selector plugins and the contract checker: every registered selector passes check_selector,
broken selectors fail it, and TypiClust runs in sweeps by `module:Class` and by entry point."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from core import selection
from core.base.validation import ForgeLensError
from core.cli.main import main
from core.run.sweep import run_sweep
from core.selection import Selector, check_selector, registry
from core.selection.contract import SelectorContractError
from core.selection.embeddings import PoolEmbedding
from core.storage.store import RunStore
from examples.typiclust import TypiClust, cluster_labels

SPEC = "examples.typiclust:TypiClust"


@pytest.fixture
def clean_registry():
    """Restore the selector registry and plugin bookkeeping after a test that registers."""
    selectors, sources = registry.SELECTORS.snapshot(), dict(registry.PLUGIN_SOURCES)
    yield
    registry.SELECTORS.restore(selectors)
    registry.PLUGIN_SOURCES.clear()
    registry.PLUGIN_SOURCES.update(sources)
    registry._discovered = False


# the registry as collected (installed plugins included): a new selector is checked untold
@pytest.mark.parametrize("name", selection.available())
def test_every_registered_selector_passes_the_contract(name: str) -> None:
    check_selector(name)


def test_the_typiclust_example_passes_the_contract() -> None:
    check_selector(TypiClust())


class _Duplicates(Selector):
    def _select(self, pool, n_picks, seed):
        return np.zeros(n_picks, dtype=np.int64)


class _ShortByOne(Selector):
    def _select(self, pool, n_picks, seed):
        return np.arange(n_picks - 1)


class _Unseeded(Selector):
    calls = 0

    def _select(self, pool, n_picks, seed):
        type(self).calls += 1
        return np.random.default_rng(type(self).calls).permutation(pool.n)[:n_picks]


class _Mutates(Selector):
    def _select(self, pool, n_picks, seed):
        pool.logits[0, 0] += 1.0
        return np.arange(n_picks)


class _MutatesTensor(Selector):
    def _select(self, pool, n_picks, seed):
        pool.z_t.mul_(0.0)
        return np.arange(n_picks)


class _MutatesNewSpace(Selector):
    def _select(self, pool, n_picks, seed):
        pool.space("badge").left_t.add_(1.0)  # a space it built itself, cached for the next
        return np.arange(n_picks)


class _FloatIndices(Selector):
    def _select(self, pool, n_picks, seed):
        return np.arange(n_picks) + 0.7  # truncated to arange(n_picks) before


class _CrashesOnOneClass(Selector):
    def _select(self, pool, n_picks, seed):
        second = np.sort(pool.logits, axis=1)[:, -2]  # IndexError when C = 1
        return np.argsort(second, kind="stable")[:n_picks]


class _RefusesOneClass(Selector):
    def _select(self, pool, n_picks, seed):
        if pool.n_classes < 2:
            raise ForgeLensError("logits has 1 class; allowed: at least 2")
        return np.arange(n_picks)


@pytest.mark.parametrize(
    ("broken", "needle"),
    [
        (_Duplicates, r"rule 2\): 7 unique indices"),
        (_ShortByOne, r"rule 1\): a 1-D array of exactly \d+ pool"),
        (_FloatIndices, r"dtype float64; the contract \(rule 1\): integer"),
        (_Unseeded, "same seed gives the same picks"),
        (_Mutates, "wrote into the shared pool"),
        (_MutatesTensor, "changed the shared pool's z_t"),
        (_MutatesNewSpace, "changed the shared pool's badge space left_t"),
        (_CrashesOnOneClass, "one class pool raised IndexError"),
    ],
)
def test_broken_selectors_fail_the_contract_naming_the_rule(broken, needle: str) -> None:
    with pytest.raises(SelectorContractError, match=needle):
        check_selector(broken())


def test_a_clear_refusal_of_a_degenerate_pool_is_allowed_and_reported() -> None:
    notes = check_selector(_RefusesOneClass)
    assert len(notes) == 1 and notes[0].startswith("one class: refused")


def _reference_typiclust(z: np.ndarray, n_picks: int, seed: int) -> list[int]:
    """The authors' loop written plainly (full distance matrices: a tiny pool only)."""
    labels = cluster_labels(z, min(n_picks, 500, len(z)), seed)
    ids, sizes = np.unique(labels, return_counts=True)
    clusters = sorted(
        (c for c, s in zip(ids, sizes, strict=True) if s > 5),
        key=lambda c: (-sizes[list(ids).index(c)], c),
    )
    labels = labels.copy()
    picks = []
    for i in range(n_picks):
        members = np.flatnonzero(labels == clusters[i % len(clusters)])
        feats = z[members].astype(np.float64)
        d2 = ((feats[:, None] - feats[None]) ** 2).sum(-1)
        k = min(20, len(members) // 2)
        nearest = np.sort(d2, axis=1)[:, 1 : k + 1]  # column 0: the point itself
        best = members[int(np.argmax(1 / (nearest.mean(1) + 1e-5)))]
        picks.append(int(best))
        labels[best] = -1
    return picks


def test_typiclust_matches_a_plain_reference_of_the_authors_loop() -> None:
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=6.0, size=(4, 3))
    z = np.concatenate([c + rng.normal(size=(30, 3)) for c in centres]).astype(np.float32)
    logits = rng.normal(size=(len(z), 3)).astype(np.float32)
    pool = PoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    for n_picks in (4, 9):
        picks = TypiClust().select(pool, n_picks, seed=1)
        assert picks.tolist() == _reference_typiclust(z.astype(np.float64), n_picks, 1)


def test_a_module_class_spec_runs_in_a_sweep_and_its_params_make_the_run_id(
    tmp_path: Path, clean_registry
) -> None:
    ids = run_sweep("debug", ["random", SPEC], [0.1], [0], root=str(tmp_path), device="cpu")
    store = RunStore(tmp_path)
    config = store.load_config(ids[1])["config"]
    assert config["method"] == "typiclust"
    assert config["selector"] == {"source": SPEC, "params": TypiClust().get_params()}
    assert "selector" not in store.load_config(ids[0])["config"]
    k = store.load_config(ids[1])["budget_count"]
    assert len(store.load_table(ids[1], "selection")) == k
    # a changed parameter default is a new run, never a reused one
    original = TypiClust.__init__.__defaults__
    TypiClust.__init__.__defaults__ = (5, 500, 10)
    try:
        (changed,) = run_sweep("debug", ["typiclust"], [0.1], [0], root=str(tmp_path), device="cpu")
    finally:
        TypiClust.__init__.__defaults__ = original
    assert changed != ids[1]


def test_bad_specs_are_named(clean_registry) -> None:
    with pytest.raises(ForgeLensError, match="module 'no_such_module' cannot be imported"):
        selection.resolve_methods(["no_such_module:Thing"])
    with pytest.raises(ForgeLensError, match="has no 'Nope'"):
        selection.resolve_methods(["examples.typiclust:Nope"])
    with pytest.raises(ForgeLensError, match="subclass of core.selection.Selector"):
        selection.resolve_methods(["examples.typiclust:cluster_labels"])


class _OldParameterName(Selector):
    """A plugin written when the count was called ``budget``: select calls _select positionally."""

    def _select(self, pool, budget, seed):
        return np.random.default_rng(seed).permutation(pool.n)[:budget]


def test_a_plugin_with_the_former_parameter_name_still_works() -> None:
    check_selector(_OldParameterName)
    z = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    pool = PoolEmbedding.from_arrays(z, z[:, :3], device="cpu")
    picks = _OldParameterName().select(pool, n_picks=6, seed=2)
    assert picks.tolist() == np.random.default_rng(2).permutation(30)[:6].tolist()


def _frames_in(error: BaseException, path: Path) -> list[int]:
    """Line numbers of the frames of ``error``'s traceback that lie in the file ``path``."""
    frames = traceback.extract_tb(error.__traceback__)
    return [f.lineno for f in frames if Path(f.filename).resolve() == path.resolve()]


def test_a_plugin_that_fails_to_import_keeps_its_own_traceback(
    tmp_path: Path, monkeypatch, clean_registry
) -> None:
    """The ForgeLensError's cause is the plugin's own ImportError, its traceback in the plugin."""
    plugin = tmp_path / "forgelens_plugin_missing_dep.py"
    plugin.write_text("import math\n\nimport forgelens_no_such_dependency  # line 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ForgeLensError, match="cannot be imported") as caught:
        selection.resolve_methods(["forgelens_plugin_missing_dep:Thing"])
    cause = caught.value.__cause__
    assert isinstance(cause, ModuleNotFoundError)
    assert cause.name == "forgelens_no_such_dependency"
    assert _frames_in(cause, plugin) == [3]


def test_a_broken_entry_point_plugin_keeps_its_own_traceback(
    tmp_path: Path, monkeypatch, clean_registry
) -> None:
    """A plugin whose import raises: the error names the entry point, its cause is the
    plugin's exception with the traceback into the plugin module."""
    site = tmp_path / "site"
    info = site / "forgelens_crashing-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: forgelens-crashing\n")
    (info / "entry_points.txt").write_text(
        "[forgelens.selectors]\ncrashing = forgelens_crashing_plugin:Crashing\n"
    )
    plugin = site / "forgelens_crashing_plugin.py"
    plugin.write_text("SETTINGS = {}\nLIMIT = SETTINGS['limit']  # line 2\n")
    monkeypatch.syspath_prepend(str(site))
    registry._discovered = False
    with pytest.raises(ForgeLensError, match="'crashing' .* cannot be loaded: 'limit'") as caught:
        selection.available()
    cause = caught.value.__cause__
    assert isinstance(cause, KeyError) and cause.args == ("limit",)
    assert _frames_in(cause, plugin) == [2]


class _OwnRuntimeError(Selector):
    def _select(self, pool, n_picks, seed):
        raise RuntimeError("the selector's own bug")


def test_a_selectors_own_error_in_the_contract_check_keeps_its_traceback() -> None:
    with pytest.raises(SelectorContractError, match="the selector's own bug") as caught:
        check_selector(_OwnRuntimeError)
    cause = caught.value.__cause__
    assert isinstance(cause, RuntimeError)
    assert traceback.extract_tb(cause.__traceback__)[-1].name == "_select"


def _fake_installed_plugin(site: Path) -> None:
    """A dist-info folder declaring TypiClust in the forgelens.selectors group, as
    `pip install -e examples/` would write it."""
    info = site / "forgelens_typiclust_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: forgelens-typiclust-example\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(f"[forgelens.selectors]\ntypiclust = {SPEC}\n")


def test_an_installed_entry_point_plugin_runs_through_the_cli(
    tmp_path: Path, monkeypatch, capsys, clean_registry
) -> None:
    site = tmp_path / "site"
    _fake_installed_plugin(site)
    monkeypatch.syspath_prepend(str(site))  # as if installed: importlib.metadata sees it
    registry._discovered = False
    out = tmp_path / "runs"
    assert main(["list"]) == 0
    assert "  typiclust" in capsys.readouterr().out
    assert (
        main(
            [
                "run",
                "--scenario",
                "debug",
                "--methods",
                "typiclust",
                "--budgets",
                "0.1",
                "--seeds",
                "0",
                "--out",
                str(out),
                "--device",
                "cpu",
                "--no-umap",
                "--quiet",
            ]
        )
        == 0
    )
    (run_id,) = RunStore(out).run_ids()
    config = RunStore(out).load_config(run_id)["config"]
    assert config["method"] == "typiclust" and config["selector"]["source"] == SPEC


def test_the_cli_shows_a_plugins_own_traceback_then_the_sentence(
    tmp_path: Path, monkeypatch, capsys, clean_registry
) -> None:
    plugin = tmp_path / "forgelens_plugin_bad_line.py"
    plugin.write_text("x = 1\nraise RuntimeError('the plugin author broke line 2')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["run", "--methods", "forgelens_plugin_bad_line:Thing", "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f'File "{plugin}", line 2' in err and "the plugin author broke line 2" in err
    assert err.rstrip().splitlines()[-1].startswith("error: method='forgelens_plugin_bad_line")
