"""FORGE, BADGE and CORESET embeddings of span QA (Sec. 5.2), built per batch from token states.

A question has L real tokens (attention mask 1: question, context and special tokens; padding
is excluded) with last hidden states z_1..z_L, the inputs of the start and end heads
(``qa_outputs``: f_{h,i} = w_h . z_i + b_h, h in {start, end}). With p_h = softmax over the L
tokens, pseudo-label yhat_h = argmax p_h (ties: the first token) and residual
a_h = p_h - onehot(yhat_h), the start/end cross-entropy gradient w.r.t. w_h is
sum_i a_{h,i} z_i, one term per token. Per the paper's formula:

- ``forge``: Cat over h of (1/L) sum_i (|z_i| / |a_{h,i} z_i|) a_{h,i} z_i
  = (1/L) sum_i sign(a_{h,i}) z_i: each token's gradient rescaled to its feature norm |z_i|
  (the norm of d f_{h,i} / d w_h). sign(a_{h,i}) is -1 at yhat_h and +1 elsewhere, its exact
  value (p_i > 0) even where a float softmax underflows to 0 (the limit rule of
  ``core.selection.embeddings``); with L = 1 the residual is 0 and so is the term.
- ``badge``: the gradient embedding of the QA loss itself, ``core.nn.qa_model.span_loss`` =
  (CE(start) + CE(end)) / 2 with the pseudo-labels, w.r.t. the two heads' weights:
  Cat over h of (1/2) sum_i a_{h,i} z_i (the bias gradient sum_i a_{h,i} is 0). Before
  EMBEDDING_VERSION 2 it was (1/L) sum_i a_{h,i} z_i, 2/L times the gradient, a different factor
  per question.
- ``coreset``: the pooled sequence state (1/L) sum_i z_i.

Each is 2D- (or D-) dimensional per question and is computed from a batch's (B, L, D) states as
they come out of the forward pass, then the states are dropped: nothing of size N x L x D or
N x (L*D) is ever built. Selection runs on the stored (N, 5D) rows with
``QAPoolEmbedding``. The feature norm of the records is |forge| (as |phi| = |z| in
classification). The pool's two "logits" are (log p, log(1 - p)) with p = p_start(yhat_start)
* p_end(yhat_end), the model's confidence in its own span (shown in the pool table).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from core.base.device import resolve_device
from core.base.validation import ForgeLensError, check_choice, check_finite
from core.selection.embeddings import (
    SPACES,
    EmbeddingSpace,
    PoolEmbedding,
    _as_matrix,
    residual_factors,
)

_BLOCKS = ("coreset", "forge", "badge")
# part of the QA runs' and pools' ids (``core.tasks.qa.adapter``): 2 = BADGE is the true gradient
EMBEDDING_VERSION = 2
# span_loss averages the start and end cross-entropies: each head's gradient carries this factor
HEAD_WEIGHT = 0.5


def head_terms(logits: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(residual a (B, L), FORGE sign weights (B, L), pseudo-label (B,)) of one head; padding
    positions (mask 0, logits -inf) get 0 in both weights."""
    probs = torch.softmax(logits.double(), dim=1)
    pseudo = torch.argmax(logits, dim=1)
    onehot = torch.nn.functional.one_hot(pseudo, logits.shape[1]).double()
    real = mask.double()
    residual = (probs - onehot) * real
    signs = (1.0 - 2.0 * onehot) * real
    single = real.sum(dim=1) <= 1  # L = 1: a = 0, so the rescaled term is 0 too
    signs[single] = 0.0
    return residual, signs, pseudo


def batch_embeddings(states: Tensor, start: Tensor, end: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """float64 ``coreset`` (B, D), ``forge`` (B, 2D), ``badge`` (B, 2D) and ``log_confidence``
    (B,) of a batch (see the module doc)."""
    z = states.double()
    length = mask.double().sum(dim=1, keepdim=True).clamp_min(1.0)
    pooled = torch.einsum("bl,bld->bd", mask.double(), z) / length
    forge, badge, log_conf = [], [], 0.0
    for logits in (start, end):
        residual, signs, pseudo = head_terms(logits, mask)
        forge.append(torch.einsum("bl,bld->bd", signs, z) / length)
        badge.append(HEAD_WEIGHT * torch.einsum("bl,bld->bd", residual, z))
        log_conf = (
            log_conf + torch.log_softmax(logits.double(), dim=1).gather(1, pseudo[:, None])[:, 0]
        )
    return {
        "coreset": pooled,
        "forge": torch.cat(forge, dim=1),
        "badge": torch.cat(badge, dim=1),
        "log_confidence": log_conf,
    }


def pool_arrays(parts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(z (N, 5D) = Cat(coreset, forge, badge), logits (N, 2) = (log p, log(1 - p)))."""
    z = np.concatenate([parts[name] for name in _BLOCKS], axis=1)
    log_p = np.minimum(np.asarray(parts["log_confidence"], dtype=np.float64), 0.0)
    log_not = np.log(-np.expm1(np.minimum(log_p, -1e-300)))  # log(1 - p), stable
    return z.astype(np.float32), np.stack([log_p, log_not], axis=1)


class QAPoolEmbedding(PoolEmbedding):
    """A QA pool from stored rows z = Cat(pooled (D), forge (2D), badge (2D)) and 2 logits."""

    def __init__(
        self,
        *,
        blocks: dict[str, torch.Tensor],
        sq: dict[str, np.ndarray],
        factors: Any,
        logits: np.ndarray,
    ) -> None:
        super().__init__(z_t=blocks["coreset"], factors=factors, logits=logits, sq_z=sq["coreset"])
        self._blocks = blocks
        self._block_sq = sq
        self.znorm = np.sqrt(sq["forge"])

    @classmethod
    def from_arrays(
        cls, z: Any, logits: Any, *, device: Any = None, dtype: torch.dtype = torch.float32
    ) -> QAPoolEmbedding:
        z = _as_matrix("z", z, "(N, 5D): Cat(pooled, forge, badge) per question")
        logits = _as_matrix("logits", logits, "(N, 2)")
        if z.shape[1] % 5 or not len(z) or logits.shape != (len(z), 2):
            raise ForgeLensError(
                f"z has shape {z.shape} and logits {logits.shape}; allowed: "
                "N >= 1 questions, z (N, 5D), logits (N, 2)"
            )
        check_finite("z", z)
        logits64 = check_finite("logits", np.asarray(logits, dtype=np.float64))
        dim = z.shape[1] // 5
        cuts = {"coreset": (0, dim), "forge": (dim, 3 * dim), "badge": (3 * dim, 5 * dim)}
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        torch_device = resolve_device(device)
        blocks, sq = {}, {}
        for name, (a, b) in cuts.items():
            part = np.asarray(z[:, a:b], dtype=np.float64)
            sq[name] = np.einsum("ij,ij->i", part, part)
            blocks[name] = torch.from_numpy(np.ascontiguousarray(part.T, dtype=np_dtype)).to(
                torch_device
            )
        return cls(blocks=blocks, sq=sq, factors=residual_factors(logits64), logits=logits64)

    def space(self, name: str) -> EmbeddingSpace:
        check_choice("space", name, SPACES)
        if name not in self._spaces:
            self._spaces[name] = EmbeddingSpace(
                name, self._blocks[name], None, self._to_device(self._block_sq[name])
            )
        return self._spaces[name]
