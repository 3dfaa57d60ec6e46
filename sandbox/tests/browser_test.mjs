// The sandbox's pages in a real browser: Debian's chromium, headless,
// driven by playwright-core (pinned in sandbox/package.json; it downloads
// no browser). Each test opens a fresh browser context on a real
// hcache-sandbox started on 127.0.0.1:0 and waited for on /ready.
//
//   node sandbox/tests/browser_test.mjs --server build/release/hcache-sandbox \
//        [--results build/release/browser-results.txt] [--screenshots docs/images]
//        [--only TEXT]
//
// In every test, every request the pages make is recorded and must go to
// 127.0.0.1 (any other is refused and fails the test), and the browser's
// console must have no error, nor the page an uncaught exception; a test
// that provokes an HTTP error on purpose names it, and only that one is
// let through. Waits are on selectors and responses, never on a clock.
//
// Prints one "[       OK ]" or "[  FAILED  ]" line per test and
// "browser: N passed, N failed, N skipped"; with --results writes the line
// "release browser P F S" there and the causes of failures beside it
// (browser-failures.txt), for scripts/test-summary.sh. With --screenshots
// DIR it writes the README's pictures of the console there instead of
// testing (make sandbox-screenshots).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, unlinkSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SERVER = resolve(opt("--server") || "build/release/hcache-sandbox");
const RESULTS = opt("--results");
const SHOTS = opt("--screenshots");
const ONLY = opt("--only");         // run only the tests whose name has this
const CHROMIUM = process.env.HC_CHROMIUM || "/usr/bin/chromium";

// ------------------------------------------------------------------ server

class Server {
  constructor(extra = [], label = "server") {
    this.extra = extra;
    this.label = label;
    this.stderr = "";
  }

  async start() {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HYDRACACHE_SANDBOX_")));
    this.proc = spawn(SERVER, ["--bind", "127.0.0.1:0", "--env-file", "none", "--profile", "memory", ...this.extra],
      { env, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stderr.on("data", (d) => {
      this.stderr += d;
    });
    const exited = new Promise((_, reject) => this.proc.on("exit", (code) =>
      reject(new Error(`${this.label} exited (${code}): ${this.stderr}`))));
    exited.catch(() => {});
    // The first line is the URL.
    const lines = createInterface({ input: this.proc.stdout });
    const first = new Promise((res) => lines.once("line", res));
    this.url = await Promise.race([first, exited]);
    lines.on("line", () => {});
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(this.url)) throw new Error(`${this.label}: no URL: ${this.url}`);
    // Bounded polling of the readiness route, as the HTTP suite does.
    for (let i = 0; i < 600; i++) {
      try {
        const r = await fetch(`${this.url}/ready`);
        if (r.ok && (await r.json()).ready) return this;
      } catch {
        /* not listening yet */
      }
      await Promise.race([new Promise((res) => setTimeout(res, 50)), exited]);
    }
    throw new Error(`${this.label} never became ready`);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc ? this.proc.exitCode : 0;
    const done = new Promise((res) => this.proc.once("exit", (code, sig) => res(code === null ? sig : code)));
    this.proc.kill("SIGTERM");
    return done;
  }
}

// ----------------------------------------------------------------- guards

// A page in a fresh context, watched: requests (all must go to 127.0.0.1),
// console errors, uncaught exceptions. expectHttpError(path, status) lets
// one deliberate error answer through.
async function openPage(browser, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const w = { context, requests: [], offsite: [], problems: [], allowed: [] };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    const u = new URL(url);
    if (u.protocol === "http:" && u.hostname === "127.0.0.1") return route.continue();
    if (u.protocol === "data:" || u.protocol === "blob:") return route.continue();
    w.offsite.push(url);
    return route.abort("blockedbyclient");
  });
  context.on("request", (r) => w.requests.push(r.url()));
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    const at = m.location().url || "";
    const st = /status of (\d+)/.exec(text);
    const ok = st && w.allowed.some((a) => at.startsWith(a.prefix) && new URL(at).pathname === a.path &&
      Number(st[1]) === a.status);
    if (!ok) w.problems.push(`console error: ${text} (${at})`);
  });
  page.on("pageerror", (e) => w.problems.push(`page error: ${e.message}`));
  w.page = page;
  w.expectHttpError = (base, path, status) => w.allowed.push({ prefix: base, path, status });
  return w;
}

