#!/usr/bin/env bash
# t_server.sh: `gptoss serve` driven by the official openai npm client (tests/server, pinned in its
# package-lock.json): the scripted double (tests/server_double.c: chat, tools, Responses, every error
# case; serve.mjs: model ids, the log on stderr, a port in use, the non-loopback warning), the real
# server on a tiny synthesized model (streaming, usage, batching, disconnects; prompt prefix reuse:
# prefix.mjs), the browser run server-side (browser.mjs: search, open, find, cite, over a corpus),
# /v1/completions and Ollama's API (compat.mjs on the double, compat_model.mjs on the tiny model),
# structured outputs (structured.mjs: response formats, strict tools and the reasoning
# budget on the double and on the tiny model, every finished answer validated with ajv), what one client
# may send without stalling the server (hardening.mjs: trailing bytes, deep tool schemas, random ids,
# 20,000 tool results, a 3.9 MB prompt, malformed heads, half-closed clients; connections.mjs: slow
# and idle connections, timeouts, the per-address limit) and the load test (32
# streaming clients, 2000 requests; skipped under sanitizers).
# The scripts wait for what they check (tests/server/lib.mjs waitFor); each one's `timeout` only stops a
# hang (quiet, they take seconds to a couple of minutes), and like their own deadlines it is multiplied
# by GPTOSS_TEST_TIME_SCALE (tests/lib.sh). load.mjs also stops by itself when no request finishes for
# 2 minutes.
set -u
. "$(dirname "$0")/lib.sh"
root=${GPTOSS_ROOT:?}
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
double="$GPTOSS_BUILD/tests/server_double"
tmp="$GPTOSS_TMP/server"
vocab="$GPTOSS_SHARED/vocab/o200k_base.tiktoken"
rm -rf "$tmp" # synth refuses to overwrite the model an earlier run left
mkdir -p "$tmp"
skip() { echo "ok - server tests # SKIP $*"; exit 0; }
if [ ! -x "$double" ] || "$bin" serve --help 2>&1 | grep -q "built without"; then
    skip "gptoss was built without libmicrohttpd/cJSON (bash tests/deps.sh installs them)"
fi
command -v node >/dev/null || skip "node is not installed"
[ -d "$root/tests/server/node_modules/openai" ] || skip "tests/server/node_modules missing (bash tests/deps.sh runs npm ci)"

# serve without a model argument / with a bad one fails with a message
out=$("$bin" serve 2>&1); rc=$?
if [ "$rc" -eq 2 ] && grep -q "MODEL is required" <<<"$out"; then echo "ok - serve without MODEL: usage error"; else echo "not ok - serve without MODEL (rc $rc): $out"; fi
out=$("$bin" serve "$tmp/no-such-model" --port 0 2>&1); rc=$?
if [ "$rc" -eq 1 ] && [ -n "$out" ]; then echo "ok - serve with a missing model fails with a message"; else echo "not ok - serve missing model (rc $rc): $out"; fi
need_shared "server tests with the openai client" vocab/o200k_base.tiktoken || exit 0

cd "$root/tests/server" || exit 1
node_script double.mjs 600 double.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp"
node_script serve.mjs 600 serve.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp"
# /v1/completions and Ollama's /api/* as their clients send them, on the double
node_script compat.mjs 300 compat.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp"

model="$tmp/tiny"
if ! "$bin" synth --out "$model" --preset tiny --tokenizer "$vocab" >/dev/null 2>&1; then
    echo "not ok - synth a tiny model for the server"; exit 1
fi
node_script model.mjs 600 model.mjs GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
node_script compat_model.mjs 300 compat_model.mjs GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
# the browser run server-side over a corpus `gptoss index` builds (no network): Responses and chat on
# the double, then `gptoss serve --browser` on the tiny model
node_script browser.mjs 300 browser.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" \
    GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
node_script hardening.mjs 600 hardening.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" \
    GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
node_script connections.mjs 600 connections.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp"
node_script structured.mjs 900 structured.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" \
    GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
node_script prefix.mjs 600 prefix.mjs GPTOSS_BIN="$bin" GPTOSS_MODEL="$model"
node_script "prefix.mjs --kv-f16" 600 prefix.mjs GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" GPTOSS_SERVE_EXTRA=--kv-f16

if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    echo "ok - server load test # SKIP under sanitizers (slow; RSS is not meaningful with ASan's quarantine)"
else
    node_script load.mjs 3600 load.mjs GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" LOAD_JSON="$tmp/load.json"
fi
