// The SDK against a live server: connect → token → proxy → disconnect; webhook intake →
// events → replay → a delivery verified with `standardwebhooks` (v1) and WebCrypto
// Ed25519 (v1a); every error path typed.
import { strict as assert } from "node:assert";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";

import {
  AuthenticationError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  Switchboard,
  SwitchboardError,
  ok,
} from "../src/index.js";
import { browseUntil, env } from "./env.js";

const baseUrl = env("SWITCHBOARD_URL");
const sb = new Switchboard({ baseUrl, apiKey: env("SWITCHBOARD_API_KEY") });
const peer = env("SB_TEST_PEER_URL");
const origin = env("SB_TEST_RETURN_ORIGIN");

/** Connects `connectionId` for end user u1 through the real flow. */
async function connect(connectionId: string): Promise<void> {
  const session = await sb.createConnectSession({
    end_user: { id: "u1" },
    integrations: ["acme"],
    connection_id: connectionId,
    return_to: `${origin}/done`,
  });
  assert.match(session.token, /^cs_/);
  assert.ok(session.connect_url.startsWith(baseUrl), session.connect_url);
  const auth = `${baseUrl}/api/integrations/acme/auth?session=${encodeURIComponent(session.token)}`;
  const landed = await browseUntil(auth, origin);
  assert.equal(landed.searchParams.get("status"), "connected", landed.href);
  assert.equal(landed.searchParams.get("connection_id"), connectionId);
}

describe("connections", () => {
  test("connect session → browser → token → proxy → disconnect", async () => {
    await connect("ts-1");
    const c = await sb.getConnection("ts-1");
    assert.equal(c.status, "active");
    assert.equal(c.integration, "acme");
    assert.equal(c.end_user_id, "u1");
    assert.ok((await sb.listConnections({ integration: "acme" })).data.some((x) => x.id === "ts-1"));
    assert.ok((await sb.listIntegrations()).some((i) => i.id === "acme"));

    const t = await sb.token("ts-1");
    assert.equal(t.token_type, "Bearer");
    assert.ok(t.access_token && t.access_token.length > 10);

    const res = await sb.proxy("ts-1").get("/me");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("switchboard-upstream-status"), "200");
    const me = (await res.json()) as { sub: string; email: string };
    assert.equal(me.sub, "alice");
    assert.equal(me.email, "alice@example.test");

    // A provider's own error comes back as its answer, not as a SwitchboardError.
    const missing = await sb.proxy("ts-1").get("/no-such-endpoint");
    assert.equal(missing.headers.get("switchboard-upstream-status"), String(missing.status));
    assert.ok(missing.status >= 400);
    await missing.body?.cancel();

    const gone = await sb.disconnect("acme", "ts-1");
    assert.equal(gone.deleted, true);
    assert.equal(gone.revoked_at_provider, true);
    // The connection stays listed as revoked; its token is gone.
    assert.equal((await sb.getConnection("ts-1")).status, "revoked");
    await assert.rejects(sb.token("ts-1"), (e: unknown) => e instanceof ConflictError && e.code === "revoked" && e.needsReauth);
  });
});

interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

describe("webhooks", () => {
  const received: Received[] = [];
  const hooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(204).end();
    });
  });
  before(() => new Promise<void>((r) => hooks.listen(Number(env("SB_TEST_HOOK_PORT")), "127.0.0.1", r)));
  after(() => new Promise<void>((r) => hooks.close(() => r())));

  async function delivered(n: number): Promise<Received> {
    for (let i = 0; i < 600 && received.length < n; i++) await new Promise((r) => setTimeout(r, 50));
    const got = received[n - 1];
    assert.ok(got, `only ${received.length} deliveries, expected ${n}`);
    return got;
  }

  test("intake → event listed → replayed → deliveries verified with standardwebhooks", async () => {
    // The provider's side: a Standard Webhooks sender.
    const provider = new Webhook(env("SB_TEST_INTAKE_SECRET"));
    const payload = JSON.stringify({ type: "invoice.paid", timestamp: new Date().toISOString(), data: { id: "inv_1" } });
    const msgId = `msg_ts_${Date.now()}`;
    const now = new Date();
    const intake = await fetch(`${baseUrl}/webhooks/hooks/event`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": msgId,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": provider.sign(msgId, now, payload),
      },
      body: payload,
    });
    assert.equal(intake.status, 200, await intake.clone().text());
    const accepted = (await intake.json()) as { id: string; duplicate: boolean };
    assert.equal(accepted.duplicate, false);

    const events = await sb.listEvents({ integration: "hooks" });
    const ev = events.data.find((e) => e.id === accepted.id);
    assert.ok(ev, JSON.stringify(events));
    assert.equal(ev.event_type, "invoice.paid");

    // The app's side: the delivery, verified with the reference library (v1) …
    const first = await delivered(1);
    const app = new Webhook(env("SB_TEST_APP_SECRET"));
    const event = app.verify(first.body.toString("utf8"), first.headers as Record<string, string>) as {
      type: string;
      data: { data: { id: string } };
    };
    // Without a mapping: the provider's type under its provider's name, its body as data.
    assert.equal(event.type, "standard-webhooks.invoice.paid");
    assert.equal(event.data.data.id, "inv_1");
    // … and with Ed25519 (v1a), which the library does not verify: WebCrypto.
    assert.equal(await verifyV1a(first.body, webHeaders(first.headers), env("SB_TEST_APP_PUBLIC_KEY")), true);
    assert.throws(() => app.verify(first.body.toString("utf8").replace("inv_1", "inv_2"), first.headers as Record<string, string>));
    const forged = Buffer.from(first.body.toString("utf8").replace("inv_1", "inv_2"));
    assert.equal(await verifyV1a(forged, webHeaders(first.headers), env("SB_TEST_APP_PUBLIC_KEY")), false);

    const detail = await sb.getEvent(accepted.id);
    assert.equal(detail.id, accepted.id);

    const replay = await sb.replayEvent(accepted.id);
    assert.equal(replay.events, 1);
    assert.ok(replay.deliveries >= 1, JSON.stringify(replay));
    const again = await delivered(2);
    assert.equal(again.headers["webhook-id"], first.headers["webhook-id"], "a replay keeps the delivery id");
    app.verify(again.body.toString("utf8"), again.headers as Record<string, string>);
    assert.equal(await verifyV1a(again.body, webHeaders(again.headers), env("SB_TEST_APP_PUBLIC_KEY")), true);

    const dry = await sb.replayEvents({ integration: "hooks", all: true, dry_run: true });
    assert.equal(dry.dry_run, true);
    assert.ok(dry.events >= 1);
  });
});