function check(w) {
  const bad = w.requests.filter((u) => {
    const x = new URL(u);
    return !(x.protocol === "data:" || x.protocol === "blob:" || (x.protocol === "http:" && x.hostname === "127.0.0.1"));
  });
  const off = [...new Set([...w.offsite, ...bad])];
  if (off.length) throw new Error(`requests left 127.0.0.1: ${off.join(", ")}`);
  if (w.problems.length) throw new Error(w.problems.join("\n"));
}

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

const tid = (page, id) => page.getByTestId(id);

// --------------------------------------------------------------- helpers

async function openConsole(browser, s, viewport) {
  const w = await openPage(browser, viewport);
  await w.page.goto(`${s.url}/demo/ui`);
  // Loaded: the counters have numbers and the committed files are listed.
  await w.page.locator('[data-testid="counter-hits"]:not(:text-is("–"))').waitFor();
  await w.page.locator('[data-testid="scenario-files"] tbody tr').first().waitFor();
  return w;
}

async function runGolden(page) {
  await tid(page, "golden-flow").click();
  await page.locator('[data-testid="timeline-step"]').nth(6).waitFor();
  await page.locator('[data-testid="flow-events"] li').first().waitFor();
}

async function sources(page) {
  return page.locator('[data-testid="timeline-step"]').evaluateAll((els) => els.map((e) => e.dataset.source));
}

// The kinds in the rows of the events table, once they are what want
// says: {has: [kinds]}, {lacks: [kinds]}, {only: kind}, {empty: true},
// {flow: id} (every row in that flow).
async function eventRows(page, want, what) {
  const handle = await page.waitForFunction((want) => {
    const trs = [...document.querySelectorAll('[data-testid="events-table"] tbody tr:not(.empty)')];
    const rows = trs.map((r) => r.dataset.kind);
    const ok = (!want.flow || (trs.length > 0 && trs.every((r) => r.dataset.flow === want.flow))) && (!want.has || want.has.every((k) => rows.includes(k))) &&
      (!want.lacks || !want.lacks.some((k) => rows.includes(k))) &&
      (!want.only || (rows.length > 0 && rows.every((k) => k === want.only))) &&
      (!want.empty || rows.length === 0);
    return ok ? rows : false;
  }, want, { timeout: 15000 }).catch(() => null);
  expect(handle, `the events table never showed ${what}`);
  return handle.jsonValue();
}

const GOLDEN_YAML = `name: typed-in-the-browser
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
timeline:
  - {kind: stored}
  - {kind: hit}
  - {kind: tag-invalidated}
  - {kind: loader-call}
`;

const BAD_YAML = `name: broken
steps:
  - put: {key: k, value: 1
  - get: {key: k}
`;

// ------------------------------------------------------------------ tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("the console loads from 127.0.0.1 alone, with no console error", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  expect((await tid(page, "server-info").textContent()).includes("profile memory"), "server info");
  for (const asset of ["/demo/ui/console.css", "/demo/ui/js/main.js", "/demo/ui/client.js", "/demo/ui/favicon.svg"])
    expect(w.requests.some((u) => u === s.url + asset), `${asset} was not loaded: ${w.requests.join(" ")}`);
  check(w);
  await w.context.close();
});

