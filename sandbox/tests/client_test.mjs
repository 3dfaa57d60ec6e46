// The generated JavaScript client against a running server: the golden
// path, a query, and an error, through sandbox/openapi/client.js.
//
//   node sandbox/tests/client_test.mjs URL
//
// Prints "client: N passed, N failed"; exits 1 if any failed.
import { SandboxClient, SandboxError } from "../openapi/client.js";

const sandbox = new SandboxClient(process.argv[2], { flowId: "client-test" });
let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else { failed++; console.log(`[  FAILED  ] client: ${name}: ${detail}`); }
}

try {
  await sandbox.reset();
  const first = await sandbox.loadUser(42);
  check("first load runs the loader", first.source === "loader" && first.name === "Ada", JSON.stringify(first));
  const again = await sandbox.loadUser(42);
  check("second load hits", again.source === "cache", JSON.stringify(again));
  await sandbox.updateUser(42, { name: "Grace" });
  const after = await sandbox.loadUser(42);
  check("a write invalidates", after.source === "loader" && after.name === "Grace", JSON.stringify(after));
  const order = await sandbox.queryOrderSummary(5000);
  check("order summary", order.found && order.order.items === 2, JSON.stringify(order));
  const events = await sandbox.events({ flow_id: "client-test", kind: "tag-invalidated" });
  check("events filtered by flow", events.events.length >= 1, JSON.stringify(events));
  const timeline = await sandbox.flowTimeline("client-test");
  check("timeline of the flow", timeline.events.length > 3, JSON.stringify(timeline.flow));
  try {
    await sandbox.cachePut({ value: 1 });
    check("a bad request throws", false, "no error");
  } catch (err) {
    check("a bad request throws", err instanceof SandboxError && err.status === 400, String(err));
  }
} catch (err) {
  check("the client ran", false, String(err && err.stack || err));
}
console.log(`client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
