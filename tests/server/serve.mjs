// serve.mjs: how `gptoss serve` names its model and what it writes on stderr, on the scripted double
// (tests/server_double.c: the server's own code): the id of a GGUF file and of a Hugging Face cache
// folder and the names a request may use for it; a port in use fails in one line; a line per request
// (none with --quiet), with no API key in it; a client that goes away is a 499 / "client went away"
// line, not libmicrohttpd's "internal error"; libmicrohttpd's messages only with GPTOSS_SERVE_DEBUG;
// the warning for a non-loopback address without an API key (checked in a network namespace of its
// own, so nothing outside can reach that server).
// env: GPTOSS_DOUBLE (binary), GPTOSS_TOKENIZER, GPTOSS_TMP.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, raw, metrics, waitFor, timeScale } from './lib.mjs';

const tmp = process.env.GPTOSS_TMP;
const bin = process.env.GPTOSS_DOUBLE;
const script = path.join(tmp, 'serve_script.txt');
fs.writeFileSync(script, [
  'LONG => <|channel|>final<|message|>' + 'word '.repeat(400) + '<|return|>',
  '* => <|channel|>analysis<|message|>Thinking about it.<|end|><|start|>assistant<|channel|>final<|message|>Hello, world!<|return|>',
].join('\n') + '\n');
const env = { SERVER_DOUBLE_SCRIPT: script };
const tokenizer = ['--tokenizer', process.env.GPTOSS_TOKENIZER];

// A process with its output collected; `closed` resolves with its exit code once its output is all read.
function launch(cmd, args, extraEnv = {}) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { proc, out: '', err: '' };
  proc.stdout.on('data', (d) => { p.out += d; });
  proc.stderr.on('data', (d) => { p.err += d; });
  p.closed = new Promise((res) => proc.on('close', (code) => res(code)));
  return p;
}
// Stops a server started by startServer; resolves with all it wrote on stderr.
async function stopAll(srv) {
  const closed = new Promise((res) => (srv.proc.exitCode !== null ? res() : srv.proc.on('close', res)));
  srv.proc.kill('SIGTERM');
  await closed;
  return srv.stderr();
}
const lines = (text) => text.split('\n').filter((l) => l);
// Rejects after ms x the time scale: only there to stop a hang.
const timeout = (ms, what) =>
  new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms * timeScale));

// ---- the model's id and the names a request may use ----------------------------------------------
async function namesOf(modelPath) {
  const srv = await startServer(bin, [modelPath, ...tokenizer], env);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const ids = (await client.models.list()).data.map((m) => m.id);
  const accepts = async (model) => {
    const r = await raw(srv.port, 'POST', '/v1/chat/completions',
      JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }), { 'Content-Type': 'application/json' });
    if (r.status === 200) eq(r.json.model, ids[0], `the reply names the served id (asked ${model})`);
    else eq(r.json.error.code, 'model_not_found', `${model}: ${r.body}`);
    return r.status;
  };
  return { srv, client, ids, accepts };
}

await test('model id: a Hugging Face cache snapshot is openai/gpt-oss-20b; gpt-oss-20b, gpt-oss:20b and the repo id are accepted, others 404', async () => {
  const m = await namesOf(path.join(tmp, 'hub', 'models--openai--gpt-oss-20b', 'snapshots', '0123abcd'));
  try {
    eq(m.ids, ['openai/gpt-oss-20b']);
    for (const name of ['openai/gpt-oss-20b', 'gpt-oss-20b', 'gpt-oss:20b', 'GPT-OSS-20B']) eq(await m.accepts(name), 200, name);
    for (const name of ['gpt-oss-120b', 'gpt-oss:120b', 'gpt-4o', '0123abcd']) eq(await m.accepts(name), 404, name);
    const r = await m.client.responses.create({ model: 'gpt-oss:20b', input: 'hi' });
    eq(r.model, 'openai/gpt-oss-20b');
    eq((await m.client.models.retrieve('gpt-oss-20b')).id, 'openai/gpt-oss-20b');
    let status = 0;
    await m.client.models.retrieve('gpt-oss-120b').catch((e) => { status = e.status; });
    eq(status, 404);
  } finally { await stopAll(m.srv); }
  const folder = await namesOf(path.join(tmp, 'hub', 'models--openai--gpt-oss-120b') + '/');
  try {
    eq(folder.ids, ['openai/gpt-oss-120b'], 'the cache folder itself');
    eq(await folder.accepts('gpt-oss:120b'), 200);
    eq(await folder.accepts('gpt-oss-20b'), 404);
  } finally { await stopAll(folder.srv); }
});