test("golden flow from the button: loader, cache, then loader after the write", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await runGolden(page);
  const got = await sources(page);
  expect(JSON.stringify(got) === JSON.stringify(["reset", "loader", "cache", "write", "loader", "invalidation", "loader"]),
    `timeline ${got}`);
  const outcomes = await page.locator('[data-testid="timeline-step"] .step-outcome').allTextContents();
  expect(outcomes[1].includes("Ada") && outcomes[2].includes("cache") && outcomes[4].includes("Grace"), outcomes);
  const lat = await page.locator('[data-testid="timeline-step"] .step-latency').allTextContents();
  expect(lat.length === 7 && lat.every((t) => /\d ms/.test(t)), `latencies ${lat}`);
  await page.locator('.timeline-caption .badge.ok').waitFor();
  // The flow's events, and the counters moved.
  const kinds = await page.locator('[data-testid="flow-events"] .pill').allTextContents();
  for (const k of ["miss", "loader-call", "stored", "hit", "tag-invalidated", "user-updated"])
    expect(kinds.includes(k), `${k} not among the flow's events ${kinds}`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="counter-hits"]').textContent) >= 1);
  // Replay it: the same path again, in a new flow.
  await tid(page, "golden-replay").click();
  await page.locator('.timeline-caption:has-text("Replay of")').waitFor();
  const again = await sources(page);
  expect(JSON.stringify(again) === JSON.stringify(got), `replay ${again}`);
  check(w);
  await w.context.close();
});

test("a YAML scenario typed into the editor runs: its result and timeline appear", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await tid(page, "scenario-format").selectOption("yaml");
  await tid(page, "scenario-editor").fill(GOLDEN_YAML);
  await tid(page, "scenario-run").click();
  const run = page.locator('[data-testid="scenario-result"] .run[data-passed="true"]');
  await run.waitFor();
  expect((await run.locator(".run-head").textContent()).includes("typed-in-the-browser"), "name");
  expect(await run.locator('[data-testid="steps-table"] tbody tr').count() === 5, "5 steps");
  const states = await run.locator('[data-testid="timeline-assert"] li').evaluateAll((l) => l.map((x) => x.dataset.state));
  expect(states.length === 4 && states.every((x) => x === "matched"), `timeline ${states}`);
  // A failing expectation is shown as such, step by step.
  await tid(page, "scenario-editor").fill(GOLDEN_YAML.replace("expect: {source: cache}", "expect: {source: loader}")
    .replace("{kind: hit}", "{kind: evicted}"));
  await tid(page, "scenario-run").click();
  const failed = page.locator('[data-testid="scenario-result"] .run[data-passed="false"]');
  await failed.waitFor();
  expect(await failed.locator('tr[data-passed="false"]').count() === 1, "one failed step");
  expect(await failed.locator('[data-testid="timeline-assert"] li[data-state="missing"]').count() === 1, "missing");
  check(w);
  await w.context.close();
});

test("a malformed YAML scenario shows the error with its line", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  w.expectHttpError(s.url, "/demo/scenarios/document/run", 400);
  await tid(page, "scenario-format").selectOption("yaml");
  await tid(page, "scenario-editor").fill(BAD_YAML);
  await tid(page, "scenario-run").click();
  const err = tid(page, "scenario-error");
  await err.waitFor();
  const text = await err.textContent();
  const m = /line (\d+)/.exec(text);
  expect(m && text.includes("bad_yaml"), `error ${text}`);
  // The line it names is shown under the message, and selected in the editor.
  const excerpt = await tid(page, "scenario-error-line").textContent();
  expect(excerpt.startsWith(`${m[1].padStart(3)} |`), `excerpt ${excerpt}`);
  const sel = await tid(page, "scenario-editor").evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd));
  expect(BAD_YAML.split("\n")[Number(m[1]) - 1] === sel, `selected ${JSON.stringify(sel)}`);
  expect(await tid(page, "error").isVisible(), "the page's error region");
  check(w);
  await w.context.close();
});

