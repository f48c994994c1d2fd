// The live page of `meltr view` (docs/design.md §4): runs the head's own
// core WebAssembly module (HEAD_CORE, base64, from head-core.js) in the
// browser and redraws figures 3, 4 and 7 for the point the sliders set.
// Plain JS, no build step, no network: opening index.html from disk works.
//
// The core module is the one inside the component `meltr view` loaded; its
// exports follow the canonical ABI of wit/head.wit (see src/export/abi.rs),
// called here by hand: the losses go into memory from `cabi_realloc`, the
// result is read from the 16-byte return area.
//
// URL parameters (for tests and links): `l=a,b,..` sets every loss;
// `slide=k:p` moves slider k to position p (0..1000) as a user would;
// `box=k:text` types `text` into number box k.
"use strict";

const R = JSON.parse(document.getElementById("report-data").textContent);
const K = R.task_names.length;
const SLIDER_STEPS = 1000;
const SWEEP_POINTS = 41;
const GRID = 24;

/// The head: `evaluate(losses)` -> {value, weights} or {error}.
function headOf(exports) {
  const ex = exports;
  const dv = () => new DataView(ex.memory.buffer);
  function call(name, losses) {
    const n = losses.length;
    const ptr = ex.cabi_realloc(0, 0, 4, 4 * n);
    // memory may have grown: take a fresh view after the allocation
    const f32 = new Float32Array(ex.memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) f32[i] = losses[i];
    const ret = ex[name](ptr, n);
    const d = dv();
    if (d.getUint8(ret) !== 0) {
      // err(input-error): case at 4, payload at 8 (wit/head.wit)
      const c = d.getUint8(ret + 4);
      if (c === 0) {
        const expected = d.getUint32(ret + 8, true), found = d.getUint32(ret + 12, true);
        return {error: `input-error::wrong-length({expected: ${expected}, found: ${found}})`};
      }
      const i = d.getUint32(ret + 8, true);
      const name_i = i < K ? ` (${R.task_names[i]}: NaN, infinite or empty)` : "";
      return {error: `input-error::non-finite(${i})${name_i}`};
    }
    return {ret, d};
  }
  return {
    evaluate(losses) {
      const r = call("evaluate", losses);
      if (r.error) return r;
      const value = r.d.getFloat32(r.ret + 4, true);
      const p = r.d.getUint32(r.ret + 8, true), n = r.d.getUint32(r.ret + 12, true);
      return {value, weights: Array.from(new Float32Array(ex.memory.buffer, p, n))};
    },
    eval(losses) {
      const r = call("eval", losses);
      return r.error ? r : {value: r.d.getFloat32(r.ret + 4, true)};
    },
  };
}

// ---- small SVG helpers ----------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function text(parent, x, y, s, attrs = {}) {
  const t = el("text", {x, y, "font-size": 12, ...attrs}, parent);
  t.textContent = s;
  return t;
}
function bounds(vals) {
  let lo = Infinity, hi = -Infinity;
  for (const v of vals) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) return [-1, 1];
  const pad = Math.max((hi - lo) * 0.05, 1e-6 * Math.max(Math.abs(lo), 1));
  return [lo - pad, hi + pad];
}
const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) ? v.toExponential(2) : +v.toPrecision(4) + "";

/// A line chart: series [{name, pts: [[x, y]...], mark: [x, y]?}].
function lineChart(svg, title, xDesc, yDesc, series) {
  svg.replaceChildren();
  const W = 520, H = 320, L = 64, T = 28, Rm = 130, B = 40;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const [x0, x1] = bounds(series.flatMap(s => s.pts.map(p => p[0])));
  const [y0, y1] = bounds(series.flatMap(s => s.pts.map(p => p[1]).concat(s.mark ? [s.mark[1]] : [])));
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - Rm);
  const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  el("rect", {x: L, y: T, width: W - L - Rm, height: H - T - B, fill: "none", stroke: "#999"}, svg);
  text(svg, L, 18, title, {"font-size": 13, "font-weight": "bold"});
  text(svg, (L + W - Rm) / 2, H - 6, xDesc, {"text-anchor": "middle"});
  text(svg, 14, (T + H - B) / 2, yDesc, {"text-anchor": "middle", transform: `rotate(-90 14 ${(T + H - B) / 2})`});
  for (let i = 0; i <= 4; i++) {
    const xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4;
    text(svg, sx(xv), H - B + 14, fmt(xv), {"text-anchor": "middle", "font-size": 10});
    text(svg, L - 4, sy(yv) + 3, fmt(yv), {"text-anchor": "end", "font-size": 10});
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.pts.filter(p => Number.isFinite(p[1]))
      .map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    if (d) el("path", {d, fill: "none", stroke: c, "stroke-width": 2}, svg);
    if (s.mark && Number.isFinite(s.mark[1])) {
      el("circle", {cx: sx(s.mark[0]), cy: sy(s.mark[1]), r: 4, fill: c}, svg);
    }
    if (s.level !== undefined && Number.isFinite(s.level)) {
      el("line", {x1: L, x2: W - Rm, y1: sy(s.level), y2: sy(s.level), stroke: c,
        "stroke-dasharray": "4 3"}, svg);
    }
    el("line", {x1: W - Rm + 8, x2: W - Rm + 24, y1: T + 10 + 16 * i, y2: T + 10 + 16 * i, stroke: c, "stroke-width": 2}, svg);
    text(svg, W - Rm + 28, T + 14 + 16 * i, s.name);
  });
}

