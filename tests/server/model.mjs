// model.mjs: `gptoss serve` on a real (tiny, random-weight) model with the openai client: the text is
// noise, the plumbing is real: streaming, usage, seeds, Responses state, batching, disconnects.
// env: GPTOSS_BIN, GPTOSS_MODEL.
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, metrics, waitFor } from './lib.mjs';

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
  eq(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert(['stop', 'length', 'tool_calls'].includes(plain.choices[0].finish_reason), 'finish_reason');
});

await test('model: the same seed gives the same tokens (plain and streaming)', async () => {
  const again = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 1 });
  eq(again.choices[0].message, plain.choices[0].message);
  eq(again.usage, plain.usage);
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
  eq(usage, plain.usage, 'usage');
  eq(finish, plain.choices[0].finish_reason);
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
  eq(m1.gptoss_generated_tokens_total - m0.gptoss_generated_tokens_total, tokens, 'metrics count every token');
  assert(steps < tokens / 2, `${tokens} tokens in ${steps} steps`);
});

await test('model: clients that disconnect mid-stream free their sequences', async () => {
  const aborts = Array.from({ length: 6 }, () => new AbortController());
  await Promise.all(aborts.map(async (a) => {
    const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 440, stream: true }, { signal: a.signal });
    const it = s[Symbol.asyncIterator]();
    await it.next();
    a.abort();
  }));
  await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 0, 5000, 'active sequences to reach 0');
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
  await waitFor(async () => exited || (await metrics(srv.port)).gptoss_active_sequences >= 3, 10000, 'the streams to run');
  assert(!exited, 'the client exited early');
  assert((await metrics(srv.port)).gptoss_active_sequences > 0, 'streams were running');
  child.kill('SIGKILL');
  await waitFor(async () => (await metrics(srv.port)).gptoss_active_sequences === 0, 5000, 'active sequences to reach 0');
});

const st = await srv.stop();
await test('model: the server shuts down cleanly', async () => {
  eq(st.code, 0, `exit status (stderr: ${st.stderr.slice(-2000)})`);
  assert(!/Sanitizer|runtime error/.test(st.stderr), st.stderr.slice(-3000));
});
done();
