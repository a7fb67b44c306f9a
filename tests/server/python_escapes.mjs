// python_escapes.mjs: issue 19's escape cells sent by the model through `gptoss serve --python` (the
// scripted double makes the model call python with each one), checked through Responses'
// code_interpreter_call outputs: connecting to a server on 127.0.0.1, reading a file beside the model
// (the tokenizer the server loaded), a file in the server's working directory, /etc/shadow,
// /proc/<server pid>/environ and /root, writing outside /mnt/data, a fork bomb, allocating 50 GB,
// printing 10 GB (print, and os.write on fd 1), killing the server's pid and kill(-1, 9), ptrace through ctypes. While each cell runs
// another client gets a whole chat completion and /health within a bound; after each the server is
// alive, the reply shows the refusal, the host can still fork, and the server's VmRSS stayed bounded.
// The server's pid reaches the script through the shell that execs it. Last, a server without
// --python-data whose $TMPDIR is private (0700) still runs sandboxes. Skipped when this machine
// cannot sandbox. env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, raw, rssKiB, timeScale } from './lib.mjs';

const tmp = path.join(process.env.GPTOSS_TMP, 'python_escapes');
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, 'data'), { recursive: true, mode: 0o755 }); // reachable by the sandbox's uid
fs.chmodSync(tmp, 0o755);
const script = path.join(tmp, 'script.txt');
const secret = 'server-secret-value-4711';

// A server on the host's loopback the cells try to reach (their network namespace has no route to it).
const listener = net.createServer((c) => c.end('hello from the host\n'));
await new Promise((r) => listener.listen(0, '127.0.0.1', r));
const port = listener.address().port;

const cwdFile = path.join(process.cwd(), 'lib.mjs'); // the server runs in this directory
const hostFile = path.join(tmp, 'host-owned.txt');
fs.writeFileSync(hostFile, 'host\n', { mode: 0o644 }); // readable by anyone: only the sandbox's view may stop it
const cellLimit = 3; // --python-timeout: the fork bomb and the 10 GB output end by then

// name, code (SERVERPID is the server's pid), what the reply must match, what it must not (null:
// nothing to leak), whether it runs long enough for the other client to be served while it runs
const escapes = [
  ['ESC_CONNECT', `import socket\nsocket.create_connection(("127.0.0.1", ${port}), 2)`,
    /^(ConnectionRefusedError|OSError|TimeoutError)/m, /hello from the host/],
  ['ESC_MODEL', `open(${JSON.stringify(process.env.GPTOSS_TOKENIZER)}).read()`, /^FileNotFoundError/m, /^[A-Za-z0-9+\/=]+ \d+$/m],
  ['ESC_CWD', `open(${JSON.stringify(cwdFile)}).read()`, /^FileNotFoundError/m, /import .* from/],
  ['ESC_HOSTFILE', `open(${JSON.stringify(hostFile)}).read()`, /^FileNotFoundError/m, /^host$/m],
  ['ESC_SHADOW', 'open("/etc/shadow").read()', /^FileNotFoundError: .*\/etc\/shadow/m, /root:/],
  ['ESC_ENVIRON', 'open("/proc/SERVERPID/environ").read()', /^FileNotFoundError: .*\/proc\/\d+\/environ/m,
    new RegExp(secret)],
  ['ESC_PROCS', `import glob, os\n[p for p in glob.glob("/proc/[0-9]*/environ") if b"${secret}" in open(p, "rb").read()], "${secret}" in str(os.environ)`,
    /^\(\[\], False\)$/m, /host-secret|True/],
  ['ESC_ROOT', 'import os\nos.listdir("/root")', /^FileNotFoundError: .*'\/root'/m, /^\[/m],
  ['ESC_WRITE', `for p in ("/usr/evil", "/etc/evil", "/evil", "/dev/evil", ${JSON.stringify(path.join(tmp, 'evil'))}):\n    try:\n        open(p, "w")\n        print("wrote", p)\n    except OSError as e:\n        print(type(e).__name__, e.errno)`,
    /^OSError 30$/m, /^wrote/m],
  ['ESC_FORKBOMB', 'import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            while True:\n                pass\n    except OSError:\n        pass',
    new RegExp(`timed out after ${cellLimit} seconds`), null, true],
  ['ESC_MEMORY', 'b = bytearray(50 * 10**9)', /^MemoryError/m, null],
  ['ESC_OUTPUT', 's = "x" * 10**6\nfor i in range(10**4):\n    print(s)',
    /^\[output truncated: \d+ of 10000010000 bytes not shown\]$/m, null],
  ['ESC_FDOUTPUT', 'import os\nb = b"w" * 10**6\nfor i in range(10**4):\n    os.write(1, b)',
    /output truncated: \d+ of \d+ bytes not shown|timed out after/, null, true],
  ['ESC_KILLSERVER', 'import os\nos.kill(SERVERPID, 9)', /^ProcessLookupError/m, null],
  ['ESC_KILLALL', 'import os\nos.kill(-1, 9)', /^ProcessLookupError/m, null], // only the sandbox's own init and itself
  ['ESC_PTRACE', 'import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())',
    /^-1 1$/m, /^0 /m],
];
// The script's RESPONSE text: "\n" and "\\" are its escapes.
const esc = (code) => code.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const call = (code) => `<|channel|>analysis to=python code<|message|>${esc(code)}<|call|>`;
const final = (text) => `<|channel|>final<|message|>${text}<|return|>`;
fs.writeFileSync(script, [
  ...escapes.map(([name, code]) => `${name} => ${call(code)}`),
  `ESC_ALIVE => ${call('print("still" + " alive")')}`,
  `PLAIN_HI => ${final('Hello')}`,
  `* => ${final('Handled.')}`, // python's reply, whatever it says
].join('\n') + '\n');

// a context that holds a 16 KiB reply of repeated letters (a few thousand tokens) after the prompt
const base = ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--parallel', '4', '--ctx', '32768',
  '--python', '--python-data', path.join(tmp, 'data'), '--python-timeout', String(cellLimit)];
