// compat.mjs: the legacy OpenAI /v1/completions (the official openai client's completions.create and
// curl-style bodies) and Ollama's API (/api/chat, /api/generate, /api/tags, /api/show, /api/ps,
// /api/version as Open WebUI, the ollama CLI and the ollama Python library send them, over raw HTTP
// for the NDJSON streams) on the scripted double (tests/server_double.c), so that what comes back can
// be checked token for token: thinking beside content, tool calls, done_reason, stop strings,
// num_predict, format, the stream's lines, a client that hangs up, and every error.
// env: GPTOSS_DOUBLE (binary), GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import { test, done, assert, eq, startServer, raw, metrics, waitFor, timeScale } from './lib.mjs';

const tmp = process.env.GPTOSS_TMP;
const script = path.join(tmp, 'compat_script.txt');
const log = path.join(tmp, 'compat_prompts.txt');
fs.writeFileSync(script, [
  'weather in Paris => <|channel|>analysis<|message|>Need weather. Call tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
  'sunny => <|channel|>analysis<|message|>Tool says sunny.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>',
  'STOPME => <|channel|>analysis<|message|>STOP is not in the answer yet<|end|><|start|>assistant<|channel|>final<|message|>one two STOP three<|return|>',
  'LONG => <|channel|>final<|message|>' + 'word '.repeat(400) + '<|return|>',
  'JSONPLZ => <|channel|>final<|message|>{"answer": 42}<|return|>',
  '* => <|channel|>analysis<|message|>Thinking about it.<|end|><|start|>assistant<|channel|>final<|message|>Hello, world!<|return|>',
].join('\n') + '\n');
fs.rmSync(log, { force: true });
const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x);
const lastPrompt = () => prompts().at(-1);

const bin = process.env.GPTOSS_DOUBLE;
const srv = await startServer(bin, ['double-model', '--model-name', 'gpt-oss-20b', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--api-key', 'sekret',
  '--ctx-size', '2048', '--parallel', '4'], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log });
const auth = { 'Content-Type': 'application/json', Authorization: 'Bearer sekret' };
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
const post = (p, body, headers = auth) => raw(srv.port, 'POST', p, typeof body === 'string' ? body : JSON.stringify(body), headers);

// An NDJSON answer: every line parsed (a line that is not JSON fails the test).
function lines(r) {
  assert(r.body.endsWith('\n'), `the stream ends with a newline: ${JSON.stringify(r.body.slice(-40))}`);
  return r.body.split('\n').filter((l) => l).map((l) => JSON.parse(l));
}
// What a stream of /api/chat or /api/generate says, put together.
function joined(ls, generate = false) {
  const r = { content: '', thinking: '', calls: [], last: ls.at(-1), n: ls.length };
  for (const l of ls.slice(0, -1)) {
    assert(l.done === false, `a line before the last is not done: ${JSON.stringify(l)}`);
    const m = generate ? l : l.message;
    if (!generate) eq(m.role, 'assistant', 'role');
    r.content += generate ? m.response : m.content;
    r.thinking += m.thinking || '';
    r.calls.push(...(m.tool_calls || []));
  }
  return r;
}
function checkFinal(l, model = 'gpt-oss:20b') {
  eq(l.done, true, 'done');
  eq(l.model, model, 'model as the request named it');
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/.test(l.created_at), `created_at ${l.created_at}`);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration'])
    assert(Number.isInteger(l[k]) && l[k] >= 0, `${k} is a count of nanoseconds or tokens: ${l[k]}`);
  assert(l.prompt_eval_count > 10 && l.eval_count > 0, `counts ${l.prompt_eval_count} ${l.eval_count}`);
  assert(l.total_duration >= l.eval_duration, 'total covers eval');
}

// ---- /v1/completions ---------------------------------------------------------------------------

const harmonyAnswer = '<|channel|>analysis<|message|>Thinking about it.<|end|><|start|>assistant<|channel|>final<|message|>Hello, world!';

