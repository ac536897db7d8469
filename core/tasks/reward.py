"""Reward modelling (the paper's Table 4): preference pairs, a scalar reward head, Bradley-Terry.

A sample is a pair (x_a, x_b) whose true label y in {0, 1} is the position of the preferred
response. The model is a backbone z(x) and a scalar head r(x) = w . z(x) + b applied to both
responses with the same weights; its two "logits" are (r(x_a), r(x_b)), so the cross-entropy of
those logits with y is exactly the Bradley-Terry loss -log sigmoid(r(x_w) - r(x_l)) and every
classification code path (source training, both adaptation modes, losses, accuracy = the fraction
of pairs with r(x_w) > r(x_l); the engine's argmax counts an exact tie, which float rewards
practically never give, for the first position) runs unchanged. The penultimate features of a pair
are
Cat(z_a, z_b) (2D columns); ``PairwiseRewardHead`` maps them to (r_a, r_b).

Selection (Sec. 5.2). The preference is unknown at selection time, so a pair is oriented by the
model's current preference, its pseudo-label (as BADGE does for classes): x_w is the response of
larger reward (ties: the first), d = z_w - z_l, and m = r_w - r_l >= 0. The spaces:

- ``forge``: phi = d = z_w - z_l. The gradient of the loss w.r.t. w is -sigmoid(-m) d; the
  tangent feature of f = r_w - r_l w.r.t. w is d, so Definition 5 gives
  |d| / |sigmoid(-m) d| * (-sigmoid(-m) d) = -d: the paper's phi up to one global sign, which no
  distance sees (the paper: "ignore the gradient of the log-sigmoid, a positive scalar").
- ``badge``: the last-layer gradient with the pseudo-label, sigmoid(-m) d (the same global sign
  dropped). The bias gets no gradient: b cancels in r_w - r_l.
- ``coreset``: Cat(z_w, z_l), the representations of both responses, oriented. Not d: d is the
  FORGE space itself, so CORESET on d would pick exactly FORGE's pairs and the comparison would
  be empty; k-center on Cat(z_w, z_l) asks for diverse responses, the CORESET idea.
- uncertainty: |sigmoid(r_w - r_l) - 1/2|, smallest first. ``margin`` on the logits (r_a, r_b)
  ranks by |r_a - r_b|, a monotone function of it, so ``margin`` *is* this selector (``entropy``
  of the pair's preference probability ranks the same way); DUC and CLUE read the same logits.

The feature norm of the records (Figure 5b, gamma) is |d|, the tangent-feature norm of
f = r_w - r_l w.r.t. the head. Storage: Cat(z_w, z_l) as 2D x N and d as D x N, O(N D); every
space is factored as in ``core.selection.embeddings`` (badge: a 1 x N left factor times d).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import expit

from core.base.data import Scenario
from core.base.device import resolve_device
from core.base.hparams import HParams
from core.base.progress import Progress
from core.base.validation import ForgeLensError, check_choice, check_finite
from core.nn.feature_cache import cached_features, feature_id
from core.nn.models import build_model
from core.nn.reward_model import build_reward_model
from core.selection.embeddings import (
    SPACES,
    EmbeddingSpace,
    PoolEmbedding,
    _as_matrix,
    _row_sq_norms,
    residual_factors,
)
from core.storage.store import RunStore
from core.tasks.classification import LinearHeadAdapter


def orient(z: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pseudo-label, margin m = r_w - r_l >= 0, float64 (z_w, z_l) as (N, 2, D)) of each pair."""
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(logits))
    pseudo = np.argmax(logits, axis=1).astype(np.int64)  # ties: the first response
    margin = logits[rows, pseudo] - logits[rows, 1 - pseudo]
    halves = np.asarray(z, dtype=np.float64).reshape(len(z), 2, -1)
    return pseudo, margin, halves[rows[:, None], np.stack([pseudo, 1 - pseudo], axis=1)]


