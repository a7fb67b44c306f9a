// double.mjs: `gptoss serve`'s HTTP, harmony and protocol code driven by scripted token streams
// (tests/server_double.c), with the official openai client: chat (plain, streaming, tool round
// trip, stop strings), Responses (items, previous_response_id, the event stream), every error case.
// env: GPTOSS_DOUBLE (binary), GPTOSS_TOKENIZER, GPTOSS_TMP.
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { test, done, assert, eq, same, startServer, raw, metrics, waitFor, uncached, timeScale } from './lib.mjs';

const tmp = process.env.GPTOSS_TMP;
const script = path.join(tmp, 'server_double_script.txt');
const log = path.join(tmp, 'server_double_prompts.txt');
fs.writeFileSync(script, [
  'weather in Paris => <|channel|>analysis<|message|>Need weather. Call tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>',
  'BROKEN_ARGS => <|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{city: Paris<|call|>',
  'GLUED => <|channel|>commentary to=functions.get_weatherjson<|message|>{"city":"Oslo"}<|call|>',
  'sunny => <|channel|>analysis<|message|>Tool says sunny.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>',
  'STOPME => <|channel|>analysis<|message|>STOP is not in the answer yet<|end|><|start|>assistant<|channel|>final<|message|>one two STOP three<|return|>',
  'LONG => <|channel|>final<|message|>' + 'word '.repeat(400) + '<|return|>',
  'UNICODE => <|channel|>final<|message|>héllo 世界 🎉<|return|>',
  'TRAILING => <|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>644 and more<|call|>',
  'FORCE_FINAL => <|channel|>final<|message|>I would rather answer.<|return|>',
  'NONE_CALL => <|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Rome"}<|call|>',
  '* => <|channel|>analysis<|message|>Thinking about it.<|end|><|start|>assistant<|channel|>final<|message|>Hello, world!<|return|>',
].join('\n') + '\n');
fs.rmSync(log, { force: true });
const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x);

const tools = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const rtools = [{ type: 'function', name: 'get_weather', description: 'Current weather in a city',
  parameters: tools[0].function.parameters }];

const bin = process.env.GPTOSS_DOUBLE;
const common = ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER, '--api-key', 'sekret',
  '--ctx-size', '1024', '--max-body', '65536'];
const srv = await startServer(bin, [...common, '--parallel', '4'],
  { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log });
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
const model = 'double-model';
const auth = { 'Content-Type': 'application/json', Authorization: 'Bearer sekret' };

async function collect(stream) {
  const r = { role: null, content: '', reasoning: '', calls: [], finish: null, usage: null, chunks: 0 };
  for await (const ch of stream) {
    r.chunks++;
    if (ch.usage) r.usage = ch.usage;
    const c = ch.choices[0];
    if (!c) continue;
    if (c.delta.role) r.role = c.delta.role;
    if (c.delta.content) r.content += c.delta.content;
    if (c.delta.reasoning_content) r.reasoning += c.delta.reasoning_content;
    for (const tc of c.delta.tool_calls || []) {
      r.calls[tc.index] ??= { id: '', name: '', arguments: '' };
      if (tc.id) r.calls[tc.index].id = tc.id;
      if (tc.function?.name) r.calls[tc.index].name += tc.function.name;
      if (tc.function?.arguments) r.calls[tc.index].arguments += tc.function.arguments;
    }
    if (c.finish_reason) r.finish = c.finish_reason;
  }
  return r;
}

await test('GET /v1/models lists the served model', async () => {
  const list = await client.models.list();
  eq(list.data.map((m) => m.id), [model]);
});

let plain;
await test('chat: reasoning_content beside content, analysis not in content', async () => {
  plain = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello' }] });
  const m = plain.choices[0].message;
  eq(m.content, 'Hello, world!');
  eq(m.reasoning_content, 'Thinking about it.');
  eq(plain.choices[0].finish_reason, 'stop');
  assert(plain.id.startsWith('chatcmpl-'), 'id');
});

await test('chat: usage counts the prompt and every sampled token', async () => {
  const u = plain.usage;
  assert(u.prompt_tokens > 20, `prompt_tokens ${u.prompt_tokens}`);
  // analysis header+text, <|end|>, <|start|>assistant<|channel|>final<|message|>, text, <|return|>
  assert(u.completion_tokens >= 12 && u.completion_tokens < 30, `completion_tokens ${u.completion_tokens}`);
  same(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert(u.completion_tokens_details.reasoning_tokens > 0, 'reasoning tokens');
});

await test('chat: streaming chunks (role, reasoning_content, content, finish_reason, usage)', async () => {
  const s = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello' }],
    stream: true, stream_options: { include_usage: true } });
  const r = await collect(s);
  eq(r.role, 'assistant');
  eq(r.reasoning, 'Thinking about it.');
  eq(r.content, 'Hello, world!');
  eq(r.finish, 'stop');
  same(uncached(r.usage), uncached(plain.usage), 'usage equals the non-streaming usage');
  same(r.usage.prompt_tokens_details.cached_tokens, plain.usage.prompt_tokens - 1,
    'the same prompt again: all but its last token come from the cache');
  assert(r.chunks > 6, 'several chunks');
});

