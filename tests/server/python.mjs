// python.mjs: `gptoss serve --python` runs the python tool server-side (issue 19), in real sandboxes
// (bubblewrap), driven by the scripted double (tests/server_double.c: a tool's reply appended to a
// sequence chooses its rule again, so the script follows what python printed). Checked through the
// official openai client: Responses with a code_interpreter tool (code_interpreter_call items: id, code,
// container_id, status, outputs only when include asks; the streamed events in order; the python block
// in the system message and each reply appended once, from python on the call's channel; state kept
// across two turns chained by previous_response_id, and by naming the container; an unknown container a
// 400), chat completions (the calls run server-side, the code and output in reasoning_content, the answer
// in content), /metrics (the sandboxes gauge, calls, time-outs), idle sandboxes reaped after
// --python-idle-timeout (a later turn then starts a new interpreter), --python-max-sandboxes, other
// clients served while a slow cell runs, an escape attempt (reading /etc/shadow) failing inside the
// sandbox, and a server without --python refusing code_interpreter. Skipped when this machine cannot
// sandbox (the server says why at start).
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, metrics, raw, waitFor, timeScale } from './lib.mjs';

const tmp = path.join(process.env.GPTOSS_TMP, 'python');
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, 'data'), { recursive: true, mode: 0o755 }); // reachable by the sandbox's uid
const script = path.join(tmp, 'script.txt');
const log = path.join(tmp, 'prompts.txt');
// Rules match the last message of the prompt: the user's at first, then python's reply. First match wins.
const call = (code) => `<|channel|>analysis to=python code<|message|>${code}<|call|>`;
const final = (text) => `<|channel|>final<|message|>${text}<|return|>`;
fs.writeFileSync(script, [
  `PY_SET => <|channel|>analysis<|message|>Set x.<|end|><|start|>assistant${call('x = 41\\nprint("x is set")')}`,
  `x is set => ${final('Set.')}`,
  `PY_READ => ${call('print(x + 1)')}`,
  `PY_CHAT => ${call('print(6 * 7)')}`,
  `<|message|>42 => ${final('It is 42.')}`,
  `NameError => ${final('x is gone.')}`,
  `PY_SLOW => ${call('import time\\ntime.sleep(600)\\nprint("slept")')}`,
  `slept => ${final('Woke up.')}`,
  `PY_SHADOW => ${call('print(open("/etc/shadow").read())')}`,
  `PY_FILE => ${call('open("/mnt/data/f.txt", "w").write("hi")\\nprint("written")')}`,
  `written => ${final('Wrote it.')}`,
  `not available => ${final('No sandbox.')}`,
  `Error => ${final('Refused.')}`,
  `* => ${final('Hello')}`,
].join('\n') + '\n');
const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x);
const base = ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--parallel', '4', '--ctx', '8192'];
const env = { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log };

let srv;
try {
  srv = await startServer(process.env.GPTOSS_DOUBLE, [...base, '--python', '--python-data', path.join(tmp, 'data')], env);
} catch (e) {
  const why = String(e.message || e).split('\n').find((l) => l.includes('--python')) || String(e).split('\n')[0];
  console.log(`ok - python server tests # SKIP the python sandbox cannot be set up here: ${why.trim()}`);
  process.exit(0);
}
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const tools = [{ type: 'code_interpreter', container: { type: 'auto' } }];
const include = ['code_interpreter_call.outputs'];

