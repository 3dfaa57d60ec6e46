#!/usr/bin/env python3
"""The HTTP test suite of hcache-sandbox (Python 3 standard library only).

    python3 sandbox/tests/http_test.py --server build/release/hcache-sandbox \
        [--asan-server build/address-undefined/hcache-sandbox] [--results FILE]

It starts the real server on an ephemeral port (127.0.0.1:0), reads the URL
from the first line the server prints, and waits on GET /ready by polling a
bounded number of times. Then, on the memory, sqlite-file and PostgreSQL
profiles (PostgreSQL from HC_PG_CONNINFO, as scripts/pg.sh sets it; skipped
and counted as skipped only with HC_SKIP_PG=1): every route, the golden
path, every committed recipe and suite, the flows, the tools. Every answer
is checked against the route's schema in the server's own OpenAPI
document, and the memory run must have called every route of it. On the
memory profile also: bad input (malformed JSON and YAML with their line
and column, 413, 404, 405, 401, schema violations that change nothing), the
token and the settings' precedence, the event log file; the pages (the
console and Swagger UI: types, headers, 404, '..' refused), installed and
not; on PostgreSQL a database that goes down. The OpenAPI validator (npm)
checks the document, the committed JavaScript client must be current and
works against the server (node), and the ASan+UBSan and ThreadSanitizer builds serve 8
concurrent clients for a few seconds and must stop cleanly with no
sanitizer report.

Prints one "[       OK ]" or "[  FAILED  ]" line per test and a summary
"sandbox: N passed, N failed, N skipped"; with --results, writes the line
"release sandbox P F S" there for scripts/test-summary.sh.
"""
import argparse
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANDBOX_DIR = os.path.join(ROOT, "sandbox")


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


# --------------------------------------------------------------- results

class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.lock = threading.Lock()

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Failure as e:
            self.fail(name, str(e))
            return False
        except Exception:  # a bug in the test or a crash of the server
            self.fail(name, traceback.format_exc())
            return False
        with self.lock:
            self.passed += 1
        print(f"[       OK ] sandbox: {name}", flush=True)
        return True

    def fail(self, name, why):
        with self.lock:
            self.failed += 1
        print(f"[  FAILED  ] sandbox: {name}: {why}", flush=True)

    def skip(self, name, why, count=1):
        with self.lock:
            self.skipped += count
        print(f"[  SKIPPED ] sandbox: {name}: {why}", flush=True)


# ------------------------------------------------------------------ server

def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRACACHE_SANDBOX_")}
    env.update(extra or {})
    return env


