// structured.mjs: structured outputs through the official openai client: chat response_format
// (json_schema, json_object), Responses text.format, strict function tools, the reasoning budget.
// Part 1, the scripted double (tests/server_double.c, its prompt log): the # Response Formats section
// the model reads, the 400s for schemas the compiler refuses, scripted tokens checked against the
// constraint. Part 2, a tiny random-weight model: every answer that finishes ("stop", or a tool call)
// is JSON that ajv (pinned) validates against its schema; random weights cannot get that right by
// chance, so only the constraint does.
// env: GPTOSS_DOUBLE, GPTOSS_TOKENIZER, GPTOSS_TMP (part 1); GPTOSS_BIN, GPTOSS_MODEL (part 2).
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Ajv2020 from 'ajv/dist/2020.js';
import { test, done, assert, eq, startServer, raw } from './lib.mjs';

const ajv = new Ajv2020({ strict: false });
function validates(schema, text, what) {
  let value;
  try { value = JSON.parse(text); } catch (e) { throw new Error(`${what}: not JSON: ${JSON.stringify(text)}`); }
  const check = ajv.compile(schema);
  if (!check(value)) throw new Error(`${what}: ${JSON.stringify(text)} fails its schema: ${ajv.errorsText(check.errors)}`);
  return value;
}
const user = (content) => [{ role: 'user', content }];

// ---- part 1: the double ------------------------------------------------------------------------

const tmp = process.env.GPTOSS_TMP;
const script = path.join(tmp, 'structured_script.txt');
const log = path.join(tmp, 'structured_prompts.txt');
fs.writeFileSync(script, [
  'SCRIPTED_JSON => <|channel|>analysis<|message|>Make JSON.<|end|><|start|>assistant<|channel|>final<|message|>{"city": "Oslo", "days": 3}<|return|>',
  'NOT_JSON => <|channel|>final<|message|>Sure! Here it is<|return|>',
  'THINK_LONG => <|channel|>analysis<|message|>one two three four five six seven eight nine ten eleven twelve<|end|><|start|>assistant<|channel|>final<|message|>done<|return|>',
  'CALL_STRICT => <|channel|>commentary to=functions.book <|constrain|>json<|message|>{"city": "Oslo", "days": 3}<|call|>',
  '* => <|channel|>final<|message|>Hello<|return|>',
].join('\n') + '\n');
fs.rmSync(log, { force: true });
const prompts = () => fs.readFileSync(log, 'utf8').split('\n----\n').filter((x) => x);

const trip = {
  type: 'object',
  properties: { city: { type: 'string', enum: ['Oslo', 'Rome'] }, days: { type: 'integer', minimum: 1, maximum: 9 } },
  required: ['city', 'days'], additionalProperties: false,
};
const dbl = await startServer(process.env.GPTOSS_DOUBLE, ['double-model', '--tokenizer', process.env.GPTOSS_TOKENIZER,
  '--parallel', '2'], { SERVER_DOUBLE_SCRIPT: script, SERVER_DOUBLE_LOG: log });
const dclient = new OpenAI({ baseURL: `${dbl.url}/v1`, apiKey: 'none', maxRetries: 0 });

await test('double: json_schema goes into the developer message as # Response Formats, exactly', async () => {
  const n0 = fs.existsSync(log) ? prompts().length : 0;
  const r = await dclient.chat.completions.create({ model: 'double-model', messages: [{ role: 'system', content: 'Be terse.' },
    ...user('SCRIPTED_JSON plan a trip')], max_reasoning_tokens: 8,
  response_format: { type: 'json_schema', json_schema: { name: 'trip', description: 'A trip plan.', schema: trip, strict: true } } });
  const p = prompts().slice(n0).join('\n');
  const want = '<|start|>developer<|message|># Instructions\n\nBe terse.\n\n# Response Formats\n\n## trip\n\n// A trip plan.\n' +
    JSON.stringify(trip) + '<|end|>';
  assert(p.includes(want), `prompt has ${JSON.stringify(want)}: ${JSON.stringify(p)}`);
  eq(r.choices[0].finish_reason, 'stop');
  eq(validates(trip, r.choices[0].message.content, 'scripted answer'), { city: 'Oslo', days: 3 }, 'the scripted JSON passes');
});

await test('double: Responses text.format: the same section, and the format echoed', async () => {
  const n0 = prompts().length;
  const r = await dclient.responses.create({ model: 'double-model', input: 'SCRIPTED_JSON plan a trip',
    text: { format: { type: 'json_schema', name: 'trip', schema: trip, strict: true } } });
  const p = prompts().slice(n0).join('\n');
  const want = '<|start|>developer<|message|># Response Formats\n\n## trip\n\n' + JSON.stringify(trip) + '<|end|>';
  assert(p.includes(want), `prompt has ${JSON.stringify(want)}: ${JSON.stringify(p)}`);
  eq(r.text.format.name, 'trip');
  eq(validates(trip, r.output_text, 'scripted answer'), { city: 'Oslo', days: 3 });
});