test("a benchmark runs and its chart is drawn; a comparison shows a verdict", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await page.locator('#bench-preset option[value="slow-loader"]').waitFor({ state: "attached" });
  await tid(page, "bench-run").click();
  await page.locator('[data-testid="bench-chart"][data-drawn="true"][data-runs="1"]').waitFor();
  expect(/req\/s/.test(await tid(page, "bench-throughput-value").textContent()), "throughput shown");
  // The canvas has pixels drawn on it.
  const inked = await tid(page, "bench-chart").evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  });
  expect(inked > 1000, `the chart has ${inked} pixels drawn`);
  expect(w.requests.includes(`${s.url}/demo/ui/lib/chart.js/chart.mjs`), "Chart.js from the sandbox");
  await tid(page, "bench-run").click();
  await page.locator('[data-testid="bench-chart"][data-runs="2"]').waitFor();
  await tid(page, "bench-baseline").selectOption("run:1");
  await tid(page, "bench-candidate").selectOption("run:2");
  await tid(page, "bench-compare").click();
  const v = tid(page, "bench-verdict");
  await v.waitFor();
  const verdict = await v.getAttribute("data-verdict");
  expect(["candidate-better", "candidate-worse", "mixed"].includes(verdict), `verdict ${verdict}`);
  expect(await page.locator('[data-testid="bench-compare-table"] tbody tr').count() === 6, "side by side");
  await page.locator('[data-testid="bench-compare-chart"][data-drawn="true"]').waitFor();
  // Settings run by the server (presets) compare as well.
  await tid(page, "bench-baseline").selectOption("preset:uniform");
  await tid(page, "bench-candidate").selectOption("preset:zipf");
  await tid(page, "bench-compare").click();
  await page.locator('[data-testid="bench-compare-table"] td:has-text("zipf, 20k req")').waitFor();
  check(w);
  await w.context.close();
});

test("the event filter narrows the table; reset empties it", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await runGolden(page);
  const all = await eventRows(page, { has: ["hit", "stored"] }, "hit and stored");
  await tid(page, "event-filter-kind").selectOption("hit");
  const hits = await eventRows(page, { only: "hit" }, "only hits");
  expect(hits.length < all.length, `${hits.length} of ${all.length}`);
  await tid(page, "event-filter-kind").selectOption("");
  const flow = (await page.locator('[data-testid="timeline"]').getAttribute("data-flow")).replace("Flow ", "");
  await tid(page, "event-filter-flow").fill(flow);
  await eventRows(page, { flow, has: ["user-updated", "hit"] }, "the flow alone");
  await tid(page, "event-filter-clear").click();
  await tid(page, "reset").click();
  await eventRows(page, { empty: true }, "no rows");
  await page.waitForFunction(() => document.querySelector('[data-testid="counter-hits"]').textContent === "0");
  expect((await tid(page, "events-note").textContent()).includes("cleared"), "the note says the log was cleared");
  check(w);
  await w.context.close();
});

test("readiness, self-test, behaviour and negative scenarios show their results", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  const box = tid(page, "check-result");
  await tid(page, "ready-check").click();
  await box.locator('.run:has-text("Readiness")').waitFor();
  await tid(page, "self-test").click();
  await box.locator('.run[data-passed="true"]:has-text("self-test")').waitFor();
  await page.getByRole("button", { name: "Single-flight" }).click();
  await box.locator('.run[data-passed="true"]:has-text("single-flight")').waitFor();
  await page.getByRole("button", { name: "Loader error" }).click();
  await box.locator('.run[data-passed="true"]:has-text("loader-error")').waitFor();
  await tid(page, "negative-all").click();
  const all = box.locator('.run:has-text("All negative scenarios")');
  await all.waitFor();
  expect(await all.getAttribute("data-passed") === "true" && await all.locator("li").count() === 5, "5 negatives");
  check(w);
  await w.context.close();
});

