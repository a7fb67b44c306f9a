// connections.mjs: clients that hold connections without finishing a request (issue 25, item 3): 600
// connections that each sent half a head (from one address and from many) leave /health answering
// within a second; a head sent a byte at a time and a body shorter than its Content-Length are cut off
// after --header-timeout / --body-timeout with a JSON 408; a connection that sends nothing is closed
// silently, and every connection carries one request; --max-connections-per-address makes an address's oldest waiting connection go first and
// turns a newcomer away (503) only when all of its connections run requests; a request that runs longer
// than both timeouts is not cut. Times are printed as "# ..." lines.
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, done, assert, eq, startServer, raw, metrics, waitFor, timeScale } from './lib.mjs';

const tmp = process.env.GPTOSS_TMP;
const script = path.join(tmp, 'connections_script.txt');
fs.writeFileSync(script, [
  'SLOW => <|channel|>final<|message|>' + 'word '.repeat(40) + '<|return|>',
  '* => <|channel|>final<|message|>Hello.<|return|>',
].join('\n') + '\n');
const double = (extra = [], env = {}) => startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer',
  process.env.GPTOSS_TOKENIZER, '--ctx-size', '1024', '--quiet', ...extra], { SERVER_DOUBLE_SCRIPT: script, ...env });

// A socket from a given loopback address (127.0.0.0/8 is all loopback on Linux); resolves once
// connected, with what it reads and when it closed.
function open(port, from = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
    s.text = '';
    s.gone = new Promise((res) => s.on('close', () => { s.closedAt = Date.now(); res(); }));
    s.on('data', (d) => { s.text += d.toString('latin1'); });
    s.on('error', (e) => { if (!s.connecting) return; reject(e); });
    s.on('connect', () => resolve(s));
  });
}
const isOpen = (s) => !s.closedAt;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const halfHead = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';

async function canBind(addr) {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try { const s = await open(srv.address().port, addr); s.destroy(); return true; } catch { return false; } finally { srv.close(); }
}
const manyAddresses = await canBind('127.0.0.2');

async function healthTime(port) {
  const t0 = process.hrtime.bigint();
  const r = await raw(port, 'GET', '/health');
  return { r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

// 600 sockets, each having sent half a request head; resolves with them once all are connected.
async function halfOpen(port, n, addrOf) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = await open(port, addrOf(i));
    s.write(halfHead);
    socks.push(s);
  }
  return socks;
}

for (const [what, addrOf] of [['one address', () => '127.0.0.1'],
  ['30 addresses', (i) => `127.0.0.${2 + (i % 30)}`]]) {
  await test(`connections: with 600 half-sent heads from ${what}, /health answers within a second`, async () => {
    if (what !== 'one address' && !manyAddresses) {
      console.log('# skipped: cannot bind 127.0.0.2 here');
      return;
    }
    const srv = await double();
    const socks = [];
    try {
      socks.push(...await halfOpen(srv.port, 600, addrOf));
      await sleep(300); // (a connection younger than a quarter of a second is not closed for another)
      const { r, ms } = await healthTime(srv.port);
      console.log(`# /health with 600 half-open connections (${what}): ${ms.toFixed(1)} ms; ` +
        `${socks.filter(isOpen).length} of them still open`);
      eq(r.status, 200, `/health: ${r.body}`);
      assert(ms < 1000 * timeScale, `/health took ${ms} ms`);
      const chat = await raw(srv.port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
        { 'Content-Type': 'application/json' });
      eq(chat.status, 200, `a request still runs: ${chat.body.slice(0, 200)}`);
      const m = await metrics(srv.port);
      const gone = m.gptoss_connections_evicted_total + m.gptoss_connections_refused_total;
      console.log(`# ${m.gptoss_connections_evicted_total} closed to make room, ${m.gptoss_connections_refused_total} turned away`);
      assert(m.gptoss_connections_evicted_total >= 1, 'waiting connections were closed to make room');
      assert(gone >= (what === 'one address' ? 600 - 64 : 600 - 512), `closed or turned away: ${gone}`);
      assert(m.gptoss_connections_open <= 512, `open: ${m.gptoss_connections_open}`);
    } finally {
      for (const s of socks) s.destroy();
      await srv.stop();
    }
  });
}

