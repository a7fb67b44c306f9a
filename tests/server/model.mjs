// model.mjs: `gptoss serve` on a real (tiny, random-weight) model with the openai client: the text is
// noise, the plumbing is real: streaming, usage, seeds, Responses state, batching, disconnects.
// env: GPTOSS_BIN, GPTOSS_MODEL.
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { test, done, assert, eq, same, startServer, metrics, waitFor, uncached } from './lib.mjs';

const srv = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--parallel', '8', '--ctx-size', '512',
  '--model-name', 'tiny']);
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const model = 'tiny';
const msgs = [{ role: 'user', content: 'Tell me a story.' }];

let plain;
await test('model: chat completion with usage', async () => {
  plain = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 1 });
  const u = plain.usage;
  assert(u.prompt_tokens > 20, 'prompt tokens');
  assert(u.completion_tokens >= 1 && u.completion_tokens <= 16, `completion tokens ${u.completion_tokens}`);
  same(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert(['stop', 'length', 'tool_calls'].includes(plain.choices[0].finish_reason), 'finish_reason');
});

await test('model: the same seed gives the same tokens (plain and streaming)', async () => {
  const again = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 1 });
  same(again.choices[0].message, plain.choices[0].message);
  same(uncached(again.usage), uncached(plain.usage));
  same(again.usage.prompt_tokens_details.cached_tokens, plain.usage.prompt_tokens - 1, 'cached: all but the last token');
  const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 1, stream: true,
    stream_options: { include_usage: true } });
  let content = '', reasoning = '', usage = null, finish = null;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    const c = ch.choices[0];
    if (!c) continue;
    content += c.delta.content || '';
    reasoning += c.delta.reasoning_content || '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  same(uncached(usage), uncached(plain.usage), 'usage');
  same(finish, plain.choices[0].finish_reason);
  if (!plain.choices[0].message.tool_calls) eq(content, plain.choices[0].message.content ?? '');
  eq(reasoning, plain.choices[0].message.reasoning_content ?? '');
});

await test('model: Responses continued with previous_response_id', async () => {
  const r1 = await client.responses.create({ model, input: 'Hello', max_output_tokens: 8 });
  assert(r1.usage.input_tokens > 20 && r1.usage.output_tokens >= 1, 'usage');
  const r2 = await client.responses.create({ model, input: 'And then?', previous_response_id: r1.id, max_output_tokens: 8 });
  assert(r2.usage.input_tokens > r1.usage.input_tokens, `history in the prompt: ${r2.usage.input_tokens} > ${r1.usage.input_tokens}`);
});

await test('model: concurrent streams are decoded in shared batch steps', async () => {
  const m0 = await metrics(srv.port);
  const rs = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 32, seed: i, stream: true,
      stream_options: { include_usage: true } });
    let usage = null;
    for await (const ch of s) if (ch.usage) usage = ch.usage;
    return usage;
  }));
  const m1 = await metrics(srv.port);
  const tokens = rs.reduce((a, u) => a + u.completion_tokens, 0);
  const steps = m1.gptoss_decode_steps_total - m0.gptoss_decode_steps_total;
  console.log(`# 8 concurrent streams: ${tokens} tokens in ${steps} steps`);
  same(m1.gptoss_generated_tokens_total - m0.gptoss_generated_tokens_total, tokens, 'metrics count every token');
  assert(steps < tokens / 2, `${tokens} tokens in ${steps} steps`);
});

// tool_choice on random weights: the names the model would write are noise, so a valid name can
// only come from the constraint (gptoss_constraint, app/server/server_format.c). The model may first
// write an analysis message (which random weights rarely close: such a choice ends at max_tokens with
// only reasoning).
const tools = ['get_weather', 'get_time', 'lookup'].map((name) => ({ type: 'function',
  function: { name, parameters: { type: 'object', properties: { q: { type: 'string' } } } } }));
