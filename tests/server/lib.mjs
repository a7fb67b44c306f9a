// lib.mjs: starting `gptoss serve` (or the test double) on 127.0.0.1 with a free port, a tiny TAP
// harness ("ok - ..." / "not ok - ..."), and raw HTTP for what the openai client cannot send.
// Tests wait for what they check (a /metrics value, a line, an exit) with waitFor; every deadline only
// stops a hang, so it is generous and multiplied by GPTOSS_TEST_TIME_SCALE (set by tests/run.sh:
// larger under sanitizers; see tests/lib.sh).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

// How much longer than on a quiet machine a wait may take before it counts as a hang.
export const timeScale = Math.max(1, Math.floor(Number(process.env.GPTOSS_TEST_TIME_SCALE)) || 1);

let failures = 0;
export async function test(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}`);
    console.log(`# ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n# ')}`);
  }
}
export function done() { process.exitCode = failures ? 1 : 0; }
export function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }
export function eq(a, b, msg) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${msg || 'not equal'}: got ${sa}, want ${sb}`);
}
// Two results of requests that must agree (not a result and a literal): each must be something
// (not undefined, null, NaN, '', [] or {}), so two missing fields never pass as equal.
export function same(a, b, msg) {
  const nothing = (v) => v === undefined || v === null || Number.isNaN(v) || v === '' ||
    (typeof v === 'object' && Object.keys(v).length === 0);
  if (nothing(a) || nothing(b)) {
    throw new Error(`${msg || 'same'}: the ${nothing(a) ? 'first' : 'second'} result is empty: ` +
      `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  eq(a, b, msg);
}

// Starts the server; resolves with {port, url, proc, stderr(), stop()}.
export function startServer(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, [...args, '--host', '127.0.0.1', '--port', '0'], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 60000 * timeScale);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({
          port, url: `http://127.0.0.1:${port}`, proc, stderr: () => err,
          stop: () => new Promise((res) => {
            if (proc.exitCode !== null) return res({ code: proc.exitCode, stderr: err });
            proc.on('exit', (code, sig) => res({ code, sig, stderr: err }));
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${err}`)); });
  });
}

// One raw HTTP request; resolves {status, headers, body, json}.
export function raw(port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Usage without the cached-token count (which depends on what the server ran before).
export function uncached(u) {
  const { prompt_tokens_details: _p, input_tokens_details: _i, ...rest } = u;
  return rest;
}

export async function metrics(port) {
  const r = await raw(port, 'GET', '/metrics');
  const m = {};
  for (const line of r.body.split('\n')) {
    const x = line.match(/^(\w+)(\{[^}]*\})? ([0-9.e+-]+)$/);
    if (x) m[x[1] + (x[2] || '')] = Number(x[3]);
  }
  return m;
}

// Polls fn until it is true; fails after ms x the time scale (a hang, not a slow machine).
export async function waitFor(fn, what = 'condition', ms = 60000) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return;
    if (Date.now() - t0 > ms * timeScale) throw new Error(`timed out waiting for ${what} (${ms * timeScale} ms)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function rssKiB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}

// Bytes written on a plain socket, for what http.request will not send (a bad request line, a huge
// head) or to half-close after sending (end: true calls socket.end() once written). Resolves
// {text (interim 1xx answers cut), statusLines (final ones), status, head, body, json} once the
// server closes the connection (or, with
// keepAlive, once one whole response with a Content-Length has come); ms x the time scale is a hang.
export function rawSocket(port, data, { end = false, keepAlive = false, ms = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer in ${ms * timeScale} ms`)); }, ms * timeScale);
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      let text = Buffer.concat(chunks).toString('latin1');
      // interim 1xx answers come before the final one; a client skips them
      while (/^HTTP\/\d\.\d 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/.test(text)) text = text.replace(/^HTTP\/\d\.\d 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/, '');
      const statusLines = (text.match(/^HTTP\/\d\.\d [2-5]\d\d/gm) || []).length;
      const cut = text.indexOf('\r\n\r\n');
      const head = cut < 0 ? text : text.slice(0, cut);
      const body = cut < 0 ? '' : Buffer.from(text.slice(cut + 4), 'latin1').toString('utf8');
      const m = head.match(/^HTTP\/\d\.\d (\d{3})/);
      let json = null;
      try { json = JSON.parse(body); } catch { /* not JSON */ }
      resolve({ text, statusLines, status: m ? Number(m[1]) : 0, head, body, json });
    };
    s.on('data', (c) => {
      chunks.push(c);
      if (!keepAlive) return;
      const t = Buffer.concat(chunks).toString('latin1');
      const cut = t.indexOf('\r\n\r\n'), len = t.match(/\r\ncontent-length: *(\d+)/i);
      if (cut >= 0 && len && Buffer.byteLength(t, 'latin1') >= cut + 4 + Number(len[1])) { s.destroy(); finish(); }
    });
    s.on('error', () => {}); // a reset after the answer: what came is what is judged
    s.on('close', finish);
    s.write(data, () => { if (end) s.end(); });
  });
}
