"""Adapting a span-QA model: a copy fine-tuned on the selected questions with their true spans,
every batch half selected target and half source questions
(``core.nn.adaptation.MixedBatchSampler``), Adam by default; ``full`` trains everything (dropout
on), ``head`` only ``qa_outputs`` on the frozen encoder's states. A ``DivergenceGuard`` stops a
run whose loss becomes non-finite or grows past its factor; on the CPU it trains on one thread
(``core.nn.threads``), so its weights do not depend on the thread count."""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from core.base.hparams import HParams
from core.base.validation import check_choice
from core.nn.adaptation import (
    ADAPTATION_MODES,
    DivergenceGuard,
    MixedBatchSampler,
    parameter_distance,
)
from core.nn.optimizers import adaptation_optimizer
from core.nn.qa_model import forward_states, qa_head, span_loss
from core.nn.threads import single_cpu_thread
from core.scenarios.squad_files import QAScenario


def adapt_qa(
    model: torch.nn.Module,
    scenario: QAScenario,
    selected: np.ndarray,
    hp: HParams,
    *,
    seed: int,
    device: torch.device,
    mode: str,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Fine-tune a copy on target_pool[selected] mixed with source questions (module doc)."""
    check_choice("adaptation", mode, ADAPTATION_MODES)
    tuned = copy.deepcopy(model).to(device)
    params = list(qa_head(tuned).parameters()) if mode == "head" else list(tuned.parameters())
    theta_0 = [p.detach().clone() for p in params]
    optimizer = adaptation_optimizer(hp, params)
    pool, source = scenario.target_pool, scenario.source_train
    target_x = pool.x[torch.from_numpy(selected)]
    target_s = torch.from_numpy(scenario.spans["target_pool"][selected])
    source_s = torch.from_numpy(scenario.spans["source_train"])
    sampler = MixedBatchSampler(len(selected), len(source), hp.adapt_batch, hp.adapt_epochs, seed)
    guard = DivergenceGuard(hp.adapt_lr, len(sampler))  # non-finite or growing loss: stop
    start, losses = time.perf_counter(), []
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), single_cpu_thread(device):
        torch.manual_seed(seed)
        for target_rows, source_rows in sampler:
            x = torch.cat([target_x[target_rows], source.x[source_rows]]).to(device)
            spans = torch.cat([target_s[target_rows], source_s[source_rows]]).to(device)
            if mode == "head":
                tuned.eval()
                with torch.no_grad():
                    states, _, _, mask = forward_states(tuned, x)
                logits = qa_head(tuned)(states).masked_fill((mask == 0)[..., None], -torch.inf)
                s_logit, e_logit = logits[..., 0], logits[..., 1]
            else:
                tuned.train()
                _, s_logit, e_logit, _ = forward_states(tuned, x)
            loss = span_loss(s_logit, e_logit, spans).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            guard.check(losses[-1], len(losses))
    tuned.eval()
    return tuned, {
        "mode": mode,
        "iterations": len(losses),
        "seconds": time.perf_counter() - start,
        "epochs": hp.adapt_epochs,
        "batch_size": hp.adapt_batch,
        "n_selected": len(selected),
        "seed": seed,
        "final_train_loss": float(np.mean(losses[-sampler.iterations_per_epoch :])),
        "param_distance": parameter_distance_of(params, theta_0),
    }


def parameter_distance_of(params: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """|theta_T - theta_0| over ``params`` (float64)."""
    holder = torch.nn.ParameterList([torch.nn.Parameter(p.detach()) for p in params])
    return parameter_distance(holder, reference)
