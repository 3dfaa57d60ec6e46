// Validate an OpenAPI document with @apidevtools/swagger-parser (the
// OpenAPI 3.0 schema, $refs, path parameters, unique operation ids).
//
//   node sandbox/openapi/validate.mjs FILE     (- or nothing: stdin)
//
// Prints one line; exits 1 when the document is not valid. make check runs
// it on the document the running server serves at /openapi.json.
import SwaggerParser from "@apidevtools/swagger-parser";
import { readFileSync } from "node:fs";

const file = process.argv[2] && process.argv[2] !== "-" ? process.argv[2] : 0;
const doc = JSON.parse(readFileSync(file, "utf8"));
const operations = Object.values(doc.paths || {}).reduce((n, item) => n + Object.keys(item).length, 0);
try {
  await SwaggerParser.validate(doc);
  console.log(`openapi: valid (${Object.keys(doc.paths).length} paths, ${operations} operations)`);
} catch (err) {
  console.log(`openapi: INVALID: ${err.message}`);
  process.exit(1);
}