await test('completions: curl-style body, raw prompt, default max_tokens 16 ends at the length', async () => {
  const r = await post('/v1/completions', { model: 'gpt-oss-20b', prompt: 'Once upon a time', temperature: 0 });
  eq(r.status, 200, r.body);
  eq(r.json.object, 'text_completion');
  assert(/^cmpl-[0-9a-f]{32}$/.test(r.json.id), r.json.id);
  eq(r.json.model, 'gpt-oss-20b');
  const c = r.json.choices[0];
  eq(c.finish_reason, 'length');
  eq(c.logprobs, null);
  assert(harmonyAnswer.startsWith(c.text) && c.text.length > 20, `text ${JSON.stringify(c.text)}`);
  eq(r.json.usage.completion_tokens, 16);
  eq(r.json.usage.total_tokens, r.json.usage.prompt_tokens + 16);
  // tokenized as it is: no harmony conversation around it
  eq(lastPrompt(), 'Once upon a time');
});

await test('completions: openai client, <|return|> ends it (finish stop), special literals in the prompt are tokens', async () => {
  const prompt = '<|start|>user<|message|>Say hello<|end|><|start|>assistant';
  const r = await client.completions.create({ model: 'gpt-oss-20b', prompt, max_tokens: 200 });
  eq(r.choices[0].text, harmonyAnswer);
  eq(r.choices[0].finish_reason, 'stop');
  assert(r.usage.prompt_tokens <= 8, `the literals are special ids: ${r.usage.prompt_tokens} tokens`);
  eq(lastPrompt(), prompt);
});

await test('completions: streamed text_completion chunks equal the plain answer, usage last', async () => {
  const plain = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'Hi', max_tokens: 30 });
  const s = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'Hi', max_tokens: 30, stream: true,
    stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, n = 0;
  for await (const ch of s) {
    n++;
    eq(ch.object, 'text_completion');
    if (ch.usage) { usage = ch.usage; eq(ch.choices, [], 'the usage chunk has no choices'); }
    for (const c of ch.choices) { text += c.text; if (c.finish_reason) finish = c.finish_reason; }
  }
  assert(n > 5, `chunks ${n}`);
  eq(text, plain.choices[0].text);
  eq(finish, plain.choices[0].finish_reason);
  eq(usage.completion_tokens, plain.usage.completion_tokens);
});

await test('completions: stop strings cut the text (finish stop), also streamed', async () => {
  const r = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'STOPME', max_tokens: 100, stop: ['STOP', 'xyz'] });
  eq(r.choices[0].text, '<|channel|>analysis<|message|>');
  eq(r.choices[0].finish_reason, 'stop');
  const s = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'STOPME', max_tokens: 100, stop: 'STOP', stream: true });
  let text = '';
  for await (const ch of s) for (const c of ch.choices) text += c.text;
  eq(text, '<|channel|>analysis<|message|>');
});

await test('completions: echo, n, token-id prompts, a list of one prompt', async () => {
  const r = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'Echo me', max_tokens: 4, echo: true, n: 2 });
  eq(r.choices.length, 2);
  for (const c of r.choices) assert(c.text.startsWith('Echo me<|channel|>'), c.text);
  eq(r.choices.map((c) => c.index), [0, 1]);
  const ids = await client.completions.create({ model: 'gpt-oss-20b', prompt: [13225, 2375], max_tokens: 3 });
  eq(ids.usage.prompt_tokens, 2);
  const one = await client.completions.create({ model: 'gpt-oss-20b', prompt: ['Hi'], max_tokens: 2 });
  eq(one.choices[0].text, '<|channel|>analysis');
  const ech = await client.completions.create({ model: 'gpt-oss-20b', prompt: 'Hi', max_tokens: 2, echo: true, stream: true });
  let text = '';
  for await (const ch of ech) for (const c of ch.choices) text += c.text;
  eq(text, 'Hi<|channel|>analysis');
});

