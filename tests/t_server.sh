#!/usr/bin/env bash
# t_server.sh: `gptoss serve` driven by the official openai npm client (tests/server, pinned in its
# package-lock.json): the scripted double (tests/server_double.c: chat, tools, Responses, every error
# case; serve.mjs: model ids, the log on stderr, a port in use, the non-loopback warning), the real
# server on a tiny synthesized model (streaming, usage, batching, disconnects; prompt prefix reuse:
# prefix.mjs) and the load test (32 streaming clients, 2000 requests; skipped under sanitizers).
set -u
root=${GPTOSS_ROOT:?}
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
double="$GPTOSS_BUILD/tests/server_double"
tmp="$GPTOSS_TMP/server"
vocab="$GPTOSS_SHARED/vocab/o200k_base.tiktoken"
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
GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" timeout 300 node double.mjs
echo "# double.mjs exit $?"
GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" timeout 300 node serve.mjs
echo "# serve.mjs exit $?"

model="$tmp/tiny"
if ! "$bin" synth --out "$model" --preset tiny --tokenizer "$vocab" >/dev/null 2>&1; then
    echo "not ok - synth a tiny model for the server"; exit 1
fi
GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" timeout 300 node model.mjs
echo "# model.mjs exit $?"
GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" timeout 300 node prefix.mjs
echo "# prefix.mjs exit $?"
GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" GPTOSS_SERVE_EXTRA=--kv-f16 timeout 300 node prefix.mjs
echo "# prefix.mjs --kv-f16 exit $?"

if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    echo "ok - server load test # SKIP under sanitizers (slow; RSS is not meaningful with ASan's quarantine)"
else
    GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" LOAD_JSON="$tmp/load.json" timeout 400 node load.mjs
    echo "# load.mjs exit $?"
fi
