// hardening.mjs: what one client may send `gptoss serve` without stalling it or reading others' state
// (issue 25): bodies with bytes after the JSON object, tool schemas deeper than the prompt renderer
// takes, response ids (128 random bits each, not a counter), requests of 20,000 tool results (one
// index of call ids, and --max-items), a 3.9 MB prompt refused on its bytes before it is tokenized,
// malformed request heads (raw sockets: JSON errors, one status line each), clients that half-close
// after their request, cached prompt prefixes kept per API key and user, the Responses store within
// --max-stored-bytes, its resident size for chained 3.9 MB uploads (each turn kept once, unrendered
// fields not at all), a continued conversation rendered whole after its earlier responses left the
// store, metadata limits.
// Times are printed as "# ..." lines; what is asserted is only a hang guard (x GPTOSS_TEST_TIME_SCALE).
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP, GPTOSS_BIN, GPTOSS_MODEL.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, done, assert, eq, startServer, raw, rawSocket, metrics, waitFor, timeScale } from './lib.mjs';

const tmp = process.env.GPTOSS_TMP;
const script = path.join(tmp, 'hardening_script.txt');
fs.writeFileSync(script, [
  'weather => <|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
  'SLOW => <|channel|>final<|message|>' + 'word '.repeat(40) + '<|return|>',
  '* => <|channel|>analysis<|message|>Thinking.<|end|><|start|>assistant<|channel|>final<|message|>Hello.<|return|>',
].join('\n') + '\n');
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: {
  type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const rtools = [{ type: 'function', name: 'get_weather', parameters: tools[0].function.parameters }];
const json = { 'Content-Type': 'application/json' };
const user = [{ role: 'user', content: 'x' }];

const double = (extra = []) => startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer',
  process.env.GPTOSS_TOKENIZER, '--ctx-size', '1024', '--max-body', String(16 << 20), '--quiet', ...extra],
{ SERVER_DOUBLE_SCRIPT: script });
const srv = await double();
const post = (p, body, s = srv) => raw(s.port, 'POST', p, typeof body === 'string' ? body : JSON.stringify(body), json);
function isError(r, status, param, code) {
  eq(r.status, status, `status (${r.body.slice(0, 300)})`);
  assert(r.json && r.json.error && typeof r.json.error.message === 'string' && r.json.error.message, 'OpenAI error object');
  if (param !== undefined) eq(r.json.error.param, param, `param (${r.json.error.message})`);
  if (code !== undefined) eq(r.json.error.code, code, `code (${r.json.error.message})`);
}
async function timed(what, fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`# ${what}: ${ms.toFixed(0)} ms`);
  return { r, ms };
}

await test('hardening: a body with bytes after its JSON object is 400 invalid_json; trailing whitespace is fine', async () => {
  const one = JSON.stringify({ messages: user });
  for (const body of [`${one} x`, `${one}${one}`, `${one}\u0000`, `${one} {}`])
    isError(await post('/v1/chat/completions', body), 400, null, 'invalid_json');
  isError(await post('/v1/responses', '{"input": "x"} trailing'), 400, null, 'invalid_json');
  const ok = await post('/v1/chat/completions', `${one} \r\n\t `);
  eq(ok.status, 200, `whitespace after the object (${ok.body.slice(0, 200)})`);
  assert(ok.json.choices[0].message.content, 'an answer');
  const rok = await post('/v1/responses', '{"input": "x"}\n');
  eq(rok.status, 200, `Responses, a newline after the object (${rok.body.slice(0, 200)})`);
});

// {"type": "object", "properties": {"a": ...}} `levels` times: twice as many JSON nesting levels
function nested(levels) {
  let s = { type: 'string' };
  for (let i = 0; i < levels; i++) s = { type: 'object', properties: { a: s } };
  return s;
}

await test('hardening: a tool schema deeper than the prompt renderer takes is 400 naming tools', async () => {
  const deep = nested(200); // 400 levels: within cJSON's limit, beyond the renderer's
  const chat = await post('/v1/chat/completions', { messages: user,
    tools: [tools[0], { type: 'function', function: { name: 'deep', parameters: deep } }] });
  isError(chat, 400, 'tools', 'invalid_value');
  assert(/tools\[1\]/.test(chat.json.error.message), `names the tool: ${chat.json.error.message}`);
  isError(await post('/v1/responses', { input: 'x', tools: [{ type: 'function', name: 'deep', parameters: deep }] }),
    400, 'tools', 'invalid_value');
  const fine = await post('/v1/chat/completions', { messages: user,
    tools: [{ type: 'function', function: { name: 'shallow', parameters: nested(8) } }] });
  eq(fine.status, 200, `a schema 16 levels deep is fine (${fine.body.slice(0, 200)})`);
});

const ID = { chatcmpl: /^chatcmpl-[0-9a-f]{32}$/, call: /^call_[0-9a-f]{32}$/, resp: /^resp_[0-9a-f]{32}$/,
  msg: /^msg_[0-9a-f]{32}$/, rs: /^rs_[0-9a-f]{32}$/, fc: /^fc_[0-9a-f]{32}$/ };
const bitsOf = (id) => BigInt(`0x${id.slice(id.length - 32)}`);
function differingBits(a, b) {
  let x = bitsOf(a) ^ bitsOf(b), n = 0;
  for (; x; x >>= 1n) n += Number(x & 1n);
  return n;
}

