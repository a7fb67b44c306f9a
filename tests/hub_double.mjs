// hub_double.mjs: a loopback stand-in for the Hugging Face Hub that `gptoss pull` is tested against
// (tests/t_pull.sh). It serves the API shapes huggingface_hub reads (/api/models/R/revision/REV: sha,
// siblings; /api/models/R/tree/REV?recursive=true: paginated with Link headers, per file size, oid
// and lfs {oid, size}; POST /api/models/R/paths-info/REV, which @huggingface/hub asks), /R/resolve/REV/PATH with X-Repo-Commit and ETag (small files answered
// directly, LFS files with a 302 to a second "CDN" path carrying X-Linked-Etag and X-Linked-Size),
// Range requests, and the Hub's errors (401 for a bad token, 403 X-Error-Code: GatedRepo, 404
// RepoNotFound / RevisionNotFound). Repositories are folders on disk. For the tests it counts the
// bytes it serves, and on request cuts a CDN answer after N bytes, corrupts one, or redirects to a
// file: URL (GET /_control?..., GET /_stats). Node's standard library only; 127.0.0.1, a free port,
// printed on stdout.
//   node hub_double.mjs --repo OWNER/NAME=DIR [--gated OWNER/NAME=DIR] [--token TOKEN] [--page N]
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const repos = new Map(); // id -> {commit, files: [{path, size, sha1, sha256, lfs, abs}], gated}
let goodToken = null;
let pageSize = 2;

function walk(dir, base = dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(abs, base));
    else if (e.isFile()) out.push(path.relative(base, abs));
  }
  return out;
}

function loadRepo(spec, gated) {
  const eq = spec.indexOf('=');
  const id = spec.slice(0, eq);
  const dir = spec.slice(eq + 1);
  const files = walk(dir).map((p) => {
    const data = fs.readFileSync(path.join(dir, p));
    // the git blob id huggingface_hub names small files by; LFS files are named by their sha256
    const sha1 = crypto.createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
    const sha256 = crypto.createHash('sha256').update(data).digest('hex');
    return { path: p, size: data.length, sha1, sha256, lfs: p.endsWith('.safetensors'), abs: path.join(dir, p) };
  });
  const commit = crypto.createHash('sha1').update(files.map((f) => `${f.path} ${f.sha1}\n`).join('')).digest('hex');
  repos.set(id, { commit, files, gated });
}

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--repo') loadRepo(args[++i], false);
  else if (args[i] === '--gated') loadRepo(args[++i], true);
  else if (args[i] === '--token') goodToken = args[++i];
  else if (args[i] === '--page') pageSize = Number(args[++i]);
  else throw new Error(`unknown argument ${args[i]}`);
}

// what the tests can ask for (GET /_control?...): cut = bytes after which the next CDN answer whose
// range holds more is cut (once), corrupt = 1 flips a byte of every CDN answer (2: of every file
// answer, small files too), norange = 1 ignores Range headers (a 200 with the whole file), scheme = file makes
// the redirect point at file:///etc/passwd
const control = { cut: 0, corrupt: 0, scheme: 'http', norange: false };
const stats = { bytes: 0, cdn: [], requests: [], cdnAuth: 0 };

function authOf(req) {
  const h = req.headers.authorization || '';
  return h.startsWith('Bearer ') ? h.slice(7) : null;
}

function hubError(res, status, code, message) {
  const headers = { 'Content-Type': 'application/json', 'X-Error-Message': message };
  if (code) headers['X-Error-Code'] = code;
  res.writeHead(status, headers);
  res.end(JSON.stringify({ error: message }));
}

// Range: bytes=A- (what the client sends when it resumes)
function parseRange(req, size) {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return { start, end };
}

