/*
** routes.c -- the route table: every route the server answers, and all
** that its OpenAPI document says about it.
**
** The server routes from this table and nothing else, and openapi.c makes
** the document from it, so a route cannot exist undocumented. Schemas are
** written in the notation of schema.c; @Name refers to a component below.
** A route with .op runs that operation of ops.c, and the operation's
** arguments are its body, so the scenario step and the route take the
** same thing.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define BASICS   "Basics"
#define RAW      "Raw cache"
#define GOLDEN   "Golden path"
#define QUERIES  "Database queries"
#define BEHAVE   "Behaviour scenarios"
#define LAB      "Scenario lab"
#define FLOWS    "Flows"
#define TOOLS    "Lab tools"
#define OBSERVE  "Observability"
#define ACTUATOR "Actuator"
#define OPENAPI  "OpenAPI"

#define NAMED "\"golden-path\"|\"ttl\"|\"single-flight\"|\"invalidation-race\"|\"negative-suite\"|\"self-test\""
#define DOC   "{format: \"yaml\"|\"json\", document: string(1..1048576)}"

const sb_route sb_routes[] = {
    /* -------------------------------------------------------------- basics */
    {.method = "GET", .path = "/ready", .op_id = "ready", .group = BASICS,
     .summary = "Whether the server is set up and serving, and whether the other routes need a token (needs none)",
     .handler = sb_h_ready,
     .response = "{ready: boolean, profile: string, version: string, token_required: boolean, ...}",
     .flags = SB_ROUTE_OPEN | SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/config", .op_id = "config", .group = BASICS,
     .summary = "The settings in force and where each came from (the token is never shown)",
     .handler = sb_h_config, .response = "@Config", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/presets", .op_id = "presets", .group = BASICS,
     .summary = "Profiles, named scenarios, committed recipes and benchmark presets to start from",
     .handler = sb_h_presets,
     .response = "{profiles: [object], scenarios: [string], negative: [string], operations: [object], "
                 "benchmarks: [object], ...}",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/report", .op_id = "report", .group = BASICS,
     .summary = "Profile, backend, loader and function counters, events, capabilities, diagnostics, latencies",
     .handler = sb_h_report, .response = "@Report", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/events", .op_id = "events", .group = BASICS,
     .summary = "The retained events, oldest first, filtered by kind, key, tag and flow_id; limit keeps the newest",
     .handler = sb_h_events,
     .query = "{kind?: string(..64), key?: string(..1024), tag?: string(..256), flow_id?: string(..64), "
              "limit?: integer(1..100000)}",
     .response = "{events: [@Event], count: integer, log: object}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "POST", .path = "/demo/events/clear", .op_id = "eventsClear", .group = BASICS,
     .summary = "Drop the retained events (the event log file keeps them)",
     .handler = sb_h_events_clear, .request = "{}", .response = "{cleared: integer, flow_id: string}",
     .flags = SB_ROUTE_NO_REPLAY, .example = "{}"},
    {.method = "GET", .path = "/demo/export", .op_id = "exportBundle", .group = BASICS,
     .summary = "A portable bundle: info, readiness, config, report and the retained events",
     .handler = sb_h_export, .response = "@Bundle", .flags = SB_ROUTE_NO_FLOW},
    {.method = "POST", .path = "/demo/import", .op_id = "importBundle", .group = BASICS,
     .summary = "Load a bundle's events into the log (marked imported) so their flows can be browsed",
     .handler = sb_h_import,
     .request = "{format: \"hcache-sandbox-bundle\", version: integer(1..1), events: [object](..100000), ...}",
     .response = "{imported: integer, flows: [string], source: object, flow_id: string}",
     .flags = SB_ROUTE_NO_REPLAY,
     .example = "{\"format\": \"hcache-sandbox-bundle\", \"version\": 1, \"events\": [{\"kind\": \"stored\", "
                "\"source\": \"cache\", \"key\": \"greeting\", \"flow_id\": \"imported-demo\"}]}"},
    {.method = "POST", .path = "/demo/reset", .op_id = "reset", .group = BASICS,
     .summary = "Put the rows back as seeded, flush the cache, zero the counters",
     .handler = sb_h_op, .op = "reset", .response = "@OpResult", .example = "{}"},
    {.method = "POST", .path = "/demo/self-test", .op_id = "selfTest", .group = BASICS,
     .summary = "Run the built-in smoke scenario: step results and the events of its flow",
     .handler = sb_h_self_test, .request = "{}", .response = "@ScenarioRun", .example = "{}"},

    /* ----------------------------------------------------------- raw cache */
    {.method = "POST", .path = "/demo/cache/put", .op_id = "cachePut", .group = RAW,
     .summary = "Store a value (any JSON) with an optional TTL and tags", .handler = sb_h_op, .op = "put",
     .response = "@OpResult",
     .example = "{\"key\": \"greeting\", \"value\": \"hello\", \"ttl_ms\": 60000, \"tags\": [\"demo\"]}"},
    {.method = "POST", .path = "/demo/cache/get", .op_id = "cacheGet", .group = RAW,
     .summary = "Read a key", .handler = sb_h_op, .op = "get", .response = "@OpResult",
     .example = "{\"key\": \"greeting\"}"},
    {.method = "POST", .path = "/demo/cache/get-or-load", .op_id = "cacheGetOrLoad", .group = RAW,
     .summary = "Read a key, loading the given value on a miss; the loader may be slowed down or made to fail",
     .handler = sb_h_op, .op = "get_or_load", .response = "@OpResult",
     .example = "{\"key\": \"report:today\", \"value\": {\"total\": 3}, \"ttl_ms\": 60000, \"tags\": [\"reports\"]}"},
    {.method = "POST", .path = "/demo/cache/contains", .op_id = "cacheContains", .group = RAW,
     .summary = "Whether a key is cached (not counted as a hit or a miss)", .handler = sb_h_op,
     .op = "contains", .response = "@OpResult", .example = "{\"key\": \"greeting\"}"},
    {.method = "POST", .path = "/demo/cache/remove", .op_id = "cacheRemove", .group = RAW,
     .summary = "Remove a key", .handler = sb_h_op, .op = "remove", .response = "@OpResult",
     .example = "{\"key\": \"greeting\"}"},
    {.method = "POST", .path = "/demo/cache/invalidate-key", .op_id = "cacheInvalidateKey", .group = RAW,
     .summary = "Invalidate a key (and any load of it in flight)", .handler = sb_h_op,
     .op = "invalidate_key", .response = "@OpResult", .example = "{\"key\": \"greeting\"}"},
    {.method = "POST", .path = "/demo/cache/invalidate-tag", .op_id = "cacheInvalidateTag", .group = RAW,
     .summary = "Invalidate every entry carrying a tag", .handler = sb_h_op, .op = "invalidate_tag",
     .response = "@OpResult", .example = "{\"tag\": \"demo\"}"},
    {.method = "POST", .path = "/demo/cache/flush", .op_id = "cacheFlush", .group = RAW,
     .summary = "Remove every entry", .handler = sb_h_op, .op = "flush", .response = "@OpResult",
     .example = "{}"},

    /* --------------------------------------------------------- golden path */
    {.method = "POST", .path = "/demo/load/{id}", .op_id = "loadUser", .group = GOLDEN,
     .summary = "Read a user through the cache: source is loader the first time, then cache",
     .handler = sb_h_op, .op = "load_user", .response = "@EntityResult", .example_path = "/demo/load/42",
     .example = "{}"},
    {.method = "POST", .path = "/demo/users/{id}", .op_id = "updateUser", .group = GOLDEN,
     .summary = "Rename a user: the write invalidates user:{id} and users", .handler = sb_h_op,
     .op = "update_user", .response = "@OpResult", .example_path = "/demo/users/42",
     .example = "{\"name\": \"Grace\"}"},
    {.method = "POST", .path = "/demo/invalidate/user/{id}", .op_id = "invalidateUser", .group = GOLDEN,
     .summary = "Invalidate tag user:{id}", .handler = sb_h_op, .op = "invalidate_user",
     .response = "@OpResult", .example_path = "/demo/invalidate/user/42", .example = "{}"},

    /* ---------------------------------------------------- database queries */
    {.method = "POST", .path = "/demo/query/users/{id}/load", .op_id = "queryUser", .group = QUERIES,
     .summary = "The generated cached query user_by_id on the profile's database (memory: the store)",
     .handler = sb_h_op, .op = "query_user", .response = "@EntityResult",
     .example_path = "/demo/query/users/42/load", .example = "{}"},
    {.method = "POST", .path = "/demo/query/products/{id}/load", .op_id = "queryProduct", .group = QUERIES,
     .summary = "The generated cached query product_by_id", .handler = sb_h_op, .op = "query_product",
     .response = "@EntityResult", .example_path = "/demo/query/products/100/load", .example = "{}"},
    {.method = "POST", .path = "/demo/query/orders/{id}/summary/load", .op_id = "queryOrderSummary",
     .group = QUERIES, .summary = "The generated cached query order_summary_by_id (a join)",
     .handler = sb_h_op, .op = "query_order_summary", .response = "@EntityResult",
     .example_path = "/demo/query/orders/5000/summary/load", .example = "{}"},
    {.method = "POST", .path = "/demo/typed/users/{id}/load", .op_id = "typedUser", .group = QUERIES,
     .summary = "The typed view: sandbox_user_get, else load and sandbox_user_put", .handler = sb_h_op,
     .op = "typed_load_user", .response = "@EntityResult", .example_path = "/demo/typed/users/42/load",
     .example = "{}"},
    {.method = "POST", .path = "/demo/functions/double/{input}", .op_id = "functionDouble", .group = QUERIES,
     .summary = "The cached function double: computed once per input", .handler = sb_h_op,
     .op = "call_function", .response = "@OpResult", .example_path = "/demo/functions/double/21",
     .example = "{}"},
    {.method = "GET", .path = "/demo/db/seed-report", .op_id = "seedReport", .group = QUERIES,
     .summary = "Row counts, the migrations applied, the migration and seed files",
     .handler = sb_h_seed_report,
     .response = "{profile: string, backend: string, rows: object, applied_migrations: [string], "
                 "migrations: [object], seeds: [object], ...}",
     .flags = SB_ROUTE_NO_FLOW},

    /* ------------------------------------------------- behaviour scenarios */
    {.method = "POST", .path = "/demo/scenarios/ttl", .op_id = "scenarioTtl", .group = BEHAVE,
     .summary = "Put with a TTL, read before and after it passes", .handler = sb_h_behave,
     .request = "{ttl_ms?: integer(10..5000)}", .response = "@BehaviourRun", .example = "{\"ttl_ms\": 200}"},
    {.method = "POST", .path = "/demo/scenarios/single-flight", .op_id = "scenarioSingleFlight",
     .group = BEHAVE, .summary = "N concurrent callers of one missing key: one loader call, the others join",
     .handler = sb_h_behave, .request = "{callers?: integer(2..64), loader_delay_ms?: integer(0..2000)}",
     .response = "@BehaviourRun", .example = "{\"callers\": 8, \"loader_delay_ms\": 20}"},
    {.method = "POST", .path = "/demo/scenarios/invalidation-race", .op_id = "scenarioInvalidationRace",
     .group = BEHAVE, .summary = "A load raced by an invalidation of its tag: returned, not stored",
     .handler = sb_h_behave, .request = "{}", .response = "@BehaviourRun", .example = "{}"},
    {.method = "POST", .path = "/demo/negative/missing-key", .op_id = "negativeMissingKey", .group = BEHAVE,
     .summary = "Read a key never stored", .handler = sb_h_negative, .request = "{}",
     .response = "@NegativeRun", .example = "{}"},
    {.method = "POST", .path = "/demo/negative/missing-user", .op_id = "negativeMissingUser", .group = BEHAVE,
     .summary = "Load a user that does not exist: the absence is cached", .handler = sb_h_negative,
     .request = "{}", .response = "@NegativeRun", .example = "{}"},
    {.method = "POST", .path = "/demo/negative/loader-error", .op_id = "negativeLoaderError", .group = BEHAVE,
     .summary = "A loader that fails: the error reaches the caller, nothing is stored", .handler = sb_h_negative,
     .request = "{}", .response = "@NegativeRun", .example = "{}"},
    {.method = "POST", .path = "/demo/negative/expired-entry", .op_id = "negativeExpiredEntry",
     .group = BEHAVE, .summary = "Read an entry after its TTL: gone", .handler = sb_h_negative,
     .request = "{}", .response = "@NegativeRun", .example = "{}"},
    {.method = "POST", .path = "/demo/negative/invalidation-miss", .op_id = "negativeInvalidationMiss",
     .group = BEHAVE, .summary = "Invalidate a key that is not cached: nothing to remove",
     .handler = sb_h_negative, .request = "{}", .response = "@NegativeRun", .example = "{}"},

    /* -------------------------------------------------------- scenario lab */
    {.method = "POST", .path = "/demo/scenarios/run", .op_id = "scenarioRun", .group = LAB,
     .summary = "Run a named scenario", .handler = sb_h_scenario_run,
     .request = "{name: " NAMED "}", .response = "@Run", .example = "{\"name\": \"golden-path\"}"},
    {.method = "GET", .path = "/demo/scenarios/files", .op_id = "scenarioFiles", .group = LAB,
     .summary = "The committed recipes and suites", .handler = sb_h_scenario_files,
     .response = "{directory: string, files: [{file: string, format: string, kind: string, name: string, ...}]}",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "POST", .path = "/demo/scenarios/file/run", .op_id = "scenarioFileRun", .group = LAB,
     .summary = "Run one committed recipe", .handler = sb_h_scenario_file_run,
     .request = "{file: string(1..255)}", .response = "@ScenarioRun",
     .example = "{\"file\": \"golden-path.yaml\"}"},
    {.method = "POST", .path = "/demo/scenarios/suite/run", .op_id = "suiteRun", .group = LAB,
     .summary = "Run an inline suite: scenarios, committed files and named scenarios", .handler = sb_h_suite_run,
     .request = "{name?: string(..200), description?: string, scenarios: [object](1..50)}",
     .response = "@SuiteRun",
     .example = "{\"name\": \"inline\", \"scenarios\": [{\"named\": \"ttl\"}, {\"file\": \"golden-path.json\"}]}"},
    {.method = "POST", .path = "/demo/scenarios/suite/file/run", .op_id = "suiteFileRun", .group = LAB,
     .summary = "Run a committed suite", .handler = sb_h_suite_file_run, .request = "{file: string(1..255)}",
     .response = "@SuiteRun", .example = "{\"file\": \"regression-suite.json\"}"},
    {.method = "POST", .path = "/demo/scenarios/document/parse", .op_id = "documentParse", .group = LAB,
     .summary = "YAML or JSON scenario text to its normalized JSON (errors name the line and column)",
     .handler = sb_h_document_parse, .request = DOC,
     .response = "{format: string, kind: string, document: object, flow_id: string}",
     .example = "{\"format\": \"yaml\", \"document\": \"name: quick\\nsteps:\\n  - put: {key: k, value: v}\\n"
                "  - get: {key: k}\\n    expect: {found: true, value: v}\\n\"}"},
    {.method = "POST", .path = "/demo/scenarios/document/run", .op_id = "documentRun", .group = LAB,
     .summary = "Run a YAML or JSON scenario (or suite) text", .handler = sb_h_document_run, .request = DOC,
     .response = "@Run",
     .example = "{\"format\": \"json\", \"document\": \"{\\\"name\\\": \\\"quick\\\", \\\"steps\\\": "
                "[{\\\"put\\\": {\\\"key\\\": \\\"k\\\", \\\"value\\\": 1}}, {\\\"get\\\": {\\\"key\\\": "
                "\\\"k\\\"}, \\\"expect\\\": {\\\"value\\\": 1}}]}\"}"},

    /* ---------------------------------------------------------------- flows */
    {.method = "GET", .path = "/demo/flows", .op_id = "flows", .group = FLOWS,
     .summary = "The flows retained, most recently active first", .handler = sb_h_flows,
     .response = "{flows: [{flow_id: string, first_seen: string, last_seen: string, events: integer, "
                 "requests: integer, ...}]}",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/flows/{flow_id}/timeline", .op_id = "flowTimeline", .group = FLOWS,
     .summary = "A flow's events in order, with their latency summary", .handler = sb_h_flow_timeline,
     .response = "{flow: object, events: [@Event], latency: @Latency}", .example_path = "/demo/flows/demo-flow/timeline",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "POST", .path = "/demo/flows/{flow_id}/replay", .op_id = "flowReplay", .group = FLOWS,
     .summary = "Run a flow's recorded requests again, in a new flow linked to it", .handler = sb_h_flow_replay,
     .request = "{}", .response = "{flow_id: string, replay_of: string, requests: [object], passed: boolean}",
     .example_path = "/demo/flows/demo-flow/replay", .example = "{}",
     .flags = SB_ROUTE_NO_REPLAY | SB_ROUTE_NO_FLOW},
    {.method = "POST", .path = "/demo/replay", .op_id = "replayScenario", .group = FLOWS,
     .summary = "Run a named scenario again, linked to an earlier flow", .handler = sb_h_replay,
     .request = "{scenario: " NAMED ", replay_of?: string(1..64)}", .response = "@Run",
     .example = "{\"scenario\": \"golden-path\", \"replay_of\": \"demo-flow\"}", .flags = SB_ROUTE_NO_REPLAY},

    /* ------------------------------------------------------------ lab tools */
    {.method = "POST", .path = "/demo/profiles/compare", .op_id = "profilesCompare", .group = TOOLS,
     .summary = "Run one recipe on memory, sqlite-memory, sqlite-file and postgres (when configured)",
     .handler = sb_h_profiles_compare,
     .request = "{scenario?: " NAMED ", file?: string(1..255), format?: \"yaml\"|\"json\", "
                "document?: string(1..1048576)}",
     .response = "{recipe: string, passed: boolean, profiles: [{profile: string, skipped: boolean, ...}]}",
     .example = "{\"scenario\": \"golden-path\"}"},
    {.method = "POST", .path = "/demo/faults/run", .op_id = "faultsRun", .group = TOOLS,
     .summary = "Loader errors, loader delays, invalidation timing and, on postgres, a killed connection",
     .handler = sb_h_faults,
     .request = "{faults?: [\"loader-error\"|\"loader-delay\"|\"invalidation-timing\"|\"killed-connection\"](1..4), "
                "loader_delay_ms?: integer(1..2000)}",
     .response = "{passed: boolean, faults: [{fault: string, passed: boolean, skipped: boolean, detail: string, ...}]}",
     .example = "{\"faults\": [\"loader-error\", \"loader-delay\", \"invalidation-timing\"]}"},
    {.method = "POST", .path = "/demo/benchmarks/manual", .op_id = "benchmarkManual", .group = TOOLS,
     .summary = "A read-through workload on a private cache: throughput, loader calls, hit ratio, latencies",
     .handler = sb_h_bench, .request = SB_BENCH_REQUEST, .response = "@BenchResult",
     .example = "{\"requests\": 2000, \"concurrency\": 4, \"keys\": 100, \"distribution\": \"zipf\", "
                "\"loader_delay_ms\": 1}"},
    {.method = "POST", .path = "/demo/benchmarks/compare", .op_id = "benchmarkCompare", .group = TOOLS,
     .summary = "Baseline against candidate (settings to run, or earlier results): deltas and a verdict",
     .handler = sb_h_bench_compare, .request = "{baseline: object, candidate: object}",
     .response = "{verdict: \"candidate-better\"|\"candidate-worse\"|\"mixed\", baseline: object, "
                 "candidate: object, deltas: object, ...}",
     .example = "{\"baseline\": {\"requests\": 1000, \"keys\": 500, \"distribution\": \"uniform\"}, "
                "\"candidate\": {\"requests\": 1000, \"keys\": 500, \"distribution\": \"zipf\"}}"},
    {.method = "POST", .path = "/demo/listeners/run", .op_id = "listenersRun", .group = TOOLS,
     .summary = "The events one flow produced, as a subscription and as a listener received them",
     .handler = sb_h_listeners, .request = "{}",
     .response = "{passed: boolean, subscription: [object], listener: [object], operations: [string], ...}",
     .example = "{}"},
    {.method = "POST", .path = "/demo/distributed/invalidation/run", .op_id = "distributedRun", .group = TOOLS,
     .summary = "Two caches on the in-process bus (and, on postgres, over PostgreSQL): tag, key, flush propagate",
     .handler = sb_h_distributed, .request = "{}",
     .response = "{passed: boolean, transports: [{transport: string, passed: boolean, skipped: boolean, checks?: [object], ...}]}",
     .example = "{}"},

    /* -------------------------------------------------------- observability */
    {.method = "GET", .path = "/demo/observability/traces/latest", .op_id = "tracesLatest", .group = OBSERVE,
     .summary = "An OpenTelemetry-style span view of the latest flow (or of flow_id), from the event log",
     .handler = sb_h_traces, .query = "{flow_id?: string(1..64)}",
     .response = "{trace_id: string, flow_id: string|null, spans: [object]}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/security", .op_id = "security", .group = OBSERVE,
     .summary = "Whether a token is required, and the bind address", .handler = sb_h_security,
     .response = "{token_required: boolean, bind: string, loopback: boolean, max_body_bytes: integer, ...}",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/observability/prometheus", .op_id = "prometheus", .group = OBSERVE,
     .summary = "The main cache's counters, gauges and per-declaration metrics in Prometheus text format 0.0.4",
     .handler = sb_h_prometheus, .response = "string", .produces = "text/plain; version=0.0.4",
     .flags = SB_ROUTE_NO_FLOW},

    /* ------------------------------------------ actuator (read-only) */
    {.method = "GET", .path = "/actuator/hydracache", .op_id = "actuatorIndex", .group = ACTUATOR,
     .summary = "The actuator's index: links to its routes", .handler = sb_h_actuator,
     .response = "{_links: object}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/actuator/hydracache/health", .op_id = "actuatorHealth", .group = ACTUATOR,
     .summary = "UP, or DOWN (503) with the reasons, e.g. a bus that lost its connection",
     .handler = sb_h_actuator, .response = "{status: string, reasons?: [object]}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/actuator/hydracache/caches", .op_id = "actuatorCaches", .group = ACTUATOR,
     .summary = "Every registered cache: name, stats, diagnostics, declarations", .handler = sb_h_actuator,
     .response = "{caches: [object], ...}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/actuator/hydracache/caches/{name}", .op_id = "actuatorCache", .group = ACTUATOR,
     .summary = "One cache, by name", .handler = sb_h_actuator,
     .response = "{name: string, stats: object, diagnostics: object, ...}", .flags = SB_ROUTE_NO_FLOW,
     .example_path = "/actuator/hydracache/caches/main"},
    {.method = "GET", .path = "/actuator/hydracache/caches/{name}/stats", .op_id = "actuatorStats",
     .group = ACTUATOR, .summary = "One cache's counters, hit ratio and has_* helpers", .handler = sb_h_actuator,
     .response = "{hits: integer, misses: integer, total_requests: integer, ...}", .flags = SB_ROUTE_NO_FLOW,
     .example_path = "/actuator/hydracache/caches/main/stats"},
    {.method = "GET", .path = "/actuator/hydracache/caches/{name}/diagnostics", .op_id = "actuatorDiagnostics",
     .group = ACTUATOR, .summary = "One cache's shape: entries, bytes, tags, loads in flight, bounds",
     .handler = sb_h_actuator, .response = "{entries: integer, weighted_bytes: integer, ...}",
     .flags = SB_ROUTE_NO_FLOW, .example_path = "/actuator/hydracache/caches/main/diagnostics"},
    {.method = "GET", .path = "/actuator/hydracache/caches/{name}/declarations", .op_id = "actuatorDeclarations",
     .group = ACTUATOR, .summary = "One cache's per-declaration counters and load latency quantiles",
     .handler = sb_h_actuator, .response = "{name: string, declarations: [object], ...}",
     .flags = SB_ROUTE_NO_FLOW, .example_path = "/actuator/hydracache/caches/main/declarations"},

    /* -------------------------------------------------------------- openapi */
    {.method = "GET", .path = "/openapi.json", .op_id = "openapi", .group = OPENAPI,
     .summary = "This document, made from the server's route table", .handler = sb_h_openapi,
     .response = "{openapi: string, info: object, paths: object, ...}", .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/openapi/client-check", .op_id = "openapiClientCheck", .group = OPENAPI,
     .summary = "Every route of the table is in the document, with its parameters",
     .handler = sb_h_client_check,
     .response = "{passed: boolean, routes: integer, documented: integer, missing: [string]}",
     .flags = SB_ROUTE_NO_FLOW},
    {.method = "GET", .path = "/demo/openapi/client-smoke", .op_id = "openapiClientSmoke", .group = OPENAPI,
     .summary = "The committed JavaScript client has a method per route and matches the document",
     .handler = sb_h_client_smoke,
     .response = "{passed: boolean, file: string, methods: integer, missing: [string], up_to_date: boolean}",
     .flags = SB_ROUTE_NO_FLOW},
};