await test('hardening: ids are 128 random bits in hex (chatcmpl-, call_, resp_, msg_, rs_, fc_), all distinct', async () => {
  const ids = [];
  for (let i = 0; i < 24; i++) {
    const r = await post('/v1/chat/completions', { messages: user });
    eq(r.status, 200, 'chat');
    ids.push(r.json.id);
  }
  for (let i = 0; i < 8; i++) {
    const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'weather' }], tools });
    eq(r.status, 200, 'chat with a call');
    ids.push(r.json.id, r.json.choices[0].message.tool_calls[0].id);
  }
  for (let i = 0; i < 8; i++) {
    const r = await post('/v1/responses', { input: 'x' });
    eq(r.status, 200, 'responses');
    ids.push(r.json.id, ...r.json.output.map((it) => it.id));
    const c = await post('/v1/responses', { input: 'weather', tools: rtools });
    eq(c.status, 200, 'responses with a call');
    const fc = c.json.output.find((it) => it.type === 'function_call');
    assert(fc, 'a function_call item');
    ids.push(c.json.id, fc.id, fc.call_id);
  }
  const seen = new Set();
  for (const id of ids) {
    const prefix = id.match(/^[a-z]+/)[0];
    assert(ID[prefix], `a known prefix: ${id}`);
    assert(ID[prefix].test(id), `${id} is ${prefix} and 32 hex digits`);
    assert(!seen.has(id), `${id} given twice`);
    seen.add(id);
  }
  for (const p of Object.keys(ID)) assert(ids.some((id) => ID[p].test(id)), `some ${p} id`);
  // Random 128-bit ids differ in 64 bits on average (sd 5.7); a counter's successive values in a few.
  let fewest = 128;
  for (let i = 1; i < ids.length; i++) fewest = Math.min(fewest, differingBits(ids[i - 1], ids[i]));
  console.log(`# ${ids.length} ids; consecutive ones differ in at least ${fewest} of 128 bits`);
  assert(fewest >= 24, `two consecutive ids differ in only ${fewest} bits`);
});

await test('hardening: two servers started together give different first ids (not a counter and the clock)', async () => {
  const [a, b] = await Promise.all([double(), double()]);
  try {
    const [ra, rb] = await Promise.all([post('/v1/chat/completions', { messages: user }, a),
      post('/v1/chat/completions', { messages: user }, b)]);
    eq(ra.status, 200, 'first server');
    eq(rb.status, 200, 'second server');
    assert(ID.chatcmpl.test(ra.json.id) && ID.chatcmpl.test(rb.json.id), `ids ${ra.json.id} ${rb.json.id}`);
    assert(ra.json.id !== rb.json.id, `both servers' first id is ${ra.json.id}`);
    assert(differingBits(ra.json.id, rb.json.id) >= 24, `${ra.json.id} and ${rb.json.id} are alike`);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

// 20,000 tool results answering 20,000 calls of one assistant message, the last call first: a scan
// of every message for each result (what the server did) is 4e8 steps.
const N_CALLS = 20000;
function manyToolMessages() {
  const calls = [];
  for (let i = N_CALLS - 1; i >= 0; i--) calls.push({ id: `c${i}`, type: 'function', function: { name: 'get_weather', arguments: '{}' } });
  const msgs = [{ role: 'user', content: 'weather' }, { role: 'assistant', content: null, tool_calls: calls }];
  for (let i = 0; i < N_CALLS; i++) msgs.push({ role: 'tool', tool_call_id: `c${i}`, content: 's' });
  return JSON.stringify({ messages: msgs, tools });
}
function manyToolItems() {
  const items = [{ role: 'user', content: 'weather' }];
  for (let i = N_CALLS - 1; i >= 0; i--) items.push({ type: 'function_call', call_id: `c${i}`, name: 'get_weather', arguments: '{}' });
  for (let i = 0; i < N_CALLS; i++) items.push({ type: 'function_call_output', call_id: `c${i}`, output: 's' });
  return JSON.stringify({ input: items, tools: rtools });
}
const guard = 60000 * timeScale; // a hang, not a slow machine: quiet, each takes well under a second

await test('hardening: 20,000 tool messages are a quick 400 past --max-items (default 10000)', async () => {
  const body = manyToolMessages();
  const { r, ms } = await timed(`chat, ${N_CALLS} tool messages (${body.length} bytes), default --max-items`,
    () => post('/v1/chat/completions', body));
  isError(r, 400, 'messages', 'array_above_max_length');
  assert(/10000/.test(r.json.error.message), `says the limit: ${r.json.error.message}`);
  assert(ms < guard, `${ms} ms`);
  const items = manyToolItems();
  const { r: rr, ms: rms } = await timed(`responses, ${N_CALLS} call outputs, default --max-items`, () => post('/v1/responses', items));
  isError(rr, 400, 'input', 'array_above_max_length');
  assert(rms < guard, `${rms} ms`);
  eq((await post('/v1/chat/completions', { messages: user })).status, 200, 'the server still answers');
});

await test('hardening: with --max-items 50000, 20,000 tool messages find their calls in linear time (400: context)', async () => {
  const big = await double(['--max-items', '50000']);
  try {
    const { r, ms } = await timed(`chat, ${N_CALLS} tool messages, --max-items 50000`,
      () => post('/v1/chat/completions', manyToolMessages(), big));
    isError(r, 400, 'messages', 'context_length_exceeded');
    assert(ms < guard, `${ms} ms`);
    const { r: rr, ms: rms } = await timed(`responses, ${N_CALLS} call outputs, --max-items 50000`,
      () => post('/v1/responses', manyToolItems(), big));
    isError(rr, 400, 'input', 'context_length_exceeded');
    assert(rms < guard, `${rms} ms`);
    // the same lookups as before the index: the first call of an id wins, a later message's call counts
    const dup = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' },
      { role: 'assistant', tool_calls: [{ id: 'd', type: 'function', function: { name: 'first', arguments: '{}' } },
        { id: 'd', type: 'function', function: { name: 'second', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'd', content: 'r' },
      { role: 'tool', tool_call_id: 'later', content: 'r' },
      { role: 'assistant', tool_calls: [{ id: 'later', type: 'function', function: { name: 'third', arguments: '{}' } }] },
      { role: 'user', content: 'x' }] }, big);
    eq(dup.status, 200, `duplicate and later call ids (${dup.body.slice(0, 200)})`);
    isError(await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' },
      { role: 'tool', tool_call_id: 'nowhere', content: 'r' }] }, big), 400, 'messages');
  } finally {
    await big.stop();
  }
});

