// prefix.mjs: prompt-prefix reuse of the KV cache in `gptoss serve` on a tiny synthesized model, with
// the openai client: a conversation resending its history finds it in the cache (usage cached_tokens,
// /metrics), answers exactly what a fresh server answers, and n > 1 prefills its prompt once.
// The servers run the portable kernels (GPTOSS_CPU=scalar), whose results do not depend on how tokens
// are grouped into steps, so "exactly" means bit for bit; the fast kernels differ in summation order
// there (docs/SERVER.md). The tiny model writes only ids below 1024 (no special tokens), so what a
// slot shares with the next turn's prompt is exactly the previous prompt.
// env: GPTOSS_BIN, GPTOSS_MODEL; GPTOSS_SERVE_EXTRA: more serve options (e.g. --kv-f16: the same
// checks on f16 KV caches), named in every test's line.
import OpenAI from 'openai';
import { test, done, assert, eq, same, startServer, metrics, uncached } from './lib.mjs';

const bin = process.env.GPTOSS_BIN;
const extra = (process.env.GPTOSS_SERVE_EXTRA || '').split(' ').filter(Boolean);
const args = ['serve', process.env.GPTOSS_MODEL, '--parallel', '4', '--ctx-size', '512', '--model-name', 'tiny', ...extra];
const check = (name, fn) => test(extra.length ? `${name} [${extra.join(' ')}]` : name, fn);
const env = { GPTOSS_CPU: 'scalar' };
const model = 'tiny';
const clientOf = (srv) => new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });

// What a server that never saw anything answers.
async function fresh(fn) {
  const srv = await startServer(bin, args, env);
  try {
    return await fn(clientOf(srv), srv);
  } finally {
    await srv.stop();
  }
}

const srv = await startServer(bin, args, env);
const client = clientOf(srv);
const delta = (m0, m1, name) => m1[name] - m0[name];

function history(first, reply, next) {
  const content = reply.choices[0].message.content || 'Noted.';
  return [{ role: 'user', content: first }, { role: 'assistant', content }, { role: 'user', content: next }];
}

for (const [label, params] of [['seeded', { seed: 7 }], ['greedy', { temperature: 0 }]]) {
  await check(`prefix: a second turn resending the history reuses the first turn's cache (${label})`, async () => {
    const first = `Tell me about cats (${label}).`;
    const r1 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: first }],
      max_tokens: 16, ...params });
    const msgs = history(first, r1, 'And dogs?');
    const m0 = await metrics(srv.port);
    const r2 = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, ...params });
    const m1 = await metrics(srv.port);
    const cached = r2.usage.prompt_tokens_details.cached_tokens;
    console.log(`# ${label}: second turn ${r2.usage.prompt_tokens} prompt tokens, ${cached} cached`);
    same(cached, r1.usage.prompt_tokens, 'cached_tokens: the first turn\'s prompt (the shared prefix)');
    assert(r2.usage.prompt_tokens > cached, 'the new turn is prefilled');
    same(delta(m0, m1, 'gptoss_prompt_tokens_total'), r2.usage.prompt_tokens, 'prompt tokens metric');
    same(delta(m0, m1, 'gptoss_prompt_tokens_cached_total'), cached, 'cached tokens metric');
    same(delta(m0, m1, 'gptoss_prompt_tokens_prefilled_total'), r2.usage.prompt_tokens - cached, 'prefilled metric');
    const cold = await fresh((c) => c.chat.completions.create({ model, messages: msgs, max_tokens: 16, ...params }));
    eq(cold.usage.prompt_tokens_details.cached_tokens, 0, 'a fresh server has nothing cached');
    same(r2.choices, cold.choices, 'the same answer as a fresh server');
    same(uncached(r2.usage), uncached(cold.usage), 'the same usage');
  });
}

