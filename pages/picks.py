"""Picks: what to label, in order, with the manifest downloads; labels back and what changed."""

import tempfile
from pathlib import Path

import streamlit as st

from core.base.validation import ForgeLensError
from core.run import pick_store
from dashboard import access, live_chart, picks, widgets
from dashboard.figures.picks import class_mix_figure
from dashboard.text import escape_markdown

selection = widgets.current_selection()
root = selection.root
widgets.page_header(
    "Picks",
    "Decide what to label: the samples a selector picked from an unlabelled pool, in the order "
    "it picked them, with the manifests for your labelling tool. Import the labels to see how "
    "the model's predictions on the pool change.",
)
ids = pick_store.pick_ids(root)
with st.expander("Make a pick", expanded=not ids):
    made = picks.pick_form(root, key="picks")
    if made is not None:
        st.session_state["picks_pick"] = made
        st.rerun()
if not ids:
    st.info(
        f"The run store `{root}` holds no picks yet. Make one with "
        "`python -m core pick --scenario digits-to-mnist --n 100` (or `--embeddings "
        "your_pool.parquet`), then come back: the README section 'Decide what to label' "
        "walks through it."
    )
    st.stop()

pick_id = st.selectbox(
    "Pick", ids, format_func=lambda i: picks.pick_label(root, i), key="picks_pick"
)
info, frame = pick_store.load_pick(root, pick_id)
config = info["config"]
cols = st.columns(4)
cols[0].metric("picked", len(frame))
cols[1].metric("pool size", info["pool_size"])
cols[2].metric("selector", config["method"])
cols[3].metric("seed", config["seed"])
pool = config["pool"]
st.caption(
    escape_markdown(
        f"Pool: scenario {pool['scenario']} "
        + (f"(pool {pool['pool_id']})" if "pool_id" in pool else "(its unlabelled target)")
        if "scenario" in pool
        else f"Pool: embeddings file {pool['embeddings']}"
        + (f", domain {pool['domain']}" if pool.get("domain") else "")
    )
)

st.subheader("Manifests")
st.caption(
    "The CSV and JSONL list the picks with rank, id, file path or text, selector, seed and "
    "per-sample scores; the Label Studio file imports as is (texts inline, images by local "
    "path)."
)
mimes = {"csv": "text/csv", "jsonl": "application/jsonl", "json": "application/json"}
for column, name in zip(st.columns(3), pick_store.MANIFEST_FILES, strict=True):
    column.download_button(
        name,
        picks.file_bytes(root, pick_id, name),
        file_name=f"pick-{pick_id}-{name}",
        mime=mimes[name.rsplit(".", 1)[1]],
        icon=":material/download:",
        key=f"download-{name}",
        on_click="ignore",
    )

st.subheader("The picks in order")
shown = st.slider("How many to show", 1, len(frame), min(24, len(frame)), key="picks_shown")
head = frame.head(shown)
samples = picks.previews(root, info, head)
if all(sample is None for sample in samples):
    st.caption(
        "This pool has no thumbnails, file paths or texts (an embeddings file without a path "
        "or text field): the picks are listed by id."
    )
picks.show_grid(samples, head)
columns = ["rank", "id", "predicted", "confidence", "margin", "entropy", "z_norm"]
columns += ["gradient_norm", "nearest_pick_distance", "path", "text"]
st.dataframe(frame[[c for c in columns if c in frame]], hide_index=True, height=260)

st.subheader("Labels back")
st.caption(
    "Upload the labels of the picks (a CSV with columns id,label, or Label Studio's JSON "
    "export): the model's last layer is adapted on them and the whole pool is predicted "
    "again. The same as `python -m core labels --pick " + pick_id + " --labels FILE`."
)
if access.operator_gate(key="picks_operator"):
    upload = st.file_uploader("Labels file", type=["csv", "json"], key="picks_labels")
    if upload is not None and st.button("Adapt the head on these labels", type="primary"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            try:
                from core.run.labels_back import labels_back  # scipy: only on import

                with st.spinner("Adapting the head…"):
                    labels_back(root, pick_id, path)
            except ForgeLensError as error:
                st.error(escape_markdown(f"Nothing was changed: {error}"))

results = pick_store.labels_of_pick(root, pick_id)
if not results:
    st.caption("No labels imported for this pick yet.")
    st.stop()
labels_id = results[-1]
summary, flips = pick_store.load_labels_result(root, labels_id)
cols = st.columns(4)
cols[0].metric("labels", summary["n_labels"])
cols[1].metric(
    "mean confidence",
    f"{summary['confidence_after']:.3f}",
    f"{summary['confidence_after'] - summary['confidence_before']:+.3f}",
)
cols[2].metric("predictions flipped", summary["n_flipped"])
cols[3].metric(
    "accuracy on the labelled picks",
    f"{summary['labelled_accuracy_after']:.2f}",
    f"{summary['labelled_accuracy_after'] - summary['labelled_accuracy_before']:+.2f}",
)
live_chart.plotly_chart(
    class_mix_figure(summary["class_names"], summary["mix_before"], summary["mix_after"]),
    key="picks_mix",
)
st.caption("The samples whose prediction flipped, most confident first:")
st.dataframe(
    flips[["id", "before", "after", "confidence_before", "confidence_after", "labelled"]],
    hide_index=True,
    height=240,
)
head_file = pick_store.labels_dir(root, labels_id) / "head.safetensors"
st.download_button(
    "Adapted head (safetensors)",
    head_file.read_bytes(),
    file_name=f"head-{labels_id}.safetensors",
    mime="application/octet-stream",
    icon=":material/download:",
    on_click="ignore",
)
