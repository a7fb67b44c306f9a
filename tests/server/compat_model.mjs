// compat_model.mjs: /v1/completions (the openai client) and Ollama's /api/chat and /api/generate on a
// real (tiny, random-weight) model: the text is noise, the plumbing is real: token counts against the
// limits, the same seed giving the same text streamed and not, and a client that hangs up mid-stream.
// env: GPTOSS_BIN, GPTOSS_MODEL.
import http from 'node:http';
import OpenAI from 'openai';
import { test, done, assert, eq, same, startServer, raw, metrics, waitFor, timeScale } from './lib.mjs';

const srv = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--parallel', '4',
  '--ctx-size', '1024', '--model-name', 'gpt-oss-20b']);
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const model = 'gpt-oss-20b';
const post = (p, body) => raw(srv.port, 'POST', p, JSON.stringify(body), { 'Content-Type': 'application/json' });
const lines = (r) => r.body.split('\n').filter((l) => l).map((l) => JSON.parse(l));

await test('model completions: max_tokens (default 16), usage, the same seed streamed and not', async () => {
  const d = await client.completions.create({ model, prompt: 'Once upon a time', seed: 3 });
  assert(d.usage.completion_tokens >= 1 && d.usage.completion_tokens <= 16, `default limit: ${d.usage.completion_tokens}`);
  same(d.usage.total_tokens, d.usage.prompt_tokens + d.usage.completion_tokens);
  const plain = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 24, seed: 5, temperature: 0.7 });
  assert(['length', 'stop'].includes(plain.choices[0].finish_reason), plain.choices[0].finish_reason);
  if (plain.choices[0].finish_reason === 'length') eq(plain.usage.completion_tokens, 24);
  const s = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 24, seed: 5, temperature: 0.7,
    stream: true, stream_options: { include_usage: true } });
  let text = '', usage = null;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) text += c.text;
  }
  eq(text, plain.choices[0].text);
  same(usage.completion_tokens, plain.usage.completion_tokens);
});

await test('model ollama chat: NDJSON lines, num_predict, the same seed streamed and not', async () => {
  const body = { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'Tell me a story.' }],
    options: { num_predict: 20, seed: 9, temperature: 0.8 } };
  // Both measured requests find the prompt cached by this first one and prefill only its last token,
  // so they compute the same thing; a request that prefilled the whole prompt would differ in the last
  // bits (docs/SERVER.md, "Results"), and sampled at 0.8 could part from them at a near-tie.
  eq((await post('/api/chat', { ...body, stream: false })).status, 200);
  const s = await post('/api/chat', body);
  eq(s.status, 200, s.body);
  const ls = lines(s);
  const last = ls.at(-1);
  eq(last.done, true);
  assert(['stop', 'length'].includes(last.done_reason), last.done_reason);
  assert(last.eval_count >= 1 && last.eval_count <= 20, `eval_count ${last.eval_count}`);
  assert(last.prompt_eval_count > 20 && last.eval_duration > 0 && last.total_duration >= last.eval_duration, JSON.stringify(last));
  const content = ls.slice(0, -1).map((l) => l.message.content).join('');
  const thinking = ls.slice(0, -1).map((l) => l.message.thinking || '').join('');
  const plain = await post('/api/chat', { ...body, stream: false });
  eq(plain.json.message.content, content);
  eq(plain.json.message.thinking ?? '', thinking);
  same(plain.json.eval_count, last.eval_count);
});

await test('model ollama generate: templated and raw prompts', async () => {
  const t = await post('/api/generate', { model, prompt: 'Why is the sky blue?', stream: false, options: { num_predict: 8 } });
  eq(t.status, 200, t.body);
  assert(t.json.prompt_eval_count > 20, 'rendered as a conversation');
  const r = await post('/api/generate', { model, prompt: 'Why is the sky blue?', raw: true, options: { num_predict: 8 } });
  const last = lines(r).at(-1);
  assert(last.prompt_eval_count < 10, `raw: ${last.prompt_eval_count} tokens`);
  assert(last.eval_count >= 1 && last.eval_count <= 8, `eval_count ${last.eval_count}`);
});

await test('model ollama generate: clients that hang up mid-stream free their sequences', async () => {
  // raw: every token is text at once (the noise of a random model seldom makes a harmony message);
  // the tiny model is fast: some may finish before their hang-up is seen, not all
  const before = await metrics(srv.port);
  await Promise.all(Array.from({ length: 4 }, () => {
    let timer;
    return new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no lines')), 60000 * timeScale);
      const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/api/generate',
        headers: { 'Content-Type': 'application/json' } }, (res) => {
        res.on('data', () => { req.destroy(); resolve(); });
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.end(JSON.stringify({ model, prompt: 'Go on forever.', raw: true, options: { num_predict: 900 } }));
    }).finally(() => clearTimeout(timer));
  }));
  await waitFor(async () => {
    const m = await metrics(srv.port);
    return m.gptoss_active_sequences === 0 && m.gptoss_generations_total - before.gptoss_generations_total >= 4;
  }, 'the 4 generations to end', 30000);
  const m = await metrics(srv.port);
  assert(m.gptoss_generations_cancelled_total > before.gptoss_generations_cancelled_total, 'cancelled mid-stream');
  assert(m.gptoss_generated_tokens_total - before.gptoss_generated_tokens_total < 3600, 'not every token of every request');
});

const st = await srv.stop();
await test('model: the server exits cleanly', async () => eq(st.code, 0, st.stderr.slice(-500)));
done();