await check('prefix: streaming usage reports cached_tokens too', async () => {
  const first = 'Count to three.';
  const r1 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: first }], max_tokens: 8,
    seed: 2 });
  const s = await client.chat.completions.create({ model, messages: history(first, r1, 'Again.'), max_tokens: 8,
    seed: 2, stream: true, stream_options: { include_usage: true } });
  let usage = null;
  for await (const ch of s) if (ch.usage) usage = ch.usage;
  same(usage.prompt_tokens_details.cached_tokens, r1.usage.prompt_tokens);
});

await check('prefix: Responses with previous_response_id report input_tokens_details.cached_tokens', async () => {
  const r1 = await client.responses.create({ model, input: 'Hello there', max_output_tokens: 8 });
  const r2 = await client.responses.create({ model, input: 'And then?', previous_response_id: r1.id,
    max_output_tokens: 8 });
  const cached = r2.usage.input_tokens_details.cached_tokens;
  // r1's output comes back as an assistant message (its prompt then is a prefix of r2's) or, if it
  // was only reasoning, is dropped (then all but r1's last prompt token, "assistant", are shared)
  assert(cached === r1.usage.input_tokens || cached === r1.usage.input_tokens - 1,
    `cached ${cached} vs the first prompt's ${r1.usage.input_tokens}`);
});

await check('prefix: n=2 prefills the prompt once and each choice equals a single request (seed + i)', async () => {
  const msgs = [{ role: 'user', content: 'Name a color, any color at all.' }];
  const m0 = await metrics(srv.port);
  const r = await client.chat.completions.create({ model, messages: msgs, n: 2, max_tokens: 12, seed: 11 });
  const m1 = await metrics(srv.port);
  const cached = r.usage.prompt_tokens_details.cached_tokens;
  console.log(`# n=2: ${r.usage.prompt_tokens} prompt tokens, ${cached} cached (the system prompt, from another slot)`);
  assert(cached < r.usage.prompt_tokens - 4, `a new prompt (${cached} cached)`);
  same(delta(m0, m1, 'gptoss_prompt_tokens_total'), r.usage.prompt_tokens, 'the prompt counted once');
  same(delta(m0, m1, 'gptoss_prompt_tokens_prefilled_total'), r.usage.prompt_tokens - cached, 'the prompt prefilled once');
  eq(r.choices.length, 2);
  const singles = await fresh((c) => Promise.all([11, 12].map((seed) =>
    c.chat.completions.create({ model, messages: msgs, max_tokens: 12, seed }))));
  for (let i = 0; i < 2; i++) {
    same(r.choices[i].message, singles[i].choices[0].message, `choice ${i} = seed ${11 + i} alone`);
    same(r.choices[i].finish_reason, singles[i].choices[0].finish_reason);
  }
});

await check('prefix: a reply longer than the sliding-window history falls back and still answers exactly', async () => {
  // 200 tokens decoded: the slot cannot rewind that far (window + one 128-token chunk), so the second
  // turn prefills what it cannot find elsewhere
  const first = 'Write a long story.';
  const r1 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: first }],
    max_tokens: 200, seed: 4 });
  eq(r1.usage.completion_tokens, 200);
  const msgs = history(first, r1, 'Shorter, please.');
  const m0 = await metrics(srv.port);
  const r2 = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 4 });
  const m1 = await metrics(srv.port);
  const cached = r2.usage.prompt_tokens_details.cached_tokens;
  console.log(`# fallback: ${r2.usage.prompt_tokens} prompt tokens, ${cached} cached (first prompt ${r1.usage.prompt_tokens})`);
  assert(cached < r1.usage.prompt_tokens, `cached ${cached} < ${r1.usage.prompt_tokens}`);
  same(delta(m0, m1, 'gptoss_prompt_tokens_prefilled_total'), r2.usage.prompt_tokens - cached, 'prefilled metric');
  const cold = await fresh((c) => c.chat.completions.create({ model, messages: msgs, max_tokens: 16, seed: 4 }));
  same(r2.choices, cold.choices, 'the same answer as a fresh server');
});

await check('prefix: the server shuts down cleanly', async () => {
  const r = await srv.stop();
  eq(r.code, 0, `exit code (stderr: ${r.stderr})`);
});
done();