await test('hardening: 10,000 messages (the default limit) are accepted', async () => {
  const msgs = [];
  for (let i = 0; i < 10000; i++) msgs.push({ role: i % 2 ? 'assistant' : 'user', content: 'y' });
  const { r, ms } = await timed('chat, 10000 messages', () => post('/v1/chat/completions', { messages: msgs }));
  isError(r, 400, 'messages', 'context_length_exceeded'); // past the limit check: the prompt is 1024 tokens at most
  assert(ms < guard, `${ms} ms`);
});


// A head libmicrohttpd would refuse with its own HTML page (past its memory pool) reaches the server,
// whose limits (16 KiB of URI, 32 KiB of headers) are far below the pool (128 KiB).
function oneJsonError(r, status, code, what) {
  eq(r.statusLines, 1, `${what}: one status line (${JSON.stringify(r.text.slice(0, 300))})`);
  eq(r.status, status, `${what}: status`);
  assert(/\r\ncontent-type: application\/json/i.test(r.head), `${what}: JSON (${r.head})`);
  assert(r.json && r.json.error && typeof r.json.error.message === 'string' && r.json.error.message &&
    'type' in r.json.error && 'param' in r.json.error && 'code' in r.json.error, `${what}: an OpenAI error object: ${r.body.slice(0, 200)}`);
  if (code) eq(r.json.error.code, code, `${what}: code`);
}

