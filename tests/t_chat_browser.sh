#!/usr/bin/env bash
# t_chat_browser.sh: `gptoss chat|run --browser --corpus DB` through the chat test double
# (tests/chat_double.c: chat.c with a scripted model) against a corpus that `gptoss index` makes of a
# generated folder of HTML pages (no network): a scripted model searches, opens a result, finds a
# word, opens a link of an earlier page and answers with citations. Checked: the browser block in the
# system message, each tool reply in what the model is given next (on the call's channel, from
# browser.search/open/find), each prompt after a reply extending what the model had processed (no
# re-prefill), citations shown as links (plain " (URL)" off a terminal, OSC 8 on one), one browser per
# conversation (kept across turns, new after /reset); malformed calls (bad JSON, an unknown function)
# answered with the tool's error text; --max-tool-calls holding in run and chat. Then the same in run
# over the web: tests/web/pages.mjs on loopback as a SearXNG-shaped search and the pages, with the
# address policy refusing them unless --browser-allow-private.
set -u
. "$(dirname "$0")/lib.sh"
bin=${GPTOSS_BIN:?}
build=${GPTOSS_BUILD:?}
. "$(dirname "$0")/check.sh"
tok=$GPTOSS_SHARED/vocab/tokenizer.json
double=$build/tests/chat_double
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_chat_browser.XXXXXX")
sock=$tmp/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
need_shared "chat browser" vocab/tokenizer.json || exit 0
if [ ! -x "$double" ]; then
    echo "not ok - chat test double $double was not built"
    exit 0
fi

check() { # NAME CONDITION-STATUS
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fi
}
# prompt_n N LOG: the N-th prompt the double received (1-based), from CHAT_DOUBLE_LOG.
prompt_n() { awk -v n="$1" 'BEGIN{RS="\n----\n"} NR==n {print}' "$2"; }
# reused FILE: every prompt after the first (lines of CHAT_DOUBLE_REUSE) extends the ids the double
# had been given and had written: SHARED = HELD.
reused() { [ "$(wc -l <"$1")" -ge 2 ] && awk 'NR > 1 && $1 != $2 { bad = 1 } END { exit bad }' "$1"; }

# ---- the corpus ----------------------------------------------------------------------------------
d=$tmp/docs
mkdir -p "$d"
cat >"$d/index.html" <<'EOF'
<html><head><title>Otter handbook</title></head><body><h1>Otter handbook</h1>
<p>Start with <a href="care.html">otter care</a> or the <a href="diet.html">diet page</a>.</p></body></html>
EOF
cat >"$d/care.html" <<'EOF'
<html><head><title>Otter care</title></head><body><h1>Otter care</h1>
<p>Otters need clean water every day.</p><p>The pool must be at least two metres deep.</p>
<p>See the <a href="diet.html">diet page</a> for feeding.</p></body></html>
EOF
cat >"$d/diet.html" <<'EOF'
<html><head><title>Otter diet</title></head><body><h1>Otter diet</h1>
<p>Otters eat fish, mostly trout.</p><p>An adult eats about fifteen percent of its weight daily.</p></body></html>
EOF
"$bin" index "$d" --out "$tmp/corpus.db" >"$tmp/out" 2>"$tmp/err"
if grep -q "built without" "$tmp/err"; then
    echo "ok - chat browser # SKIP $(head -1 "$tmp/err")"
    exit 0
fi
check "index: the corpus of three pages" $([ -s "$tmp/corpus.db" ]; echo $?)

