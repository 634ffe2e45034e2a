// Switchboard's result page script: posts the connect result to the window that opened
// this popup, at exactly the app's origin, then closes the popup. The result is in the
// data- attributes of #result (the server escapes them); nothing else is read.
(function () {
  'use strict';
  var el = document.getElementById('result');
  var origin = el && el.getAttribute('data-target-origin');
  if (!origin || !window.opener) return;
  var message = { source: 'switchboard', status: el.getAttribute('data-status') };
  var fields = [
    ['connection_id', 'data-connection-id'],
    ['error', 'data-error'],
    ['integration', 'data-integration'],
  ];
  for (var i = 0; i < fields.length; i++) {
    var v = el.getAttribute(fields[i][1]);
    if (v) message[fields[i][0]] = v;
  }
  var missing = el.getAttribute('data-missing-scopes');
  if (missing) message.missing_scopes = missing.split(' ');
  window.opener.postMessage(message, origin);
  window.close();
})();
