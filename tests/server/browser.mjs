// browser.mjs: `gptoss serve --browser --corpus DB` runs the browser tool server-side (issue 18), driven
// by the scripted double (tests/server_double.c: a tool's reply appended to a sequence chooses its rule
// again, so the script follows the browsing) over a corpus that `gptoss index` builds from two
// generated pages (no network). The scenario: search -> open a URL -> find -> open a link on an earlier
// page -> answer citing the page opened last (and a citation to a cursor that does not exist, kept as
// written). Checked through the official openai client: Responses (web_search_call items and their
// actions, the response.web_search_call.* events, url_citation annotations with their indices, a
// citation never split across deltas), chat completions (the answer only, the browsing in
// reasoning_content, annotations), the prompt (browser namespace in the system message; each reply
// appended once, the conversation not prefilled again), errors as tool replies, and a server without
// --browser refusing web_search tools.
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP, GPTOSS_BIN (for `gptoss index`); GPTOSS_MODEL
// (optional: a tiny synthesized model for `gptoss serve --browser` on the production engine).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer } from './lib.mjs';

const tmp = path.join(process.env.GPTOSS_TMP, 'browser');
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, 'site'), { recursive: true });
fs.writeFileSync(path.join(tmp, 'site', 'index.html'), `<html><head><title>Widget Handbook</title></head><body>
<h1>Widget Handbook</h1>
<p>This handbook covers the zorblax family of widgets.</p>
<p>The weights are in the <a href="specs.html">zorblax specifications</a> page.</p>
</body></html>
`);
fs.writeFileSync(path.join(tmp, 'site', 'specs.html'), `<html><head><title>Zorblax Specifications</title></head><body>
<h1>Zorblax Specifications</h1>
<p>The zorblax widget weighs 42 grams.</p>
<p>It is 3 centimetres wide.</p>
</body></html>
`);
const db = path.join(tmp, 'corpus.db');
try {
  execFileSync(process.env.GPTOSS_BIN, ['index', path.join(tmp, 'site'), '--out', db], { stdio: 'pipe' });
} catch (e) {
  // gptoss built without SQLite or libxml2: index says which package is missing
  console.log(`ok - browser tests # SKIP gptoss index failed: ${String(e.stderr || e).trim().split('\n')[0]}`);
  process.exit(0);
}

// The rules match the last message of the prompt: the user's at first, then each tool reply, whose
// header "[cursor] title (url)" tells the pages apart. Cursors: 0 search, 1 index.html, 2 find, 3 specs.
const answer = 'A zorblax weighs 42 grams 【3†L4-L4】 and 【9†L1】. Done.';
const script = path.join(tmp, 'script.txt');
const log = path.join(tmp, 'prompts.txt');
fs.writeFileSync(script, [
  // a model that keeps searching: past the limit each reply says so, and it answers
  'Too many browser calls => <|channel|>final<|message|>Stopped.<|return|>',
  '] zorblax widgets => <|channel|>analysis to=browser.search code<|message|>{"query": "zorblax widgets"}<|call|>',
  'LOOP_Q => <|channel|>analysis to=browser.search code<|message|>{"query": "zorblax widgets"}<|call|>',
  `browser.open to=assistant<|channel|>analysis<|message|>[3] => <|channel|>analysis<|message|>Found it.<|end|><|start|>assistant<|channel|>final<|message|>${answer}<|return|>`,
  'browser.find to=assistant => <|channel|>analysis to=browser.open code<|message|>{"cursor": 1, "id": 0}<|call|>',
  'browser.open to=assistant<|channel|>analysis<|message|>[1] => <|channel|>analysis to=browser.find code<|message|>{"pattern": "specifications"}<|call|>',
  'browser.search to=assistant => <|channel|>analysis to=browser.open code<|message|>{"id": "https://corpus.invalid/index.html"}<|call|>',
  'BROWSE_Q => <|channel|>analysis<|message|>Search first.<|end|><|start|>assistant<|channel|>analysis to=browser.search code<|message|>{"query": "zorblax weight"}<|call|>',
  // a link id with no page open: the tool's error ("No pages to access!") is the reply, then an answer
  'No pages to access => <|channel|>final<|message|>Could not open it.<|return|>',
  'BAD_LINK => <|channel|>analysis to=browser.open code<|message|>{"id": 7}<|call|>',
  'browser.open to=assistant => <|channel|>final<|message|>unexpected page<|return|>',
  '* => <|channel|>final<|message|>Hello<|return|>',
].join('\n') + '\n');
fs.rmSync(log, { force: true });
const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x);

const url = 'https://corpus.invalid/specs.html';
const link = ` ([corpus.invalid](${url})) `;
const shown = `A zorblax weighs 42 grams${' '}${link} and 【9†L1】. Done.`;
const start = 'A zorblax weighs 42 grams '.length;
const wantActions = [
  { type: 'search', query: 'zorblax weight' },
  { type: 'open_page', url: 'https://corpus.invalid/index.html' },
  { type: 'find', url: 'https://corpus.invalid/index.html', pattern: 'specifications' },
  { type: 'open_page', url },
];