await test('completions: what is not supported is a 400 in OpenAI\'s shape', async () => {
  const cases = [
    [{ prompt: 'x', suffix: 'end' }, 'suffix'],
    [{ prompt: 'x', logprobs: 2 }, 'logprobs'],
    [{ prompt: 'x', best_of: 3 }, 'best_of'],
    [{ prompt: ['a', 'b'] }, 'prompt'],
    [{ prompt: [[1, 2], [3]] }, 'prompt'],
    [{}, 'prompt'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: 12 }, 'prompt'],
    [{ prompt: [1, -2] }, 'prompt'],
    [{ prompt: [1, 1e9] }, 'prompt'],
    [{ prompt: [1.5] }, 'prompt'],
    [{ prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    [{ prompt: 'x', n: 99 }, 'n'],
    [{ prompt: 'x', stop: [1] }, 'stop'],
    [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ prompt: 'x', temperature: 'hot' }, 'temperature'],
    [{ prompt: 'x', echo: 'yes' }, 'echo'],
    [{ prompt: 'x', stream_options: 3 }, 'stream_options'],
  ];
  for (const [body, param] of cases) {
    const r = await post('/v1/completions', { model: 'gpt-oss-20b', ...body });
    eq(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
    eq(r.json.error.param, param, JSON.stringify(body));
    assert(r.json.error.type === 'invalid_request_error' && r.json.error.message, r.body);
  }
  const big = await post('/v1/completions', { model: 'gpt-oss-20b', prompt: 'word '.repeat(3000) });
  eq(big.status, 400);
  eq(big.json.error.code, 'context_length_exceeded');
  const unknown = await post('/v1/completions', { model: 'other', prompt: 'x' });
  eq(unknown.status, 404, unknown.body);
  const noKey = await raw(srv.port, 'POST', '/v1/completions', '{"prompt":"x"}', { 'Content-Type': 'application/json' });
  eq(noKey.status, 401);
  const bad = await post('/v1/completions', '{"prompt": "x",');
  eq(bad.status, 400);
  eq(bad.json.error.code, 'invalid_json');
});

// ---- Ollama: /api/chat -------------------------------------------------------------------------

// Open WebUI's /api/chat (its Ollama connection): the model picked from /api/tags, a system prompt,
// options from the chat's settings, streamed, keep_alive.
const openWebUI = {
  model: 'gpt-oss:20b',
  messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Hello!' }],
  stream: true,
  options: { temperature: 0.8, top_p: 0.9, top_k: 40, num_ctx: 2048, seed: 7, repeat_penalty: 1.1 },
  keep_alive: '5m',
};

await test('ollama chat: Open WebUI\'s streamed request gives NDJSON thinking, then content, then done', async () => {
  const r = await post('/api/chat', openWebUI);
  eq(r.status, 200, r.body);
  assert(r.headers['content-type'].startsWith('application/x-ndjson'), r.headers['content-type']);
  const ls = lines(r);
  const j = joined(ls);
  eq(j.thinking, 'Thinking about it.');
  eq(j.content, 'Hello, world!');
  // every thinking line comes before the first content line, each line carries one of them
  const firstContent = ls.findIndex((l) => l.message?.content);
  assert(ls.slice(0, firstContent).every((l) => l.message.thinking), 'thinking first');
  assert(ls.slice(firstContent, -1).every((l) => !l.message.thinking), 'then content');
  checkFinal(j.last);
  eq(j.last.done_reason, 'stop');
  eq(j.last.message, { role: 'assistant', content: '' });
  eq(j.last.eval_count, 18, 'the scripted tokens');
  assert(lastPrompt().includes('You are a helpful assistant.'), 'the system message is in the prompt');
});

await test('ollama chat: "stream": false gives one object with message.thinking and the stats', async () => {
  const r = await post('/api/chat', { ...openWebUI, stream: false });
  eq(r.status, 200, r.body);
  assert(r.headers['content-type'].startsWith('application/json'), r.headers['content-type']);
  eq(r.json.message, { role: 'assistant', content: 'Hello, world!', thinking: 'Thinking about it.' });
  checkFinal(r.json);
  eq(r.json.done_reason, 'stop');
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Get the current weather for a city',
    parameters: { type: 'object', required: ['city'], properties: { city: { type: 'string', description: 'The name of the city' } } },
  },
};

let callTurn;
await test('ollama chat: the Python library\'s tool call (think, stream false): tool_calls with object arguments', async () => {
  // ollama.chat(model, messages, tools=[...], think=True, stream=False): None fields left out
  const r = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools: [weatherTool], stream: false, think: true });
  eq(r.status, 200, r.body);
  const m = r.json.message;
  eq(m.thinking, 'Need weather. Call tool.');
  eq(m.content, '');
  eq(m.tool_calls.length, 1);
  eq(m.tool_calls[0].function.name, 'get_weather');
  eq(m.tool_calls[0].function.arguments, { city: 'Paris' });
  eq(r.json.done_reason, 'stop');
  assert(lastPrompt().includes('Reasoning: medium'), 'think: true is medium effort');
  assert(lastPrompt().includes('type get_weather'), 'the tool is declared');
  callTurn = m;
});