await test('chat: streaming without include_usage sends no usage', async () => {
  const r = await collect(await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], stream: true }));
  eq(r.usage, null);
  eq(r.content, 'Hello, world!');
});

await test('chat: UTF-8 text survives the token stream', async () => {
  const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'UNICODE' }] });
  eq(r.choices[0].message.content, 'héllo 世界 🎉');
});

let call, firstPromptCount;
await test('chat: a tool call becomes tool_calls with JSON arguments', async () => {
  const r = await client.chat.completions.create({ model, tools, messages: [{ role: 'user', content: 'weather in Paris?' }] });
  const m = r.choices[0].message;
  eq(r.choices[0].finish_reason, 'tool_calls');
  eq(m.content, null);
  eq(m.reasoning_content, 'Need weather. Call tool.');
  eq(m.tool_calls.length, 1);
  call = m.tool_calls[0];
  eq(call.type, 'function');
  eq(call.function.name, 'get_weather');
  eq(JSON.parse(call.function.arguments), { city: 'Paris' });
  assert(call.id.startsWith('call_'), 'call id');
  const p = prompts().at(-1);
  assert(p.includes('namespace functions {') && p.includes('type get_weather = (_: {'), 'tools declared in the prompt');
  firstPromptCount = prompts().length;
});

await test('chat: tool round trip keeps the chain of thought inside the tool-calling turn', async () => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'weather in Paris?' },
    { role: 'assistant', content: null, reasoning_content: 'Need weather. Call tool.', tool_calls: [call] },
    { role: 'tool', tool_call_id: call.id, content: '{"sky": "sunny"}' },
  ];
  const r = await client.chat.completions.create({ model, tools, messages });
  eq(r.choices[0].message.content, 'It is sunny in Paris.');
  eq(r.choices[0].finish_reason, 'stop');
  const p = prompts().at(-1);
  assert(prompts().length === firstPromptCount + 1, 'one new prompt');
  assert(p.includes('# Instructions\n\nBe brief.'), 'system text becomes developer instructions');
  assert(p.includes('<|start|>assistant<|channel|>analysis<|message|>Need weather. Call tool.<|end|>'), 'analysis kept');
  assert(p.includes('<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city": "Paris"}<|call|>'), 'call rendered');
  assert(p.includes('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sky": "sunny"}<|end|>'), 'result rendered');
  assert(p.endsWith('<|start|>assistant'), 'prompt ends for completion');
  // The next turn: the finished turn's analysis is dropped.
  messages.push({ role: 'assistant', content: 'It is sunny in Paris.', reasoning_content: 'Tool says sunny.' });
  messages.push({ role: 'user', content: 'Thanks!' });
  await client.chat.completions.create({ model, tools, messages });
  const p2 = prompts().at(-1);
  assert(!p2.includes('Need weather') && !p2.includes('Tool says sunny'), 'analysis of the finished turn dropped');
  assert(p2.includes('<|channel|>final<|message|>It is sunny in Paris.<|end|>'), 'final answer kept');
});

await test('chat: streaming tool call (id and name first, then whole JSON arguments)', async () => {
  const r = await collect(await client.chat.completions.create({ model, tools, stream: true,
    messages: [{ role: 'user', content: 'weather in Paris?' }] }));
  eq(r.finish, 'tool_calls');
  eq(r.calls.length, 1);
  eq(r.calls[0].name, 'get_weather');
  eq(JSON.parse(r.calls[0].arguments), { city: 'Paris' });
  eq(r.content, '');
  eq(r.reasoning, 'Need weather. Call tool.');
});

await test('chat: invalid arguments from the model still arrive as a valid JSON string', async () => {
  const r = await client.chat.completions.create({ model, tools, messages: [{ role: 'user', content: 'BROKEN_ARGS' }] });
  const args = r.choices[0].message.tool_calls[0].function.arguments;
  eq(JSON.parse(args), '{city: Paris');
  const s = await collect(await client.chat.completions.create({ model, tools, stream: true,
    messages: [{ role: 'user', content: 'BROKEN_ARGS' }] }));
  eq(JSON.parse(s.calls[0].arguments), '{city: Paris');
});

await test('chat: arguments that only start with a JSON value arrive as a JSON string', async () => {
  const r = await client.chat.completions.create({ model, tools, messages: [{ role: 'user', content: 'TRAILING' }] });
  eq(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), '644 and more');
});