let srv;
try {
  // exec keeps the shell's pid, so $$ is the server's pid
  srv = await startServer('/bin/sh', ['-c', 'sed -i "s/SERVERPID/$$/g" "$SERVER_DOUBLE_SCRIPT" && exec "$0" "$@"',
    process.env.GPTOSS_DOUBLE, ...base], { SERVER_DOUBLE_SCRIPT: script, GPTOSS_TEST_SECRET: secret });
} catch (e) {
  const why = String(e.message || e).split('\n').find((l) => l.includes('--python')) || String(e).split('\n')[0];
  console.log(`ok - python escapes through the server # SKIP the python sandbox cannot be set up here: ${why.trim()}`);
  listener.close();
  process.exit(0);
}
const pid = srv.proc.pid;
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const tools = [{ type: 'code_interpreter', container: { type: 'auto' } }];
const include = ['code_interpreter_call.outputs'];
const bound = 5000 * timeScale; // ms for another client's whole answer while a cell runs

await test('control: the host reaches the loopback server, the script names the server\'s pid', async () => {
  const got = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let t = '';
    s.on('data', (d) => { t += d; });
    s.on('end', () => resolve(t));
    s.on('error', reject);
  });
  eq(got, 'hello from the host\n');
  assert(fs.readFileSync(script, 'utf8').includes(`os.kill(${pid}, 9)`), 'the pid is in the script');
  assert(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(secret), 'the server holds the secret');
});