/// Viridis (9 anchors, linear between).
const VIRIDIS = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * 8, i = Math.min(Math.floor(x), 7), f = x - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return `rgb(${a.map((p, j) => Math.round(p + (b[j] - p) * f)).join(",")})`;
}

/// Two heat maps side by side: the learned surface and the plain sum.
function surfaceChart(svg, xs, ys, grids, titles, xName, yName, mark) {
  svg.replaceChildren();
  const P = 330, W = 2 * P, H = 330, L = 56, T = 28, B = 40, S = P - L - 14;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  grids.forEach((g, p) => {
    const ox = p * P + L, [lo, hi] = bounds(g.flat());
    text(svg, ox, 18, `${titles[p]} (${fmt(lo)} .. ${fmt(hi)})`, {"font-size": 13, "font-weight": "bold"});
    const n = xs.length, cw = S / n, ch = (H - T - B) / n;
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const t = hi > lo ? (g[j][i] - lo) / (hi - lo) : 0.5;
      el("rect", {x: ox + i * cw, y: H - B - (j + 1) * ch, width: cw + 0.5, height: ch + 0.5,
        fill: viridis(Math.floor(Math.min(t, 0.999) * 12) / 11)}, svg);
    }
    const mx = ox + (mark[0] - xs[0]) / (xs[n - 1] - xs[0]) * (S - cw) + cw / 2;
    const my = H - B - ((mark[1] - ys[0]) / (ys[n - 1] - ys[0]) * (H - T - B - ch) + ch / 2);
    if (Number.isFinite(mx) && Number.isFinite(my))
      el("circle", {cx: mx, cy: my, r: 5, fill: "none", stroke: "#fff", "stroke-width": 2}, svg);
    text(svg, ox + S / 2, H - 6, `${xName} (${fmt(xs[0])} .. ${fmt(xs[n - 1])})`, {"text-anchor": "middle"});
    text(svg, ox - 8, (T + H - B) / 2, `${yName} (${fmt(ys[0])} .. ${fmt(ys[n - 1])})`,
      {"text-anchor": "middle", transform: `rotate(-90 ${ox - 8} ${(T + H - B) / 2})`});
  });
}

// ---- the page ------------------------------------------------------------
// The shortest decimal that reads back as the same f32 (what the head gets).
function f32text(v) {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p < 10; p++) {
    const t = v.toPrecision(p);
    if (Math.fround(Number(t)) === Math.fround(v)) return String(Number(t));
  }
  return String(v);
}
const linspace = (lo, hi, n) => Array.from({length: n}, (_, i) => lo + (hi - lo) * i / (n - 1));
// Sweep of task k: [0, 2 * typical_k], as the static report's figure 3.
const sweepRange = (k) => [0, R.at[k] > 0 ? 2 * R.at[k] : 1];
// Slider k: log scale over typical_k / 100 .. typical_k * 100.
const sliderLo = (k) => Math.log((R.at[k] > 0 ? R.at[k] : 1) / 100);
const sliderHi = (k) => Math.log((R.at[k] > 0 ? R.at[k] : 1) * 100);
const fromSlider = (k, p) => Math.exp(sliderLo(k) + (sliderHi(k) - sliderLo(k)) * p / SLIDER_STEPS);
const toSlider = (k, v) => v > 0 ? Math.round((Math.log(v) - sliderLo(k)) / (sliderHi(k) - sliderLo(k)) * SLIDER_STEPS) : 0;

function controls(onChange) {
  const box = document.getElementById("controls");
  const rows = R.task_names.map((name, k) => {
    const row = document.createElement("tr");
    row.innerHTML = `<td>${k}</td><td></td><td><input type=range min=0 max=${SLIDER_STEPS} step=1 id=slider${k}></td>
      <td><input type=text size=12 id=box${k}></td><td class=num id=weight${k}></td>`;
    row.children[1].textContent = name;
    box.appendChild(row);
    const slider = row.querySelector("input[type=range]"), num = row.querySelector("input[type=text]");
    slider.addEventListener("input", () => {
      num.value = String(+fromSlider(k, +slider.value).toPrecision(6));
      onChange();
    });
    num.addEventListener("input", () => {
      const v = Number(num.value);
      if (num.value.trim() !== "" && Number.isFinite(v) && v > 0) slider.value = toSlider(k, v);
      onChange();
    });
    return {slider, num};
  });
  return {
    rows,
    // An empty box reads as NaN: the head's contract refuses it.
    losses: () => rows.map(r => r.num.value.trim() === "" ? NaN : Number(r.num.value)),
    set(k, v) {
      rows[k].num.value = typeof v === "number" ? f32text(v) : String(v);
      if (Number.isFinite(v) && v > 0) rows[k].slider.value = toSlider(k, v);
    },
  };
}