const srv = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
  '--parallel', '2', '--ctx', '16384', '--browser', '--corpus', db], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log });
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const input = 'BROWSE_Q what does a zorblax weigh?';

function checkAnswer(text, annotations) {
  eq(text, shown, 'the answer, its citation to a known page as a link, the unknown one as written');
  eq(annotations, [{ type: 'url_citation', start_index: start, end_index: start + link.length, url,
    title: 'corpus.invalid' }], 'one url_citation');
  eq(text.slice(annotations[0].start_index, annotations[0].end_index), link, 'the indices cover the link');
}

await test('responses: search -> open -> find -> open link -> cited answer, as web_search_call items', async () => {
  const n0 = fs.existsSync(log) ? prompts().length : 0;
  const r = await client.responses.create({ model: 'double-model', input, tools: [{ type: 'web_search' }] });
  eq(r.status, 'completed');
  eq(r.output.map((o) => o.type), ['reasoning', 'web_search_call', 'web_search_call', 'web_search_call',
    'web_search_call', 'reasoning', 'message'], 'output items');
  const calls = r.output.filter((o) => o.type === 'web_search_call');
  eq(calls.map((o) => o.action), wantActions, 'actions');
  assert(calls.every((o) => o.status === 'completed' && /^ws_[0-9a-f]{32}$/.test(o.id)), 'ids and statuses');
  const part = r.output.at(-1).content[0];
  checkAnswer(part.text, part.annotations);
  eq(r.output_text, shown, 'output_text');
  // the prompt: the browser namespace in the system message; one prefill, every reply appended to it
  const p = prompts().slice(n0);
  assert(p.length === 5, `one prompt chosen, then one per tool reply: ${p.length}`);
  assert(p[0].includes('## browser\n') && p[0].indexOf('## browser') < p[0].indexOf('<|end|>'),
    'the browser namespace is in the system message');
  for (let i = 1; i < p.length; i++) assert(p[i].startsWith(p[i - 1]), `prompt ${i} extends the one before`);
  assert(p[1].includes('<|start|>browser.search to=assistant<|channel|>analysis<|message|>[0] zorblax weight\n'),
    'the search reply, as the model reads it');
  assert(p[4].endsWith('L4: The zorblax widget weighs 42 grams.\nL5: \nL6: It is 3 centimetres wide.<|end|><|start|>assistant'),
    `the last page, then the assistant's turn: ${JSON.stringify(p[4].slice(-120))}`);
  assert(r.usage.output_tokens > 0 && r.usage.input_tokens > 0, 'usage');
});

await test('responses streamed: web_search_call events, annotation.added, no half citation in a delta', async () => {
  const events = [];
  for await (const e of await client.responses.create({ model: 'double-model', input, tools: [{ type: 'web_search_preview' }],
    stream: true })) events.push(e);
  const web = events.filter((e) => e.type.startsWith('response.web_search_call.'));
  eq(web.map((e) => e.type.slice('response.web_search_call.'.length)),
    Array(4).fill(['in_progress', 'searching', 'completed']).flat(), 'three events per call');
  const added = events.filter((e) => e.type === 'response.output_item.added' && e.item.type === 'web_search_call');
  const doneItems = events.filter((e) => e.type === 'response.output_item.done' && e.item.type === 'web_search_call');
  eq(added.length, 4, 'four web_search_call items added');
  eq(doneItems.map((e) => e.item.action), wantActions, 'their actions when done');
  for (const e of web) assert(added.some((a) => a.item.id === e.item_id && a.output_index === e.output_index), 'event names its item');
  const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
  eq(deltas.join(''), shown, 'the deltas make the answer');
  for (const d of deltas) {
    const opens = (d.match(/【/g) || []).length, closes = (d.match(/】/g) || []).length;
    assert(opens === closes, `a delta holds half a citation: ${JSON.stringify(d)}`);
  }
  assert(deltas.includes(link), 'the link comes in one delta');
  const ann = events.filter((e) => e.type === 'response.output_text.annotation.added');
  eq(ann.length, 1, 'one annotation.added');
  const final = events.at(-1);
  eq(final.type, 'response.completed');
  const part = final.response.output.at(-1).content[0];
  checkAnswer(part.text, part.annotations);
  eq(ann[0].annotation, part.annotations[0], 'the streamed annotation is the final one');
  const seq = events.map((e) => e.sequence_number);
  eq(seq, seq.map((_, i) => i), 'sequence numbers in order');
});

