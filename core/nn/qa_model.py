"""A local Hugging Face extractive-QA model: loading offline, token states, losses and spans.

Any ``AutoModelForQuestionAnswering`` whose start/end logits come from a linear layer
``qa_outputs`` (D -> 2) on the last hidden states (BERT, DistilBERT, RoBERTa, ELECTRA, ALBERT...)
works: ``qa_head`` finds that layer and ``forward_states`` checks, on every batch, that the
logits are exactly ``qa_outputs(last_hidden_state)`` (in eval mode), so the embeddings are
computed from the true input of the heads. Loading never touches a hub (local_files_only).

Positions: padding is excluded everywhere (logits set to -inf there). The loss of a question is
the mean of the start and end cross-entropies with its true span (the usual HF QA loss, over
the real tokens). A predicted answer is the span (s, e) of context tokens with s <= e <
s + ``MAX_ANSWER_TOKENS`` that maximises start_logit[s] + end_logit[e].
"""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.base.validation import ForgeLensError

MAX_ANSWER_TOKENS = 30


def _check_dir(model_dir: str | Path) -> str:
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise ForgeLensError(
            f"model_dir={str(model_dir)!r} is not a local Hugging Face model "
            "directory (no config.json); allowed: a folder saved with "
            "save_pretrained (see README, span QA)"
        )
    return str(path)


@cache
def load_tokenizer(model_dir: str) -> Any:
    """The directory's tokenizer, offline."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_check_dir(model_dir), local_files_only=True)


def load_qa_model(model_dir: str) -> nn.Module:
    """The directory's AutoModelForQuestionAnswering on the CPU in eval mode, offline."""
    from transformers import AutoModelForQuestionAnswering

    with torch.random.fork_rng(devices=[]):
        model = AutoModelForQuestionAnswering.from_pretrained(
            _check_dir(model_dir), local_files_only=True
        )
    qa_head(model)
    return model.eval()


def qa_head(model: nn.Module) -> nn.Linear:
    """The model's start/end layer (``qa_outputs``: Linear(D, 2)), or a clear error."""
    head = getattr(model, "qa_outputs", None)
    if not isinstance(head, nn.Linear) or head.out_features != 2:
        raise ForgeLensError(
            f"{type(model).__name__} has no qa_outputs = Linear(D, 2) head; "
            "allowed: a BERT-like AutoModelForQuestionAnswering"
        )
    return head


def _takes_token_types(model: nn.Module) -> bool:
    return "token_type_ids" in inspect.signature(model.forward).parameters


def forward_states(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(token states (B, L, D), start logits (B, L), end logits (B, L), attention mask (B, L))
    of a batch x (B, 4, L), columns cut to the longest row; padding logits are -inf."""
    mask = x[:, 1]
    length = max(1, int(mask.sum(dim=1).max()))
    x = x[:, :, :length]
    mask = x[:, 1]
    inputs = {"input_ids": x[:, 0], "attention_mask": mask}
    if _takes_token_types(model):
        inputs["token_type_ids"] = x[:, 2]
    out = model(**inputs, output_hidden_states=True)
    states = out.hidden_states[-1]
    start, end = out.start_logits, out.end_logits
    if not model.training:
        check = qa_head(model)(states)
        if not torch.allclose(check[..., 0], start, atol=1e-4, rtol=1e-4):
            raise ForgeLensError(
                f"{type(model).__name__}: start logits are not qa_outputs of the "
                "last hidden states; FORGE's QA embedding needs that layout"
            )
    pad = mask == 0
    return states, start.masked_fill(pad, -torch.inf), end.masked_fill(pad, -torch.inf), mask


def span_loss(start: Tensor, end: Tensor, spans: Tensor) -> Tensor:
    """Per-question (CE(start) + CE(end)) / 2 with the true (start, end) token positions."""
    return 0.5 * (
        F.cross_entropy(start, spans[:, 0], reduction="none")
        + F.cross_entropy(end, spans[:, 1], reduction="none")
    )


def best_spans(
    start: Tensor, end: Tensor, context: Tensor, max_tokens: int = MAX_ANSWER_TOKENS
) -> Tensor:
    """(B, 2) best (s, e): context tokens, s <= e < s + max_tokens, max start[s] + end[e]."""
    length = start.shape[1]
    allowed = context.bool()
    s_logit = start.masked_fill(~allowed, -torch.inf)
    e_logit = end.masked_fill(~allowed, -torch.inf)
    scores = s_logit[:, :, None] + e_logit[:, None, :]
    i = torch.arange(length, device=start.device)
    band = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_tokens)
    scores = scores.masked_fill(~band, -torch.inf)
    flat = scores.reshape(len(start), -1).argmax(dim=1)
    return torch.stack([flat // length, flat % length], dim=1)


def answer_text(context: str, offsets: np.ndarray, span: tuple[int, int]) -> str:
    """The characters of ``context`` covered by tokens span[0]..span[1]."""
    s, e = int(span[0]), int(span[1])
    return context[int(offsets[s, 0]) : int(offsets[e, 1])]