await test('double: json_schema with strict false is only in the prompt (the answer is not constrained)', async () => {
  const n0 = prompts().length;
  const r = await dclient.chat.completions.create({ model: 'double-model', messages: user('NOT_JSON please'),
    response_format: { type: 'json_schema', json_schema: { name: 'trip', schema: trip } } });
  assert(prompts().slice(n0).join('\n').includes('# Response Formats\n\n## trip\n\n'), 'section in the prompt');
  eq(r.choices[0].message.content, 'Sure! Here it is');
});

await test('double: scripted text the constraint refuses is replaced (json_object): a finished answer is an object', async () => {
  const r = await dclient.chat.completions.create({ model: 'double-model', messages: user('NOT_JSON please'),
    response_format: { type: 'json_object' }, max_tokens: 64 });
  const c = r.choices[0];
  assert(c.message.content !== 'Sure! Here it is', 'not the scripted text');
  if (c.finish_reason === 'stop') validates({ type: 'object' }, c.message.content, 'json_object answer');
  else eq(c.finish_reason, 'length');
});

await test('double: max_reasoning_tokens 0 skips the analysis; 3 ends it after 3 tokens', async () => {
  const r0 = await dclient.chat.completions.create({ model: 'double-model', messages: user('THINK_LONG'), max_reasoning_tokens: 0,
    max_tokens: 64 });
  assert(!r0.choices[0].message.reasoning_content, `no reasoning: ${JSON.stringify(r0.choices[0].message)}`);
  assert(r0.choices[0].message.content, 'an answer');
  const r3 = await dclient.chat.completions.create({ model: 'double-model', messages: user('THINK_LONG'), max_reasoning_tokens: 3,
    max_tokens: 64 });
  eq(r3.choices[0].message.reasoning_content, 'one two three', 'the analysis ends after 3 tokens');
  assert(r3.choices[0].message.content, 'an answer after the budget');
  const rr = await dclient.responses.create({ model: 'double-model', input: 'THINK_LONG', reasoning: { max_tokens: 0 } });
  eq(rr.usage.output_tokens_details.reasoning_tokens, 0, 'Responses: reasoning.max_tokens 0');
});

const book = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city', 'days'],
  additionalProperties: false };