await test('model id: a GGUF file is its name without .gguf (in the cache, its repo id is accepted too); a directory keeps its name', async () => {
  const g = await namesOf(path.join(tmp, 'gguf', 'gpt-oss-20b-mxfp4.gguf'));
  try {
    eq(g.ids, ['gpt-oss-20b-mxfp4']);
    for (const name of ['gpt-oss-20b-mxfp4', 'gpt-oss-20b', 'gpt-oss:20b', 'openai/gpt-oss-20b']) eq(await g.accepts(name), 200, name);
    eq(await g.accepts('gpt-oss-20b-mxfp4.gguf'), 404);
  } finally { await stopAll(g.srv); }
  const c = await namesOf(path.join(tmp, 'hub', 'models--ggml-org--gpt-oss-120b-GGUF', 'snapshots', 'abc', 'gpt-oss-120b-mxfp4.gguf'));
  try {
    eq(c.ids, ['gpt-oss-120b-mxfp4'], 'a GGUF in the Hugging Face cache');
    for (const name of ['ggml-org/gpt-oss-120b-GGUF', 'gpt-oss-120b', 'gpt-oss:120b', 'openai/gpt-oss-120b']) eq(await c.accepts(name), 200, name);
    eq(await c.accepts('gpt-oss-20b'), 404);
  } finally { await stopAll(c.srv); }
  const d = await namesOf(path.join(tmp, 'mymodel', 'original'));
  try {
    eq(d.ids, ['mymodel']);
    eq(await d.accepts('mymodel'), 200);
    eq(await d.accepts('gpt-oss-20b'), 404, 'nothing says which model it is');
  } finally { await stopAll(d.srv); }
  fs.mkdirSync(path.join(tmp, 'gpt-oss-20b', 'original'), { recursive: true });
  const dots = await namesOf(path.join(tmp, 'gpt-oss-20b', 'original', '..'));
  try {
    eq(dots.ids, ['gpt-oss-20b'], 'a path ending in .. names the directory it means');
    eq(await dots.accepts('gpt-oss:20b'), 200);
  } finally { await stopAll(dots.srv); }
});

// ---- stderr: a port in use, the request lines, --quiet --------------------------------------------
await test('bind: a port in use fails with status 1 and one line on stderr', async () => {
  const first = await startServer(bin, ['double-model', ...tokenizer], env);
  try {
    const second = launch(bin, ['double-model', ...tokenizer, '--host', '127.0.0.1', '--port', String(first.port)], env);
    const code = await Promise.race([second.closed, timeout(30000, 'the second server to exit')]);
    eq(code, 1, 'exit status');
    eq(lines(second.err).length, 1, `one line: ${JSON.stringify(second.err)}`);
    assert(second.err.startsWith(`gptoss: serve: cannot listen on 127.0.0.1:${first.port}: Address already in use`), second.err);
  } finally { await stopAll(first); }
});

