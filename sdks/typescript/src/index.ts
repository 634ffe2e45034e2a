// @switchboard/client: a typed client of Switchboard's JSON API.
//
// `Switchboard#api` is openapi-fetch's client typed by `generated/schema.ts`
// (openapi-typescript's output for the server's /openapi.json): every route, parameter
// and answer. The methods of `Switchboard` are the thin layer over it for an app
// backend's common path, each one call that returns the answer's data or throws a
// typed `SwitchboardError`. Fetch only: no Node.js API, so it runs on Node 20+, Deno,
// Bun and edge runtimes.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";
import { SwitchboardError, toError } from "./errors.js";

export * from "./errors.js";
export type { components, paths, operations } from "./generated/schema.js";

/** The API's schemas by name: `Schemas["ConnectionBody"]`, … */
export type Schemas = components["schemas"];
export type ConnectSessionRequest = Schemas["ConnectSessionBody"];
export type ConnectSession = Schemas["ConnectSessionCreated"];
export type Connection = Schemas["ConnectionBody"];
export type ConnectionList = Schemas["ConnectionList"];
export type Token = Schemas["TokenBody"];
export type Integration = Schemas["IntegrationView"];
export type DisconnectResult = Schemas["DisconnectResult"];
export type Event = Schemas["EventView"];
export type EventList = Schemas["EventList"];
export type EventDetail = Schemas["EventDetailView"];
export type ReplayAnswer = Schemas["ReplayAnswer"];
export type ReplayRequest = Schemas["ReplayRequest"];
export type ListEventsQuery = NonNullable<paths["/api/events"]["get"]["parameters"]["query"]>;
export type ListConnectionsQuery = NonNullable<paths["/api/connections"]["get"]["parameters"]["query"]>;

export interface SwitchboardOptions {
  /** The server, e.g. `https://switchboard.internal:8080` (`SWITCHBOARD_URL`). */
  baseUrl: string;
  /** An API key, `sb_…` (`SWITCHBOARD_API_KEY`); an `app` key for a backend. */
  apiKey: string;
  /** A fetch to use instead of `globalThis.fetch` (tests, instrumentation). */
  fetch?: typeof fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/**
 * The data of a call of the generated client, or its typed error:
 * `const status = await ok(sb.api.GET("/api/status"))`.
 */
export async function ok<T>(call: Promise<Answer<T>>): Promise<T> {
  return unwrap(call);
}

async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toError(response.status, error, response.headers.get("x-request-id"));
  return data as T;
}

/** A client of one Switchboard server. */
export class Switchboard {
  /** The generated client: every route of the API, typed (`sb.api.GET("/api/status")`). */
  readonly api: Client<paths>;
  readonly baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  constructor(options: SwitchboardOptions) {
    if (!options.baseUrl) throw new TypeError("Switchboard: baseUrl is required (SWITCHBOARD_URL)");
    if (!options.apiKey) throw new TypeError("Switchboard: apiKey is required (SWITCHBOARD_API_KEY)");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#headers = { ...options.headers, authorization: `Bearer ${options.apiKey}` };
    this.api = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: this.#headers,
      fetch: (req: Request) => this.#fetch(req),
    });
  }

  /** A connect session for one end user: send their browser to `connect_url`. */
  createConnectSession(body: ConnectSessionRequest): Promise<ConnectSession> {
    return unwrap(this.api.POST("/api/connect-sessions", { body }));
  }

  /** The configured integrations. */
  async listIntegrations(): Promise<Integration[]> {
    return (await unwrap(this.api.GET("/api/integrations"))).data;
  }

  /** Connections, newest first, one page (`next_cursor` for the next). */
  listConnections(query: ListConnectionsQuery = {}): Promise<ConnectionList> {
    return unwrap(this.api.GET("/api/connections", { params: { query } }));
  }

  /** One connection, without its secrets. */
  getConnection(connectionId: string): Promise<Connection> {
    return unwrap(this.api.GET("/api/connections/{id}", { params: { path: { id: connectionId } } }));
  }

  /** A valid access token (refreshed first when due). Ask each time; do not store it. */
  token(connectionId: string): Promise<Token> {
    return unwrap(this.api.GET("/api/connections/{id}/token", { params: { path: { id: connectionId } } }));
  }

  /** Forces a refresh of the connection's token. */
  refresh(connectionId: string): Promise<Schemas["RefreshedConnection"]> {
    return unwrap(this.api.POST("/api/connections/{id}/refresh", { params: { path: { id: connectionId } } }));
  }

  /** Checks the connection's credentials at the provider now (`result`: `ok`, `rejected`, `forbidden`, `unavailable` or `error`). */
  check(connectionId: string): Promise<Schemas["CheckedConnection"]> {
    return unwrap(this.api.POST("/api/connections/{id}/check", { params: { path: { id: connectionId } } }));
  }

  /** Revokes the connection at the provider (when it can) and deletes it here. */
  disconnect(integration: string, connectionId: string): Promise<DisconnectResult> {
    return unwrap(
      this.api.POST("/api/integrations/{integration}/disconnect", {
        params: { path: { integration } },
        body: { connection_id: connectionId },
      }),
    );
  }

  /** Stored events, newest first, one page. */
  listEvents(query: ListEventsQuery = {}): Promise<EventList> {
    return unwrap(this.api.GET("/api/events", { params: { query } }));
  }

  /** One event with its mapping and deliveries. */
  getEvent(eventId: string): Promise<EventDetail> {
    return unwrap(this.api.GET("/api/events/{id}", { params: { path: { id: eventId } } }));
  }

  /** Delivers one event again to its destinations. */
  replayEvent(eventId: string, options: { dryRun?: boolean } = {}): Promise<ReplayAnswer> {
    return unwrap(
      this.api.POST("/api/events/{id}/replay", {
        params: { path: { id: eventId } },
        body: { dry_run: options.dryRun ?? false },
      }),
    );
  }

  /** Delivers every event matching `filter` again. */
  replayEvents(filter: ReplayRequest): Promise<ReplayAnswer> {
    return unwrap(this.api.POST("/api/events/replay", { body: filter }));
  }

  /** The provider's API through Switchboard's proxy, as `connectionId`. */
  proxy(connectionId: string): ProxyClient {
    return new ProxyClient(this.#fetch, this.baseUrl, this.#headers, connectionId);
  }

  /** What `JSON.stringify` and loggers see: never the key. */
  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }
}