class RewardPoolEmbedding(PoolEmbedding):
    """A pool of preference pairs: ``z`` = Cat(z_a, z_b) (N, 2D), ``logits`` = (r_a, r_b).

    ``z_t`` holds the oriented Cat(z_w, z_l) (the coreset space, which CLUE also clusters),
    ``diff_t`` holds d = z_w - z_l (D x N); ``znorm`` is |d|; ``margin`` is m and ``badge_scale``
    sigmoid(-m).
    The classification facts (probs, pseudo, residual, direction) are those of the two logits.
    """

    def __init__(
        self,
        *,
        z_t: torch.Tensor,
        factors: Any,
        logits: np.ndarray,
        sq_z: np.ndarray,
        diff_t: torch.Tensor,
        sq_diff: np.ndarray,
        margin: np.ndarray,
    ) -> None:
        super().__init__(z_t=z_t, factors=factors, logits=logits, sq_z=sq_z)
        self.diff_t = diff_t
        self.margin = margin
        self.badge_scale = expit(-margin)
        self._sq_diff = sq_diff
        self.znorm = np.sqrt(sq_diff)

    @classmethod
    def from_arrays(
        cls,
        z: Any,
        logits: Any,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> RewardPoolEmbedding:
        """Validate (Cat(z_a, z_b), (r_a, r_b)), orient by the pseudo-label, store on ``device``."""
        z = _as_matrix("z", z, "(N, 2D): Cat(z_a, z_b) per pair")
        logits = _as_matrix("logits", logits, "(N, 2): (r_a, r_b) per pair")
        if logits.shape[1] != 2 or z.shape[1] % 2 or z.shape[0] != logits.shape[0] or not len(z):
            raise ForgeLensError(
                f"z has shape {z.shape} and logits {logits.shape}; allowed: "
                "N >= 1 pairs, z (N, 2D) = Cat(z_a, z_b), logits (N, 2)"
            )
        check_choice("dtype", dtype, (torch.float32, torch.float64))
        check_finite("z", z)
        logits64 = check_finite("logits", np.asarray(logits, dtype=np.float64))
        _, margin, oriented = orient(z, logits64)
        cat = oriented.reshape(len(z), -1)
        d = oriented[:, 0] - oriented[:, 1]
        sq_cat, sq_d = _row_sq_norms(cat), _row_sq_norms(d)
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        if 8.0 * max(sq_cat.max(), sq_d.max()) > np.finfo(np_dtype).max:
            raise ForgeLensError(
                f"z has rows whose squared distances overflow {dtype}; allowed: "
                "rescale z or use dtype=torch.float64"
            )
        torch_device = resolve_device(device)

        def put(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array.T, dtype=np_dtype)).to(torch_device)

        return cls(
            z_t=put(cat),
            factors=residual_factors(logits64),
            logits=logits64,
            sq_z=sq_cat,
            diff_t=put(d),
            sq_diff=sq_d,
            margin=margin,
        )

    def space(self, name: str) -> EmbeddingSpace:
        """coreset: Cat(z_w, z_l); badge: sigmoid(-m) d (factored); forge: d (module doc)."""
        check_choice("space", name, SPACES)
        if name not in self._spaces:
            if name == "coreset":
                space = EmbeddingSpace(name, self.z_t, None, self._to_device(self._sq_z))
            elif name == "badge":
                left = self._to_device(self.badge_scale[None, :].copy())
                sq = self._to_device(self.badge_scale**2 * self._sq_diff)
                space = EmbeddingSpace(name, self.diff_t, left, sq)
            else:
                space = EmbeddingSpace(name, self.diff_t, None, self._to_device(self._sq_diff))
            self._spaces[name] = space
        return self._spaces[name]


def pair_features(
    root: Any, scenario: Any, hp: Any, device: Any, progress: Any = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Cat(z_a, z_b) of every pair of every split, from the *base* scenario's feature cache.

    For a frozen pretrained encoder a response's z does not depend on the pair, so the base
    scenario's cached features (``core.nn.feature_cache``, computed once per encoder and data) are
    indexed by ``scenario.pairs``: no feature pass per pair. Info as ``cached_features`` plus
    ``base_feature_id``.
    """
    notify = progress or (lambda event: None)
    base = scenario.base_scenario()
    key = feature_id(base, hp)
    notify({"stage": "features", "message": f"features of {base.name} ({key}), paired"})
    features, info = cached_features(
        root,
        key,
        build_model(base, hp),
        base,
        device=device,
        batch_size=min(hp.eval_batch, 128),
        progress=notify,
    )
    paired = {
        split: np.concatenate([features[split][rows[:, 0]], features[split][rows[:, 1]]], axis=1)
        for split, rows in scenario.pairs.items()
    }
    word = "read from the cache" if info["cached"] else "computed and cached"
    notify(
        {
            "stage": "features",
            "seconds": info["seconds"],
            "cached": info["cached"],
            "message": f"base features {word} in {info['seconds']:.1f} s",
        }
    )
    return paired, {**info, "base_feature_id": key}


class RewardAdapter(LinearHeadAdapter):
    """Reward pairs in the engine (``core.tasks.adapter``): the classification path with the
    pair model, the pair embedding, and a pretrained encoder's features read from the base
    scenario's cache (``pair_features``). No Theorem 4 columns: it is stated for a class head."""

    def build_model(self, scenario: Scenario, hp: HParams, *, seed: int | None = None) -> Any:
        return build_reward_model(scenario, hp, seed=seed)

    def pool_embedding(
        self, z: Any, logits: Any, *, device: Any = None, **kwargs: Any
    ) -> RewardPoolEmbedding:
        return RewardPoolEmbedding.from_arrays(z, logits, device=device, **kwargs)

    def features(
        self,
        store: RunStore,
        scenario: Scenario,
        hp: HParams,
        model: torch.nn.Module,
        model_id: str | None,
        device: torch.device,
        notify: Progress,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Pairs of a base scenario with a pretrained encoder: the base's cached features,
        paired; otherwise the pair model's own (``LinearHeadAdapter.features``)."""
        if hp.pretrained and getattr(scenario, "base", ""):
            return pair_features(store.root, scenario, hp, device, notify)
        return super().features(store, scenario, hp, model, model_id, device, notify)
