"""``check_selector``: the selector contract as a test a user can run on their own selector.

Like scikit-learn's ``check_estimator``, it runs one selector through small generated pools and
raises ``SelectorContractError`` (an AssertionError, so pytest reports it as a failure) naming
the broken rule. The rules, each what the engine relies on:

1. exact count: a 1-D integer array of exactly ``n_picks`` entries, for n_picks = 1, a few, N;
2. unique, in-range indices (0 <= i < N);
3. determinism: the same pool, n_picks and seed give the same picks, in the same order (also
   from a second pool object built from the same arrays, so no hidden cache decides);
4. inputs unchanged: z, logits and every derived array of the pool are equal after selection;
5. degenerate pools are handled or refused with a ``ForgeLensError`` (a clear message): all
   points identical, N = n_picks, one class (C = 1), a saturated softmax (one-hot in float).
   Any other exception there breaks the contract.

The pools are tiny (N <= 60), so a check takes well under a second for the built-ins.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.base.validation import ForgeLensError
from core.selection.base import Selector
from core.selection.embeddings import SPACES, PoolEmbedding
from core.selection.pool_guard import ContractViolation
from core.selection.registry import PLUGIN_SOURCES, get_selector

N, D, C = 60, 6, 4
N_PICKS = (1, 7, N)
SEEDS = (0, 3)


class SelectorContractError(AssertionError):
    """A selector broke one rule of the contract (the message names the rule and the pool)."""


def _as_selector(selector: Any) -> Selector:
    if isinstance(selector, str):
        return get_selector(selector)
    if isinstance(selector, type) and issubclass(selector, Selector):
        return selector()
    if isinstance(selector, Selector):
        return selector
    raise ForgeLensError(
        f"selector={selector!r} is not allowed; allowed: a Selector instance, "
        "a Selector subclass or a registered selector name"
    )


def _arrays(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(z, logits) of the generated pools (see the module doc)."""
    if kind == "random":
        z = rng.normal(size=(N, D)).astype(np.float32)
        return z, (2.0 * rng.normal(size=(N, C))).astype(np.float32)
    if kind == "identical points":
        return np.ones((N, D), np.float32), np.tile(np.float32([1.0, 0.5, 0.0, -1.0]), (N, 1))
    if kind == "N = n_picks":
        return rng.normal(size=(5, D)).astype(np.float32), rng.normal(size=(5, C)).astype(
            np.float32
        )
    if kind == "one class":
        return rng.normal(size=(N, D)).astype(np.float32), rng.normal(size=(N, 1)).astype(
            np.float32
        )
    if kind == "saturated softmax":
        logits = np.zeros((N, C), np.float32)
        logits[np.arange(N), rng.integers(0, C, N)] = 1e4
        return rng.normal(size=(N, D)).astype(np.float32), logits
    raise ValueError(kind)


def _snapshot(pool: PoolEmbedding) -> dict[str, np.ndarray]:
    arrays = {"z": pool.z_t.detach().cpu().numpy().copy()}
    for name in ("logits", "probs", "pseudo", "residual", "direction", "znorm"):
        arrays[name] = np.array(getattr(pool, name), copy=True)
    for space in SPACES:
        arrays[f"{space} |u|^2"] = pool.space(space).sq_norms().detach().cpu().numpy().copy()
    return arrays