await test('hardening: a 70 KB URI is 414 and 70 KB of headers 431, each one status line and a JSON error', async () => {
  const big = 'a'.repeat(70000);
  oneJsonError(await rawSocket(srv.port, `GET /v1/models/${big} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    414, 'uri_too_long', '70 KB URI');
  oneJsonError(await rawSocket(srv.port, `GET /health?q=${big} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    414, 'uri_too_long', '70 KB query');
  let headers = '';
  for (let i = 0; i < 10; i++) headers += `X-Filler-${i}: ${'h'.repeat(7000)}\r\n`;
  oneJsonError(await rawSocket(srv.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${headers}` +
    'Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'), 431,
  'request_header_fields_too_large', '70 KB of headers');
  oneJsonError(await rawSocket(srv.port, `GET /health HTTP/1.1\r\nHost: x\r\nX-One: ${big}\r\nConnection: close\r\n\r\n`),
    431, 'request_header_fields_too_large', 'one 70 KB header');
  // under the limits, on a kept-alive connection: answered as before
  const ok = await rawSocket(srv.port, `GET /health?q=${'a'.repeat(8000)} HTTP/1.1\r\nHost: x\r\nX-One: ${'b'.repeat(8000)}\r\n\r\n`,
    { keepAlive: true });
  eq(ok.status, 200, `8 KB of URI and of headers (${ok.head})`);
  eq(ok.json.status, 'ok', '/health');
});

// What libmicrohttpd 0.9.75 answers itself, before any callback of the server's: an unsupported HTTP
// version (505), a malformed request or header line (400), a Content-Length that is not a number or
// overflows 64 bits (400 / 413, its status line and headers sent twice: a bug of 0.9.75's header
// parser), a head beyond its 128 KiB pool (414 / 431). Their bodies are its fixed HTML; no option of
// 0.9.75 replaces them (docs/SERVER.md). Printed, not asserted, but the server must go on answering.
await test('hardening: malformed request heads get one status line and an OpenAI-style JSON error', async () => {
  const postHead = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n';
  const cases = [
    ['HTTP/9.9', 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', 505, 'http_version_not_supported'],
    ['HTTP/2.0', 'GET /health HTTP/2.0\r\nHost: x\r\n\r\n', 505, 'http_version_not_supported'],
    ['a request line with four fields', 'GET /health HTTP/1.1 x\r\nHost: x\r\n\r\n', 400, 'invalid_request_line'],
    ['a request line of one word', 'GARBAGE\r\n\r\n', 400, 'invalid_request_line'],
    ['no version', 'GET /health\r\n\r\n', 400, 'invalid_request_line'],
    ['a lowercase version', 'GET /health http/1.1\r\n\r\n', 400, 'invalid_request_line'],
    ['a control byte in the target', 'GET /he\x01alth HTTP/1.1\r\n\r\n', 400, 'invalid_request_line'],
    ['a header line without a colon', 'GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n', 400, 'invalid_header'],
    ['a space before the colon', 'GET /health HTTP/1.1\r\nHost : x\r\n\r\n', 400, 'invalid_header'],
    ['a folded header', 'GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n', 400, 'invalid_header'],
    ['a NUL in a header value', 'GET /health HTTP/1.1\r\nHost: x\u0000y\r\n\r\n', 400, 'invalid_header'],
    ['Content-Length: -1', `${postHead}Content-Length: -1\r\n\r\n`, 400, 'invalid_content_length'],
    ['Content-Length: 1x', `${postHead}Content-Length: 1x\r\n\r\n`, 400, 'invalid_content_length'],
    ['Content-Length twice', `${postHead}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`, 400, 'invalid_content_length'],
    ['Content-Length: 99999999999999999999', `${postHead}Content-Length: 99999999999999999999\r\n\r\n`, 413, 'request_too_large'],
    ['Content-Length over --max-body', `${postHead}Content-Length: ${(16 << 20) + 1}\r\n\r\n`, 413, 'request_too_large'],
    ['Content-Length with Transfer-Encoding', `${postHead}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'invalid_content_length'],
    ['Transfer-Encoding: gzip', `${postHead}Transfer-Encoding: gzip\r\n\r\n`, 501, 'unsupported_transfer_encoding'],
    ['a chunk size that is not hex', `${postHead}Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n`, 400, 'invalid_chunked_body'],
    ['no line end after a chunk', `${postHead}Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n`, 400, 'invalid_chunked_body'],
    ['a chunk size past 64 bits', `${postHead}Transfer-Encoding: chunked\r\n\r\n${'f'.repeat(17)}\r\n`, 400, 'invalid_chunked_body'],
    ['a chunk over --max-body', `${postHead}Transfer-Encoding: chunked\r\n\r\n${((16 << 20) + 1).toString(16)}\r\n`, 413, 'request_too_large'],
    ['a 300 KB URI', `GET /${'a'.repeat(300000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'uri_too_long'],
    ['300 KB of headers', `GET /health HTTP/1.1\r\n${'X-A: b\r\n'.repeat(40000)}\r\n`, 431, 'request_header_fields_too_large'],
  ];
  for (const [what, data, status, code] of cases) {
    const r = await rawSocket(srv.port, Buffer.from(data, 'latin1'));
    const type = (r.head.match(/\r\ncontent-type: *([^\r]*)/i) || [])[1] || 'none';
    try {
      eq(r.status, status, `status (${JSON.stringify(r.text.slice(0, 200))})`);
      eq(r.statusLines, 1, 'one status line');
      eq(type, 'application/json', 'content-type');
      assert(r.json && r.json.error && r.json.error.message, `a JSON error: ${r.body.slice(0, 200)}`);
      eq(r.json.error.code, code, 'code');
    } catch (e) { throw new Error(`${what}: ${e.message}`); }
  }
  // what the check takes: bare LF line ends, HTTP/1.0, a chunked body, header values with tabs and UTF-8
  const body = JSON.stringify({ messages: user });
  for (const [what, data] of [
    ['bare LF', `POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: ${body.length}\n\n${body}`],
    ['HTTP/1.0', `POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`],
    ['chunked', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`],
    ['a tab and UTF-8 in a header', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Note:\tcaf\u00c3\u00a9 \r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`],
  ]) {
    const r = await rawSocket(srv.port, Buffer.from(data, 'latin1'));
    eq(r.status, 200, `${what}: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert(r.json.choices[0].message.content, `${what}: an answer`);
  }
  const m = await metrics(srv.port);
  assert(m['gptoss_requests_total{code="505"}'] >= 2 && m['gptoss_requests_total{code="431"}'] >= 1, 'counted by status');
  eq((await post('/v1/chat/completions', { messages: user })).status, 200, 'the server still answers');
});


// A client may close its sending side once the request is out (shutdown(SHUT_WR), socket.end()):
// HTTP/1.1 allows it and the answer must still come. One slot, forty tokens at 20 ms a step: the
// plain request is still generating when the end of its client's stream arrives, and the streaming
// one waits in the queue meanwhile (each wait for output looks at the socket after 200 ms).
await test('hardening: a client that half-closes after its request still gets the whole answer (plain and streaming)', async () => {
  const s2 = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
    '--ctx-size', '1024', '--parallel', '1', '--quiet'], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_DELAY_MS: '20' });
  try {
    const request = (body) => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const plainP = rawSocket(s2.port, request(JSON.stringify({ messages: [{ role: 'user', content: 'SLOW' }] })),
      { end: true });
    await waitFor(async () => (await metrics(s2.port)).gptoss_active_sequences === 1, 'the plain request to run');
    const streamedP = rawSocket(s2.port, request(JSON.stringify({ stream: true,
      messages: [{ role: 'user', content: 'SLOW' }] })), { end: true });
    const [plain, streamed] = await Promise.all([plainP, streamedP]);
    eq(plain.status, 200, `plain: ${JSON.stringify(plain.text.slice(0, 300))}`);
    eq(plain.json.choices[0].message.content, 'word '.repeat(40), 'plain: the whole answer');
    eq(plain.json.choices[0].finish_reason, 'stop', 'plain: finish_reason');
    eq(streamed.status, 200, `streaming: ${JSON.stringify(streamed.text.slice(0, 300))}`);
    assert(/data: \[DONE\]/.test(streamed.body), `streaming: ends with [DONE]: ${JSON.stringify(streamed.body.slice(-300))}`);
    assert(/"finish_reason":"stop"/.test(streamed.body), 'streaming: finish_reason stop');
    eq((streamed.body.match(/word/g) || []).length, 40, 'streaming: every word');
    await waitFor(async () => (await metrics(s2.port)).gptoss_generations_total >= 2, 'both generations counted');
    const m = await metrics(s2.port);
    eq(m.gptoss_generations_cancelled_total, 0, 'no generation counted as cancelled');
    eq(m['gptoss_requests_total{code="499"}'], 0, 'no 499');
  } finally {
    await s2.stop();
  }
});


