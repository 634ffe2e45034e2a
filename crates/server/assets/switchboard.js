/*! Switchboard connect snippet. Served by Switchboard at /connect/switchboard.js; no
 * dependencies. Types: /connect/switchboard.d.ts.
 *
 *   Switchboard.connect({ sessionToken, integration?, connectionId?, fallback? })
 *     → Promise<{ connectionId, integration }>, or rejects with a SwitchboardError
 *       whose `code` says why (see ERROR_CODES).
 *
 * It opens Switchboard's Connect page in a popup (or, when the browser blocks popups,
 * sends the whole page there: the session's return_to gets the result), and accepts a
 * result only from Switchboard's own origin (where this file was loaded from) and only
 * from that popup; it answers the result with an acknowledgement, on which the popup
 * closes. One connect() at a time: another call while its popup is open brings that
 * popup to the front and rejects with `in_progress`. The connect session must have been
 * created with this page's origin as `opener_origin` (and `return_to` for the redirect
 * fallback).
 */
(function (global) {
  'use strict';

  var ERROR_CODES = [
    'access_denied',
    'popup_blocked',
    'window_closed',
    'in_progress',
    'session_expired',
    'missing_scopes',
    'unknown_integration',
    'invalid_options',
    'session_token_failed',
    'connection_id_taken',
    'exchange_failed',
    'id_token_invalid',
    'internal_error',
    'installation_requested',
    'installation_not_accessible',
    'installation_not_found',
    'invalid_client',
    'provider_error',
  ];

  var MESSAGES = {
    access_denied: 'The user did not allow access.',
    popup_blocked: 'The browser blocked the popup; call connect() from a click handler.',
    window_closed: 'The window was closed before the account was connected.',
    in_progress: 'Another connect() is still open; its window was brought to the front.',
    session_expired: 'The connect session expired or is unknown; create a new one.',
    missing_scopes: 'The account is connected without some of the access the app requires.',
    unknown_integration: 'The connect session does not allow this integration.',
    invalid_options: 'Switchboard.connect() was called with invalid options.',
    session_token_failed: 'The session token could not be obtained.',
    connection_id_taken: 'The connection id belongs to another user or integration.',
    exchange_failed: 'The provider did not give tokens for this authorization.',
    id_token_invalid: 'The provider\'s ID token was not valid.',
    internal_error: 'Switchboard could not finish the connection.',
    installation_requested: 'The app was requested, not installed: an owner of the organisation has to approve it.',
    installation_not_accessible: 'The installation is not one this user can reach; install the app again.',
    installation_not_found: 'The provider knows no such installation of the app.',
    invalid_client: 'Switchboard\'s credentials for this app were refused; its administrator has to fix them.',
    provider_error: 'The provider reported an error.',
  };

  // Where this file was loaded from: the only origin whose messages count.
  var script = typeof document !== 'undefined' ? document.currentScript : null;
  var ORIGIN = null;
  try {
    ORIGIN = script && script.src ? new URL(script.src).origin : null;
  } catch (e) {
    ORIGIN = null;
  }

  function SwitchboardError(code, message, details) {
    var e = new Error(message || MESSAGES[code] || code);
    Object.setPrototypeOf(e, SwitchboardError.prototype);
    e.name = 'SwitchboardError';
    e.code = code;
    details = details || {};
    if (details.connectionId) e.connectionId = details.connectionId;
    if (details.integration) e.integration = details.integration;
    if (details.missingScopes) e.missingScopes = details.missingScopes;
    if (details.providerError) e.providerError = details.providerError;
    if (Error.captureStackTrace) Error.captureStackTrace(e, SwitchboardError);
    return e;
  }
  SwitchboardError.prototype = Object.create(Error.prototype, {
    constructor: { value: SwitchboardError, writable: true, configurable: true },
  });
  Object.setPrototypeOf(SwitchboardError, Error);

  var POLL_MS = 200;
  // The popup closes itself only once its result is acknowledged (or, with no
  // acknowledgement, seconds after posting it), so a closed popup without a result was
  // closed by the user; a result posted just before that still gets this long.
  var CLOSE_GRACE_MS = 500;
  // The popup of the connect() in progress: one at a time.
  var active = null;

  function popupFeatures() {
    var w = 520;
    var h = 720;
    var left = Math.max(0, (global.screenX || 0) + ((global.outerWidth || w) - w) / 2);
    var top = Math.max(0, (global.screenY || 0) + ((global.outerHeight || h) - h) / 2);
    return 'popup,width=' + w + ',height=' + h + ',left=' + Math.round(left) + ',top=' + Math.round(top);
  }

  function connectUrl(base, token, options, mode) {
    var q = new URLSearchParams();
    q.set('session', token);
    q.set('mode', mode);
    if (mode === 'popup') q.set('opener', global.location.origin);
    if (options.integration) q.set('integration', options.integration);
    if (options.connectionId) q.set('connection_id', options.connectionId);
    return base + '/connect?' + q.toString();
  }

  function fromMessage(data) {
    var details = {
      connectionId: data.connection_id,
      integration: data.integration,
      missingScopes: Array.isArray(data.missing_scopes) ? data.missing_scopes.slice() : undefined,
    };
    if (data.status === 'connected') {
      if (details.missingScopes && details.missingScopes.length) {
        return { error: SwitchboardError('missing_scopes', null, details) };
      }
      return { value: { connectionId: data.connection_id, integration: data.integration } };
    }
    var code = typeof data.error === 'string' && ERROR_CODES.indexOf(data.error) >= 0 ? data.error : 'provider_error';
    if (code === 'provider_error') details.providerError = String(data.error || '');
    return { error: SwitchboardError(code, null, details) };
  }

  function connect(options) {
    options = options || {};
    var base = options.switchboardUrl ? String(options.switchboardUrl).replace(/\/+$/, '') : ORIGIN;
    var origin;
    try {
      origin = new URL(base).origin;
    } catch (e) {
      return Promise.reject(SwitchboardError('invalid_options', 'Load switchboard.js from your Switchboard server (or pass switchboardUrl).'));
    }
    var token = options.sessionToken;
    var tokenOk = typeof token === 'string' ? token.length > 0 : typeof token === 'function' || (token && typeof token.then === 'function');
    if (!tokenOk) {
      return Promise.reject(SwitchboardError('invalid_options', 'sessionToken: give the token of a connect session (a string, a Promise of one, or a function returning either).'));
    }
    if (options.integration !== undefined && (typeof options.integration !== 'string' || !options.integration)) {
      return Promise.reject(SwitchboardError('invalid_options', 'integration: give an integration id as a string.'));
    }
    if (options.connectionId !== undefined && (typeof options.connectionId !== 'string' || !options.connectionId)) {
      return Promise.reject(SwitchboardError('invalid_options', 'connectionId: give a connection id as a string.'));
    }
    var fallback = options.fallback === undefined ? 'redirect' : options.fallback;
    if (fallback !== 'redirect' && fallback !== 'none') {
      return Promise.reject(SwitchboardError('invalid_options', 'fallback: use "redirect" or "none".'));
    }

    if (active && !active.closed) {
      try {
        active.focus();
      } catch (e) {
        // A window that cannot be focused stays where it is.
      }
      return Promise.reject(SwitchboardError('in_progress'));
    }
    // Opened now, inside the click that called connect(): a popup opened after an
    // await is blocked. A window of its own (no shared name), so that no other page's
    // connect() can take it over.
    var popup = null;
    try {
      popup = global.open('', '_blank', popupFeatures());
    } catch (e) {
      popup = null;
    }
    if (popup) active = popup;

    return new Promise(function (resolve, reject) {
      var done = false;
      var watch = null;
      var closedAt = null;

      function finish(outcome) {
        if (done) return;
        done = true;
        if (active === popup) active = null;
        global.removeEventListener('message', onMessage);
        if (watch !== null) clearInterval(watch);
        if (outcome.error) reject(outcome.error);
        else resolve(outcome.value);
      }

      function onMessage(event) {
        if (event.origin !== origin) return;
        if (!popup || event.source !== popup) return;
        var data = event.data;
        if (!data || typeof data !== 'object' || data.source !== 'switchboard') return;
        if (options.connectionId && data.connection_id && data.connection_id !== options.connectionId) return;
        finish(fromMessage(data));
        // Received: the popup may close now.
        try {
          popup.postMessage({ source: 'switchboard', type: 'ack' }, origin);
        } catch (e) {
          // Closed already.
        }
      }

      Promise.resolve(typeof token === 'function' ? token() : token).then(
        function (t) {
          if (typeof t !== 'string' || !t) {
            throw SwitchboardError('session_token_failed', 'sessionToken gave ' + typeof t + ', not a token.');
          }
          if (!popup || popup.closed) {
            if (fallback === 'none') {
              finish({ error: SwitchboardError('popup_blocked') });
              return;
            }
            // The page leaves; the session's return_to gets the result.
            global.location.assign(connectUrl(base, t, options, 'redirect'));
            return;
          }
          global.addEventListener('message', onMessage);
          popup.location.href = connectUrl(base, t, options, 'popup');
          watch = setInterval(function () {
            if (!popup.closed) return;
            if (closedAt === null) closedAt = Date.now();
            if (Date.now() - closedAt >= CLOSE_GRACE_MS) finish({ error: SwitchboardError('window_closed') });
          }, POLL_MS);
        },
      ).catch(function (e) {
        if (popup && !popup.closed) popup.close();
        finish({ error: e && e.name === 'SwitchboardError' ? e : SwitchboardError('session_token_failed', 'sessionToken failed: ' + (e && e.message ? e.message : String(e))) });
      });
    });
  }

  var api = {
    connect: connect,
    SwitchboardError: SwitchboardError,
    ERROR_CODES: ERROR_CODES.slice(),
    origin: ORIGIN,
  };
  Object.freeze(api.ERROR_CODES);
  global.Switchboard = Object.freeze(api);
})(typeof window !== 'undefined' ? window : this);