await test('ollama chat: a streamed tool call comes as a line with message.tool_calls', async () => {
  const r = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools: [weatherTool] });
  const j = joined(lines(r));
  eq(j.calls.map((c) => [c.function.name, c.function.arguments]), [['get_weather', { city: 'Paris' }]]);
  eq(j.content, '');
  eq(j.last.done_reason, 'stop');
});

await test('ollama chat: the tool\'s result (by tool_name, or by order) answers the call', async () => {
  const history = [{ role: 'user', content: 'What is the weather in Paris?' },
    { role: 'assistant', content: '', thinking: callTurn.thinking, tool_calls: callTurn.tool_calls }];
  for (const result of [{ role: 'tool', content: 'sunny, 24C', tool_name: 'get_weather' }, { role: 'tool', content: 'sunny, 24C' }]) {
    const r = await post('/api/chat', { model: 'gpt-oss:20b', messages: [...history, result], tools: [weatherTool], stream: false });
    eq(r.status, 200, r.body);
    eq(r.json.message.content, 'It is sunny in Paris.');
    const p = lastPrompt();
    assert(p.includes('to=functions.get_weather') && p.includes('{"city":"Paris"}'), 'the call is in the prompt');
    assert(p.includes('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>sunny, 24C'), `the result: ${p}`);
  }
});

await test('ollama chat: think false leaves the reasoning out (low effort); think "high" sets the effort', async () => {
  const off = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'Hi' }], think: false, stream: false });
  eq(off.json.message, { role: 'assistant', content: 'Hello, world!' });
  assert(lastPrompt().includes('Reasoning: low'), 'low');
  const high = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'Hi' }], think: 'high' });
  eq(joined(lines(high)).thinking, 'Thinking about it.');
  assert(lastPrompt().includes('Reasoning: high'), 'high');
});

await test('ollama chat: options.num_predict ends at the length; options.stop cuts the content', async () => {
  const r = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'LONG' }], options: { num_predict: 9 } });
  const j = joined(lines(r));
  eq(j.last.done_reason, 'length');
  eq(j.last.eval_count, 9);
  eq(j.content, 'word word word word word word', 'three tokens of header, six words');
  const s = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'STOPME' }],
    options: { stop: ['STOP'] }, stream: false });
  eq(s.json.message.content, 'one two ');
  eq(s.json.message.thinking, 'STOP is not in the answer yet', 'stop strings look at the answer only');
  eq(s.json.done_reason, 'stop');
  const u = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'LONG' }], options: { num_predict: -1 }, stream: false });
  eq(u.json.done_reason, 'stop');
  eq(u.json.message.content.length, 2000);
});

await test('ollama chat: format "json" and a JSON schema constrain the answer', async () => {
  const j = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'JSONPLZ' }], format: 'json', stream: false });
  eq(j.status, 200, j.body);
  eq(JSON.parse(j.json.message.content), { answer: 42 });
  const schema = { type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'] };
  const s = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'JSONPLZ' }], format: schema });
  eq(JSON.parse(joined(lines(s)).content), { answer: 42 });
  assert(lastPrompt().includes('# Response Formats'), 'the schema is in the prompt');
  // the constraint holds against the script: an answer that is not JSON is cut to what the grammar allows
  const forced = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'Hi' }], format: 'json', stream: false });
  eq(forced.status, 200, forced.body);
  assert(!forced.json.message.content.startsWith('Hello'), `constrained: ${forced.json.message.content}`);
});

await test('ollama chat: the ollama CLI\'s requests (load with no messages, format "", empty options)', async () => {
  const load = await post('/api/chat', { model: 'gpt-oss:20b', messages: [] });
  eq(load.status, 200, load.body);
  eq(load.json.done, true);
  eq(load.json.done_reason, 'load');
  eq(load.json.message, { role: 'assistant', content: '' });
  const r = await post('/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'Hi' }], format: '', options: {},
    keep_alive: 300, think: true });
  eq(joined(lines(r)).content, 'Hello, world!');
  const latest = await post('/api/chat', { model: 'gpt-oss-20b:latest', messages: [{ role: 'user', content: 'Hi' }], stream: false });
  eq(latest.status, 200, latest.body);
  eq(latest.json.model, 'gpt-oss-20b:latest');
});