// A chunked body is read by the server's front and passed on through a socket pair, the answer
// relayed back: the same half-close and disconnect rules must hold through the relay.
await test('hardening: chunked requests: half-closed clients get the whole answer, a client gone cancels', async () => {
  const s2 = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
    '--ctx-size', '1024', '--parallel', '1', '--quiet'], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_DELAY_MS: '20' });
  try {
    const request = (body) => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const plainP = rawSocket(s2.port, request(JSON.stringify({ messages: [{ role: 'user', content: 'SLOW' }] })),
      { end: true });
    await waitFor(async () => (await metrics(s2.port)).gptoss_active_sequences === 1, 'the plain request to run');
    const streamedP = rawSocket(s2.port, request(JSON.stringify({ stream: true,
      messages: [{ role: 'user', content: 'SLOW' }] })), { end: true });
    const [plain, streamed] = await Promise.all([plainP, streamedP]);
    eq(plain.status, 200, `plain: ${JSON.stringify(plain.text.slice(0, 300))}`);
    eq(plain.json.choices[0].message.content, 'word '.repeat(40), 'plain: the whole answer');
    eq(streamed.status, 200, `streaming: ${JSON.stringify(streamed.text.slice(0, 300))}`);
    assert(/data: \[DONE\]/.test(streamed.body), 'streaming: ends with [DONE]');
    eq((streamed.body.match(/word/g) || []).length, 40, 'streaming: every word');
    await waitFor(async () => (await metrics(s2.port)).gptoss_generations_total >= 2, 'both generations counted');
    eq((await metrics(s2.port)).gptoss_generations_cancelled_total, 0, 'none cancelled');
    // a streaming client that resets after the first bytes: its generation is cancelled
    await new Promise((resolve) => {
      const k = net.connect(s2.port, '127.0.0.1', () => k.write(request(JSON.stringify({ stream: true,
        messages: [{ role: 'user', content: 'SLOW' }] }))));
      k.on('data', () => { k.resetAndDestroy(); resolve(); });
      k.on('error', () => {});
    });
    await waitFor(async () => (await metrics(s2.port)).gptoss_generations_cancelled_total === 1, 'the generation cancelled');
    // and a plain one that resets while it runs
    await new Promise((resolve) => {
      const k = net.connect(s2.port, '127.0.0.1', () => k.write(request(JSON.stringify({ messages: [{ role: 'user', content: 'SLOW' }] }))));
      k.on('error', () => {});
      waitFor(async () => (await metrics(s2.port)).gptoss_active_sequences === 1, 'the plain request to run')
        .then(() => { k.resetAndDestroy(); resolve(); });
    });
    await waitFor(async () => (await metrics(s2.port)).gptoss_generations_cancelled_total === 2, 'the plain generation cancelled');
  } finally {
    await s2.stop();
  }
});


// Prompt prefix reuse is kept per client: a slot's cache is reused only by requests with the same API
// key (--api-key given once per key) and the same `user` / `safety_identifier`, so cached_tokens
// (and the time to the first token) cannot tell one client what another sent.
await test('hardening: cached prompt prefixes are reused per API key and per user / safety_identifier', async () => {
  const s3 = await double(['--api-key', 'key-a', '--api-key', 'key-b', '--parallel', '4']);
  try {
    const prompt = [{ role: 'system', content: 'The secret plan: ' + 'alpha bravo charlie delta '.repeat(20) },
      { role: 'user', content: 'x' }];
    const ask = async (key, extra = {}, what = '') => {
      const r = await raw(s3.port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: prompt, ...extra }),
        { ...json, Authorization: `Bearer ${key}` });
      eq(r.status, 200, `${what} (${r.body.slice(0, 200)})`);
      return r.json.usage.prompt_tokens_details.cached_tokens;
    };
    eq(await ask('key-a', {}, 'A'), 0, 'A first: nothing cached');
    eq(await ask('key-b', {}, 'B'), 0, 'B sending A\'s prompt: nothing of A\'s cached');
    assert(await ask('key-a', {}, 'A again') > 100, 'A again: its own prompt cached');
    assert(await ask('key-b', {}, 'B again') > 100, 'B again: its own prompt cached');
    // the same key, different users
    eq(await ask('key-a', { user: 'alice' }, 'alice'), 0, 'alice: not the key\'s anonymous cache');
    eq(await ask('key-a', { user: 'bob' }, 'bob'), 0, 'bob: not alice\'s');
    assert(await ask('key-a', { user: 'alice' }, 'alice again') > 100, 'alice again: her cache');
    eq(await ask('key-a', { safety_identifier: 'alice' }, 'safety_identifier alice'), 0,
      'safety_identifier is its own field');
    assert(await ask('key-a', { safety_identifier: 'alice' }, 'safety_identifier alice again') > 100, 'and cached');
    const bad = await raw(s3.port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: prompt, user: 7 }),
      { ...json, Authorization: 'Bearer key-b' });
    isError(bad, 400, 'user', 'invalid_type');
    isError(await raw(s3.port, 'POST', '/v1/responses', JSON.stringify({ input: 'x', safety_identifier: {} }),
      { ...json, Authorization: 'Bearer key-b' }), 400, 'safety_identifier', 'invalid_type');
    isError(await raw(s3.port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: prompt }),
      { ...json, Authorization: 'Bearer key-c' }), 401, null, 'invalid_api_key');
  } finally {
    await s3.stop();
  }
  // no key: one client, whose requests share their prefixes unless `user` says otherwise
  const s4 = await double(['--parallel', '4']);
  try {
    const input = 'The secret plan: ' + 'alpha bravo charlie delta '.repeat(20);
    const ask = async (extra = {}) => {
      const r = await post('/v1/responses', { input, ...extra }, s4);
      eq(r.status, 200, r.body.slice(0, 200));
      return r.json.usage.input_tokens_details.cached_tokens;
    };
    eq(await ask(), 0, 'first');
    assert(await ask() > 100, 'no key, no user: reused across requests');
    eq(await ask({ user: 'carol' }), 0, 'carol: not the anonymous cache');
    assert(await ask({ user: 'carol' }) > 100, 'carol again');
  } finally {
    await s4.stop();
  }
});