await test('chat: a glued recipient (to=functions.NAMEjson) names the declared tool', async () => {
  const r = await client.chat.completions.create({ model, tools, messages: [{ role: 'user', content: 'GLUED' }] });
  eq(r.choices[0].message.tool_calls[0].function.name, 'get_weather');
  eq(JSON.parse(r.choices[0].message.tool_calls[0].function.arguments), { city: 'Oslo' });
});

await test('chat: tool_choice none leaves the tools out of the prompt', async () => {
  await client.chat.completions.create({ model, tools, tool_choice: 'none', messages: [{ role: 'user', content: 'hi' }] });
  assert(!prompts().at(-1).includes('namespace functions'), 'no tools');
});

// tool_choice is enforced on the token ids (gptoss_constraint, app/server/server_format.c). The double
// takes the script's token where the constraint allows it and otherwise the lowest allowed id
// (tests/server_double.c): "comment" before "analysis", "_time" before "_weather".
const tools2 = [...tools, { type: 'function', function: { name: 'get_time', description: 'Current time in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const names2 = tools2.map((t) => t.function.name);

await test('tool_choice required: a model that calls keeps its own call and arguments', async () => {
  const r = await client.chat.completions.create({ model, tools: tools2, tool_choice: 'required',
    messages: [{ role: 'user', content: 'weather in Paris?' }] });
  const c = r.choices[0];
  eq(c.finish_reason, 'tool_calls');
  eq(c.message.reasoning_content, 'Need weather. Call tool.');
  eq(c.message.tool_calls.length, 1);
  eq(c.message.tool_calls[0].function.name, 'get_weather');
  eq(JSON.parse(c.message.tool_calls[0].function.arguments), { city: 'Paris' });
});

await test('tool_choice required: a model that answers is forced into a call of a declared function', async () => {
  const auto = await client.chat.completions.create({ model, tools: tools2, messages: [{ role: 'user', content: 'FORCE_FINAL' }] });
  eq(auto.choices[0].message.content, 'I would rather answer.', 'auto lets it answer');
  const r = await client.chat.completions.create({ model, tools: tools2, tool_choice: 'required',
    messages: [{ role: 'user', content: 'FORCE_FINAL' }] });
  const c = r.choices[0];
  eq(c.finish_reason, 'tool_calls');
  eq(c.message.content, null);
  eq(c.message.tool_calls.length, 1);
  eq(c.message.tool_calls[0].function.name, 'get_time', 'the name the double picks among those the constraint allows (the lowest id)');
  JSON.parse(c.message.tool_calls[0].function.arguments);
});

await test('tool_choice required: streamed tool_calls deltas name a declared function', async () => {
  const s = await client.chat.completions.create({ model, tools: tools2, tool_choice: 'required', stream: true,
    messages: [{ role: 'user', content: 'FORCE_FINAL' }] });
  const r = await collect(s);
  eq(r.finish, 'tool_calls');
  eq(r.content, '');
  eq(r.calls.length, 1);
  assert(names2.includes(r.calls[0].name), `declared name: ${r.calls[0].name}`);
  assert(r.calls[0].id.startsWith('call_'), 'call id');
  JSON.parse(r.calls[0].arguments);
});

await test('tool_choice named: forces that function even when the model calls another', async () => {
  const r = await client.chat.completions.create({ model, tools: tools2,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, messages: [{ role: 'user', content: 'weather in Paris?' }] });
  const c = r.choices[0];
  eq(c.finish_reason, 'tool_calls');
  eq(c.message.reasoning_content, 'Need weather. Call tool.', 'the analysis before the call is the model\'s');
  eq(c.message.tool_calls.map((t) => t.function.name), ['get_time']);
  JSON.parse(c.message.tool_calls[0].function.arguments);
  const r2 = await client.chat.completions.create({ model, tools: tools2,
    tool_choice: { type: 'function', function: { name: 'get_weather' } }, messages: [{ role: 'user', content: 'FORCE_FINAL' }] });
  eq(r2.choices[0].message.tool_calls.map((t) => t.function.name), ['get_weather']);
});

await test('tool_choice none: a model that calls is kept to analysis/final, no tool call', async () => {
  const auto = await client.chat.completions.create({ model, tools: tools2, messages: [{ role: 'user', content: 'NONE_CALL' }] });
  eq(auto.choices[0].finish_reason, 'tool_calls', 'auto lets it call');
  for (const stream of [false, true]) {
    const req = { model, tools: tools2, tool_choice: 'none', messages: [{ role: 'user', content: 'NONE_CALL' }], max_tokens: 200 };
    const r = stream ? await collect(await client.chat.completions.create({ ...req, stream: true }))
      : await client.chat.completions.create(req);
    const calls = stream ? r.calls : (r.choices[0].message.tool_calls || []);
    eq(calls.length, 0, 'no tool calls');
    eq(stream ? r.finish : r.choices[0].finish_reason, 'stop');
  }
  const p = prompts().at(-1);
  assert(!p.includes('namespace functions'), 'no tools in the prompt');
});

await test('tool_choice on /v1/responses: required and named force a function_call item', async () => {
  const rtools2 = tools2.map((t) => ({ type: 'function', ...t.function }));
  const r = await client.responses.create({ model, input: 'FORCE_FINAL', tools: rtools2, tool_choice: 'required' });
  const calls = r.output.filter((o) => o.type === 'function_call');
  eq(calls.length, 1);
  assert(names2.includes(calls[0].name), calls[0].name);
  assert(!r.output.some((o) => o.type === 'message'), 'no message');
  const r2 = await client.responses.create({ model, input: 'weather in Paris?', tools: rtools2,
    tool_choice: { type: 'function', name: 'get_time' }, stream: true });
  let done = null;
  for await (const ev of r2) if (ev.type === 'response.completed') done = ev.response;
  eq(done.output.filter((o) => o.type === 'function_call').map((o) => o.name), ['get_time']);
  eq(done.tool_choice, { type: 'function', name: 'get_time' }, 'tool_choice echoed');
  const r3 = await client.responses.create({ model, input: 'NONE_CALL', tools: rtools2, tool_choice: 'none', max_output_tokens: 200 });
  eq(r3.output.filter((o) => o.type === 'function_call').length, 0);
});

await test('tool_choice errors: unknown name, no tools, bad shape are 400', async () => {
  const m = [{ role: 'user', content: 'x' }];
  for (const [req, why] of [
    [{ model, messages: m, tools: tools2, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'unknown name'],
    [{ model, messages: m, tool_choice: 'required' }, 'required without tools'],
    [{ model, messages: m, tool_choice: { type: 'function', function: { name: 'get_weather' } } }, 'named without tools'],
    [{ model, messages: m, tools: tools2, tool_choice: { type: 'function' } }, 'no name'],
    [{ model, messages: m, tools: tools2, tool_choice: 'sometimes' }, 'unknown string'],
  ]) {
    const e = await expectError(client.chat.completions.create(req), 400, 'invalid_value');
    eq(e.param, 'tool_choice', why);
  }
  const rtools2 = tools2.map((t) => ({ type: 'function', ...t.function }));
  await expectError(client.responses.create({ model, input: 'x', tools: rtools2, tool_choice: { type: 'function', name: 'nope' } }),
    400, 'invalid_value');
  await expectError(client.responses.create({ model, input: 'x', tool_choice: 'required' }), 400, 'invalid_value');
});

// n > 1: choices 0..n-1, each its own sequence in the batch (the double gives each the same script).
async function collectN(stream) {
  const r = { choices: [], usage: null, roles: 0 };
  for await (const ch of stream) {
    if (ch.usage) r.usage = ch.usage;
    for (const c of ch.choices) {
      const x = r.choices[c.index] ??= { content: '', reasoning: '', finish: null, calls: [] };
      if (c.delta.role) r.roles++;
      x.content += c.delta.content || '';
      x.reasoning += c.delta.reasoning_content || '';
      for (const tc of c.delta.tool_calls || []) {
        x.calls[tc.index] ??= { name: '', arguments: '' };
        if (tc.function?.name) x.calls[tc.index].name += tc.function.name;
      }
      if (c.finish_reason) x.finish = c.finish_reason;
    }
  }
  return r;
}

await test('chat n=2: two choices (index 0, 1), usage counts both', async () => {
  const one = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello' }] });
  const r = await client.chat.completions.create({ model, n: 2, messages: [{ role: 'user', content: 'Say hello' }] });
  eq(r.choices.map((c) => c.index), [0, 1]);
  for (const c of r.choices) {
    eq(c.message.content, 'Hello, world!');
    eq(c.message.reasoning_content, 'Thinking about it.');
    eq(c.finish_reason, 'stop');
  }
  same(r.usage.prompt_tokens, one.usage.prompt_tokens);
  same(r.usage.completion_tokens, 2 * one.usage.completion_tokens);
  same(r.usage.completion_tokens_details.reasoning_tokens, 2 * one.usage.completion_tokens_details.reasoning_tokens);
});

await test('chat n=3 streaming: chunks carry their choice index, one finish per choice', async () => {
  const r = await collectN(await client.chat.completions.create({ model, n: 3, stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello' }] }));
  eq(r.choices.length, 3);
  eq(r.roles, 3, 'a role chunk per choice');
  for (const c of r.choices) {
    eq(c.content, 'Hello, world!');
    eq(c.finish, 'stop');
  }
  assert(r.usage && r.usage.completion_tokens > 30, 'usage of all choices');
});

await test('chat n=2 with tool_choice required: every choice is a call', async () => {
  const r = await collectN(await client.chat.completions.create({ model, n: 2, stream: true, tools: tools2,
    tool_choice: 'required', messages: [{ role: 'user', content: 'FORCE_FINAL' }] }));
  eq(r.choices.map((c) => c.finish), ['tool_calls', 'tool_calls']);
  for (const c of r.choices) eq(c.calls.map((x) => x.name), ['get_time']);
});

await test('chat: reasoning_effort sets the system message', async () => {
  await client.chat.completions.create({ model, reasoning_effort: 'high', messages: [{ role: 'user', content: 'hi' }] });
  assert(prompts().at(-1).includes('Reasoning: high'), 'Reasoning: high');
  await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  assert(prompts().at(-1).includes('Reasoning: low'), 'default low');
});

await test('chat: stop strings cut the content (plain and streaming), not the reasoning', async () => {
  const r = await client.chat.completions.create({ model, stop: ['STOP'], messages: [{ role: 'user', content: 'STOPME' }] });
  eq(r.choices[0].message.content, 'one two ');
  eq(r.choices[0].finish_reason, 'stop');
  eq(r.choices[0].message.reasoning_content, 'STOP is not in the answer yet');
  const s = await collect(await client.chat.completions.create({ model, stop: 'STOP', stream: true,
    messages: [{ role: 'user', content: 'STOPME' }] }));
  eq(s.content, 'one two ');
});

await test('chat: max_tokens / max_completion_tokens end with finish_reason length', async () => {
  const r = await client.chat.completions.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  eq(r.choices[0].finish_reason, 'length');
  eq(r.usage.completion_tokens, 5);
  const r2 = await client.chat.completions.create({ model, max_completion_tokens: 3, messages: [{ role: 'user', content: 'hi' }] });
  eq(r2.usage.completion_tokens, 3);
});

await test('chat: temperature, top_p, seed, unknown fields are accepted', async () => {
  const r = await client.chat.completions.create({ model, temperature: 0.2, top_p: 0.9, seed: 7,
    messages: [{ role: 'developer', content: 'dev' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    // @ts-ignore
    some_future_field: { x: 1 }, logit_bias: {}, user: 'u1' });
  eq(r.choices[0].message.content, 'Hello, world!');
});

// ---- Responses ------------------------------------------------------------------------------
let r1;
await test('responses: string input, reasoning + message output, usage', async () => {
  const r = await client.responses.create({ model, input: 'Say hello', instructions: 'Be nice.' });
  eq(r.object, 'response');
  eq(r.status, 'completed');
  eq(r.output.map((o) => o.type), ['reasoning', 'message']);
  eq(r.output[0].content[0].text, 'Thinking about it.');
  eq(r.output_text, 'Hello, world!');
  same(r.usage.output_tokens, plain.usage.completion_tokens);
  assert(r.usage.input_tokens > 20, 'input tokens');
  same(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  assert(prompts().at(-1).includes('# Instructions\n\nBe nice.'), 'instructions in the developer message');
});

await test('responses: function call, then function_call_output continued with previous_response_id', async () => {
  r1 = await client.responses.create({ model, tools: rtools, input: 'weather in Paris?', reasoning: { effort: 'medium' } });
  eq(r1.output.map((o) => o.type), ['reasoning', 'function_call']);
  const fc = r1.output[1];
  eq(fc.name, 'get_weather');
  eq(JSON.parse(fc.arguments), { city: 'Paris' });
  assert(prompts().at(-1).includes('Reasoning: medium'), 'effort');
  const r2 = await client.responses.create({ model, tools: rtools, previous_response_id: r1.id,
    input: [{ type: 'function_call_output', call_id: fc.call_id, output: '{"sky": "sunny"}' }] });
  eq(r2.output_text, 'It is sunny in Paris.');
  same(r2.previous_response_id, r1.id);
  const p = prompts().at(-1);
  assert(p.includes('<|start|>user<|message|>weather in Paris?<|end|>'), 'history from the stored response');
  assert(p.includes('Need weather. Call tool.'), 'analysis kept within the tool-calling turn');
  assert(p.includes('<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sky": "sunny"}<|end|>'), 'tool output');
  const r3 = await client.responses.create({ model, previous_response_id: r2.id, input: 'Thanks!' });
  eq(r3.output_text, 'Hello, world!');
  const p3 = prompts().at(-1);
  assert(p3.includes('It is sunny in Paris.') && !p3.includes('Need weather') && !p3.includes('Tool says sunny'),
    'finished turn: final kept, analysis dropped');
  const got = await client.responses.retrieve(r3.id);
  same(got.id, r3.id);
});

await test('responses: input items (messages with parts, earlier function_call) map to harmony', async () => {
  const r = await client.responses.create({ model, tools: rtools, input: [
    { role: 'developer', content: 'Dev says hi.' },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'weather in Oslo?' }] },
    { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
    { type: 'function_call_output', call_id: 'c1', output: 'it is sunny' },
  ] });
  eq(r.output_text, 'It is sunny in Paris.');
  const p = prompts().at(-1);
  assert(p.includes('Dev says hi.') && p.includes('<|start|>functions.get_weather to=assistant'), 'mapped');
});

await test('responses: streaming event sequence', async () => {
  const stream = await client.responses.create({ model, input: 'Say hello', stream: true });
  const types = [];
  let seq = -1, text = '', reasoning = '', final;
  for await (const ev of stream) {
    types.push(ev.type);
    assert(ev.sequence_number === seq + 1, `sequence_number ${ev.sequence_number} after ${seq}`);
    seq = ev.sequence_number;
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.reasoning_text.delta') reasoning += ev.delta;
    if (ev.type === 'response.completed') final = ev.response;
  }
  const compact = types.filter((t, i) => !(t.endsWith('.delta') && types[i - 1] === t));
  eq(compact, ['response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added', 'response.reasoning_text.delta',
    'response.reasoning_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  eq(text, 'Hello, world!');
  eq(reasoning, 'Thinking about it.');
  eq(final.output_text ?? final.output[1].content[0].text, 'Hello, world!');
  assert(final.usage.output_tokens > 0, 'usage');
});

await test('responses: streamed function call arguments', async () => {
  const stream = await client.responses.create({ model, tools: rtools, input: 'BROKEN_ARGS', stream: true });
  let args = null, item = null;
  for await (const ev of stream) {
    if (ev.type === 'response.function_call_arguments.done') args = ev.arguments;
    if (ev.type === 'response.output_item.done' && ev.item.type === 'function_call') item = ev.item;
  }
  eq(JSON.parse(args), '{city: Paris');
  eq(item.arguments, args);
});

await test('responses: max_output_tokens gives status incomplete, and so has the last output item', async () => {
  const r = await client.responses.create({ model, input: 'hi', max_output_tokens: 4 });
  eq(r.status, 'incomplete');
  eq(r.incomplete_details.reason, 'max_output_tokens');
  eq(r.usage.output_tokens, 4);
  eq(r.output.map((o) => [o.type, o.status]), [['reasoning', 'incomplete']], 'cut inside the reasoning');
  const full = await client.responses.create({ model, input: 'hi' });
  eq(full.output.map((o) => [o.type, o.status]), [['reasoning', 'completed'], ['message', 'completed']], 'not cut');
  const cut = await client.responses.create({ model, input: 'LONG', max_output_tokens: 20 });
  eq(cut.status, 'incomplete');
  eq(cut.output.map((o) => [o.type, o.status]), [['message', 'incomplete']], 'cut inside the answer');
  assert(cut.output[0].content[0].text.startsWith('word word'), cut.output[0].content[0].text);
  eq((await client.responses.retrieve(cut.id)).output.map((o) => o.status), ['incomplete'], 'stored so');
});

await test('responses: streamed, a cut response ends with response.incomplete, its last item incomplete', async () => {
  const events = [];
  for await (const ev of await client.responses.create({ model, input: 'LONG', max_output_tokens: 20, stream: true }))
    events.push(ev);
  const last = events.at(-1);
  eq(last.type, 'response.incomplete');
  assert(!events.some((e) => e.type === 'response.completed'), 'no response.completed');
  eq(last.response.status, 'incomplete');
  eq(last.response.incomplete_details, { reason: 'max_output_tokens' });
  eq(last.response.output.map((o) => [o.type, o.status]), [['message', 'incomplete']]);
  const itemDone = events.filter((e) => e.type === 'response.output_item.done');
  eq(itemDone.map((e) => e.item.status), ['incomplete'], 'response.output_item.done says incomplete');
  eq(last.response.usage.output_tokens, 20);
});

// ---- errors -----------------------------------------------------------------------------------
async function expectError(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    eq(e.status, status, 'status');
    assert(e.error && typeof e.error.message === 'string' && e.error.type, 'OpenAI error object');
    if (code) eq(e.code, code, 'code');
    return e;
  }
  throw new Error(`expected HTTP ${status}`);
}
const post = (p, body, h = auth) => raw(srv.port, 'POST', p, body, h);
function isError(r, status) {
  eq(r.status, status, `status (${r.body.slice(0, 200)})`);
  assert(r.json && r.json.error && typeof r.json.error.message === 'string' && 'type' in r.json.error &&
    'param' in r.json.error && 'code' in r.json.error, 'OpenAI error object');
}

await test('errors: invalid JSON is 400', async () => {
  isError(await post('/v1/chat/completions', '{"messages": [}'), 400);
  isError(await post('/v1/responses', 'not json'), 400);
  isError(await post('/v1/chat/completions', '[1,2]'), 400);
  isError(await post('/v1/chat/completions', ''), 400);
});

await test('errors: wrong types are 400 with the parameter named', async () => {
  const cases = [
    { messages: 'hi' }, { messages: [] }, { messages: [{ role: 'user', content: 5 }] },
    { messages: [{ role: 'wizard', content: 'x' }] }, { messages: [{ content: 'x' }] },
    { messages: [{ role: 'user', content: 'x' }], temperature: 'hot' },
    { messages: [{ role: 'user', content: 'x' }], temperature: 9 },
    { messages: [{ role: 'user', content: 'x' }], max_tokens: -1 },
    { messages: [{ role: 'user', content: 'x' }], max_tokens: 1.5 },
    { messages: [{ role: 'user', content: 'x' }], stream: 'yes' },
    { messages: [{ role: 'user', content: 'x' }], tools: {} },
    { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'bad name!' } }] },
    { messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'extreme' },
    { messages: [{ role: 'user', content: 'x' }], stop: [1] },
    { messages: [{ role: 'user', content: 'x' }], n: 0 }, { messages: [{ role: 'user', content: 'x' }], n: 9 },
    { messages: [{ role: 'tool', content: 'x', tool_call_id: 'nope' }] },
  ];
  for (const c of cases) isError(await post('/v1/chat/completions', JSON.stringify(c)), 400);
  for (const c of [{ input: 5 }, { input: [{ type: 'mystery' }] }, { input: 'x', reasoning: { effort: 'max' } },
    { input: [{ type: 'function_call_output', call_id: 'zz', output: 'x' }] }, { input: 'x', max_output_tokens: 'many' }])
    isError(await post('/v1/responses', JSON.stringify(c)), 400);
  await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }), 400);
});

await test('errors: max_tokens, max_completion_tokens, max_output_tokens below 1 or not integers: "must be a positive integer"', async () => {
  for (const [route, field] of [['/v1/chat/completions', 'max_tokens'], ['/v1/chat/completions', 'max_completion_tokens'],
    ['/v1/responses', 'max_output_tokens']]) {
    for (const v of [-5, 0, 2.5, '10']) {
      const body = route === '/v1/responses' ? { input: 'x', [field]: v } : { messages: [{ role: 'user', content: 'x' }], [field]: v };
      const r = await post(route, JSON.stringify(body));
      isError(r, 400);
      eq(r.json.error.param, field);
      eq(r.json.error.message, `'${field}' must be a positive integer`, `${field}: ${JSON.stringify(v)}`);
    }
  }
  await expectError(client.chat.completions.create({ model, max_tokens: -5, messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_value');
  const one = await client.chat.completions.create({ model, max_tokens: 1, messages: [{ role: 'user', content: 'x' }] });
  eq(one.usage.completion_tokens, 1, 'max_tokens 1 is fine');
});

await test('errors: unknown model is 404 model_not_found', async () => {
  await expectError(client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }), 404, 'model_not_found');
  await expectError(client.responses.create({ model: 'gpt-9', input: 'x' }), 404, 'model_not_found');
  await expectError(client.models.retrieve('gpt-9'), 404);
});

await test('errors: a prompt longer than the context is 400 context_length_exceeded', async () => {
  const long = 'lorem ipsum dolor '.repeat(800);
  await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: long }] }), 400, 'context_length_exceeded');
  await expectError(client.responses.create({ model, input: long }), 400, 'context_length_exceeded');
});

