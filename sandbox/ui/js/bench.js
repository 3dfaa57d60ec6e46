// Benchmarks: run one, chart its latency percentiles and throughput next
// to the earlier runs of this page, compare two for a verdict. Chart.js
// comes from Debian's libjs-chart.js, served by the sandbox; without it
// the figures are still shown, as tables.
import { busy, client } from "./api.js";
import { $, clear, el, ms, num, ratio } from "./dom.js";
import { refreshNow } from "./live.js";

const COLORS = ["#0f766e", "#6366f1", "#d97706", "#db2777", "#0284c7", "#65a30d"];
const runs = [];          // {n, label, settings, result}, this page's runs
let presets = [];         // GET /demo/presets' benchmarks
let chartLib = null;
const charts = {};

function loadChart() {
  if (!chartLib)
    chartLib = import("/demo/ui/lib/chart.js/chart.mjs").then((m) => {
      m.Chart.register(...m.registerables);
      m.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      m.Chart.defaults.color = "#334155";
      return m.Chart;
    }).catch(() => {
      const note = $('[data-testid="chart-note"]');
      note.hidden = false;
      note.textContent = "Chart.js is not installed (Debian's libjs-chart.js): the figures are in the tables.";
      return null;
    });
  return chartLib;
}

// Draw (or redraw) the chart on canvas with this config; returns whether
// it was drawn.
async function draw(canvas, config) {
  const Chart = await loadChart();
  if (!Chart) return false;
  const id = canvas.dataset.testid;
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }, config.options || {});
  charts[id] = new Chart(canvas, config);
  canvas.dataset.drawn = "true";
  return true;
}

const PCTS = [["p50", "p50_ms"], ["p95", "p95_ms"], ["p99", "p99_ms"], ["max", "max_ms"]];

function settings() {
  return {
    requests: Number($("#bench-requests").value),
    concurrency: Number($("#bench-concurrency").value),
    keys: Number($("#bench-keys").value),
    distribution: $("#bench-distribution").value,
    loader_delay_ms: Number($("#bench-delay").value),
  };
}