# ---- run: search -> open -> find -> open a link -> answer with citations -----------------------------
# Cursors: 0 the search, 1 care.html (result 0), 2 the find page, 3 diet.html (link 0 of cursor 1).
cat >"$tmp/browse.txt" <<'EOF'
<|channel|>analysis<|message|>Search the handbook.<|end|><|start|>assistant<|channel|>analysis to=browser.search code<|message|>{"query": "otter care", "topn": 5}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"id": 0}<|call|>
<|channel|>analysis to=browser.find code<|message|>{"pattern": "deep"}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"cursor": 1, "id": 0}<|call|>
<|channel|>final<|message|>The pool must be two metres deep 【1†L6】 and otters eat trout 【3†L4-L6】.<|return|>
<|channel|>final<|message|>Still the diet page 【3†L4】; a cursor never opened 【9†L1】.<|return|>
<|channel|>final<|message|>After the reset 【1†L6】 points nowhere.<|return|>
EOF
common=(--tokenizer "$tok" --date 2025-01-01 --no-color)
care=https://corpus.invalid/care.html
diet=https://corpus.invalid/diet.html
CHAT_DOUBLE_LOG=$tmp/run.log CHAT_DOUBLE_REUSE=$tmp/run.reuse "$double" run "$tmp/browse.txt" \
    -p "How deep must an otter pool be?" --corpus "$tmp/corpus.db" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
want="The pool must be two metres deep 【1†L6】 ($care) and otters eat trout 【3†L4-L6】 ($diet)."
check "run --corpus: four browser calls, then the answer with each citation followed by its page's URL" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$want" ] && [ ! -s "$tmp/err" ]; echo $?)
p1=$(prompt_n 1 "$tmp/run.log")
check "run --browser: the system message declares the browser namespace (the trained block)" \
    $(case $p1 in "<|start|>system<|message|>"*"# Tools"$'\n\n'"## browser"$'\n\n'"// Tool for browsing."*"} // namespace browser"$'\n\n'"# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|><|start|>user<|message|>How deep"*) true ;; *) false ;; esac; echo $?)
check "run --browser: no developer message (no instructions, no function tools)" \
    $(grep -qF '<|start|>developer' "$tmp/run.log"; [ $? -ne 0 ]; echo $?)
check "run --browser: the search reply reached the model, from browser.search on the call's channel" \
    $(prompt_n 2 "$tmp/run.log" | grep -qF '<|call|><|start|>browser.search to=assistant<|channel|>analysis<|message|>[0] otter care'; echo $?)
check "run --browser: the search page lists the corpus pages as links" \
    $(prompt_n 2 "$tmp/run.log" | grep -qF '* 【0†Otter care†corpus.invalid】'; echo $?)
check "run --browser: the open reply (result 0 of the search page) reached the model" \
    $(prompt_n 3 "$tmp/run.log" | grep -qF "<|start|>browser.open to=assistant<|channel|>analysis<|message|>[1] Otter care ($care)"; echo $?)
check "run --browser: the find reply reached the model" \
    $(prompt_n 4 "$tmp/run.log" | grep -qF '<|start|>browser.find to=assistant<|channel|>analysis<|message|>[2] Find results for text: `deep` in `Otter care`' &&
        prompt_n 4 "$tmp/run.log" | grep -qF '# 【0†match at L6】'; echo $?)
check "run --browser: the link opened from an earlier cursor reached the model" \
    $(prompt_n 5 "$tmp/run.log" | grep -qF "<|start|>browser.open to=assistant<|channel|>analysis<|message|>[3] Otter diet ($diet)" &&
        prompt_n 5 "$tmp/run.log" | grep -qF 'L4: Otters eat fish, mostly trout.' &&
        prompt_n 5 "$tmp/run.log" | grep -qF 'L6: An adult eats about fifteen percent of its weight daily.<|end|><|start|>assistant'; echo $?)
check "run --browser: five prompts, each after a tool reply extending what the model had processed" \
    $([ "$(wc -l <"$tmp/run.reuse")" = 5 ] && reused "$tmp/run.reuse"; echo $?)
check "run --browser: the calls stay as the model wrote them" \
    $(prompt_n 5 "$tmp/run.log" | grep -qF '<|start|>assistant<|channel|>analysis to=browser.open code<|message|>{"cursor": 1, "id": 0}<|call|>'; echo $?)

"$double" run "$tmp/browse.txt" -p "How deep?" --corpus "$tmp/corpus.db" --show-reasoning "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --show-reasoning: each call and the header line of each reply on stderr" \
    $(grep -qxF '[tool call browser.find] {"pattern": "deep"}' "$tmp/err" &&
        grep -qxF "[browser.open] [3] Otter diet ($diet) ..." "$tmp/err" && [ "$(cat "$tmp/out")" = "$want" ]; echo $?)