await test('errors: a body over the size limit is 413', async () => {
  const big = JSON.stringify({ model, messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
  isError(await post('/v1/chat/completions', big), 413);
  await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'y'.repeat(100000) }] }), 413);
});

await test('errors: invalid UTF-8 is 400', async () => {
  const body = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]);
  isError(await post('/v1/chat/completions', body), 400);
  isError(await post('/v1/chat/completions', '{"messages":[{"role":"user","content":"\\ud800"}]}'), 400);
});

await test('errors: a missing or wrong API key is 401 (no API key given / Incorrect API key)', async () => {
  for (const r of [await post('/v1/chat/completions', '{}', { 'Content-Type': 'application/json' }),
    await raw(srv.port, 'GET', '/v1/models'), await raw(srv.port, 'GET', '/v1/models', undefined, { Authorization: 'Bearer ' })]) {
    isError(r, 401);
    assert(/^No API key given/.test(r.json.error.message), r.json.error.message);
  }
  for (const h of ['Bearer wrong', 'Basic c2VrcmV0', 'sekret']) {
    const r = await raw(srv.port, 'GET', '/v1/models', undefined, { Authorization: h });
    isError(r, 401);
    assert(/^Incorrect API key provided/.test(r.json.error.message), `${h}: ${r.json.error.message}`);
  }
  eq((await raw(srv.port, 'GET', '/v1/models', undefined, { Authorization: 'bearer  sekret' })).status, 200, 'any case, spaces');
  const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await expectError(bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }), 401, 'invalid_api_key');
  await expectError(bad.responses.create({ model, input: 'x' }), 401);
});

