// What the live tests get from their runner (crates/switchboard/tests/it/sdks.rs): a
// `switchboard serve --dev` with the OIDC test peer as integration `acme`, a Standard
// Webhooks intake integration `hooks`, and a destination `app` at a port these tests
// listen on.
export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through crates/switchboard/tests/it/sdks.rs (cargo nextest run -p switchboard -E 'test(sdk)')`);
  return v;
}

/**
 * The browser's part of the connect flow: follows the redirects from `url` (keeping
 * cookies by name and path, as a browser would; the test peer logs in and consents on
 * its own) until one leads to `stopPrefix` (the app's return_to); returns that URL.
 */
export async function browseUntil(url: string, stopPrefix: string): Promise<URL> {
  const jar = new Map<string, { path: string; value: string }>();
  let at = new URL(url);
  for (let hop = 0; hop < 20; hop++) {
    if (at.href.startsWith(stopPrefix)) return at;
    const cookies = [...jar.entries()]
      .filter(([, c]) => at.pathname === c.path || at.pathname.startsWith(c.path.endsWith("/") ? c.path : c.path + "/") || c.path === "/")
      .map(([k, c]) => `${k.split("\u0000")[0]}=${c.value}`);
    const res = await fetch(at, { redirect: "manual", headers: cookies.length ? { cookie: cookies.join("; ") } : {} });
    for (const sc of res.headers.getSetCookie()) {
      const [nv = "", ...attrs] = sc.split(";");
      const eq = nv.indexOf("=");
      const name = nv.slice(0, eq).trim();
      const value = nv.slice(eq + 1).trim();
      let path = at.pathname.slice(0, Math.max(1, at.pathname.lastIndexOf("/")));
      let removed = value === "";
      for (const a of attrs) {
        const [k = "", v = ""] = a.split("=");
        const key = k.trim().toLowerCase();
        if (key === "path" && v.trim().startsWith("/")) path = v.trim();
        if (key === "max-age" && Number(v) <= 0) removed = true;
        if (key === "expires" && v.includes("1970")) removed = true;
      }
      const id = `${name}\u0000${path}`;
      if (removed) jar.delete(id);
      else jar.set(id, { path, value });
    }
    const location = res.headers.get("location");
    await res.body?.cancel();
    if (res.status < 300 || res.status >= 400 || !location) {
      throw new Error(`GET ${at.href} answered ${res.status} instead of a redirect on the way to ${stopPrefix}`);
    }
    at = new URL(location, at);
  }
  throw new Error(`more than 20 redirects without reaching ${stopPrefix}`);
}