// ---- Ollama: /api/generate ---------------------------------------------------------------------

await test('ollama generate: system and prompt rendered as a conversation; response and thinking deltas', async () => {
  // ollama.generate(model, prompt, system=..., options=...) streamed
  const r = await post('/api/generate', { model: 'gpt-oss:20b', prompt: 'Why is the sky blue?', system: 'Be brief.',
    options: { temperature: 0 }, stream: true });
  eq(r.status, 200, r.body);
  const j = joined(lines(r), true);
  eq(j.content, 'Hello, world!');
  eq(j.thinking, 'Thinking about it.');
  checkFinal(j.last);
  eq(j.last.response, '');
  eq(j.last.context, undefined, 'no context: the conversation goes to /api/chat');
  const p = lastPrompt();
  assert(p.includes('Be brief.') && p.includes('<|start|>user<|message|>Why is the sky blue?<|end|>'), p);
  const plain = await post('/api/generate', { model: 'gpt-oss:20b', prompt: 'JSONPLZ', format: 'json', stream: false });
  eq(JSON.parse(plain.json.response), { answer: 42 });
  eq(plain.json.done_reason, 'stop');
});

await test('ollama generate: raw sends the prompt as it is; an empty prompt loads the model', async () => {
  const prompt = '<|start|>user<|message|>Hi<|end|><|start|>assistant';
  const r = await post('/api/generate', { model: 'gpt-oss:20b', prompt, raw: true, stream: false });
  eq(r.status, 200, r.body);
  eq(r.json.response, harmonyAnswer);
  assert(r.json.prompt_eval_count <= 8, `special ids: ${r.json.prompt_eval_count}`);
  eq(lastPrompt(), prompt);
  const s = await post('/api/generate', { model: 'gpt-oss:20b', prompt, raw: true, options: { num_predict: 3 } });
  const j = joined(lines(s), true);
  eq(j.content, '<|channel|>analysis<|message|>');
  eq(j.last.done_reason, 'length');
  const load = await post('/api/generate', { model: 'gpt-oss:20b' });
  eq(load.json, { ...load.json, model: 'gpt-oss:20b', response: '', done: true, done_reason: 'load' });
  const unload = await post('/api/generate', { model: 'gpt-oss:20b', keep_alive: 0 });
  eq(unload.json.done_reason, 'unload');
});

// ---- Ollama: the model -------------------------------------------------------------------------

await test('ollama: /api/tags, /api/ps, /api/version, /api/show describe the served model', async () => {
  const tags = await raw(srv.port, 'GET', '/api/tags', undefined, auth);
  eq(tags.status, 200, tags.body);
  eq(tags.json.models.map((m) => m.name), ['gpt-oss-20b', 'gpt-oss:20b']);
  for (const m of tags.json.models) {
    eq(m.model, m.name);
    assert(/^[0-9a-f]{64}$/.test(m.digest), m.digest);
    assert(Number.isInteger(m.size) && /^\d{4}-\d\d-\d\dT/.test(m.modified_at), JSON.stringify(m));
    eq(m.details.family, 'gpt-oss');
    eq(m.details.quantization_level, 'MXFP4');
    eq(m.details.parameter_size, '20.9B');
  }
  const ps = await raw(srv.port, 'GET', '/api/ps', undefined, auth);
  eq(ps.json.models.length, 1);
  eq(ps.json.models[0].context_length, 2048);
  const v = await raw(srv.port, 'GET', '/api/version', undefined, auth);
  assert(/^\d+\.\d+\.\d+$/.test(v.json.version), v.body);
  for (const body of [{ model: 'gpt-oss:20b' }, { name: 'gpt-oss-20b' }, { model: 'gpt-oss:20b', verbose: true }]) {
    const show = await post('/api/show', body);
    eq(show.status, 200, show.body);
    eq(show.json.capabilities, ['completion', 'tools', 'thinking']);
    eq(show.json.details.family, 'gpt-oss');
    eq(show.json.model_info['general.architecture'], 'gptoss');
    eq(show.json.model_info['gptoss.context_length'], 2048);
  }
  const unknown = await post('/api/show', { model: 'llama3' });
  eq(unknown.status, 404);
  eq(unknown.json, { error: "model 'llama3' not found" });
  eq((await raw(srv.port, 'POST', '/api/tags', '{}', auth)).status, 405);
});

