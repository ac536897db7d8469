"""Teaching view: step k-center greedy pick by pick on BADGE and FORGE embeddings of a toy pool."""

import streamlit as st

from dashboard import live_chart, loaders, session, widgets
from dashboard.figures.teaching import high_picks_figure, teaching_figure
from dashboard.lessons import what_to_notice

MAX_PICKS = 40
N_PER_CLUSTER, N_HIGH = 40, 40
SPEEDS = {"slow": 2.0, "medium": 1.0, "fast": 0.5}  # seconds per pick while playing


PLAY_K = "teach_play_k"  # the auto-play position: the slider's own state is the browser's


def step(delta: int) -> None:
    k = st.session_state.get(PLAY_K, st.session_state.get(session.TEACH_K, 1)) + delta
    sync(min(MAX_PICKS, max(1, k)))


def sync(k: int | None = None) -> None:
    """Slider and auto-play position agree (callbacks run before the widgets are drawn)."""
    k = st.session_state.get(PLAY_K, st.session_state[session.TEACH_K]) if k is None else k
    st.session_state[session.TEACH_K] = st.session_state[PLAY_K] = k


widgets.page_header(
    "Teaching view",
    "Why FORGE's rescaling pops out high-variability samples. A 2-D toy pool: four tight "
    "clusters of small-‖z‖ samples (low prediction variability, round markers) and one spread "
    "cluster of large-‖z‖, confidently classified samples (high variability, diamonds), under "
    "a fixed linear binary head. Each panel is the exact 2-D image of an embedding space; "
    "k-center greedy repeatedly picks the sample farthest from all picks (red rings) and the "
    "circles show the coverage radius it minimises.",
)
st.session_state.setdefault(session.TEACH_K, 5)
left, middle, right = st.columns([4, 2, 2])
left.slider(
    "Picks so far (k)",
    1,
    MAX_PICKS,
    key=session.TEACH_K,
    on_change=lambda: st.session_state.update({PLAY_K: st.session_state[session.TEACH_K]}),
)
with middle:
    st.button("+1 pick", on_click=step, args=(1,), icon=":material/add:", width="stretch")
    st.button("−1 pick", on_click=step, args=(-1,), icon=":material/remove:", width="stretch")
seed = right.number_input("Seed (pool and first pick)", 0, 999, 0, key=session.TEACH_SEED)
play = right.toggle(
    "Auto-play",
    key="teach_play",
    on_change=sync,
    help="Add a pick every few seconds up to "
    f"{MAX_PICKS}; any other change keeps working while it plays.",
)
speed = right.select_slider(
    "Speed", tuple(SPEEDS), value="medium", key="teach_speed", disabled=not play
)
planes, walks = loaders.toy_walks(int(seed), N_PER_CLUSTER, N_HIGH, MAX_PICKS)
st.session_state["teach_full_run"] = True  # the fragment below adds no pick on a full run


@st.fragment(run_every=SPEEDS[speed] if play else None)
def stage() -> None:
    """The figure and its note; while playing, each timed rerun of this fragment adds a pick."""
    k = st.session_state.setdefault(PLAY_K, st.session_state[session.TEACH_K])
    if not play:
        k = st.session_state[PLAY_K] = st.session_state[session.TEACH_K]
    elif not st.session_state.pop("teach_full_run", False):  # a timer tick
        k = st.session_state[PLAY_K] = min(MAX_PICKS, k + 1)
    live_chart.plotly_chart(teaching_figure(planes, walks, k), key="teach_chart")
    st.info(what_to_notice(k, walks), icon=":material/lightbulb:")
    live_chart.plotly_chart(high_picks_figure(walks, k), key="teach_counts")


stage()
st.caption(
    "BADGE multiplies ‖z‖ by the residual ‖p − onehot(ŷ)‖, which is tiny for confident samples: "
    "the high-variability cluster collapses onto the origin and k-center covers it with one "
    "pick. FORGE rescales every embedding to length ‖z‖ (Definition 5), so those samples sit far "
    "out and k-center spends picks on them — the paper's Figure 3(b) and Figure 4."
)
