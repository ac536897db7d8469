"""Scenario files in tests: an entry made from a table (as a store would give it), and a table
saved into a store without the data scan (so a build can fail later, where a test wants it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.scenarios import ScenarioEntry
from core.scenarios.scenario_file import parse_scenario_text, save_scenario, to_toml


def file_entry(table: dict[str, Any]) -> ScenarioEntry:
    """The entry of ``table`` (its keys, backbone and hyper-parameters checked, data not)."""
    entry = ScenarioEntry(table["name"], parse_scenario_text(to_toml(table)))
    entry.hparams()
    return entry


def save_unchecked(root: str | Path, table: dict[str, Any]) -> str:
    """Save ``table`` into the store ``root`` (keys, backbone and hyper-parameters checked, data
    not); returns its name."""
    file_entry(table)
    save_scenario(root, to_toml(table))
    return table["name"]