// ---- Ollama: errors ----------------------------------------------------------------------------

await test('ollama: errors are {"error": "..."} with Ollama\'s status codes', async () => {
  const msgs = [{ role: 'user', content: 'Hi' }];
  const cases = [
    ['/api/chat', '{"model": "gpt-oss:20b", "messages": [', 400],
    ['/api/chat', '{"model": "gpt-oss:20b"} trailing', 400],
    ['/api/chat', '[1, 2]', 400],
    ['/api/chat', { messages: msgs }, 400, 'model is required'],
    ['/api/chat', { model: 'llama3:8b', messages: msgs }, 404, "model 'llama3:8b' not found"],
    ['/api/generate', { model: 'mistral', prompt: 'x' }, 404, "model 'mistral' not found"],
    ['/api/chat', { model: 7, messages: msgs }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: 'Hi' }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'wizard', content: 'x' }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ content: 'x' }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: { a: 1 } }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'assistant', content: '', tool_calls: [{ function: {} }] }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'assistant', content: '', thinking: 3 }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'tool', content: 'orphan' }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, think: 'max' }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, format: 'xml' }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, format: { type: 'object', properties: 3 } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: [] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: { num_predict: 'lots' } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: { num_predict: 1e300 } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: { num_predict: 2.5 } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: { temperature: 'hot' } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, options: { stop: [1] } }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, stream: 'yes' }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, tools: [{ type: 'function' }] }, 400],
    ['/api/chat', { model: 'gpt-oss:20b', messages: msgs, logprobs: true }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', logprobs: true, top_logprobs: 2 }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 3 }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', context: [1, 2, 3] }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', suffix: 'y' }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', template: '{{ .Prompt }}' }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', raw: true, format: 'json' }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'x', raw: 1 }, 400],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'word '.repeat(3000) }, 400],
    ['/api/show', { model: 'gpt-oss:20b', x: 1 } , 200],
    ['/api/show', '{', 400],
  ];
  for (const [p, body, status, message] of cases) {
    const r = await post(p, body);
    eq(r.status, status, `${p} ${JSON.stringify(body).slice(0, 80)}: ${r.body}`);
    if (status === 200) continue;
    eq(Object.keys(r.json), ['error'], `${p} ${JSON.stringify(body).slice(0, 80)}: ${r.body}`);
    assert(typeof r.json.error === 'string' && r.json.error.length > 3, r.body);
    if (message) eq(r.json.error, message);
  }
  const noKey = await raw(srv.port, 'POST', '/api/chat', JSON.stringify({ model: 'gpt-oss:20b', messages: msgs }),
    { 'Content-Type': 'application/json' });
  eq(noKey.status, 401);
  eq(Object.keys(noKey.json), ['error']);
  eq((await raw(srv.port, 'GET', '/api/tags')).status, 401, 'the API key guards /api/ too');
  eq((await raw(srv.port, 'GET', '/api/chat', undefined, auth)).status, 405);
});

await test('corrupt bodies: truncated, bit-flipped and type-swapped fixtures get an answer, never a crash', async () => {
  // the recorded client requests above, damaged: every answer is a status below 500 with a body
  const fixtures = [
    ['/api/chat', openWebUI],
    ['/api/chat', { model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: '', thinking: 'x', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: 'sunny', tool_name: 'get_weather' }], tools: [weatherTool], stream: false, think: 'low' }],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'Hi', system: 'S', format: 'json', options: { num_predict: 4, stop: ['a'] }, stream: false }],
    ['/api/generate', { model: 'gpt-oss:20b', prompt: 'Hi', raw: true, options: { num_predict: 4 } }],
    ['/v1/completions', { model: 'gpt-oss-20b', prompt: ['Hi'], max_tokens: 4, stop: ['x'], echo: true, n: 2 }],
    ['/api/show', { model: 'gpt-oss:20b' }],
  ];
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const swaps = [null, 7, 'x', [], {}, true, -1, 1e300, [[[]]], { a: { b: [1, 'c'] } }];
  // replaces one value somewhere in the object tree
  const swap = (o) => {
    const c = structuredClone(o);
    let node = c;
    for (let depth = 0; depth < 4; depth++) {
      const keys = Object.keys(node);
      if (!keys.length) break;
      const k = keys[rnd(keys.length)];
      if (typeof node[k] !== 'object' || node[k] === null || rnd(3) === 0) { node[k] = swaps[rnd(swaps.length)]; return c; }
      node = node[k];
    }
    return c;
  };
  for (let i = 0; i < 240; i++) {
    const [p, body] = fixtures[i % fixtures.length];
    let text = JSON.stringify(i % 3 === 2 ? swap(body) : body);
    if (i % 3 === 0) text = text.slice(0, rnd(text.length));
    else if (i % 3 === 1) {
      const b = Buffer.from(text);
      for (let k = 0; k < 1 + rnd(3); k++) b[rnd(b.length)] ^= 1 << rnd(8);
      text = b;
    }
    const r = await raw(srv.port, 'POST', p, text, auth);
    assert(r.status >= 200 && r.status < 500 && r.body.length, `${p} #${i}: ${r.status} ${r.body.slice(0, 200)}`);
    if (r.status >= 400 && p.startsWith('/api/')) eq(Object.keys(r.json), ['error'], `${p} #${i}`);
  }
  eq((await raw(srv.port, 'GET', '/health')).status, 200);
});