const names = tools.map((t) => t.function.name);
function checkForced(r, allowed) {
  let calls = 0;
  for (const c of r.choices) {
    const m = c.message;
    assert(!m.content, `no content: ${JSON.stringify(m.content)}`);
    if (m.tool_calls) {
      // free arguments on random weights rarely reach <|call|>: a call cut by max_tokens is 'length'
      eq(m.tool_calls.length, 1);
      assert(['tool_calls', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
      assert(allowed.includes(m.tool_calls[0].function.name), `declared name: ${m.tool_calls[0].function.name}`);
      JSON.parse(m.tool_calls[0].function.arguments);
      calls++;
    } else {
      eq(c.finish_reason, 'length');
      assert(m.reasoning_content, 'still in its analysis');
    }
  }
  assert(calls >= 1, 'at least one choice reached its call');
}

await test('model: tool_choice required gives calls to declared functions (n=8, one batch)', async () => {
  const m0 = await metrics(srv.port);
  const r = await client.chat.completions.create({ model, messages: msgs, tools, tool_choice: 'required', n: 8,
    max_tokens: 48, seed: 3 });
  eq(r.choices.length, 8);
  checkForced(r, names);
  const m1 = await metrics(srv.port);
  const steps = m1.gptoss_decode_steps_total - m0.gptoss_decode_steps_total;
  assert(steps < r.usage.completion_tokens / 2, `${r.usage.completion_tokens} tokens in ${steps} steps`);
});

await test('model: tool_choice named forces that function (chat, streaming, responses)', async () => {
  for (const name of ['get_time', 'get_weather']) {
    const r = await client.chat.completions.create({ model, messages: msgs, tools, n: 4, max_tokens: 48, seed: 3,
      tool_choice: { type: 'function', function: { name } } });
    checkForced(r, [name]);
  }
  const s = await client.chat.completions.create({ model, messages: msgs, tools, max_tokens: 48, seed: 6, stream: true,
    tool_choice: { type: 'function', function: { name: 'get_time' } } });
  let callName = '', content = '', finish = null;
  for await (const ch of s) {
    const c = ch.choices[0];
    if (!c) continue;
    content += c.delta.content || '';
    for (const tc of c.delta.tool_calls || []) callName += tc.function?.name || '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  eq(content, '');
  if (finish === 'tool_calls') eq(callName, 'get_time');
  else {
    eq(finish, 'length');
    assert(callName === '' || callName === 'get_time', `no call, or get_time's cut by max_tokens: ${callName}`);
  }
  const rtools = tools.map((t) => ({ type: 'function', ...t.function }));
  const rr = await client.responses.create({ model, input: 'Hello', tools: rtools, max_output_tokens: 48,
    tool_choice: { type: 'function', name: 'lookup' } });
  for (const o of rr.output) assert(o.type === 'reasoning' || (o.type === 'function_call' && o.name === 'lookup'), JSON.stringify(o).slice(0, 200));
});

await test('model: tool_choice none never gives a tool call', async () => {
  const r = await client.chat.completions.create({ model, messages: msgs, tools, tool_choice: 'none', n: 8, max_tokens: 48, seed: 3 });
  for (const c of r.choices) {
    assert(!c.message.tool_calls, 'no tool calls');
    assert(c.finish_reason !== 'tool_calls', c.finish_reason);
  }
});

await test('model: n=2 decodes choice i with seed + i (plain and streaming)', async () => {
  const two = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 5, n: 2 });
  eq(two.choices.map((c) => c.index), [0, 1]);
  const a = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 5 });
  const b = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 6 });
  same(two.choices[0].message, a.choices[0].message, 'choice 0 = seed 5');
  same(two.choices[1].message, b.choices[0].message, 'choice 1 = seed 6');
  same(two.usage.completion_tokens, a.usage.completion_tokens + b.usage.completion_tokens);
  const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 5, n: 2, stream: true,
    stream_options: { include_usage: true } });
  const text = ['', ''], reasoning = ['', ''], finish = [null, null];
  let usage = null;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      text[c.index] += c.delta.content || '';
      reasoning[c.index] += c.delta.reasoning_content || '';
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  same(usage, two.usage);
  for (const i of [0, 1]) {
    same(finish[i], two.choices[i].finish_reason);
    eq(reasoning[i], two.choices[i].message.reasoning_content ?? '');
    if (!two.choices[i].message.tool_calls) eq(text[i], two.choices[i].message.content ?? '');
  }
});

await test('model: n beyond the cap is 400', async () => {
  for (const n of [0, 9]) {
    try {
      await client.chat.completions.create({ model, messages: msgs, max_tokens: 4, n });
      throw new Error(`n=${n} accepted`);
    } catch (e) {
      eq(e.status, 400, String(e));
      eq(e.param, 'n');
    }
  }
});

await test('model: clients that disconnect mid-stream free their sequences', async () => {
  const m0 = await metrics(srv.port);
  const aborts = Array.from({ length: 6 }, () => new AbortController());
  await Promise.all(aborts.map(async (a) => {
    const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 440, stream: true }, { signal: a.signal });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    a.abort();
  }));
  // the slots are freed first, then each generation is counted (as finished, and as cancelled)
  await waitFor(async () => {
    const m = await metrics(srv.port);
    return m.gptoss_active_sequences === 0 && m.gptoss_generations_total - m0.gptoss_generations_total >= 6;
  }, 'active sequences to reach 0 and the 6 generations to end');
  assert((await metrics(srv.port)).gptoss_generations_cancelled_total >= 1, 'cancelled mid-stream');
});

await test('model: a killed client process leaves nothing behind', async () => {
  const code = `
    const OpenAI = require('openai').default;
    const c = new OpenAI({ baseURL: '${srv.url}/v1', apiKey: 'none', maxRetries: 0 });
    const go = () => c.chat.completions.create({ model: 'tiny', max_tokens: 400, stream: true,
      messages: [{ role: 'user', content: 'go' }] }).then(async (s) => { for await (const ch of s) console.log('chunk'); go(); });
    for (let i = 0; i < 4; i++) go();`;
  const child = spawn(process.execPath, ['-e', code], { cwd: new URL('.', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
  let exited = false;
  child.on('exit', () => { exited = true; });
  // Random weights rarely open a message, so chunks are few: watch the server's sequences instead.
  await waitFor(async () => exited || (await metrics(srv.port)).gptoss_active_sequences >= 3, 'the streams to run');
  assert(!exited, 'the client exited early');
  assert((await metrics(srv.port)).gptoss_active_sequences > 0, 'streams were running');
  child.kill('SIGKILL');
  await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 0, 'active sequences to reach 0');
});

const st = await srv.stop();
await test('model: the server shuts down cleanly', async () => {
  eq(st.code, 0, `exit status (stderr: ${st.stderr.slice(-2000)})`);
  assert(!/Sanitizer|runtime error/.test(st.stderr), st.stderr.slice(-3000));
});
done();
