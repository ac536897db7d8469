// A plotly chart that stays mounted across Streamlit reruns: a new figure is drawn with
// Plotly.react into the same <div> (one WebGL context, no full re-plot), and selections come
// back to Python as a component state value. See dashboard/live_chart.py.

const charts = new WeakMap(); // parentElement -> {div, revision, listening, plotly, drawing}

// script URL -> Promise of the Plotly it defines; on window, so that a re-evaluated module
// does not load (and compile) a bundle again
const bundles = (window.__forgelensBundles = window.__forgelensBundles || new Map());

function loadPlotly(src) {
  // one load per bundle (the slim one, or the full one for a figure it cannot draw); each
  // chart keeps the Plotly that drew it, whichever bundle defined window.Plotly last
  if (!bundles.has(src)) {
    bundles.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.async = true;
        script.onload = () => resolve(window.Plotly);
        script.onerror = () => {
          bundles.delete(src);
          reject(new Error(`could not load ${src}`));
        };
        document.head.appendChild(script);
      }),
    );
  }
  return bundles.get(src);
}

function luminance(color) {
  const rgb = (color.match(/[\d.]+/g) || ["255", "255", "255"]).slice(0, 3).map(Number);
  return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
}

const MODEBAR_ROOM = 28; // px above every figure's titles, where the mode bar shows on hover

function themed(layout, parentElement) {
  // the mode bar (top right, on hover) gets a strip of its own: it never covers a panel title
  layout.margin = Object.assign({ t: 100 }, layout.margin);
  layout.margin.t += MODEBAR_ROOM;
  if (layout.height) layout.height += MODEBAR_ROOM;
  // the app's own font, and on a dark app theme a see-through background with the theme's
  // text colour (the figures use plotly's white template), as st.plotly_chart's theme does
  const host = parentElement.host || parentElement;
  const app = document.querySelector(".stApp") || document.body;
  const page = getComputedStyle(app);
  layout.font = layout.font || {};
  if (!layout.font.family) layout.font.family = getComputedStyle(host).fontFamily;
  if (luminance(page.backgroundColor) < 0.5) {
    layout.paper_bgcolor = "rgba(0,0,0,0)";
    layout.plot_bgcolor = "rgba(0,0,0,0)";
    layout.font.color = page.color;
    if (layout.legend) layout.legend.bgcolor = "rgba(0,0,0,0)";
    for (const key of Object.keys(layout)) {
      if (/^[xy]axis\d*$/.test(key)) {
        Object.assign(layout[key], {
          gridcolor: "rgba(255,255,255,0.12)",
          zerolinecolor: "rgba(255,255,255,0.3)",
          linecolor: "rgba(255,255,255,0.3)",
        });
      }
    }
  }
  return layout;
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
  const send = (keys) => {
    // a redraw with a new figure clears plotly's selection and says so: Python already
    // drops a selection made on another figure, and telling it would rerun the page twice
    if (state.drawing) return;
    // id: tells this selection apart from an equal one made later (see live_chart._keys)
    const id = `${Date.now()}-${Math.random()}`;
    setStateValue("selection", { revision: state.revision, keys: keys, id: id });
  };
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
    state = {
      div: div,
      revision: null,
      listening: false,
      plotly: null,
      drawing: null,
      seen: false,
      pending: null,
      observer: null,
    };
    charts.set(parentElement, state);
  }
  if (data.height) state.div.style.minHeight = `${data.height}px`; // no jump while plotly loads
  // panels side by side keep a width where their titles and ticks do not overlap: a narrower
  // window scrolls the chart sideways in its own box
  state.div.style.minWidth = data.minWidth ? `${data.minWidth}px` : "";
  parentElement.style.overflowX = data.minWidth ? "auto" : "";
  if (state.revision !== data.revision) {
    state.revision = data.revision;
    const revision = data.revision;
    whenNearView(state, () => draw(state, data, revision, parentElement, setStateValue));
  }
  return () => {
    if (state.observer) state.observer.disconnect();
    if (state.plotly) state.plotly.purge(state.div);
    charts.delete(parentElement);
  };
}

function whenNearView(state, work) {
  // A chart is first drawn when it comes within half a screen of the viewport: a page's
  // charts further down (or in a closed expander) cost nothing until scrolled to, which in a
  // browser without a GPU is 0.2-0.5 s of main-thread time each on a page's first visit.
  // Once drawn, a chart redraws at once on every new figure.
  if (state.seen) {
    work();
    return;
  }
  state.pending = work; // only the newest figure is drawn
  if (state.observer) return;
  state.observer = new IntersectionObserver(
    (entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      state.seen = true;
      state.observer.disconnect();
      state.observer = null;
      const pending = state.pending;
      state.pending = null;
      if (pending) pending();
    },
    // the margin counts from the box the page scrolls in (Streamlit's main area scrolls,
    // not the window, and its edge would clip a margin counted from the viewport)
    { root: scroller(state.div), rootMargin: "50% 0px" },
  );
  state.observer.observe(state.div);
}

function scroller(element) {
  for (let node = element.parentElement; node; node = node.parentElement) {
    if (/(auto|scroll)/.test(getComputedStyle(node).overflowY)) return node;
  }
  return null; // the viewport
}

function draw(state, data, revision, parentElement, setStateValue) {
  loadPlotly(data.src)
    .then((Plotly) => {
      if (state.revision !== revision) return null; // a newer figure is on its way
      const figure = JSON.parse(data.figure);
      const layout = themed(figure.layout || {}, parentElement);
      if (state.plotly && state.plotly !== Plotly) {
        state.plotly.purge(state.div); // drawn by the other bundle: start afresh
        state.listening = false;
      }
      state.plotly = Plotly;
      state.drawing = revision;
      return Plotly.react(state.div, figure.data, layout, data.config);
    })
    .then(() => {
      setTimeout(() => {
        // after the events plotly queued while drawing (unless a newer draw began)
        if (state.drawing === revision) state.drawing = null;
      }, 0);
      if (data.selectable && !state.listening && state.div.on) {
        listen(state, setStateValue);
        state.listening = true;
      }
    })
    .catch((error) => {
      state.drawing = null;
      state.div.textContent = `The chart could not be drawn: ${error.message}`;
    });
}