/** Options of one proxied request. */
export interface ProxyInit {
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean> | URLSearchParams;
  /** A raw body (string, bytes, form data, stream). */
  body?: RequestInit["body"];
  /** A JSON body (sets `content-type: application/json`). */
  json?: unknown;
  /** Makes a POST safe for Switchboard to retry. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/**
 * Calls to one connection's provider API. Each method returns the provider's `Response`
 * as it is, whatever its status (its `switchboard-upstream-status` and
 * `switchboard-attempts` headers say what happened); when Switchboard itself refuses
 * (an unknown connection, `needs_reauth`, the provider unreachable) it throws a
 * `SwitchboardError` instead.
 */
export class ProxyClient {
  readonly connectionId: string;
  readonly #fetch: typeof fetch;
  readonly #base: string;
  readonly #headers: Record<string, string>;

  constructor(fetchFn: typeof fetch, baseUrl: string, headers: Record<string, string>, connectionId: string) {
    this.#fetch = fetchFn;
    this.#base = `${baseUrl}/api/proxy/${encodeURIComponent(connectionId)}`;
    this.#headers = headers;
    this.connectionId = connectionId;
  }

  async request(method: string, path: string, init: ProxyInit = {}): Promise<Response> {
    let url = `${this.#base}/${path.replace(/^\/+/, "")}`;
    if (init.query) {
      const q =
        init.query instanceof URLSearchParams
          ? init.query
          : new URLSearchParams(Object.entries(init.query).map(([k, v]) => [k, String(v)] as [string, string]));
      const s = q.toString();
      if (s) url += (url.includes("?") ? "&" : "?") + s;
    }
    const headers: Record<string, string> = { ...init.headers, ...this.#headers };
    let body = init.body ?? null;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    if (init.idempotencyKey) headers["idempotency-key"] = init.idempotencyKey;
    const requestInit: RequestInit = { method, headers, body };
    if (init.signal) requestInit.signal = init.signal;
    const res = await this.#fetch(url, requestInit);
    if (!res.ok && !res.headers.has("switchboard-upstream-status")) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the message carries the text
      }
      throw toError(res.status, parsed, res.headers.get("x-request-id"));
    }
    return res;
  }

  get(path: string, init?: ProxyInit): Promise<Response> {
    return this.request("GET", path, init);
  }
  head(path: string, init?: ProxyInit): Promise<Response> {
    return this.request("HEAD", path, init);
  }
  delete(path: string, init?: ProxyInit): Promise<Response> {
    return this.request("DELETE", path, init);
  }
  post(path: string, json?: unknown, init?: ProxyInit): Promise<Response> {
    return this.request("POST", path, json === undefined ? init : { ...init, json });
  }
  put(path: string, json?: unknown, init?: ProxyInit): Promise<Response> {
    return this.request("PUT", path, json === undefined ? init : { ...init, json });
  }
  patch(path: string, json?: unknown, init?: ProxyInit): Promise<Response> {
    return this.request("PATCH", path, json === undefined ? init : { ...init, json });
  }
}

export { SwitchboardError };