let first; // the first turn's response, continued later
await test('responses: a python call runs server-side, a code_interpreter_call item, the answer', async () => {
  const n0 = fs.existsSync(log) ? prompts().length : 0;
  first = await client.responses.create({ model: 'double-model', input: 'PY_SET please', tools, include });
  eq(first.status, 'completed');
  eq(first.output.map((o) => o.type), ['reasoning', 'code_interpreter_call', 'message'], 'output items');
  const ci = first.output[1];
  assert(/^ci_[0-9a-f]{32}$/.test(ci.id), `item id ${ci.id}`);
  assert(/^cntr_[0-9a-f]{32}$/.test(ci.container_id), `container id ${ci.container_id}`);
  eq(ci.status, 'completed');
  eq(ci.code, 'x = 41\nprint("x is set")');
  eq(ci.outputs, [{ type: 'logs', logs: ci.outputs?.[0]?.logs }], 'one logs output');
  assert(ci.outputs[0].logs.includes('x is set'), `the logs: ${JSON.stringify(ci.outputs)}`);
  eq(first.output_text, 'Set.');
  const p = prompts().slice(n0);
  eq(p.length, 2, 'one prompt, then the reply appended');
  assert(p[0].includes('## python\n\nUse this tool to execute Python code') &&
    p[0].indexOf('## python') < p[0].indexOf('<|end|>'), 'the python block is in the system message');
  assert(p[1].startsWith(p[0]), 'the reply extends the prompt');
  assert(p[1].includes('<|call|><|start|>python to=assistant<|channel|>analysis<|message|>x is set'),
    `the reply from python on the call's channel: ${JSON.stringify(p[1].slice(-200))}`);
});

await test('responses: outputs only when include asks for them', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_CHAT', tools });
  const ci = r.output.find((o) => o.type === 'code_interpreter_call');
  eq(ci.outputs, null, 'outputs without include');
  eq(ci.code, 'print(6 * 7)');
  eq(r.output_text, 'It is 42.');
});

await test('responses: state kept across two turns chained by previous_response_id', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_READ', tools, include,
    previous_response_id: first.id });
  const ci = r.output.find((o) => o.type === 'code_interpreter_call');
  eq(ci.container_id, first.output[1].container_id, 'the same container');
  assert(ci.outputs[0].logs.includes('42'), `x + 1 from the first turn's x: ${JSON.stringify(ci.outputs)}`);
  eq(r.output_text, 'It is 42.');
});

await test('responses: naming the container runs in it; an unknown one is a 400', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_READ', include,
    tools: [{ type: 'code_interpreter', container: first.output[1].container_id }] });
  const ci = r.output.find((o) => o.type === 'code_interpreter_call');
  eq(ci.container_id, first.output[1].container_id);
  eq(r.output_text, 'It is 42.');
  let err = null;
  try {
    await client.responses.create({ model: 'double-model', input: 'PY_READ',
      tools: [{ type: 'code_interpreter', container: 'cntr_00000000000000000000000000000000' }] });
  } catch (e) { err = e; }
  assert(err && err.status === 400 && /not found/.test(err.message), `a 400: ${err}`);
});

await test('responses: malformed code_interpreter fields are 400s naming them', async () => {
  const post = (body) => raw(srv.port, 'POST', '/v1/responses', JSON.stringify({ model: 'double-model', input: 'PY_SET',
    ...body }), { 'content-type': 'application/json' });
  for (const [body, param] of [
    [{ tools: [{ type: 'code_interpreter', container: 5 }] }, 'tools[0].container'],
    [{ tools: [{ type: 'function', name: 'f' }, { type: 'code_interpreter', container: { type: 'other' } }] },
      'tools[1].container'],
    [{ tools, include: 'code_interpreter_call.outputs' }, 'include'],
    [{ tools, include: [7] }, 'include'],
  ]) {
    const r = await post(body);
    eq(r.status, 400, JSON.stringify(body));
    eq(r.json.error.param, param, r.body);
  }
});

await test('responses: a new conversation gets its own sandbox (x undefined there)', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_READ', tools, include });
  const ci = r.output.find((o) => o.type === 'code_interpreter_call');
  assert(ci.container_id !== first.output[1].container_id, 'another container');
  assert(ci.outputs[0].logs.includes('NameError'), `x is not defined: ${ci.outputs[0].logs}`);
  eq(r.output_text, 'x is gone.');
});