await test('double: strict tool: scripted valid arguments pass, the call is made', async () => {
  const r = await dclient.chat.completions.create({ model: 'double-model', messages: user('CALL_STRICT'),
    tools: [{ type: 'function', function: { name: 'book', parameters: book, strict: true } }], tool_choice: 'required' });
  eq(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  eq(call.function.name, 'book');
  eq(validates(book, call.function.arguments, 'arguments'), { city: 'Oslo', days: 3 });
});

// A request body with one change; the 400 names the field and (the compiler's message) the keyword.
async function bad(pathname, body, param, words) {
  const r = await raw(dbl.port, 'POST', pathname, JSON.stringify(body), { 'Content-Type': 'application/json' });
  eq(r.status, 400, `status (${r.body})`);
  const e = r.json && r.json.error;
  assert(e && e.type === 'invalid_request_error', `OpenAI's error shape: ${r.body}`);
  eq(e.param, param, 'param');
  for (const w of words) assert(e.message.includes(w), `message names ${w}: ${e.message}`);
  assert('code' in e, 'code member');
}
const chatWith = (rf) => ({ model: 'double-model', messages: user('hi'), response_format: rf });
await test('double: 400 for a bad schema (a wrong type name): the keyword and its JSON pointer', async () => {
  await bad('/v1/chat/completions', chatWith({ type: 'json_schema', json_schema: { name: 'x', strict: true,
    schema: { type: 'object', properties: { a: { type: 'strnig' } } } } }), 'response_format.json_schema.schema',
  ['type', '/properties/a']);
  await bad('/v1/responses', { model: 'double-model', input: 'hi', text: { format: { type: 'json_schema', name: 'x', strict: true,
    schema: { type: 'object', properties: { a: { type: 'strnig' } } } } } }, 'text.format.schema', ['type', '/properties/a']);
});
await test('double: 400 for an unsupported keyword, naming it', async () => {
  await bad('/v1/chat/completions', chatWith({ type: 'json_schema', json_schema: { name: 'x', strict: true,
    schema: { type: 'object', properties: { a: { type: 'object', unevaluatedProperties: false } } } } }),
  'response_format.json_schema.schema', ['unevaluatedProperties', '/properties/a']);
});
await test('double: 400 for a strict tool whose parameters do not compile (chat and Responses)', async () => {
  const params = { type: 'object', properties: { a: { type: 'strnig' } } };
  await bad('/v1/chat/completions', { model: 'double-model', messages: user('hi'), tools: [
    { type: 'function', function: { name: 'ok', parameters: book, strict: true } },
    { type: 'function', function: { name: 'f', parameters: params, strict: true } }] },
  'tools[1].function.parameters', ["function 'f'", 'type', '/properties/a']);
  await bad('/v1/responses', { model: 'double-model', input: 'hi', tools: [{ type: 'function', name: 'f', parameters: params,
    strict: true }] }, 'tools[0].parameters', ['type', '/properties/a']);
  // also when tool_choice names another function
  await bad('/v1/chat/completions', { model: 'double-model', messages: user('hi'), tool_choice: { type: 'function',
    function: { name: 'ok' } }, tools: [{ type: 'function', function: { name: 'ok', parameters: book, strict: true } },
    { type: 'function', function: { name: 'f', parameters: params, strict: true } }] },
  'tools[1].function.parameters', ["function 'f'"]);
  // not strict: not compiled, the tool is only declared
  const r = await raw(dbl.port, 'POST', '/v1/chat/completions', JSON.stringify({ model: 'double-model', messages: user('hi'),
    tools: [{ type: 'function', function: { name: 'f', parameters: params } }] }), { 'Content-Type': 'application/json' });
  eq(r.status, 200, `a tool that is not strict is not compiled (${r.body})`);
});
await test('double: 400 for malformed response formats and budgets', async () => {
  await bad('/v1/chat/completions', chatWith({ type: 'xml' }), 'response_format', ['xml']);
  await bad('/v1/chat/completions', chatWith({ type: 'json_schema' }), 'response_format.json_schema', ['json_schema']);
  await bad('/v1/chat/completions', chatWith({ type: 'json_schema', json_schema: { schema: trip } }),
    'response_format.json_schema.name', ['name']);
  await bad('/v1/responses', { model: 'double-model', input: 'hi', text: { format: { type: 'json_schema', name: 'x',
    schema: 'not a schema' } } }, 'text.format.schema', ['schema']);
  await bad('/v1/chat/completions', { model: 'double-model', messages: user('hi'), max_reasoning_tokens: -1 },
    'max_reasoning_tokens', ['max_reasoning_tokens']);
  await bad('/v1/responses', { model: 'double-model', input: 'hi', reasoning: { max_tokens: 1.5 } }, 'reasoning.max_tokens',
    ['reasoning.max_tokens']);
});
await dbl.stop();

// ---- part 2: a tiny random-weight model --------------------------------------------------------

const srv = await startServer(process.env.GPTOSS_BIN, ['serve', process.env.GPTOSS_MODEL, '--parallel', '8', '--ctx-size', '1024',
  '--model-name', 'tiny']);
const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'none', maxRetries: 0 });
const model = 'tiny';
// Under sanitizers (3-10x slower) a smaller set: the same code paths, fewer samples.
const sanitized = Boolean(process.env.GPTOSS_TEST_SANITIZED);

const schemas = {
  required_props: { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 0, maximum: 120 },
    ok: { type: 'boolean' } }, required: ['name', 'age', 'ok'], additionalProperties: false },
  enums: { type: 'object', properties: { color: { enum: ['red', 'green', 'blue'] }, size: { type: 'string', enum: ['S', 'M', 'L'] } },
    required: ['color', 'size'], additionalProperties: false },
  array_min_items: { type: 'object', properties: { tags: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 },
    minItems: 2, maxItems: 4 } }, required: ['tags'], additionalProperties: false },
  nested: { type: 'object', properties: { point: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } },
    required: ['x', 'y'], additionalProperties: false } }, required: ['point'], additionalProperties: false },
  with_ref: { $defs: { leaf: { type: 'object', properties: { v: { type: 'integer', minimum: -5, maximum: 5 } }, required: ['v'],
    additionalProperties: false } }, $ref: '#/$defs/leaf' },
};

// Random weights spend most tokens on the whitespace JSON allows between tokens, so many answers
// run to max_tokens. Each test sends its requests together, so the server's 8 slots decode them in
// the same steps.
const opts = { model, max_tokens: 400 };
const tools = [
  { type: 'function', function: { name: 'book', parameters: schemas.required_props, strict: true } },
  { type: 'function', function: { name: 'paint', parameters: schemas.enums, strict: true } },
];
const rtools = tools.map((t) => ({ type: 'function', name: t.function.name, parameters: t.function.parameters, strict: true }));

