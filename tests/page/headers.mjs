// headers.mjs: the chat page's files as `gptoss serve` sends them, over plain HTTP (no browser needed):
// GET / is the page with its Content-Type, a Content-Security-Policy that allows only the page's own
// origin, an ETag and a 304 for it, no API key needed for it while /v1/ still asks for one, HEAD, the
// script, style and icon, a 405 for POST, a 404 for a path the page does not have.
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import path from 'node:path';
import { test, done, assert, eq, startServer, raw } from '../server/lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const script = path.join(process.env.GPTOSS_TMP, 'headers_script.txt');
fs.writeFileSync(script, '* => <|channel|>final<|message|>Hi<|return|>\n');
const srv = await startServer(process.env.GPTOSS_DOUBLE,
  ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--api-key', 'sekret'], { SERVER_DOUBLE_SCRIPT: script });

const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/icon.svg': ['icon.svg', 'image/svg+xml'],
};
const etags = {};
for (const [url, [file, type]] of Object.entries(files)) {
  await test(`GET ${url}: ${file} byte for byte, ${type}, CSP, ETag, no API key needed`, async () => {
    const r = await raw(srv.port, 'GET', url);
    eq(r.status, 200, 'status');
    eq(r.headers['content-type'], type, 'Content-Type');
    const want = fs.readFileSync(path.join(root, 'app/server/page', file), 'utf8');
    assert(want.length > 100, `the source file ${file} is there`);
    assert(r.body === want, `the body is not app/server/page/${file} (${r.body.length} vs ${want.length} characters): is the build stale?`);
    const csp = r.headers['content-security-policy'] || '';
    assert(/(^|; )default-src 'self'(;|$)/.test(csp), `CSP default-src: ${csp}`);
    assert(/(^|; )script-src 'self'(;|$)/.test(csp) && !/unsafe-inline|unsafe-eval|\*|https?:/.test(csp), `CSP: ${csp}`);
    assert(/frame-ancestors 'none'/.test(csp), 'not framed');
    eq(r.headers['x-content-type-options'], 'nosniff');
    assert(/^"[0-9a-f]{16}"$/.test(r.headers.etag || ''), `ETag ${r.headers.etag}`);
    eq(r.headers['cache-control'], 'no-cache', 'revalidated each time');
    etags[url] = r.headers.etag;
  });
}

await test('each file has its own ETag; / and /index.html the same', async () => {
  eq(etags['/'], etags['/index.html']);
  eq(new Set(Object.values(etags)).size, 4, 'distinct tags');
});

await test('If-None-Match with the ETag: 304 and no body; another tag: 200', async () => {
  const r = await raw(srv.port, 'GET', '/', undefined, { 'If-None-Match': `"0000000000000000", W/${etags['/']}` });
  eq(r.status, 304);
  eq(r.body, '');
  eq(r.headers.etag, etags['/']);
  const r2 = await raw(srv.port, 'GET', '/', undefined, { 'If-None-Match': '"0000000000000000"' });
  eq(r2.status, 200);
  assert(r2.body.includes('<title>'), 'the page');
});

await test('HEAD / has the headers and no body; POST / is a 405; /nope is a 404; /v1/ still needs the key', async () => {
  const h = await raw(srv.port, 'HEAD', '/');
  eq(h.status, 200);
  eq(h.headers['content-type'], 'text/html; charset=utf-8');
  eq(h.body, '');
  const p = await raw(srv.port, 'POST', '/', '{}', { 'Content-Type': 'application/json' });
  eq(p.status, 405);
  eq(p.json?.error?.code, 'method_not_allowed');
  const n = await raw(srv.port, 'GET', '/nope.js');
  eq(n.status, 404);
  eq(n.json?.error?.code, 'unknown_url');
  const m = await raw(srv.port, 'GET', '/v1/models');
  eq(m.status, 401);
  const m2 = await raw(srv.port, 'GET', '/v1/models', undefined, { Authorization: 'Bearer sekret' });
  eq(m2.status, 200);
});

await test('the page refers only to its own files (no external URL to load)', async () => {
  const html = fs.readFileSync(path.join(root, 'app/server/page/index.html'), 'utf8');
  const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
  eq(refs.sort(), ['#prompt', '/app.js', '/icon.svg', '/style.css'].sort());
  assert(!/<script>|<style>|\son\w+=/i.test(html), 'no inline script, style or handler (the CSP would refuse them)');
});

const stopped = await srv.stop();
await test('the server shut down cleanly on SIGTERM (no sanitizer report)', async () => {
  eq(stopped.code, 0, `exit status (stderr: ${stopped.stderr.slice(-2000)})`);
  assert(!/Sanitizer|runtime error/.test(stopped.stderr), stopped.stderr.slice(-3000));
});
done();
