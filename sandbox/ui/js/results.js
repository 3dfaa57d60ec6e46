// How a run looks: a scenario (steps, asserts, timeline assertions), a
// suite (its scenarios), or a behaviour, negative or other check (its
// detail and steps).
import { badge, details, el, ms, pill } from "./dom.js";

function head(title, passed, extra) {
  return el("div", { class: "run-head" }, badge(passed), el("strong", {}, title),
    extra ? el("span", { class: "muted" }, extra) : null);
}

function stepsTable(steps) {
  return el("div", { class: "table-wrap" }, el("table", { class: "steps", testid: "steps-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", class: "num" }, "#"), el("th", { scope: "col" }, "Step"),
      el("th", { scope: "col" }, "Result"), el("th", { scope: "col" }, "Detail"),
      el("th", { scope: "col", class: "num" }, "Latency"))),
    el("tbody", {}, steps.map((s) => el("tr", { class: s.passed ? "" : "failed-row", dataset: { passed: s.passed } },
      el("td", { class: "num" }, s.index + 1),
      el("td", { class: "mono" }, s.verb),
      el("td", {}, badge(s.passed, ["ok", "failed"])),
      el("td", {}, s.detail, s.result ? el("div", { class: "mono muted small" },
        details(s.result, ["latency_ms"])) : null),
      el("td", { class: "num" }, ms(s.latency_ms)))))));
}

function assertsList(asserts) {
  if (!asserts || !asserts.length) return null;
  return el("div", { class: "asserts" }, el("h4", {}, "Asserts"),
    el("ul", { class: "checks-list" }, asserts.map((a) => {
      const bound = ["equals", "at_least", "at_most"].find((k) => k in a);
      return el("li", {}, badge(a.passed, ["ok", "failed"]), " ",
        el("span", { class: "mono" }, `${a.stat} ${bound ? bound.replace("_", " ") + " " + a[bound] : ""}`),
        el("span", { class: "muted" }, ` (moved by ${a.actual})`));
    })));
}

// The timeline assertion: each expected event matched, the first missing
// one, and those after it (not reached).
function timelineView(t) {
  if (!t || !t.expected || !t.expected.length) return null;
  return el("div", { class: "timeline-assert", testid: "timeline-assert" },
    el("h4", {}, "Timeline ", badge(t.passed, ["matched", "not matched"])),
    el("ol", { class: "chips" }, t.expected.map((x, i) => {
      const state = i < t.matched ? "matched" : i === t.matched ? "missing" : "not-reached";
      return el("li", { class: state, dataset: { state }, title: state.replace("-", " ") },
        el("span", { class: "mark", "aria-hidden": "true" }, state === "matched" ? "✓" : state === "missing" ? "✗" : "·"),
        pill(x.kind), x.key ? el("small", {}, x.key) : null,
        el("span", { class: "sr-only" }, ` ${state.replace("-", " ")}`));
    })));
}

export function scenarioView(r) {
  const extra = `flow ${r.flow_id} · ${r.passed_steps}/${r.steps.length} steps` +
    (r.latency && r.latency.count ? ` · p95 ${ms(r.latency.p95_ms)}` : "");
  return el("article", { class: `run ${r.passed ? "passed" : "failed"}`, dataset: { passed: r.passed } },
    head(r.name, r.passed, extra), stepsTable(r.steps), assertsList(r.asserts), timelineView(r.timeline));
}

export function suiteView(r) {
  return el("article", { class: `run ${r.passed ? "passed" : "failed"}`, dataset: { passed: r.passed } },
    head(r.name, r.passed, `suite · ${r.passed_count} passed, ${r.failed_count} failed`),
    el("div", { class: "suite" }, r.scenarios.map((s) => el("details", { open: !s.passed },
      el("summary", {}, badge(s.passed), " ", s.name, s.file ? el("span", { class: "muted" }, ` (${s.file})`) : null),
      runView(s)))));
}

// A behaviour, negative or named run that is not a step scenario.
export function checkView(title, r) {
  const passed = r.passed !== undefined ? r.passed : r.expected_failure;
  const items = r.results || [];
  return el("article", { class: `run ${passed ? "passed" : "failed"}`, dataset: { passed } },
    head(title, passed, r.expected_failure ? "edge case reproduced" : r.flow_id ? `flow ${r.flow_id}` : ""),
    r.detail ? el("p", {}, r.detail) : null,
    items.length ? el("ul", { class: "checks-list" }, items.map((x) => el("li", {}, badge(x.passed), " ",
      el("strong", {}, x.name), " ", el("span", { class: "muted" }, x.detail)))) : null,
    Array.isArray(r.steps) && r.steps.length && typeof r.steps[0].index !== "number"
      ? el("ol", { class: "raw-steps mono small" }, r.steps.map((s) => el("li", {}, details(s, []))))
      : null);
}

export function runView(r, title) {
  if (Array.isArray(r.scenarios)) return suiteView(r);
  if (Array.isArray(r.steps) && r.steps.length && typeof r.steps[0].index === "number") return scenarioView(r);
  return checkView(title || r.name, r);
}