const size_t sb_nroutes = sizeof sb_routes / sizeof sb_routes[0];

/* ------------------------------------------------------------ components */

const sb_component sb_components[] = {
    {"Error", "{error: {status: integer, code: string, message: string, line?: integer, column?: integer}}"},
    {"Event", "{seq: integer, time: string, kind: string, source: \"cache\"|\"sandbox\", flow_id?: string, "
              "key?: string, origin?: string, tags?: [string], count?: integer, cache_seq?: integer, ...}"},
    {"Latency", "{count: integer, min_ms?: number, max_ms?: number, mean_ms?: number, p50_ms?: number, "
                "p95_ms?: number, p99_ms?: number, ...}"},
    {"OpResult", "{flow_id: string, latency_ms: number, found?: boolean, key?: string, value?: any, "
                 "source?: \"loader\"|\"cache\"|\"single-flight\"|\"function\", "
                 "error?: {code: string, message: string}, ...}"},
    {"EntityResult", "{flow_id: string, latency_ms: number, found: boolean, key: string, profile: string, "
                     "source: \"loader\"|\"cache\"|\"single-flight\", name?: string, user?: @User, "
                     "product?: @Product, order?: @OrderSummary, ...}"},
    {"User", "{id: integer, name: string, email: string|null, team: string}"},
    {"Product", "{id: integer, name: string, category: string, price: number, stock: integer}"},
    {"OrderSummary", "{id: integer, user_id: integer, user_name: string, status: string, items: integer, "
                     "total: number}"},
    {"StepResult", "{index: integer, verb: string, passed: boolean, detail: string, latency_ms: number, "
                   "result?: object, expect?: object}"},
    {"ScenarioRun", "{name: string, passed: boolean, flow_id: string, steps: [@StepResult], "
                    "passed_steps: integer, failed_steps: integer, asserts: [object], timeline: object, "
                    "latency: @Latency, events: [@Event], ...}"},
    {"BehaviourRun", "{name: string, passed: boolean, flow_id: string, detail: string, ...}"},
    {"NegativeRun", "{name: string, expected_failure: boolean, detail: string, flow_id: string, ...}"},
    {"Run", "{name: string, passed: boolean, flow_id: string, ...}"},
    {"SuiteRun", "{name: string, passed: boolean, passed_count: integer, failed_count: integer, flow_id: string, "
                 "scenarios: [@Run]}"},
    {"Config", "{profile: string, bind: string, sqlite_path: string, database_url: string|null, "
               "event_log_path: string|null, token: \"set\"|\"unset\", data_dir: string, env_file: string|null, "
               "sources: object, ...}"},
    {"Report", "{profile: string, backend: string, uptime_s: number, stats: object, hit_ratio: number|null, "
               "loaders: object, functions: object, events: object, capabilities: [string], "
               "diagnostics: object, latency: object, ...}"},
    {"Bundle", "{format: \"hcache-sandbox-bundle\", version: integer, info: object, ready: object, "
               "config: @Config, report: @Report, events: [@Event]}"},
    {"BenchResult", "{requests: integer, concurrency: integer, keys: integer, distribution: string, "
                    "loader_delay_ms: integer, elapsed_ms: number, throughput_rps: number, loader_calls: integer, "
                    "hits: integer, misses: integer, hit_ratio: number, latency: @Latency, ...}"},
    {NULL, NULL},
};

