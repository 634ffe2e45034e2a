// Types of Switchboard's connect snippet (GET /connect/switchboard.js, which defines
// `window.Switchboard`). Served at /connect/switchboard.d.ts.

export {};

declare global {
  interface Window {
    Switchboard: SwitchboardApi;
  }
  const Switchboard: SwitchboardApi;
}

/** Why `Switchboard.connect()` rejected. */
export type SwitchboardErrorCode =
  /** The user declined at the provider. */
  | 'access_denied'
  /** The browser blocked the popup and `fallback` is `"none"`. */
  | 'popup_blocked'
  /** The user closed the popup before finishing. */
  | 'window_closed'
  /**
   * Another `connect()` of this page is still open in its popup (one at a time): that
   * popup was brought to the front, and its own Promise settles as usual.
   */
  | 'in_progress'
  /** The connect session is unknown or expired: create a new one. */
  | 'session_expired'
  /** Connected, but without some required scopes (`missingScopes`, `connectionId`). */
  | 'missing_scopes'
  /** The session does not allow `integration`. */
  | 'unknown_integration'
  /** `connect()` was called with invalid options (the message says which). */
  | 'invalid_options'
  /** `sessionToken` (a Promise or function) failed or gave no token. */
  | 'session_token_failed'
  /** The connection id belongs to another end user or integration. */
  | 'connection_id_taken'
  /** The provider gave no tokens for the authorization code. */
  | 'exchange_failed'
  /** The provider's ID token did not validate. */
  | 'id_token_invalid'
  /** Switchboard could not finish the connection; try again. */
  | 'internal_error'
  /** GitHub App: a member asked the organisation's owners to install the app; there
   * is no installation yet. */
  | 'installation_requested'
  /** GitHub App: the installation is not one the user who came back can reach. */
  | 'installation_not_accessible'
  /** GitHub App: GitHub knows no such installation of the app. */
  | 'installation_not_found'
  /** The provider refused Switchboard's own credentials for the app (an operator's fix). */
  | 'invalid_client'
  /** Another error code from the provider (in `providerError`). */
  | 'provider_error';

/** A rejection of `Switchboard.connect()`. */
export interface SwitchboardError extends Error {
  readonly name: 'SwitchboardError';
  readonly code: SwitchboardErrorCode;
  /** The connection concerned, when known. */
  readonly connectionId?: string;
  /** The integration concerned, when known. */
  readonly integration?: string;
  /** With `missing_scopes`: the required scopes that were not granted. */
  readonly missingScopes?: string[];
  /** With `provider_error`: the provider's own error code. */
  readonly providerError?: string;
}

export interface SwitchboardErrorConstructor {
  new (code: SwitchboardErrorCode, message?: string): SwitchboardError;
  (code: SwitchboardErrorCode, message?: string): SwitchboardError;
  readonly prototype: SwitchboardError;
}

export interface ConnectOptions {
  /**
   * The connect session's token, from your backend (`POST /api/connect-sessions`, with
   * this page's origin as `opener_origin`). A Promise or a function returning one lets
   * `connect()` open the popup at once, in the click, and fetch the token after.
   */
  sessionToken: string | Promise<string> | (() => string | Promise<string>);
  /** Show only this integration of the session. */
  integration?: string;
  /**
   * The connection to create, or to reconnect when the end user has it already (an
   * OAuth2 one at the provider again; an API-key or basic one with new credentials,
   * checked before they replace the old), when the session did not fix one; only its
   * result is accepted.
   */
  connectionId?: string;
  /**
   * When the popup is blocked: `"redirect"` (default) sends this page to the Connect
   * page, and the session's `return_to` gets the result; `"none"` rejects with
   * `popup_blocked`.
   */
  fallback?: 'redirect' | 'none';
  /** Switchboard's URL, when this file was not loaded from it (bundled copies). */
  switchboardUrl?: string;
}

export interface ConnectResult {
  /** The connection, ready for `GET /api/connections/{id}` and the proxy. */
  connectionId: string;
  /** Its integration. */
  integration: string;
}

export interface SwitchboardApi {
  /**
   * Connects an account in a popup; resolves when it is connected. One call at a time:
   * while a call's popup is open, another call rejects with `in_progress`.
   */
  connect(options: ConnectOptions): Promise<ConnectResult>;
  /** The class of every rejection (`err instanceof Switchboard.SwitchboardError`). */
  readonly SwitchboardError: SwitchboardErrorConstructor;
  /** Every `code` a rejection can have. */
  readonly ERROR_CODES: readonly SwitchboardErrorCode[];
  /** Switchboard's origin (where this file was loaded from). */
  readonly origin: string | null;
}
