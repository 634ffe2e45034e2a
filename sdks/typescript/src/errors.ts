// Errors of Switchboard's API, typed from its JSON error shape
// `{"error": {"code", "message"}}` and the HTTP status.

/** The codes Switchboard answers with; other strings may appear in newer servers. */
export type KnownErrorCode =
  | "bad_request"
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "needs_reauth"
  | "revoked"
  | "connection_error"
  | "provider_unavailable"
  | "provider_error"
  | "credentials_rejected"
  | "misconfigured"
  | "rate_limited"
  | "unavailable"
  | "key_unavailable"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal";

/** A code from {@link KnownErrorCode}, or another string from a newer server. */
export type ErrorCode = KnownErrorCode | (string & {});

/** An error answer of Switchboard's API (never a provider's answer through the proxy). */
export class SwitchboardError extends Error {
  /** The HTTP status (400, 401, 403, 404, 409, 422, 429, 5xx). */
  readonly status: number;
  /** The stable machine-readable code, e.g. `needs_reauth`. */
  readonly code: ErrorCode;
  /** The server's `x-request-id`, to find the request in its log. */
  readonly requestId: string | null;

  constructor(status: number, code: ErrorCode, message: string, requestId: string | null = null) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** The connection needs its user again: send them through a new connect session. */
  get needsReauth(): boolean {
    return this.code === "needs_reauth" || this.code === "revoked";
  }

  /** Worth retrying later (rate limited, provider or server unavailable). */
  get retryable(): boolean {
    return this.status === 429 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

/** 400 or 422: the request was refused as it is; `message` says what to change. */
export class InvalidRequestError extends SwitchboardError {}
/** 401: no API key, an unknown one or a revoked one. */
export class AuthenticationError extends SwitchboardError {}
/** 403: the key's scope does not allow this (an `app` key on an admin route). */
export class PermissionDeniedError extends SwitchboardError {}
/** 404: no such connection, event, integration, … */
export class NotFoundError extends SwitchboardError {}
/** 409: a conflict; `code` is `needs_reauth` or `revoked` for a connection that needs its user. */
export class ConflictError extends SwitchboardError {}
/** 429: rate limited; retry after a while. */
export class RateLimitError extends SwitchboardError {}
/** 5xx: the server, the provider or the database is unavailable; retry later. */
export class ServerError extends SwitchboardError {}

/** The error class for an HTTP status. */
export function errorClassFor(status: number): typeof SwitchboardError {
  if (status === 400 || status === 413 || status === 415 || status === 422) return InvalidRequestError;
  if (status === 401) return AuthenticationError;
  if (status === 403) return PermissionDeniedError;
  if (status === 404) return NotFoundError;
  if (status === 409) return ConflictError;
  if (status === 429) return RateLimitError;
  if (status >= 500) return ServerError;
  return SwitchboardError;
}

/** Builds the typed error for a non-2xx answer whose body is `body` (parsed or text). */
export function toError(status: number, body: unknown, requestId: string | null): SwitchboardError {
  let code: string = `http_${status}`;
  let message = `HTTP ${status}`;
  if (body && typeof body === "object" && "error" in body) {
    const e = (body as { error?: unknown }).error;
    if (e && typeof e === "object") {
      const d = e as { code?: unknown; message?: unknown };
      if (typeof d.code === "string") code = d.code;
      if (typeof d.message === "string") message = d.message;
    }
  } else if (typeof body === "string" && body.length > 0) {
    message = `HTTP ${status}: ${body.slice(0, 200)}`;
  }
  const Class = errorClassFor(status);
  return new Class(status, code, message, requestId);
}
