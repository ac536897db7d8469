"""Scenarios from local text files (CSV, JSONL, Parquet) with text, label and domain columns.

Rows of every file are read in order (CSV and JSONL as strings; labels are class names),
then split by the domain column into the named source and target domains. Classes: the labels
present in the source domains, sorted (numerically when every label is an integer); target rows
of other labels are left out and reported (``FolderWarning``). Each text is tokenized with the
model's own tokenizer (the packaged all-MiniLM-L6-v2 when no ``model`` is given), right-padded
and truncated to ``max_length`` tokens: Split.x is int64 (N, 2, L), ``Scenario.texts`` keeps
the raw strings. ``max_per_domain`` caps each domain (class-stratified, seeded by
``split_seed``). ``files_fingerprint`` (paths and sizes of the files, and of the model
directory's files) is recorded in the parameters, so the run ids change with the data.

Bad input is a ForgeLensError naming it: a missing file, an unknown suffix, missing columns
(named, with the columns the file has), empty texts (file and row), a domain not found or named
twice, a model directory without weights or tokenizer (``core.nn.local_backbones``).

``unlabelled_target=True``: the target rows need no label (a file may lack the label column;
its rows then have none). Such a scenario is for picking only (``core.run.pick``; runs are
refused): its build is the labelled source alone (the target splits are cut from the source's
own rows, a stand-in no run uses), and ``unlabelled_inputs`` gives the target's texts, which
the source model embeds at pick time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.base.data import Scenario, ScenarioBuilder, stratified_subsample
from core.base.validation import ForgeLensError, check_int_range
from core.nn.backbones import TEXT_MAX_LENGTH, MiniLML6, package_file, tokenize
from core.nn.local_backbones import check_model_dir, hf_tokenize
from core.scenarios.image_folder import FolderWarning, _as_list

SUFFIXES = (".csv", ".jsonl", ".parquet")


def default_model_dir() -> str:
    """The packaged all-MiniLM-L6-v2 directory (config, weights, tokenizer)."""
    return str(package_file(*MiniLML6.model_dir))


def read_table(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """``columns`` of one file as strings (row order kept); those of ``optional`` that the
    file lacks are empty."""
    if not path.is_file():
        raise ForgeLensError(
            f"files: {str(path)!r} does not exist; allowed: CSV, JSONL or Parquet files"
        )
    suffix = path.suffix.lower()
    readers = {
        ".csv": lambda: pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8"),
        ".jsonl": lambda: pd.read_json(path, lines=True, dtype=False, encoding="utf-8"),
        ".parquet": lambda: pd.read_parquet(path),
    }
    if suffix not in readers:
        raise ForgeLensError(
            f"files: {str(path)!r} has suffix {suffix!r}; allowed: {', '.join(SUFFIXES)}"
        )
    kind = {".csv": "CSV", ".jsonl": "JSON lines", ".parquet": "Parquet"}[suffix]
    try:
        table = readers[suffix]()
    except UnicodeDecodeError as error:
        raise ForgeLensError(
            f"files: {str(path)!r} is not UTF-8 text (byte {error.start}: {error.reason}); "
            f"allowed: UTF-8 {kind} (re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8)"
        ) from None
    except Exception as error:  # noqa: BLE001 - pandas and pyarrow raise many kinds
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ForgeLensError(
            f"files: {str(path)!r} cannot be read as {kind} ({type(error).__name__}: "
            f"{message}); allowed: a well-formed {kind} file"
        ) from None
    if not isinstance(table, pd.DataFrame):
        raise ForgeLensError(f"files: {str(path)!r} holds no table; allowed: a {kind} table")
    for column in optional:
        if column in columns and column not in table.columns:
            table[column] = ""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ForgeLensError(
            f"{path} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, table.columns))} (set text_column, "
            "label_column, domain_column to the names used)"
        )
    out = table[columns].copy()
    for column in columns:
        out[column] = out[column].map(
            lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        )
    out["_file"] = str(path)
    out["_row"] = np.arange(len(out))
    return out


def _class_order(labels: list[str]) -> tuple[str, ...]:
    unique = sorted(set(labels))
    if all(label.lstrip("-").isdigit() for label in unique):
        unique = sorted(unique, key=int)
    return tuple(unique)


class TextFilesScenario(ScenarioBuilder):
    """Source and target domains of local text files (see the module doc)."""

    name = "text-files"
    description = "texts from local CSV / JSONL / Parquet files"
    modality = "text"

    def __init__(
        self,
        files: Any = (),
        source: Any = (),
        target: Any = (),
        text_column: str = "text",
        label_column: str = "label",
        domain_column: str = "domain",
        model: str | None = None,
        max_length: int = TEXT_MAX_LENGTH,
        max_per_domain: int | None = None,
        split_seed: int = 0,
        files_fingerprint: str | None = None,
        unlabelled_target: bool = False,
    ) -> None:
        super().__init__(split_seed)
        self.files = files
        self.unlabelled_target = unlabelled_target
        self.source = source
        self.target = target
        self.text_column = text_column
        self.label_column = label_column
        self.domain_column = domain_column
        self.model = model
        self.max_length = max_length
        self.max_per_domain = max_per_domain
        self.files_fingerprint = files_fingerprint

    def get_params(self) -> dict[str, Any]:
        params = {
            "files": [str(f) for f in _as_list(self.files)],
            "source": _as_list(self.source),
            "target": _as_list(self.target),
            "text_column": self.text_column,
            "label_column": self.label_column,
            "domain_column": self.domain_column,
            "model": self.model,
            "max_length": self.max_length,
            "max_per_domain": self.max_per_domain,
            "split_seed": self.split_seed,
            "files_fingerprint": self.files_fingerprint,
        }
        if self.unlabelled_target:  # only then: labelled scenarios keep their run ids
            params["unlabelled_target"] = True
        return params

    def _fingerprint(self, paths: list[Path]) -> str:
        digest = hashlib.sha256()
        for path in paths:
            digest.update(f"{path}\0{path.stat().st_size}\n".encode())
        if self.model:
            folder = check_model_dir(self.model)
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                digest.update(f"{path.name}\0{path.stat().st_size}\n".encode())
        return digest.hexdigest()[:16]

    def _table(self) -> pd.DataFrame:
        paths = [Path(f).expanduser() for f in _as_list(self.files)]
        if not paths:
            raise ForgeLensError("files=[] is empty; allowed: CSV, JSONL or Parquet path(s)")
        columns = [self.text_column, self.label_column, self.domain_column]
        optional = (self.label_column,) if self.unlabelled_target else ()
        table = pd.concat([read_table(p, columns, optional) for p in paths], ignore_index=True)
        fingerprint = self._fingerprint(paths)
        if self.files_fingerprint is not None and self.files_fingerprint != fingerprint:
            raise ForgeLensError(
                f"files_fingerprint={self.files_fingerprint!r} was recorded but "
                f"the files now give {fingerprint!r}: they changed since"
            )
        self.files_fingerprint = fingerprint
        empty = table[table[self.text_column].str.strip() == ""]
        if len(empty):
            first = empty.iloc[0]
            raise ForgeLensError(
                f"{len(empty)} empty text(s) in column {self.text_column!r}, "
                f"first: {first['_file']} row {first['_row']}; allowed: "
                "non-empty texts (remove those rows)"
            )
        return table

    def _domains(self, table: pd.DataFrame) -> tuple[list[str], list[str], tuple[str, ...]]:
        found = sorted(table[self.domain_column].unique())
        lists = []
        for role, value in (("source", self.source), ("target", self.target)):
            names = _as_list(value)
            if not names:
                raise ForgeLensError(
                    f"{role}=[] is empty; allowed: domain(s) of column "
                    f"{self.domain_column!r}: {', '.join(found)}"
                )
            for name in names:
                if name not in found:
                    raise ForgeLensError(
                        f"{role} domain {name!r} has no rows (column "
                        f"{self.domain_column!r}); allowed: {', '.join(found)}"
                    )
            lists.append(names)
        named = lists[0] + lists[1]
        twice = sorted({d for d in named if named.count(d) > 1})
        if twice:
            raise ForgeLensError(
                f"domain(s) {', '.join(twice)} named twice in source={lists[0]} "
                f"and target={lists[1]}; allowed: each domain once"
            )
        source_rows = table[table[self.domain_column].isin(lists[0])]
        classes = _class_order(list(source_rows[self.label_column]))
        if self.unlabelled_target and "" in classes:
            first = source_rows[source_rows[self.label_column] == ""].iloc[0]
            raise ForgeLensError(
                f"{first['_file']} row {first['_row']}: field {self.label_column!r} is empty in "
                "a source row; allowed: a labelled source (only the target may be unlabelled)"
            )
        for domain in lists[0] if self.unlabelled_target else named:
            rows = table[table[self.domain_column] == domain]
            labels = set(rows[self.label_column])
            where = ", ".join(sorted(set(rows["_file"])))  # the file(s) the warning is about
            missing = [c for c in classes if c not in labels]
            if missing:
                warnings.warn(
                    f"{self.name} ({where}): domain {domain!r} lacks label(s) "
                    f"{', '.join(missing)}"
                    ": it has no samples of them",
                    FolderWarning,
                    stacklevel=3,
                )
            extra = sorted(labels - set(classes))
            if extra and domain in lists[1]:
                warnings.warn(
                    f"{self.name} ({where}): target domain {domain!r} has label(s) "
                    f"{', '.join(extra)} that no source domain has: those rows are left "
                    "out",
                    FolderWarning,
                    stacklevel=3,
                )
        return lists[0], lists[1], classes

    def check(self) -> None:
        """The checks ``build`` starts with (files, columns, texts, domains), no tokenizing."""
        self._domains(self._table())

    def _rows(self, role: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        table, source, target, classes = self._planned
        index = {c: i for i, c in enumerate(classes)}
        texts, labels, where = [], [], []
        for position, domain in enumerate(source if role == "source" else target):
            part = table[
                (table[self.domain_column] == domain) & table[self.label_column].isin(classes)
            ]
            d_labels = part[self.label_column].map(index).to_numpy(dtype=np.int64)
            keep = np.arange(len(part))
            if self.max_per_domain is not None:
                cap = check_int_range("max_per_domain", self.max_per_domain, 3, 10**9)
                keep = stratified_subsample(d_labels, cap, self.split_seed)
            texts += [part[self.text_column].iloc[i] for i in keep]
            labels.append(d_labels[keep])
            where.append(np.full(len(keep), position, dtype=np.int64))
        return texts, np.concatenate(labels), np.concatenate(where)

    def _tokens(self, texts: list[str]) -> np.ndarray:
        length = check_int_range("max_length", self.max_length, 8, 512)
        if self.model is None:
            return tokenize(texts, length)
        return hf_tokenize(str(check_model_dir(self.model)), texts, length)

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        texts, labels, _ = self._rows("source")
        self._texts = {"source": texts}
        return self._tokens(texts), labels

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        # unlabelled: the source's rows stand in for the target (see the module doc)
        texts, labels, where = self._rows("source" if self.unlabelled_target else "target")
        self._texts["target"] = texts
        self._target_domains = where
        return self._tokens(texts), labels

    def target_strata(self, labels: np.ndarray) -> np.ndarray:
        return self._target_domains * len(self.class_names) + labels

    def build(self) -> Scenario:
        table = self._table()
        source, target, classes = self._domains(table)
        self._planned = (table, source, target, classes)
        self.class_names = classes
        scenario = super().build()
        texts = {
            split: tuple(self._texts[split.split("_")[0]][i] for i in rows)
            for split, rows in scenario.indices.items()
        }
        domains = {
            split: self._target_domains[rows]
            for split, rows in scenario.indices.items()
            if split.startswith("target")
        }
        if self.unlabelled_target:
            return dataclasses.replace(scenario, texts=texts)
        return dataclasses.replace(
            scenario, texts=texts, domain_names=tuple(target), domains=domains
        )

    def unlabelled_inputs(self) -> list[tuple[str, str, str]]:
        """(domain, id, text) of every target row (``unlabelled_target``), in file order; the
        id is the file's ``id`` column when it has one, else ``<file name>:<row>``."""
        table = self._table()
        _, target, _ = self._domains(table)
        out = []
        for path in dict.fromkeys(table["_file"]):
            ids = read_table(Path(path), ["id"], ("id",))["id"]
            part = table[(table["_file"] == path) & table[self.domain_column].isin(target)]
            for domain, row, text in zip(
                part[self.domain_column], part["_row"], part[self.text_column], strict=True
            ):
                out.append((domain, ids.iloc[row] or f"{Path(path).name}:{row}", text))
        return out