await test('responses streamed: the code_interpreter_call events in order', async () => {
  const events = [];
  for await (const e of await client.responses.create({ model: 'double-model', input: 'PY_CHAT', tools, include,
    stream: true })) events.push(e);
  const mine = events.filter((e) => e.type.includes('code_interpreter_call') ||
    ((e.type === 'response.output_item.added' || e.type === 'response.output_item.done') &&
      e.item.type === 'code_interpreter_call'));
  eq(mine.map((e) => e.type).filter((t, i, a) => t !== a[i - 1]), ['response.output_item.added',
    'response.code_interpreter_call.in_progress', 'response.code_interpreter_call_code.delta',
    'response.code_interpreter_call_code.done', 'response.code_interpreter_call.interpreting',
    'response.code_interpreter_call.completed', 'response.output_item.done'], 'the events');
  const added = mine[0];
  eq(added.item.type, 'code_interpreter_call');
  eq(added.item.status, 'in_progress');
  const id = added.item.id;
  assert(mine.slice(1, -1).every((e) => e.item_id === id && e.output_index === added.output_index), 'each names its item');
  const deltas = mine.filter((e) => e.type === 'response.code_interpreter_call_code.delta').map((e) => e.delta);
  eq(deltas.join(''), 'print(6 * 7)', 'the deltas make the code');
  eq(mine.find((e) => e.type === 'response.code_interpreter_call_code.done').code, 'print(6 * 7)');
  const doneItem = mine.at(-1).item;
  eq(doneItem.status, 'completed');
  assert(doneItem.outputs[0].logs.includes('42'), 'outputs in the done item');
  const last = events.at(-1);
  eq(last.type, 'response.completed');
  eq(last.response.output.map((o) => o.type), ['code_interpreter_call', 'message']);
  eq(last.response.output_text ?? last.response.output.at(-1).content[0].text, 'It is 42.');
  const seq = events.map((e) => e.sequence_number);
  eq(seq, seq.map((_, i) => i), 'sequence numbers in order');
});

await test('chat: the calls run server-side, the answer in content, the code and output in reasoning_content', async () => {
  const r = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'PY_CHAT' }] });
  const m = r.choices[0].message;
  eq(r.choices[0].finish_reason, 'stop');
  assert(!m.tool_calls, 'no tool calls for the client');
  eq(m.content, 'It is 42.');
  assert(m.reasoning_content.includes('[python]\nprint(6 * 7)\n[python output]\n42'), `reasoning: ${m.reasoning_content}`);
});

await test('responses: a file written to /mnt/data is in the container\'s folder under --python-data', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_FILE', tools });
  eq(r.output_text, 'Wrote it.');
  const cid = r.output.find((o) => o.type === 'code_interpreter_call').container_id;
  eq(fs.readFileSync(path.join(tmp, 'data', cid, 'f.txt'), 'utf8'), 'hi');
});

await test('an escape attempt (reading /etc/shadow) fails inside the sandbox', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'PY_SHADOW', tools, include });
  const logs = r.output.find((o) => o.type === 'code_interpreter_call').outputs[0].logs;
  assert(/Error/.test(logs) && !/root:/.test(logs), `the read failed: ${logs}`);
  eq(r.output_text, 'Refused.');
  const c = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'PY_SHADOW' }] });
  assert(!/root:/.test(c.choices[0].message.reasoning_content), 'nor through chat');
  eq(c.choices[0].message.content, 'Refused.');
});

await test('/metrics: sandboxes alive, calls', async () => {
  const m = await metrics(srv.port);
  assert(m.gptoss_python_sandboxes >= 3, `sandboxes: ${m.gptoss_python_sandboxes}`);
  assert(m.gptoss_python_calls_total >= 10, `calls: ${m.gptoss_python_calls_total}`);
  eq(m.gptoss_python_timeouts_total, 0, 'no time-out');
  eq(m.gptoss_python_sandboxes_max, 16, 'the default bound');
});