// --max-stored-bytes bounds what the store holds, the oldest dropped first: each response's own items
// and response object, once (a chain of N turns holds N turns, not N^2/2), and the items of responses
// dropped from lookup that a kept one still continues.
await test('hardening: the Responses store stays within --max-stored-bytes, dropping the oldest', async () => {
  const bound = 1 << 20;
  const s5 = await double(['--max-stored-bytes', String(bound), '--ctx-size', '131072']);
  try {
    const turn = 'word '.repeat(1600);
    const first = await post('/v1/responses', { input: turn }, s5);
    eq(first.status, 200, first.body.slice(0, 200));
    let prev = first.json.id, chain = 1;
    for (; chain < 40; chain++) { // 40 turns of 8 KB: copied into each response they would be 6.6 MB
      const r = await post('/v1/responses', { input: turn, previous_response_id: prev }, s5);
      eq(r.status, 200, `turn ${chain} (${r.body.slice(0, 200)})`);
      prev = r.json.id;
      const m = await metrics(s5.port);
      assert(m.gptoss_responses_stored_bytes <= bound, `turn ${chain}: ${m.gptoss_responses_stored_bytes} bytes stored`);
    }
    let m = await metrics(s5.port);
    console.log(`# ${chain} chained 8 KB turns: ${m.gptoss_responses_stored} responses kept, ` +
      `${m.gptoss_responses_stored_bytes} bytes (bound ${bound})`);
    eq(m.gptoss_responses_stored, 40, 'each turn once: the chain fits');
    let last;
    for (let i = 0; i < 100; i++) { // 100 conversations of one 8 KB turn: the bound is reached
      last = await post('/v1/responses', { input: turn }, s5);
      eq(last.status, 200, `conversation ${i} (${last.body.slice(0, 200)})`);
      m = await metrics(s5.port);
      assert(m.gptoss_responses_stored_bytes <= bound, `conversation ${i}: ${m.gptoss_responses_stored_bytes} bytes stored`);
    }
    console.log(`# then 100 one-turn conversations: ${m.gptoss_responses_stored} responses kept, ` +
      `${m.gptoss_responses_stored_bytes} bytes`);
    eq((await raw(s5.port, 'GET', `/v1/responses/${first.json.id}`)).status, 404, 'the oldest is gone');
    eq((await raw(s5.port, 'GET', `/v1/responses/${last.json.id}`)).status, 200, 'the newest is kept');
    const next = await post('/v1/responses', { input: 'x', previous_response_id: last.json.id }, s5);
    eq(next.status, 200, `the newest continues (${next.body.slice(0, 200)})`);
    isError(await post('/v1/responses', { input: 'x', previous_response_id: first.json.id }, s5), 400,
      'previous_response_id', 'previous_response_not_found');
  } finally {
    await s5.stop();
  }
  // A conversation whose items alone are over the bound cannot be kept whole: its newest response is
  // not stored (what it continues stays, within the bound).
  const small = 64 << 10;
  const s6 = await double(['--max-stored-bytes', String(small), '--ctx-size', '131072']);
  try {
    const turn = 'word '.repeat(1600);
    let prev = null, kept = 0, r;
    for (let i = 0; i < 12; i++) {
      r = await post('/v1/responses', { input: turn, ...(prev ? { previous_response_id: prev } : {}) }, s6);
      if (r.status !== 200) break;
      const m = await metrics(s6.port);
      assert(m.gptoss_responses_stored_bytes <= small, `turn ${i}: ${m.gptoss_responses_stored_bytes} bytes stored`);
      if ((await raw(s6.port, 'GET', `/v1/responses/${r.json.id}`)).status !== 200) break;
      kept++;
      prev = r.json.id;
    }
    console.log(`# bound ${small}: a chain of 8 KB turns is kept for ${kept} turns`);
    assert(kept >= 3 && kept < 12, `${kept} turns kept`);
    eq(r.status, 200, `the turn past the bound is answered (${r.body.slice(0, 200)})`);
    isError(await post('/v1/responses', { input: 'x', previous_response_id: r.json.id }, s6), 400,
      'previous_response_id', 'previous_response_not_found');
    const more = await post('/v1/responses', { input: 'x', previous_response_id: prev }, s6);
    eq(more.status, 200, `the last one kept continues (${more.body.slice(0, 200)})`);
  } finally {
    await s6.stop();
  }
});

// What a stored response keeps renders as what was sent: fields no prompt shows are dropped, content
// parts joined, and the history comes from the responses before it even once they left the store.
await test('hardening: a continued conversation renders its whole history after the earlier responses left the store', async () => {
  const log = path.join(tmp, 'hardening_prompts.txt');
  fs.rmSync(log, { force: true });
  const s8 = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
    '--ctx-size', '131072', '--max-stored', '3', '--quiet'], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log });
  const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n');
  try {
    // a user of its own: no cached prefix, so each of these response objects has the same length
    eq((await post('/v1/responses', { input: 'x', user: 'u0' }, s8)).status, 200, 'a one-turn response');
    const one = (await metrics(s8.port)).gptoss_responses_stored_bytes;
    const turns = [
      [{ role: 'developer', content: 'Be brief.', junk: 'j'.repeat(1000) },
        { type: 'message', role: 'user', id: 'msg_x', status: 'completed', content: [{ type: 'input_text', text: 'first ' },
          { type: 'input_text', text: 'part', annotations: [] }] }],
      [{ role: 'user', content: 'weather', extra: { deep: [1, 2, { three: 3 }] } }],
      'second',
      null, // the output of the call two responses back
      [{ type: 'reasoning', summary: [{ type: 'summary_text', text: 'Mulling.' }], encrypted_content: 'e'.repeat(500) },
        { role: 'assistant', content: [{ type: 'output_text', text: 'Said.', annotations: [], logprobs: [] }] }, 'third'],
      'fourth',
    ];
    const explicit = [];
    let prev = null, call = null;
    const ids = [];
    for (let i = 0; i < turns.length; i++) {
      let input = turns[i];
      if (input === null) input = [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}', id: 'fco_1' }];
      if (Array.isArray(input) && typeof input[input.length - 1] === 'string')
        input = [...input.slice(0, -1), { role: 'user', content: input[input.length - 1] }];
      const r = await post('/v1/responses', { input, tools: rtools, ...(prev ? { previous_response_id: prev } : {}) }, s8);
      eq(r.status, 200, `turn ${i} (${r.body.slice(0, 200)})`);
      const chained = prompts().at(-2);
      explicit.push(...(typeof input === 'string' ? [{ role: 'user', content: input }] : input));
      const e = await post('/v1/responses', { input: explicit, tools: rtools, store: false }, s8);
      eq(e.status, 200, `turn ${i}, the history sent whole (${e.body.slice(0, 200)})`);
      eq(prompts().at(-2), chained, `turn ${i}: the same prompt`);
      eq(r.json.usage.input_tokens, e.json.usage.input_tokens, `turn ${i}: input tokens`);
      explicit.push(...r.json.output);
      call = r.json.output.find((it) => it.type === 'function_call') || call;
      prev = r.json.id;
      ids.push(prev);
    }
    assert(call, 'a function call on the way');
    const m = await metrics(s8.port);
    eq(m.gptoss_responses_stored, 3, 'three kept for lookup');
    for (const id of ids.slice(0, -3))
      eq((await raw(s8.port, 'GET', `/v1/responses/${id}`)).status, 404, `${id} is out of the store`);
    console.log(`# ${ids.length} chained responses, 3 kept for lookup: ${m.gptoss_responses_stored_bytes} bytes stored`);
    // Requests continuing each of them at once, while the ones they continue leave the store: each is
    // answered or is a 400 for a response gone, and once three one-turn responses replace them all,
    // every chain is freed and uncounted (three times the bytes of one).
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) => post('/v1/responses',
      { input: `more ${i}`, previous_response_id: ids[i % ids.length], stream: i % 2 === 1 }, s8)));
    for (const r of all) {
      if (r.status === 400) isError(r, 400, 'previous_response_id', 'previous_response_not_found');
      else eq(r.status, 200, r.body.slice(0, 200));
    }
    assert(all.filter((r) => r.status === 200).length >= 3, 'the kept ones continue');
    for (let i = 1; i <= 3; i++) eq((await post('/v1/responses', { input: 'x', user: `u${i}` }, s8)).status, 200, 'one-turn');
    eq((await metrics(s8.port)).gptoss_responses_stored_bytes, 3 * one, 'three one-turn responses, nothing else');
  } finally {
    await s8.stop();
  }
});

