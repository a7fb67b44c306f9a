// app.js: the chat page's behaviour: conversations kept in localStorage, answers streamed from this
// server's own Responses API (/v1/responses, stream: true, store: false: the page keeps the history and
// sends it whole each turn), the reasoning shown in a collapsible block while it streams, tool calls
// (functions the model called, the browser and python the server runs: python's code, status and
// output) shown as they happen, each conversation's python container kept, a stop button that
// aborts the fetch (the server cancels the job when its client goes), the API key asked for on a 401,
// and a small markdown renderer that builds DOM nodes: model text only ever becomes text nodes
// (createTextNode / textContent), never HTML, so nothing it says can add markup or script.
'use strict';

const STORE_CHATS = 'gptoss.chats';
const STORE_KEY = 'gptoss.apiKey';
const STORE_EFFORT = 'gptoss.effort';
const STORE_BROWSE = 'gptoss.browse';
const STORE_PYTHON = 'gptoss.python';

const $ = (id) => document.getElementById(id);
const ui = {
  list: $('chat-list'), log: $('log'), empty: $('empty'), status: $('status'), form: $('composer'),
  prompt: $('prompt'), send: $('send'), stop: $('stop'), effort: $('effort'), browse: $('browse'),
  python: $('python'),
  model: $('model-name'), newChat: $('new-chat'), keyButton: $('key-button'), keyDialog: $('key-dialog'),
  keyForm: $('key-form'), keyInput: $('key-input'), keyWhy: $('key-why'), keyCancel: $('key-cancel'),
  keyForget: $('key-forget'),
};

// ---- storage ------------------------------------------------------------------------------------

// Storage can be full or refused (private windows); the page keeps working in memory then.
function storeGet(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}
function storeSet(key, value) {
  try {
    if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
  } catch { /* kept in memory only */ }
}

function loadChats() {
  try {
    const s = JSON.parse(storeGet(STORE_CHATS) || 'null');
    if (s && Array.isArray(s.chats)) {
      // An answer that was streaming when the page went away is whatever had arrived.
      for (const c of s.chats) for (const m of c.messages || []) if (m.state === 'streaming') m.state = 'stopped';
      return s;
    }
  } catch { /* a corrupt entry starts afresh */ }
  return { chats: [], current: null };
}

const state = loadChats();
let model = null;
let running = null; // {controller, chat, msg} while a stream runs

function saveChats() { storeSet(STORE_CHATS, JSON.stringify(state)); }
function currentChat() { return state.chats.find((c) => c.id === state.current) || null; }
function newId() {
  const a = new Uint32Array(2);
  crypto.getRandomValues(a);
  return a[0].toString(36) + a[1].toString(36);
}

// ---- markdown -----------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// Only these schemes become links; anything else (javascript:, data:) stays text.
function safeUrl(u) { return /^(https?:\/\/|mailto:)/i.test(u) ? u : null; }

// Spans are bounded (a few hundred characters) so that text which never closes one costs linear
// time, not a scan to the end of the line from every opening mark.
const INLINE = new RegExp([
  /(`+)([^`]|[^`][^\n]{0,800}?[^`])\1(?!`)/.source, // 1,2 code span
  /\*\*(?=\S)([^\n]{0,400}?\S)\*\*/.source, // 3 strong
  /__(?=\S)([^\n]{0,400}?\S)__(?!\w)/.source, // 4 strong
  /\*(?=[^\s*])([^\n]{0,400}?[^\s*])\*/.source, // 5 emphasis
  /(?<![\w])_(?=[^\s_])([^\n]{0,400}?[^\s_])_(?![\w])/.source, // 6 emphasis
  /~~(?=\S)([^\n]{0,400}?\S)~~/.source, // 7 strikethrough
  /\[([^\]\n]{1,400})\]\(\s*([^()\s]{1,2000})(?:\s+"[^"\n]{0,400}")?\s*\)/.source, // 8,9 link
  /(https?:\/\/[^\s<>()[\]]{0,2000}[^\s<>()[\].,;:!?'"*_])/.source, // 10 bare URL
  /\\([!-/:-@[-`{-~])/.source, // 11 a backslash-escaped mark: the mark itself
].join('|'));