test("committed files and suites, flows, profiles, faults", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await tid(page, "run-file-smoke-suite.yaml").click();
  await page.locator('[data-testid="scenario-result"] .run[data-passed="true"]:has-text("smoke-suite")').waitFor();
  await tid(page, "run-file-order-summary.yaml").click();
  await page.locator('[data-testid="scenario-result"] .run[data-passed="true"]:has-text("order-summary")').waitFor();
  await runGolden(page);
  const row = page.locator('[data-testid="flows-table"] tbody tr', { hasText: "ui-golden" }).first();
  await row.waitFor();
  await row.getByRole("button", { name: /^Replay/ }).click();
  await page.locator('[data-testid="replay-result"][class*="passed"]').waitFor();
  expect(await page.locator('[data-testid="replay-result"] li').count() === 7, "7 requests replayed");
  await tid(page, "profiles-compare").click();
  const prof = tid(page, "profiles-result");
  await prof.waitFor();
  expect((await prof.locator("tbody tr").count()) === 4 && (await prof.getAttribute("class")).includes("passed"),
    "four profiles, passed");
  await tid(page, "faults-run").click();
  await tid(page, "faults-result").waitFor();
  expect((await tid(page, "faults-result").getAttribute("class")).includes("passed"), "faults passed");
  check(w);
  await w.context.close();
});

test("distributed invalidation shows the remote bus events; the listener demo", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await tid(page, "distributed-run").click();
  const bus = tid(page, "transport-in-process");
  await bus.waitFor();
  const checks = await bus.locator(".bus-events li").evaluateAll((l) => l.map((x) => x.dataset.passed));
  expect(JSON.stringify(checks) === '["true","true","true"]', `checks ${checks}`);
  expect((await bus.textContent()).includes("tag-invalidation"), "the tag's event");
  await tid(page, "listeners-run").click();
  await page.locator('[data-testid="listeners-result"][class*="passed"]').waitFor();
  check(w);
  await w.context.close();
});

test("Prometheus metrics, the per-declaration table, the report bundle download", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  await runGolden(page);
  await tid(page, "metrics-refresh").click();
  await page.locator('[data-testid="declarations"] tbody tr:has-text("sandbox.load_user")').waitFor();
  await page.locator('[data-testid="metrics"]:has-text("hydracache_hits_total")').waitFor();
  await tid(page, "metrics-filter").fill("hits_total");
  const lines = (await tid(page, "metrics").textContent()).trim().split("\n");
  expect(lines.length >= 1 && lines.every((l) => l.includes("hits_total")), `filtered ${lines}`);
  const [download] = await Promise.all([page.waitForEvent("download"), tid(page, "export").click()]);
  expect(/^hcache-sandbox-bundle-.*\.json$/.test(download.suggestedFilename()), download.suggestedFilename());
  const bundle = JSON.parse(readFileSync(await download.path(), "utf8"));
  expect(bundle.format === "hcache-sandbox-bundle" && bundle.events.length > 0, "the bundle");
  check(w);
  await w.context.close();
});

test("an API error is shown in the page", async (b, s) => {
  const w = await openConsole(b, s);
  const { page } = w;
  w.expectHttpError(s.url, "/demo/benchmarks/manual", 400);
  await page.locator("#bench-requests").fill("0");
  await tid(page, "bench-run").click();
  const err = tid(page, "error");
  await err.waitFor();
  const text = await err.textContent();
  expect(text.includes("400") && text.includes("invalid") && text.includes("requests"), `error ${text}`);
  // The next action clears it.
  await tid(page, "ready-check").click();
  await err.waitFor({ state: "hidden" });
  check(w);
  await w.context.close();
});

test("a narrow window (400 px): the main controls are there and reachable by keyboard", async (b, s) => {
  const w = await openConsole(b, s, { width: 400, height: 800 });
  const { page } = w;
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(wide <= 400, `the page is ${wide} px wide`);
  const main = ["golden-flow", "reset", "self-test", "event-filter-kind", "scenario-editor", "scenario-run",
    "bench-run", "bench-compare", "distributed-run", "metrics-refresh", "export", "token"];
  for (const id of main) {
    const el = tid(page, id);
    await el.scrollIntoViewIfNeeded();
    const box = await el.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= 400 && box.width > 0, `${id} at ${JSON.stringify(box)}`);
  }
  // Tab through the page: every main control takes the focus, each with a
  // visible outline.
  await page.locator("body").focus();
  const seen = new Set();
  for (let i = 0; i < 300 && seen.size < main.length; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const a = document.activeElement;
      const st = getComputedStyle(a);
      return { id: a.dataset.testid, outline: st.outlineStyle !== "none" && st.outlineWidth !== "0px" };
    });
    if (f.id && main.includes(f.id)) {
      expect(f.outline, `${f.id} has no focus outline`);
      seen.add(f.id);
    }
  }
  expect(seen.size === main.length, `not reached by Tab: ${main.filter((x) => !seen.has(x))}`);
  // And run the golden flow from the keyboard.
  await tid(page, "golden-flow").focus();
  await page.keyboard.press("Enter");
  await page.locator('[data-testid="timeline-step"]').nth(6).waitFor();
  check(w);
  await w.context.close();
});