function sendFile(req, res, file, headers, isCdn) {
  const data = fs.readFileSync(file.abs);
  const range = control.norange ? null : parseRange(req, data.length);
  if (range && range.start >= data.length) {
    res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
    res.end();
    return;
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : data.length - 1;
  let body = Buffer.from(data.subarray(start, end + 1));
  if ((control.corrupt === 2 || (isCdn && control.corrupt === 1)) && body.length) body[Math.floor(body.length / 2)] ^= 0xff;
  const h = { ...headers, 'Content-Length': body.length, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
  if (range) h['Content-Range'] = `bytes ${start}-${end}/${data.length}`;
  res.writeHead(range ? 206 : 200, h);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (isCdn) stats.cdn.push({ sha256: file.sha256, start, length: body.length });
  if (isCdn && control.cut && body.length > control.cut) {
    const n = control.cut;
    control.cut = 0;
    stats.bytes += n;
    stats.cdn[stats.cdn.length - 1].length = n;
    res.write(body.subarray(0, n), () => setTimeout(() => req.socket.destroy(), 20));
    return;
  }
  stats.bytes += body.length;
  res.end(body);
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const p = decodeURIComponent(u.pathname);
  stats.requests.push(`${req.method} ${u.pathname}${u.search}`);
  if (p === '/_control') {
    for (const [k, v] of u.searchParams) {
      if (k === 'cut') control.cut = Number(v);
      else if (k === 'corrupt') control.corrupt = Number(v);
      else if (k === 'scheme') control.scheme = v;
      else if (k === 'norange') control.norange = v === '1';
      else if (k === 'reset') { stats.bytes = 0; stats.cdn = []; stats.requests = []; stats.cdnAuth = 0; }
    }
    res.end('ok\n');
    return;
  }
  if (p === '/_stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  if (p.startsWith('/_repo/')) { // the test's view of a repository: its commit
    const r = repos.get(p.slice(7));
    res.end(r ? `${r.commit}\n` : '\n');
    return;
  }
  const token = authOf(req);
  if (token !== null && token !== goodToken) {
    hubError(res, 401, null, 'Invalid credentials in Authorization header');
    return;
  }
  const port = server.address().port;
  const base = `http://127.0.0.1:${port}`;
  let m;
  if (req.method === 'POST' && (m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/(.+)$/.exec(p))) {
    const [, id, rev] = m;
    const repo = repos.get(id);
    if (!repo) return hubError(res, 404, 'RepoNotFound', `Repository Not Found for url: ${base}${u.pathname}.`);
    if (rev !== 'main' && rev !== repo.commit) return hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const want = JSON.parse(body || '{}').paths || [];
      const out = repo.files.filter((f) => want.includes(f.path)).map((f) => {
        const e = { type: 'file', oid: f.sha1, size: f.size, path: f.path, lastCommit: { id: repo.commit, title: 'c', date: '2026-01-01T00:00:00.000Z' } };
        if (f.lfs) e.lfs = { oid: f.sha256, size: f.size, pointerSize: 134 };
        return e;
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(out));
    });
    return;
  }
  if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(p))) {
    const [, id, kind, rev] = m;
    const repo = repos.get(id);
    if (!repo) return hubError(res, 404, 'RepoNotFound', `Repository Not Found for url: ${base}${u.pathname}.`);
    if (rev !== 'main' && rev !== repo.commit) {
      return hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    }
    if (kind === 'revision') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        _id: repo.commit.slice(0, 24), id, modelId: id, author: id.split('/')[0], sha: repo.commit,
        private: false, gated: repo.gated ? 'manual' : false, disabled: false, tags: [],
        siblings: repo.files.map((f) => ({ rfilename: f.path })),
      }));
      return;
    }
    // the tree: directories and files, a page at a time
    const entries = [];
    const dirs = new Set();
    for (const f of repo.files) {
      const parts = f.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!dirs.has(d)) { dirs.add(d); entries.push({ type: 'directory', oid: '0'.repeat(40), size: 0, path: d }); }
      }
      const e = { type: 'file', oid: f.sha1, size: f.size, path: f.path };
      if (f.lfs) e.lfs = { oid: f.sha256, size: f.size, pointerSize: 134 };
      entries.push(e);
    }
    const start = Number(u.searchParams.get('cursor') || 0);
    const page = entries.slice(start, start + pageSize);
    const headers = { 'Content-Type': 'application/json' };
    if (start + pageSize < entries.length) {
      headers.Link = `<${base}/api/models/${id}/tree/${encodeURIComponent(rev)}?recursive=true&cursor=${start + pageSize}>; rel="next"`;
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify(page));
    return;
  }
  if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p))) {
    const [, id, rev, file] = m;
    const repo = repos.get(id);
    if (!repo) return hubError(res, 404, 'RepoNotFound', `Repository Not Found for url: ${base}${u.pathname}.`);
    if (rev !== 'main' && rev !== repo.commit) return hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    if (repo.gated && token !== goodToken) {
      return hubError(res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. ` +
        `Visit https://huggingface.co/${id} to ask for access.`);
    }
    const f = repo.files.find((x) => x.path === file);
    if (!f) return hubError(res, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`);
    const headers = { 'X-Repo-Commit': repo.commit };
    if (f.lfs) {
      headers['X-Linked-Etag'] = `"${f.sha256}"`;
      headers['X-Linked-Size'] = String(f.size);
      headers.ETag = `"${f.sha256}"`;
      // the CDN is another host name for the same server, as cdn-lfs.huggingface.co is for the Hub:
      // a client must not send it the token
      headers.Location = control.scheme === 'file' ? 'file:///etc/passwd'
        : `http://localhost:${port}/cdn/${f.sha256}?expires=9999999999`;
      res.writeHead(302, headers);
      res.end();
      return;
    }
    headers.ETag = `"${f.sha1}"`;
    sendFile(req, res, f, headers, false);
    return;
  }
  if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(p))) {
    if (req.headers.authorization) stats.cdnAuth++;
    for (const repo of repos.values()) {
      const f = repo.files.find((x) => x.sha256 === m[1] && x.lfs);
      if (f) return sendFile(req, res, f, { ETag: `"${f.sha256}"` }, true);
    }
  }
  hubError(res, 404, null, 'not found');
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
