// A plotly chart that stays mounted across Streamlit reruns: a new figure is drawn with
// Plotly.react into the same <div> (one WebGL context, no full re-plot), and selections come
// back to Python as a component state value. See dashboard/live_chart.py.

const charts = new WeakMap(); // parentElement -> {div, revision, listening}

function loadPlotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__forgelensPlotly) {
    window.__forgelensPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        window.__forgelensPlotly = undefined;
        reject(new Error(`could not load ${src}`));
      };
      document.head.appendChild(script);
    });
  }
  return window.__forgelensPlotly;
}

function keysOf(event) {
  // the row key of each picked point: its customdata, or the first entry of a customdata row
  // (a typed array when the figure sent customdata as one); trend lines have none
  const keys = [];
  for (const point of event && event.points ? event.points : []) {
    let key = point.customdata;
    if (Array.isArray(key) || ArrayBuffer.isView(key)) key = key[0];
    if (key !== undefined && key !== null) keys.push(key);
  }
  return keys;
}

function listen(state, setStateValue) {
  const send = (keys) => setStateValue("selection", { revision: state.revision, keys: keys });
  state.div.on("plotly_selected", (event) => {
    if (event) send(keysOf(event));
  });
  state.div.on("plotly_click", (event) => {
    const clickmode = state.div.layout.clickmode || "";
    if (!clickmode.includes("select")) send(keysOf(event)); // else plotly_selected reports it
  });
  state.div.on("plotly_deselect", () => send([]));
}

export default function ({ data, parentElement, setStateValue }) {
  let state = charts.get(parentElement);
  if (!state) {
    const div = document.createElement("div");
    div.className = "forgelens-chart";
    div.style.width = "100%";
    parentElement.appendChild(div);
    state = { div: div, revision: null, listening: false };
    charts.set(parentElement, state);
  }
  if (data.height) state.div.style.minHeight = `${data.height}px`; // no jump while plotly loads
  if (state.revision !== data.revision) {
    state.revision = data.revision;
    const revision = data.revision;
    loadPlotly(data.src)
      .then((Plotly) => {
        if (state.revision !== revision) return null; // a newer figure is on its way
        const figure = JSON.parse(data.figure);
        const layout = figure.layout || {};
        layout.font = layout.font || {};
        if (!layout.font.family) {
          // the app's own font (served by Streamlit), as st.plotly_chart's theme does
          layout.font.family = getComputedStyle(parentElement.host || parentElement).fontFamily;
        }
        return Plotly.react(state.div, figure.data, layout, data.config);
      })
      .then(() => {
        if (data.selectable && !state.listening && state.div.on) {
          listen(state, setStateValue);
          state.listening = true;
        }
      })
      .catch((error) => {
        state.div.textContent = `The chart could not be drawn: ${error.message}`;
      });
  }
  return () => {
    if (window.Plotly) window.Plotly.purge(state.div);
    charts.delete(parentElement);
  };
}
