"""The declared parameter constraints of `python -m core table` (and the pages' table choices)."""

from __future__ import annotations

from core.base.hparams import ADAPTATION_MODES
from core.base.params import Constraint, Options
from core.base.splits import ACCURACY_SPLITS

TABLE_KINDS = ("accuracy", "correlation", "theory", "all")
TABLE_FORMATS = ("text", "csv")
TABLE_CONSTRAINTS: dict[str, list[Constraint | None]] = {
    "split": [Options(ACCURACY_SPLITS)],
    "adaptation": [None, Options(ADAPTATION_MODES)],
    "kind": [Options(TABLE_KINDS)],
    "format": [Options(TABLE_FORMATS)],
}