function inline(text, parent) {
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) { parent.append(rest); return; }
    if (m.index) parent.append(rest.slice(0, m.index));
    if (m[2] !== undefined) parent.append(el('code', null, m[2].replace(/^ (.*) $/s, '$1')));
    else if (m[3] !== undefined || m[4] !== undefined) inline(m[3] ?? m[4], parent.appendChild(el('strong')));
    else if (m[5] !== undefined || m[6] !== undefined) inline(m[5] ?? m[6], parent.appendChild(el('em')));
    else if (m[7] !== undefined) inline(m[7], parent.appendChild(el('del')));
    else if (m[8] !== undefined) {
      const href = safeUrl(m[9]);
      if (href) inline(m[8], parent.appendChild(el('a', { href, rel: 'noopener noreferrer', target: '_blank' })));
      else parent.append(m[0]);
    } else if (m[10] !== undefined) parent.append(el('a', { href: m[10], rel: 'noopener noreferrer', target: '_blank' }, m[10]));
    else parent.append(m[11]);
    rest = rest.slice(m.index + m[0].length);
  }
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

function startsBlock(line, depth) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || (depth < MAX_DEPTH && (ITEM.test(line) || QUOTE.test(line)));
}

function cells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

function codeBlock(code, lang) {
  const copy = el('button', { type: 'button', class: 'copy', 'aria-label': 'Copy code' }, 'Copy');
  const c = el('code', lang ? { 'data-lang': lang } : null, code);
  // The clipboard API exists only on secure origins (https, localhost); elsewhere the code is selected
  // for the user to copy.
  const select = () => {
    const r = document.createRange();
    r.selectNodeContents(c);
    getSelection().removeAllRanges();
    getSelection().addRange(r);
    copy.textContent = 'Selected';
  };
  copy.addEventListener('click', () => {
    if (!navigator.clipboard) return select();
    navigator.clipboard.writeText(code).then(() => { copy.textContent = 'Copied'; }, select);
  });
  return el('div', { class: 'codeblock' }, lang ? el('span', { class: 'lang' }, lang) : null, copy, el('pre', null, c));
}

// Quotes and lists nest by recursion; past this depth their lines are plain paragraphs.
const MAX_DEPTH = 16;

// Block structure, line by line; an unclosed fence (a code block still streaming) runs to the end.
function blocks(lines, parent, depth = 0) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) { i++; continue; }
    if ((m = FENCE.exec(line))) {
      const fence = m[1], body = [];
      for (i++; i < lines.length; i++) {
        const t = lines[i].trim();
        if (t.startsWith(fence[0].repeat(fence.length)) && !t.replace(new RegExp('^\\' + fence[0] + '+'), '').trim()) { i++; break; }
        body.push(lines[i]);
      }
      parent.append(codeBlock(body.join('\n'), m[2]));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      inline(m[2], parent.appendChild(el('h' + m[1].length)));
      i++;
      continue;
    }
    if (RULE.test(line)) { parent.append(el('hr')); i++; continue; }
    if (depth < MAX_DEPTH && QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { body.push(m[1]); i++; }
      blocks(body, parent.appendChild(el('blockquote')), depth + 1);
      continue;
    }
    if (depth < MAX_DEPTH && (m = ITEM.exec(line))) {
      const indent = m[1].length, ordered = /\d/.test(m[2]);
      const list = parent.appendChild(el(ordered ? 'ol' : 'ul'));
      if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute('start', String(parseInt(m[2], 10)));
      while (i < lines.length && (m = ITEM.exec(lines[i])) && m[1].length === indent && /\d/.test(m[2]) === ordered) {
        const body = [m[3]];
        for (i++; i < lines.length; i++) {
          const l = lines[i];
          const sub = ITEM.exec(l);
          if (sub && sub[1].length <= indent) break;
          if (!l.trim()) {
            // a blank line ends the item unless the next line is indented under it
            if (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]) && !(ITEM.exec(lines[i + 1]) && ITEM.exec(lines[i + 1])[1].length <= indent)) { body.push(''); continue; }
            break;
          }
          if (!/^\s/.test(l) && startsBlock(l, depth)) break;
          body.push(l.replace(new RegExp('^\\s{0,' + (indent + 4) + '}'), ''));
        }
        const li = list.appendChild(el('li'));
        if (body.length === 1) inline(body[0], li); else blocks(body, li, depth + 1);
        while (i < lines.length && !lines[i].trim() && i + 1 < lines.length && (m = ITEM.exec(lines[i + 1])) && m[1].length === indent) i++;
      }
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const head = cells(line);
      // alignment by class: the CSP refuses style attributes
      const align = cells(lines[i + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : null));
      const tr = el('tr');
      head.forEach((h, k) => inline(h, tr.appendChild(el('th', align[k] ? { class: 'al-' + align[k] } : null))));
      const tbody = el('tbody');
      for (i += 2; i < lines.length && lines[i].includes('|') && lines[i].trim(); i++) {
        const row = tbody.appendChild(el('tr'));
        const cs = cells(lines[i]);
        head.forEach((_, k) => inline(cs[k] || '', row.appendChild(el('td', align[k] ? { class: 'al-' + align[k] } : null))));
      }
      parent.append(el('table', null, el('thead', null, tr), tbody));
      continue;
    }
    const para = [line];
    for (i++; i < lines.length && lines[i].trim() && !startsBlock(lines[i], depth); i++) para.push(lines[i]);
    const p = parent.appendChild(el('p'));
    para.forEach((l, k) => {
      if (k) p.append(el('br'));
      inline(l.trim(), p);
    });
  }
}