await test('log: a line per request (method, path, status, tokens in/out, seconds), no API key in it', async () => {
  const key = 'sekret-key-123', wrong = 'wrong-key-456';
  const srv = await startServer(bin, ['double-model', ...tokenizer, '--api-key', key], env);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: key, maxRetries: 0 });
  let err;
  try {
    const chat = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'hi' }] });
    let resp = null;
    for await (const ev of await client.responses.create({ model: 'double-model', input: 'hi', stream: true }))
      if (ev.type === 'response.completed') resp = ev.response;
    const bad = await raw(srv.port, 'GET', '/v1/models', undefined, { Authorization: `Bearer ${wrong}` });
    eq(bad.status, 401);
    const query = await raw(srv.port, 'GET', `/v1/models?api_key=${key}`, undefined, { Authorization: `Bearer ${key}` });
    eq(query.status, 200);
    const invalid = await raw(srv.port, 'POST', '/v1/chat/completions', '{"messages": []}',
      { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` });
    eq(invalid.status, 400);
    eq((await raw(srv.port, 'GET', '/health')).status, 200);
    await metrics(srv.port);
    await waitFor(() => lines(srv.stderr()).length >= 5, 'five request lines');
    err = await stopAll(srv);
    const l = lines(err);
    const re = /^gptoss serve: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d (GET|POST) (\S+) (\d{3}) in=(\d+) out=(\d+) \d+\.\d{3}s$/;
    const reqs = l.filter((x) => re.test(x)).map((x) => x.match(re).slice(1));
    // A line is written when its request ends, which may be just after the client has read the reply.
    eq(reqs.map((x) => `${x[0]} ${x[1]} ${x[2]}`).sort(), ['GET /v1/models 200', 'GET /v1/models 401',
      'POST /v1/chat/completions 200', 'POST /v1/chat/completions 400', 'POST /v1/responses 200'], `the request lines of ${err}`);
    const tokens = (what) => reqs.find((x) => `${x[0]} ${x[1]} ${x[2]}` === what).slice(3).map(Number);
    eq(tokens('POST /v1/chat/completions 200'), [chat.usage.prompt_tokens, chat.usage.completion_tokens], 'chat tokens');
    eq(tokens('POST /v1/responses 200'), [resp.usage.input_tokens, resp.usage.output_tokens], 'streamed responses tokens');
    eq(tokens('GET /v1/models 401'), [0, 0], 'no tokens');
    eq(l.length, reqs.length + 1, `only request lines and the shutdown line (not /health, /metrics): ${err}`);
    assert(!err.includes(key) && !err.includes(wrong) && !/bearer|authorization/i.test(err), `no key in the log: ${err}`);
  } finally { if (!err) await stopAll(srv); }
});

await test('--quiet: no request lines', async () => {
  const srv = await startServer(bin, ['double-model', ...tokenizer, '--quiet'], env);
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'hi' }] });
  eq(r.choices[0].message.content, 'Hello, world!');
  eq((await raw(srv.port, 'GET', '/nowhere')).status, 404);
  eq(await stopAll(srv), 'gptoss serve: signal 15, shutting down\n');
});

// ---- clients that go away, libmicrohttpd's own messages -------------------------------------------
// A Content-Length that is not a number, a chunked body with a malformed chunk size: the server's
// front answers 400 in JSON and logs a line (libmicrohttpd never sees them). A client that goes away
// while its plain answer is computed: libmicrohttpd says it could not send it, in a message of its
// own, printed only with GPTOSS_SERVE_DEBUG.
function sendRaw(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let data = '';
    s.on('data', (d) => { data += d; s.end(); });
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });
}
const badLength = (port) => sendRaw(port, 'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
const badChunk = (port) => sendRaw(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n');

await test('disconnects: a client that goes away (plain or streaming) is a quiet 499 / "client went away" line', async () => {
  const srv = await startServer(bin, ['double-model', ...tokenizer, '--parallel', '1'], { ...env, SERVER_DOUBLE_DELAY_MS: '20' });
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  const req = { model: 'double-model', messages: [{ role: 'user', content: 'LONG' }] };
  let err;
  try {
    const a = new AbortController();
    const p = client.chat.completions.create(req, { signal: a.signal }).catch(() => 'aborted');
    await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 1, 'the plain request to run');
    a.abort();
    eq(await p, 'aborted');
    await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 0, 'the slot to be freed');
    const b = new AbortController();
    const s = await client.chat.completions.create({ ...req, stream: true }, { signal: b.signal });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    b.abort();
    await waitFor(() => (srv.stderr().match(/client went away/g) || []).length >= 2, 'two "client went away" lines');
    const bl = await badLength(srv.port);
    assert(bl.startsWith('HTTP/1.1 400') && /"code":"invalid_content_length"/.test(bl), `the head check answers 400: ${bl}`);
    const bc = await badChunk(srv.port);
    assert(bc.startsWith('HTTP/1.1 400') && /"code":"invalid_chunked_body"/.test(bc), `the front answers 400: ${bc}`);
    eq((await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'hi' }] }))
      .choices[0].message.content, 'Hello, world!', 'the server goes on');
    err = await stopAll(srv);
    const l = lines(err);
    assert(l.some((x) => / POST \/v1\/chat\/completions 499 in=\d+ out=\d+ \S+ \(client went away\)$/.test(x)), `plain: ${err}`);
    assert(l.some((x) => / POST \/v1\/chat\/completions 200 in=\d+ out=\d+ \S+ \(client went away\)$/.test(x)), `streaming: ${err}`);
    assert(l.some((x) => / - - 400 \(Content-Length must be a number of bytes\.\)$/.test(x)), `the bad head's line: ${err}`);
    assert(!/internal error|Application reported|libmicrohttpd|Error processing/i.test(err), `nothing from libmicrohttpd: ${err}`);
    assert(l.every((x) => x.startsWith('gptoss serve: ')), `only gptoss's lines: ${err}`);
  } finally { if (!err) await stopAll(srv); }
});

