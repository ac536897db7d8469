"""Span QA: the paper's per-token FORGE formula against autograd on a tiny random QA model,
SQuAD metrics and loader, the factored pool, and a sweep end to end (offline, CPU)."""

import json

import numpy as np
import pytest
import torch

from core.base.hparams import hparams_for
from core.base.validation import ForgeLensError
from core.nn.adaptation import AdaptationDiverged
from core.nn.qa_model import (
    best_spans,
    forward_states,
    load_qa_model,
    load_tokenizer,
    span_loss,
)
from core.run.sweep import run_sweep
from core.scenarios import build_scenario
from core.scenarios.squad_data import encode_samples, load_squad_json
from core.storage.store import RunStore
from core.tasks.qa.embeddings import QAPoolEmbedding, batch_embeddings, pool_arrays
from core.tasks.qa.metrics import exact_match, f1_score, normalize_answer
from core.tasks.qa.tiny import make_tiny_qa_model, write_toy_squad
from tests.helpers.records import assert_identical_runs


@pytest.fixture(scope="module")
def qa_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa")
    source = write_toy_squad(root / "source.json", 40, "wiki")
    target = write_toy_squad(root / "target.json", 60, "news", seed=1)
    texts = [q.question + " " + q.context for p in (source, target) for q in load_squad_json(p)]
    model_dir = make_tiny_qa_model(root / "model", texts)
    return source, target, model_dir


@pytest.fixture(scope="module")
def scenario(qa_files):
    source, target, model_dir = qa_files
    return build_scenario(
        "squad-files",
        source_file=str(source),
        target_file=str(target),
        model_dir=str(model_dir),
        max_length=64,
    )


def test_metrics_follow_squad_normalisation():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("an apple", ["Apple", "pear"]) == 1.0
    assert exact_match("apple pie", ["apple"]) == 0.0
    assert f1_score("apple pie", ["apple"]) == pytest.approx(2 / 3)
    assert f1_score("", ["apple"]) == 0.0


def test_loader_and_encoding_locate_the_answer_tokens(qa_files, scenario):
    source, _, model_dir = qa_files
    samples = load_squad_json(source)
    x, spans, offsets, kept = encode_samples(samples, load_tokenizer(str(model_dir)), 64)
    for i, row in enumerate(kept):
        sample = samples[row]
        s, e = spans[i]
        cut = sample.context[offsets[i, s, 0] : offsets[i, e, 1]]
        assert cut.lower() == sample.answer.lower()
        assert x[i, 3, s] == 1 and x[i, 3, e] == 1  # inside the context
    assert scenario.task == "qa" and len(scenario.target_pool) > 0
    assert isinstance(scenario.preview("target_pool", 0).question, str)


def test_loader_rejects_bad_files(tmp_path):
    with pytest.raises(ForgeLensError, match="does not exist"):
        load_squad_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(ForgeLensError, match="SQuAD-layout"):
        load_squad_json(bad)
    with pytest.raises(ForgeLensError, match="model_dir"):
        build_scenario(
            "squad-files", source_file=str(bad), target_file=str(bad), model_dir=str(tmp_path)
        )


