"""Scenario files: a small TOML that declares a scenario from the user's own data and model.

    name = "pacs-photo-to-sketch"     # lower-case letters, digits, . _ -
    kind = "image-folder"             # or "text-files"
    root = "/data/PACS"               # image-folder: ROOT/<domain>/<class>/<image>
    source = ["photo"]
    target = ["sketch", "cartoon"]    # several: the budget applies to each
    backbone = "resnet50"             # effnet-lite0 (packaged, default), resnet18, resnet50
    weights = "/models/resnet50.pth"  # resnets: a local state dict (else torchvision's cache)
    image_size = 224                  # default 224 for resnets, 96 for effnet-lite0
    max_per_domain = 2000             # optional cap, class-stratified
    split_seed = 0
    skip_unreadable = false           # true: skip and count unreadable images
    adaptation = "head"               # default adaptation mode (head or full)
    unlabelled_target = false         # true: ROOT/<target>/ holds images in any nesting, no
                                      # class folders (texts: no label needed); pick only
    [hparams]                         # optional overrides of the hyper-parameters
    adapt_lr = 0.02

Text files (``kind = "text-files"``): ``files`` (CSV, JSONL or Parquet paths), ``text_column``,
``label_column``, ``domain_column`` (defaults text, label, domain), ``source``, ``target``,
``model`` (a local Hugging Face directory; default: the packaged all-MiniLM-L6-v2), ``pooling``
(mean or cls), ``max_length`` (64), ``max_per_domain``, ``split_seed``.

Embeddings (``kind = "embeddings"``, ``core.scenarios.embeddings_scenario``): ``source_file``
and ``target_file``, or ``file`` with ``source`` and ``target`` domain names; every row
labelled; ``head`` adaptation only.

A file's table is data. This module reads, writes and lists tables (standard library only, so
listing a store's scenarios loads no torch); ``core.scenarios.file_builders`` turns a table into
a builder class and default hyper-parameters, and checks and saves it. Nothing is registered
anywhere: a table saved in a run store (``<root>/_scenarios/<name>.toml``, atomic) is found
through that store by ``core.scenarios.catalog``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from core.base.hparams import ADAPTATION_MODES
from core.base.paths import store_root
from core.base.validation import ForgeLensError, check_choice
from core.scenarios.registry import SCENARIOS
from core.storage.atomic import write_bytes_atomic

SCENARIOS_DIR = "_scenarios"
KINDS = ("image-folder", "text-files", "embeddings")
IMAGE_BACKBONES = ("effnet-lite0", "resnet18", "resnet50")
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
COMMON_KEYS = {
    "name",
    "kind",
    "description",
    "source",
    "target",
    "max_per_domain",
    "split_seed",
    "adaptation",
    "hparams",
    "unlabelled_target",
}
KEYS = {
    "image-folder": COMMON_KEYS | {"root", "backbone", "weights", "image_size", "skip_unreadable"},
    "text-files": COMMON_KEYS
    | {"files", "text_column", "label_column", "domain_column", "model", "pooling", "max_length"},
    # precomputed z and logits: two files, or one file split by its domain field
    "embeddings": (COMMON_KEYS - {"max_per_domain", "unlabelled_target"})
    | {"source_file", "target_file", "file"},
}
# which built-in recipe a file scenario's hyper-parameters start from
RECIPES = {
    "image-folder": "digits-to-mnist-effnet",
    "text-files": "tweets-airline-to-apple",
    "embeddings": "digits-to-mnist-effnet",  # a head trained on fixed features
}
PATH_KEYS = ("root", "weights", "model", "source_file", "target_file", "file")


def parse_scenario_text(text: str, where: str = "scenario file") -> dict[str, Any]:
    """The TOML table of a scenario file, its keys checked (values are checked on build)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ForgeLensError(f"{where} is not valid TOML: {error}") from None
    kind = check_choice(f"{where}: kind", data.get("kind"), KINDS)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise ForgeLensError(
            f"{where}: name={name!r} is not allowed; allowed: 1-64 lower-case "
            "letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    unknown = sorted(set(data) - KEYS[kind])
    if unknown:
        raise ForgeLensError(
            f"{where}: key(s) {', '.join(unknown)} not known for kind={kind!r}; "
            f"allowed: {', '.join(sorted(KEYS[kind]))}"
        )
    if kind == "embeddings":
        check_embeddings_keys(data, where)
    for key in ("source", "target"):
        if key not in data and kind != "embeddings":
            raise ForgeLensError(f"{where}: {key} is missing; give the {key} domain name(s)")
    if kind == "image-folder" and "root" not in data:
        raise ForgeLensError(f"{where}: root is missing; give the folder ROOT/<domain>/<class>/...")
    if kind == "text-files" and "files" not in data:
        raise ForgeLensError(f"{where}: files is missing; give CSV, JSONL or Parquet path(s)")
    check_value_types(data, where)
    return data


def check_embeddings_keys(data: dict[str, Any], where: str) -> None:
    """An embeddings table names two files, or one file and its source and target domains;
    its adaptation can only be head (no network)."""
    files = "source_file" in data or "target_file" in data
    domains = "source" in data or "target" in data
    two = "source_file" in data and "target_file" in data and not domains and "file" not in data
    one = "file" in data and "source" in data and "target" in data and not files
    if not (two or one):
        raise ForgeLensError(
            f"{where}: kind='embeddings' needs source_file and target_file, or file with "
            "source and target (domain names of its domain field); allowed: one of the two"
        )
    if data.get("adaptation", "head") != "head":
        raise ForgeLensError(
            f"{where}: adaptation={data['adaptation']!r} is not allowed for kind='embeddings' "
            "(no network to fine-tune); allowed: head"
        )


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _texts(value: Any) -> bool:
    """A text or a non-empty list of texts."""
    return _text(value) or (
        isinstance(value, list) and len(value) > 0 and all(_text(v) for v in value)
    )


def _count(low: int) -> Any:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


# key -> (test, what is allowed): TOML gives each value its type, and a wrong one (a "false"
# that would be true, a model = 5) is refused here, before anything is built or saved
VALUE_TYPES: dict[str, tuple[Any, str]] = {
    "description": (lambda v: isinstance(v, str), "a text"),
    "source": (_texts, "a domain name or a list of domain names"),
    "target": (_texts, "a domain name or a list of domain names"),
    "max_per_domain": (_count(1), "a positive integer"),
    "split_seed": (_count(0), "a non-negative integer"),
    "adaptation": (_text, "a text (head or full)"),
    "hparams": (lambda v: isinstance(v, dict), "a [hparams] table"),
    "root": (_text, "a folder path (text)"),
    "backbone": (_text, f"a text ({', '.join(IMAGE_BACKBONES)})"),
    "weights": (_text, "a file path (text)"),
    "image_size": (_count(1), "a positive integer"),
    "skip_unreadable": (lambda v: isinstance(v, bool), "true or false (unquoted)"),
    "unlabelled_target": (lambda v: isinstance(v, bool), "true or false (unquoted)"),
    "files": (_texts, "a file path or a list of file paths (texts)"),
    "text_column": (_text, "a column name (text)"),
    "label_column": (_text, "a column name (text)"),
    "domain_column": (_text, "a column name (text)"),
    "model": (_text, "a local model folder path (text)"),
    "source_file": (_text, "an embeddings file path (.npz, .parquet, .safetensors)"),
    "target_file": (_text, "an embeddings file path (.npz, .parquet, .safetensors)"),
    "file": (_text, "an embeddings file path (.npz, .parquet, .safetensors)"),
    "pooling": (_text, "a text (mean or cls)"),
    "max_length": (_count(1), "a positive integer"),
}


def check_value_types(data: dict[str, Any], where: str = "scenario file") -> None:
    """Every value of the table has the type its key allows (``VALUE_TYPES``)."""
    for key, value in data.items():
        test, allowed = VALUE_TYPES.get(key, (None, ""))
        if test is not None and not test(value):
            raise ForgeLensError(f"{where}: {key}={value!r} is not allowed; allowed: {allowed}")


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ForgeLensError(
            f"scenario file {str(path)!r} does not exist; allowed: a TOML file "
            "(see README, 'Your own data')"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ForgeLensError(
            f"scenario file {path} cannot be read as UTF-8 text: {error}"
        ) from None
    data = parse_scenario_text(text, f"scenario file {path}")
    # relative paths inside the file are relative to the file
    for key in PATH_KEYS:
        if isinstance(data.get(key), str) and not Path(data[key]).expanduser().is_absolute():
            data[key] = str((path.parent / data[key]).resolve())
    if isinstance(data.get("files"), str | list):
        files = [data["files"]] if isinstance(data["files"], str) else data["files"]
        data["files"] = [
            f if Path(f).expanduser().is_absolute() else str((path.parent / f).resolve())
            for f in files
        ]
    return data


def builder_params(data: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters of the kind's builder from the table."""
    keep = {
        "image-folder": (
            "root",
            "source",
            "target",
            "image_size",
            "max_per_domain",
            "split_seed",
            "skip_unreadable",
            "unlabelled_target",
        ),
        "text-files": (
            "files",
            "source",
            "target",
            "text_column",
            "label_column",
            "domain_column",
            "max_per_domain",
            "split_seed",
            "max_length",
            "unlabelled_target",
        ),
        "embeddings": ("source_file", "target_file", "file", "source", "target", "split_seed"),
    }
    params = {key: data[key] for key in keep[data["kind"]] if key in data}
    if data["kind"] == "image-folder" and "image_size" not in params:
        params["image_size"] = 96 if data.get("backbone", "effnet-lite0") == "effnet-lite0" else 224
    if data["kind"] == "text-files":
        params["model"] = data.get("model")
    return params


def unlabelled_target(data: dict[str, Any] | None) -> bool:
    """Whether a scenario table declares an unlabelled target (picks only, no runs)."""
    return bool(data and data.get("unlabelled_target", False))


def file_adaptation(data: dict[str, Any]) -> str:
    """The table's default adaptation mode (head unless it says otherwise)."""
    return check_choice("adaptation", data.get("adaptation", "head"), ADAPTATION_MODES)


def to_toml(data: dict[str, Any]) -> str:
    """A scenario table as TOML text (strings, numbers, booleans, lists, an [hparams] table)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, int | float):
            return repr(v)
        return json.dumps(str(v))

    lines = [f"{k} = {value(v)}" for k, v in data.items() if k != "hparams" and v is not None]
    if data.get("hparams"):
        lines += ["", "[hparams]"] + [f"{k} = {value(v)}" for k, v in data["hparams"].items()]
    return "\n".join(lines) + "\n"


def scenarios_dir(root: str | Path | None) -> Path:
    return store_root(root) / SCENARIOS_DIR


# folders that hold no one's data: a scan of them would walk the machine or its kernel files
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev", "/run")


def check_absolute(data: dict[str, Any]) -> dict[str, Any]:
    """Absolute paths only (a saved scenario is read from anywhere), and no image root at the
    file system's top or in a system folder."""
    files = data.get("files") or []
    paths = [(key, data.get(key)) for key in PATH_KEYS]
    paths += [("files", f) for f in ([files] if isinstance(files, str) else files)]
    for key, value in paths:
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            raise ForgeLensError(
                f"{key}={value!r} is relative; allowed: an absolute path in a saved scenario"
            )
    root = data.get("root")
    if isinstance(root, str):
        resolved = Path(root).expanduser().resolve()
        system = [f for f in SYSTEM_FOLDERS if resolved == Path(f) or Path(f) in resolved.parents]
        if resolved == Path(resolved.anchor) or system:
            raise ForgeLensError(
                f"root={root!r} is not allowed; allowed: a data folder ROOT/<domain>/<class>/"
                "<image>, not the file system's top or a system folder "
                f"({', '.join(SYSTEM_FOLDERS)})"
            )
    return data


def save_scenario(root: str | Path | None, text: str) -> Path:
    """Check ``text`` (a scenario file; relative paths are not allowed here) and write it to
    ``<root>/_scenarios/<name>.toml`` atomically; returns the path."""
    data = check_absolute(parse_scenario_text(text))
    path = scenarios_dir(root) / f"{data['name']}.toml"
    write_bytes_atomic(path, text.encode())
    return path


def read_saved(root: str | Path | None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The tables saved in the run store ``root``: (table by name, error by file name). A file
    that does not parse, or whose name differs from its file's, is reported, never raised."""
    folder = scenarios_dir(root)
    tables, errors = {}, {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            data = check_absolute(read_scenario_file(path))
        except ForgeLensError as error:
            errors[path.name] = str(error)
            continue
        if data["name"] != path.stem or data["name"] in SCENARIOS:
            errors[path.name] = (
                f"{path.name} declares name={data['name']!r}; allowed: its file's name "
                f"{path.stem!r}, not a built-in scenario's"
            )
            continue
        tables[data["name"]] = data
    return tables, errors
