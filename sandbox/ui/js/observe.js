// The bus and the listeners; the Prometheus metrics, the per-declaration
// table and the report bundle.
import { busy, client } from "./api.js";
import { $, badge, clear, download, el, ms, num, pill, ratio } from "./dom.js";
import { refreshNow } from "./live.js";

function showBus(node) {
  clear($('[data-testid="distributed-result"]')).append(node);
}

async function distributed(button) {
  const r = await busy(button, "distributed invalidation", () => client().distributedRun());
  if (!r) return;
  showBus(el("article", { class: `run ${r.passed ? "passed" : "failed"}`, testid: "bus-result" },
    el("div", { class: "run-head" }, badge(r.passed), el("strong", {}, "Distributed invalidation"),
      el("span", { class: "muted" }, `flow ${r.flow_id}`)),
    r.transports.map((t) => el("section", { class: "transport", testid: `transport-${t.transport}` },
      el("h4", {}, t.skipped ? el("span", { class: "badge skip" }, "skipped") : badge(t.passed), " ",
        `${t.transport} bus`, t.counters ? el("span", { class: "muted" }, ` · node-a published ` +
          `${t.counters.node_a_published}, node-b received ${t.counters.node_b_received}, applied ` +
          `${t.counters.node_b_applied}`) : null),
      t.skipped ? el("p", { class: "muted" }, t.reason) :
        el("ol", { class: "bus-events" }, (t.checks || []).map((c) => el("li", { dataset: { passed: c.passed } },
          el("span", { class: "bus-node" }, "node-a"), el("span", { class: "bus-arrow", "aria-hidden": "true" }, "→"),
          el("span", { class: "bus-node" }, "node-b"), pill(`${c.check}-invalidation`),
          el("span", { class: "num" }, ms(c.propagation_ms)), badge(c.passed, ["applied", "lost"]),
          el("span", { class: "muted small" }, c.detail))))))));
  refreshNow();
}

async function listeners(button) {
  const r = await busy(button, "listener demo", () => client().listenersRun());
  if (!r) return;
  const list = (title, evs) => el("div", {}, el("h4", {}, `${title} (${evs.length})`),
    el("ol", { class: "chips vertical" }, evs.map((e) => el("li", {}, pill(e.kind),
      e.key ? el("small", { class: "mono" }, e.key) : null))));
  showBus(el("article", { class: `run ${r.passed ? "passed" : "failed"}`, testid: "listeners-result" },
    el("div", { class: "run-head" }, badge(r.passed), el("strong", {}, "Listener demo"),
      el("span", { class: "muted" }, r.detail)),
    el("p", { class: "small mono" }, r.operations.join(" · ")),
    el("div", { class: "split" }, list("Subscription", r.subscription), list("Listener", r.listener))));
  refreshNow();
}

let metricsText = "";

function renderMetrics() {
  const f = $("#metrics-filter").value.trim().toLowerCase();
  const lines = metricsText.split("\n").filter((l) => l && (!f || l.toLowerCase().includes(f)));
  const pre = clear($('[data-testid="metrics"]'));
  for (const l of lines) {
    if (l.startsWith("#")) pre.append(el("span", { class: "muted" }, l), "\n");
    else {
      const sp = l.lastIndexOf(" ");
      pre.append(el("span", { class: "metric-name" }, l.slice(0, sp)), " ", el("strong", {}, l.slice(sp + 1)), "\n");
    }
  }
}

export async function refreshMetrics(button) {
  const r = await busy(button, "metrics", async () => [await client().prometheus(),
    await client().actuatorDeclarations("main")]);
  if (!r) return;
  metricsText = r[0];
  renderMetrics();
  const tbody = clear($('[data-testid="declarations"] tbody'));
  const s = (v) => (v === undefined || v === null ? "–" : ms(v * 1000));
  for (const d of r[1].declarations)
    tbody.append(el("tr", {}, el("td", { class: "mono" }, d.decl), el("td", {}, d.kind),
      el("td", { class: "num" }, num(d.calls)), el("td", { class: "num" }, num(d.hits)),
      el("td", { class: "num" }, num(d.misses)), el("td", { class: "num" }, num(d.loads)),
      el("td", { class: "num" }, num(d.load_failures)), el("td", { class: "num" }, ratio(d.hit_ratio)),
      el("td", { class: "num" }, s(d.load_seconds && d.load_seconds.p50)),
      el("td", { class: "num" }, s(d.load_seconds && d.load_seconds.p99))));
  if (!r[1].declarations.length)
    tbody.append(el("tr", { class: "empty" }, el("td", { colspan: 10 }, "No declaration was called yet.")));
}

async function exportBundle(button) {
  const b = await busy(button, "export", () => client().exportBundle());
  if (!b) return;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  download(`hcache-sandbox-bundle-${stamp}.json`, b);
}

export function init() {
  $('[data-testid="distributed-run"]').addEventListener("click", (e) => distributed(e.currentTarget));
  $('[data-testid="listeners-run"]').addEventListener("click", (e) => listeners(e.currentTarget));
  $('[data-testid="metrics-refresh"]').addEventListener("click", (e) => refreshMetrics(e.currentTarget));
  $("#metrics-filter").addEventListener("input", renderMetrics);
  $('[data-testid="export"]').addEventListener("click", (e) => exportBundle(e.currentTarget));
}
