"""Reward-model task: pair embeddings against autograd of the Bradley-Terry loss, the pool's
factored spaces against explicit vectors, pair scenarios, and a debug-pairs sweep end to end."""

import math

import numpy as np
import pytest
import torch
from scipy.special import expit

from core.base.hparams import hparams_for
from core.nn.models import embed
from core.nn.reward_model import PairwiseRewardHead
from core.run.sweep import run_sweep
from core.scenarios import build_scenario
from core.storage.store import RunStore
from core.tasks import task_of
from core.tasks.reward import RewardPoolEmbedding, orient


# ---- reference implementations (written from the definitions, not used by the engine) ----
def bradley_terry_loss(r_w: torch.Tensor, r_l: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_w - r_l) per pair (softplus form: no overflow)."""
    return torch.nn.functional.softplus(-(r_w - r_l))


def reward_embeddings(z: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
    """The three spaces built explicitly (float64), the reference ``RewardPoolEmbedding``'s
    factored spaces are checked against (it factors badge as a scalar times d)."""
    _, margin, oriented = orient(z, logits)
    d = oriented[:, 0] - oriented[:, 1]
    return {
        "coreset": oriented.reshape(len(z), -1),
        "badge": expit(-margin)[:, None] * d,
        "forge": d,
    }


def pair_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of pairs with r(x_w) > r(x_l) (strictly: a tie counts as wrong)."""
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(logits))
    labels = np.asarray(labels, dtype=np.int64)
    return (
        float(np.mean(logits[rows, labels] > logits[rows, 1 - labels])) if len(rows) else math.nan
    )


def _pairs(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2 * d))
    head = PairwiseRewardHead(d).double()
    with torch.no_grad():
        head.reward.weight.copy_(torch.from_numpy(rng.normal(size=(1, d))))
        head.reward.bias.fill_(0.7)
    return z, head


