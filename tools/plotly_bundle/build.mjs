// Builds ../../dashboard/static/plotly-forgelens.min.js: plotly.js with only the trace types
// ForgeLens draws (dashboard/live_chart.py: SLIM_TRACES). The full plotly.min.js is 4.8 MB and
// a browser without a warm code cache spends 1.3-1.7 s compiling it on a 2-core laptop; this
// one is a third of that. Same recipe as plotly.js's own esbuild-config.js (its partial
// bundles), with a hand-picked trace list; the same bytes wherever it is built. Run in this
// folder: npm ci && npm run build.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import esbuild from "esbuild";
import { environmentPlugin } from "esbuild-plugin-environment";
import { glsl } from "esbuild-plugin-glsl";
import InlineCSSPlugin from "esbuild-plugin-inline-css";

const TRACES = ["bar", "heatmap", "scattergl"]; // scatter comes with plotly.js/lib/core
const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve("plotly.js/package.json"))).version;
const outfile = fileURLToPath(
  new URL("../../dashboard/static/plotly-forgelens.min.js", import.meta.url),
);
const entry = [
  "var Plotly = require('plotly.js/lib/core');",
  `Plotly.register([${TRACES.map((t) => `require('plotly.js/lib/${t}')`).join(", ")}]);`,
  "module.exports = Plotly;",
].join("\n");

await esbuild.build({
  stdin: { contents: entry, resolveDir: fileURLToPath(new URL(".", import.meta.url)) },
  outfile,
  banner: {
    js:
      `/*! plotly.js v${version} (traces: scatter, ${TRACES.join(", ")}), built by ` +
      "tools/plotly_bundle. Copyright 2012-2026, Plotly, Inc. MIT license. */",
  },
  format: "iife",
  globalName: "Plotly",
  bundle: true,
  minify: true,
  legalComments: "none",
  sourcemap: false,
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: "@plotly/regl", stream: "stream-browserify" },
  define: { global: "window", "define.amd": "false" },
  target: "es2016",
  logLevel: "warning",
});
// the inline-css plugin names its <style> element by a hash of the CSS file's absolute path:
// a fixed name makes the bundle the same bytes wherever it is built
const built = readFileSync(outfile, "utf8");
const styleIds = new Set([...built.matchAll(/getElementById\("([0-9a-f]{64})"\)/g)].map((m) => m[1]));
let stable = built;
for (const [i, id] of [...styleIds].entries()) stable = stable.replaceAll(id, `forgelens-plotly-css-${i}`);
writeFileSync(outfile, stable);
console.log(`wrote ${outfile} (plotly.js v${version})`);
