// The console's entry: the token, the first look at the server, and each
// section's module.
import { busy, clearError, client, setToken, showError, token } from "./api.js";
import * as bench from "./bench.js";
import * as checks from "./checks.js";
import { $, el } from "./dom.js";
import * as golden from "./golden.js";
import * as live from "./live.js";
import * as observe from "./observe.js";
import * as scenarios from "./scenarios.js";
import * as tools from "./tools.js";

// Everything that needs the API (and so, on some servers, the token).
async function load() {
  live.setPaused(false);
  const presets = await busy(null, "presets", () => client().presets());
  if (!presets) return;
  bench.setPresets(presets.benchmarks);
  const recipe = $("#compare-recipe");
  if (recipe.options.length === 1)
    for (const n of presets.scenarios)
      if (n !== "golden-path") recipe.append(el("option", { value: `named:${n}` }, `${n} (named)`));
  await Promise.all([live.refreshNow(), scenarios.loadFiles()]);
}

async function start() {
  const info = $('[data-testid="server-info"]');
  let ready;
  try {
    ready = await client().ready();
  } catch (err) {
    info.textContent = "not answering";
    showError(err, "GET /ready");
    return;
  }
  info.textContent = `${location.host} · profile ${ready.profile} · version ${ready.version}` +
    (ready.token_required ? " · token required" : "");
  info.dataset.profile = ready.profile;
  if (ready.token_required && !token()) {
    live.setPaused(true);
    showError(new Error("this server needs a token: enter it in the Token field above"), "");
    $("#token").focus();
    return;
  }
  await load();
}

function init() {
  for (const m of [live, golden, checks, scenarios, tools, bench, observe]) m.init();
  live.alsoRefresh(() => tools.loadFlows());
  live.alsoRefresh(() => observe.refreshMetrics());
  $("#token").value = token();
  $('[data-testid="token-form"]').addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("#token").value.trim());
    clearError();
    load();
  });
  $('[data-action="dismiss-error"]').addEventListener("click", clearError);
  start();
}

init();
