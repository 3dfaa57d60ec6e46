#!/usr/bin/env python3
"""Write the route reference of docs/SANDBOX.md from a running server.

    python3 sandbox/tests/route_examples.py build/release/hcache-sandbox > routes.md

Starts the server on the memory profile and an ephemeral port, runs the
golden path in the flow "demo-flow" (so flow routes have something to
show), then calls every route of its OpenAPI document in order, with the
route's example, and prints each as a Markdown section: the summary, a curl
line and the answer (long lists and strings shortened). The answers are
real; the times, flow ids and latencies in them change from run to run.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_test import ROOT, Server  # noqa: E402

QUERIES = {"/demo/events": "?kind=stored&limit=2"}


def shorten(v, depth=0):
    if isinstance(v, list):
        items = [shorten(x, depth + 1) for x in v[:1]]
        if len(v) > 1:
            items.append(f"... {len(v) - 1} more")
        return items
    if isinstance(v, dict):
        keys = list(v) if depth < 1 else list(v)[:6]
        out = {k: shorten(v[k], depth + 1) for k in keys}
        if len(keys) < len(v):
            out["..."] = f"{len(v) - len(keys)} more"
        return out
    if isinstance(v, str) and len(v) > 80:
        return v[:77] + "..."
    return v


def render(v):
    """Top-level members one per line, each value on that line."""
    if not isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    lines = [f"  {json.dumps(k)}: {json.dumps(x, ensure_ascii=False)}" for k, x in v.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def main():
    s = Server(os.path.abspath(sys.argv[1]), ["--profile", "memory"], label="docs").start()
    doc = s.ok("GET", "/openapi.json", track=False)
    h = {"X-Flow-Id": "demo-flow"}
    for path, body in (("/demo/reset", {}), ("/demo/load/42", {}), ("/demo/load/42", {}),
                       ("/demo/users/42", {"name": "Grace"}), ("/demo/load/42", {})):
        s.ok("POST", path, body, headers=h, track=False)
    group = None
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op["tags"][0] != group:
                group = op["tags"][0]
                out.append(f"\n### {group}\n")
            example_path = path.replace("{id}", "42").replace("{input}", "21").replace("{flow_id}", "demo-flow")
            example_path = example_path.replace("{name}", "main")
            if "products" in path:
                example_path = example_path.replace("42", "100")
            if "orders" in path:
                example_path = example_path.replace("42", "5000")
            example_path += QUERIES.get(path, "")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            if path == "/demo/flows/{flow_id}/replay":
                headers = {"X-Flow-Id": "demo-replay"}
            else:
                headers = {}
            raw = b""
            if method == "get":
                status, answer, _, raw = s.call("GET", example_path, headers=headers, track=False)
                curl = f"curl -s 'localhost:3000{example_path}'"
            else:
                status, answer, _, _ = s.call("POST", example_path, body=body if body is not None else {},
                                              headers=headers, track=False)
                data = json.dumps(body) if body else ""
                curl = f"curl -s -X POST localhost:3000{example_path}" + (f" -d '{data}'" if data else "")
                if headers:
                    curl += f" -H 'X-Flow-Id: {headers['X-Flow-Id']}'"
            out.append(f"#### {method.upper()} {path}\n\n{op['summary']}.\n")
            out.append(f"```sh\n{curl}\n```\n")
            if answer is None and raw:
                lines = raw.decode(errors="replace").splitlines()
                text = "\n".join(lines[:8] + ([f"... {len(lines) - 8} more lines"] if len(lines) > 8 else []))
                out.append(f"```text\n{text}\n```\n")
                continue
            text = render(shorten(answer)).replace(ROOT + "/", "")
            out.append(f"```json\n{text}\n```\n" if status == 200 else f"`{status}`:\n```json\n{text}\n```\n")
    s.stop()
    print("\n".join(out))


if __name__ == "__main__":
    main()