"$double" run "$tmp/browse.txt" -p "How deep?" --corpus "$tmp/corpus.db" --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --json: the tool messages in the turn, the answer's citations as the model wrote them" \
    $(grep -qF '"role":"tool","name":"browser.find"' "$tmp/out" && grep -qF '"text":"The pool must be two metres deep 【1†L6】 and' "$tmp/out"; echo $?)

# Off a terminal the links are plain; on one (colour allowed) a citation is an OSC 8 hyperlink.
script -qec "$(printf '%q ' "$double" run "$tmp/browse.txt" -p "How deep?" --corpus "$tmp/corpus.db" --tokenizer "$tok" --date 2025-01-01)" \
    /dev/null </dev/null >"$tmp/tty.out" 2>&1
osc=$(printf '\033]8;;%s\033\\【1†L6】\033]8;;\033\\' "$care")
check "run on a terminal: citations are OSC 8 hyperlinks to their pages" $(grep -qF "$osc" "$tmp/tty.out"; echo $?)

# Only complete citations of pages with a URL become links: a search page (cursor 0) has none; an
# unfinished one, a line break inside, or a 【 before one are shown as they are.
cat >"$tmp/cites.txt" <<'EOF'
<|channel|>analysis to=browser.search code<|message|>{"query": "otter care"}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"id": 0}<|call|>
<|channel|>final<|message|>A 【【1†L2】 b 【0†L1】 c 【1†L2 d【1†L3】 e 【1†L4\n】 f 【1†L5<|return|>
EOF
"$double" run "$tmp/cites.txt" -p "x" --corpus "$tmp/corpus.db" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
want="A 【【1†L2】 ($care) b 【0†L1】 c 【1†L2 d【1†L3】 ($care) e 【1†L4
】 f 【1†L5"
check "run: only complete citations of pages with a URL become links" $([ "$(cat "$tmp/out")" = "$want" ]; echo $?)

# ---- malformed calls: the tool's error text goes back to the model ------------------------------------
cat >"$tmp/bad.txt" <<'EOF'
<|channel|>analysis to=browser.search code<|message|>{"query": "otter<|call|>
<|channel|>analysis to=browser.fetch code<|message|>{"url": "x"}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"id": 7}<|call|>
<|channel|>analysis to=browser.find code<|message|>["deep"]<|call|>
<|channel|>final<|message|>I could not browse 【0†L1】.<|return|>
EOF
CHAT_DOUBLE_LOG=$tmp/bad.log timeout -k 5 "$(scaled 60)" "$double" run "$tmp/bad.txt" -p "Otters?" \
    --corpus "$tmp/corpus.db" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run: malformed calls do not stop the turn; the answer comes" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "I could not browse 【0†L1】." ]; echo $?)
check "run: bad JSON arguments get the tool's error text" \
    $(prompt_n 2 "$tmp/bad.log" | grep -qF '<|start|>browser.search to=assistant<|channel|>analysis<|message|>{"error": "Invalid function arguments"}<|end|>'; echo $?)
check "run: an unknown browser function gets the tool's error text" \
    $(prompt_n 3 "$tmp/bad.log" | grep -qF 'to=assistant<|channel|>analysis<|message|>{"error": "Unknown function: fetch"}<|end|>'; echo $?)
check "run: opening with no page yet gets the reference's error text" \
    $(prompt_n 4 "$tmp/bad.log" | grep -qF '<|start|>browser.open to=assistant<|channel|>analysis<|message|>' &&
        ! prompt_n 4 "$tmp/bad.log" | grep -qF '<|start|>browser.open to=assistant<|channel|>analysis<|message|>[0]'; echo $?)
check "run: arguments that are not an object get the tool's error text" \
    $(prompt_n 5 "$tmp/bad.log" | grep -qF '<|start|>browser.find to=assistant<|channel|>analysis<|message|>{"error": "Invalid function arguments"}<|end|>'; echo $?)