await test('errors: unknown previous_response_id is 400', async () => {
  await expectError(client.responses.create({ model, input: 'x', previous_response_id: 'resp_nope' }), 400, 'previous_response_not_found');
});

await test('errors: unknown route is 404, wrong method 405', async () => {
  isError(await raw(srv.port, 'GET', '/v1/nothing', undefined, auth), 404);
  isError(await raw(srv.port, 'GET', '/v1/chat/completions', undefined, auth), 405);
  isError(await raw(srv.port, 'DELETE', '/health'), 405);
});

await test('errors: the server goes on serving', async () => {
  const h = await raw(srv.port, 'GET', '/health');
  eq(h.status, 200);
  eq(h.json.status, 'ok');
  const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  eq(r.choices[0].message.content, 'Hello, world!');
  const m = await metrics(srv.port);
  assert(m['gptoss_requests_total{code="400"}'] >= 20, 'errors counted');
  assert(m.gptoss_generated_tokens_total > 100, 'tokens counted');
  eq(m.gptoss_active_sequences, 0);
});

await test('concurrency: parallel requests all complete', async () => {
  const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => client.chat.completions.create({
    model, messages: [{ role: 'user', content: `hi ${i}` }] })));
  for (const r of rs) eq(r.choices[0].message.content, 'Hello, world!');
});