function renderMarkdown(text, into) {
  const frag = document.createDocumentFragment();
  blocks(text.replace(/\r\n?/g, '\n').split('\n'), frag);
  into.replaceChildren(frag);
}

// ---- messages -----------------------------------------------------------------------------------

const views = new Map(); // message -> its elements

const PY_STATUS = { running: 'running…', interpreting: 'interpreting…', completed: 'completed', failed: 'failed', incomplete: 'incomplete' };

function pythonView(t, box) {
  box.append(el('span', { class: 'name' }, 'Python'), el('span', { class: 'state' }, PY_STATUS[t.status] || t.status || ''));
  box.append(codeBlock(t.code || '', 'python'));
  if (t.logs !== undefined && t.logs !== null) {
    // the output is open unless the user folded it; re-rendering while the answer streams keeps that
    const out = el('details', { class: 'output' }, el('summary', null, 'Output'), el('pre', null, t.logs || '(no output)'));
    out.open = !t.folded;
    out.addEventListener('toggle', () => {
      if (t.folded !== !out.open) { t.folded = !out.open; saveChats(); }
    });
    box.append(out);
  }
}

function toolView(t) {
  const box = el('div', { class: 'tool', 'data-kind': t.kind });
  if (t.kind === 'python') pythonView(t, box);
  else if (t.kind === 'web') {
    const a = t.action || {};
    let what = 'Browsing', detail = null;
    if (a.type === 'search') { what = 'Searched the web'; detail = a.query || ''; }
    else if (a.type === 'open_page') { what = 'Opened a page'; detail = a.url || '(a link)'; }
    else if (a.type === 'find') { what = 'Found in page'; detail = `"${a.pattern || ''}" in ${a.url || ''}`; }
    box.append(el('span', { class: 'name' }, what), el('span', { class: 'state' }, t.status === 'done' ? 'done' : 'running…'));
    if (detail) box.append(el('pre', null, detail));
  } else {
    let args = t.args || '';
    try { args = JSON.stringify(JSON.parse(args), null, 2); } catch { /* shown as it came */ }
    box.append(el('span', null, 'Called function '), el('span', { class: 'name' }, t.name || '?'),
      el('span', { class: 'state' }, t.status === 'done' ? '' : 'writing…'), el('pre', null, args));
    if (t.status === 'done') {
      box.append(el('div', { class: 'note' }, 'This page runs no functions: the call is shown as the model made it.'));
    }
  }
  return box;
}

function messageView(msg) {
  const v = { el: el('article', { class: 'msg ' + msg.role }) };
  v.el.append(el('div', { class: 'who' }, msg.role === 'user' ? 'You' : 'Assistant'));
  if (msg.role === 'user') {
    v.el.append(el('div', { class: 'body' }, msg.text));
  } else {
    v.summary = el('summary');
    v.reasoning = el('div', { class: 'text' });
    v.details = el('details', { class: 'reasoning' }, v.summary, v.reasoning);
    v.tools = el('div', { class: 'tools' });
    v.body = el('div', { class: 'body md' });
    v.note = el('div', { class: 'note' });
    v.el.append(v.details, v.tools, v.body, v.note);
  }
  views.set(msg, v);
  return v;
}

let pending = new Set();
// Re-rendering a long answer per token would be quadratic; once a frame is enough.
function updateSoon(msg) {
  if (!pending.size) requestAnimationFrame(() => {
    const list = pending;
    pending = new Set();
    for (const m of list) update(m);
  });
  pending.add(msg);
}

