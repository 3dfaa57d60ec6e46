// What the console keeps up to date: the counters (GET /demo/report) and
// the event log with its filters (GET /demo/events). Refreshed after every
// action, and every 2 s while "Live" is on and the page is visible.
import { busy, clearError, client, showError } from "./api.js";
import { $, clear, details, el, num, pill, ratio, time } from "./dom.js";

// The kinds the filter offers: the cache's (kebab case) and the sandbox's.
const KINDS = [
  "hit", "miss", "load-started", "load-completed", "load-failed", "single-flight-joined", "stored", "removed",
  "key-invalidated", "tag-invalidated", "flushed", "stale-load-discarded", "expired", "evicted", "refreshed",
  "refresh-failed", "stale-served",
  "loader-call", "function-call", "reset", "user-updated", "scenario-run", "scenario-finished", "suite-run",
  "suite-finished", "expected-error", "db-error", "benchmark-run", "benchmark-compare", "profiles-compared",
  "faults-run", "listeners-run", "bus-propagation", "connection-killed", "imported", "events-cleared",
  "server-started",
];

let generation = 0;       // answers to an older refresh are dropped
const extras = [];        // what else an action refreshes (metrics, flows)
let timer = null;
let paused = false;       // no polling while the token is missing

function filters() {
  const q = { limit: Number($("#event-limit").value) };
  for (const [id, key] of [["#event-kind", "kind"], ["#event-key", "key"], ["#event-tag", "tag"],
    ["#event-flow", "flow_id"]]) {
    const v = $(id).value.trim();
    if (v) q[key] = v;
  }
  return q;
}

function renderCounters(rep) {
  const s = rep.stats || {};
  const set = (id, v) => {
    $(`[data-testid="counter-${id}"]`).textContent = v;
  };
  set("hits", num(s.hits));
  set("misses", num(s.misses));
  set("loads", num(s.loads));
  set("hit-ratio", rep.hit_ratio === null || rep.hit_ratio === undefined ? "–" : ratio(rep.hit_ratio));
  set("loader-calls", num(rep.loaders && rep.loaders.total));
  set("entries", num(rep.diagnostics && rep.diagnostics.entries));
  set("events", num(rep.events && rep.events.retained));
}

// Newest first. The log's own "events-cleared" mark is shown as a note,
// not as a row, unless asked for by kind: after a clear, the table is empty.
function renderEvents(answer, q) {
  const tbody = clear($('[data-testid="events-table"] tbody'));
  const marks = answer.events.filter((e) => e.kind === "events-cleared");
  const rows = (q.kind === "events-cleared" ? answer.events : answer.events.filter((e) => e.kind !== "events-cleared"))
    .reverse();
  for (const e of rows) {
    tbody.append(el("tr", { dataset: { kind: e.kind, flow: e.flow_id || "" } },
      el("td", { class: "num" }, e.seq),
      el("td", { class: "mono" }, time(e.time)),
      el("td", {}, pill(e.kind)),
      el("td", { class: "mono" }, e.key || ""),
      el("td", { class: "mono" }, e.flow_id || ""),
      el("td", { class: "mono details" },
        details(e, ["seq", "time", "kind", "key", "flow_id", "source", "cache_seq"]))));
  }
  if (!rows.length)
    tbody.append(el("tr", { class: "empty" }, el("td", { colspan: 6 }, "No events match.")));
  const note = $('[data-testid="events-note"]');
  const bits = [`${rows.length} shown`];
  if (Object.keys(q).some((k) => k !== "limit")) bits.push("filtered");
  if (marks.length) bits.push(`the log was cleared at ${time(marks[marks.length - 1].time)}`);
  note.textContent = bits.join(" · ");
  $('[data-testid="events-table"]').dataset.rows = String(rows.length);
}

// Refresh the counters and the events; after an action (full), also what
// alsoRefresh registered. The live timer refreshes only the first two, so
// that a table the user is about to click in does not change under them.
export async function refreshNow(full = true) {
  if (paused) return;
  const g = ++generation;
  const q = filters();
  if (full) for (const f of extras) f();
  try {
    const [rep, ev] = await Promise.all([client().report(), client().events(q)]);
    if (g !== generation) return;
    renderCounters(rep);
    renderEvents(ev, q);
    clearError("refresh");
  } catch (err) {
    if (g !== generation) return;
    showError(err, "refresh", "refresh");
    if (err.status === 401) setPaused(true);
  }
}

export function alsoRefresh(fn) {
  extras.push(fn);
}

export function setPaused(p) {
  paused = p;
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if ($("#live").checked)
    timer = setInterval(() => {
      if (document.visibilityState === "visible") refreshNow(false);
    }, 2000);
}

async function resetAll(button) {
  await busy(button, "reset", async () => {
    const r = await client().reset();
    await client().eventsClear();
    return r;
  });
  refreshNow();
}

export function init() {
  const kind = $("#event-kind");
  for (const k of KINDS) kind.append(el("option", { value: k }, k));
  const form = $('[data-testid="event-filters"]');
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    refreshNow(false);
  });
  let debounce = null;
  form.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => refreshNow(false), 250);
  });
  form.addEventListener("change", () => refreshNow(false));
  $('[data-testid="event-filter-clear"]').addEventListener("click", () => {
    for (const id of ["#event-kind", "#event-key", "#event-tag", "#event-flow"]) $(id).value = "";
    refreshNow(false);
  });
  $('[data-testid="events-clear"]').addEventListener("click", async (e) => {
    await busy(e.currentTarget, "clear the log", () => client().eventsClear());
    refreshNow();
  });
  $('[data-testid="reset"]').addEventListener("click", (e) => resetAll(e.currentTarget));
  $("#live").addEventListener("change", schedule);
  schedule();
}