function short(n) {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

function labelOf(s) {
  return `${s.distribution}, ${short(s.requests)} req, ${short(s.keys)} keys, ${s.concurrency} thr` +
    (s.loader_delay_ms ? `, ${s.loader_delay_ms} ms loader` : "");
}

function stat(label, value, testid) {
  return el("div", { class: "stat", testid }, el("span", { class: "stat-label" }, label),
    el("span", { class: "stat-value" }, value));
}

function renderStats(r) {
  const box = clear($('[data-testid="bench-stats"]'));
  box.append(
    stat("Throughput", `${num(r.throughput_rps)} req/s`, "bench-throughput-value"),
    stat("Hit ratio", ratio(r.hit_ratio)),
    stat("Loader calls", `${num(r.loader_calls)} (${ratio(r.loader_call_ratio)} of requests)`),
    stat("p50", ms(r.latency.p50_ms)),
    stat("p95", ms(r.latency.p95_ms)),
    stat("p99", ms(r.latency.p99_ms)),
    stat("Elapsed", ms(r.elapsed_ms)));
}

async function renderCharts() {
  $('[data-testid="bench-charts"]').hidden = false;
  const shown = runs.slice(-COLORS.length);
  const latency = $('[data-testid="bench-chart"]');
  await draw(latency, {
    type: "bar",
    data: {
      labels: PCTS.map((p) => p[0]),
      datasets: shown.map((r, i) => ({ label: `#${r.n} ${r.settings.distribution}, ${short(r.settings.keys)} keys`,
        data: PCTS.map((p) => r.result.latency[p[1]] || 0), backgroundColor: COLORS[i % COLORS.length] })),
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } },
  });
  latency.dataset.runs = String(shown.length);
  await draw($('[data-testid="bench-throughput"]'), {
    type: "bar",
    data: {
      labels: shown.map((r) => `#${r.n}`),
      datasets: [{ label: "requests/s", data: shown.map((r) => r.result.throughput_rps),
        backgroundColor: shown.map((_, i) => COLORS[i % COLORS.length]) }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
  });
}

function fillCompareOptions() {
  for (const [sel, dflt] of [["#bench-baseline", "preset:uniform"], ["#bench-candidate", "preset:zipf"]]) {
    const s = $(sel);
    const keep = s.value || dflt;
    clear(s);
    const g1 = el("optgroup", { label: "Run these settings" },
      presets.map((p) => el("option", { value: `preset:${p.name}` }, `${p.name}: ${labelOf(Object.assign(
        { loader_delay_ms: 0 }, p.settings))}`)));
    s.append(g1);
    if (runs.length)
      s.append(el("optgroup", { label: "Runs on this page" },
        runs.map((r) => el("option", { value: `run:${r.n}` }, `#${r.n} ${r.label}`))));
    s.value = keep;
    if (!s.value) s.value = dflt;
  }
}

async function run(button) {
  const s = settings();
  const r = await busy(button, "benchmark", () => client().benchmarkManual(s));
  if (!r) return;
  runs.push({ n: runs.length + 1, label: labelOf(s), settings: s, result: r });
  renderStats(r);
  await renderCharts();
  fillCompareOptions();
  refreshNow();
}

function side(v) {
  if (v.startsWith("run:")) return runs[Number(v.slice(4)) - 1].result;
  const p = presets.find((x) => x.name === v.slice(7));
  return Object.assign({}, p.settings);
}

const VERDICT = { "candidate-better": ["ok", "candidate better"], "candidate-worse": ["bad", "candidate worse"],
  mixed: ["skip", "mixed"] };

async function compare(button) {
  const body = { baseline: side($("#bench-baseline").value), candidate: side($("#bench-candidate").value) };
  const r = await busy(button, "benchmark comparison", () => client().benchmarkCompare(body));
  if (!r) return;
  const b = r.baseline, c = r.candidate;
  const row = (label, fb, fc, delta) => el("tr", {}, el("th", { scope: "row" }, label),
    el("td", { class: "num" }, fb), el("td", { class: "num" }, fc),
    el("td", {}, delta ? el("span", { class: `judged j-${delta.judged}` }, delta.judged,
      delta.ratio === null || delta.ratio === undefined ? "" : ` ×${delta.ratio.toFixed(2)}`) : ""));
  const [cls, text] = VERDICT[r.verdict] || ["skip", r.verdict];
  const canvas = el("canvas", { testid: "bench-compare-chart", role: "img",
    "aria-label": "Candidate divided by baseline, for each judged figure" });
  const box = clear($('[data-testid="bench-compare-result"]'));
  box.append(el("article", { class: "run" },
    el("div", { class: "run-head" }, el("span", { class: `badge ${cls}`, testid: "bench-verdict",
      dataset: { verdict: r.verdict } }, text), el("strong", {}, "Baseline against candidate")),
    el("p", { class: "muted small" }, r.rule),
    el("div", { class: "compare" },
      el("div", { class: "table-wrap" }, el("table", { testid: "bench-compare-table" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, ""),
          el("th", { scope: "col", class: "num" }, "Baseline"), el("th", { scope: "col", class: "num" }, "Candidate"),
          el("th", { scope: "col" }, "Judged"))),
        el("tbody", {},
          el("tr", {}, el("th", { scope: "row" }, "Settings"), el("td", { class: "settings" }, labelOf(b)),
            el("td", { class: "settings" }, labelOf(c)), el("td", {})),
          row("Throughput (req/s)", num(b.throughput_rps), num(c.throughput_rps), r.deltas.throughput_rps),
          row("p95 latency", ms(b.latency.p95_ms), ms(c.latency.p95_ms), r.deltas.p95_ms),
          row("Loader calls / request", ratio(b.loader_call_ratio), ratio(c.loader_call_ratio),
            r.deltas.loader_call_ratio),
          row("Hit ratio", ratio(b.hit_ratio), ratio(c.hit_ratio)),
          row("p99 latency", ms(b.latency.p99_ms), ms(c.latency.p99_ms))))),
      el("figure", {}, el("figcaption", {}, "Candidate ÷ baseline (1 = the same)"),
        el("div", { class: "chart-box short" }, canvas)))));
  // Each judged figure as candidate ÷ baseline, coloured by its judgement.
  const judged = [["throughput", r.deltas.throughput_rps], ["p95 latency", r.deltas.p95_ms],
    ["loader calls / request", r.deltas.loader_call_ratio]];
  const colour = { better: "#059669", worse: "#e11d48", same: "#94a3b8" };
  await draw(canvas, {
    type: "bar",
    data: { labels: judged.map((j) => j[0]), datasets: [{ label: "candidate ÷ baseline",
      data: judged.map((j) => (j[1] && typeof j[1].ratio === "number" ? j[1].ratio : 0)),
      backgroundColor: judged.map((j) => colour[j[1] && j[1].judged] || colour.same) }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, grid: { color: (ctx) => (ctx.tick && ctx.tick.value === 1 ? "#334155" :
        "#e2e8f0"), lineWidth: (ctx) => (ctx.tick && ctx.tick.value === 1 ? 2 : 1) } } } },
  });
  refreshNow();
}

// The server's presets fill the menus; the form starts on slow-loader,
// whose misses take long enough to show in the percentiles (a hit takes
// less than the microsecond the latencies are given in).
export function setPresets(list) {
  presets = list || [];
  const sel = $("#bench-preset");
  if (sel.options.length === 1) for (const p of presets) sel.append(el("option", { value: p.name }, p.name));
  if (presets.some((p) => p.name === "slow-loader") && sel.value === "") {
    sel.value = "slow-loader";
    sel.dispatchEvent(new Event("change"));
  }
  fillCompareOptions();
}

export function init() {
  $('[data-testid="bench-form"]').addEventListener("submit", (e) => {
    e.preventDefault();
    run($('[data-testid="bench-run"]'));
  });
  $("#bench-preset").addEventListener("change", (e) => {
    const p = presets.find((x) => x.name === e.currentTarget.value);
    if (!p) return;
    const s = Object.assign({ loader_delay_ms: 0 }, p.settings);
    $("#bench-requests").value = s.requests;
    $("#bench-concurrency").value = s.concurrency;
    $("#bench-keys").value = s.keys;
    $("#bench-distribution").value = s.distribution;
    $("#bench-delay").value = s.loader_delay_ms;
  });
  for (const id of ["#bench-requests", "#bench-concurrency", "#bench-keys", "#bench-distribution", "#bench-delay"])
    $(id).addEventListener("input", () => {
      $("#bench-preset").value = "";
    });
  $('[data-testid="bench-compare"]').addEventListener("click", (e) => compare(e.currentTarget));
}