function update(msg) {
  const v = views.get(msg);
  if (!v || msg.role !== 'assistant') return;
  const streaming = msg.state === 'streaming';
  v.el.dataset.state = msg.state;
  v.el.setAttribute('aria-busy', String(streaming));
  v.details.hidden = !msg.reasoning;
  v.reasoning.textContent = msg.reasoning || '';
  const thinking = streaming && !msg.text && !(msg.tools || []).length;
  v.summary.textContent = thinking ? 'Thinking…' : `Reasoning${msg.effort ? ` (${msg.effort})` : ''}`;
  v.tools.replaceChildren(...(msg.tools || []).map(toolView));
  renderMarkdown(msg.text || '', v.body);
  v.note.replaceChildren();
  v.note.className = 'note';
  if (msg.state === 'stopped') v.note.textContent = 'Stopped.';
  else if (msg.state === 'error') { v.note.className = 'note error'; v.note.textContent = msg.error || 'The request failed.'; }
  else if (msg.state === 'incomplete') v.note.textContent = 'Cut short: ' + (msg.error || 'the token limit was reached') + '.';
  else if (msg.state === 'done' && !msg.text && !(msg.tools || []).length) v.note.textContent = 'No answer.';
}

function scrollDown() {
  const log = ui.log;
  if (log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
}

function renderChat() {
  views.clear();
  const chat = currentChat();
  const items = [];
  for (const msg of chat ? chat.messages : []) {
    const v = messageView(msg);
    update(msg);
    if (v.details) v.details.open = msg.state === 'streaming' && !msg.text;
    items.push(v.el);
  }
  ui.empty.hidden = items.length > 0;
  ui.log.replaceChildren(ui.empty, ...items);
  ui.log.scrollTop = ui.log.scrollHeight;
}

function renderList() {
  const items = [...state.chats].sort((a, b) => b.updated - a.updated).map((c) => {
    const open = el('button', { type: 'button', class: 'open', title: c.title }, c.title || 'New chat');
    if (c.id === state.current) open.setAttribute('aria-current', 'true');
    open.addEventListener('click', () => { if (!running) { state.current = c.id; saveChats(); renderAll(); } });
    const del = el('button', { type: 'button', class: 'delete', 'aria-label': `Delete "${c.title || 'New chat'}"`, title: 'Delete' }, '✕');
    del.addEventListener('click', () => deleteChat(c.id));
    return el('li', { class: c.id === state.current ? 'current' : '', 'data-id': c.id }, open, del);
  });
  ui.list.replaceChildren(...items);
}

function renderAll() { renderList(); renderChat(); }

function deleteChat(id) {
  if (running && running.chat.id === id) running.controller.abort();
  state.chats = state.chats.filter((c) => c.id !== id);
  if (state.current === id) state.current = state.chats.length ? [...state.chats].sort((a, b) => b.updated - a.updated)[0].id : null;
  saveChats();
  renderAll();
}

function setBusy(busy) {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.newChat.disabled = busy;
  if (busy) ui.stop.focus(); else ui.prompt.focus();
}

// ---- the API key --------------------------------------------------------------------------------

function authHeaders() {
  const key = storeGet(STORE_KEY);
  return key ? { Authorization: 'Bearer ' + key } : {};
}

// Resolves true once a key was saved, false when the dialog was cancelled.
function askKey(why) {
  return new Promise((resolve) => {
    ui.keyWhy.textContent = why;
    ui.keyInput.value = storeGet(STORE_KEY) || '';
    const done = (ok) => {
      ui.keyForm.removeEventListener('submit', onSubmit);
      ui.keyCancel.removeEventListener('click', onCancel);
      ui.keyDialog.removeEventListener('cancel', onCancel);
      ui.keyDialog.close();
      resolve(ok);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const k = ui.keyInput.value.trim();
      storeSet(STORE_KEY, k || null);
      done(!!k);
    };
    const onCancel = (e) => { e.preventDefault(); done(false); };
    ui.keyForm.addEventListener('submit', onSubmit);
    ui.keyCancel.addEventListener('click', onCancel);
    ui.keyDialog.addEventListener('cancel', onCancel);
    ui.keyDialog.showModal();
    ui.keyInput.focus();
  });
}

const KEY_ASKED = 'This server asks for an API key (its --api-key). It is kept in this browser\'s local storage for this address only.';
const KEY_REFUSED = 'The server refused the key. Enter the key the server was started with (--api-key).';

async function api(path, init = {}) {
  for (let first = true; ; first = false) {
    const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
    if (res.status !== 401) return res;
    if (!(await askKey(first && !storeGet(STORE_KEY) ? KEY_ASKED : KEY_REFUSED))) return res;
  }
}

async function loadModel() {
  try {
    const res = await api('/v1/models');
    if (!res.ok) return null;
    const body = await res.json();
    model = body.data && body.data[0] ? body.data[0].id : null;
    ui.model.textContent = model || '';
  } catch { /* shown when a message is sent */ }
  return model;
}

// ---- streaming ----------------------------------------------------------------------------------

async function errorText(res) {
  try {
    const j = await res.json();
    if (j && j.error && j.error.message) return `${res.status}: ${j.error.message}`;
  } catch { /* not JSON */ }
  return `The server answered ${res.status} ${res.statusText}.`;
}

function historyInput(chat, upTo) {
  const input = [];
  for (const m of chat.messages) {
    if (m === upTo) break;
    if (m.role === 'user') input.push({ type: 'message', role: 'user', content: m.text });
    else if (m.text) input.push({ type: 'message', role: 'assistant', content: m.text });
  }
  return input;
}

const logsOf = (it) => (Array.isArray(it.outputs) ? it.outputs.filter((o) => o && o.type === 'logs').map((o) => o.logs).join('') : undefined);

// One server-sent event of the Responses stream, applied to the message being written (and the
// conversation's python container remembered).
function onEvent(chat, msg, v, ev) {
  const tools = msg.tools || (msg.tools = []);
  const tool = (id) => tools.find((t) => t.id === id);
  switch (ev.type) {
    case 'response.output_item.added': {
      const it = ev.item || {};
      if (it.type === 'reasoning' && msg.reasoning) msg.reasoning += '\n\n';
      else if (it.type === 'function_call') tools.push({ kind: 'function', id: it.id, name: it.name, args: it.arguments || '', status: 'running' });
      else if (it.type === 'web_search_call') tools.push({ kind: 'web', id: it.id, action: it.action, status: 'running' });
      else if (it.type === 'code_interpreter_call') {
        tools.push({ kind: 'python', id: it.id, code: it.code || '', status: 'running' });
        if (it.container_id) chat.container = it.container_id;
      }
      break;
    }
    case 'response.code_interpreter_call_code.delta': {
      const t = tool(ev.item_id);
      if (t) t.code = (t.code || '') + (ev.delta || '');
      break;
    }
    case 'response.code_interpreter_call_code.done': {
      const t = tool(ev.item_id);
      if (t && typeof ev.code === 'string') t.code = ev.code;
      break;
    }
    case 'response.code_interpreter_call.interpreting': {
      const t = tool(ev.item_id);
      if (t) t.status = 'interpreting';
      break;
    }
    case 'response.code_interpreter_call.completed': {
      const t = tool(ev.item_id);
      if (t) t.status = 'completed';
      break;
    }
    case 'response.reasoning_text.delta':
      msg.reasoning = (msg.reasoning || '') + ev.delta;
      if (!msg.text && v && !v.opened) { v.details.open = true; v.opened = true; }
      break;
    case 'response.output_text.delta':
      if (!msg.text && v) v.details.open = false; // the answer starts: the reasoning folds away
      msg.text = (msg.text || '') + ev.delta;
      break;
    case 'response.function_call_arguments.done': {
      const t = tool(ev.item_id);
      if (t) { t.args = ev.arguments; if (ev.name) t.name = ev.name; }
      break;
    }
    case 'response.output_item.done': {
      const it = ev.item || {}, t = tool(it.id);
      if (t && it.type === 'function_call') Object.assign(t, { name: it.name, args: it.arguments, status: 'done' });
      if (t && it.type === 'web_search_call') Object.assign(t, { action: it.action, status: 'done' });
      if (t && it.type === 'code_interpreter_call') {
        Object.assign(t, { code: it.code ?? t.code, status: it.status === 'in_progress' ? t.status : it.status, logs: logsOf(it) ?? null });
        if (it.container_id) chat.container = it.container_id;
      }
      break;
    }
    case 'response.completed': msg.state = 'done'; break;
    case 'response.incomplete':
      msg.state = 'incomplete';
      msg.error = ev.response?.incomplete_details?.reason === 'max_output_tokens' ? 'the token limit or the context\'s end was reached' : ev.response?.incomplete_details?.reason;
      break;
    case 'response.failed':
      msg.state = 'error';
      msg.error = ev.response?.error?.message || 'The model failed.';
      break;
    case 'error':
      msg.state = 'error';
      msg.error = ev.message || ev.error?.message || 'The stream failed.';
      break;
    default: return;
  }
  updateSoon(msg);
  scrollDown();
}

async function stream(chat, msg) {
  const controller = new AbortController();
  running = { controller, chat, msg };
  setBusy(true);
  try {
    if (!model && !(await loadModel())) throw new Error('The server lists no model (GET /v1/models failed).');
    const body = { model, input: historyInput(chat, msg), stream: true, store: false, reasoning: { effort: msg.effort } };
    const tools = [];
    if (ui.browse.checked) tools.push({ type: 'web_search' });
    // store:false leaves no response chain for the server to find the conversation's sandbox by, so
    // the page names the container the last call ran in; one the server no longer has (restarted,
    // reaped after being idle) is a 400 container_not_found, and the turn goes on in a new one.
    const python = ui.python.checked ? { type: 'code_interpreter', container: chat.container || { type: 'auto' } } : null;
    if (python) { tools.push(python); body.include = ['code_interpreter_call.outputs']; }
    if (tools.length) body.tools = tools;
    const post = () => api('/v1/responses', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: controller.signal,
    });
    let res = await post();
    if (res.status === 400 && python && typeof python.container === 'string') {
      const err = await res.clone().json().catch(() => null);
      if (err && err.error && err.error.code === 'container_not_found') {
        delete chat.container;
        python.container = { type: 'auto' };
        res = await post();
      }
    }
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      buf += decoder.decode(value || new Uint8Array(), { stream: !done });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (!data || data === '[DONE]') continue;
        let ev;
        try { ev = JSON.parse(data); } catch { continue; }
        onEvent(chat, msg, views.get(msg), ev);
      }
      if (done) break;
    }
    if (msg.state === 'streaming') msg.state = 'done';
  } catch (e) {
    if (e.name === 'AbortError') msg.state = 'stopped';
    else { msg.state = 'error'; msg.error = e.message || String(e); }
  } finally {
    running = null;
    const v = views.get(msg);
    if (v) v.details.open = false;
    chat.updated = Date.now();
    saveChats();
    update(msg);
    scrollDown();
    setBusy(false);
    ui.status.textContent = msg.state === 'done' ? 'Answer complete.' : msg.state === 'stopped' ? 'Stopped.' : 'The answer ended: ' + (msg.error || msg.state);
  }
}