const stopped = await srv.stop();
await test('server: shuts down cleanly on SIGTERM', async () => {
  eq(stopped.code, 0, `exit status (stderr: ${stopped.stderr.slice(-2000)})`);
  assert(!/Sanitizer|runtime error/.test(stopped.stderr), stopped.stderr.slice(-3000));
});

// ---- queue full and cancellation: a slow double, one slot, a queue of one ----------------------
// LONG must still be running when its clients leave: at 50 ms a step (x the time scale) it would take
// 20 s, and stopping before 300 tokens leaves 15 s for a few requests that take well under one.
const slow = await startServer(bin, [...common, '--parallel', '1', '--queue', '1'],
  { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_DELAY_MS: String(50 * timeScale) });
const sc = new OpenAI({ baseURL: `${slow.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
await test('queue: beyond --parallel and --queue, 429 with an error object', async () => {
  const a = new AbortController(), b = new AbortController();
  const s1 = await sc.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'LONG' }] }, { signal: a.signal });
  await waitFor(async () => (await metrics(slow.port)).gptoss_active_sequences === 1, 'first active');
  const s2 = await sc.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'LONG' }] }, { signal: b.signal });
  await waitFor(async () => (await metrics(slow.port)).gptoss_queue_length === 1, 'second queued');
  await expectError(sc.chat.completions.create({ model, messages: [{ role: 'user', content: 'LONG' }] }), 429, 'rate_limit_exceeded');
  // Read a little of the first stream, then both clients go away.
  const it = s1[Symbol.asyncIterator]();
  await it.next();
  await it.next();
  a.abort();
  b.abort();
  // a slot is freed first, then its generation is counted (as finished, and as cancelled)
  await waitFor(async () => {
    const m = await metrics(slow.port);
    return m.gptoss_active_sequences === 0 && m.gptoss_queue_length === 0 && m.gptoss_generations_total >= 2;
  }, 'the slot and the queue to empty, both generations to end');
  const m = await metrics(slow.port);
  assert(m.gptoss_generations_cancelled_total >= 2, `cancelled ${m.gptoss_generations_cancelled_total}`);
  assert(m.gptoss_generated_tokens_total < 300, 'the cancelled sequence stopped early');
  void s2;
});
await test('queue: a non-streaming client that leaves cancels its sequence', async () => {
  const a = new AbortController();
  const p = sc.chat.completions.create({ model, messages: [{ role: 'user', content: 'LONG' }] }, { signal: a.signal }).catch(() => 'aborted');
  await waitFor(async () => (await metrics(slow.port)).gptoss_active_sequences === 1, 'active');
  a.abort();
  eq(await p, 'aborted');
  await waitFor(async () => (await metrics(slow.port)).gptoss_active_sequences === 0, 'the slot to be freed');
  const r = await sc.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  eq(r.choices[0].message.content, 'Hello, world!');
});
const stopped2 = await slow.stop();
await test('server: the slow instance shuts down cleanly', async () => {
  eq(stopped2.code, 0, `exit status (stderr: ${stopped2.stderr.slice(-2000)})`);
});
done();
