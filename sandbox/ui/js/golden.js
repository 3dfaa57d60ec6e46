// The golden flow as a timeline: each request of one flow, what it did
// (loader, cache, write, invalidation) and how long it took.
import { busy, client } from "./api.js";
import { $, clear, el, ms, pill } from "./dom.js";
import { refreshNow } from "./live.js";

let lastFlow = null;

export function newFlowId(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

// What one request of the flow did, from its path and its answer.
function stepOf(path, r) {
  let m;
  if (path === "/demo/reset") return { kind: "reset", title: "Reset", outcome: "rows reseeded, cache flushed" };
  if ((m = path.match(/^\/demo\/load\/(\d+)$/)))
    return {
      kind: r.source || "loader",
      title: `Load user ${m[1]}`,
      outcome: r.found ? `${r.source} · ${r.name}` : `${r.source} · not found`,
    };
  if ((m = path.match(/^\/demo\/users\/(\d+)$/)))
    return {
      kind: "write",
      title: `Rename user ${m[1]}`,
      outcome: `name → ${r.name}; invalidates ${(r.invalidated || []).join(", ")}`,
    };
  if ((m = path.match(/^\/demo\/invalidate\/user\/(\d+)$/)))
    return { kind: "invalidation", title: `Invalidate user ${m[1]}`, outcome: `tag ${r.tag}` };
  return { kind: "other", title: path, outcome: "" };
}

const LABEL = { loader: "loader", cache: "cache", "single-flight": "joined", write: "write",
  invalidation: "invalidation", reset: "reset", other: "request" };

// steps: [{path, response, rtt}], expected: the kinds the flow should show.
function renderTimeline(steps, caption, expected) {
  const ol = clear($('[data-testid="timeline"]'));
  const slowest = Math.max(...steps.map((s) => s.response.latency_ms || 0), 0.001);
  let allAsExpected = true;
  steps.forEach((s, i) => {
    const st = stepOf(s.path, s.response);
    const asExpected = !expected || expected[i] === st.kind;
    allAsExpected = allAsExpected && asExpected;
    const bar = el("span", { class: "bar", "aria-hidden": "true" });
    bar.style.setProperty("--w", `${Math.max(2, (100 * (s.response.latency_ms || 0)) / slowest).toFixed(1)}%`);
    ol.append(
      el("li", { class: `step s-${st.kind}${asExpected ? "" : " unexpected"}`, dataset: { source: st.kind },
        testid: "timeline-step" },
      el("span", { class: "step-kind" }, LABEL[st.kind] || st.kind),
      el("strong", { class: "step-title" }, st.title),
      el("span", { class: "step-outcome" }, st.outcome),
      el("span", { class: "step-latency", title: "the server's time for the operation, then the round trip" },
        ms(s.response.latency_ms), s.rtt !== undefined ? el("small", {}, ` · ${ms(s.rtt)} round trip`) : null),
      bar,
      asExpected ? null : el("span", { class: "badge bad" }, `expected ${expected[i]}`)),
    );
  });
  ol.setAttribute("aria-label", caption);
  ol.dataset.flow = caption;
  const head = $("#golden .timeline-caption") || el("p", { class: "timeline-caption" });
  head.textContent = "";
  head.append(caption, " ", expected ? el("span", { class: `badge ${allAsExpected ? "ok" : "bad"}` },
    allAsExpected ? "as expected" : "unexpected") : "");
  ol.before(head);
}

async function renderFlowEvents(flowId) {
  const box = $('[data-testid="flow-events"]');
  const t = await client().flowTimeline(flowId);
  clear(box);
  box.hidden = false;
  const list = el("ol", { class: "chips", "aria-label": `Events of flow ${flowId}` });
  for (const e of t.events) list.append(el("li", {}, pill(e.kind), e.key ? el("small", {}, e.key) : null));
  box.append(el("h3", {}, `Events of this flow (${t.events.length})`,
    el("button", { type: "button", class: "link", onclick: () => showInEvents(flowId) }, "show in the event log")),
  list);
}

function showInEvents(flowId) {
  const f = $("#event-flow");
  f.value = flowId;
  f.dispatchEvent(new Event("change", { bubbles: true }));
  $("#events").scrollIntoView();
}

const GOLDEN = ["reset", "loader", "cache", "write", "loader", "invalidation", "loader"];

async function runGolden(button) {
  const id = Number($("#golden-id").value) || 42;
  const name = $("#golden-name").value || "Grace";
  const flowId = newFlowId("ui-golden");
  const api = client(flowId);
  const steps = [];
  const call = async (path, fn) => {
    const t0 = performance.now();
    const response = await fn();
    steps.push({ path, response, rtt: performance.now() - t0 });
  };
  await busy(button, "golden flow", async () => {
    await call("/demo/reset", () => api.reset());
    await call(`/demo/load/${id}`, () => api.loadUser(id));
    await call(`/demo/load/${id}`, () => api.loadUser(id));
    await call(`/demo/users/${id}`, () => api.updateUser(id, { name }));
    await call(`/demo/load/${id}`, () => api.loadUser(id));
    await call(`/demo/invalidate/user/${id}`, () => api.invalidateUser(id));
    await call(`/demo/load/${id}`, () => api.loadUser(id));
    lastFlow = flowId;
    renderTimeline(steps, `Flow ${flowId}`, GOLDEN);
    $('[data-testid="golden-replay"]').disabled = false;
    await renderFlowEvents(flowId);
  });
  refreshNow();
}

async function replay(button) {
  if (!lastFlow) return;
  const into = newFlowId("ui-replay");
  await busy(button, `replay of ${lastFlow}`, async () => {
    const r = await client(into).flowReplay(lastFlow);
    const steps = r.requests.map((q) => ({ path: q.path, response: q.response || {} }));
    renderTimeline(steps, `Replay of ${r.replay_of} in flow ${r.flow_id}`, steps.length === GOLDEN.length ? GOLDEN : null);
    await renderFlowEvents(r.flow_id);
  });
  refreshNow();
}

export function init() {
  $('[data-testid="golden-flow"]').addEventListener("click", (e) => runGolden(e.currentTarget));
  $('[data-testid="golden-replay"]').addEventListener("click", (e) => replay(e.currentTarget));
}

export { showInEvents };
