// The error mapping on its own (no server): every status gets its class, the JSON error
// shape gives code and message, and anything else still gives a typed error.
import { strict as assert } from "node:assert";
import { test } from "node:test";

import {
  AuthenticationError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
  Switchboard,
  SwitchboardError,
  toError,
} from "../src/index.js";

const shape = (code: string, message: string) => ({ error: { code, message } });

test("each status maps to its class, code and message from the JSON shape", () => {
  const cases: [number, typeof SwitchboardError][] = [
    [400, InvalidRequestError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [409, ConflictError],
    [413, InvalidRequestError],
    [422, InvalidRequestError],
    [429, RateLimitError],
    [500, ServerError],
    [503, ServerError],
  ];
  for (const [status, Class] of cases) {
    const e = toError(status, shape("some_code", "what to do"), "req-1");
    assert.ok(e instanceof Class, `${status}: ${e.name}`);
    assert.ok(e instanceof SwitchboardError && e instanceof Error);
    assert.deepEqual([e.status, e.code, e.message, e.requestId], [status, "some_code", "what to do", "req-1"]);
    assert.equal(e.name, Class.name);
  }
  assert.equal(toError(418, shape("teapot", "x"), null).constructor, SwitchboardError);
});

test("needsReauth and retryable", () => {
  assert.equal(toError(409, shape("needs_reauth", "m"), null).needsReauth, true);
  assert.equal(toError(409, shape("revoked", "m"), null).needsReauth, true);
  assert.equal(toError(409, shape("conflict", "m"), null).needsReauth, false);
  for (const s of [429, 502, 503, 504]) assert.equal(toError(s, shape("x", "m"), null).retryable, true);
  for (const s of [400, 401, 404, 409, 500]) assert.equal(toError(s, shape("x", "m"), null).retryable, false);
});

test("a body that is not the JSON shape still gives a typed error", () => {
  const text = toError(502, "<html>bad gateway</html>", null);
  assert.ok(text instanceof ServerError);
  assert.equal(text.code, "http_502");
  assert.match(text.message, /bad gateway/);
  for (const body of [undefined, null, {}, { error: "flat" }, { error: { code: 7 } }, []]) {
    const e = toError(400, body, null);
    assert.equal(e.code, "http_400");
    assert.equal(e.message, "HTTP 400");
  }
});

test("the client refuses a missing URL or key, and never serialises the key", () => {
  assert.throws(() => new Switchboard({ baseUrl: "", apiKey: "k" }), TypeError);
  assert.throws(() => new Switchboard({ baseUrl: "http://127.0.0.1:9", apiKey: "" }), TypeError);
  const sb = new Switchboard({ baseUrl: "http://127.0.0.1:9/", apiKey: "sb_secret" });
  assert.equal(sb.baseUrl, "http://127.0.0.1:9");
  assert.doesNotMatch(JSON.stringify(sb), /sb_secret/);
});

test("a network failure is the fetch error, not a SwitchboardError", async () => {
  const sb = new Switchboard({
    baseUrl: "http://127.0.0.1:9",
    apiKey: "k",
    fetch: async () => {
      throw new TypeError("fetch failed");
    },
  });
  await assert.rejects(sb.listEvents(), (e: unknown) => e instanceof TypeError && !(e instanceof SwitchboardError));
});

test("a custom fetch sees the key as a bearer token and the proxy path", async () => {
  const seen: Request[] = [];
  const sb = new Switchboard({
    baseUrl: "http://sb.test",
    apiKey: "sb_k",
    fetch: async (input, init) => {
      seen.push(new Request(input, init));
      return new Response("{}", { status: 200, headers: { "switchboard-upstream-status": "200" } });
    },
  });
  await sb.proxy("acct/1").post("/a b", { x: 1 }, { query: { q: "1 2" }, idempotencyKey: "i-1" });
  const r = seen[0]!;
  assert.equal(r.url, "http://sb.test/api/proxy/acct%2F1/a%20b?q=1+2");
  assert.equal(r.method, "POST");
  assert.equal(r.headers.get("authorization"), "Bearer sb_k");
  assert.equal(r.headers.get("idempotency-key"), "i-1");
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(await r.text(), '{"x":1}');
});
