// server.mjs URL CLIENTS SECONDS MAX_TOKENS: closed-loop load on a running `gptoss serve`: CLIENTS
// clients each send streaming chat requests back to back for SECONDS; prints one JSON line with the
// aggregate generated tokens per second end to end (from the server's /metrics counters over the
// window, prefill included), the aggregate decode tokens per second (tokens through batched decode
// steps / seconds spent in them), and the scheduler's steps.
const [url, clientsArg, secondsArg, maxArg] = process.argv.slice(2);
const clients = Number(clientsArg), seconds = Number(secondsArg), maxTokens = Number(maxArg);

async function metric(name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

async function request(i) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream: true, max_tokens: maxTokens, seed: i, temperature: 1,
      messages: [{ role: 'user', content: `Benchmark request ${i}. Write a long story about a lighthouse.` }] }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  for await (const chunk of res.body) void chunk;
}

// Warm up (one request per client), then measure.
await Promise.all(Array.from({ length: clients }, (_, i) => request(i)));
const end = Date.now() + seconds * 1000;
const tok0 = await metric('gptoss_generated_tokens_total'), steps0 = await metric('gptoss_decode_steps_total');
const dtok0 = await metric('gptoss_decode_tokens_total'), dsec0 = await metric('gptoss_decode_seconds_total');
const psec0 = await metric('gptoss_prefill_seconds_total');
const t0 = Date.now();
let n = 0;
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let k = 0; Date.now() < end; k++) { await request(1000 * c + k); n++; }
}));
const t1 = Date.now();
const tok1 = await metric('gptoss_generated_tokens_total'), steps1 = await metric('gptoss_decode_steps_total');
const dtok1 = await metric('gptoss_decode_tokens_total'), dsec1 = await metric('gptoss_decode_seconds_total');
const psec1 = await metric('gptoss_prefill_seconds_total');
const tokens = tok1 - tok0, secs = (t1 - t0) / 1000;
console.log(JSON.stringify({ clients, requests: n, tokens, seconds: Number(secs.toFixed(2)),
  tokens_per_second: Number((tokens / secs).toFixed(2)),
  decode_tokens_per_second: Number(((dtok1 - dtok0) / Math.max(1e-9, dsec1 - dsec0)).toFixed(2)),
  decode_seconds: Number((dsec1 - dsec0).toFixed(2)), prefill_seconds: Number((psec1 - psec0).toFixed(2)),
  steps: steps1 - steps0,
  tokens_per_step: Number((tokens / Math.max(1, steps1 - steps0)).toFixed(2)) }));
