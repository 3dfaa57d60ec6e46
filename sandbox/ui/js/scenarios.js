// Committed recipes and suites, and the scenario editor: a YAML or JSON
// document run as it is typed, its result, and where a malformed one
// went wrong.
import { busy, client, describe, SandboxError } from "./api.js";
import { $, clear, el } from "./dom.js";
import { refreshNow } from "./live.js";
import { runView } from "./results.js";

const EXAMPLES = {
  golden: {
    format: "yaml",
    text: `name: my-golden-path
description: load, hit, write, reload
steps:
  - reset: {}
  - load_user: {id: 42}
    expect: {source: loader, name: Ada}
  - load_user: {id: 42}
    expect: {source: cache}
  - update_user: {id: 42, name: Grace}
  - load_user: {id: 42}
    expect: {source: loader, name: Grace}
assert:
  - {stat: hits, at_least: 1}
  - {stat: user_loader_calls, equals: 2}
timeline:
  - {kind: stored}
  - {kind: hit}
  - {kind: tag-invalidated}
  - {kind: loader-call}
`,
  },
  raw: {
    format: "json",
    text: `{
  "name": "raw-cache-mine",
  "steps": [
    {"put": {"key": "greeting", "value": "hello", "ttl_ms": 60000, "tags": ["demo"]}},
    {"get": {"key": "greeting"}, "expect": {"found": true, "value": "hello"}},
    {"invalidate_tag": {"tag": "demo"}},
    {"get": {"key": "greeting"}, "expect": {"found": false}}
  ],
  "timeline": [{"kind": "stored"}, {"kind": "hit"}, {"kind": "tag-invalidated"}]
}
`,
  },
  suite: {
    format: "yaml",
    text: `name: my-suite
scenarios:
  - named: ttl
  - file: raw-cache.json
  - name: inline
    steps:
      - put: {key: k, value: 1}
      - get: {key: k}
        expect: {value: 1}
`,
  },
};

function resultBox() {
  return clear($('[data-testid="scenario-result"]'));
}

// A document that did not parse or check: the message, and the line it
// names with a caret under the column; the editor selects that line.
function showDocError(err) {
  const box = resultBox();
  const e = (err instanceof SandboxError && err.body && err.body.error) || {};
  const node = el("div", { class: "doc-error", role: "alert", testid: "scenario-error" },
    el("strong", {}, e.code === "bad_yaml" || e.code === "bad_json" ? "The document does not parse" :
      "The document does not check out"),
    el("p", {}, describe(err)));
  const ta = $("#scenario-editor");
  if (e.line) {
    const lines = ta.value.split("\n");
    const text = lines[e.line - 1] !== undefined ? lines[e.line - 1] : "";
    const col = Math.max(1, e.column || 1);
    node.append(el("pre", { class: "excerpt", testid: "scenario-error-line" },
      `${String(e.line).padStart(3)} | ${text}\n    | ${" ".repeat(col - 1)}^`));
    let start = 0;
    for (let i = 0; i < e.line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    ta.focus();
    ta.setSelectionRange(start, start + text.length);
  }
  box.append(node);
}

function doc() {
  return { format: $("#scenario-format").value, document: $("#scenario-editor").value };
}

async function run(button) {
  const r = await busy(button, "run the scenario", () => client().documentRun(doc()), showDocError);
  if (r) resultBox().append(runView(r));
  refreshNow();
}

async function parse(button) {
  const r = await busy(button, "check the scenario", () => client().documentParse(doc()), showDocError);
  if (!r) return;
  const box = resultBox();
  const json = JSON.stringify(r.document, null, 2);
  box.append(el("article", { class: "run passed" },
    el("div", { class: "run-head" }, el("span", { class: "badge ok" }, "valid"),
      el("strong", {}, `${r.kind} ${r.document.name || ""}`), el("span", { class: "muted" }, "normalized JSON")),
    el("pre", { class: "json" }, json),
    el("button", { type: "button", class: "secondary", onclick: () => {
      $("#scenario-editor").value = json + "\n";
      $("#scenario-format").value = "json";
    } }, "Edit it as JSON")));
}

async function loadFiles() {
  const r = await busy(null, "committed scenarios", () => client().scenarioFiles());
  if (!r) return;
  const tbody = clear($('[data-testid="scenario-files"] tbody'));
  const recipe = $("#compare-recipe");
  for (const f of r.files) {
    const size = f.kind === "suite" ? `${f.scenarios} scenarios` : `${f.steps} steps`;
    tbody.append(el("tr", {},
      el("td", {}, el("span", { class: "mono" }, f.file), f.description ? el("div", { class: "muted small" },
        f.description) : null),
      el("td", {}, f.kind),
      el("td", {}, size),
      el("td", {}, el("button", { type: "button", class: "small", testid: `run-file-${f.file}`,
        "aria-label": `Run ${f.file}`, onclick: (e) => runFile(e.currentTarget, f) }, "Run"))));
    if (f.kind === "scenario") recipe.append(el("option", { value: `file:${f.file}` }, f.file));
  }
}

async function runFile(button, f) {
  const r = await busy(button, `run ${f.file}`, () =>
    f.kind === "suite" ? client().suiteFileRun({ file: f.file }) : client().scenarioFileRun({ file: f.file }));
  if (r) {
    resultBox().append(runView(r));
    $('[data-testid="scenario-result"]').scrollIntoView({ block: "nearest" });
  }
  refreshNow();
}

function useExample(name) {
  const x = EXAMPLES[name];
  $("#scenario-editor").value = x.text;
  $("#scenario-format").value = x.format;
}

export function init() {
  useExample("golden");
  $("#scenario-example").addEventListener("change", (e) => useExample(e.currentTarget.value));
  $('[data-testid="scenario-run"]').addEventListener("click", (e) => run(e.currentTarget));
  $('[data-testid="scenario-parse"]').addEventListener("click", (e) => parse(e.currentTarget));
  $("#scenario-editor").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run($('[data-testid="scenario-run"]'));
    }
  });
}

export { loadFiles };
