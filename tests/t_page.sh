#!/usr/bin/env bash
# t_page.sh: the chat page `gptoss serve` answers at / (app/server/page/). headers.mjs checks what the
# server sends over plain HTTP (Content-Type, CSP, ETag and 304, no API key needed); page.mjs drives the
# page in headless Chromium with puppeteer-core (tests/page, pinned in its package-lock.json) against the
# scripted double and a tiny synthesized model, and leaves a screenshot in the test log directory.
# Without chromium or puppeteer-core the browser part is skipped (bash tests/deps.sh installs both).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/check.sh"
root=${GPTOSS_ROOT:?}
bin=${GPTOSS_BIN:?}
double="$GPTOSS_BUILD/tests/server_double"
tmp="$GPTOSS_TMP/page"
vocab="$GPTOSS_SHARED/vocab/o200k_base.tiktoken"
rm -rf "$tmp"
mkdir -p "$tmp"
skip() { echo "ok - chat page tests # SKIP $*"; exit 0; }
if [ ! -x "$double" ] || "$bin" serve --help 2>&1 | grep -q "built without"; then
    skip "gptoss was built without libmicrohttpd/cJSON (bash tests/deps.sh installs them)"
fi
command -v node >/dev/null || skip "node is not installed"
need_shared "chat page tests" vocab/o200k_base.tiktoken || exit 0

cd "$root/tests/page" || exit 1
node_script headers.mjs 60 headers.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp"

chromium=${CHROMIUM:-$(command -v chromium)}
if [ -z "$chromium" ]; then
    echo "ok - the chat page in a browser # SKIP chromium is not installed (bash tests/deps.sh installs it)"; exit 0
fi
if [ ! -d "$root/tests/page/node_modules/puppeteer-core" ]; then
    echo "ok - the chat page in a browser # SKIP tests/page/node_modules missing (bash tests/deps.sh runs npm ci)"; exit 0
fi
model="$tmp/tiny"
if ! "$bin" synth --out "$model" --preset tiny --tokenizer "$vocab" >/dev/null 2>&1; then
    echo "not ok - synth a tiny model for the page"; exit 1
fi
mkdir -p "$GPTOSS_BUILD/test-logs"
node_script page.mjs 120 page.mjs GPTOSS_DOUBLE="$double" GPTOSS_TOKENIZER="$vocab" GPTOSS_TMP="$tmp" \
    GPTOSS_BIN="$bin" GPTOSS_MODEL="$model" CHROMIUM="$chromium" GPTOSS_SHOT="$GPTOSS_BUILD/test-logs/t_page.png" \
    GPTOSS_SHOT_PYTHON="$GPTOSS_BUILD/test-logs/t_page_python.png"