await test('connections: under a low descriptor limit (ulimit -n 200) --max-connections is lowered and /health still answers', async () => {
  const srv = await startServer('bash', ['-c', 'ulimit -n 200 && exec "$0" "$@"', process.env.GPTOSS_DOUBLE, 'double-model',
    '--tokenizer', process.env.GPTOSS_TOKENIZER, '--ctx-size', '1024'], { SERVER_DOUBLE_SCRIPT: script });
  const socks = [];
  try {
    assert(/--max-connections lowered from 512 to 64/.test(srv.stderr()), `a warning: ${srv.stderr()}`);
    for (let i = 0; i < 150; i++) {
      const s = await open(srv.port);
      s.write(halfHead);
      socks.push(s);
    }
    await sleep(300);
    const { r, ms } = await healthTime(srv.port);
    console.log(`# /health with 150 half-open connections under ulimit -n 200: ${ms.toFixed(1)} ms`);
    eq(r.status, 200, `/health: ${r.body}`);
    assert(ms < 1000 * timeScale, `/health took ${ms} ms`);
  } finally {
    for (const s of socks) s.destroy();
    await srv.stop();
  }
});

await test('connections: a head sent a byte at a time is cut off after --header-timeout with a JSON 408', async () => {
  const srv = await double(['--header-timeout', '2']);
  try {
    const s = await open(srv.port);
    const t0 = Date.now();
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => { if (isOpen(s)) s.write('X'); }, 200);
    await Promise.race([s.gone, sleep(10000 * timeScale)]);
    clearInterval(drip);
    const ms = Date.now() - t0;
    console.log(`# a dripping head was closed after ${ms} ms (--header-timeout 2)`);
    assert(!isOpen(s), 'closed');
    assert(ms >= 1900 && ms < 4000 * timeScale, `closed after ${ms} ms`);
    assert(/^HTTP\/1\.1 408 /.test(s.text), `a 408: ${JSON.stringify(s.text.slice(0, 200))}`);
    const body = JSON.parse(s.text.slice(s.text.indexOf('\r\n\r\n') + 4));
    eq(body.error.code, 'request_timeout', 'code');
    const m = await metrics(srv.port);
    assert(m.gptoss_connections_timed_out_total >= 1, 'counted');
  } finally {
    await srv.stop();
  }
});

await test('connections: a body shorter than its Content-Length is cut off after --body-timeout with a JSON 408', async () => {
  const srv = await double(['--body-timeout', '2']);
  try {
    const s = await open(srv.port);
    const t0 = Date.now();
    s.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      'Content-Length: 100\r\n\r\n{"messages": [');
    await Promise.race([s.gone, sleep(10000 * timeScale)]);
    const ms = Date.now() - t0;
    console.log(`# a short body was answered after ${ms} ms (--body-timeout 2)`);
    assert(!isOpen(s), 'closed');
    assert(ms >= 1900 && ms < 4000 * timeScale, `closed after ${ms} ms`);
    assert(/^HTTP\/1\.1 408 /.test(s.text), `a 408: ${JSON.stringify(s.text.slice(0, 200))}`);
    eq(JSON.parse(s.text.slice(s.text.indexOf('\r\n\r\n') + 4)).error.code, 'request_timeout', 'code');
    // a whole body sent slowly but within the limit is fine
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x' }] });
    const k = await open(srv.port);
    k.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    for (const half of [body.slice(0, 10), body.slice(10)]) { await sleep(500); k.write(half); }
    await Promise.race([k.gone, sleep(10000 * timeScale)]);
    assert(/^HTTP\/1\.1 200 /.test(k.text), `a body in 1 s: ${JSON.stringify(k.text.slice(0, 200))}`);
  } finally {
    await srv.stop();
  }
});