class Server:
    """One hcache-sandbox process on 127.0.0.1 and an ephemeral port."""

    def __init__(self, binary, args, env=None, label=""):
        self.binary, self.args, self.env, self.label = binary, args, env, label
        self.proc = None
        self.url = None
        self.stderr = tempfile.TemporaryFile()
        self.stdout_lines = []

    def start(self, ready=True):
        argv = [self.binary, "--bind", "127.0.0.1:0"] + self.args
        if "--env-file" not in self.args:
            argv += ["--env-file", "none"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=clean_env(self.env), cwd=ROOT)
        # The first line is the URL; a server that fails to start exits.
        r, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline().decode().strip() if r else ""
        if not line.startswith("http://"):
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"no URL from {self.label}: {line!r} {self.stderr_text()}")
        self.url = line
        threading.Thread(target=self._drain, daemon=True).start()
        u = urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        if ready:
            self.wait_ready()
        return self

    def _drain(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line.decode(errors="replace"))

    def wait_ready(self):
        # Bounded polling of the readiness route, never a fixed sleep.
        for _ in range(600):
            try:
                status, body, _, _ = self.call("GET", "/ready", track=False)
                if status == 200 and body.get("ready"):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise Failure(f"{self.label} exited: {self.stderr_text()}")
            time.sleep(0.05)
        raise Failure(f"{self.label} never became ready")

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        """SIGTERM, then the exit status (0 for a clean stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    # ---- HTTP

    tracker = None  # set by the suite: records the routes called and checks answers

    def call(self, method, path, body=None, raw=None, headers=None, track=True, chunked=False):
        """One request; returns (status, parsed JSON or None, headers, raw bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        hdrs = dict(headers or {})
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        try:
            if chunked:
                conn.putrequest(method, path)
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for i in range(0, len(data), 65536):
                    piece = data[i:i + 65536]
                    try:
                        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                    except OSError:
                        break
                try:
                    conn.send(b"0\r\n\r\n")
                except OSError:
                    pass
            else:
                conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            content = resp.read()
            status = resp.status
            rh = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed = None
        if content and rh.get("content-type", "").startswith("application/json"):
            parsed = json.loads(content)
        if track and Server.tracker:
            Server.tracker.saw(self, method, path, status, parsed)
        return status, parsed, rh, content

    def get(self, path, **kw):
        status, body, _, _ = self.call("GET", path, **kw)
        return status, body

    def post(self, path, body=None, **kw):
        status, out, _, _ = self.call("POST", path, body=body if body is not None else {}, **kw)
        return status, out

    def ok(self, method, path, body=None, **kw):
        """A call that must answer 200; returns the body."""
        if method == "GET":
            status, out = self.get(path, **kw)
        else:
            status, out = self.post(path, body, **kw)
        expect(status == 200, f"{method} {path}: {status} {out}")
        return out


# --------------------------------------------------- the document's schemas

class Tracker:
    """Checks every answer against the OpenAPI document and records which
    routes were called (with a 2xx answer)."""

    def __init__(self, doc):
        self.doc = doc
        self.routes = []
        for path, item in doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
            for method, op in item.items():
                self.routes.append((method.upper(), path, re.compile(rx), op))
        self.called = set()
        self.problems = []
        self.lock = threading.Lock()

    def resolve(self, schema):
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = self.doc["components"]["schemas"][name]
        return schema

    def check(self, schema, v, where):
        schema = self.resolve(schema)
        if v is None and schema.get("nullable"):
            return
        t = schema.get("type")
        if t is None:
            return
        ok = {"object": isinstance(v, dict), "array": isinstance(v, list), "string": isinstance(v, str),
              "integer": isinstance(v, int) and not isinstance(v, bool),
              "number": isinstance(v, (int, float)) and not isinstance(v, bool),
              "boolean": isinstance(v, bool)}[t]
        if not ok:
            raise Failure(f"{where}: {v!r:.80} is not {t}")
        if "enum" in schema and v not in schema["enum"]:
            raise Failure(f"{where}: {v!r} not in {schema['enum']}")
        if t == "array":
            for i, x in enumerate(v):
                self.check(schema.get("items", {}), x, f"{where}[{i}]")
        if t == "object":
            for r in schema.get("required", []):
                if r not in v:
                    raise Failure(f"{where}: '{r}' missing")
            for k, x in v.items():
                if k in schema.get("properties", {}):
                    self.check(schema["properties"][k], x, f"{where}.{k}")

    def saw(self, server, method, path, status, body):
        route = None
        for m, p, rx, op in self.routes:
            if rx.match(path.split("?")[0]) and m == method:
                route = (m, p, op)
                break
        if route is None:
            return
        m, p, op = route
        try:
            resp = op["responses"].get(str(status)) or op["responses"].get("default")
            if status == 200:
                if "application/json" not in resp["content"]:
                    raise KeyError("text")      # a text answer: no schema to check
                schema = resp["content"]["application/json"]["schema"]
            else:
                schema = {"$ref": "#/components/schemas/Error"}
            expect(body is not None, f"{m} {p} ({status}): no JSON body")
            self.check(schema, body, f"{m} {p} ({status})")
        except KeyError:
            pass
        except Failure as e:
            with self.lock:
                self.problems.append(str(e))
        if 200 <= status < 300:
            with self.lock:
                self.called.add((m, p))


# ------------------------------------------------------------------ tests

def events_of(s, flow, kind=None):
    q = f"/demo/events?flow_id={flow}" + (f"&kind={kind}" if kind else "")
    return s.ok("GET", q)["events"]


def test_basics(s, profile):
    r = s.ok("GET", "/ready")
    expect(r["ready"] and r["profile"] == profile and r["token_required"] is False, r)
    c = s.ok("GET", "/demo/config")
    expect(c["profile"] == profile and c["sources"]["profile"] == "flag", c)
    expect(c["token"] == "unset", c)
    p = s.ok("GET", "/demo/presets")
    expect(len(p["scenarios"]) == 6 and len(p["negative"]) == 5, p)
    verbs = {o["verb"] for o in p["operations"]}
    for v in ("reset", "put", "get", "get_or_load", "contains", "remove", "invalidate_key", "invalidate_tag",
              "flush", "sleep", "load_user", "update_user", "invalidate_user", "load_product",
              "load_order_summary", "call_function"):
        expect(v in verbs, f"step verb {v} missing from presets")
    expect(any(f["file"] == "regression-suite.json" for f in p["files"]), p["files"])
    rep = s.ok("GET", "/demo/report")
    expect(rep["profile"] == profile and "stats" in rep and "latency" in rep and rep["capabilities"], rep)
    sec = s.ok("GET", "/demo/security")
    expect(sec["token_required"] is False and sec["loopback"] is True, sec)


def test_golden_path(s, profile):
    h = {"X-Flow-Id": "golden-http"}
    expect(s.ok("POST", "/demo/reset", headers=h)["reset"] is True, "reset")
    a = s.ok("POST", "/demo/load/42", headers=h)
    expect(a["source"] == "loader" and a["name"] == "Ada" and a["flow_id"] == "golden-http", a)
    b = s.ok("POST", "/demo/load/42", headers=h)
    expect(b["source"] == "cache" and b["name"] == "Ada", b)
    w = s.ok("POST", "/demo/users/42", {"name": "Grace"}, headers=h)
    expect(w["changes"] == 1 and w["invalidated"] == ["user:42", "users"], w)
    c = s.ok("POST", "/demo/load/42", headers=h)
    expect(c["source"] == "loader" and c["name"] == "Grace", c)
    s.ok("POST", "/demo/invalidate/user/42", headers=h)
    d = s.ok("POST", "/demo/load/42", headers=h)
    expect(d["source"] == "loader" and d["user"]["team"] == "research", d)
    kinds = [e["kind"] for e in events_of(s, "golden-http")]
    for k in ("reset", "loader-call", "stored", "hit", "tag-invalidated", "user-updated"):
        expect(k in kinds, f"{k} not in the flow's events {kinds}")
    t = s.ok("GET", "/demo/flows/golden-http/timeline")
    expect(t["flow"]["requests"] == 7 and len(t["events"]) == len(kinds), t["flow"])
    rep = s.ok("GET", "/demo/report")
    expect(rep["loaders"]["user"] >= 3 and rep["stats"]["hits"] >= 1, rep["loaders"])


def test_raw_cache(s, profile):
    f = {"X-Flow-Id": "raw-http"}
    s.ok("POST", "/demo/cache/flush", headers=f)
    r = s.ok("POST", "/demo/cache/put", {"key": "t:a", "value": {"n": 1}, "ttl_ms": 60000, "tags": ["t"]}, headers=f)
    expect(r["stored"], r)
    r = s.ok("POST", "/demo/cache/get", {"key": "t:a"}, headers=f)
    expect(r["found"] and r["value"] == {"n": 1} and r["source"] == "cache", r)
    expect(s.ok("POST", "/demo/cache/contains", {"key": "t:a"})["found"], "contains")
    r = s.ok("POST", "/demo/cache/get-or-load", {"key": "t:b", "value": [1, 2], "tags": ["t"]}, headers=f)
    expect(r["source"] == "loader" and r["value"] == [1, 2], r)
    r = s.ok("POST", "/demo/cache/get-or-load", {"key": "t:b", "value": "ignored"}, headers=f)
    expect(r["source"] == "cache" and r["value"] == [1, 2], r)
    r = s.ok("POST", "/demo/cache/get-or-load", {"key": "t:c", "value": 1, "loader_error": True}, headers=f)
    expect(r["error"]["code"] == "HC_ELOAD" and r["stored"] is False and r["found"] is False, r)
    r = s.ok("POST", "/demo/cache/get-or-load", {"key": "t:d", "value": 5, "loader_delay_ms": 20}, headers=f)
    expect(r["source"] == "loader" and r["latency_ms"] >= 20, r)
    r = s.ok("POST", "/demo/cache/remove", {"key": "t:a"}, headers=f)
    expect(r["found"] is True and r["removed"] == 1, r)
    r = s.ok("POST", "/demo/cache/invalidate-key", {"key": "t:a"}, headers=f)
    expect(r["found"] is False, r)
    r = s.ok("POST", "/demo/cache/invalidate-tag", {"tag": "t"}, headers=f)
    expect(r["removed"] == 1, r)   # t:b; t:d has no tag
    r = s.ok("POST", "/demo/cache/flush", headers=f)
    expect(r["flushed"] and r["entries_before"] >= 1, r)
    expect(not s.ok("POST", "/demo/cache/contains", {"key": "t:d"})["found"], "flush left t:d")
    kinds = [e["kind"] for e in events_of(s, "raw-http")]
    for k in ("stored", "hit", "load-started", "load-failed", "removed", "key-invalidated", "tag-invalidated",
              "flushed"):
        expect(k in kinds, f"{k} not in {kinds}")


def test_queries(s, profile):
    db = profile != "memory"
    s.ok("POST", "/demo/reset")
    u = s.ok("POST", "/demo/query/users/42/load")
    expect(u["found"] and u["source"] == "loader" and u["user"]["email"] == "ada@example.com", u)
    expect(("query" in u) == db, f"query field on {profile}: {u}")
    u = s.ok("POST", "/demo/query/users/42/load")
    expect(u["source"] == "cache", u)
    # The policy route reads the entry the query stored: one key for both.
    expect(s.ok("POST", "/demo/load/42")["source"] == "cache", "policy and query share the entry")
    p = s.ok("POST", "/demo/query/products/100/load")
    expect(p["product"]["name"] == "The C Programming Language" and p["product"]["price"] == 45.0, p)
    o = s.ok("POST", "/demo/query/orders/5000/summary/load")
    expect(o["order"] == {"id": 5000, "user_id": 42, "user_name": "Ada", "status": "shipped", "items": 2,
                          "total": 58.0}, o)
    expect(s.ok("POST", "/demo/query/orders/5000/summary/load")["source"] == "cache", "order hit")
    m = s.ok("POST", "/demo/query/users/999999/load")
    expect(m["found"] is False and m["source"] == "loader", m)
    m = s.ok("POST", "/demo/query/users/999999/load")
    expect(m["found"] is False and m["source"] == "cache", f"absence not cached: {m}")
    s.ok("POST", "/demo/invalidate/user/7")
    t = s.ok("POST", "/demo/typed/users/1/load")
    expect(t["source"] == "loader" and t["name"] == "Alice", t)
    expect(s.ok("POST", "/demo/typed/users/1/load")["source"] == "cache", "typed hit")
    expect(s.ok("POST", "/demo/load/1")["source"] == "cache", "typed put is the policy's entry")
    s.ok("POST", "/demo/cache/invalidate-tag", {"tag": "functions"})
    f = s.ok("POST", "/demo/functions/double/21")
    expect(f["value"] == 42 and f["source"] == "function", f)
    f = s.ok("POST", "/demo/functions/double/21")
    expect(f["value"] == 42 and f["source"] == "cache", f)
    f = s.ok("POST", "/demo/functions/double/9223372036854775807")
    expect(f["found"] is False and "overflow" in f["error"]["message"], f)
    sr = s.ok("GET", "/demo/db/seed-report")
    expect(sr["rows"] == {"users": 6, "products": 6, "orders": 4, "order_items": 6}, sr)
    expect(sr["applied_migrations"] == (["001_init.sql"] if db else []), sr)


def test_behaviour(s, profile):
    r = s.ok("POST", "/demo/scenarios/ttl", {"ttl_ms": 200})
    expect(r["passed"] and r["found_after"] is False, r)
    r = s.ok("POST", "/demo/scenarios/single-flight", {"callers": 8, "loader_delay_ms": 10})
    expect(r["passed"] and r["loader_calls"] == 1 and r["single_flight_joins"] == 7, r)
    r = s.ok("POST", "/demo/scenarios/invalidation-race")
    expect(r["passed"] and r["stored"] is False and r["stale_load_discards"] >= 1, r)
    for name in ("missing-key", "missing-user", "loader-error", "expired-entry", "invalidation-miss"):
        r = s.ok("POST", f"/demo/negative/{name}")
        expect(r["expected_failure"] is True and r["name"] == name, r)


def test_named(s, profile):
    for name in ("golden-path", "ttl", "single-flight", "invalidation-race", "negative-suite", "self-test"):
        r = s.ok("POST", "/demo/scenarios/run", {"name": name})
        expect(r["passed"], f"{name}: {json.dumps(r)[:2000]}")
    st = s.ok("POST", "/demo/self-test")
    expect(st["passed"] and st["failed_steps"] == 0 and st["events"], st)
    expect(any(e["kind"] == "scenario-run" for e in st["events"]), "no scenario-run event")


def test_files(s, profile):
    files = s.ok("GET", "/demo/scenarios/files")["files"]
    committed = sorted(f for f in os.listdir(os.path.join(SANDBOX_DIR, "scenarios"))
                       if f.endswith((".json", ".yaml", ".yml")))
    expect(sorted(f["file"] for f in files) == committed, files)
    for f in files:
        expect(f["kind"] in ("scenario", "suite"), f)
        if f["kind"] == "scenario":
            r = s.ok("POST", "/demo/scenarios/file/run", {"file": f["file"]})
            expect(r["passed"] and r["file"] == f["file"], f"{f['file']}: {json.dumps(r)[:2000]}")
            st, r = s.post("/demo/scenarios/suite/file/run", {"file": f["file"]})
            expect(st == 400, f"a scenario run as a suite: {st}")
        else:
            r = s.ok("POST", "/demo/scenarios/suite/file/run", {"file": f["file"]})
            expect(r["passed"] and r["failed_count"] == 0, f"{f['file']}: {json.dumps(r)[:3000]}")
            st, r = s.post("/demo/scenarios/file/run", {"file": f["file"]})
            expect(st == 400, f"a suite run as a scenario: {st}")
    for bad in ("nope.yaml", "../sandbox.env", "scenarios", ".hidden.json"):
        st, r = s.post("/demo/scenarios/file/run", {"file": bad})
        expect(st == 404 and r["error"]["code"] == "not_found", (bad, st, r))


GOLDEN_YAML = """name: golden-path
steps:
  - reset: {}
  - load_user: {id: 42}
    expect: {source: loader}
  - load_user: {id: 42}
    expect: {source: cache}
  - update_user: {id: 42, name: Grace}
  - load_user: {id: 42}
    expect: {source: loader, name: Grace}
  - put: {key: greeting, value: hello, ttl_ms: 100, tags: [demo]}
  - sleep: {ms: 150}
  - get: {key: greeting}
    expect: {found: false}
assert:
  - {stat: hits, at_least: 1}
timeline:
  - {kind: stored}
  - {kind: tag-invalidated}
"""


def test_documents(s, profile):
    r = s.ok("POST", "/demo/scenarios/document/parse", {"format": "yaml", "document": GOLDEN_YAML})
    doc = r["document"]
    expect(r["kind"] == "scenario" and len(doc["steps"]) == 8 and doc["steps"][1] ==
           {"load_user": {"id": 42}, "expect": {"source": "loader"}}, r)
    expect(doc["assert"] == [{"stat": "hits", "at_least": 1}], doc)
    # The normalized JSON runs as it is, and gives what the YAML gives.
    r2 = s.ok("POST", "/demo/scenarios/document/parse", {"format": "json", "document": json.dumps(doc)})
    expect(r2["document"] == doc, "JSON round trip")
    run = s.ok("POST", "/demo/scenarios/document/run", {"format": "yaml", "document": GOLDEN_YAML})
    expect(run["passed"] and run["passed_steps"] == 8 and run["timeline"]["passed"], run)
    expect(all("latency_ms" in st and st["detail"] == "ok" for st in run["steps"]), run["steps"])
    # A scenario whose expectation is wrong: it runs, and says which step.
    bad = {"name": "wrong", "steps": [{"put": {"key": "w", "value": 1}}, {"get": {"key": "w"},
                                                                          "expect": {"value": 2}}],
           "timeline": [{"kind": "evicted"}]}
    r = s.ok("POST", "/demo/scenarios/document/run", {"format": "json", "document": json.dumps(bad)})
    expect(not r["passed"] and r["failed_steps"] == 1 and "expected value 2, got 1" in r["steps"][1]["detail"], r)
    expect(r["timeline"]["passed"] is False and r["timeline"]["missing"] == {"kind": "evicted"}, r["timeline"])
    # A suite, inline and as a document.
    suite = {"name": "inline", "scenarios": [{"named": "ttl"}, {"file": "golden-path.json"}, bad]}
    r = s.ok("POST", "/demo/scenarios/suite/run", suite)
    expect(r["passed_count"] == 2 and r["failed_count"] == 1 and not r["passed"], r)
    r = s.ok("POST", "/demo/scenarios/document/run",
             {"format": "yaml", "document": "name: s\nscenarios:\n  - named: invalidation-race\n"})
    expect(r["passed"] and r["name"] == "s", r)
    r = s.ok("POST", "/demo/scenarios/document/parse",
             {"format": "yaml", "document": "name: s\nscenarios:\n  - file: raw-cache.json\n  - named: ttl\n"})
    expect(r["kind"] == "suite" and r["document"]["scenarios"] == [{"file": "raw-cache.json"}, {"named": "ttl"}], r)
    # Errors name where.
    cases = [
        ("yaml", "name: x\nsteps:\n  - lod_user: {id: 1}\n", 400, "bad_scenario", "steps[0]: unknown step 'lod_user'"),
        ("yaml", "name: x\nsteps:\n  - put: {key: 1, value: 2}\n", 400, "bad_scenario", "steps[0].put.key: must be a string"),
        ("yaml", "name: x\nsteps:\n  - get: {key: k}\n    expect: {colour: red}\n", 400, "bad_scenario", "expect.colour"),
        ("yaml", "name: x\nsteps: [{flush: }]\nassert: [{stat: hitz, equals: 1}]\n", 400, "bad_scenario", "unknown counter 'hitz'"),
        ("yaml", "name: x\nsteps: [{sleep: {ms: 10000}}, {sleep: {ms: 10000}}, {sleep: {ms: 10000}}, {sleep: {ms: 1}}]\n", 400,
         "bad_scenario", "more than 30000 ms"),
        ("yaml", "steps: [{flush: {}}]\n", 400, "bad_scenario", "needs a name"),
        ("yaml", "- a\n- b\n", 400, "bad_scenario", "a mapping"),
        ("json", "[1, 2]", 400, "bad_scenario", "a mapping"),
    ]
    for fmt, text, status, code, needle in cases:
        st, r = s.post("/demo/scenarios/document/run", {"format": fmt, "document": text})
        expect(st == status and r["error"]["code"] == code and needle in r["error"]["message"], (text, st, r))


def test_flows(s, profile):
    flows = s.ok("GET", "/demo/flows")["flows"]
    ids = [f["flow_id"] for f in flows]
    expect("golden-http" in ids, ids[:10])
    r = s.ok("POST", "/demo/flows/golden-http/replay", headers={"X-Flow-Id": "golden-replay"})
    expect(r["passed"] and r["replay_of"] == "golden-http" and r["flow_id"] == "golden-replay", r)
    statuses = [x["status"] for x in r["requests"]]
    expect(statuses == [200] * 7, statuses)
    # The replay ran the same path: reset, loader, cache, write, loader ...
    sources = [x["response"].get("source") for x in r["requests"]]
    expect(sources == [None, "loader", "cache", None, "loader", None, "loader"], sources)
    info = [f for f in s.ok("GET", "/demo/flows")["flows"] if f["flow_id"] == "golden-replay"]
    expect(info and info[0]["replay_of"] == "golden-http", info)
    st, r = s.post("/demo/flows/golden-http/replay", headers={"X-Flow-Id": "golden-http"})
    expect(st == 400, f"a replay into its own flow: {st}")
    st, r = s.post("/demo/flows/no-such-flow/replay")
    expect(st == 404, st)
    st, r = s.get("/demo/flows/no-such-flow/timeline")
    expect(st == 404, st)
    r = s.ok("POST", "/demo/replay", {"scenario": "golden-path", "replay_of": "golden-http"})
    expect(r["passed"] and r["replay_of"] == "golden-http", r)
    st, r = s.post("/demo/replay", {"scenario": "golden-path", "replay_of": "nobody"})
    expect(st == 404, st)


def test_events(s, profile):
    s.ok("POST", "/demo/cache/put", {"key": "ev:a", "value": 1, "tags": ["ev-tag"]}, headers={"X-Flow-Id": "ev-flow"})
    s.ok("POST", "/demo/cache/get", {"key": "ev:a"}, headers={"X-Flow-Id": "ev-flow"})
    by_key = s.ok("GET", "/demo/events?key=ev:a")["events"]
    expect(by_key and all(e["key"] == "ev:a" for e in by_key), by_key)
    by_tag = s.ok("GET", "/demo/events?tag=ev-tag")["events"]
    expect(by_tag and by_tag[0]["kind"] == "stored", by_tag)
    one = s.ok("GET", "/demo/events?flow_id=ev-flow&limit=1")["events"]
    expect(len(one) == 1 and one[0]["kind"] == "hit", one)
    bundle = s.ok("GET", "/demo/export")
    expect(bundle["format"] == "hcache-sandbox-bundle" and bundle["events"] and bundle["report"]["profile"] == profile,
           list(bundle))
    cleared = s.ok("POST", "/demo/events/clear")
    expect(cleared["cleared"] >= 2, cleared)
    left = s.ok("GET", "/demo/events")["events"]
    expect([e["kind"] for e in left] == ["events-cleared"], left)
    mine = [e for e in bundle["events"] if e.get("flow_id") == "ev-flow"]
    r = s.ok("POST", "/demo/import", {"format": "hcache-sandbox-bundle", "version": 1, "events": mine,
                                       "info": bundle["info"]})
    expect(r["imported"] == len(mine) and r["flows"] == ["ev-flow"], r)
    t = s.ok("GET", "/demo/flows/ev-flow/timeline")
    expect(len(t["events"]) == len(mine) and all(e.get("imported") for e in t["events"]), t)
    st, r = s.post("/demo/import", {"format": "hcache-sandbox-bundle", "version": 1, "events": [{"no": "kind"}]})
    expect(st == 400, st)


def test_tools(s, profile, pg):
    r = s.ok("POST", "/demo/profiles/compare", {"scenario": "golden-path"})
    got = {p["profile"]: p for p in r["profiles"]}
    expect(set(got) == {"memory", "sqlite-memory", "sqlite-file", "postgres"}, got.keys())
    for name in ("memory", "sqlite-memory", "sqlite-file"):
        expect(got[name]["passed"] and not got[name]["skipped"], json.dumps(got[name])[:1500])
    if pg:
        expect(got["postgres"]["passed"] and not got["postgres"]["skipped"], json.dumps(got["postgres"])[:1500])
    else:
        expect(got["postgres"]["skipped"] and "PostgreSQL" in got["postgres"]["reason"], got["postgres"])
    expect(r["passed"], r)
    r = s.ok("POST", "/demo/profiles/compare", {"file": "order-summary.yaml"})
    expect(r["passed"] and r["recipe"] == "order-summary", json.dumps(r)[:2000])
    r = s.ok("POST", "/demo/profiles/compare", {"format": "yaml", "document":
                                                "name: tiny\nsteps:\n  - load_product: {id: 101}\n    expect: {name: \"Lions' Commentary on UNIX\"}\n"})
    expect(r["passed"], json.dumps(r)[:2000])
    st, r = s.post("/demo/profiles/compare", {"scenario": "ttl", "file": "x.yaml"})
    expect(st == 400, st)
    f = s.ok("POST", "/demo/faults/run", {"loader_delay_ms": 20})
    faults = {x["fault"]: x for x in f["faults"]}
    expect(set(faults) == {"loader-error", "loader-delay", "invalidation-timing", "killed-connection"}, faults)
    expect(f["passed"], json.dumps(f)[:3000])
    expect(faults["killed-connection"]["skipped"] == (profile != "postgres"), faults["killed-connection"])
    b = s.ok("POST", "/demo/benchmarks/manual", {"requests": 4000, "concurrency": 4, "keys": 200,
                                                 "distribution": "zipf", "loader_delay_ms": 1})
    expect(b["loader_calls"] <= 200 and 0 < b["hit_ratio"] <= 1 and b["latency"]["count"] == 4000, b)
    expect(b["hits"] + b["misses"] == 4000 and b["errors"] == 0, b)
    b2 = s.ok("POST", "/demo/benchmarks/manual", {"requests": 1000, "concurrency": 2, "keys": 50})
    expect(b2["distribution"] == "uniform" and b2["loader_calls"] <= 50, b2)
    st, r = s.post("/demo/benchmarks/manual", {"requests": 200000, "keys": 100000, "loader_delay_ms": 100})
    expect(st == 400 and r["error"]["code"] == "too_much", (st, r))
    # Loads past the estimate (a capacity of 1 reloads every key) are
    # stopped at the budget: 300 ms here, not 100 loads of 100 ms.
    st, r = s.post("/demo/benchmarks/manual", {"requests": 100, "concurrency": 1, "keys": 3, "loader_delay_ms": 100,
                                               "capacity": 1, "max_loading_ms": 300})
    m = re.search(r"stopped after (\d+) loader calls", r["error"]["message"]) if st == 400 else None
    expect(m and r["error"]["code"] == "too_much" and int(m.group(1)) == 4, (st, r))
    c = s.ok("POST", "/demo/benchmarks/compare", {"baseline": {"requests": 1000, "keys": 100},
                                                  "candidate": {"requests": 1000, "keys": 100, "distribution": "zipf"}})
    expect(c["verdict"] in ("candidate-better", "candidate-worse", "mixed") and "throughput_rps" in c["deltas"], c)

    def result(rps, p95, ratio):
        return {"throughput_rps": rps, "latency": {"p95_ms": p95}, "loader_call_ratio": ratio}
    for base, cand, verdict in ((result(100, 10, 0.5), result(200, 5, 0.2), "candidate-better"),
                                (result(200, 5, 0.2), result(100, 10, 0.5), "candidate-worse"),
                                (result(100, 5, 0.5), result(200, 10, 0.5), "mixed"),
                                (result(100, 5, 0.5), result(102, 5.1, 0.5), "mixed")):
        c = s.ok("POST", "/demo/benchmarks/compare", {"baseline": base, "candidate": cand})
        expect(c["verdict"] == verdict, (base, cand, c))
    st, r = s.post("/demo/benchmarks/compare", {"baseline": {"keys": "many"}, "candidate": {}})
    expect(st == 400, st)
    lis = s.ok("POST", "/demo/listeners/run")
    expect(lis["passed"] and lis["subscription"] == lis["listener"] and not lis["missing_kinds"], lis)
    d = s.ok("POST", "/demo/distributed/invalidation/run")
    tr = {t["transport"]: t for t in d["transports"]}
    expect(tr["in-process"]["passed"] and len(tr["in-process"]["checks"]) == 3, tr)
    if profile == "postgres":
        expect(tr["postgres"]["passed"] and not tr["postgres"]["skipped"], tr["postgres"])
    else:
        expect(tr["postgres"]["skipped"], tr["postgres"])
    expect(d["passed"], d)


def test_observability(s, profile):
    s.ok("POST", "/demo/invalidate/user/3", headers={"X-Flow-Id": "trace-flow"})
    s.ok("POST", "/demo/load/3", headers={"X-Flow-Id": "trace-flow"})
    t = s.ok("GET", "/demo/observability/traces/latest")
    expect(t["spans"] and t["spans"][0]["name"] == "flow" and t["flow_id"] == "trace-flow", t)
    t = s.ok("GET", "/demo/observability/traces/latest?flow_id=trace-flow")
    expect(t["flow_id"] == "trace-flow" and len(t["spans"]) > 1, t)
    expect(any(sp["name"] == "loader-call" for sp in t["spans"]), [sp["name"] for sp in t["spans"]])
    st, r = s.get("/demo/observability/traces/latest?flow_id=nobody")
    expect(st == 404, st)


def test_metrics_and_actuator(s, profile):
    """Prometheus text, checked by promtool when it is installed, and the
    actuator mounted in the server, checked against the sandbox's own
    counters."""
    s.ok("POST", "/demo/load/7")
    s.ok("POST", "/demo/load/7")
    status, _, headers, raw = s.call("GET", "/demo/observability/prometheus")
    text = raw.decode()
    expect(status == 200 and headers.get("content-type", "").startswith("text/plain"), (status, headers))
    expect('hydracache_hits_total{cache="main"}' in text and "# TYPE hydracache_entries gauge" in text,
           text[:400])
    expect('hydracache_decl_calls_total{cache="main",decl="sandbox.load_user"}' in text, text[:400])
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=raw, capture_output=True, timeout=60)
        expect(p.returncode == 0, p.stdout + p.stderr)
    index = s.ok("GET", "/actuator/hydracache")
    expect(index["_links"]["health"]["href"] == "/actuator/hydracache/health", index)
    expect(s.ok("GET", "/actuator/hydracache/health")["status"] == "UP", "health")
    caches = s.ok("GET", "/actuator/hydracache/caches")
    expect([c["name"] for c in caches["caches"]] == ["main"], caches)
    one = s.ok("GET", "/actuator/hydracache/caches/main")
    expect(one["name"] == "main" and one["stats"]["hits"] >= 1, one)
    stats = s.ok("GET", "/actuator/hydracache/caches/main/stats")
    expect(stats["hits"] >= 1 and stats["total_requests"] == stats["hits"] + stats["misses"], stats)
    diag = s.ok("GET", "/actuator/hydracache/caches/main/diagnostics")
    expect(diag["entries"] >= 1, diag)
    decls = s.ok("GET", "/actuator/hydracache/caches/main/declarations")
    load_user = [d for d in decls["declarations"] if d["decl"] == "sandbox.load_user"]
    expect(load_user and load_user[0]["calls"] >= 2 and load_user[0]["hits"] >= 1, decls)
    st, r = s.get("/actuator/hydracache/caches/nope")
    expect(st == 404 and "nope" in r["error"]["message"], (st, r))
    st, r = s.get("/actuator/hydracache/caches/main%2Fx/stats")
    expect(st == 404, (st, r))
    st, r = s.post("/actuator/hydracache/caches/main/stats", {})
    expect(st == 405, (st, r))


