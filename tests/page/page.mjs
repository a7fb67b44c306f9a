// page.mjs: the chat page of `gptoss serve` in headless Chromium (puppeteer-core, pinned in
// package-lock.json), against the scripted double (tests/server_double.c, slowed by
// SERVER_DOUBLE_DELAY_MS so a stream can be watched) and, when GPTOSS_MODEL is set, `gptoss serve` on a
// tiny synthesized model. On the double: the API key asked for (401 -> dialog, a wrong key asked
// again), the reasoning block open while it streams and folded once the answer starts, markdown with a
// code block (and HTML in the answer left as text), the effort selector reaching the prompt, a function
// call shown, the stop button ending a slow stream (and the server's job), conversations surviving a
// reload, new and delete; the browser run server-side shown as tool calls; python run server-side
// (`--python`, skipped when this machine cannot sandbox): its code, status and output shown, the
// container kept across the turns of a conversation (and a new one when the server lost it), kept
// over a reload, and a server without python's 400 shown; no script error or CSP violation anywhere.
// Writes a screenshot of a streamed answer with its reasoning folded, and one of a python call.
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP, GPTOSS_BIN, CHROMIUM; optional: GPTOSS_MODEL, GPTOSS_SHOT
// and GPTOSS_SHOT_PYTHON (where the screenshots go; their paths are printed in # lines).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { test, done, assert, eq, startServer, raw, waitFor, timeScale } from '../server/lib.mjs';

const tmp = path.join(process.env.GPTOSS_TMP, 'page');
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(tmp, { recursive: true });
const T = 60000 * timeScale; // a wait longer than this is a hang (the machine may be busy)

const reasoning = 'Let me think about the **question** step by step. ' + 'Considering the parts. '.repeat(12);
const answerMd = '# Result\\n\\nHere is *some* text with `inline` code and <b>tags</b> that stay text.\\n\\n' +
  '```python\\nprint(1 < 2)\\n```\\n\\n- one\\n- two\\n\\n| step | cost |\\n|:---:|---:|\\n| parse | 1 |\\n\\nDone.';
const script = path.join(tmp, 'script.txt');
const log = path.join(tmp, 'prompts.txt');
fs.writeFileSync(script, [
  `MARKDOWN_Q => <|channel|>analysis<|message|>${reasoning}<|end|><|start|>assistant<|channel|>final<|message|>${answerMd}<|return|>`,
  'SLOW_Q => <|channel|>analysis<|message|>Slowly.<|end|><|start|>assistant<|channel|>final<|message|>' + 'word '.repeat(3000) + '<|return|>',
  'WEATHER_Q => <|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
  '* => <|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>Hello there.<|return|>',
].join('\n') + '\n');
const prompts = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x) : []);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--no-first-run',
    '--disable-dev-shm-usage', '--window-size=1100,800'],
});
const servers = [];
let crashed = false;
const problems = []; // script errors and console errors (a CSP violation is one) of every page