await test('without --python, code_interpreter is a 400', async () => {
  const plain = await startServer(process.env.GPTOSS_DOUBLE, base, env);
  try {
    const r = await raw(plain.port, 'POST', '/v1/responses', JSON.stringify({ model: 'double-model', input: 'PY_SET',
      tools }), { 'content-type': 'application/json' });
    eq(r.status, 400);
    assert(/--python/.test(r.json.error.message), r.body);
  } finally { await plain.stop(); }
});
await test('a sandbox that cannot be set up stops the server at start, with the reason; bad options too', async () => {
  for (const [args, want] of [[['--python-exe', '/nonexistent/python3'], /gptoss: --python: /],
    [['--python-idle-timeout', '0'], /invalid value '0' for --python-idle-timeout/],
    [['--python-max-sandboxes', '1.5'], /invalid value '1.5' for --python-max-sandboxes/]]) {
    let err = null;
    try {
      const s2 = await startServer(process.env.GPTOSS_DOUBLE, [...base, '--python', ...args], env);
      await s2.stop();
    } catch (e) { err = e; }
    assert(err && want.test(err.message), `refused with the reason: ${err}`);
  }
});
await srv.stop();

// A second server: short idle time-out, one sandbox at most, a short cell limit (long enough for the
// other requests of the slow-cell test to finish while it runs, under sanitizers too).
const cellLimit = 3 * timeScale;
const small = await startServer(process.env.GPTOSS_DOUBLE, [...base, '--python', '--python-idle-timeout', '1',
  '--python-max-sandboxes', '1', '--python-timeout', String(cellLimit)], env);
const c2 = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'none', maxRetries: 0 });

await test('idle sandboxes are reaped after --python-idle-timeout; the chain then starts a new interpreter', async () => {
  const r1 = await c2.responses.create({ model: 'double-model', input: 'PY_SET', tools });
  eq(r1.output_text, 'Set.');
  await waitFor(async () => (await metrics(small.port)).gptoss_python_sandboxes === 0, 'the sandbox reaped', 30000);
  const m = await metrics(small.port);
  assert(m.gptoss_python_sandboxes_reaped_total >= 1, 'counted');
  const r2 = await c2.responses.create({ model: 'double-model', input: 'PY_READ', tools, include,
    previous_response_id: r1.id });
  const ci = r2.output.find((o) => o.type === 'code_interpreter_call');
  assert(ci.container_id !== r1.output.find((o) => o.type === 'code_interpreter_call').container_id, 'a new container');
  eq(r2.output_text, 'x is gone.');
});

await test('other clients are served while a slow cell runs; a cell past --python-timeout is stopped', async () => {
  await waitFor(async () => (await metrics(small.port)).gptoss_python_sandboxes === 0, 'no sandbox left', 30000);
  const t0 = Date.now();
  const slow = c2.responses.create({ model: 'double-model', input: 'PY_SLOW', tools, include });
  await waitFor(async () => (await metrics(small.port)).gptoss_python_sandboxes === 1, 'the slow cell started', 30000);
  const hello = await c2.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'hi' }] });
  eq(hello.choices[0].message.content, 'Hello');
  // every sandbox (one) is in use: the second conversation's call is told so, and it answers
  const other = await c2.responses.create({ model: 'double-model', input: 'PY_CHAT', tools, include });
  const oc = other.output.find((o) => o.type === 'code_interpreter_call');
  eq(oc.status, 'failed');
  assert(/--python-max-sandboxes/.test(oc.outputs[0].logs), oc.outputs[0].logs);
  eq(other.output_text, 'No sandbox.');
  const tOther = Date.now() - t0;
  const s = await slow;
  const tSlow = Date.now() - t0;
  assert(tOther < tSlow, `the other requests finished first (${tOther} ms, the slow one ${tSlow} ms)`);
  const ci = s.output.find((o) => o.type === 'code_interpreter_call');
  assert(!ci.outputs[0].logs.includes('slept'), `stopped before it woke: ${ci.outputs[0].logs}`);
  const m = await metrics(small.port);
  eq(m.gptoss_python_timeouts_total, 1, 'one time-out counted');
  eq(m.gptoss_python_sandboxes_refused_total, 1, 'one sandbox refused');
});
await small.stop();
done();