await test('GPTOSS_SERVE_DEBUG: libmicrohttpd\'s messages come out as gptoss serve lines', async () => {
  const srv = await startServer(bin, ['double-model', ...tokenizer], { ...env, GPTOSS_SERVE_DEBUG: '1',
    SERVER_DOUBLE_DELAY_MS: '20' });
  const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
  // a plain request whose client leaves while it runs: libmicrohttpd cannot send the 499's headers
  const a = new AbortController();
  const p = client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'LONG' }] },
    { signal: a.signal }).catch(() => 'aborted');
  await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 1, 'the request to run');
  a.abort();
  eq(await p, 'aborted');
  await waitFor(() => /^gptoss serve: libmicrohttpd: .*Failed to send/m.test(srv.stderr()), 'libmicrohttpd\'s message');
  await stopAll(srv);
});

// ---- the warning for a non-loopback address without a key ------------------------------------------
// `unshare -rn` runs the server in a network namespace of its own: 0.0.0.0 there is reachable from
// nowhere else.
const isolated = spawnSync('unshare', ['-rn', 'true']).status === 0;
async function bindIsolated(extra) {
  const p = launch('unshare', ['-rn', bin, 'double-model', ...tokenizer, '--host', '0.0.0.0', '--port', '0', ...extra], env);
  await Promise.race([waitFor(() => p.out.includes('listening on http://0.0.0.0:'), 'the server to listen'),
    p.closed.then((code) => { throw new Error(`server exited ${code}: ${p.err}`); })]);
  p.proc.kill('SIGTERM');
  eq(await p.closed, 0, 'exit status');
  return lines(p.err);
}
if (!isolated) {
  console.log('ok - warning: non-loopback address without an API key # SKIP unshare -rn (user and network namespaces) is not allowed here');
} else {
  await test('warning: a non-loopback address without an API key is warned about, once; with a key it is not', async () => {
    const l = await bindIsolated([]);
    const w = l.filter((x) => x.includes('warning'));
    eq(w.length, 1, `one warning: ${l}`);
    assert(/^gptoss serve: warning: 0\.0\.0\.0 is not a loopback address and no API key is set/.test(w[0]), w[0]);
    const k = await bindIsolated(['--api-key', 'k']);
    eq(k, ['gptoss serve: signal 15, shutting down'], 'with a key: no warning');
  });
}
done();
