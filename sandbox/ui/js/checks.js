// Readiness, the self-test, the behaviour and the negative scenarios.
import { busy, client } from "./api.js";
import { $, $$, badge, el } from "./dom.js";
import { refreshNow } from "./live.js";
import { checkView, runView } from "./results.js";

const BEHAVE = {
  ttl: (api) => api.scenarioTtl({ ttl_ms: 200 }),
  "single-flight": (api) => api.scenarioSingleFlight({ callers: 8, loader_delay_ms: 20 }),
  "invalidation-race": (api) => api.scenarioInvalidationRace(),
};

const NEGATIVE = {
  "missing-key": (api) => api.negativeMissingKey(),
  "missing-user": (api) => api.negativeMissingUser(),
  "loader-error": (api) => api.negativeLoaderError(),
  "expired-entry": (api) => api.negativeExpiredEntry(),
  "invalidation-miss": (api) => api.negativeInvalidationMiss(),
};

function show(node) {
  const box = $('[data-testid="check-result"]');
  box.prepend(node);
  while (box.children.length > 6) box.lastChild.remove();
}

export function init() {
  $('[data-testid="ready-check"]').addEventListener("click", async (e) => {
    const r = await busy(e.currentTarget, "readiness", () => client().ready());
    if (r)
      show(el("article", { class: "run passed", dataset: { passed: r.ready } },
        el("div", { class: "run-head" }, badge(r.ready, ["ready", "not ready"]), el("strong", {}, "Readiness"),
          el("span", { class: "muted" }, `profile ${r.profile} · version ${r.version}` +
            (r.token_required ? " · token required" : "")))));
  });
  $('[data-testid="self-test"]').addEventListener("click", async (e) => {
    const r = await busy(e.currentTarget, "self-test", () => client().selfTest());
    if (r) show(runView(r, "Self-test"));
    refreshNow();
  });
  for (const b of $$('[data-check="behave"]'))
    b.addEventListener("click", async (e) => {
      const name = e.currentTarget.dataset.name;
      const r = await busy(e.currentTarget, name, () => BEHAVE[name](client()));
      if (r) show(checkView(name, r));
      refreshNow();
    });
  for (const b of $$('[data-check="negative"]'))
    b.addEventListener("click", async (e) => {
      const name = e.currentTarget.dataset.name;
      const r = await busy(e.currentTarget, name, () => NEGATIVE[name](client()));
      if (r) show(checkView(name, r));
      refreshNow();
    });
  $('[data-testid="negative-all"]').addEventListener("click", async (e) => {
    const r = await busy(e.currentTarget, "negative scenarios", () => client().scenarioRun({ name: "negative-suite" }));
    if (r) show(checkView("All negative scenarios", r));
    refreshNow();
  });
}
