#!/usr/bin/env bash
# t_server_python.sh: `gptoss serve --python` on the scripted double with the pinned openai client
# (tests/server/python.mjs: code_interpreter through Responses and chat completions, sandboxes per
# conversation, idle reaping, the sandbox bound, /metrics; python_escapes.mjs: every escape cell of
# issue 19 sent by the model, the server serving others meanwhile and staying up). Its own unit, beside t_server.sh, so it
# can be run alone (GPTOSS_TEST_FILTER=t_server_python); skipped as t_server.sh is, and by the script
# itself when this machine cannot sandbox.
set -u
. "$(dirname "$0")/lib.sh"
root=${GPTOSS_ROOT:?}
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
double="$GPTOSS_BUILD/tests/server_double"
# As root the sandboxes run as nobody, which must be able to reach the --python-data folder: then
# the test's folder is made in /tmp (not in $GPTOSS_TMP, mktemp's 0700) and opened to others.
if [ "$(id -u)" = 0 ]; then tmp=$(mktemp -d /tmp/t_server_python.XXXXXX) && chmod 755 "$tmp"
else tmp="$GPTOSS_TMP/server_python" && rm -rf "$tmp" && mkdir -p "$tmp"; fi
trap 'rm -rf "$tmp"' EXIT
skip() { echo "ok - python server tests # SKIP $*"; exit 0; }
if [ ! -x "$double" ] || "$bin" serve --help 2>&1 | grep -q "built without"; then
    skip "gptoss was built without libmicrohttpd/cJSON (bash tests/deps.sh installs them)"
fi
command -v node >/dev/null || skip "node is not installed"
[ -d "$root/tests/server/node_modules/openai" ] || skip "tests/server/node_modules missing (bash tests/deps.sh runs npm ci)"
need_shared "python server tests" vocab/o200k_base.tiktoken || exit 0
cd "$root/tests/server" || exit 1
node_script python.mjs 300 python.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$GPTOSS_SHARED/vocab/o200k_base.tiktoken" GPTOSS_TMP="$tmp"
node_script python_escapes.mjs 300 python_escapes.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$GPTOSS_SHARED/vocab/o200k_base.tiktoken" GPTOSS_TMP="$tmp"