await test('connections: a connection that sends nothing is closed without an answer after --header-timeout; ' +
  'one request a connection', async () => {
  const srv = await double(['--header-timeout', '1']);
  try {
    const s = await open(srv.port);
    const t0 = Date.now();
    await Promise.race([s.gone, sleep(10000 * timeScale)]);
    const ms = Date.now() - t0;
    console.log(`# a silent connection was closed after ${ms} ms (--header-timeout 1)`);
    assert(!isOpen(s), 'closed');
    assert(ms >= 900 && ms < 3000 * timeScale, `closed after ${ms} ms`);
    eq(s.text, '', 'no answer');
    // every answer says Connection: close and the server closes the connection after it
    const k = await open(srv.port);
    k.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await Promise.race([k.gone, sleep(10000 * timeScale)]);
    assert(!isOpen(k), 'closed after the answer');
    assert(/^HTTP\/1\.1 200 /.test(k.text) && /\r\nConnection: close\r\n/i.test(k.text), JSON.stringify(k.text.slice(0, 300)));
  } finally {
    await srv.stop();
  }
});

await test('connections: a request that runs longer than both timeouts is answered whole', async () => {
  const srv = await double(['--header-timeout', '1', '--body-timeout', '1'], { SERVER_DOUBLE_DELAY_MS: '60' });
  try {
    const t0 = Date.now();
    const r = await raw(srv.port, 'POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'SLOW' }] }),
      { 'Content-Type': 'application/json' });
    const ms = Date.now() - t0;
    console.log(`# a 40-word answer at 60 ms a token: ${ms} ms`);
    assert(ms > 1500, `it ran for ${ms} ms: longer than the timeouts`);
    eq(r.status, 200, r.body.slice(0, 200));
    eq(r.json.choices[0].message.content, 'word '.repeat(40), 'the whole answer');
  } finally {
    await srv.stop();
  }
});

await test('connections: --max-connections-per-address closes an address\'s oldest waiting connection, ' +
  'and turns a newcomer away (503) only when all run requests', async () => {
  const srv = await double(['--max-connections-per-address', '3', '--parallel', '4'], { SERVER_DOUBLE_DELAY_MS: '50' });
  try {
    const idle = [];
    for (let i = 0; i < 3; i++) { idle.push(await open(srv.port)); await sleep(20); }
    await sleep(300); // only a connection that has waited a quarter of a second is closed for another
    const fourth = await open(srv.port);
    await Promise.race([idle[0].gone, sleep(3000 * timeScale)]);
    assert(!isOpen(idle[0]), 'the oldest waiting connection was closed');
    assert(isOpen(idle[1]) && isOpen(idle[2]) && isOpen(fourth), 'the others stay');
    for (const s of [...idle, fourth]) s.destroy();
    await waitFor(async () => (await metrics(srv.port)).gptoss_connections_open <= 1, 'the connections to close');
    await sleep(200); // the last /metrics connection counts until the server has finished with it

    // three requests running from this address: a fourth connection is turned away with a 503
    const slow = JSON.stringify({ messages: [{ role: 'user', content: 'SLOW' }] });
    const running = [0, 1, 2].map(() => raw(srv.port, 'POST', '/v1/chat/completions', slow, { 'Content-Type': 'application/json' }));
    await sleep(500); // (not /metrics: from this address, it would be turned away too)
    const s = await open(srv.port);
    await Promise.race([s.gone, sleep(3000 * timeScale)]);
    assert(!isOpen(s), 'turned away');
    assert(/^HTTP\/1\.1 503 /.test(s.text), `a 503: ${JSON.stringify(s.text.slice(0, 300))}`);
    eq(JSON.parse(s.text.slice(s.text.indexOf('\r\n\r\n') + 4)).error.code, 'too_many_connections', 'code');
    if (manyAddresses) {
      const other = await new Promise((resolve, reject) => {
        const k = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.9' });
        let text = '';
        k.on('data', (d) => { text += d; });
        k.on('error', reject);
        k.on('close', () => resolve(text));
        k.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      assert(/^HTTP\/1\.1 200 /.test(other), `another address is served: ${other.slice(0, 200)}`);
    }
    for (const r of await Promise.all(running)) eq(r.status, 200, `the running requests finish: ${r.body.slice(0, 200)}`);
    const m = await metrics(srv.port);
    assert(m.gptoss_connections_refused_total >= 1, `refused counted: ${m.gptoss_connections_refused_total}`);
  } finally {
    await srv.stop();
  }
});

done();