async function swaggerTry(page, op, path) {
  const block = page.locator(`#operations-${op}`);
  await block.locator(".opblock-summary").first().click();
  await block.locator(".try-out__btn").click();
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === path && r.request().method() === "GET"),
    block.locator(".execute").click(),
  ]);
  await block.locator(".live-responses-table tbody .response-col_status").first().waitFor();
  const shown = (await block.locator(".live-responses-table tbody .response-col_status").first().textContent()).trim();
  return { status: resp.status(), shown, auth: await resp.request().headerValue("authorization") };
}

test("Swagger UI loads the document, and Try it out of /ready succeeds", async (b, s) => {
  const w = await openPage(b);
  const { page } = w;
  await page.goto(`${s.url}/swagger-ui`);
  await page.locator(".swagger-ui .info .title:has-text('hcache-sandbox')").waitFor();
  expect(await page.locator(".opblock").count() >= 50, "every operation is listed");
  const r = await swaggerTry(page, "Basics-ready", "/ready");
  expect(r.status === 200 && r.shown === "200", `try it out: ${JSON.stringify(r)}`);
  expect(w.requests.includes(`${s.url}/openapi.json`) &&
    w.requests.includes(`${s.url}/swagger-ui/swagger-ui-bundle.js`), "served by the sandbox");
  check(w);
  await w.context.close();
});

