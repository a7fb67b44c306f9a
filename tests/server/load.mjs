// load.mjs: 32 concurrent streaming clients, LOAD_REQUESTS requests in all (default 2000) against
// `gptoss serve` on the tiny model; every 10th client hangs up after the first chunk. No request may
// fail, the server's RSS over the last 500 requests must stay within 10% of the first 500, and every
// sequence must be freed at the end. env: GPTOSS_BIN, GPTOSS_MODEL, LOAD_REQUESTS, LOAD_JSON (results).
// The run takes as long as the machine needs; a hang is no request finishing for 2 minutes (x the
// time scale, tests/lib.sh).
import fs from 'node:fs';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, metrics, waitFor, rssKiB, timeScale } from './lib.mjs';

const total = Number(process.env.LOAD_REQUESTS || 2000);
const clients = 32;
const srv = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--parallel', '16',
  '--queue', '64', '--ctx-size', '256', '--model-name', 'tiny']);
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const rss = new Array(total).fill(0);
let next = 0, ok = 0, aborted = 0, tokens = 0, finished = 0, lastFinished = Date.now();
const failures = [];

async function one(i) {
  const a = new AbortController();
  const hangUp = i % 10 === 9;
  try {
    const s = await client.chat.completions.create({ model: 'tiny', stream: true, max_tokens: hangUp ? 200 : 8,
      stream_options: { include_usage: true }, seed: i,
      messages: [{ role: 'user', content: `Request ${i}: tell me something.` }] }, { signal: a.signal });
    let finish = null, usage = null, role = null;
    for await (const ch of s) {
      if (hangUp) { a.abort(); break; }
      if (ch.usage) usage = ch.usage;
      const c = ch.choices[0];
      if (c?.delta?.role) role = c.delta.role;
      if (c?.finish_reason) finish = c.finish_reason;
    }
    if (hangUp) aborted++;
    else if (role !== 'assistant' || !finish || !usage || usage.completion_tokens < 1) failures.push(`request ${i}: incomplete stream`);
    else { ok++; tokens += usage.completion_tokens; }
  } catch (e) {
    if (hangUp && (e.name === 'AbortError' || /abort/i.test(String(e)))) aborted++;
    else failures.push(`request ${i}: ${e.message}`);
  }
  rss[i] = rssKiB(srv.proc.pid);
  finished++;
  lastFinished = Date.now();
}

const stall = 120000 * timeScale;
const watchdog = setInterval(() => {
  if (Date.now() - lastFinished <= stall) return;
  console.log(`not ok - load: no request finished for ${stall / 1000} s (a hang; ${finished} of ${total} finished)`);
  srv.proc.kill('SIGKILL');
  process.exit(1);
}, 1000);

const t0 = Date.now();
await Promise.all(Array.from({ length: clients }, async () => {
  for (let i = next++; i < total; i = next++) await one(i);
}));
clearInterval(watchdog);
const secs = (Date.now() - t0) / 1000;
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const n = Math.min(500, Math.floor(total / 4));
const first = mean(rss.slice(0, n)), last = mean(rss.slice(total - n));

await test(`load: ${total} streaming requests from ${clients} clients, none failed`, async () => {
  eq(failures.slice(0, 5), [], 'failures');
  eq(ok + aborted, total);
});
await test(`load: RSS over the last ${n} requests within 10% of the first ${n}`, async () => {
  assert(Math.abs(last - first) <= 0.1 * first, `first ${first.toFixed(0)} KiB, last ${last.toFixed(0)} KiB`);
});
await test('load: clients that hung up mid-stream left no sequence behind', async () => {
  // a generation is counted just after its client is answered: wait for the count too
  await waitFor(async () => {
    const m = await metrics(srv.port);
    return m.gptoss_active_sequences === 0 && m.gptoss_queue_length === 0 && m.gptoss_generations_total >= total;
  }, 'active sequences and the queue to empty, every generation counted');
  const m = await metrics(srv.port);
  eq(m.gptoss_generations_total, total, 'every request ended');
  eq(m['gptoss_requests_total{code="429"}'], 0, 'no 429 with 32 clients and 16 + 64 places');
});
const summary = { requests: total, clients, ok, aborted, failures: failures.length, seconds: secs,
  rss_first_kib: Math.round(first), rss_last_kib: Math.round(last), rss_max_kib: Math.max(...rss), completion_tokens: tokens };
console.log(`# ${JSON.stringify(summary)}`);
if (process.env.LOAD_JSON) fs.writeFileSync(process.env.LOAD_JSON, JSON.stringify(summary) + '\n');
const st = await srv.stop();
await test('load: the server shuts down cleanly', async () => {
  eq(st.code, 0, `exit status (stderr: ${st.stderr.slice(-2000)})`);
  assert(!/Sanitizer|runtime error/.test(st.stderr), st.stderr.slice(-3000));
});
done();
