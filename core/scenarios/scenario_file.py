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
    [hparams]                         # optional overrides of the hyper-parameters
    adapt_lr = 0.02

Text files (``kind = "text-files"``): ``files`` (CSV, JSONL or Parquet paths), ``text_column``,
``label_column``, ``domain_column`` (defaults text, label, domain), ``source``, ``target``,
``model`` (a local Hugging Face directory; default: the packaged all-MiniLM-L6-v2), ``pooling``
(mean or cls), ``max_length`` (64), ``max_per_domain``, ``split_seed``.

``register_scenario_file(path)`` checks the file and registers its scenario under its name
(builder, hyper-parameter defaults, default adaptation mode, and a backbone for local weights),
so every function taking a scenario name works with it. ``save_scenario`` keeps a copy in the
run store (``<root>/_scenarios/<name>.toml``, atomic), which ``register_store_scenarios`` reads
back, so a saved scenario shows in every scenario list of the dashboard and the CLI.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from core.base.validation import ForgeLensError, check_choice

SCENARIOS_DIR = "_scenarios"
KINDS = ("image-folder", "text-files")
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
}
KEYS = {
    "image-folder": COMMON_KEYS | {"root", "backbone", "weights", "image_size", "skip_unreadable"},
    "text-files": COMMON_KEYS
    | {"files", "text_column", "label_column", "domain_column", "model", "pooling", "max_length"},
}
# which built-in recipe a file scenario's hyper-parameters start from
RECIPES = {"image-folder": "digits-to-mnist-effnet", "text-files": "tweets-airline-to-apple"}
# names registered from files: name -> the parsed table (so re-registering is idempotent)
REGISTERED: dict[str, dict[str, Any]] = {}


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
    for key in ("source", "target"):
        if key not in data:
            raise ForgeLensError(f"{where}: {key} is missing; give the {key} domain name(s)")
    if kind == "image-folder" and "root" not in data:
        raise ForgeLensError(f"{where}: root is missing; give the folder ROOT/<domain>/<class>/...")
    if kind == "text-files" and "files" not in data:
        raise ForgeLensError(f"{where}: files is missing; give CSV, JSONL or Parquet path(s)")
    return data


def read_scenario_file(path: str | Path) -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ForgeLensError(
            f"scenario file {str(path)!r} does not exist; allowed: a TOML file "
            "(see README, 'Your own data')"
        )
    data = parse_scenario_text(path.read_text(), f"scenario file {path}")
    # relative paths inside the file are relative to the file
    for key in ("root", "weights", "model"):
        if isinstance(data.get(key), str) and not Path(data[key]).expanduser().is_absolute():
            data[key] = str((path.parent / data[key]).resolve())
    if isinstance(data.get("files"), str | list):
        files = [data["files"]] if isinstance(data["files"], str) else data["files"]
        data["files"] = [
            f if Path(f).expanduser().is_absolute() else str((path.parent / f).resolve())
            for f in files
        ]
    return data


def _builder_params(data: dict[str, Any]) -> dict[str, Any]:
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
        ),
    }
    params = {key: data[key] for key in keep[data["kind"]] if key in data}
    if data["kind"] == "image-folder" and "image_size" not in params:
        params["image_size"] = 96 if data.get("backbone", "effnet-lite0") == "effnet-lite0" else 224
    if data["kind"] == "text-files":
        params["model"] = data.get("model")
    return params


def _arch(data: dict[str, Any]) -> str:
    """The registered architecture name of the file's backbone."""
    from core.nn import local_backbones

    if data["kind"] == "image-folder":
        backbone = check_choice("backbone", data.get("backbone", "effnet-lite0"), IMAGE_BACKBONES)
        if backbone == "effnet-lite0":
            if data.get("weights"):
                raise ForgeLensError(
                    "weights is given but backbone='effnet-lite0' is packaged; "
                    "allowed: weights only with resnet18 or resnet50"
                )
            return "effnet-lite0"
        return local_backbones.register_resnet(backbone, data.get("weights"))
    pooling = data.get("pooling", "mean")
    if data.get("model") is None and pooling == "mean":
        return "minilm-l6"  # the packaged model with its model card's pooling
    from core.scenarios.text_files import default_model_dir

    return local_backbones.register_text_encoder(data.get("model") or default_model_dir(), pooling)


