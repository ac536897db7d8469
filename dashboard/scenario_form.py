"""The Run page's "your own data" form: declare a scenario from a local folder or text files.

It checks the data live as the user types (domains found, classes per domain, counts and
problems, from ``core.scenarios``' scans; once source and target are chosen it decodes their
images, up to ``DECODE_LIMIT``, and says how many it checked), shows the TOML it will save and
saves it into the run store (``core.scenarios.file_builders.save_table``), after which the
scenario appears in every scenario list of that store (``core.scenarios.available(root)``).
Saving is disabled while a problem is shown, a built-in name is refused, and an existing saved
name is replaced only when the user ticks that it may be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.base.validation import ForgeLensError
from core.scenarios import SCENARIOS, available, saved_scenarios
from core.scenarios.scenario_file import IMAGE_BACKBONES, to_toml
from dashboard.text import escape_markdown

JUST_SAVED = "fl_scenario_form_saved"
KIND_TITLES = {
    "image-folder": "Image folder (ROOT/<domain>/<class>/<image>)",
    "text-files": "Text files (CSV, JSONL, Parquet)",
}


def scenario_names(root: str) -> list[str]:
    """Built-in scenarios, then the ones saved in the run store; a saved file that no longer
    reads is reported once under the list."""
    _, errors = saved_scenarios(root)
    for file, error in errors.items():
        st.caption(escape_markdown(f"Saved scenario {file} cannot be used: {error}"))
    return list(available(root))


@st.cache_data(show_spinner=False, max_entries=32)
def domain_table(root: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """``core.analysis.domain_report.domain_table`` (empty for runs without target domains),
    cached."""
    from core.analysis.domain_report import domain_table as table
    from core.storage.store import RunStore

    return table(RunStore(root), list(run_ids))


def folder_counts(root: str) -> tuple[pd.DataFrame, Any]:
    """Images per (domain, class) as a table (domains as rows, plus a total), and the scan."""
    from core.scenarios.image_folder import scan_folder  # loads torch: only when scanning

    scan = scan_folder(root)
    counts = pd.DataFrame(scan.counts()).T.fillna(0).astype(int)
    counts = counts.reindex(sorted(counts.columns), axis=1) if len(counts.columns) else counts
    counts.insert(0, "classes", (counts > 0).sum(axis=1))
    counts["images"] = counts.drop(columns="classes").sum(axis=1)
    return counts.rename_axis("domain"), scan


def text_counts(files: list[str], text: str, label: str, domain: str) -> pd.DataFrame:
    """Rows per (domain, label) of the files, domains as rows, plus a total."""
    from core.scenarios.text_files import read_table

    table = pd.concat([read_table(Path(f).expanduser(), [text, label, domain]) for f in files])
    counts = table.groupby([domain, label]).size().unstack(fill_value=0)
    counts["rows"] = counts.sum(axis=1)
    return counts.rename_axis(index="domain", columns=None)


DECODE_LIMIT = 2000  # images the form decodes before saving (it says how many it checked)


def decode_check(
    scan: Any, domains: list[str], limit: int = DECODE_LIMIT
) -> tuple[int, int, list[str]]:
    """(checked, total, unreadable paths) over the images of ``domains``: each of the first
    ``limit`` (by domain, class and name) is fully decoded, as a sweep would decode it."""
    from PIL import Image

    paths = [p for d in domains for c in sorted(scan.files.get(d, {})) for p in scan.files[d][c]]
    bad = []
    for path in paths[:limit]:
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, ValueError, Image.DecompressionBombError):
            bad.append(str(path))
    return min(len(paths), limit), len(paths), bad


def _image_fields(data: dict[str, Any]) -> bool:
    """The folder's fields into ``data``; False when a problem is shown (saving disabled)."""
    root = st.text_input(
        "Folder",
        key="fl_form_root",
        placeholder="/data/PACS",
        help="An absolute path laid out ROOT/<domain>/<class>/<image> (jpg, png, bmp, webp).",
    )
    if not root:
        return True
    try:
        counts, scan = folder_counts(root)
    except ForgeLensError as error:
        st.error(escape_markdown(str(error)))
        return False
    st.dataframe(counts, width="stretch")
    domains = scan.domains
    left, right = st.columns(2)
    source = left.multiselect("Source domain(s)", domains, key="fl_form_source")
    target = right.multiselect(
        "Target domain(s)",
        [d for d in domains if d not in source],
        key="fl_form_target",
        help="Several: the budget applies to each target domain.",
    )
    errors, notes = scan.problems(source or None, target or None)
    for message in errors:
        st.error(escape_markdown(message))
    for message in notes:
        st.warning(escape_markdown(message))
    left, middle, right = st.columns(3)
    backbone = left.selectbox("Backbone", IMAGE_BACKBONES, key="fl_form_backbone")
    size = middle.number_input(
        "Image size",
        8,
        1024,
        96 if backbone == "effnet-lite0" else 224,
        key=f"fl_form_size::{backbone}",
    )
    cap = right.number_input("Cap per domain (0: all)", 0, 10**7, 0, key="fl_form_cap")
    weights = ""
    if backbone != "effnet-lite0":
        weights = st.text_input(
            "Weights file (.pth or .safetensors)",
            key="fl_form_weights",
            help="Empty: torchvision's cache folder.",
        )
    skip = st.checkbox("Skip unreadable images (and count them)", key="fl_form_skip")
    data.update(
        root=str(Path(root).expanduser()),
        source=source,
        target=target,
        backbone=backbone,
        image_size=int(size),
        skip_unreadable=bool(skip),
    )
    if weights:
        data["weights"] = weights
    if cap:
        data["max_per_domain"] = int(cap)
    if errors or not source or not target:
        return not errors
    checked, total, bad = decode_check(scan, source + target)
    what = f"all {total} images" if checked == total else f"the first {checked} of {total} images"
    if bad and not skip:
        st.error(  # a path from the user's disk: shown as text
            escape_markdown(
                f"{len(bad)} of {what} do not decode, first: {bad[0]}. Remove them, or tick "
                "'Skip unreadable images'."
            )
        )
        return False
    st.caption(
        f"Decoded {what} of the chosen domains"
        + (f": {len(bad)} unreadable, skipped by the sweep." if bad else ": all readable.")
    )
    return True