function send(text) {
  let chat = currentChat();
  if (!chat) {
    chat = { id: newId(), title: '', messages: [], updated: Date.now() };
    state.chats.push(chat);
    state.current = chat.id;
  }
  if (!chat.title) chat.title = text.replace(/\s+/g, ' ').trim().slice(0, 60);
  chat.messages.push({ role: 'user', text });
  const msg = { role: 'assistant', text: '', reasoning: '', tools: [], state: 'streaming', effort: ui.effort.value };
  chat.messages.push(msg);
  chat.updated = Date.now();
  saveChats();
  renderAll();
  ui.status.textContent = 'Answering…';
  return stream(chat, msg);
}

// ---- wiring -------------------------------------------------------------------------------------

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.prompt.value.trim();
  if (!text || running) return;
  ui.prompt.value = '';
  send(text);
});
ui.prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.stop.addEventListener('click', () => { if (running) running.controller.abort(); });
ui.newChat.addEventListener('click', () => {
  if (running) return;
  state.current = null;
  saveChats();
  renderAll();
  ui.prompt.focus();
});
ui.effort.value = ['low', 'medium', 'high'].includes(storeGet(STORE_EFFORT)) ? storeGet(STORE_EFFORT) : 'low';
ui.effort.addEventListener('change', () => storeSet(STORE_EFFORT, ui.effort.value));
ui.browse.checked = storeGet(STORE_BROWSE) === '1';
ui.browse.addEventListener('change', () => storeSet(STORE_BROWSE, ui.browse.checked ? '1' : null));
ui.python.checked = storeGet(STORE_PYTHON) === '1';
ui.python.addEventListener('change', () => storeSet(STORE_PYTHON, ui.python.checked ? '1' : null));
ui.keyButton.addEventListener('click', async () => {
  if (await askKey(KEY_ASKED)) { model = null; loadModel(); }
});
ui.keyForget.addEventListener('click', () => {
  storeSet(STORE_KEY, null);
  ui.keyInput.value = '';
});

renderAll();
loadModel();