async function openPage(url) {
  const ctx = await browser.createBrowserContext(); // its own localStorage
  const page = await ctx.newPage();
  await page.setViewport({ width: 1100, height: 800 });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // a 401 is the key flow at work, a 400 the refused web search or python (or a container the
    // server lost, before the page retries); any other error logged is a fault
    if (m.type() === 'error' && !/status of 40[01] /.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

// The last assistant message's state, texts and parts, read from the DOM.
const lastAnswer = (page) => page.evaluate(() => {
  const all = document.querySelectorAll('article.msg.assistant');
  const a = all[all.length - 1];
  if (!a) return null;
  const d = a.querySelector('details.reasoning');
  return {
    n: all.length, state: a.dataset.state, busy: a.getAttribute('aria-busy'),
    open: d.open, reasoningShown: !d.hidden, reasoning: d.querySelector('.text').textContent,
    summary: d.querySelector('summary').textContent, text: a.querySelector('.body').textContent,
    html: a.querySelector('.body').innerHTML, note: a.querySelector('.note').textContent,
    tools: [...a.querySelectorAll('.tool')].map((t) => ({ kind: t.dataset.kind, text: t.textContent })),
  };
});

async function ask(page, text) {
  await page.focus('#prompt');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function waitState(page, states) {
  await page.waitForFunction((s) => {
    const all = document.querySelectorAll('article.msg.assistant');
    const a = all[all.length - 1];
    return a && s.includes(a.dataset.state);
  }, { timeout: T }, states);
  return lastAnswer(page);
}

try {
  const dbl = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
    '--api-key', 'sekret', '--parallel', '2', '--ctx-size', '8192'],
  { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log, SERVER_DOUBLE_DELAY_MS: String(8 * timeScale) });
  servers.push(dbl);
  const page = await openPage(dbl.url + '/');

  await test('the page loads without the key; /v1/models answers 401, so the page asks for it', async () => {
    await page.waitForSelector('#key-dialog[open]', { timeout: T });
    eq(await page.$eval('title', (t) => t.textContent), 'gptoss chat');
  });

  await test('a wrong key is refused and asked again; the right one is kept and lists the model', async () => {
    await page.type('#key-input', 'nope');
    await page.click('#key-save');
    await page.waitForFunction(() => document.querySelector('#key-dialog').open &&
      /refused/.test(document.querySelector('#key-why').textContent), { timeout: T });
    await page.$eval('#key-input', (i) => { i.value = ''; });
    await page.type('#key-input', 'sekret');
    await page.click('#key-save');
    await page.waitForFunction(() => document.querySelector('#model-name').textContent === 'double-model', { timeout: T });
    eq(await page.evaluate(() => localStorage.getItem('gptoss.apiKey')), 'sekret');
    eq(await page.$eval('#key-dialog', (d) => d.open), false);
  });

  let shot;
  await test('effort high; reasoning streams in an open block, folds when the answer starts; markdown rendered', async () => {
    await page.select('#effort', 'high');
    await ask(page, 'MARKDOWN_Q please');
    // caught while streaming: the block shown and open, reasoning arriving, no answer yet
    await page.waitForFunction(() => {
      const a = document.querySelector('article.msg.assistant');
      const d = a && a.querySelector('details.reasoning');
      return a && a.dataset.state === 'streaming' && d.open && !d.hidden &&
        /step by step/.test(d.textContent) && !a.querySelector('.body').textContent;
    }, { timeout: T, polling: 'mutation' });
    eq(await page.$eval('#stop', (b) => !b.hidden), true, 'the stop button is shown while streaming');
    // the answer starts: the block folds while the answer still streams
    await page.waitForFunction(() => {
      const a = document.querySelector('article.msg.assistant');
      return a.dataset.state === 'streaming' && a.querySelector('.body').textContent && !a.querySelector('details').open;
    }, { timeout: T, polling: 'mutation' });
    const a = await waitState(page, ['done']);
    eq(a.open, false, 'folded at the end');
    assert(a.reasoningShown && a.reasoning.startsWith('Let me think about the **question**'), `reasoning ${a.reasoning}`);
    eq(a.summary, 'Reasoning (high)');
    const md = await page.evaluate(() => {
      const b = document.querySelector('article.msg.assistant .body');
      return {
        h1: b.querySelector('h1')?.textContent, em: b.querySelector('em')?.textContent,
        inline: b.querySelector('p code')?.textContent, code: b.querySelector('pre code')?.textContent,
        lang: b.querySelector('pre code')?.dataset.lang, items: [...b.querySelectorAll('li')].map((l) => l.textContent),
        b: b.querySelectorAll('b').length, para: b.querySelector('p').textContent,
        cells: [...b.querySelectorAll('th, td')].map((c) => `${c.textContent}:${getComputedStyle(c).textAlign}`),
      };
    });
    eq(md.h1, 'Result');
    eq(md.em, 'some');
    eq(md.inline, 'inline');
    eq(md.code, 'print(1 < 2)');
    eq(md.lang, 'python');
    eq(md.items, ['one', 'two']);
    eq(md.b, 0, 'HTML in the answer is not markup');
    eq(md.cells, ['step:center', 'cost:right', 'parse:center', '1:right'], 'a table, aligned');
    assert(md.para.includes('<b>tags</b> that stay text'), md.para);
    eq(await page.$eval('#stop', (b) => b.hidden), true, 'stop hidden when done');
    const p = prompts().find((x) => x.includes('MARKDOWN_Q'));
    assert(p && p.includes('Reasoning: high'), 'the effort reached the prompt');
    shot = process.env.GPTOSS_SHOT || path.join(tmp, 'page.png');
    await page.screenshot({ path: shot });
    assert(fs.statSync(shot).size > 10000, 'a screenshot');
  });
  console.log(`# screenshot: ${shot}`);

  await test('markdown renderer: hostile and random text makes only safe elements, in linear time', async () => {
    const r = await page.evaluate((scale) => {
      const tags = new Set(['DIV', 'P', 'BR', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A',
        'UL', 'OL', 'LI', 'BLOCKQUOTE', 'HR', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'SPAN', 'BUTTON']);
      const attrs = new Set(['href', 'rel', 'target', 'start', 'data-lang', 'class', 'type', 'aria-label']);
      const bad = [];
      const check = (src) => {
        const d = document.createElement('div');
        try { renderMarkdown(src, d); } catch (e) { bad.push(`threw ${e.message} on ${JSON.stringify(src.slice(0, 80))}`); return d; }
        for (const e of d.querySelectorAll('*')) {
          if (!tags.has(e.tagName)) bad.push(`<${e.tagName}> from ${JSON.stringify(src.slice(0, 80))}`);
          for (const a of e.attributes) {
            if (!attrs.has(a.name)) bad.push(`attribute ${a.name} from ${JSON.stringify(src.slice(0, 80))}`);
            if (a.name === 'href' && !/^(https?:\/\/|mailto:)/.test(a.value)) bad.push(`href ${a.value}`);
          }
        }
        return d;
      };
      const hostile = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '[x](javascript:alert(1))',
        '[x](data:text/html,<script>alert(1)</script>)', '![i](http://example.invalid/x.png)',
        '<a href="javascript:alert(1)">y</a>', '```\n</code></pre><script>alert(1)</script>\n```',
        '| a | b |\n|---|---|\n| <b>x</b> | [l](vbscript:x) |', '> <iframe src="http://example.invalid">'];
      const shown = hostile.map((h) => check(h).textContent);
      // random text over markdown's marks, from a fixed seed
      let seed = 12345;
      const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
      const alphabet = '*_`[]()~#>-|:!. \n\n  ab<>&"\'1http://x.y/z';
      for (let k = 0; k < 400; k++) {
        let t = '';
        for (let n = rand(600); n--;) t += alphabet[rand(alphabet.length)];
        check(t);
      }
      // text that opens spans and never closes them, deep nesting, many lines: timed
      const times = {};
      const big = {
        stars: '*a '.repeat(70000), bold: '**a '.repeat(50000), ticks: '`a '.repeat(70000), links: '[a]('.repeat(50000),
        quotes: '>'.repeat(20000) + 'x', lists: Array.from({ length: 3000 }, (_, i) => ' '.repeat(i) + '- x').join('\n'),
        fences: '```\n'.repeat(20000), table: 'a|b\n-|-\n'.repeat(20000),
      };
      for (const [k, v] of Object.entries(big)) {
        const t0 = performance.now();
        check(v);
        times[k] = Math.round(performance.now() - t0);
        if (times[k] > 3000 * scale) bad.push(`${k}: ${times[k]} ms for ${v.length} characters`);
      }
      return { bad: bad.slice(0, 10), shown, times };
    }, timeScale);
    eq(r.bad, []);
    assert(r.shown[0].includes('<script>alert(1)</script>') && r.shown[1].includes('<img src=x onerror=alert(1)>'),
      'HTML is shown as text');
    console.log(`# markdown render times (ms, about 200 KB each): ${JSON.stringify(r.times)}`);
  });

  await test('a function call the model made is shown with its arguments', async () => {
    await ask(page, 'WEATHER_Q now');
    const a = await waitState(page, ['done']);
    eq(a.tools.length, 1);
    eq(a.tools[0].kind, 'function');
    assert(/get_weather/.test(a.tools[0].text) && /"city": "Paris"/.test(a.tools[0].text), a.tools[0].text);
    const p = prompts().find((x) => x.includes('WEATHER_Q'));
    assert(p && p.includes('Reasoning: high') && p.includes('MARKDOWN_Q') && p.includes('# Result'),
      'the history went with the request');
  });

  await test('stop ends a slow stream: the fetch is aborted and the server ends the job', async () => {
    await ask(page, 'SLOW_Q go');
    await page.waitForFunction(() => {
      const a = [...document.querySelectorAll('article.msg.assistant')].pop();
      return a.dataset.state === 'streaming' && /(word ){5}/.test(a.querySelector('.body').textContent);
    }, { timeout: T });
    await page.click('#stop');
    const a = await waitState(page, ['stopped']);
    eq(a.note, 'Stopped.');
    const words = a.text.split(/\s+/).filter((w) => w === 'word').length;
    assert(words >= 5 && words < 3000, `part of the answer kept: ${words} words`);
    await waitFor(async () => (await raw(dbl.port, 'GET', '/health')).json.active === 0, 'the job cancelled', 10000);
    eq(await page.$eval('#send', (b) => !b.hidden), true, 'send is back');
  });

  await test('conversations survive a reload (localStorage); the key is not asked again', async () => {
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelectorAll('article.msg').length === 6, { timeout: T });
    const s = await page.evaluate(() => ({
      chats: document.querySelectorAll('#chat-list li').length,
      title: document.querySelector('#chat-list li.current .open').textContent,
      states: [...document.querySelectorAll('article.msg.assistant')].map((a) => a.dataset.state),
      code: document.querySelector('article.msg.assistant pre code')?.textContent,
      open: [...document.querySelectorAll('details.reasoning')].map((d) => d.open),
      dialog: document.querySelector('#key-dialog').open, effort: document.querySelector('#effort').value,
    }));
    eq(s.chats, 1);
    eq(s.title, 'MARKDOWN_Q please');
    eq(s.states, ['done', 'done', 'stopped']);
    eq(s.code, 'print(1 < 2)');
    eq(s.open, [false, false, false]);
    eq(s.dialog, false);
    eq(s.effort, 'high', 'the effort is remembered');
  });

  await test('new chat, switch between chats, delete', async () => {
    await page.click('#new-chat');
    eq(await page.$$eval('article.msg', (x) => x.length), 0);
    await ask(page, 'Say hi');
    let a = await waitState(page, ['done']);
    eq(a.text, 'Hello there.');
    eq(await page.$$eval('#chat-list li', (x) => x.length), 2);
    const p = prompts().find((x) => x.includes('Say hi'));
    assert(p && !p.includes('MARKDOWN_Q'), 'a new chat sends no old history');
    // switch to the first chat and back
    await page.evaluate(() => [...document.querySelectorAll('#chat-list .open')].find((b) => b.textContent === 'MARKDOWN_Q please').click());
    eq(await page.$$eval('article.msg', (x) => x.length), 6);
    await page.evaluate(() => [...document.querySelectorAll('#chat-list .open')].find((b) => b.textContent === 'Say hi').click());
    eq(await page.$$eval('article.msg', (x) => x.length), 2);
    // delete the first one; after a reload only "Say hi" is left
    await page.evaluate(() => [...document.querySelectorAll('#chat-list li')].find((l) => l.textContent.includes('MARKDOWN_Q')).querySelector('.delete').click());
    eq(await page.$$eval('#chat-list li', (x) => x.map((l) => l.querySelector('.open').textContent)), ['Say hi']);
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelectorAll('article.msg').length === 2, { timeout: T });
    eq(await page.$$eval('#chat-list li', (x) => x.map((l) => l.querySelector('.open').textContent)), ['Say hi']);
    a = await lastAnswer(page);
    eq(a.text, 'Hello there.');
  });

  await test('web search on a server without a browser: its 400 is shown, the page goes on', async () => {
    await page.click('#browse');
    await ask(page, 'Search please');
    const a = await waitState(page, ['error']);
    assert(/^400: .*/.test(a.note) && /tools|browser/i.test(a.note), `the error shown: ${a.note}`);
    await page.click('#browse');
    eq(await page.evaluate(() => localStorage.getItem('gptoss.browse')), null, 'unticked is remembered');
    await ask(page, 'Say hi again');
    eq((await waitState(page, ['done'])).text, 'Hello there.');
  });

  await test('python on a server without --python: its 400 is shown, the page goes on', async () => {
    await page.click('#python');
    eq(await page.evaluate(() => localStorage.getItem('gptoss.python')), '1', 'ticked is remembered');
    await ask(page, 'Compute please');
    const a = await waitState(page, ['error']);
    assert(/^400: .*--python/.test(a.note), `the error shown: ${a.note}`);
    await page.click('#python');
    await ask(page, 'Say hi once more');
    eq((await waitState(page, ['done'])).text, 'Hello there.');
  });

  // The browser run server-side, over a corpus `gptoss index` builds from one page.
  fs.mkdirSync(path.join(tmp, 'site'));
  fs.writeFileSync(path.join(tmp, 'site', 'index.html'),
    '<html><head><title>Zorblax</title></head><body><h1>Zorblax</h1><p>A zorblax weighs 42 grams.</p></body></html>\n');
  const db = path.join(tmp, 'corpus.db');
  let indexed = true;
  try {
    execFileSync(process.env.GPTOSS_BIN, ['index', path.join(tmp, 'site'), '--out', db], { stdio: 'pipe' });
  } catch (e) {
    indexed = false;
    console.log(`ok - the browser's calls shown # SKIP gptoss index failed: ${String(e.stderr || e).trim().split('\n')[0]}`);
  }
  if (indexed) {
    const bscript = path.join(tmp, 'browse_script.txt');
    fs.writeFileSync(bscript, [
      'browser.search to=assistant => <|channel|>analysis<|message|>Found it.<|end|><|start|>assistant<|channel|>final<|message|>It weighs 42 grams.<|return|>',
      'BROWSE_Q => <|channel|>analysis<|message|>Search first.<|end|><|start|>assistant<|channel|>analysis to=browser.search code<|message|>{"query": "zorblax weight"}<|call|>',
      '* => <|channel|>final<|message|>Hello<|return|>',
    ].join('\n') + '\n');
    const bsrv = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
      '--browser', '--corpus', db], { SERVER_DOUBLE_SCRIPT: bscript });
    servers.push(bsrv);
    await test('web search on: the browser the server runs is shown as a tool call, then the answer', async () => {
      const bp = await openPage(bsrv.url + '/');
      await bp.waitForFunction(() => document.querySelector('#model-name').textContent === 'double-model', { timeout: T });
      eq(await bp.$eval('#key-dialog', (d) => d.open), false, 'no key asked when the server needs none');
      await bp.click('#browse');
      await ask(bp, 'BROWSE_Q');
      const a = await waitState(bp, ['done']);
      eq(a.tools.length, 1);
      eq(a.tools[0].kind, 'web');
      assert(/Searched the web/.test(a.tools[0].text) && /zorblax weight/.test(a.tools[0].text), a.tools[0].text);
      eq(a.text, 'It weighs 42 grams.');
      assert(/Search first\.[\s\S]*Found it\./.test(a.reasoning), `reasoning around the call: ${a.reasoning}`);
      await bp.close();
    });
  }

  // Python run server-side, in the sandbox. As root the sandbox runs as nobody, who must reach
  // --python-data: then the folder is made in /tmp and opened (as tests/t_server_python.sh does).
  const pyData = process.getuid && process.getuid() === 0 ? fs.mkdtempSync('/tmp/t_page_python.') : path.join(tmp, 'pydata');
  fs.mkdirSync(pyData, { recursive: true });
  fs.chmodSync(pyData, 0o755);
  try {
    const call = (code) => `<|channel|>analysis to=python code<|message|>${code}<|call|>`;
    const final = (text) => `<|channel|>final<|message|>${text}<|return|>`;
    const pscript = path.join(tmp, 'python_script.txt');
    // rules match the prompt's last message: the user's, then python's reply
    fs.writeFileSync(pscript, [
      `PY_Q => <|channel|>analysis<|message|>Compute it.<|end|><|start|>assistant${call('x = 6 * 7\\nprint(x)')}`,
      `PY_AGAIN => ${call('print(x + 1)')}`,
      `<|message|>42 => ${final('The answer is **42**.')}`,
      `<|message|>43 => ${final('Still there: 43.')}`,
      `NameError => ${final('x is gone.')}`,
      `* => ${final('Hello')}`,
    ].join('\n') + '\n');
    let psrv = null;
    try {
      psrv = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
        '--python', '--python-data', pyData], { SERVER_DOUBLE_SCRIPT: pscript, SERVER_DOUBLE_DELAY_MS: String(8 * timeScale) });
      servers.push(psrv);
    } catch (e) {
      const why = String(e.message || e).split('\n').find((l) => l.includes('--python')) || String(e).split('\n')[0];
      console.log(`ok - python calls in the page # SKIP the python sandbox cannot be set up here: ${why.trim()}`);
    }
    if (psrv) {
      const pp = await openPage(psrv.url + '/');
      await pp.waitForFunction(() => document.querySelector('#model-name').textContent === 'double-model', { timeout: T });
      const pyTools = (p) => p.$$eval('article.msg.assistant', (all) => all.map((a) => [...a.querySelectorAll('.tool[data-kind=python]')].map((t) => ({
        state: t.querySelector('.state').textContent, code: t.querySelector('pre code')?.textContent,
        lang: t.querySelector('pre code')?.dataset.lang, output: t.querySelector('details.output pre')?.textContent.trim(),
        open: t.querySelector('details.output')?.open,
      }))));
      await test('python: the call streams in as a code block, its status, then its output and the answer', async () => {
        await pp.click('#python');
        // every state the python block shows, in order, as the DOM changes
        await pp.evaluate(() => {
          window.pyStates = [];
          new MutationObserver(() => {
            const s = document.querySelector('.tool[data-kind=python] .state')?.textContent;
            if (s && window.pyStates.at(-1) !== s) window.pyStates.push(s);
          }).observe(document.querySelector('#log'), { subtree: true, childList: true, characterData: true });
        });
        await ask(pp, 'PY_Q');
        const a = await waitState(pp, ['done']);
        eq(a.text, 'The answer is 42.');
        eq(a.tools.length, 1);
        const [t] = (await pyTools(pp)).at(-1);
        eq(t, { state: 'completed', code: 'x = 6 * 7\nprint(x)', lang: 'python', output: '42', open: true });
        const states = await pp.evaluate(() => window.pyStates);
        eq(states.at(-1), 'completed');
        assert(states.length >= 2 && states.slice(0, -1).every((s) => /running|interpreting/.test(s)), `states: ${states}`);
        assert(/Compute it\./.test(a.reasoning), `reasoning: ${a.reasoning}`);
        const chat = await pp.evaluate(() => JSON.parse(localStorage.getItem('gptoss.chats')).chats[0]);
        assert(/^cntr_[0-9a-f]{32}$/.test(chat.container), `the container kept: ${chat.container}`);
        const pshot = process.env.GPTOSS_SHOT_PYTHON || path.join(tmp, 'page_python.png');
        await pp.screenshot({ path: pshot });
        console.log(`# screenshot: ${pshot}`);
      });
      await test('python: the next turn runs in the same container (x still set); kept over a reload', async () => {
        const before = await pp.evaluate(() => JSON.parse(localStorage.getItem('gptoss.chats')).chats[0].container);
        await ask(pp, 'PY_AGAIN');
        const a = await waitState(pp, ['done']);
        eq(a.text, 'Still there: 43.');
        await pp.waitForFunction(() => !document.querySelector('#send').hidden, { timeout: T }); // the stream ended
        await pp.click('article.msg.assistant:last-of-type details.output summary'); // fold the output
        // the fold is kept (its toggle event comes after the click)
        await pp.waitForFunction(() => JSON.parse(localStorage.getItem('gptoss.chats')).chats[0].messages[3].tools[0].folded === true,
          { timeout: T });
        await pp.reload({ waitUntil: 'load' });
        await pp.waitForFunction(() => document.querySelectorAll('article.msg').length === 4, { timeout: T });
        const tools = await pyTools(pp);
        eq(tools.map((x) => x.map((t) => [t.state, t.code, t.output, t.open])), [
          [['completed', 'x = 6 * 7\nprint(x)', '42', true]], [['completed', 'print(x + 1)', '43', false]]]);
        eq(await pp.$eval('#python', (c) => c.checked), true, 'the toggle is remembered');
        eq(await pp.evaluate(() => JSON.parse(localStorage.getItem('gptoss.chats')).chats[0].container), before);
      });
      await test('python: a container the server no longer has: the turn goes on in a new one', async () => {
        await pp.evaluate(() => {
          const s = JSON.parse(localStorage.getItem('gptoss.chats'));
          s.chats[0].container = 'cntr_00000000000000000000000000000000';
          localStorage.setItem('gptoss.chats', JSON.stringify(s));
        });
        await pp.reload({ waitUntil: 'load' });
        await pp.waitForFunction(() => document.querySelectorAll('article.msg').length === 4, { timeout: T });
        await ask(pp, 'PY_AGAIN');
        const a = await waitState(pp, ['done']);
        eq(a.text, 'x is gone.');
        const [t] = (await pyTools(pp)).at(-1);
        assert(/NameError/.test(t.output), `a new interpreter: ${t.output}`);
        const c = await pp.evaluate(() => JSON.parse(localStorage.getItem('gptoss.chats')).chats[0].container);
        assert(/^cntr_[0-9a-f]{32}$/.test(c) && c !== 'cntr_00000000000000000000000000000000', `a new container kept: ${c}`);
      });
      await pp.close();
    }
  } finally {
    if (pyData.startsWith('/tmp/t_page_python.')) fs.rmSync(pyData, { recursive: true, force: true });
  }

  if (process.env.GPTOSS_MODEL) {
    // a 72-token prompt: at most 56 tokens of noise
    const msrv = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--ctx-size', '128',
      '--model-name', 'tiny']);
    servers.push(msrv);
    // Its random tokens carry no harmony header, so the server can tell their channel only at the end
    // and the text comes as one delta before response.incomplete; the double covers text arriving
    // piece by piece.
    await test('a real (tiny, random) model: the page sends a message, the streamed response ends with its text', async () => {
      const mp = await openPage(msrv.url + '/');
      await mp.waitForFunction(() => document.querySelector('#model-name').textContent === 'tiny', { timeout: T });
      await ask(mp, 'Tell me a story.');
      await mp.waitForFunction(() => document.querySelector('article.msg.assistant')?.dataset.state === 'streaming' &&
        !document.querySelector('#stop').hidden, { timeout: T });
      const a = await waitState(mp, ['done', 'incomplete']);
      assert(a.text.length + a.reasoning.length > 0, 'text shown');
      if (a.state === 'incomplete') assert(/^Cut short/.test(a.note), `the note: ${a.note}`);
      await mp.close();
    });
  }

  await test('no script error and no CSP violation on any page', async () => {
    eq(problems, []);
  });
} catch (e) {
  console.log(`not ok - page test: ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n# ')}`);
  crashed = true;
} finally {
  await browser.close();
  const exits = [];
  for (const s of servers) exits.push(await s.stop());
  await test('every server shut down cleanly on SIGTERM (no sanitizer report)', async () => {
    for (const x of exits) {
      eq(x.code, 0, `exit status (stderr: ${x.stderr.slice(-2000)})`);
      assert(!/Sanitizer|runtime error/.test(x.stderr), x.stderr.slice(-3000));
    }
  });
}
done();
if (crashed) process.exitCode = 1;