def _text_fields(data: dict[str, Any]) -> bool:
    """The files' fields into ``data``; False when a problem is shown (saving disabled)."""
    files = [
        f.strip()
        for f in st.text_area(
            "Files (one absolute path per line)", key="fl_form_files"
        ).splitlines()
        if f.strip()
    ]
    left, middle, right = st.columns(3)
    text = left.text_input("Text column", "text", key="fl_form_text")
    label = middle.text_input("Label column", "label", key="fl_form_label")
    domain = right.text_input("Domain column", "domain", key="fl_form_domain")
    if not files:
        return True
    try:
        counts = text_counts(files, text, label, domain)
    except ForgeLensError as error:
        st.error(escape_markdown(str(error)))
        return False
    st.dataframe(counts, width="stretch")
    domains = list(counts.index)
    left, right = st.columns(2)
    source = left.multiselect("Source domain(s)", domains, key="fl_form_tsource")
    target = right.multiselect(
        "Target domain(s)", [d for d in domains if d not in source], key="fl_form_ttarget"
    )
    left, middle, right = st.columns(3)
    model = left.text_input("Model folder (empty: packaged MiniLM)", key="fl_form_model")
    pooling = middle.selectbox("Pooling", ("mean", "cls"), key="fl_form_pooling")
    length = right.number_input("Max tokens", 8, 512, 64, key="fl_form_length")
    data.update(
        files=files,
        text_column=text,
        label_column=label,
        domain_column=domain,
        source=source,
        target=target,
        pooling=pooling,
        max_length=int(length),
    )
    if model:
        data["model"] = model
    return True


def render(root: str) -> str | None:
    """The form in an expander; returns the name of a scenario saved by this run of the page
    (or the previous one), so the page can preselect it."""
    with st.expander("Add a scenario from your own data", icon=":material/add_box:"):
        kind = st.radio(
            "Data",
            tuple(KIND_TITLES),
            format_func=KIND_TITLES.get,
            horizontal=True,
            key="fl_form_kind",
        )
        name = st.text_input(
            "Scenario name",
            key="fl_form_name",
            placeholder="pacs-photo-to-sketch",
            help="Lower-case letters, digits, '.', '_' or '-'.",
        )
        data: dict[str, Any] = {"name": name, "kind": kind}
        fine = (_image_fields if kind == "image-folder" else _text_fields)(data)
        if st.session_state.get(JUST_SAVED) not in (None, name):
            del st.session_state[JUST_SAVED]  # the form moved on: no stale "saved" message
        replace = True
        if name in SCENARIOS:
            st.error(escape_markdown(f"{name} is a built-in scenario's name; choose another."))
            fine = False
        elif name in saved_scenarios(root)[0] and st.session_state.get(JUST_SAVED) != name:
            replace = st.checkbox(
                escape_markdown(
                    f"A saved scenario named {name} exists: replace it (its runs are kept)"
                ),
                key="fl_form_replace",
            )
        ready = bool(fine and replace and name and data.get("source") and data.get("target"))
        if fine and name and data.get("source") and data.get("target"):
            st.code(to_toml(data), language="toml")
        if st.button(
            "Check and save", disabled=not ready, key="fl_form_save", icon=":material/save:"
        ):
            try:
                with st.spinner("Checking the data…"):
                    from core.scenarios.file_builders import save_table  # loads torch

                    saved = save_table(root, data)
            except ForgeLensError as error:
                st.error(escape_markdown(str(error)))
            else:
                st.session_state[JUST_SAVED] = saved
                st.rerun()
        saved = st.session_state.get(JUST_SAVED)
        if saved:
            st.success(
                f"Saved scenario **{escape_markdown(saved)}** into the run store: pick it below "
                "and launch."
            )
    return st.session_state.get(JUST_SAVED)