def _run(selector: Selector, pool: PoolEmbedding, n_picks: int, seed: int, what: str) -> np.ndarray:
    """One selection whose output is checked against rules 1 and 2."""
    name = type(selector).__name__
    try:
        picks = selector.select(pool, n_picks, seed=seed)
    except ContractViolation as error:  # Selector.select's output and pool checks
        raise SelectorContractError(
            f"{name} on the {what} pool, n_picks={n_picks}: {error}"
        ) from None
    except RuntimeError as error:  # the selector's own
        raise SelectorContractError(  # the cause keeps the traceback into the selector
            f"{name} on the {what} pool, n_picks={n_picks}: {error}"
        ) from error
    picks = np.asarray(picks)
    if picks.ndim != 1 or len(picks) != n_picks:
        raise SelectorContractError(
            f"{name} on the {what} pool returned shape {picks.shape} for "
            f"n_picks={n_picks}; the contract: exactly {n_picks} indices"
        )
    if not np.issubdtype(picks.dtype, np.integer):
        raise SelectorContractError(
            f"{name} on the {what} pool returned dtype {picks.dtype}; "
            "the contract: integer pool indices"
        )
    if len(np.unique(picks)) != n_picks or picks.min() < 0 or picks.max() >= pool.n:
        raise SelectorContractError(
            f"{name} on the {what} pool, n_picks={n_picks}: indices "
            f"{picks.tolist()} are not {n_picks} unique values in "
            f"[0, {pool.n - 1}]"
        )
    return picks


def check_selector(selector: Any, *, device: str | torch.device | None = "cpu") -> list[str]:
    """Run the contract (module doc) on ``selector`` (an instance, a Selector subclass or a
    registered name). Raises SelectorContractError on the first broken rule; returns notes on
    the degenerate pools the selector refused with a ForgeLensError."""
    selector = _as_selector(selector)
    name = type(selector).__name__
    rng = np.random.default_rng(20220202)
    z, logits = _arrays("random", rng)
    pool = PoolEmbedding.from_arrays(z, logits, device=device)
    before = _snapshot(pool)
    for n_picks in N_PICKS:
        for seed in SEEDS:
            first = _run(selector, pool, n_picks, seed, "random")
            again = _run(
                selector,
                PoolEmbedding.from_arrays(z, logits, device=device),
                n_picks,
                seed,
                "random",
            )
            if not np.array_equal(first, again):
                raise SelectorContractError(
                    f"{name}: n_picks={n_picks}, seed {seed} gave {first.tolist()} and then "
                    f"{again.tolist()}; the contract: the same seed gives the same picks"
                )
    after = _snapshot(pool)
    for key, value in before.items():
        if not np.array_equal(value, after[key], equal_nan=True):
            raise SelectorContractError(
                f"{name} changed the pool's {key} while selecting; the "
                "contract: inputs are left unchanged"
            )
    notes = []
    for kind in ("identical points", "N = n_picks", "one class", "saturated softmax"):
        zk, lk = _arrays(kind, rng)
        try:
            degenerate = PoolEmbedding.from_arrays(zk, lk, device=device)
            for n_picks in sorted({1, min(7, len(zk)), len(zk)}):
                _run(selector, degenerate, n_picks, 0, kind)
        except ForgeLensError as error:
            notes.append(f"{kind}: refused ({error})")
        except SelectorContractError:
            raise
        except Exception as error:
            raise SelectorContractError(
                f"{name} on the {kind} pool raised {type(error).__name__}: {error}; the "
                "contract: handle it or refuse it with a ForgeLensError"
            ) from error
    return notes


_checked: dict[str, str] = {}  # plugin name -> the source that passed the contract here


def check_plugins(methods: Any) -> None:
    """Run the contract on every plugin selector among ``methods`` (built-ins are checked by
    the test suite), once per process and source: a sweep calls it before it writes anything,
    so a broken plugin never leaves half a sweep behind. ``ContractViolation`` names the
    selector and the rule it broke; a selector's own exception stays its cause."""
    for method in methods:
        source = PLUGIN_SOURCES.get(method)
        if source is None or _checked.get(method) == source:
            continue
        try:
            check_selector(method)
        except SelectorContractError as error:
            raise ContractViolation(
                f"selector {method!r} ({source}) breaks the selector contract, so the sweep "
                f"did not start: {error}. Run core.selection.check_selector on it to reproduce"
            ) from error.__cause__
        _checked[method] = source
