"""A span-QA model on one split: per-question loss, predicted span, exact match and F1, and
(for the pool) the embeddings of ``core.tasks.qa.embeddings``, all from one forward pass."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from core.nn.qa_model import answer_text, best_spans, forward_states, span_loss
from core.scenarios.squad_files import QAScenario
from core.tasks.qa.embeddings import batch_embeddings
from core.tasks.qa.metrics import exact_match, f1_score


def model_identity(model_dir: str) -> str:
    """A hash of the model directory's files (names, sizes and bytes of config and weights)."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).iterdir()):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin", ".txt"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    scenario: QAScenario,
    split: str,
    *,
    device: torch.device,
    batch_size: int,
    embed: bool = False,
) -> dict[str, np.ndarray]:
    """Per question: loss (true span), predicted span, EM, F1; with ``embed`` also the pool
    embedding blocks of ``batch_embeddings`` (float64), gathered batch by batch."""
    model.to(device).eval()
    data, spans = scenario.split(split), torch.from_numpy(scenario.spans[split])
    out: dict[str, list[np.ndarray]] = {}
    for begin in range(0, len(data), batch_size):
        x = data.x[begin : begin + batch_size].to(device)
        states, start, end, mask = forward_states(model, x)
        length = states.shape[1]
        pieces = {
            "loss": span_loss(
                start.double(), end.double(), spans[begin : begin + len(x)].to(device)
            )
            .cpu()
            .numpy(),
            "pred": best_spans(start, end, x[:, 3, :length]).cpu().numpy(),
        }
        if embed:
            pieces.update(
                {k: v.cpu().numpy() for k, v in batch_embeddings(states, start, end, mask).items()}
            )
        for key, value in pieces.items():
            out.setdefault(key, []).append(value)
    result = {key: np.concatenate(parts) for key, parts in out.items()}
    samples, offsets = scenario.samples[split], scenario.offsets[split]
    texts = [answer_text(s.context, offsets[i], result["pred"][i]) for i, s in enumerate(samples)]
    result["em"] = np.array(
        [exact_match(t, s.answers) for t, s in zip(texts, samples, strict=True)]
    )
    result["f1"] = np.array([f1_score(t, s.answers) for t, s in zip(texts, samples, strict=True)])
    return result