def test_openapi(s, profile, tracker):
    doc = s.ok("GET", "/openapi.json")
    expect(doc["openapi"].startswith("3.") and len(doc["paths"]) >= 50, list(doc))
    cc = s.ok("GET", "/demo/openapi/client-check")
    expect(cc["passed"] and cc["routes"] == cc["documented"] == len(tracker.routes), cc)
    sm = s.ok("GET", "/demo/openapi/client-smoke")
    expect(sm["passed"] and sm["methods"] == sm["routes"] and sm["up_to_date"], sm)


def functional(results, s, profile, tracker, pg):
    tests = [("basics", test_basics), ("golden path over HTTP", test_golden_path), ("raw cache", test_raw_cache),
             ("database queries, typed view, cached function", test_queries),
             ("behaviour and negative scenarios", test_behaviour), ("named scenarios and self-test", test_named),
             ("committed recipes and suites", test_files), ("scenario documents and suites", test_documents),
             ("flows, timelines and replays", test_flows), ("events, export and import", test_events),
             ("compare, faults, benchmarks, listeners, bus", lambda s, p: test_tools(s, p, pg)),
             ("traces", test_observability), ("metrics and the actuator", test_metrics_and_actuator),
             ("openapi, client check and smoke", lambda s, p: test_openapi(s, p, tracker))]
    for name, fn in tests:
        results.run(f"{profile}: {name}", fn, s, profile)