// Resident memory of a server (kB), from /proc (Linux).
function rssKB(s) {
  const m = fs.readFileSync(`/proc/${s.proc.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  assert(m, 'VmRSS in /proc/PID/status');
  return Number(m[1]);
}
const MB = (kb) => (kb / 1024).toFixed(1);
// Under ASan freed memory waits in a quarantine (256 MB), so the resident size says nothing there: the
// stored bytes are still asserted.
function rssGrewLessThan(kb, before, after) {
  if (process.env.GPTOSS_TEST_SANITIZED) console.log('# sanitized build: the resident size is not asserted');
  else assert(after - before < kb, `resident size grew by ${MB(after - before)} MB`);
}

// A stored response keeps only what its items render (fields the renderer does not read are dropped)
// and shares the history it continues with the response it continues (issue 25 item 4): 3.9 MB in a
// field no prompt shows is not kept, and a chain of N responses holds each turn once, not N^2/2 times.
await test('hardening: 20 chained Responses uploads of 3.9 MB each raise the resident size by less than 100 MB', async () => {
  const s6 = await double(['--ctx-size', '131072']);
  try {
    const pad = 'p'.repeat(3.9e6);
    const before = rssKB(s6);
    let prev = null;
    for (let i = 0; i < 20; i++) {
      const r = await post('/v1/responses', { input: [{ type: 'message', role: 'user', content: `turn ${i}`, pad }],
        ...(prev ? { previous_response_id: prev } : {}) }, s6);
      eq(r.status, 200, `upload ${i} (${r.body.slice(0, 200)})`);
      prev = r.json.id;
    }
    const after = rssKB(s6), m = await metrics(s6.port);
    console.log(`# 20 chained 3.9 MB uploads: resident ${MB(before)} -> ${MB(after)} MB (+${MB(after - before)}), ` +
      `store ${m.gptoss_responses_stored} responses, ${m.gptoss_responses_stored_bytes} bytes`);
    rssGrewLessThan(100 * 1024, before, after);
    assert(m.gptoss_responses_stored_bytes < 1 << 20, `${m.gptoss_responses_stored_bytes} bytes stored`);
    eq(m.gptoss_responses_stored, 20, 'all kept');
    const next = await post('/v1/responses', { input: 'x', previous_response_id: prev }, s6);
    eq(next.status, 200, `the last one continues (${next.body.slice(0, 200)})`);
  } finally {
    await s6.stop();
  }
});

await test('hardening: fields beside the defined ones in text, tools and tool_choice are neither echoed nor stored', async () => {
  const s8 = await double(['--ctx-size', '131072']);
  try {
    const pad = 'p'.repeat(1.3e6);
    const before = rssKB(s8);
    let prev = null;
    for (let i = 0; i < 20; i++) {
      const r = await post('/v1/responses', { input: `turn ${i}`, text: { format: { type: 'text', pad }, pad },
        tools: [{ ...rtools[0], pad }], tool_choice: { type: 'function', name: 'get_weather', pad },
        ...(prev ? { previous_response_id: prev } : {}) }, s8);
      eq(r.status, 200, `turn ${i} (${r.body.slice(0, 200)})`);
      assert(r.body.length < 100000, `turn ${i}: the answer echoes no padding (${r.body.length} bytes)`);
      eq(r.json.text, { format: { type: 'text' } }, 'text echoed without extra fields');
      eq(Object.keys(r.json.tools[0]).sort(), ['name', 'parameters', 'type'], 'the tool echoed without extra fields');
      eq(r.json.tool_choice, { type: 'function', name: 'get_weather' }, 'tool_choice echoed without extra fields');
      prev = r.json.id;
    }
    const after = rssKB(s8), m = await metrics(s8.port);
    console.log(`# 20 chained requests with 3.9 MB beside the defined fields: resident ${MB(before)} -> ${MB(after)} MB ` +
      `(+${MB(after - before)}), ${m.gptoss_responses_stored_bytes} bytes stored`);
    assert(m.gptoss_responses_stored_bytes < 1 << 20, `${m.gptoss_responses_stored_bytes} bytes stored`);
    rssGrewLessThan(100 * 1024, before, after);
    const got = await raw(s8.port, 'GET', `/v1/responses/${prev}`);
    eq(got.status, 200, got.body.slice(0, 200));
    assert(got.body.length < 100000, `the stored response has no padding (${got.body.length} bytes)`);
  } finally {
    await s8.stop();
  }
});