const rss0 = rssKiB(pid);
let peak = rss0;
const byName = {};
for (const [name, , want, never, slow] of escapes) {
  await test(`${name}: refused inside the sandbox; other clients served meanwhile; the server alive, bounded`, async () => {
    let running = true;
    const sampler = (async () => {
      while (running) {
        try { peak = Math.max(peak, rssKiB(pid)); } catch { /* gone: checked below */ }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const t0 = Date.now();
    const cell = client.responses.create({ model: 'double-model', input: name, tools, include })
      .then((r) => ({ r, ms: Date.now() - t0 }));
    if (slow) await new Promise((r) => setTimeout(r, 500)); // the cell is running by now
    const side = async () => {
      const s0 = Date.now();
      const [chat, health] = await Promise.all([
        client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: 'PLAIN_HI' }] }),
        raw(srv.port, 'GET', '/health'),
      ]);
      return { chat, health, ms: Date.now() - s0, end: Date.now() - t0 };
    };
    const o = await side();
    const { r, ms } = await cell;
    running = false;
    await sampler;
    eq(o.chat.choices[0].message.content, 'Hello', 'the other client\'s answer');
    eq(o.health.status, 200, '/health');
    assert(o.ms < bound, `the other client waited ${o.ms} ms (bound ${bound})`);
    if (process.env.DEBUG_ESC) console.log(`# ${name} logs: ${JSON.stringify(r.output.find((x) => x.type === 'code_interpreter_call')?.outputs?.[0]?.logs?.slice(-300))}`);
    if (slow) assert(o.end < ms, `the other client finished (${o.end} ms) before the cell (${ms} ms)`);
    const ci = r.output.find((x) => x.type === 'code_interpreter_call');
    assert(ci && ci.outputs && ci.outputs[0], `a code_interpreter_call with outputs: ${JSON.stringify(r.output)}`);
    const logs = ci.outputs[0].logs;
    byName[name] = ci;
    assert(want.test(logs), `the refusal (${want}): ${logs.slice(0, 400)}`);
    assert(!never || !never.test(logs), `nothing that escaped (${never}): ${logs.slice(0, 400)}`);
    eq(r.status, 'completed', `the response: ${JSON.stringify(r.incomplete_details)}`);
    eq(r.output_text, 'Handled.');
    eq(srv.proc.exitCode, null, 'the server runs');
    eq((await raw(srv.port, 'GET', '/health')).status, 200, '/health after');
    for (let i = 0; i < 5; i++) execFileSync('/bin/true'); // the host can still fork
    const rss = rssKiB(pid);
    peak = Math.max(peak, rss);
    assert(peak - rss0 < 128 * 1024, `VmRSS peaked at ${peak} KiB from ${rss0} KiB`);
    console.log(`# ${name}: cell ${ms} ms, other client ${o.ms} ms, server VmRSS ${rss} KiB (peak ${peak})`);
  });
}

await test('nothing was written on the host outside the data directory', async () => {
  assert(!fs.existsSync(path.join(tmp, 'evil')), `${tmp}/evil exists`);
});

await test('after kill(-1, 9) the container answers again (a new interpreter), the server untouched', async () => {
  const ci = byName.ESC_KILLALL;
  assert(ci, 'the kill(-1, 9) cell ran');
  const r = await client.responses.create({ model: 'double-model', input: 'ESC_ALIVE', include,
    tools: [{ type: 'code_interpreter', container: ci.container_id }] });
  const c2 = r.output.find((x) => x.type === 'code_interpreter_call');
  eq(c2.container_id, ci.container_id);
  assert(/still alive/.test(c2.outputs[0].logs), c2.outputs[0].logs);
  eq(srv.proc.exitCode, null, 'the server runs');
});

const stopped = await srv.stop();
listener.close();
await test('the server stops cleanly after every escape', async () => {
  eq(stopped.code, 0, `exit status: ${stopped.stderr.slice(-400)}`);
});

// Without --python-data each sandbox's /mnt/data is a private folder in $TMPDIR; as root a private
// $TMPDIR (0700) cannot be reached by the sandbox's uid, so the tool makes it in /tmp instead.
await test('without --python-data, with a private $TMPDIR: the sandboxes work', async () => {
  const priv = path.join(tmp, 'private');
  fs.mkdirSync(priv, { mode: 0o700 });
  const s2 = await startServer(process.env.GPTOSS_DOUBLE, [...base.slice(0, base.indexOf('--python')), '--python'],
    { SERVER_DOUBLE_SCRIPT: script, TMPDIR: priv });
  try {
    const c = new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const r = await c.responses.create({ model: 'double-model', input: 'ESC_ALIVE', tools, include });
    const ci = r.output.find((x) => x.type === 'code_interpreter_call');
    assert(/still alive/.test(ci.outputs[0].logs), ci.outputs[0].logs);
  } finally { await s2.stop(); }
});
done();