def test_embeddings_match_autograd_of_bradley_terry_loss():
    z, head = _pairs()
    logits = head(torch.from_numpy(z)).detach().numpy()
    spaces = reward_embeddings(z, logits)
    for i in range(len(z)):
        pseudo = int(np.argmax(logits[i]))  # orient by the model's own preference
        head.zero_grad()
        r = head(torch.from_numpy(z[i : i + 1]))[0]
        bradley_terry_loss(r[pseudo], r[1 - pseudo]).backward()
        grad_w = head.reward.weight.grad[0].numpy()
        assert abs(float(head.reward.bias.grad)) < 1e-12  # b cancels in r_w - r_l
        np.testing.assert_allclose(spaces["badge"][i], -grad_w, rtol=1e-10, atol=1e-12)
        # Definition 5: |grad_w f| / |grad_w l| * grad_w l, f = r_w - r_l, grad_w f = z_w - z_l
        zw, zl = z[i].reshape(2, -1)[[pseudo, 1 - pseudo]]
        tangent = np.linalg.norm(zw - zl)
        forge = tangent / np.linalg.norm(grad_w) * grad_w
        np.testing.assert_allclose(spaces["forge"][i], -forge, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(spaces["coreset"][i], np.concatenate([zw, zl]))


def test_cross_entropy_of_pair_logits_is_the_bradley_terry_loss():
    z, head = _pairs()
    logits = head(torch.from_numpy(z))
    labels = torch.from_numpy(np.random.default_rng(1).integers(2, size=len(z)))
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    rows = torch.arange(len(z))
    bt = bradley_terry_loss(logits[rows, labels], logits[rows, 1 - labels])
    torch.testing.assert_close(ce, bt)
    assert pair_accuracy(logits.detach().numpy(), labels.numpy()) == pytest.approx(
        float(np.mean(logits.detach().numpy().argmax(1) == labels.numpy()))
    )


@pytest.mark.parametrize("space", ["coreset", "badge", "forge"])
def test_factored_spaces_match_explicit_vectors(space):
    z, head = _pairs(n=30)
    logits = head(torch.from_numpy(z)).detach().numpy()
    explicit = reward_embeddings(z, logits)[space]
    pool = RewardPoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    emb = pool.space(space)
    np.testing.assert_allclose(emb.sq_norms().numpy(), (explicit**2).sum(1), rtol=1e-10)
    centres = [3, 17, 25]
    position, distance = emb.nearest(centres)
    brute = np.linalg.norm(explicit[:, None, :] - explicit[None, centres, :], axis=2)
    np.testing.assert_allclose(distance, brute.min(1), atol=1e-7)
    np.testing.assert_array_equal(position, brute.argmin(1))
    np.testing.assert_allclose(
        pool.znorm, np.linalg.norm(reward_embeddings(z, logits)["forge"], axis=1)
    )


def test_badge_is_small_for_confident_pairs_and_forge_is_not():
    z, _ = _pairs(n=2)
    logits = np.array([[30.0, 0.0], [0.1, 0.0]])
    pool = RewardPoolEmbedding.from_arrays(z, logits, device="cpu", dtype=torch.float64)
    badge, forge = pool.space("badge").sq_norms().numpy(), pool.space("forge").sq_norms().numpy()
    assert badge[0] < 1e-20 * forge[0]
    assert badge[1] == pytest.approx(forge[1] * (1 / (1 + np.exp(0.1))) ** 2)


def test_pair_scenario_orders_winners_and_keeps_splits_apart():
    scenario = build_scenario("debug-pairs")
    base = scenario.base_scenario()
    assert scenario.task == "reward" and task_of(scenario).metric == "pair accuracy"
    for name, rows in scenario.pairs.items():
        labels = base.split(name).y[rows]
        assert (labels[:, 0] != labels[:, 1]).all()
        winner = np.where(scenario.split(name).y == 1, labels[:, 1], labels[:, 0])
        assert (winner == labels.max(axis=1)).all()
        assert len({tuple(sorted(r)) for r in rows.tolist()}) == len(rows)
        np.testing.assert_array_equal(scenario.split(name).x[:, 0], base.split(name).x[rows[:, 0]])
    assert 0.35 < scenario.target_pool.y.mean() < 0.65  # winner position is random
    again = build_scenario("debug-pairs")
    assert again.fingerprint == scenario.fingerprint


def test_pair_model_logits_are_rewards_of_each_response():
    scenario = build_scenario("debug-pairs")
    hp = hparams_for("debug-pairs")
    model = task_of(scenario).build_model(scenario, hp)
    x = scenario.target_pool.x[:5]
    z, logits = embed(model, x, device="cpu")
    single = model.backbone.encoder
    with torch.no_grad():
        r_a = model.head.reward(single(x[:, 0]))[:, 0].numpy()
    np.testing.assert_allclose(logits[:, 0], r_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z[:, : z.shape[1] // 2], single(x[:, 0]).detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("adaptation", ["head", "full"])
def test_debug_pairs_sweep_end_to_end(tmp_path, adaptation):
    methods = ["random", "margin", "coreset", "badge", "forge"]
    ids = run_sweep(
        "debug-pairs", methods, [0.1], [0], root=str(tmp_path), device="cpu", adaptation=adaptation
    )
    store = RunStore(tmp_path)
    assert len(ids) == len(methods)
    picks = {}
    for run_id, method in zip(ids, methods, strict=True):
        accuracy = store.load_table(run_id, "accuracy")
        test = accuracy[(accuracy["split"] == "test") & (accuracy["stage"] == "after")]
        assert 0.0 <= float(test["accuracy"].iloc[0]) <= 1.0
        pairs = store.load_table(run_id, "pairs")
        assert set(pairs["space"]) == {"coreset", "badge", "forge"}
        assert (pairs["gap"] >= 0).all()
        picks[method] = tuple(store.load_table(run_id, "selection")["idx"])
        meta = store.load_pool_meta(store.load_config(run_id)["pool_id"])
        assert meta["task"] == "reward"
    assert picks["forge"] != picks["coreset"]  # CORESET is Cat(z_w, z_l), not FORGE's d


def _write_jsonl(path, n, seed):
    import json

    rng = np.random.default_rng(seed)
    words = ["thanks", "sure", "here", "is", "help", "no", "rude", "go", "away", "happy"]
    with open(path, "w") as handle:
        for i in range(n):
            prompt = f"\n\nHuman: question {i} about {rng.choice(words)}?\n\nAssistant:"
            handle.write(
                json.dumps(
                    {
                        "chosen": prompt + " sure, here is help, happy to",
                        "rejected": prompt + " no, go away, rude",
                    }
                )
                + "\n"
            )
    return path


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_hh_rlhf_files_with_a_local_model_end_to_end(tmp_path, pooling):
    from core.scenarios.hh_rlhf import load_preference_jsonl
    from core.tasks.qa.tiny import make_tiny_qa_model

    source = _write_jsonl(tmp_path / "source.jsonl", 40, 0)
    target = _write_jsonl(tmp_path / "target.jsonl", 50, 1)
    texts = [t for p in (source, target) for pair in load_preference_jsonl(p) for t in pair]
    model_dir = make_tiny_qa_model(tmp_path / "model", texts)
    scenario = build_scenario(
        "hh-rlhf-files",
        source_file=str(source),
        target_file=str(target),
        model_dir=str(model_dir),
        max_length=32,
        pooling=pooling,
    )
    assert scenario.task == "reward" and len(scenario.target_pool) == 30
    for i in range(len(scenario.target_pool)):
        pair = scenario.preview("target_pool", i)
        preferred = (pair.first, pair.second)[pair.preferred]
        assert preferred.endswith("happy to")  # the chosen response is the preferred one
    ids = run_sweep(
        "hh-rlhf-files",
        ["random", "forge"],
        [0.2],
        [0],
        root=str(tmp_path / "runs"),
        device="cpu",
        built=scenario,
    )
    store = RunStore(tmp_path / "runs")
    accuracy = store.load_table(ids[1], "accuracy")
    after = accuracy[(accuracy["stage"] == "after") & (accuracy["split"] == "test")]
    assert float(after["accuracy"].iloc[0]) > 0.9  # the chosen style is trivially learnable
    assert store.load_config(ids[0])["config"]["adaptation"] == "head"


def test_hh_rlhf_loader_names_bad_lines(tmp_path):
    from core.base.validation import ForgeLensError
    from core.scenarios.hh_rlhf import load_preference_jsonl

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chosen": "a", "rejected": "b"}\n{"prompt": "x"}\n')
    with pytest.raises(ForgeLensError, match="line 2"):
        load_preference_jsonl(bad)


def test_margin_ranks_reward_pairs_by_preference_uncertainty():
    from core.selection import select_from_pool

    z, head = _pairs(n=50)
    logits = head(torch.from_numpy(z)).detach().numpy()
    pool = RewardPoolEmbedding.from_arrays(z, logits, device="cpu")
    uncertainty = np.abs(1 / (1 + np.exp(-(logits[:, 0] - logits[:, 1]))) - 0.5)
    picks = select_from_pool("margin", pool, 10)
    np.testing.assert_array_equal(np.sort(picks), np.sort(np.argsort(uncertainty)[:10]))


def test_spaces_do_not_depend_on_the_order_of_the_two_responses():
    """Orientation by the model's preference: swapping (x_a, x_b) changes no embedding."""
    z, head = _pairs(n=25)
    logits = head(torch.from_numpy(z)).detach().numpy()
    d = z.shape[1] // 2
    swapped_z = np.concatenate([z[:, d:], z[:, :d]], axis=1)
    one = reward_embeddings(z, logits)
    other = reward_embeddings(swapped_z, logits[:, ::-1])
    for space in ("coreset", "badge", "forge"):
        np.testing.assert_allclose(one[space], other[space])
