"""A tiny, randomly initialised extractive-QA model and toy SQuAD files, made offline.

For tests and demos of the span-QA path when no real QA model is at hand (none ships in a
package here): ``make_tiny_qa_model`` trains a WordPiece vocabulary with the ``tokenizers``
library on the given texts and saves a small random ``BertForQuestionAnswering`` with it, in the
layout ``AutoModelForQuestionAnswering.from_pretrained`` reads (local_files_only).
``write_toy_squad`` writes template questions about made-up facts in the SQuAD v1.1 layout; two
``domain`` values use different templates and vocabularies (a shift). Its numbers mean nothing
about real QA: a random model answers at chance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_NAMES = (
    "alba",
    "brio",
    "cato",
    "dara",
    "elko",
    "fenn",
    "gala",
    "hiro",
    "ines",
    "jora",
    "kemi",
    "lumo",
    "mira",
    "nilo",
    "orsa",
    "pavo",
    "quin",
    "rena",
    "savo",
    "tira",
)
_TEMPLATES = {
    "wiki": (
        "The capital of {a} is {b}, a city near the river {c}.",
        "What is the capital of {a}?",
        "{b}",
    ),
    "news": (
        "Officials said on Monday that {a} signed a deal with {b} worth {n} million.",
        "Who signed a deal with {b}?",
        "{a}",
    ),
}


def write_toy_squad(path: str | Path, n: int, domain: str = "wiki", seed: int = 0) -> Path:
    """``n`` template questions in SQuAD v1.1 JSON at ``path`` (one paragraph each)."""
    context_t, question_t, answer_t = _TEMPLATES[domain]
    rng = np.random.default_rng(seed)
    paragraphs = []
    for i in range(n):
        a, b, c = (str(s) for s in rng.choice(_NAMES, 3, replace=False))
        values = {"a": a.title(), "b": b.title(), "c": c.title(), "n": int(rng.integers(2, 99))}
        context = context_t.format(**values)
        answer = answer_t.format(**values)
        paragraphs.append(
            {
                "context": context,
                "qas": [
                    {
                        "id": f"{domain}-{i}",
                        "question": question_t.format(**values),
                        "answers": [{"text": answer, "answer_start": context.index(answer)}],
                    }
                ],
            }
        )
    path = Path(path)
    path.write_text(
        json.dumps({"version": "1.1", "data": [{"title": domain, "paragraphs": paragraphs}]})
    )
    return path


def make_tiny_qa_model(
    model_dir: str | Path, texts: list[str], *, hidden: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """Save a random BertForQuestionAnswering and a WordPiece tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForQuestionAnswering, PreTrainedTokenizerFast

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=400, special_tokens=list(SPECIAL))
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(model_dir))
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=256,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForQuestionAnswering(config)
    model.save_pretrained(str(model_dir))
    return model_dir
