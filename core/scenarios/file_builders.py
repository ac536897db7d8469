"""What a scenario file's table declares, made real: its builder class, its backbone, its default
hyper-parameters; and the check that runs before a table is saved into a run store.

Loads the data builders and the local backbones (torch), so the light listing in
``core.scenarios.scenario_file`` never imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from core.base.data import Scenario, ScenarioBuilder
from core.base.hparams import DEFAULTS, PRETRAINED_FEATURE_DIMS, HParams
from core.base.validation import ForgeLensError, check_choice, suggest
from core.nn import local_backbones
from core.scenarios.embeddings_scenario import EmbeddingsScenario
from core.scenarios.image_folder import ImageFolderScenario
from core.scenarios.registry import SCENARIOS
from core.scenarios.scenario_file import (
    IMAGE_BACKBONES,
    RECIPES,
    builder_params,
    check_absolute,
    file_adaptation,
    parse_scenario_text,
    read_scenario_file,
    save_scenario,
    to_toml,
)
from core.scenarios.text_files import TextFilesScenario, default_model_dir


def backbone_spec(data: dict[str, Any]) -> dict[str, Any]:
    """The backbone the table names, as ``core.nn.local_backbones.local_backbone`` takes it
    (empty for the packaged effnet-lite0 and all-MiniLM-L6-v2 with mean pooling)."""
    if data["kind"] == "embeddings":
        return {}  # the given z: no backbone
    if data["kind"] == "image-folder":
        backbone = check_choice("backbone", data.get("backbone", "effnet-lite0"), IMAGE_BACKBONES)
        if backbone == "effnet-lite0":
            if data.get("weights"):
                raise ForgeLensError(
                    "weights is given but backbone='effnet-lite0' is packaged; "
                    "allowed: weights only with resnet18 or resnet50"
                )
            return {}
        return {"kind": backbone, "weights": data.get("weights")}
    pooling = data.get("pooling", "mean")
    if data.get("model") is None and pooling == "mean":
        return {}  # the packaged model with its model card's pooling
    return {"kind": "hf", "model": data.get("model") or default_model_dir(), "pooling": pooling}


def _arch(data: dict[str, Any]) -> tuple[str, int]:
    """(architecture name, feature size) of the table's backbone."""
    if data["kind"] == "embeddings":  # D read from the source file (checked on build)
        builder = EmbeddingsScenario(**builder_params(data))
        return "embeddings", int(builder.tables()[0].z.shape[1])
    spec = backbone_spec(data)
    if not spec:
        arch = "effnet-lite0" if data["kind"] == "image-folder" else "minilm-l6"
        return arch, PRETRAINED_FEATURE_DIMS[arch]
    backbone = local_backbones.local_backbone(spec)
    return backbone.name, backbone.feature_dim


@cache
def builder_class(text: str) -> type[ScenarioBuilder]:
    """The builder class a scenario file's TOML ``text`` declares (made once per process and
    text: a memo, not a registry). Its scenarios carry the table's backbone spec."""
    data = parse_scenario_text(text)
    name = data["name"]
    base_cls = {
        "image-folder": ImageFolderScenario,
        "text-files": TextFilesScenario,
        "embeddings": EmbeddingsScenario,
    }[data["kind"]]
    params = builder_params(data)
    spec = backbone_spec(data)
    description = data.get("description") or f"{data['kind']} scenario from {name}.toml"

    def __init__(self: Any, **overrides: Any) -> None:
        base_cls.__init__(self, **{**params, **overrides})

    def build(self: Any) -> Scenario:
        return dataclasses.replace(base_cls.build(self), backbone=spec)

    return type(
        f"FileScenario_{name}",
        (base_cls,),
        {"name": name, "description": description, "__init__": __init__, "build": build},
    )


def file_hparams(data: dict[str, Any]) -> HParams:
    """The table's default hyper-parameters: its kind's built-in recipe, its backbone, and its
    ``[hparams]`` overrides."""
    arch, dim = _arch(data)
    hp = replace(DEFAULTS[RECIPES[data["kind"]]], arch=arch, feature_dim=dim)
    overrides = data.get("hparams", {})
    if not isinstance(overrides, dict):
        raise ForgeLensError(f"hparams={overrides!r} is not allowed; allowed: a [hparams] table")
    unknown = sorted(set(overrides) - {f.name for f in fields(HParams)})
    if unknown:
        known = [f.name for f in fields(HParams)]
        raise ForgeLensError(
            f"[hparams] key(s) {', '.join(unknown)} not known{suggest(unknown[0], known)}; "
            f"allowed: {', '.join(known)}"
        )
    return replace(hp, **overrides)


def check_table(data: dict[str, Any]) -> None:
    """Every check a saved table must pass: a name that is not a built-in's, its backbone and
    hyper-parameters, its adaptation mode, and a scan of its data (files, domains, classes; no
    image decoded, no text tokenized): the errors a build would raise, early."""
    if data["name"] in SCENARIOS:
        raise ForgeLensError(f"name={data['name']!r} is a built-in scenario; allowed: another name")
    file_hparams(data)
    file_adaptation(data)
    builder_class(to_toml(data))().check()


def use_scenario_file(path: str | Path, root: str | Path | None) -> str:
    """Read and check a scenario file, then save it (absolute paths) into the run store
    ``root``; returns the scenario's name. Nothing is saved when a check fails."""
    return save_table(root, read_scenario_file(path))


def save_table(root: str | Path | None, data: dict[str, Any]) -> str:
    """Check a parsed scenario table, then save it into the run store ``root`` (what the
    dashboard's form does); returns the name. Nothing is saved when a check fails."""
    data = check_absolute(parse_scenario_text(to_toml(data)))
    check_table(data)
    save_scenario(root, to_toml(data))
    return data["name"]