/** The README's v1a check, as it is there: WebCrypto Ed25519 with the `whpk_` key. */
async function verifyV1a(raw: Uint8Array, headers: Headers, publicKey: string): Promise<boolean> {
  const id = headers.get("webhook-id"), ts = headers.get("webhook-timestamp");
  const sigs = headers.get("webhook-signature") ?? "";
  if (!id || !ts || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const der = Uint8Array.from(atob(publicKey.slice("whpk_".length)), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", der, { name: "Ed25519" }, false, ["verify"]);
  const msg = new Uint8Array([...new TextEncoder().encode(`${id}.${ts}.`), ...raw]);
  for (const token of sigs.split(" ")) {
    if (!token.startsWith("v1a,")) continue;
    const sig = Uint8Array.from(atob(token.slice(4)), (c) => c.charCodeAt(0));
    if (await crypto.subtle.verify("Ed25519", key, sig, msg)) return true;
  }
  return false;
}

function webHeaders(h: IncomingHttpHeaders): Headers {
  return new Headers(Object.entries(h).map(([k, v]) => [k, String(v)] as [string, string]));
}

describe("errors are typed", () => {
  test("401 unauthorized", async () => {
    const wrong = new Switchboard({ baseUrl, apiKey: `sb_aaaaaaaaaaaa_${"a".repeat(40)}` });
    await assert.rejects(wrong.listConnections(), (e: unknown) => {
      assert.ok(e instanceof AuthenticationError, String(e));
      assert.ok(e instanceof SwitchboardError);
      assert.equal(e.status, 401);
      assert.equal(e.code, "unauthorized");
      assert.ok(e.message.length > 0);
      return true;
    });
  });

  test("403 forbidden: an app key on an admin route", async () => {
    const created = await ok(sb.api.POST("/api/api-keys", { body: { name: "ts-app", scope: "app" } }));
    const app = new Switchboard({ baseUrl, apiKey: created.key });
    await assert.rejects(ok(app.api.GET("/api/status")), (e: unknown) => {
      assert.ok(e instanceof PermissionDeniedError, String(e));
      assert.equal(e.status, 403);
      assert.equal(e.code, "forbidden");
      return true;
    });
    // The same key does the app's work.
    assert.ok(Array.isArray((await app.listEvents()).data));
  });

  test("404 not_found", async () => {
    await assert.rejects(sb.token("no-such-connection"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal(e.code, "not_found");
      return true;
    });
    await assert.rejects(sb.proxy("no-such-connection").get("/me"), NotFoundError);
  });

  test("409 needs_reauth: the provider refused the refresh token", async () => {
    await connect("ts-2");
    const armed = await fetch(`${peer}/__test/fail`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: "token", status: 400, count: 1, body: JSON.stringify({ error: "invalid_grant" }) }),
    });
    assert.equal(armed.status, 200);
    await assert.rejects(sb.refresh("ts-2"), (e: unknown) => {
      assert.ok(e instanceof ConflictError, String(e));
      assert.equal(e.status, 409);
      assert.equal(e.code, "needs_reauth");
      assert.equal(e.needsReauth, true);
      return true;
    });
    assert.equal((await sb.getConnection("ts-2")).status, "needs_reauth");
    await assert.rejects(sb.token("ts-2"), (e: unknown) => e instanceof ConflictError && e.code === "needs_reauth");
    await assert.rejects(sb.proxy("ts-2").get("/me"), (e: unknown) => e instanceof ConflictError && e.needsReauth);
  });

  test("422 invalid_request: a body of the wrong shape", async () => {
    const bad = { end_user: { id: "u1" }, integrations: "acme" } as unknown as Parameters<Switchboard["createConnectSession"]>[0];
    await assert.rejects(sb.createConnectSession(bad), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError, String(e));
      assert.equal(e.status, 422);
      assert.equal(e.code, "invalid_request");
      return true;
    });
  });
});