await test('responses: a browser error is the tool reply, not a 500', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'BAD_LINK go', tools: [{ type: 'browser_search' }] });
  eq(r.status, 'completed');
  eq(r.output.map((o) => o.type), ['web_search_call', 'message']);
  eq(r.output_text, 'Could not open it.');
});

await test('responses: browser calls per request are bounded (then each reply says so)', async () => {
  const r = await client.responses.create({ model: 'double-model', input: 'LOOP_Q', tools: [{ type: 'web_search' }] });
  eq(r.status, 'completed');
  const calls = r.output.filter((o) => o.type === 'web_search_call');
  eq(calls.length, 25, 'the 24 allowed, then the one told to stop');
  eq(r.output_text, 'Stopped.');
});

await test('responses: without a browser tool the call is the client\'s function_call', async () => {
  const r = await client.responses.create({ model: 'double-model', input });
  eq(r.output.map((o) => o.type), ['reasoning', 'function_call']);
});

await test('chat: the answer only, the browsing in reasoning_content, annotations', async () => {
  const r = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: input }] });
  const m = r.choices[0].message;
  eq(r.choices[0].finish_reason, 'stop');
  assert(!m.tool_calls, 'no tool calls');
  eq(m.content, shown);
  eq(m.annotations, [{ type: 'url_citation', url_citation: { start_index: start, end_index: start + link.length, url,
    title: 'corpus.invalid' } }]);
  for (const want of ['Search first.', '[browser.search {"query": "zorblax weight"}]', '[0] zorblax weight',
    '[browser.open {"cursor": 1, "id": 0}]', '[3] Zorblax Specifications (https://corpus.invalid/specs.html)',
    'L4: The zorblax widget weighs 42 grams.', 'Found it.'])
    assert(m.reasoning_content.includes(want), `reasoning_content has ${JSON.stringify(want)}: ${m.reasoning_content}`);
});

await test('chat streamed: the same answer and reasoning, no half citation', async () => {
  const plain = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: input }] });
  let content = '', reasoning = '', finish = null;
  for await (const ch of await client.chat.completions.create({ model: 'double-model', stream: true,
    messages: [{ role: 'user', content: input }] })) {
    const d = ch.choices[0]?.delta || {};
    if (d.content) {
      content += d.content;
      assert((d.content.match(/【/g) || []).length === (d.content.match(/】/g) || []).length, `half citation: ${d.content}`);
    }
    if (d.reasoning_content) reasoning += d.reasoning_content;
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
  }
  eq(content, shown);
  eq(reasoning, plain.choices[0].message.reasoning_content);
  eq(finish, 'stop');
});

await test('chat: a request with its own browser functions gets their calls', async () => {
  const r = await client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: input }],
    tools: [{ type: 'function', function: { name: 'browser_search', parameters: { type: 'object', properties: {} } } }] });
  eq(r.choices[0].finish_reason, 'tool_calls');
});

await test('two browsing requests at once (each waits in its own slot, none blocks the other)', async () => {
  const [a, b] = await Promise.all([
    client.responses.create({ model: 'double-model', input, tools: [{ type: 'web_search' }] }),
    client.chat.completions.create({ model: 'double-model', messages: [{ role: 'user', content: input }] }),
  ]);
  eq(a.output_text, shown);
  eq(b.choices[0].message.content, shown);
});
await srv.stop();

const plain = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER],
  { SERVER_DOUBLE_SCRIPT: script });
await test('without --browser: a web_search tool is a 400', async () => {
  const c = new OpenAI({ baseURL: `${plain.url}/v1`, apiKey: 'none', maxRetries: 0 });
  let status = 0, param = null;
  try {
    await c.responses.create({ model: 'double-model', input, tools: [{ type: 'web_search' }] });
  } catch (e) { status = e.status; param = e.param; }
  eq([status, param], [400, 'tools']);
});
await plain.stop();

// The production engine (a tiny random-weight model, when GPTOSS_MODEL is given): `gptoss serve` takes
// the browser options and a web_search request runs through (random weights do not browse; this checks
// the command, the prompt with the browser namespace on the real engine, and that nothing breaks).
if (process.env.GPTOSS_MODEL) {
  const real = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--parallel', '2',
    '--browser', '--corpus', db]);
  await test('gptoss serve --browser --corpus: Responses with web_search and chat on the tiny model', async () => {
    const c = new OpenAI({ baseURL: `${real.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const r = await c.responses.create({ model: 'tiny', input: 'hello', tools: [{ type: 'web_search' }],
      max_output_tokens: 24, temperature: 0 });
    assert(['completed', 'incomplete'].includes(r.status), `status ${r.status}`);
    assert(r.usage.input_tokens > 400, `the browser namespace is in the prompt: ${r.usage.input_tokens} tokens`);
    const ch = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 24 });
    assert(ch.usage.prompt_tokens > 400, `chat gets the browser too: ${ch.usage.prompt_tokens} tokens`);
  });
  await real.stop();
}
done();
