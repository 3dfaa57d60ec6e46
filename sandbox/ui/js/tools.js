// Flows (and their replay), profiles side by side, faults.
import { busy, client } from "./api.js";
import { $, badge, clear, el, ms, time } from "./dom.js";
import { newFlowId, showInEvents } from "./golden.js";
import { refreshNow } from "./live.js";
import { runView } from "./results.js";

function show(node) {
  const box = clear($('[data-testid="tools-result"]'));
  box.append(node);
}

export async function loadFlows(button) {
  const r = await busy(button, "flows", () => client().flows());
  if (!r) return;
  const tbody = clear($('[data-testid="flows-table"] tbody'));
  for (const f of r.flows.slice(0, 25)) {
    tbody.append(el("tr", {},
      el("td", { class: "mono" }, f.flow_id, f.replay_of ? el("div", { class: "muted small" },
        `replay of ${f.replay_of}`) : null),
      el("td", { class: "num" }, f.requests),
      el("td", { class: "num" }, f.events),
      el("td", { class: "mono" }, time(f.last_seen)),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "small", disabled: !f.requests, "aria-label": `Replay ${f.flow_id}`,
          onclick: (e) => replay(e.currentTarget, f.flow_id) }, "Replay"),
        el("button", { type: "button", class: "small secondary", "aria-label": `Events of ${f.flow_id}`,
          onclick: () => showInEvents(f.flow_id) }, "Events"))));
  }
  if (!r.flows.length) tbody.append(el("tr", { class: "empty" }, el("td", { colspan: 5 }, "No flows yet.")));
}

async function replay(button, flowId) {
  const r = await busy(button, `replay of ${flowId}`, () => client(newFlowId("ui-replay")).flowReplay(flowId));
  if (!r) return;
  show(el("article", { class: `run ${r.passed ? "passed" : "failed"}`, testid: "replay-result" },
    el("div", { class: "run-head" }, badge(r.passed), el("strong", {}, `Replay of ${r.replay_of}`),
      el("span", { class: "muted" }, `in flow ${r.flow_id}`)),
    el("ol", { class: "raw-steps" }, r.requests.map((q) => el("li", {},
      el("span", { class: "mono" }, `${q.method} ${q.path}`), " → ", el("strong", {}, q.status),
      q.response && q.response.source ? el("span", { class: `src src-${q.response.source}` }, q.response.source) : null,
      q.response && q.response.latency_ms !== undefined ? el("span", { class: "muted" },
        ` ${ms(q.response.latency_ms)}`) : null)))));
  refreshNow();
}

async function compareProfiles(button) {
  const v = $("#compare-recipe").value;
  const body = v.startsWith("file:") ? { file: v.slice(5) } : { scenario: v.slice(6) };
  const r = await busy(button, "compare profiles", () => client().profilesCompare(body));
  if (!r) return;
  show(el("article", { class: `run ${r.passed ? "passed" : "failed"}`, testid: "profiles-result" },
    el("div", { class: "run-head" }, badge(r.passed), el("strong", {}, `${r.recipe} on every profile`)),
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Profile"), el("th", { scope: "col" }, "Result"),
        el("th", { scope: "col", class: "num" }, "Time"), el("th", { scope: "col" }, "Detail"))),
      el("tbody", {}, r.profiles.map((p) => el("tr", {},
        el("td", { class: "mono" }, p.profile),
        el("td", {}, p.skipped ? el("span", { class: "badge skip" }, "skipped") : badge(p.passed)),
        el("td", { class: "num" }, p.elapsed_ms !== undefined ? ms(p.elapsed_ms) : "–"),
        el("td", {}, p.skipped ? p.reason : p.result ? `${p.result.passed_steps}/${p.result.steps.length} steps` +
          (p.error ? ` · ${p.error.message}` : "") : (p.error && p.error.message) || "")))))),
    ...r.profiles.filter((p) => !p.skipped && p.result && !p.result.passed).map((p) => runView(p.result))));
  refreshNow();
}

async function faults(button) {
  const r = await busy(button, "faults", () => client().faultsRun({}));
  if (!r) return;
  show(el("article", { class: `run ${r.passed ? "passed" : "failed"}`, testid: "faults-result" },
    el("div", { class: "run-head" }, badge(r.passed), el("strong", {}, "Faults")),
    el("ul", { class: "checks-list" }, r.faults.map((f) => el("li", {},
      f.skipped ? el("span", { class: "badge skip" }, "skipped") : badge(f.passed), " ",
      el("strong", {}, f.fault), " ", el("span", { class: "muted" }, f.skipped ? f.reason || f.detail : f.detail))))));
  refreshNow();
}

export function init() {
  $('[data-testid="flows-refresh"]').addEventListener("click", (e) => loadFlows(e.currentTarget));
  $('[data-testid="profiles-compare"]').addEventListener("click", (e) => compareProfiles(e.currentTarget));
  $('[data-testid="faults-run"]').addEventListener("click", (e) => faults(e.currentTarget));
}