# ------------------------------------------------------------- bad input

def test_bad_input(s):
    before = s.ok("GET", "/demo/report")["stats"]["inserts"]
    st, r, _, _ = s.call("POST", "/demo/cache/put", raw='{"key": "bad:a",\n  "value": }')
    expect(st == 400 and r["error"]["code"] == "bad_json" and r["error"]["line"] == 2 and r["error"]["column"] > 1, r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "yaml", "document": "name: x\nsteps:\n  - put: {key: k\n  - get"})
    expect(st == 400 and r["error"]["code"] == "bad_yaml" and r["error"]["line"] >= 3 and r["error"]["column"] >= 1, r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "json", "document": "{\n\n  \"name\": tru }"})
    expect(st == 400 and r["error"]["code"] == "bad_json" and r["error"]["line"] == 3, r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "yaml", "document": "a: &x [1]\nb: *x\n"})
    expect(st == 400 and "anchors" in r["error"]["message"] and r["error"]["line"] == 1, r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "yaml", "document": "a: 1\n---\nb: 2\n"})
    expect(st == 400 and r["error"]["line"] == 2, r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "yaml", "document": "a: 1\na: 2\n"})
    expect(st == 400 and "duplicate key 'a'" in r["error"]["message"], r)
    st, r = s.post("/demo/scenarios/document/parse", {"format": "yaml", "document": "[" * 100})
    expect(st == 400, r)
    st, r, _, _ = s.call("POST", "/demo/cache/put", raw="[" * 5000 + "]" * 5000)
    expect(st == 400, st)
    st, r, _, _ = s.call("POST", "/demo/cache/put", raw=b'{"key": "\xff\xfe", "value": 1}')
    expect(st == 400 and r["error"]["code"] == "bad_json", r)
    # Bodies over the limit: declared, and chunked.
    # A declared length over the limit is refused before the body is read
    # (the answer comes, and the connection closes): send the headers alone.
    with socket.create_connection((s.host, s.port), timeout=60) as sock:
        sock.sendall(b"POST /demo/cache/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2000000\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            piece = sock.recv(4096)
            if not piece:
                break
            answer += piece
    expect(answer.startswith(b"HTTP/1.1 413") and b'"too_large"' in answer, answer[:300])
    big = b'{"key": "bad:big", "value": "' + b"x" * (1 << 20) + b'"}'
    st, r, _, _ = s.call("POST", "/demo/cache/put", raw=big, chunked=True)
    expect(st == 413, st)
    # Routes and methods.
    st, r = s.get("/demo/nothing-here")
    expect(st == 404 and r["error"]["code"] == "not_found", r)
    st, r, h, _ = s.call("DELETE", "/demo/cache/put")
    expect(st == 405 and h.get("allow") == "POST", (st, h))
    st, r = s.get("/demo/cache/put")
    expect(st == 405, st)
    st, r = s.post("/demo/events")
    expect(st == 405, st)
    # What the schemas refuse.
    for body, needle in (({"value": 1}, "'key' is required"),
                         ({"key": "bad:k", "value": 1, "ttl_ms": -5}, "at least 1"),
                         ({"key": "bad:k", "value": 1, "ttl_ms": "5"}, "must be an integer"),
                         ({"key": "bad:k", "value": 1, "tags": "t"}, "must be an array"),
                         ({"key": "bad:k", "value": 1, "tags": ["t"] * 33}, "at most 32 items"),
                         ({"key": "bad:k", "value": 1, "colour": "red"}, "unknown member 'colour'"),
                         ({"key": "", "value": 1}, "at least 1 characters"),
                         ({"key": "bad:k", "value": 1, "flow_id": "no spaces"}, "flow_id")):
        st, r = s.post("/demo/cache/put", body)
        expect(st == 400 and needle in r["error"]["message"], (body, st, r))
    st, r, _, _ = s.call("POST", "/demo/cache/put", raw="[1, 2]")
    expect(st == 400 and "must be an object" in r["error"]["message"], r)
    st, r = s.post("/demo/load/abc")
    expect(st == 400 and "'id'" in r["error"]["message"], r)
    st, r = s.post("/demo/load/99999999999999999999")
    expect(st == 400, r)
    st, r = s.post("/demo/load/42", {"id": 7})
    expect(st == 400, r)
    st, r = s.post("/demo/load/42", headers={"X-Flow-Id": "x" * 65})
    expect(st == 400, r)
    st, r = s.get("/demo/events?limit=abc")
    expect(st == 400 and "query.limit" in r["error"]["message"], r)
    st, r = s.get("/demo/events?colour=red")
    expect(st == 400 and "colour" in r["error"]["message"], r)
    st, r = s.post("/demo/scenarios/run", {"name": "nope"})
    expect(st == 400 and "must be one of" in r["error"]["message"], r)
    st, r = s.post("/demo/scenarios/single-flight", {"callers": 1000})
    expect(st == 400, r)
    steps = [{"flush": {}}] * 501
    st, r = s.post("/demo/scenarios/document/run", {"format": "json", "document": json.dumps({"name": "x", "steps": steps})})
    expect(st == 400 and "1 to 500 steps" in r["error"]["message"], r)
    # None of that stored anything, and the server still serves.
    for k in ("bad:a", "bad:big", "bad:k"):
        expect(not s.ok("POST", "/demo/cache/contains", {"key": k})["found"], f"{k} was stored")
    expect(s.ok("GET", "/demo/report")["stats"]["inserts"] == before, "a refused request stored something")
    expect(s.ok("GET", "/ready")["ready"], "not ready after bad input")
    test_hostile_input(s)


def test_hostile_input(s):
    """What an independent probe of the server found: imported events that
    broke the event schema or the traces' arithmetic, waits past the
    scenario limits, error answers emptied by bytes that are not UTF-8, a
    failed step missing from its run, lengths counted in bytes."""
    def bundle(events):
        return {"format": "hcache-sandbox-bundle", "version": 1, "events": events}
    for ev, needle in (({"latency_ms": 1e300}, ".latency_ms"),
                       ({"time": "2000000000-01-01T00:00:00.000Z"}, ".time"),
                       ({"time": "2026-13-01T00:00:00.000Z"}, ".time"),
                       ({"time": 5}, ".time"), ({"tags": "no"}, ".tags"), ({"key": 7}, ".key"),
                       ({"count": "many"}, ".count")):
        ev = dict({"kind": "x", "flow_id": "bad-import"}, **ev)
        st, r = s.post("/demo/import", bundle([{"kind": "fine", "flow_id": "bad-import"}, ev]))
        expect(st == 400 and f"events[1]{needle}" in r["error"]["message"], (ev, st, r))
    expect(s.ok("GET", "/demo/events?flow_id=bad-import")["count"] == 0, "a refused bundle left events")
    s.ok("POST", "/demo/import", bundle([{"kind": "load-completed", "flow_id": "good-import",
                                          "time": "2026-01-01T00:00:01.500Z", "latency_ms": 250}]))
    t = s.ok("GET", "/demo/observability/traces/latest?flow_id=good-import")
    span = [sp for sp in t["spans"] if sp["name"] == "load-completed"]
    expect(span and span[0]["end_time_unix_nano"] == 1767225601500 * 10**6 and
           span[0]["end_time_unix_nano"] - span[0]["start_time_unix_nano"] == 250 * 10**6, t)
    # Loader delays count with the sleeps: per scenario, and over a suite.
    slow = {"name": "slow", "steps": [{"get_or_load": {"key": f"slow:{i}", "value": 1, "loader_delay_ms": 10000}}
                                      for i in range(4)]}
    st, r = s.post("/demo/scenarios/document/run", {"format": "json", "document": json.dumps(slow)})
    expect(st == 400 and "loader delays" in r["error"]["message"], (st, r))
    naps = {"name": "naps", "steps": [{"sleep": {"ms": 10000}}] * 3}
    st, r = s.post("/demo/scenarios/suite/run", {"name": "sleepy", "scenarios": [naps] * 5})
    expect(st == 400 and "120000 ms" in r["error"]["message"], (st, r))
    # Errors keep their code and message whatever bytes the path or a
    # cut message holds.
    for path, code in (("/demo/nothing/%ff", "not_found"), ("/demo/ui/%ff.js", "bad_path")):
        st, r = s.get(path)
        expect(r and r["error"].get("code") == code and "?" in r["error"].get("message", ""), (path, st, r))
    st, r = s.post("/demo/scenarios/document/parse",
                   {"format": "json", "document": json.dumps({"name": "x", "steps": [{"\u00e9" * 300: {}}]})})
    expect(st == 400 and r["error"].get("code") == "bad_scenario" and r["error"].get("message"), r)
    # A failed step whose detail is cut inside a character is still there.
    doc = {"name": "utf8-detail", "steps": [{"put": {"key": "hostile:u", "value": "\u00e9" * 400}},
                                            {"get": {"key": "hostile:u"}, "expect": {"value": "xx"}}]}
    r = s.ok("POST", "/demo/scenarios/document/run", {"format": "json", "document": json.dumps(doc)})
    expect(r["failed_steps"] == 1 and [x["index"] for x in r["steps"]] == [0, 1] and not r["steps"][1]["passed"],
           json.dumps(r)[:1500])
    # Lengths are characters: 200 two-byte characters are a name of 200.
    name = {"name": "\u00e9" * 200, "steps": [{"flush": {}}]}
    s.ok("POST", "/demo/scenarios/document/parse", {"format": "json", "document": json.dumps(name)})
    st, r = s.post("/demo/cache/contains", {"key": "\u00e9" * 1024})
    expect(st == 200, (st, r))
    st, r = s.post("/demo/cache/contains", {"key": "\u00e9" * 1025})
    expect(st == 400 and "at most 1024 characters" in r["error"]["message"], (st, r))
    # The actuator gets the path as sent: one decoding, '/' in a name.
    for path, needle in (("caches/ma%2569n/stats", "'ma%69n'"), ("caches/%25", "'%'"), ("caches/a%2Fb", "'a/b'")):
        st, r = s.get("/actuator/hydracache/" + path)
        expect(st == 404 and needle in r["error"]["message"], (path, st, r))
    # Query parameters are still decoded.
    s.ok("POST", "/demo/cache/put", {"key": "hostile: q", "value": 1, "flow_id": "hostile-q"})
    r = s.ok("GET", "/demo/events?kind=st%6Fred&key=hostile:+q&flow_id=hostile-q")
    expect(r["count"] == 1, r)


def test_token_and_settings(binary, tmp):
    env_file = os.path.join(tmp, "sandbox.env")
    with open(env_file, "w") as f:
        f.write("# a test file\nHYDRACACHE_SANDBOX_PROFILE=sqlite-memory\nHYDRACACHE_SANDBOX_TOKEN=from-file\n"
                "HYDRACACHE_SANDBOX_SQLITE_PATH=\"from-file.sqlite\"\n")
    log = os.path.join(tmp, "events.jsonl")
    s = Server(binary, ["--env-file", env_file, "--profile", "memory", "--event-log", log],
               env={"HYDRACACHE_SANDBOX_TOKEN": "from-env"}, label="token server").start()
    try:
        st, r = s.get("/ready", track=False)
        expect(st == 200 and r["token_required"] is True, "/ready needs no token, and says one is needed")
        # The pages hold no data: they load without the token.
        for path in ("/demo/ui", "/demo/ui/js/main.js", "/swagger-ui", "/swagger-ui/swagger-ui-bundle.js"):
            st, _, _ = page(s, path)
            expect(st == 200, f"{path} without the token: {st}")
        st, r, h, _ = s.call("GET", "/demo/config", track=False)
        expect(st == 401 and r["error"]["code"] == "unauthorized" and h.get("www-authenticate") == "Bearer", (st, r))
        st, r, _, _ = s.call("GET", "/demo/config", headers={"Authorization": "Bearer from-file"}, track=False)
        expect(st == 401, "the file's token lost to the environment's")
        st, r, _, _ = s.call("POST", "/demo/load/1", headers={"Authorization": "Bearer from-envX"}, track=False)
        expect(st == 401, st)
        st, r, _, _ = s.call("GET", "/demo/nowhere", track=False)
        expect(st == 401, "unknown routes need the token too")
        auth = {"Authorization": "Bearer from-env"}
        st, c, _, _ = s.call("GET", "/demo/config", headers=auth, track=False)
        expect(st == 200 and c["token"] == "set" and "from-env" not in json.dumps(c), c)
        expect(c["profile"] == "memory" and c["sources"]["profile"] == "flag", c)
        expect(c["sources"]["token"] == "environment" and c["sources"]["sqlite_path"] == "file", c)
        expect(c["sqlite_path"] == "from-file.sqlite" and c["env_file"] == env_file, c)
        st, sec, _, _ = s.call("GET", "/demo/security", headers=auth, track=False)
        expect(st == 200 and sec["token_required"], sec)
        st, r, _, _ = s.call("POST", "/demo/cache/put", body={"key": "logged", "value": 1},
                             headers=dict(auth, **{"X-Flow-Id": "logged-flow"}), track=False)
        expect(st == 200, st)
    finally:
        code = s.stop()
    expect(code == 0, f"exit {code}: {s.stderr_text()}")
    with open(log) as f:
        lines = [json.loads(x) for x in f]
    expect(any(e["kind"] == "stored" and e.get("flow_id") == "logged-flow" for e in lines), lines[-5:])
    # A mistake in the env file stops the start, naming the line.
    with open(env_file, "w") as f:
        f.write("HYDRACACHE_SANDBOX_PROFILE=memory\nHYDRACACHE_SANDBOX_COLOUR=red\n")
    p = subprocess.run([binary, "--env-file", env_file, "--bind", "127.0.0.1:0"], capture_output=True,
                       env=clean_env(), timeout=60)
    expect(p.returncode == 2 and f"{env_file}:2:" in p.stderr.decode(), p.stderr)
    p = subprocess.run([binary, "--env-file", "none", "--bind", "127.0.0.1:0", "--profile", "oracle"],
                       capture_output=True, env=clean_env(), timeout=60)
    expect(p.returncode == 1 and "unknown profile 'oracle'" in p.stderr.decode(), p.stderr)
    p = subprocess.run([binary, "--env-file", "none", "--bind", "127.0.0.1:0", "--profile", "postgres"],
                       capture_output=True, env=clean_env(), timeout=60)
    expect(p.returncode == 1 and "--database-url" in p.stderr.decode(), p.stderr)


# ----------------------------------------------------------------- pages

CSP_SELF = "default-src 'self'"
CHARTJS = "/usr/share/javascript/chart.js"


def page(s, path, method="GET", headers=None):
    """A request for one of the pages, sent as it is (no normalization of
    '..'): (status, headers, body)."""
    conn = http.client.HTTPConnection(s.host, s.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_pages(s):
    """The console and Swagger UI: files outside the route table, served
    from an allow-list with their types; names that try to leave it are
    refused before the file system is asked."""
    doc = s.ok("GET", "/openapi.json", track=False)
    expect(not [p for p in doc["paths"] if p.startswith(("/demo/ui", "/swagger-ui"))] and "/" not in doc["paths"],
           "the pages are not API routes: not in the document")
    for path in ("/demo/ui", "/demo/ui/", "/swagger-ui", "/swagger-ui/"):
        st, h, body = page(s, path)
        expect(st == 200 and h["content-type"] == "text/html; charset=utf-8" and b"<!doctype html>" in body,
               (path, st, h))
        expect(h.get("content-security-policy", "").startswith(CSP_SELF) and h.get("x-content-type-options") ==
               "nosniff" and h.get("cache-control") == "no-cache", (path, h))
    st, h, body = page(s, "/demo/ui", "HEAD")
    expect(st == 200 and body == b"" and h["content-type"].startswith("text/html"), (st, h))
    with open(os.path.join(SANDBOX_DIR, "ui", "index.html"), "rb") as f:
        index = f.read()
    expect(page(s, "/demo/ui")[2] == index, "GET /demo/ui is sandbox/ui/index.html")
    for m in re.finditer(rb'(?:src|href)="(/[^"]*)"', index):
        st, h, _ = page(s, m.group(1).decode())
        expect(st == 200, f"{m.group(1)} named by index.html: {st}")
    types = {"/demo/ui/console.css": "text/css; charset=utf-8", "/demo/ui/js/main.js": "text/javascript; charset=utf-8",
             "/demo/ui/favicon.svg": "image/svg+xml", "/demo/ui/client.js": "text/javascript; charset=utf-8",
             "/swagger-ui/init.js": "text/javascript; charset=utf-8",
             "/swagger-ui/swagger.css": "text/css; charset=utf-8",
             "/swagger-ui/swagger-ui.css": "text/css; charset=utf-8",
             "/swagger-ui/swagger-ui-bundle.js": "text/javascript; charset=utf-8"}
    if os.path.isdir(CHARTJS):
        types["/demo/ui/lib/chart.js/chart.mjs"] = "text/javascript; charset=utf-8"
        types["/demo/ui/lib/chart.js/chunks/helpers.segment.mjs"] = "text/javascript; charset=utf-8"
    for path, ty in types.items():
        st, h, body = page(s, path)
        expect(st == 200 and h["content-type"] == ty and body and "content-security-policy" not in h, (path, st, h))
        lib = "/lib/" in path or path.startswith("/swagger-ui/swagger-ui")
        expect(h.get("cache-control") == ("public, max-age=3600" if lib else "no-cache"), (path, h))
    with open(os.path.join(SANDBOX_DIR, "openapi", "client.js"), "rb") as f:
        expect(page(s, "/demo/ui/client.js")[2] == f.read(), "/demo/ui/client.js is the committed client")
    # A name that is not in the allow-list, or no such file: 404.
    for path in ("/demo/ui/nope.js", "/demo/ui/js/nope.js", "/demo/ui/index.exe", "/demo/ui/README",
                 "/swagger-ui/swagger-ui-bundle.js.map", "/swagger-ui/index.css", "/swagger-ui/nope.js",
                 "/demo/ui/lib/chart.js/nope.mjs", "/demo/ui/lib/chart.js", "/demo/ui/js"):
        st, h, body = page(s, path)
        expect(st == 404 and json.loads(body)["error"]["code"] == "not_found", (path, st, body[:200]))
    # Names that try to leave the directories: refused, whatever their
    # escapes (the server sees them unescaped), and nothing of the file.
    with open(os.path.join(SANDBOX_DIR, "sandbox.env"), "rb") as f:
        secret = f.read()
    for path in ("/demo/ui/../sandbox.env", "/demo/ui/js/../../sandbox.env", "/demo/ui/%2e%2e/sandbox.env",
                 "/demo/ui/..%2fsandbox.env", "/demo/ui/%2E%2E%2Fsandbox.env", "/demo/ui/.hidden.js",
                 "/demo/ui//etc/passwd", "/demo/ui/lib/chart.js/../../../sandbox.env", "/swagger-ui/../sandbox.env",
                 "/swagger-ui/%2e%2e/%2e%2e/sandbox.env", "/demo/ui/a%20b.js", "/demo/ui/a%5cb.js",
                 "/demo/ui/" + "a/" * 4 + "b.js", "/demo/ui/" + "x" * 300 + ".js"):
        st, h, body = page(s, path)
        expect(st == 400 and json.loads(body)["error"]["code"] == "bad_path" and secret not in body,
               (path, st, body[:200]))
    # MHD ends the unescaped path at a %00: what comes before it is the name,
    # and its type is that name's (never the .js after it).
    st, h, body = page(s, "/demo/ui/index.html%00.js")
    expect(st == 200 and body == index and h["content-type"].startswith("text/html"), (st, h))
    st, h, body = page(s, "/demo/ui/%00../sandbox.env")
    expect(st == 200 and body == index, (st, body[:100]))
    # Methods; the root sends a browser to the console.
    for method in ("POST", "PUT", "DELETE"):
        st, h, body = page(s, "/demo/ui", method)
        expect(st == 405 and h.get("allow") == "GET, HEAD", (method, st, h))
    st, h, _ = page(s, "/")
    expect(st == 303 and h.get("location") == "/demo/ui", (st, h))
    st, h, _ = page(s, "/demo/uix")
    expect(st == 404, f"/demo/uix is not a page: {st}")


def test_installed_pages(tmp):
    """make sandbox-install puts the pages and Swagger UI's files in
    share/hydracache/sandbox, and the installed server serves them from
    there."""
    prefix = os.path.join(tmp, "prefix")
    p = subprocess.run(["make", "--no-print-directory", "-s", "sandbox-install", f"PREFIX={prefix}"], cwd=ROOT,
                       capture_output=True, timeout=600, env=clean_env({"HC_NO_DEPS": "1"}))
    expect(p.returncode == 0, p.stdout + p.stderr)
    share = os.path.join(prefix, "share", "hydracache", "sandbox")
    for f in ("ui/index.html", "ui/console.css", "ui/js/main.js", "ui/swagger/index.html", "ui/swagger/init.js",
              "swagger-ui/swagger-ui.css", "swagger-ui/swagger-ui-bundle.js", "swagger-ui/LICENSE",
              "swagger-ui/NOTICE", "openapi/client.js"):
        expect(os.path.isfile(os.path.join(share, f)), f"{f} not installed")
    s = Server(os.path.join(prefix, "bin", "hcache-sandbox"), ["--profile", "memory"], label="installed server").start()
    try:
        c = s.ok("GET", "/demo/config", track=False)
        expect(os.path.realpath(c["data_dir"]) == os.path.realpath(share), c["data_dir"])
        with open(os.path.join(share, "ui", "index.html"), "rb") as f:
            expect(page(s, "/demo/ui")[2] == f.read(), "the installed index.html")
        for path in ("/swagger-ui", "/swagger-ui/swagger-ui-bundle.js", "/demo/ui/js/main.js", "/demo/ui/client.js"):
            st, h, _ = page(s, path)
            expect(st == 200, (path, st))
    finally:
        code = s.stop()
    expect(code == 0, f"exit {code}: {s.stderr_text()}")
    p = subprocess.run(["make", "--no-print-directory", "-s", "sandbox-uninstall", f"PREFIX={prefix}"], cwd=ROOT,
                       capture_output=True, timeout=300, env=clean_env({"HC_NO_DEPS": "1"}))
    expect(p.returncode == 0 and not os.path.exists(share), p.stdout + p.stderr)


# ------------------------------------------------------- database down

def test_db_down(binary, tmp):
    # As root the server runs as the postgres user, which must reach the
    # directory (scripts/pg.sh run does the same for its own).
    pgdir = tempfile.mkdtemp(prefix="hcache-sandbox-pg-")
    os.chmod(pgdir, 0o755)
    st = subprocess.run([os.path.join(ROOT, "scripts/pg.sh"), "start", pgdir], capture_output=True, timeout=300)
    expect(st.returncode == 0, st.stderr)
    conninfo = st.stdout.decode().strip()
    stopped = False
    s = Server(binary, ["--profile", "postgres", "--database-url", conninfo], label="pg-down server").start()
    try:
        r = s.ok("POST", "/demo/query/users/1/load", track=False)
        expect(r["found"], r)
        st = subprocess.run([os.path.join(ROOT, "scripts/pg.sh"), "stop", pgdir], capture_output=True, timeout=300)
        expect(st.returncode == 0, st.stderr)
        stopped = True
        for path in ("/demo/query/users/2/load", "/demo/users/2", "/demo/reset", "/demo/query/products/100/load"):
            st, r, _, _ = s.call("POST", path, body={"name": "X"} if "users/2" == path[-7:] else {}, track=False)
            expect(st == 503 and r["error"]["code"] in ("db_error", "db_unavailable") and r["error"]["message"], (path, st, r))
        st, r, _, _ = s.call("GET", "/demo/db/seed-report", track=False)
        expect(st == 503, (st, r))
        # Cached reads and everything without the database go on.
        expect(s.ok("POST", "/demo/query/users/1/load", track=False)["source"] == "cache", "cached read")
        expect(s.ok("POST", "/demo/cache/put", {"key": "still", "value": 1}, track=False)["stored"], "put")
        expect(s.ok("GET", "/ready", track=False)["ready"], "ready")
        expect(s.ok("POST", "/demo/scenarios/run", {"name": "ttl"}, track=False)["passed"], "ttl")
    finally:
        code = s.stop()
        if not stopped:
            subprocess.run([os.path.join(ROOT, "scripts/pg.sh"), "stop", pgdir], capture_output=True, timeout=300)
        shutil.rmtree(pgdir, ignore_errors=True)
    expect(code == 0, f"exit {code}: {s.stderr_text()}")


# ----------------------------------------------------------------- load

LOAD_MIX = [
    ("POST", "/demo/load/{u}", {}), ("POST", "/demo/query/products/{p}/load", {}),
    ("POST", "/demo/query/orders/5001/summary/load", {}), ("POST", "/demo/users/{u}", {"name": "N{n}"}),
    ("POST", "/demo/cache/put", {"key": "load:{n}", "value": "{n}", "ttl_ms": 500, "tags": ["load", "t{u}"]}),
    ("POST", "/demo/cache/get", {"key": "load:{n}"}),
    ("POST", "/demo/cache/get-or-load", {"key": "gol:{u}", "value": 1, "loader_delay_ms": 2}),
    ("POST", "/demo/cache/invalidate-tag", {"tag": "t{u}"}), ("POST", "/demo/cache/invalidate-key", {"key": "gol:{u}"}),
    ("POST", "/demo/functions/double/{n}", {}), ("POST", "/demo/typed/users/{u}/load", {}),
    ("GET", "/demo/events?limit=20", None), ("GET", "/demo/report", None), ("GET", "/demo/flows", None),
    ("POST", "/demo/scenarios/single-flight", {"callers": 4, "loader_delay_ms": 1}),
    ("POST", "/demo/scenarios/invalidation-race", {}), ("POST", "/demo/negative/loader-error", {}),
    ("POST", "/demo/scenarios/file/run", {"file": "raw-cache.json"}),
    ("POST", "/demo/scenarios/document/run", {"format": "yaml", "document": "name: l\nsteps:\n  - put: {key: l, value: 1}\n  - get: {key: l}\n"}),
    ("POST", "/demo/listeners/run", {}), ("POST", "/demo/benchmarks/manual", {"requests": 300, "concurrency": 2, "keys": 30}),
    ("GET", "/demo/observability/traces/latest", None), ("GET", "/openapi.json", None),
    ("POST", "/demo/cache/put", "RAW{\"key\": "), ("POST", "/demo/nope", {}), ("DELETE", "/demo/load/1", None),
    ("POST", "/demo/cache/put", {"key": 5}), ("GET", "/demo/ui", None), ("GET", "/demo/ui/console.css", None),
    ("GET", "/demo/ui/js/../../sandbox.env", None), ("GET", "/demo/ui/nope.js", None),
]


def test_load(binary, seconds=4, clients=8):
    s = Server(binary, ["--profile", "memory", "--threads", "8"], label="sanitized server").start()
    counts, errors = {}, []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i):
        rnd = random.Random(i)
        n = 0
        while time.monotonic() < deadline and n < 100000:
            n += 1
            method, path, body = rnd.choice(LOAD_MIX)
            fill = {"u": rnd.choice([1, 2, 3, 4, 5, 42, 999]), "p": rnd.choice([100, 101, 105, 7]), "n": rnd.randint(0, 50)}
            path = path.format(**fill)
            try:
                if isinstance(body, str):
                    st, _, _, _ = s.call(method, path, raw=body[3:], track=False)
                else:
                    b = json.loads(json.dumps(body).replace("{n}", str(fill["n"]))) if body is not None else None
                    st, _, _, _ = s.call(method, path, body=b if method == "POST" else None, track=False,
                                         headers={"X-Flow-Id": f"load-{i}"})
            except Exception as e:  # a dropped connection is a failure
                with lock:
                    errors.append(f"{method} {path}: {e!r}")
                continue
            with lock:
                counts[st] = counts.get(st, 0) + 1
                if st >= 500:
                    errors.append(f"{method} {path}: {st}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(s.ok("GET", "/ready", track=False)["ready"], "not ready after the load")
    finally:
        code = s.stop()
    text = s.stderr_text()
    expect(not errors, f"{len(errors)} errors, first: {errors[:5]}")
    expect(sum(counts.values()) > clients * 10, f"only {counts} requests")
    expect(code == 0 and "Sanitizer" not in text and "runtime error" not in text,
           f"exit {code}: {text[-4000:]}")
    print(f"    load: {sum(counts.values())} requests by {clients} clients in {seconds} s: {sorted(counts.items())}")


def test_bad_input_asan(binary):
    s = Server(binary, ["--profile", "memory"], label="ASan server (bad input)").start()
    try:
        test_bad_input(s)
        test_pages(s)
    finally:
        code = s.stop()
    expect(code == 0 and "Sanitizer" not in s.stderr_text(), f"exit {code}: {s.stderr_text()[-4000:]}")


# ---------------------------------------------------------------- node

def test_openapi_validator(s):
    doc = s.call("GET", "/openapi.json", track=False)[3]
    if not os.path.isdir(os.path.join(SANDBOX_DIR, "node_modules", "@apidevtools")):
        raise Failure("the validator is not installed: run scripts/sandbox-npm.sh")
    p = subprocess.run(["node", os.path.join(SANDBOX_DIR, "openapi", "validate.mjs"), "-"], input=doc,
                       capture_output=True, timeout=120)
    out = p.stdout.decode() + p.stderr.decode()
    expect(p.returncode == 0 and "valid" in out, out)
    print("    " + out.strip().splitlines()[0])


def test_client_current(binary, s):
    p = subprocess.run([binary, "--print-client"], capture_output=True, timeout=60, env=clean_env())
    with open(os.path.join(SANDBOX_DIR, "openapi", "client.js"), "rb") as f:
        committed = f.read()
    expect(p.returncode == 0 and p.stdout == committed,
           "sandbox/openapi/client.js is stale: run make sandbox-client and commit it")
    r = subprocess.run(["node", os.path.join(SANDBOX_DIR, "tests", "client_test.mjs"), s.url], capture_output=True,
                       timeout=120)
    out = r.stdout.decode() + r.stderr.decode()
    expect(r.returncode == 0, out)


# ----------------------------------------------------------------- main

def profile_run(results, binary, profile, args, tracker, pg, extra=None):
    try:
        s = Server(binary, ["--profile", profile] + args, label=f"{profile} server").start()
    except Failure as e:
        results.fail(f"{profile}: start", str(e))
        return None
    functional(results, s, profile, tracker, pg)
    if extra:
        extra(s)
    code = s.stop()
    results.run(f"{profile}: clean stop", lambda: expect(code == 0, f"exit {code}: {s.stderr_text()[-3000:]}"))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--asan-server")
    ap.add_argument("--tsan-server")
    ap.add_argument("--results")
    ap.add_argument("--load-seconds", type=float, default=4)
    ap.add_argument("--failed-step", action="append", default=[],
                    help="a step before this suite that failed (a build): counted as a failure")
    a = ap.parse_args()
    binary = os.path.abspath(a.server)
    results = Results()
    for step in a.failed_step:
        results.fail(step, "failed before the suite ran (see the output above)")
    tmp = tempfile.mkdtemp(prefix="hcache-sandbox-test-")
    pg = os.environ.get("HC_PG_CONNINFO", "")
    skip_pg = os.environ.get("HC_SKIP_PG") == "1"
    try:
        doc = json.loads(subprocess.run([binary, "--print-openapi"], capture_output=True, check=True,
                                        env=clean_env(), timeout=60).stdout)
        tracker = Tracker(doc)
        Server.tracker = tracker
        pg_args = ["--database-url", pg] if pg else []

        def memory_extra(s):
            results.run("memory: bad input", test_bad_input, s)
            results.run("openapi: the npm validator accepts the document", test_openapi_validator, s)
            results.run("openapi: the committed client is current and works", test_client_current, binary, s)
            results.run("pages: the console and Swagger UI, their types, 404, '..' refused", test_pages, s)

        # The memory server also knows the PostgreSQL URL, so that profile
        # comparisons include PostgreSQL.
        profile_run(results, binary, "memory", pg_args, tracker, bool(pg), memory_extra)
        results.run("memory: every route was called",
                    lambda: expect(not [r for r in tracker.routes if (r[0], r[1]) not in tracker.called],
                                   [f"{m} {p}" for m, p, _, _ in tracker.routes if (m, p) not in tracker.called]))
        def documented():
            with open(os.path.join(ROOT, "docs", "SANDBOX.md")) as f:
                heads = set(re.findall(r"^#### (GET|POST) (\S+)$", f.read(), re.M))
            missing = [f"{m} {p}" for m, p, _, _ in tracker.routes if (m, p) not in heads]
            expect(not missing, f"docs/SANDBOX.md has no section for {missing}")
        results.run("docs/SANDBOX.md has a section per route", documented)
        results.run("every answer matches its schema",
                    lambda: expect(not tracker.problems, tracker.problems[:10]))
        Server.tracker = None
        tracker.problems.clear()
        Server.tracker = tracker
        sqlite = os.path.join(tmp, "sandbox.sqlite")
        profile_run(results, binary, "sqlite-file", ["--sqlite-path", sqlite] + pg_args, tracker, bool(pg))
        # A second start on the same file: migrations are not run twice.
        def reopen():
            s = Server(binary, ["--profile", "sqlite-file", "--sqlite-path", sqlite], label="sqlite again").start()
            try:
                r = s.ok("GET", "/demo/db/seed-report", track=False)
                expect(r["applied_migrations"] == ["001_init.sql"] and r["rows"]["users"] == 6, r)
            finally:
                expect(s.stop() == 0, "exit")
        results.run("sqlite-file: a second start on the same file", reopen)
        pg_tests = 15
        if pg:
            profile_run(results, binary, "postgres", pg_args + ["--pg-schema", f"hcache_sandbox_test_{os.getpid()}"],
                        tracker, True)
            results.run("postgres: a database that goes down", test_db_down, binary, tmp)
        elif skip_pg:
            results.skip("postgres", "HC_SKIP_PG=1", pg_tests)
        else:
            results.fail("postgres", "no HC_PG_CONNINFO: run under scripts/pg.sh, or set HC_SKIP_PG=1 to skip")
        results.run("postgres profile answers match their schemas" if pg else "sqlite answers match their schemas",
                    lambda: expect(not tracker.problems, tracker.problems[:10]))
        Server.tracker = None
        results.run("settings precedence, the token, the event log file", test_token_and_settings, binary, tmp)
        results.run("installed: the pages and Swagger UI from share/hydracache/sandbox", test_installed_pages, tmp)
        if a.asan_server and "asan-build" not in a.failed_step:
            asan = os.path.abspath(a.asan_server)
            results.run("asan: bad input and the pages", test_bad_input_asan, asan)
            results.run(f"asan: 8 concurrent clients for {a.load_seconds:g} s", test_load, asan, a.load_seconds)
        else:
            results.skip("asan", "no --asan-server", 2)
        if a.tsan_server and "tsan-build" not in a.failed_step:
            results.run(f"tsan: 8 concurrent clients for {a.load_seconds:g} s", test_load,
                        os.path.abspath(a.tsan_server), a.load_seconds)
        else:
            results.skip("tsan", "no --tsan-server", 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"sandbox: {results.passed} passed, {results.failed} failed, {results.skipped} skipped")
    if a.results:
        os.makedirs(os.path.dirname(a.results) or ".", exist_ok=True)
        with open(a.results, "w") as f:
            f.write(f"release sandbox {results.passed} {results.failed} {results.skipped}\n")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
