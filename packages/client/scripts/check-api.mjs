// Fails when the committed client types drift from the repo-root openapi.json, or when the document leaves a
// request or response body untyped (a generated client would then be `unknown` there).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const documentPath = join(root, "openapi.json");
const committed = join(here, "../src/schema.d.ts");
const problems = [];

// 1. regenerate and compare
const dir = mkdtempSync(join(tmpdir(), "rat-api-"));
try {
  const out = join(dir, "schema.d.ts");
  const bin = join(root, "node_modules/.bin/openapi-typescript");
  execFileSync(bin, [documentPath, "-o", out], { stdio: "pipe" });
  if (readFileSync(out, "utf8") !== readFileSync(committed, "utf8")) {
    problems.push("packages/client/src/schema.d.ts differs from openapi.json: run `npm run gen:api` and commit");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// 2. every body typed
const doc = JSON.parse(readFileSync(documentPath, "utf8"));
const untyped = (schema) => {
  if (!schema || typeof schema !== "object") return true;
  if (schema.$ref || schema.oneOf || schema.anyOf || schema.allOf || schema.enum || schema.const !== undefined) {
    return false;
  }
  if (schema.type === "array") return untyped(schema.items);
  if (schema.type === "object" || schema.type === undefined) {
    const hasProps = schema.properties && Object.keys(schema.properties).length > 0;
    const hasMap = schema.additionalProperties && typeof schema.additionalProperties === "object";
    return !hasProps && !hasMap;
  }
  return false; // string / integer / number / boolean (and text/binary bodies)
};
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (!["get", "post", "put", "delete", "patch"].includes(method)) continue;
    const where = `${method.toUpperCase()} ${path}`;
    for (const [media, body] of Object.entries(op.requestBody?.content ?? {})) {
      if (media === "application/json" && untyped(body.schema)) problems.push(`${where}: untyped request body`);
    }
    for (const [status, response] of Object.entries(op.responses ?? {})) {
      if (!/^2\d\d$/.test(status) || status === "204") continue;
      const content = response.content ?? {};
      if (Object.keys(content).length === 0) problems.push(`${where}: response ${status} declares no body`);
      for (const [media, body] of Object.entries(content)) {
        if (media === "application/json" && untyped(body.schema)) {
          problems.push(`${where}: untyped ${status} response body`);
        }
      }
    }
  }
}

if (problems.length) {
  console.error(`API check failed (${problems.length}):\n  ` + problems.slice(0, 50).join("\n  "));
  if (problems.length > 50) console.error(`  ... and ${problems.length - 50} more`);
  process.exit(1);
}
console.log("API check: client types match openapi.json and every body is typed");