for (const [name, schema] of Object.entries(schemas)) {
  if (sanitized && name !== 'with_ref') continue;
  await test(`model: chat json_schema '${name}': every finished answer validates (ajv)`, async () => {
    const runs = await Promise.all([[0, 1], [8, 2]].map(([budget, seed]) => client.chat.completions.create({ ...opts,
      messages: user('Give me the data.'), n: 8, seed, max_reasoning_tokens: budget,
      response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } } })));
    let finished = 0;
    for (const r of runs) {
      for (const c of r.choices) {
        assert(['stop', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
        if (c.finish_reason !== 'stop') continue;
        validates(schema, c.message.content, `${name} (choice ${c.index})`);
        finished++;
      }
    }
    console.log(`# ${name}: ${finished} of 16 answers finished`);
    assert(finished >= 1, 'at least one answer finished');
  });
}

await test('model: json_object: every finished answer is a JSON object', async () => {
  const r = await client.chat.completions.create({ ...opts, messages: user('JSON please.'), n: 8, seed: 5,
    max_reasoning_tokens: 0, response_format: { type: 'json_object' } });
  let finished = 0;
  for (const c of r.choices) {
    if (c.finish_reason !== 'stop') continue;
    const v = validates({ type: 'object' }, c.message.content, 'json_object');
    assert(v && typeof v === 'object' && !Array.isArray(v), 'an object');
    finished++;
  }
  console.log(`# json_object: ${finished} of 8 finished`);
  assert(finished >= 1, 'at least one answer finished');
});

await test('model: Responses text.format json_schema: every finished answer validates', async () => {
  const runs = await Promise.all([0, 0, 0, 0, 8, 8, 8, 8].map((budget) => client.responses.create({ model, input: 'Pick.',
    max_output_tokens: opts.max_tokens, reasoning: { max_tokens: budget },
    text: { format: { type: 'json_schema', name: 'pick', schema: schemas.with_ref, strict: true } } })));
  let finished = 0;
  for (const r of runs) {
    eq(r.text.format.name, 'pick', 'the format echoed');
    if (r.status !== 'completed') continue;
    validates(schemas.with_ref, r.output_text, 'Responses');
    finished++;
  }
  console.log(`# Responses: ${finished} of 8 completed`);
  assert(finished >= 1, 'at least one response completed');
});

const bySchema = { book: schemas.required_props, paint: schemas.enums };
// Calls of the choices that ended with a call (a call cut by max_tokens is not one).
function checkCalls(r, what) {
  let calls = 0;
  for (const c of r.choices) {
    if (c.finish_reason !== 'tool_calls') continue;
    for (const call of c.message.tool_calls) {
      assert(call.function.name in bySchema, `a declared function: ${call.function.name}`);
      validates(bySchema[call.function.name], call.function.arguments, `${what}: ${call.function.name} arguments`);
      calls++;
    }
  }
  return calls;
}
await test('model: strict tools with tool_choice required: every call\'s arguments validate', async () => {
  const [chat, ...resps] = await Promise.all([
    client.chat.completions.create({ ...opts, messages: user('Do it.'), n: 8, seed: 7, max_reasoning_tokens: 0, tools,
      tool_choice: 'required' }),
    ...[0, 4].map((budget) => client.responses.create({ model, input: 'Do it.', max_output_tokens: opts.max_tokens,
      reasoning: { max_tokens: budget }, tools: rtools, tool_choice: 'required' }))]);
  for (const c of chat.choices) assert(['tool_calls', 'length'].includes(c.finish_reason), `finish ${c.finish_reason}`);
  let calls = checkCalls(chat, 'chat');
  for (const rr of resps) {
    assert(!rr.output.some((o) => o.type === 'message'), 'no message with tool_choice required');
    for (const it of rr.output.filter((o) => o.type === 'function_call' && o.status === 'completed')) {
      validates(bySchema[it.name], it.arguments, `Responses ${it.name}`);
      calls++;
    }
  }
  console.log(`# tool_choice required: ${calls} calls`);
  assert(calls >= 1, 'at least one call was made');
});

if (!sanitized) await test('model: strict tools with tool_choice auto: every call made validates', async () => {
  const r = await client.chat.completions.create({ ...opts, messages: user('Maybe call.'), n: 8, seed: 9,
    max_reasoning_tokens: 8, tools, tool_choice: 'auto' });
  const calls = checkCalls(r, 'auto');
  console.log(`# tool_choice auto: ${calls} calls, ${r.choices.filter((c) => c.finish_reason === 'stop').length} plain answers`);
});

await srv.stop();
done();