await test('hardening: 100 tiny requests chained on one 3.9 MB response add neither memory nor stored bytes per turn', async () => {
  const s7 = await double(['--ctx-size', '131072']);
  try {
    const pad = 'p'.repeat(3.9e6), text = 'word '.repeat(20000); // 100 KB rendered, 3.9 MB not
    const before = rssKB(s7);
    const first = await post('/v1/responses', { input: [{ role: 'user', content: text, pad }] }, s7);
    eq(first.status, 200, first.body.slice(0, 200));
    const one = (await metrics(s7.port)).gptoss_responses_stored_bytes;
    let prev = first.json.id, tokens = first.json.usage.input_tokens;
    for (let i = 0; i < 100; i++) {
      const r = await post('/v1/responses', { input: `tiny ${i}`, previous_response_id: prev }, s7);
      eq(r.status, 200, `turn ${i} (${r.body.slice(0, 200)})`);
      assert(r.json.usage.input_tokens > tokens, `turn ${i}: the history is rendered (${r.json.usage.input_tokens} tokens)`);
      tokens = r.json.usage.input_tokens;
      prev = r.json.id;
    }
    const after = rssKB(s7), m = await metrics(s7.port);
    console.log(`# 100 tiny requests on one 3.9 MB response: resident ${MB(before)} -> ${MB(after)} MB ` +
      `(+${MB(after - before)}), store ${one} bytes after the first, ${m.gptoss_responses_stored_bytes} after all ` +
      `(${m.gptoss_responses_stored} responses, the last prompt ${tokens} tokens)`);
    rssGrewLessThan(100 * 1024, before, after);
    eq(m.gptoss_responses_stored, 101, 'all kept');
    // the 100 KB turn once, and about 5 KB for each later one (its items and its response object)
    assert(m.gptoss_responses_stored_bytes < one + 100 * 8192, `${m.gptoss_responses_stored_bytes} bytes stored`);
  } finally {
    await s7.stop();
  }
});

await test('hardening: metadata is at most 16 string pairs, keys of 64 characters and values of 512 (400 otherwise)', async () => {
  const pairs = (n, k = 8, v = 8) => Object.fromEntries(Array.from({ length: n },
    (_, i) => [`${i}`.padEnd(k, 'k'), 'v'.repeat(v)]));
  const most = pairs(16, 64, 512);
  const ok = await post('/v1/responses', { input: 'x', metadata: most });
  eq(ok.status, 200, ok.body.slice(0, 200));
  eq(ok.json.metadata, most, 'echoed');
  const wide = { ['é'.repeat(64)]: 'ü'.repeat(512) }; // characters, not bytes
  eq((await post('/v1/responses', { input: 'x', metadata: wide })).status, 200, '64 / 512 two-byte characters');
  for (const [what, metadata, code] of [
    ['17 pairs', pairs(17), 'object_above_max_properties'],
    ['a 65-character key', pairs(1, 65), 'string_above_max_length'],
    ['a 513-character value', pairs(1, 8, 513), 'string_above_max_length'],
    ['a number value', { a: 1 }, 'invalid_type'],
    ['an object value', { a: { b: 'c' } }, 'invalid_type'],
    ['an array', ['a'], 'invalid_type'],
  ]) {
    const r = await post('/v1/responses', { input: 'x', metadata });
    try { isError(r, 400, 'metadata', code); } catch (e) { throw new Error(`${what}: ${e.message}`); }
    isError(await post('/v1/chat/completions', { messages: user, metadata }), 400, 'metadata', code);
  }
  eq((await post('/v1/chat/completions', { messages: user, metadata: most })).status, 200, 'chat: 16 pairs');
});

await srv.stop();

await test('hardening: a 3.9 MB prompt on the tiny model is refused on its bytes (400 context_length_exceeded)', async () => {
  const tiny = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--ctx-size', '512',
    '--model-name', 'tiny', '--quiet']);
  try {
    const words = 'a'.repeat(3.9e6); // the slowest to tokenize of the texts tried (1.6 s before the check)
    const { r, ms } = await timed('chat, a 3.9 MB prompt, tiny model', () => post('/v1/chat/completions',
      { messages: [{ role: 'user', content: words }], max_tokens: 1 }, tiny));
    isError(r, 400, 'messages', 'context_length_exceeded');
    // "at least": the count from bytes (3.9e6 / 128 bytes, o200k's longest token), not from tokenizing
    assert(/at least 30469 tokens/.test(r.json.error.message), r.json.error.message);
    assert(ms < guard, `${ms} ms`);
    const { r: rr, ms: rms } = await timed('responses, a 3.9 MB input, tiny model', () => post('/v1/responses',
      { input: words, max_output_tokens: 1 }, tiny));
    isError(rr, 400, 'input', 'context_length_exceeded');
    assert(/at least 30469 tokens/.test(rr.json.error.message), rr.json.error.message);
    assert(rms < guard, `${rms} ms`);
    const ok = await post('/v1/chat/completions', { messages: user, max_tokens: 1 }, tiny);
    eq(ok.status, 200, `a short prompt still works (${ok.body.slice(0, 200)})`);
  } finally {
    await tiny.stop();
  }
});

done();