def test_embeddings_match_autograd_token_by_token(qa_files, scenario):
    """Each token's term of the paper's formula against autograd of the start/end CE."""
    model = load_qa_model(str(qa_files[2])).double()
    x = scenario.target_pool.x[:3]
    with torch.no_grad():
        states, start, end, mask = forward_states(model, x)
    ours = batch_embeddings(states, start, end, mask)
    head = model.qa_outputs
    dim = states.shape[2]
    for b in range(len(x)):
        real = mask[b].bool()
        z = states[b, real]  # (L, D)
        length = len(z)
        for h, logits in enumerate((start, end)):
            yhat = int(torch.argmax(logits[b]))
            # one copy of w_h per token: the gradient w.r.t. copy i is token i's term a_i z_i
            copies = head.weight[h].detach().expand(length, dim).clone().requires_grad_(True)
            f = (z * copies).sum(dim=1) + head.bias[h].detach()
            torch.nn.functional.cross_entropy(f[None], torch.tensor([yhat])).backward()
            terms = copies.grad  # (L, D)
            # tangent feature of f_i w.r.t. w_h is z_i (autograd again)
            tangent = torch.autograd.functional.jacobian(
                lambda w, z=z: (z * w).sum(dim=1), copies.detach()
            )  # (L, L, D)
            tangent_norm = torch.stack([tangent[i, i].norm() for i in range(length)])
            badge = 0.5 * terms.sum(dim=0)  # span_loss = (CE(start) + CE(end)) / 2
            scale = tangent_norm / terms.norm(dim=1)
            forge = (scale[:, None] * terms).mean(dim=0)
            part = slice(h * dim, (h + 1) * dim)
            torch.testing.assert_close(ours["badge"][b, part], badge, rtol=1e-9, atol=1e-12)
            torch.testing.assert_close(ours["forge"][b, part], forge, rtol=1e-9, atol=1e-12)
            # the terms sum to the true gradient of the model's own head
            model.zero_grad()
            _, s_all, e_all, _ = forward_states(model, x[b : b + 1])
            logits_all = (s_all, e_all)[h][0]
            torch.nn.functional.cross_entropy(
                logits_all[:length][None], torch.tensor([yhat])
            ).backward()
            torch.testing.assert_close(head.weight.grad[h], terms.sum(dim=0), rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(ours["coreset"][b], z.mean(dim=0))


def test_badge_is_the_true_gradient_of_the_qa_loss(qa_files, scenario):
    """BADGE = the gradient of span_loss with the pseudo-labels w.r.t. qa_outputs.weight, by
    autograd on each question alone, for questions of different lengths embedded in one padded
    batch (the old embedding was 2/L times it: a different factor per length)."""
    model = load_qa_model(str(qa_files[2])).double()
    x = scenario.target_pool.x[:6].clone()
    full = int(x[0, 1].sum())
    for b in range(len(x)):  # contexts of different lengths: cut question b's last 3b tokens
        x[b, :, full - 3 * b : full] = 0
    lengths = x[:, 1].sum(dim=1)
    assert len(set(lengths.tolist())) == len(x)
    with torch.no_grad():
        ours = batch_embeddings(*forward_states(model, x))
    head = model.qa_outputs
    for b in range(len(x)):
        model.zero_grad()
        _, start, end, _ = forward_states(model, x[b : b + 1])
        pseudo = torch.stack([start.argmax(dim=1), end.argmax(dim=1)], dim=1)
        span_loss(start, end, pseudo).sum().backward()
        torch.testing.assert_close(
            ours["badge"][b], head.weight.grad.flatten(), rtol=1e-7, atol=1e-10
        )
        torch.testing.assert_close(head.bias.grad, torch.zeros_like(head.bias), atol=1e-9, rtol=0)


def test_pool_spaces_are_the_stored_blocks(scenario, qa_files):
    model = load_qa_model(str(qa_files[2]))
    with torch.no_grad():
        parts = batch_embeddings(*forward_states(model, scenario.target_pool.x))
    parts = {k: v.numpy() for k, v in parts.items()}
    z, logits = pool_arrays(parts)
    pool = QAPoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    for space in ("coreset", "badge", "forge"):
        explicit = z[
            :, {"coreset": slice(0, 32), "forge": slice(32, 96), "badge": slice(96, 160)}[space]
        ].astype(np.float64)
        _, distance = pool.space(space).nearest([0, 5])
        brute = np.linalg.norm(explicit[:, None] - explicit[None, [0, 5]], axis=2).min(1)
        np.testing.assert_allclose(distance, brute, atol=1e-6)
    np.testing.assert_allclose(np.exp(logits).sum(1), 1.0, rtol=1e-9)


def test_best_spans_respect_context_and_order():
    start = torch.tensor([[5.0, 0.0, 1.0, 0.0, 3.0]])
    end = torch.tensor([[0.0, 4.0, 0.0, 2.0, 0.0]])
    context = torch.tensor([[0, 1, 1, 1, 1]])
    assert best_spans(start, end, context).tolist() == [[1, 1]]  # (0, 1) is not in the context
    start = torch.tensor([[0.0, 0.0, 0.0, 5.0, 0.0]])
    end = torch.tensor([[0.0, 6.0, 0.0, 0.0, 2.0]])
    assert best_spans(start, end, context).tolist() == [[3, 4]]  # (3, 1) ends before it starts
    assert best_spans(start, end, context, max_tokens=1).tolist() == [[1, 1]]


def test_qa_sweep_end_to_end(scenario, tmp_path):
    methods = ["random", "badge", "forge"]
    ids = run_sweep(
        "squad-files",
        methods,
        [0.2],
        [0],
        root=str(tmp_path),
        device="cpu",
        adaptation="head",
        built=scenario,
    )
    store = RunStore(tmp_path)
    for run_id in ids:
        accuracy = store.load_table(run_id, "accuracy")
        assert {"accuracy", "f1"} <= set(accuracy.columns)
        assert accuracy["accuracy"].between(0, 1).all()
        pairs = store.load_table(run_id, "pairs")
        assert set(pairs["space"]) == {"coreset", "badge", "forge"}
        config = store.load_config(run_id)
        assert store.load_pool_meta(config["pool_id"])["task"] == "qa"
        assert config["adaptation_info"]["param_distance"] > 0
    again = run_sweep(
        "squad-files",
        methods,
        [0.2],
        [0],
        root=str(tmp_path),
        device="cpu",
        adaptation="head",
        built=scenario,
    )
    assert again == ids
    with pytest.raises(ForgeLensError, match="margin"):
        run_sweep(
            "squad-files", ["margin"], [0.2], [0], root=str(tmp_path), device="cpu", built=scenario
        )


def test_qa_sweep_with_two_jobs_writes_the_records_of_one_process(scenario, tmp_path):
    """Span QA runs through the common engine: worker processes, versions, the same records."""
    grid = (["random", "badge", "forge"], [0.2], [0, 1])
    one = run_sweep("squad-files", *grid, root=str(tmp_path / "one"), device="cpu", built=scenario)
    two = run_sweep(
        "squad-files", *grid, root=str(tmp_path / "two"), device="cpu", built=scenario, jobs=2
    )
    assert two == one
    assert_identical_runs(RunStore(tmp_path / "one"), RunStore(tmp_path / "two"), one)
    assert "torch" in RunStore(tmp_path / "two").load_config(one[0])["versions"]


def test_embeddings_do_not_depend_on_batching_or_padding(scenario, qa_files):
    """Each question's embedding uses its own real tokens only: batches of 1 (no padding)
    and of the whole split (padded to the longest) agree."""
    from core.tasks.qa.evaluation import evaluate

    model = load_qa_model(str(qa_files[2]))
    device = torch.device("cpu")
    whole = evaluate(model, scenario, "target_val", device=device, batch_size=64, embed=True)
    single = evaluate(model, scenario, "target_val", device=device, batch_size=1, embed=True)
    for key in ("coreset", "forge", "badge", "loss"):
        np.testing.assert_allclose(whole[key], single[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(whole["pred"], single["pred"])


def test_a_diverging_qa_run_stops_and_stores_nothing(scenario, tmp_path):
    hp = hparams_for("squad-files", adapt_lr=1e4)
    with pytest.raises(AdaptationDiverged, match=r"run random budget=0.2 seed=0 .*adapt_lr"):
        run_sweep(
            "squad-files",
            ["random"],
            [0.2],
            [0],
            root=str(tmp_path),
            device="cpu",
            adaptation="full",
            built=scenario,
            hparams=hp,
        )
    assert RunStore(tmp_path).run_ids() == []