/* --------------------------------------------------------------- schemas */

static sb_route_schemas *parsed;

static json_t *param_integer, *param_string;

json_t *sb_path_param_schema(const char *name)
{
    return strcmp(name, "id") == 0 || strcmp(name, "input") == 0 ? param_integer : param_string;
}

int sb_routes_init(sb_err *e)
{
    if (!sb_schema_components(e)) return -1;
    param_integer = sb_schema_parse("integer", false, e);
    param_string = sb_schema_parse("string(1..64)", false, e);
    parsed = calloc(sb_nroutes, sizeof *parsed);
    if (!parsed) return sb_fail(e, 500, "internal", "out of memory");
    for (size_t i = 0; i < sb_nroutes; i++) {
        const sb_route *r = &sb_routes[i];
        const char *req = r->request;
        if (r->op) {
            const sb_op *op = sb_op_find(r->op);
            if (!op) return sb_fail(e, 500, "internal", "route %s %s: no operation '%s'", r->method, r->path, r->op);
            req = op->args;
        }
        if (r->query && !(parsed[i].query = sb_schema_parse(r->query, true, e))) goto bad;
        if (req && !(parsed[i].request = sb_schema_parse(req, true, e))) goto bad;
        if (!(parsed[i].response = sb_schema_parse(r->response, false, e))) goto bad;
        /* A path parameter is not also a body member: the path gives it. */
        json_t *props = json_object_get(parsed[i].request, "properties");
        json_t *required = json_object_get(parsed[i].request, "required");
        for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
            char name[32];
            const char *end = strchr(p, '}');
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
            json_object_del(props, name);
            for (size_t j = 0; j < json_array_size(required); j++)
                if (strcmp(json_string_value(json_array_get(required, j)), name) == 0)
                    json_array_remove(required, j--);
        }
        if (required && json_array_size(required) == 0) json_object_del(parsed[i].request, "required");
        if (props && json_object_size(props) == 0) json_object_del(parsed[i].request, "properties");
        /* Every body may name its flow. */
        if (parsed[i].request && json_is_false(json_object_get(parsed[i].request, "additionalProperties"))) {
            json_t *pr = json_object_get(parsed[i].request, "properties");
            if (!pr) json_object_set_new(parsed[i].request, "properties", pr = json_object());
            json_object_set_new(pr, "flow_id", json_pack("{s:s, s:i, s:i, s:s}", "type", "string", "minLength", 1,
                                                         "maxLength", 64, "description",
                                                         "the flow this request belongs to"));
        }
        continue;
    bad:
        snprintf(e->message + strlen(e->message), sizeof e->message - strlen(e->message), " (route %s %s)",
                 r->method, r->path);
        return -1;
    }
    return 0;
}

void sb_routes_free(void)
{
    for (size_t i = 0; parsed && i < sb_nroutes; i++) {
        json_decref(parsed[i].query);
        json_decref(parsed[i].request);
        json_decref(parsed[i].response);
    }
    free(parsed);
    parsed = NULL;
    json_decref(param_integer);
    json_decref(param_string);
    param_integer = param_string = NULL;
}

const sb_route_schemas *sb_route_schemas_get(size_t i)
{
    return &parsed[i];
}
