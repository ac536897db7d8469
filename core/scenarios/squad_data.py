"""SQuAD-layout data from local files (span QA on user data; the scenario is
``core.scenarios.squad_files``).

File layout (SQuAD v1.1, e.g. ``train-v1.1.json``; NewsQA converted to it):
``{"data": [{"title": ..., "paragraphs": [{"context": str, "qas": [{"id": str, "question": str,
"answers": [{"text": str, "answer_start": int}, ...]}]}]}]}``. Questions without an answer
(SQuAD 2.0's ``is_impossible``) are skipped; the first answer is the training target, all of
them count for EM/F1.

Tokenisation: the model directory's fast tokenizer, question then context, truncating the
context only, padded to ``max_length``. A question whose answer falls outside the kept context
is dropped (the scenario counts them in ``dropped``). ``encode_samples`` gives x int64
(N, 4, L): token ids, attention mask, token type ids (zeros for models without them) and the
context mask (1 on context tokens: the only positions a predicted span may use), the (start,
end) token positions and each token's character span in the context (to cut predicted answers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.base.validation import ForgeLensError, check_int_range

QA_MAX_LENGTH = 256


@dataclass(frozen=True)
class QASample:
    """One question: its context, the first gold answer (text and character start), all golds."""

    id: str
    question: str
    context: str
    answer: str
    answer_start: int
    answers: tuple[str, ...] = ()


def load_squad_json(path: str | Path, limit: int | None = None) -> list[QASample]:
    """Answerable questions of a SQuAD-layout JSON file, in file order (first ``limit``)."""
    path = Path(path)
    if not path.is_file():
        raise ForgeLensError(
            f"SQuAD file {str(path)!r} does not exist; allowed: a local JSON "
            "file in the SQuAD v1.1 layout (see README, span QA)"
        )
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        articles = payload["data"]
    except (ValueError, KeyError, TypeError) as error:
        raise ForgeLensError(
            f"{str(path)!r} is not a SQuAD-layout JSON file ({error}); allowed: "
            '{"data": [{"paragraphs": [{"context", "qas"}]}]}'
        ) from None
    samples: list[QASample] = []
    for article in articles:
        for paragraph in article.get("paragraphs", []):
            context = paragraph["context"]
            for qa in paragraph.get("qas", []):
                answers = [a for a in qa.get("answers", []) if a.get("text")]
                if qa.get("is_impossible") or not answers:
                    continue
                first = answers[0]
                samples.append(
                    QASample(
                        str(qa.get("id", len(samples))),
                        qa["question"],
                        context,
                        first["text"],
                        int(first["answer_start"]),
                        tuple(a["text"] for a in answers),
                    )
                )
                if limit is not None and len(samples) >= limit:
                    return samples
    if not samples:
        raise ForgeLensError(f"{str(path)!r} holds no answerable question")
    return samples


def encode_samples(
    samples: list[QASample], tokenizer: Any, max_length: int = QA_MAX_LENGTH
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x int64 (N, 4, L), spans (N, 2), offsets (N, L, 2), kept rows) of the samples whose
    answer lies inside the kept context (see the module doc)."""
    max_length = check_int_range("max_length", max_length, 16, 4096)
    if not getattr(tokenizer, "is_fast", False):
        raise ForgeLensError(
            "the QA model directory needs a fast tokenizer (tokenizer.json): "
            "character offsets locate the answer tokens"
        )
    encoded = tokenizer(
        [s.question for s in samples],
        [s.context for s in samples],
        truncation="only_second",
        max_length=max_length,
        padding="max_length",
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )
    xs, spans, offsets, kept = [], [], [], []
    for row, sample in enumerate(samples):
        sequence = encoded.sequence_ids(row)
        context = np.array([s == 1 for s in sequence], dtype=np.int64)
        offset = np.asarray(encoded["offset_mapping"][row], dtype=np.int64)
        first, last = sample.answer_start, sample.answer_start + len(sample.answer)
        inside = np.flatnonzero(context)
        starts = inside[(offset[inside, 0] <= first) & (offset[inside, 1] > first)]
        ends = inside[(offset[inside, 0] < last) & (offset[inside, 1] >= last)]
        if not len(starts) or not len(ends) or ends[0] < starts[0]:
            continue
        types = encoded.get("token_type_ids")
        token_types = np.asarray(
            types[row] if types is not None else np.zeros(max_length), dtype=np.int64
        )
        xs.append(
            np.stack(
                [
                    np.asarray(encoded["input_ids"][row], dtype=np.int64),
                    np.asarray(encoded["attention_mask"][row], dtype=np.int64),
                    token_types,
                    context,
                ]
            )
        )
        spans.append((int(starts[0]), int(ends[0])))
        offsets.append(offset)
        kept.append(row)
    if not kept:
        raise ForgeLensError(
            f"no answer fits in max_length={max_length} tokens; allowed: a larger max_length"
        )
    return (
        np.stack(xs),
        np.asarray(spans, dtype=np.int64),
        np.stack(offsets),
        np.asarray(kept, dtype=np.int64),
    )