# ---- --max-tool-calls ------------------------------------------------------------------------------
for i in 1 2 3 4 5 6; do
    echo '<|channel|>analysis to=browser.search code<|message|>{"query": "otter"}<|call|>'
done >"$tmp/loop.txt"
CHAT_DOUBLE_LOG=$tmp/loop.log timeout -k 5 "$(scaled 60)" "$double" run "$tmp/loop.txt" -p "Otters?" \
    --corpus "$tmp/corpus.db" --max-tool-calls 2 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --max-tool-calls 2: a model that keeps searching is stopped after two calls, exit 1" \
    $([ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && grep -qF 'more than 2 tool calls (--max-tool-calls)' "$tmp/err" &&
        [ "$(grep -c -- '^----$' "$tmp/loop.log")" = 3 ] &&
        [ "$(grep -o '<|start|>browser.search to=assistant' "$tmp/loop.log" | wc -l)" = 3 ]; echo $?)
# (prompts 2 and 3 hold one and two replies: three in all.)
"$double" run "$tmp/browse.txt" -p "x" --corpus "$tmp/corpus.db" --max-tool-calls x "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --max-tool-calls x: a usage error" $([ $? -eq 2 ] && grep -qF "invalid value 'x' for --max-tool-calls" "$tmp/err"; echo $?)
"$double" run "$tmp/browse.txt" -p "x" --corpus "$tmp/corpus.db" --json-object "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --browser --json-object: refused (a constrained answer cannot call the browser), exit 2" \
    $([ $? -eq 2 ] && grep -qF -- '--browser cannot go with --json-schema' "$tmp/err"; echo $?)
"$double" run "$tmp/browse.txt" -p "x" --corpus "$tmp/nowhere.db" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --corpus of a missing file: one error line, exit 1" $([ $? -eq 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ]; echo $?)

# ---- run over the web: tests/web/pages.mjs (loopback) as the pages and a SearXNG-shaped search ----------
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v node >/dev/null; then
    echo "ok - run --search-url # SKIP node not installed (tests/web/pages.mjs)"
else
    node "$root/tests/web/pages.mjs" >"$tmp/ports" 2>"$tmp/server.err" &
    server=$!
    trap 'kill "$server" 2>/dev/null; tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
    ports_ready() { [ -s "$tmp/ports" ] || ! kill -0 "$server" 2>/dev/null; }
    wait_until 30 ports_ready
    read -r port _ <"$tmp/ports" || true
    if [ -z "${port:-}" ]; then
        echo "not ok - the test web server did not start ($(head -c 300 "$tmp/server.err"))"
    else
        web=http://127.0.0.1:$port
        cat >"$tmp/web.txt" <<'EOF'
<|channel|>analysis to=browser.search code<|message|>{"query": "greetings"}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"id": 0}<|call|>
<|channel|>analysis to=browser.open code<|message|>{"cursor": 1, "id": 0}<|call|>
<|channel|>final<|message|>Greetings 【1†L4】 and Cologne 【2†L2-L3】.<|return|>
EOF
        CHAT_DOUBLE_LOG=$tmp/web.log timeout -k 5 "$(scaled 60)" "$double" run "$tmp/web.txt" -p "Greetings?" \
            --search-url "$web/search" --browser-allow-private --browser-timeout 10 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        check "run --search-url: search (SearXNG JSON), open a result, open a link, cite with the pages' URLs" \
            $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "Greetings 【1†L4】 ($web/utf8.html) and Cologne 【2†L2-L3】 ($web/latin1.html)." ]; echo $?)
        check "run --search-url: the search results reached the model" \
            $(prompt_n 2 "$tmp/web.log" | grep -qF '<|start|>browser.search to=assistant<|channel|>analysis<|message|>[0] greetings' &&
                prompt_n 2 "$tmp/web.log" | grep -qF "【0†About greetings†127.0.0.1:$port】 All about greetings."; echo $?)
        check "run --search-url: the pages reached the model (UTF-8, then ISO-8859-1 converted)" \
            $(prompt_n 3 "$tmp/web.log" | grep -qF "<|start|>browser.open to=assistant<|channel|>analysis<|message|>[1] Grüße aus UTF-8 ($web/utf8.html)" &&
                prompt_n 4 "$tmp/web.log" | grep -qF 'Grüße aus Köln'; echo $?)
        CHAT_DOUBLE_LOG=$tmp/web2.log timeout -k 5 "$(scaled 60)" "$double" run "$tmp/web.txt" -p "Greetings?" \
            --search-url "$web/search" --browser-timeout 10 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
        check "run --search-url without --browser-allow-private: the loopback page is refused, the model reads why" \
            $(prompt_n 3 "$tmp/web2.log" | grep -qF "<|start|>browser.open to=assistant<|channel|>analysis<|message|>Error fetching URL \`$web/utf8.html\`: refused to connect to 127.0.0.1 (loopback)"; echo $?)
    fi
