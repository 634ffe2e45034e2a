// Reads the server's OpenAPI document (a file, or stdin with "-") and prints the part the
// SDKs are generated from: the JSON API under /api that an app backend calls. Left out:
// the proxy (a pass-through to the provider's API, which the SDKs wrap by hand), the
// browser's steps of the OAuth flow (/auth and /callback), and anything outside /api
// (the Connect page, the console, webhook intake, ops routes). Components no kept
// operation refers to are dropped too, so a change to an HTML page or an ops route does
// not change the SDKs. Output is stable: keys sorted, two-space JSON.
import { readFileSync } from "node:fs";

const src = process.argv[2] ?? "-";
const doc = JSON.parse(readFileSync(src === "-" ? 0 : src, "utf8"));

const skip = [/^\/api\/proxy\//, /^\/api\/integrations\/\{[^}]+\}\/(auth|callback)$/];
const paths = {};
for (const [p, item] of Object.entries(doc.paths ?? {})) {
  if (!p.startsWith("/api/") || skip.some((r) => r.test(p))) continue;
  paths[p] = item;
}

// Operation ids name the generated functions and types: where two operations share one
// (`status` of admin and of connections), each becomes `<first tag>_<id>`.
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ops = Object.values(paths).flatMap((item) => methods.map((m) => item[m]).filter(Boolean));
const count = {};
for (const op of ops) if (op.operationId) count[op.operationId] = (count[op.operationId] ?? 0) + 1;
for (const op of ops) {
  if (op.operationId && count[op.operationId] > 1) op.operationId = `${op.tags?.[0] ?? "api"}_${op.operationId}`;
}

// Keep the components reachable from the kept paths.
const schemas = doc.components?.schemas ?? {};
const keep = new Set();
const walk = (v) => {
  if (Array.isArray(v)) return v.forEach(walk);
  if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string" && x.startsWith("#/components/schemas/")) {
        const name = x.slice("#/components/schemas/".length);
        if (!keep.has(name) && schemas[name]) {
          keep.add(name);
          walk(schemas[name]);
        }
      } else walk(x);
    }
  }
};
walk(paths);

// openapi-python-client cannot name an inline object inside a oneOf member when that
// member is itself an inline object (it generates the nested model twice and drops the
// member): hoist such members to components of their own, named after the component and
// the member's single required property (ChainBreak + gap = ChainBreakGap).
const pascal = (s) => s.replace(/(^|[_-])([a-z])/g, (_, __, c) => c.toUpperCase());
for (const name of [...keep].sort()) {
  for (const key of ["oneOf", "anyOf"]) {
    const members = schemas[name]?.[key];
    if (!Array.isArray(members)) continue;
    members.forEach((m, i) => {
      if (m?.type !== "object" || !m.properties) return;
      let hoisted = name + pascal(m.required?.length === 1 ? m.required[0] : String(i));
      while (schemas[hoisted]) hoisted += "_";
      schemas[hoisted] = m;
      keep.add(hoisted);
      members[i] = { $ref: `#/components/schemas/${hoisted}` };
    });
  }
}

const sorted = (v) =>
  Array.isArray(v)
    ? v.map(sorted)
    : v && typeof v === "object"
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]))
      : v;

const out = {
  openapi: doc.openapi,
  info: { title: doc.info?.title ?? "Switchboard", version: doc.info?.version ?? "0" },
  paths,
  components: {
    schemas: Object.fromEntries([...keep].map((n) => [n, schemas[n]])),
    ...(doc.components?.securitySchemes ? { securitySchemes: doc.components.securitySchemes } : {}),
  },
  ...(doc.security ? { security: doc.security } : {}),
};
process.stdout.write(JSON.stringify(sorted(out), null, 2) + "\n");