test("with a token: the console asks for it; Swagger UI sends it", async (b) => {
  const s = await new Server(["--token", "browser-secret"], "token server").start();
  try {
    const w = await openPage(b);
    const { page } = w;
    await page.goto(`${s.url}/demo/ui`);
    await page.locator('[data-testid="error"]:has-text("needs a token")').waitFor();
    expect(await page.evaluate(() => document.activeElement.id) === "token", "the token field has the focus");
    await tid(page, "token").fill("browser-secret");
    await tid(page, "token").press("Enter");
    await page.locator('[data-testid="counter-hits"]:not(:text-is("–"))').waitFor();
    await runGolden(page);
    expect(JSON.stringify(await sources(page)) ===
      JSON.stringify(["reset", "loader", "cache", "write", "loader", "invalidation", "loader"]), "golden flow");
    // Swagger UI in the same tab finds the token, for the document and for Try it out.
    await tid(page, "swagger-link").click();
    await page.locator(".swagger-ui .info .title:has-text('hcache-sandbox')").waitFor();
    const r = await swaggerTry(page, "Basics-config", "/demo/config");
    expect(r.status === 200 && r.shown === "200" && r.auth === "Bearer browser-secret", `try it out: ${JSON.stringify(r)}`);
    check(w);
    await w.context.close();
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------ screenshots

async function screenshots(browser, s, dir) {
  mkdirSync(dir, { recursive: true });
  const w = await openConsole(browser, s, { width: 1280, height: 900 });
  const { page } = w;
  // The sticky section bar would sit over the pictures of single sections.
  await page.addStyleTag({ content: "nav.sections { position: static !important; }" });
  await runGolden(page);
  await page.locator('[data-testid="counter-hits"]:text-is("1")').waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  const top = await page.locator("header.top").boundingBox();
  const golden = await page.locator("#golden").boundingBox();
  await page.screenshot({ path: `${dir}/console-golden-flow.png`,
    clip: { x: 0, y: top.y, width: 1280, height: golden.y + golden.height + 12 - top.y } });
  await tid(page, "scenario-editor").fill(GOLDEN_YAML);
  await tid(page, "scenario-run").click();
  await page.locator('[data-testid="scenario-result"] .run[data-passed="true"]').waitFor();
  await tid(page, "scenario-editor").evaluate((t) => {
    t.scrollTop = 0;
  });
  await page.locator("#scenarios").screenshot({ path: `${dir}/console-scenario.png` });
  await tid(page, "bench-run").click();
  await page.locator('[data-testid="bench-chart"][data-runs="1"]').waitFor();
  await page.locator("#bench-keys").fill("100");
  await tid(page, "bench-run").click();
  await page.locator('[data-testid="bench-chart"][data-runs="2"]').waitFor();
  await tid(page, "bench-baseline").selectOption("run:1");
  await tid(page, "bench-candidate").selectOption("run:2");
  await tid(page, "bench-compare").click();
  await page.locator('[data-testid="bench-compare-chart"][data-drawn="true"]').waitFor();
  await page.locator("#bench").screenshot({ path: `${dir}/console-benchmark.png` });
  check(w);
  await w.context.close();
  const sw = await openPage(browser, { width: 1280, height: 900 });
  await sw.page.goto(`${s.url}/swagger-ui`);
  await sw.page.locator(".swagger-ui .info .title").waitFor();
  await swaggerTry(sw.page, "Basics-ready", "/ready");
  const block = sw.page.locator("#operations-Basics-ready");
  const code = await block.locator(".live-responses-table").boundingBox();
  const from = await block.boundingBox();
  await sw.page.screenshot({ path: `${dir}/swagger-ui.png`, fullPage: true,
    clip: { x: 0, y: 0, width: 1280, height: code.y + code.height + 16 } });
  expect(from.y < code.y, "the response is under the operation");
  check(sw);
  await sw.context.close();
  console.log(`screenshots written to ${dir}: console-golden-flow.png console-scenario.png console-benchmark.png ` +
    "swagger-ui.png");
}

// ------------------------------------------------------------------- main

let passed = 0, failed = 0;
const failures = [];
let server, browser;
try {
  server = await new Server([], "server").start();
  // --no-sandbox: chromium's own sandbox needs user namespaces or a setuid
  // helper and refuses to start as root, which is how CI containers and
  // this project's test machines run it. The page is our own, on loopback.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  if (SHOTS) {
    await screenshots(browser, server, SHOTS);
  } else {
    for (const t of tests.filter((x) => !ONLY || x.name.includes(ONLY))) {
      try {
        await t.fn(browser, server);
        passed++;
        console.log(`[       OK ] browser: ${t.name}`);
      } catch (e) {
        failed++;
        const why = (e && e.message ? e.message : String(e)).split("\n").slice(0, 12).join("\n    ");
        failures.push(`${t.name}: ${why}`);
        console.log(`[  FAILED  ] browser: ${t.name}: ${why}`);
      }
    }
  }
} catch (e) {
  failed++;
  failures.push(`setup: ${e && e.message ? e.message : e}`);
  console.log(`[  FAILED  ] browser: setup: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close();
  if (server) {
    const code = await server.stop();
    if (code !== 0) {
      failed++;
      failures.push(`the server's stop: exit ${code}: ${server.stderr.slice(-2000)}`);
      console.log(`[  FAILED  ] browser: the server's stop: exit ${code}`);
    }
  }
}
if (!SHOTS) console.log(`browser: ${passed} passed, ${failed} failed, 0 skipped`);
if (RESULTS) {
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `release browser ${passed} ${failed} 0\n`);
  const f = RESULTS.replace(/results\.txt$/, "failures.txt");
  if (f !== RESULTS) {
    if (failures.length) writeFileSync(f, failures.map((x) => `release browser: FAILED ${x}`).join("\n") + "\n");
    else if (existsSync(f)) unlinkSync(f);
  }
}
process.exit(failed ? 1 : 0);
