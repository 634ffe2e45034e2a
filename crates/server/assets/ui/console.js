// Switchboard console: small progressive enhancements. Every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A button with data-copy="<element id>" copies that element's text.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.hidden = false;
    b.addEventListener("click", async () => {
      const el = document.getElementById(b.dataset.copy);
      if (!el || !navigator.clipboard) return;
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        const status = document.getElementById(b.dataset.copy + "-status");
        if (status) status.textContent = "Copied.";
      } catch (_) { /* the text stays selectable */ }
    });
  }
  // A form with data-confirm="question" asks before it is sent.
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  }
  // An element with data-refresh="seconds" reloads the page while it is visible.
  const r = document.querySelector("[data-refresh]");
  if (r) {
    const secs = Math.max(5, parseInt(r.dataset.refresh, 10) || 30);
    setTimeout(() => { if (!document.hidden) location.reload(); }, secs * 1000);
  }
});