def register_table(data: dict[str, Any]) -> str:
    """Register the scenario a parsed table declares (see the module doc); returns its name."""
    from core.base.hparams import (
        ADAPTATION_MODES,
        DEFAULTS,
        PRETRAINED_FEATURE_DIMS,
        HParams,
        register_defaults,
    )
    from core.scenarios import SCENARIOS
    from core.scenarios.image_folder import ImageFolderScenario
    from core.scenarios.text_files import TextFilesScenario

    name = data["name"]
    if name in SCENARIOS and name not in REGISTERED:
        raise ForgeLensError(f"name={name!r} is a built-in scenario; allowed: another name")
    if REGISTERED.get(name) == data:
        return name
    arch = _arch(data)
    base_cls = ImageFolderScenario if data["kind"] == "image-folder" else TextFilesScenario
    params = _builder_params(data)
    description = data.get("description") or f"{data['kind']} scenario from {name}.toml"

    def __init__(self, **overrides: Any) -> None:
        base_cls.__init__(self, **{**params, **overrides})

    builder = type(
        f"FileScenario_{name}",
        (base_cls,),
        {"name": name, "description": description, "__init__": __init__, "from_file": True},
    )
    recipe = DEFAULTS[RECIPES[data["kind"]]]
    hp = replace(recipe, arch=arch, feature_dim=PRETRAINED_FEATURE_DIMS[arch])
    overrides = data.get("hparams", {})
    if not isinstance(overrides, dict):
        raise ForgeLensError(f"hparams={overrides!r} is not allowed; allowed: a [hparams] table")
    unknown = sorted(set(overrides) - {f.name for f in fields(HParams)})
    if unknown:
        raise ForgeLensError(
            f"[hparams] key(s) {', '.join(unknown)} not known; allowed: "
            + ", ".join(f.name for f in fields(HParams))
        )
    hp = replace(hp, **overrides)
    adaptation = check_choice("adaptation", data.get("adaptation", "head"), ADAPTATION_MODES)
    (SCENARIOS.replace if name in SCENARIOS else SCENARIOS.add)(name, builder)
    register_defaults(name, hp, adaptation)
    REGISTERED[name] = data
    return name


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


def check_registered(name: str) -> None:
    """Scan the data of registered file scenario ``name`` (files, domains, classes; no image
    is decoded, no text tokenized): the errors a build would raise, early."""
    from core.scenarios import SCENARIOS

    SCENARIOS[name]().check()


def use_scenario_file(path: str | Path, root: str | Path | None) -> str:
    """Read, register and check a scenario file, then save it (absolute paths) into the run
    store ``root``; returns the scenario's name. Nothing is saved when a check fails."""
    return save_table(root, read_scenario_file(path))


def save_table(root: str | Path | None, data: dict[str, Any]) -> str:
    """Register and check a parsed scenario table, then save it into the run store ``root``
    (what the dashboard's form does); returns the name. Nothing is saved when a check fails."""
    name = register_table(_check_absolute(parse_scenario_text(to_toml(data))))
    check_registered(name)
    save_scenario(root, to_toml(data))
    return name


def register_scenario_file(path: str | Path) -> str:
    """Check and register the scenario of a TOML file; returns its name."""
    return register_table(read_scenario_file(path))


def scenarios_dir(root: str | Path | None) -> Path:
    from core.base.paths import store_root  # light: no store tables loaded to find a folder

    return store_root(root) / SCENARIOS_DIR


def _check_absolute(data: dict[str, Any]) -> dict[str, Any]:
    paths = [(key, data.get(key)) for key in ("root", "weights", "model")]
    paths += [("files", f) for f in (data.get("files") or [])]
    for key, value in paths:
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            raise ForgeLensError(
                f"{key}={value!r} is relative; allowed: an absolute path in a saved scenario"
            )
    return data


def save_scenario(root: str | Path | None, text: str) -> Path:
    """Check ``text`` (a scenario file; relative paths are not allowed here) and write it to
    ``<root>/_scenarios/<name>.toml`` atomically; returns the path."""
    from core.storage.atomic import write_bytes_atomic

    data = _check_absolute(parse_scenario_text(text))
    path = scenarios_dir(root) / f"{data['name']}.toml"
    write_bytes_atomic(path, text.encode())
    return path


def register_store_scenarios(root: str | Path | None) -> tuple[list[str], dict[str, str]]:
    """Register every scenario saved in the run store; returns (names, errors by file) so one
    broken file (a moved folder, a deleted weights file) never hides the others."""
    folder = scenarios_dir(root)
    names, errors = [], {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            names.append(register_scenario_file(path))
        except ForgeLensError as error:
            errors[path.name] = str(error)
    return names, errors


def register_saved(name: str, root: str | Path | None = None) -> bool:
    """Register ``name`` from the run store's saved scenarios when it is there (the default
    store unless ``root``); True when it is now registered."""
    path = scenarios_dir(root) / f"{name}.toml"
    if not path.is_file():
        return False
    register_scenario_file(path)
    return True
