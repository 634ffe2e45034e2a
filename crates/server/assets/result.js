// Switchboard's result page script: posts the connect result to the window that opened
// this popup, at exactly the app's origin, and closes the popup when the opener
// acknowledges it ({source: 'switchboard', type: 'ack'} from the opener at that origin,
// as switchboard.js answers), or ACK_WAIT_MS after posting for an opener that does not.
// Closing only then means a result never races the popup's closing. The result is in
// the data- attributes of #result (the server escapes them); nothing else is read.
(function () {
  'use strict';
  var el = document.getElementById('result');
  var origin = el && el.getAttribute('data-target-origin');
  var opener = window.opener;
  if (!origin || !opener) return;
  var ACK_WAIT_MS = 5000;
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
  window.addEventListener('message', function (e) {
    var d = e.data;
    if (e.origin === origin && e.source === opener && d && d.source === 'switchboard' && d.type === 'ack') window.close();
  });
  setTimeout(function () {
    window.close();
  }, ACK_WAIT_MS);
  opener.postMessage(message, origin);
})();
