/*
** api.h -- the route handlers, for the route table.
*/
#ifndef SANDBOX_API_H
#define SANDBOX_API_H

#include "sandbox.h"

/* api_core.c: basics, events, export and import, flows, security */
void sb_api_started(void);      /* the start of the uptime */
int sb_h_ready(sb_req *rq);
int sb_h_config(sb_req *rq);
int sb_h_presets(sb_req *rq);
int sb_h_report(sb_req *rq);
int sb_h_events(sb_req *rq);
int sb_h_events_clear(sb_req *rq);
int sb_h_export(sb_req *rq);
int sb_h_import(sb_req *rq);
int sb_h_self_test(sb_req *rq);
int sb_h_op(sb_req *rq);
int sb_h_seed_report(sb_req *rq);
int sb_h_flows(sb_req *rq);
int sb_h_flow_timeline(sb_req *rq);
int sb_h_flow_replay(sb_req *rq);
int sb_h_security(sb_req *rq);
int sb_h_traces(sb_req *rq);
int sb_h_prometheus(sb_req *rq);
int sb_h_actuator(sb_req *rq);

/* api_lab.c: scenarios, suites, documents, replays, profiles */
int sb_h_behave(sb_req *rq);
int sb_h_negative(sb_req *rq);
int sb_h_scenario_run(sb_req *rq);
int sb_h_scenario_files(sb_req *rq);
int sb_h_scenario_file_run(sb_req *rq);
int sb_h_suite_run(sb_req *rq);
int sb_h_suite_file_run(sb_req *rq);
int sb_h_document_parse(sb_req *rq);
int sb_h_document_run(sb_req *rq);
int sb_h_replay(sb_req *rq);
int sb_h_profiles_compare(sb_req *rq);

/* api_tools.c: faults, benchmarks, listeners, the bus, OpenAPI */
int sb_h_faults(sb_req *rq);
int sb_h_bench(sb_req *rq);
int sb_h_bench_compare(sb_req *rq);
int sb_h_listeners(sb_req *rq);
int sb_h_distributed(sb_req *rq);
int sb_h_openapi(sb_req *rq);
int sb_h_client_check(sb_req *rq);
int sb_h_client_smoke(sb_req *rq);

#endif /* SANDBOX_API_H */