// ---- a client that hangs up --------------------------------------------------------------------

await test('ollama: a client that disconnects mid-stream cancels its generation; a full queue is a 429', async () => {
  const slow = await startServer(bin, ['double-model', '--model-name', 'gpt-oss-20b', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--ctx-size', '2048',
    '--parallel', '1', '--queue', '1'],
    { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_DELAY_MS: '20' });
  try {
    const before = await metrics(slow.port);
    let timer;
    const got = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no lines')), 30000 * timeScale);
      const req = http.request({ host: '127.0.0.1', port: slow.port, method: 'POST', path: '/api/chat',
        headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
          if (text.split('\n').length > 3) { req.destroy(); resolve(text); }
        });
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.end(JSON.stringify({ model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'LONG' }] }));
    }).finally(() => clearTimeout(timer));
    assert(got.split('\n').slice(0, 3).every((l) => JSON.parse(l).done === false), 'lines before the hang-up');
    await waitFor(async () => {
      const m = await metrics(slow.port);
      return m.gptoss_generations_cancelled_total === before.gptoss_generations_cancelled_total + 1 &&
        m.gptoss_active_sequences === 0;
    }, 'the generation cancelled', 20000);
    const m = await metrics(slow.port);
    assert(m.gptoss_generated_tokens_total < 300, `stopped early: ${m.gptoss_generated_tokens_total} of 401 tokens`);
    // one running, one queued: the next is a 429 in Ollama's shape
    // one at a time: a second sent at once could find the first still in the queue (a 429 too early)
    const body = JSON.stringify({ model: 'gpt-oss:20b', prompt: 'LONG' });
    const hold = () => {
      const sock = net.connect(slow.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.on('data', () => {});
      sock.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return sock;
    };
    const held = [hold()];
    await waitFor(async () => (await metrics(slow.port)).gptoss_active_sequences === 1, 'one running', 20000);
    held.push(hold());
    await waitFor(async () => {
      const x = await metrics(slow.port);
      return x.gptoss_active_sequences === 1 && x.gptoss_queue_length === 1;
    }, 'one running, one queued', 20000);
    const busy = await raw(slow.port, 'POST', '/api/chat', JSON.stringify({ model: 'gpt-oss:20b', messages: [{ role: 'user', content: 'x' }] }),
      { 'Content-Type': 'application/json' });
    eq(busy.status, 429, busy.body);
    eq(Object.keys(busy.json), ['error']);
    eq(busy.headers['retry-after'], '1');
    for (const req of held) req.destroy();
    await waitFor(async () => {
      const x = await metrics(slow.port);
      return x.gptoss_active_sequences === 0 && x.gptoss_queue_length === 0;
    }, 'both gone', 20000);
  } finally {
    await slow.stop();
  }
});

await test('ollama and completions requests are counted in /metrics', async () => {
  const m = await metrics(srv.port);
  assert(m['gptoss_requests_total{code="200"}'] > 20 && m['gptoss_requests_total{code="404"}'] >= 3, JSON.stringify(m));
});

const st = await srv.stop();
await test('the server exits cleanly', async () => eq(st.code, 0, st.stderr.slice(-500)));
done();