function redraw(head, ui, log) {
  const l = ui.losses();
  const f32 = Float32Array.from(l);
  const e = head.evaluate(l);
  const out = document.getElementById("values"), err = document.getElementById("error");
  if (e.error) {
    err.textContent = e.error;
    out.textContent = JSON.stringify({losses: Array.from(f32).map(String), error: e.error});
    document.getElementById("value").textContent = "—";
    document.getElementById("sum").textContent = "—";
    ui.rows.forEach((_, k) => document.getElementById("weight" + k).textContent = "—");
    return;
  }
  err.textContent = "";
  const sum = Array.from(f32).reduce((a, b) => a + b, 0);
  document.getElementById("value").textContent = e.value.toPrecision(7);
  document.getElementById("sum").textContent = sum.toPrecision(7);
  e.weights.forEach((w, k) => document.getElementById("weight" + k).textContent = w.toPrecision(7));
  // Full precision for readers and tests.
  out.textContent = JSON.stringify({losses: Array.from(f32), value: e.value, weights: e.weights, sum});

  // Figure 3: each task swept over its own range, the others at the point;
  // x is l_k relative to its typical value, so every task spans the chart.
  const sweeps = R.task_names.map((name, k) => {
    const [lo, hi] = sweepRange(k), x = linspace(lo, hi, SWEEP_POINTS), v = [], w = [];
    for (const xi of x) {
      const p = Array.from(f32); p[k] = xi;
      const r = head.evaluate(p);
      v.push(r.error ? NaN : r.value); w.push(r.error ? NaN : r.weights[k]);
    }
    const rel = x.map(xi => xi / (hi / 2));
    return {name, rel, v, w, at: f32[k] / (hi / 2), k};
  });
  lineChart(document.getElementById("fig3-value"), "f against each loss (others at the point)",
    "l_k / typical l_k", "f(l)",
    sweeps.map(s => ({name: s.name, pts: s.rel.map((x, i) => [x, s.v[i]]), mark: [s.at, e.value]})));
  lineChart(document.getElementById("fig3-weight"), "∂f/∂l_k against l_k (others at the point)",
    "l_k / typical l_k", "∂f/∂l_k",
    sweeps.map(s => ({name: s.name, pts: s.rel.map((x, i) => [x, s.w[i]]), mark: [s.at, e.weights[s.k]]})));

  // Figure 4: weights over training, the current point's weights dashed.
  if (log) {
    lineChart(document.getElementById("fig4"), "∂f/∂l_k over training (dashed: at the point)",
      "step", "∂f/∂l_k",
      R.task_names.map((name, k) => ({name, pts: log.steps.map((s, i) => [s, log.weights[k][i]]),
        level: e.weights[k]})));
  }

  // Figure 7: f over two losses beside the plain sum.
  if (K >= 2) {
    const [a, b] = R.pair, xs = linspace(...sweepRange(a), GRID), ys = linspace(...sweepRange(b), GRID);
    const g = [], s = [];
    for (const y of ys) {
      const row = [], srow = [];
      for (const x of xs) {
        const p = Array.from(f32); p[a] = x; p[b] = y;
        const r = head.eval(p);
        row.push(r.error ? NaN : r.value);
        srow.push(Array.from(Float32Array.from(p)).reduce((u, v) => u + v, 0));
      }
      g.push(row); s.push(srow);
    }
    surfaceChart(document.getElementById("fig7"), xs, ys, [g, s], ["learned loss f", "plain sum"],
      R.task_names[a], R.task_names[b], [f32[a], f32[b]]);
  }
}

async function main() {
  const status = document.getElementById("status");
  try {
    const bytes = Uint8Array.from(atob(HEAD_CORE), c => c.charCodeAt(0));
    const {instance} = await WebAssembly.instantiate(bytes, {});
    const head = headOf(instance.exports);
    let pending = false;
    const ui = controls(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; redraw(head, ui, R.log); });
    });
    R.at.forEach((v, k) => ui.set(k, v));
    const q = new URLSearchParams(location.search);
    if (q.has("l")) q.get("l").split(",").forEach((v, k) => k < K && ui.set(k, v.trim() === "" ? "" : Number(v)));
    if (q.has("box")) {
      const [k, t] = q.get("box").split(/:(.*)/s);
      const b = ui.rows[+k].num;
      b.value = t;
      b.dispatchEvent(new Event("input"));
    }
    if (q.has("slide")) {
      const [k, p] = q.get("slide").split(":");
      const s = ui.rows[+k].slider;
      s.value = p;
      s.dispatchEvent(new Event("input"));
    }
    redraw(head, ui, R.log);
    status.textContent = "The head runs in this page (WebAssembly, no network).";
    document.body.dataset.ready = "1";
  } catch (e) {
    status.textContent = "This browser could not run the head: " + e;
    document.body.dataset.ready = "failed";
  }
}
main();
