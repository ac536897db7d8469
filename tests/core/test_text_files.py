"""Text-file scenarios: CSV / JSONL / Parquet with a local Hugging Face model directory (a tiny
random BERT with a `tokenizers`-built vocabulary), bad input, and equality with the built-in
tweets scenario through the packaged MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.base.validation import ForgeLensError
from core.run.engine import prepare_pool, run_one
from core.run.sweep import run_sweep
from core.scenarios import build_scenario
from core.scenarios.image_folder import FolderWarning
from core.storage.store import RunStore
from tests.helpers.scenario_files import file_entry, save_unchecked

WORDS = {"good": "pos", "great": "pos", "love": "pos", "bad": "neg", "awful": "neg", "hate": "neg"}


def make_rows(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for domain, filler in (
        ("books", "this book is"),
        ("films", "that movie was"),
        ("games", "the game felt"),
    ):
        for i in range(12):
            word = list(WORDS)[i % len(WORDS)]
            noise = " ".join(rng.choice(["very", "so", "quite", "really"], size=2))
            rows.append(
                {"review": f"{filler} {noise} {word}", "stars": WORDS[word], "shop": domain}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A randomly initialised 1-layer BERT and a WordLevel tokenizer built with `tokenizers`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for text in make_rows()["review"] for w in text.split()})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def text_table(files, name: str, model: Path | None, **extra) -> dict:
    return {
        "name": name,
        "kind": "text-files",
        "files": [str(f) for f in files],
        "text_column": "review",
        "label_column": "stars",
        "domain_column": "shop",
        "source": ["books"],
        "target": ["films"],
        "max_length": 16,
        **({} if model is None else {"model": str(model)}),
        **extra,
    }


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_each_file_format_gives_the_same_scenario(
    tmp_path: Path, tiny_bert: Path, suffix: str
) -> None:
    rows = make_rows()
    path = tmp_path / f"reviews.{suffix}"
    {
        "csv": lambda: rows.to_csv(path, index=False),
        "jsonl": lambda: rows.to_json(path, orient="records", lines=True),
        "parquet": lambda: rows.to_parquet(path),
    }[suffix]()
    scenario = file_entry(text_table([path], f"reviews-{suffix}", tiny_bert)).build()
    assert scenario.class_names == ("neg", "pos") and scenario.modality == "text"
    assert scenario.source_train.x.shape[1:] == (2, 16)
    texts = scenario.texts["target_pool"]
    assert all(t.startswith("that movie was") for t in texts)
    rows.to_csv(tmp_path / "ref.csv", index=False)
    reference = file_entry(text_table([tmp_path / "ref.csv"], "ref", tiny_bert)).build()
    assert texts == reference.texts["target_pool"]
    assert torch.equal(scenario.target_pool.x, reference.target_pool.x)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_a_local_model_dir_runs_a_sweep_with_either_pooling(
    tmp_path: Path, tiny_bert: Path, pooling: str
) -> None:
    path = tmp_path / "reviews.csv"
    make_rows().to_csv(path, index=False)
    store = RunStore(tmp_path / "runs")
    name = save_unchecked(
        store.root,
        text_table(
            [path], f"tiny-{pooling}", tiny_bert, pooling=pooling, target=["films", "games"]
        ),
    )
    prepared = prepare_pool(store, name, device=torch.device("cpu"))
    z = prepared.features["target_pool"]
    assert z.shape[1] == 16
    scenario = prepared.scenario
    x = scenario.target_pool.x[:3]
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(tiny_bert), local_files_only=True).eval()
    with torch.no_grad():
        states = encoder(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
    mask = x[:, 1].unsqueeze(-1).float()
    expected = states[:, 0] if pooling == "cls" else (states * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(z[:3], expected.numpy(), atol=1e-5)
    (run_id,) = run_sweep(name, ["badge"], [0.2], [0], root=str(store.root), device="cpu")
    samples = store.load_table(run_id, "samples")
    assert set(samples["domain"]) == {"films", "games"}


@pytest.mark.parametrize(
    ("mutate", "extra", "needle"),
    [
        (lambda r: r.drop(columns=["stars"]), {}, "lacks column\\(s\\) stars"),
        (
            lambda r: r.assign(review=r["review"].where(r.index != 14, "  ")),
            {},
            "1 empty text\\(s\\).*row 14",
        ),
        (lambda r: r, {"target": ["books"]}, "named twice"),
        (lambda r: r, {"target": ["toys"]}, "target domain 'toys' has no rows"),
    ],
)
def test_bad_text_input_is_named(
    tmp_path: Path, tiny_bert: Path, mutate, extra, needle: str
) -> None:
    path = tmp_path / "reviews.csv"
    mutate(make_rows()).to_csv(path, index=False)
    entry = file_entry(
        text_table([path], "bad-text-" + str(abs(hash(needle)) % 10**6), tiny_bert, **extra)
    )
    with pytest.raises(ForgeLensError, match=needle):
        entry.build()


def test_labels_not_shared_across_domains_are_reported(tmp_path: Path, tiny_bert: Path) -> None:
    rows = make_rows()
    rows.loc[(rows["shop"] == "films") & (rows["stars"] == "neg"), "stars"] = "meh"
    path = tmp_path / "reviews.csv"
    rows.to_csv(path, index=False)
    entry = file_entry(text_table([path], "meh", tiny_bert))
    with pytest.warns(FolderWarning) as caught:
        scenario = entry.build()
    messages = " | ".join(str(w.message) for w in caught)
    assert "'films' lacks label(s) neg" in messages and "label(s) meh that no source" in messages
    assert all(str(path) in str(w.message) for w in caught)  # each names the file it is about
    assert scenario.class_names == ("neg", "pos")
    assert set(scenario.target_pool.y) == {1}  # the "meh" rows are left out


@pytest.mark.parametrize(
    ("remove", "needle"),
    [("model.safetensors", "lacks weights"), ("tokenizer.json", "lacks a tokenizer")],
)
def test_a_model_dir_without_weights_or_tokenizer_is_named(
    tmp_path: Path, tiny_bert: Path, remove: str, needle: str
) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bert, broken)
    (broken / remove).unlink()
    path = tmp_path / "reviews.csv"
    make_rows().to_csv(path, index=False)
    with pytest.raises(ForgeLensError, match=needle):
        file_entry(text_table([path], "broken-model", broken))


def test_the_text_route_equals_the_built_in_tweets_scenario(tmp_path: Path) -> None:
    """The tweets written to CSV (a documented slice: the first 10 per class per domain) and
    read through the packaged MiniLM give the same tokens, features, selections, records."""
    from core.scenarios.tweets import CLASS_NAMES, TweetsAirlineToApple

    builder = TweetsAirlineToApple(per_class=10)
    frames = []
    for domain in ("airline", "apple"):
        texts, labels = builder._domain(domain)
        frames.append(
            pd.DataFrame(
                {"text": texts, "label": [CLASS_NAMES[i] for i in labels], "domain": domain}
            )
        )
    path = tmp_path / "tweets.csv"
    pd.concat(frames).to_csv(path, index=False)
    name = save_unchecked(
        tmp_path / "a",
        {
            "name": "tweets-csv",
            "kind": "text-files",
            "files": [str(path)],
            "source": ["airline"],
            "target": ["apple"],
        },
    )
    built = build_scenario("tweets-airline-to-apple", per_class=10)
    device = torch.device("cpu")
    ours = prepare_pool(RunStore(tmp_path / "a"), name, device=device)
    theirs = prepare_pool(
        RunStore(tmp_path / "b"), "tweets-airline-to-apple", device=device, built=built
    )
    assert ours.scenario.class_names == built.class_names
    for split in ("source_train", "source_val", "target_pool", "target_val", "target_test"):
        assert torch.equal(ours.scenario.split(split).x, built.split(split).x)
        np.testing.assert_array_equal(ours.scenario.split(split).y, built.split(split).y)
        assert ours.scenario.texts[split] == built.texts[split]
        np.testing.assert_array_equal(ours.features[split], theirs.features[split])
    for method in ("random", "margin", "forge"):
        mine, _ = run_one(RunStore(tmp_path / "a"), ours, method, 0.2, 0, device=device)
        ref, _ = run_one(RunStore(tmp_path / "b"), theirs, method, 0.2, 0, device=device)
        a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
        assert a.load_table(mine, "selection").equals(b.load_table(ref, "selection")), method
        for name in ("accuracy", "samples", "pairs", "summary"):
            ours_table = a.load_table(mine, name).drop(
                columns=["domain", "nn_domain"], errors="ignore"
            )
            pd.testing.assert_frame_equal(ours_table, b.load_table(ref, name), obj=name)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        (
            "latin.csv",
            b"text,label,domain\ncaf\xe9,1,a\n",
            "is not UTF-8 text .*allowed: UTF-8 CSV",
        ),
        ("quote.csv", b'text,label,domain\n"open,1,a\n', "cannot be read as CSV .*well-formed"),
        ("bad.jsonl", b'{"text": "a"}\n{not json\n', "cannot be read as JSON lines"),
        ("latin.jsonl", b'{"text": "caf\xe9"}\n', "is not UTF-8 text"),
        ("bad.parquet", b"PAR1 garbage", "cannot be read as Parquet"),
    ],
)
def test_malformed_text_files_are_named(tmp_path: Path, name: str, content: bytes, needle: str):
    from core.scenarios.text_files import read_table

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ForgeLensError, match=f"files: {str(path)!r} {needle}"):
        read_table(path, ["text", "label", "domain"])


@pytest.mark.parametrize("name", ["garbage.pth", "garbage.safetensors", "empty.pth"])
def test_garbage_weight_files_are_named(tmp_path: Path, name: str) -> None:
    from core.nn.local_backbones import load_state_dict

    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"\x80\x04not weights at all" * 10)
    with pytest.raises(ForgeLensError, match=f"weights={str(path)!r} cannot be read"):
        load_state_dict(path)
