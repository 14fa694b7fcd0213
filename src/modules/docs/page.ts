/**
 * A self-contained API reference page: no CDN, no external script, works offline. The page itself is
 * public; it fetches the document (`json` beside the page's own path, so /openapi and /openapi/ both
 * work; same origin, with the key a user pastes when auth is on) and lists every route.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hermes-optx-api — API reference</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:16px 24px;background:#14161a;color:#fff}header h1{margin:0;font-size:18px}
main{padding:16px 24px;max-width:1100px}
.op{background:#fff;border:1px solid #e3e3e6;border-radius:6px;margin:6px 0}
.op summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:baseline}
.m{font:600 12px ui-monospace,monospace;min-width:64px;text-transform:uppercase}
.get{color:#0a7d38}.post{color:#0b5cad}.patch{color:#9a5b00}.delete{color:#b3261e}.put{color:#6b3fa0}.all{color:#555}
code,pre{font:12px ui-monospace,monospace}pre{background:#f4f4f6;padding:8px;overflow:auto;margin:0 12px 12px}
.tag{margin-top:20px;font-weight:600;text-transform:uppercase;font-size:12px;color:#666}
#key{width:320px}
</style></head><body>
<header><h1>hermes-optx-api</h1><div id="info"></div></header>
<main>
<p>API key (only needed when <code>API_KEY</code> is set): <input id="key" type="password" autocomplete="off"> <button id="load">Load</button>
 · <a id="spec" href="/openapi/json">openapi.json</a></p>
<div id="out">Loading…</div>
</main>
<script>
const out = document.getElementById('out');
const specUrl = location.pathname.replace(/\\/?$/, '/json');
document.getElementById('spec').href = specUrl;
const refused = { 401: ' (enter an API key)', 403: ' (opened by a host name the sidecar does not know as its own: add it to ALLOWED_HOSTS, or set API_KEY)', 402: ' (this server charges per request through MPP: load the document with an MPP client, or with an API key if it has one)' };
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function load() {
  const key = document.getElementById('key').value;
  const res = await fetch(specUrl, { headers: key ? { authorization: 'Bearer ' + key } : {} });
  if (!res.ok) { out.textContent = 'Could not load the spec: HTTP ' + res.status + (refused[res.status] || ''); return; }
  const spec = await res.json();
  document.getElementById('info').textContent = spec.info.title + ' ' + spec.info.version;
  const byTag = {};
  for (const [path, ops] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(ops)) {
    const tag = (op.tags && op.tags[0]) || 'other';
    (byTag[tag] ||= []).push({ path, method, op });
  }
  out.innerHTML = Object.keys(byTag).sort().map((tag) => '<div class="tag">' + esc(tag) + '</div>' + byTag[tag].map(({ path, method, op }) =>
    '<details class="op"><summary><span class="m ' + esc(method) + '">' + esc(method) + '</span><code>' + esc(path) + '</code><span>' + esc(op.summary || '') + '</span></summary>' +
    (op.parameters ? '<pre>parameters: ' + esc(JSON.stringify(op.parameters, null, 2)) + '</pre>' : '') +
    (op.requestBody ? '<pre>body: ' + esc(JSON.stringify(op.requestBody, null, 2)) + '</pre>' : '') +
    '<pre>responses: ' + esc(JSON.stringify(op.responses || {}, null, 2)) + '</pre></details>').join('')).join('');
}
document.getElementById('load').onclick = load;
load();
</script></body></html>`;