fi

# ---- chat, under tmux ----------------------------------------------------------------------------------
start() {
    local name=$1 cmd
    shift
    cmd=$(printf '%q ' "$@")
    tm new-session -d -s "$name" -x 200 -y 60 "$cmd; echo \"[exit \$?]\"; sleep 600"
}
log=$tmp/chat.log
start browse env CHAT_DOUBLE_LOG="$log" CHAT_DOUBLE_REUSE="$tmp/chat.reuse" "$double" chat "$tmp/browse.txt" \
    --corpus "$tmp/corpus.db" "${common[@]}"
wait_for browse '^> $'
send browse "How deep must an otter pool be?"
wait_for browse "^The pool must be two metres deep 【1†L6】 \\($care\\) and otters eat trout 【3†L4-L6】 \\($diet\\)\\.$"
check "chat --corpus: the browsing shown, the answer's citations followed by their URLs" $?
check "chat: each browser reply's header line shown" \
    $(screen browse | grep -qxF "[browser.find] [2] Find results for text: \`deep\` in \`Otter care\` ($care/find?pattern=deep) ..."; echo $?)
check "chat: each prompt of the turn after a tool reply extends what the model had processed" \
    $([ "$(wc -l <"$tmp/chat.reuse")" = 5 ] && reused "$tmp/chat.reuse"; echo $?)
send browse "And the diet?"
wait_for browse "^Still the diet page 【3†L4】 \\($diet\\); a cursor never opened 【9†L1】\\.$"
check "chat: the next turn keeps the conversation's browser (cursor 3 still cites its page)" $?
send browse "/reset"
wait_for browse '^\[conversation reset\]$'
send browse "Again"
wait_for browse '^After the reset 【1†L6】 points nowhere\.$'
check "chat: /reset starts a new browser (the old cursors are gone)" $?

# --max-tool-calls in chat: the turn stops with a note, the next turn works.
cat "$tmp/loop.txt" >"$tmp/loop2.txt"
echo '<|channel|>final<|message|>Done.<|return|>' >>"$tmp/loop2.txt"
sed -i '4,6d' "$tmp/loop2.txt" # three searches, then the answer
start loop env CHAT_DOUBLE_LOG="$tmp/chatloop.log" "$double" chat "$tmp/loop2.txt" --corpus "$tmp/corpus.db" \
    --max-tool-calls 2 "${common[@]}"
wait_for loop '^> $'
send loop "Otters?"
wait_for loop '^\[stopped: more than 2 tool calls in this turn \(--max-tool-calls\)\]$'
check "chat --max-tool-calls 2: the third call is not run, the turn stops with a note" \
    $([ $? -eq 0 ] && [ "$(grep -o '<|start|>browser.search to=assistant' "$tmp/chatloop.log" | wc -l)" = 3 ]; echo $?)
send loop "Well?"
wait_for loop '^Done\.$'
check "chat: after the limit the next turn is answered, without the unanswered call" \
    $([ $? -eq 0 ] && ! tail -c 400 "$tmp/chatloop.log" | grep -qF '{"query": "otter"}<|call|><|start|>user'; echo $?)
tm kill-server 2>/dev/null
exit 0
