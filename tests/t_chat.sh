#!/usr/bin/env bash
# t_chat.sh: `gptoss chat` driven under tmux through the chat test double (tests/chat_double.c: the
# chat code with a scripted token stream, since random weights never write harmony): streaming with
# labelled or hidden reasoning, tokens/s, history between turns (checked in the prompts the double
# receives), the tool-call loop (typed result, --tool-exec, unknown tool), Ctrl-C, slash commands,
# malformed model output, non-ASCII input through the line editor in any locale; and `run` (one
# shot) through the same double.
set -u
. "$(dirname "$0")/lib.sh"
build=${GPTOSS_BUILD:?}
. "$(dirname "$0")/check.sh"
tok=$GPTOSS_SHARED/vocab/tokenizer.json
double=$build/tests/chat_double
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_chat.XXXXXX")
sock=$tmp/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null; rm -rf "$tmp"' EXIT
need_shared "chat" vocab/tokenizer.json || exit 0
if [ ! -x "$double" ]; then
    echo "not ok - chat test double $double was not built"
    exit 0
fi

check() { # NAME CONDITION-STATUS
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fi
}

# ---- one shot (`run`), no terminal needed ------------------------------------------------------
cat >"$tmp/hello.txt" <<'EOF'
# a greeting: reasoning, then the answer
<|channel|>analysis<|message|>The user greets.<|end|><|start|>assistant<|channel|>final<|message|>Hello there!<|return|>
<|channel|>final<|message|>Second answer.<|return|>
EOF
common=(--tokenizer "$tok" --date 2025-01-01 --no-color)
"$double" run "$tmp/hello.txt" -p "Hi" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run: the final answer alone on stdout" $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "Hello there!" ] && [ ! -s "$tmp/err" ]; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" --show-reasoning "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --show-reasoning: reasoning on stderr" $([ "$(cat "$tmp/out")" = "Hello there!" ] && grep -q '^\[reasoning\] The user greets\.$' "$tmp/err"; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
want='[
{"role":"assistant","content":[{"type":"text","text":"The user greets."}],"channel":"analysis"},
{"role":"assistant","content":[{"type":"text","text":"Hello there!"}],"channel":"final"}
]'
check "run --json: the parsed messages" $([ "$(cat "$tmp/out")" = "$want" ]; echo $?)
echo "Hi from stdin" | CHAT_DOUBLE_LOG=$tmp/run.log "$double" run "$tmp/hello.txt" -p - "${common[@]}" >"$tmp/out" 2>&1
check "run -p -: the prompt from stdin" $(grep -q '<|start|>user<|message|>Hi from stdin<|end|><|start|>assistant$' "$tmp/run.log"; echo $?)

cat >"$tmp/tools.json" <<'EOF'
[{"type": "function", "function": {"name": "get_weather", "description": "Gets the weather in a city.",
  "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
EOF
cat >"$tmp/weather.txt" <<'EOF'
<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"Paris"}<|call|>
<|channel|>final<|message|>It is sunny in Paris.<|return|>
<|channel|>final<|message|>You are welcome.<|return|>
EOF
cat >"$tmp/tool.sh" <<EOF
cat > "$tmp/args.json"
printf '{"temp": 21, "tool": "%s"}\n' "\$GPTOSS_TOOL_NAME"
EOF
CHAT_DOUBLE_LOG=$tmp/runtool.log "$double" run "$tmp/weather.txt" -p "Weather?" --tools "$tmp/tools.json" \
    --tool-exec "sh $tmp/tool.sh" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --tool-exec: the tool runs with the arguments on stdin, then the answer" \
    $([ "$(cat "$tmp/out")" = "It is sunny in Paris." ] && [ "$(cat "$tmp/args.json")" = '{"location":"Paris"}' ] &&
        grep -qF '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"temp": 21, "tool": "get_weather"}<|end|><|start|>assistant' "$tmp/runtool.log"; echo $?)
"$double" run "$tmp/weather.txt" -p "Weather?" --tools "$tmp/tools.json" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run without --tool-exec: the call is reported, no answer" \
    $([ ! -s "$tmp/out" ] && grep -q 'gptoss: the model called functions.get_weather; pass --tool-exec' "$tmp/err"; echo $?)
# --tool-timeout: a tool that never ends is stopped with everything it started (its process group),
# the model reads why as the result and answers; the run ends well within the hang guard.
cat >"$tmp/hang.sh" <<EOF
cat >/dev/null
sleep 600 &
echo \$! >"$tmp/hang.child"
sleep 600
EOF
rm -f "$tmp/hang.child"
CHAT_DOUBLE_LOG=$tmp/hang.log timeout -k 5 "$(scaled 60)" "$double" run "$tmp/weather.txt" -p "Weather?" \
    --tools "$tmp/tools.json" --tool-exec "sh $tmp/hang.sh" --tool-timeout 1 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --tool-timeout 1: a tool that never ends is stopped, the model gets the reason and answers (exit $rc)" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "It is sunny in Paris." ] &&
        grep -qF '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>[error: the tool did not finish within 1 s and was stopped]<|end|><|start|>assistant' "$tmp/hang.log"; echo $?)
# gone: no such process, or only a zombie waiting for init
child_gone() { [ -s "$tmp/hang.child" ] && ! ps -o stat= -p "$(cat "$tmp/hang.child")" 2>/dev/null | grep -qv Z; }
wait_until 10 child_gone
check "run --tool-timeout: what the tool started in the background is stopped too" $?
if [ -s "$tmp/hang.child" ] && ! child_gone; then kill "$(cat "$tmp/hang.child")" 2>/dev/null; fi
"$double" run "$tmp/weather.txt" -p "Weather?" --tool-timeout 0 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --tool-timeout 0: refused" $([ $? -ne 0 ] && grep -q "invalid value '0' for --tool-timeout" "$tmp/err"; echo $?)

# A tool that prints 5 MB: the model receives the first 1 MiB and a note saying it was cut.
cat >"$tmp/cut.py" <<'EOF'
import sys
log = open(sys.argv[1], encoding="utf-8").read()
head = "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
note = "\n[error: the tool's output was truncated at 1048576 bytes]<|end|>"
body = log[log.index(head) + len(head):]
body = body[:body.index(note)]
sys.exit(0 if len(body) == 1048576 and body == ("tool output line\n" * 61681)[:1048576] else 1)
EOF
CHAT_DOUBLE_LOG=$tmp/big.log timeout -k 5 "$(scaled 120)" "$double" run "$tmp/weather.txt" -p "Weather?" \
    --tools "$tmp/tools.json" --tool-exec 'yes "tool output line" | head -c 5000000' --ctx 2000000 "${common[@]}" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --tool-exec: output past 1 MiB is cut and the model told so (exit $rc)" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "It is sunny in Paris." ] && python3 "$tmp/cut.py" "$tmp/big.log"; echo $?)
"$double" run "$tmp/weather.txt" -p "x" --max-tokens 5 --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --max-tokens: stops early and keeps what it has" $(grep -q '"channel":"analysis"' "$tmp/out"; echo $?)
# A prompt longer than the context: one error naming both sizes, exit 1 (was: exit 0, no output).
"$double" run "$tmp/hello.txt" -p "Hi" --verbose "${common[@]}" >"$tmp/out" 2>"$tmp/err"
n_prompt=$(sed -nE 's/.*prompt ([0-9]+) tokens in.*/\1/p' "$tmp/err")
"$double" run "$tmp/hello.txt" -p "Hi" --ctx 10 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --ctx 10: the prompt ($n_prompt tokens) does not fit: exit 1, one line naming both sizes" \
    $([ $rc -eq 1 ] && [ -n "$n_prompt" ] && [ ! -s "$tmp/out" ] && [ "$(grep -c '' "$tmp/err")" = 1 ] &&
        grep -qx "gptoss: run: the prompt is $n_prompt tokens but the context holds 10 (--ctx): no room for an answer" "$tmp/err"; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" --ctx "$n_prompt" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --ctx equal to the prompt: no room either" $([ $? -eq 1 ] && grep -q "the prompt is $n_prompt tokens but the context holds $n_prompt" "$tmp/err"; echo $?)
"$double" chat "$tmp/hello.txt" --ctx 10 "${common[@]}" </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
check "chat --ctx 10: refused at start, exit 1, both sizes named, no /reset advice" \
    $([ $rc -eq 1 ] && [ "$(grep -c '' "$tmp/err")" = 1 ] && ! grep -q reset "$tmp/out" "$tmp/err" &&
        grep -qE "^gptoss: chat: the system and developer messages alone are $((n_prompt - 5)) tokens but the context holds 10 \(--ctx\)$" "$tmp/err"; echo $?)
# Streaming: the final answer reaches stdout (the reasoning stderr) while the model still writes
# (it holds after its 20th token until a signal; the double's log says when it got there); SIGTERM
# stops it like Ctrl-C: what was generated is printed, exit 143.
cat >"$tmp/stream.txt" <<'EOF'
#hold 20
<|channel|>analysis<|message|>Counting slowly.<|end|><|start|>assistant<|channel|>final<|message|>One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty.<|return|>
EOF
# until_file FILE PID REGEX: 0 once FILE matches while PID still runs; 1 if PID ends first, or
# after 60 s x the time scale.
until_file() {
    local end=$((SECONDS + $(scaled 60)))
    while kill -0 "$2" 2>/dev/null && [ "$SECONDS" -le "$end" ]; do
        grep -qE -- "$3" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
CHAT_DOUBLE_LOG="$tmp/hold1.log" "$double" run "$tmp/stream.txt" -p "Count" --show-reasoning "${common[@]}" \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_until 60 grep -qsx '#held 20' "$tmp/hold1.log"
until_file "$tmp/err" $pid '^\[reasoning\] Counting'
check "run --show-reasoning: the reasoning streams to stderr while the model writes" $([ $? -eq 0 ] &&
    ! grep -q Counting "$tmp/out"; echo $?)
until_file "$tmp/out" $pid '^One two three'
check "run: the answer streams to stdout while the model writes" $?
kill -TERM $pid
wait $pid
rc=$?
check "run: SIGTERM stops the answer, exit 143" $([ $rc -eq 143 ]; echo $?)
check "run: after SIGTERM stdout has what was generated, on a line of its own" \
    $(grep -qE '^One two three' "$tmp/out" && ! grep -q thirty "$tmp/out" && [ -z "$(tail -c 1 "$tmp/out")" ] &&
        [ "$(grep -c '' "$tmp/out")" = 1 ]; echo $?)
# --json prints only at the end: SIGTERM once the answer holds.
CHAT_DOUBLE_LOG="$tmp/hold2.log" "$double" run "$tmp/stream.txt" -p "Count" --json "${common[@]}" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_until 60 grep -qsx '#held 20' "$tmp/hold2.log"
check "run --json: the answer reaches its hold" $?
kill -TERM $pid
wait $pid
rc=$?
check "run --json: SIGTERM prints the messages so far as JSON, exit 143" $([ $rc -eq 143 ] && [ ! -s "$tmp/err" ] &&
    grep -qE '^\{"role":"assistant","content":\[\{"type":"text","text":"[^"]+"\}\],"channel":"(analysis|final)"\}' "$tmp/out" &&
    ! grep -q thirty "$tmp/out" && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out"; echo $?)
# An answer that never ends stops at the default --max-tokens (4096), not at a full context.
{
    printf '<|channel|>final<|message|>'
    for ((i = 0; i < 5000; i++)); do printf 'word '; done
    printf '<|return|>\n'
} >"$tmp/endless.txt"
"$double" run "$tmp/endless.txt" -p "Talk" --verbose "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run: stops at the default --max-tokens 4096" $([ $rc -eq 0 ] && grep -qx '\[stopped at --max-tokens 4096\]' "$tmp/err" &&
    grep -qE '^\[4096 tokens, ' "$tmp/err" && [ "$(wc -w <"$tmp/out")" -eq 4093 ]; echo $?)
"$double" run "$tmp/endless.txt" -p "Talk" --verbose --max-tokens 0 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --max-tokens 0: until the answer ends" $([ $? -eq 0 ] && [ "$(wc -w <"$tmp/out")" -eq 5000 ] && ! grep -q 'stopped at' "$tmp/err"; echo $?)
# The spellings every command shares: -n/--max-tokens, -c/--ctx, -t/--threads, --device cpu|cuda.
"$double" run "$tmp/weather.txt" -p "x" -n 5 --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
"$double" run "$tmp/weather.txt" -p "x" --max-tokens 5 --json "${common[@]}" >"$tmp/out2" 2>>"$tmp/err"
same_files "run -n 5 is --max-tokens 5" $rc "$tmp/out" $? "$tmp/out2"
check "run -n 5: five tokens of the answer, nothing on stderr" $([ ! -s "$tmp/err" ] &&
    grep -qF '{"type":"text","text":"Need weather"}],"channel":"analysis"' "$tmp/out"; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" -c 10 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run -c 10 is --ctx 10" $([ $? -eq 1 ] && grep -q 'the context holds 10 (--ctx)' "$tmp/err"; echo $?)
"$double" chat "$tmp/hello.txt" -c 10 "${common[@]}" </dev/null >"$tmp/out" 2>"$tmp/err"
check "chat -c 10 is --ctx 10" $([ $? -eq 1 ] && grep -q 'the context holds 10 (--ctx)' "$tmp/err"; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" -t 2 --threads 3 --device cpu "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run -t, --threads, --device cpu: accepted" $([ $? -eq 0 ] && [ "$(cat "$tmp/out")" = "Hello there!" ] && [ ! -s "$tmp/err" ]; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" --device tpu "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --device tpu: refused" $([ $? -eq 2 ] && grep -qx "gptoss: run: invalid value 'tpu' for --device" "$tmp/err"; echo $?)
"$double" run "$tmp/missing.txt" -p "x" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run: a missing model is one error line" $([ $? -eq 1 ] && [ "$(grep -c '^gptoss: ' "$tmp/err")" = 1 ]; echo $?)

# ---- constrained generation (--json-schema, --json-object, --reasoning-budget, strict tools) -----------
# The double's script is what the model would prefer: forced tokens it lacks are inserted, tokens the
# constraint masks are skipped (tests/chat_double.c).
cat >"$tmp/city.json" <<'EOF'
{"type": "object", "description": "A city and a number of days.", "properties": {"city": {"type": "string"},
 "days": {"type": "integer"}}, "required": ["city", "days"], "additionalProperties": false}
EOF
cat >"$tmp/budget.txt" <<'EOF'
<|channel|>analysis<|message|>one two three four five six<|end|>{"city": "Paris", "days": 3} and more words<|return|>
EOF
CHAT_DOUBLE_LOG=$tmp/schema.log "$double" run "$tmp/budget.txt" -p "Plan" --json-schema "$tmp/city.json" \
    --reasoning-budget 3 --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
want='[
{"role":"assistant","content":[{"type":"text","text":"one two three"}],"channel":"analysis"},
{"role":"assistant","content":[{"type":"text","text":"{\"city\": \"Paris\", \"days\": 3}"}],"channel":"final"}
]'
check "run --reasoning-budget 3 --json-schema: <|end|> forced after 3 reasoning tokens, the final header forced, the answer cut to its schema" \
    $([ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(cat "$tmp/out")" = "$want" ]; echo $?)
check "run --json-schema: the developer message ends with the schema's # Response Formats section" \
    $(grep -qF '// A city and a number of days.
{"type":"object","description":"A city and a number of days.","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"],"additionalProperties":false}<|end|><|start|>user' "$tmp/schema.log" &&
        grep -qF '<|start|>developer<|message|># Response Formats' "$tmp/schema.log" && grep -qx '## city' "$tmp/schema.log"; echo $?)
printf '%s\n' 'The answer is 42.<|return|>' >"$tmp/plain.txt"
"$double" run "$tmp/plain.txt" -p "Q" --reasoning-budget 0 --json "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --reasoning-budget 0: no reasoning, the final header forced in front of a stream that has none" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = '[
{"role":"assistant","content":[{"type":"text","text":"The answer is 42."}],"channel":"final"}
]' ]; echo $?)
printf '%s\n' 'Sure! {"k": [1, 2]} done<|return|>' >"$tmp/object.txt"
"$double" run "$tmp/object.txt" -p "Q" --json-object --reasoning-budget 0 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --json-object: the answer is the stream's JSON object, nothing around it" \
    $([ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(tr -d ' ' <"$tmp/out")" = '{"k":[1,2]}' ]; echo $?)
printf 'Plan\n' | "$double" chat "$tmp/budget.txt" --json-schema "$tmp/city.json" --reasoning-budget 3 \
    "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "chat --reasoning-budget 3 --json-schema: the same forced turn" \
    $([ $? -eq 0 ] && grep -q '\[reasoning\] one two three$' "$tmp/out" && grep -qF '{"city": "Paris", "days": 3}' "$tmp/out" &&
        ! grep -q 'four\|more words' "$tmp/out"; echo $?)
cat >"$tmp/strict.json" <<'EOF'
[{"type": "function", "function": {"name": "get_weather", "description": "Gets the weather in a city.", "strict": true,
  "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
  "additionalProperties": false}}}]
EOF
cat >"$tmp/strict.txt" <<'EOF'
<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"Paris","units":"metric"}<|call|>
<|channel|>final<|message|>Sunny.<|return|>
EOF
rm -f "$tmp/args.json"
"$double" run "$tmp/strict.txt" -p "Weather?" --tools "$tmp/strict.json" --tool-exec "sh $tmp/tool.sh" \
    "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --tools with a strict function: its arguments follow its parameters (no undeclared key, location a string)" \
    $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "Sunny." ] && python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
sys.exit(0 if set(a) == {"location"} and isinstance(a["location"], str) and a["location"].startswith("Paris") else 1)' \
        "$tmp/args.json"; echo $?)
rm -f "$tmp/args.json"
"$double" run "$tmp/strict.txt" -p "Weather?" --tools "$tmp/tools.json" --tool-exec "sh $tmp/tool.sh" \
    --reasoning-budget 100 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --tools without strict (and a budget): the arguments are free, as written" \
    $([ $? -eq 0 ] && [ "$(cat "$tmp/args.json")" = '{"location":"Paris","units":"metric"}' ] && [ "$(cat "$tmp/out")" = "Sunny." ]; echo $?)
echo '{"type": "object", "properties": {"a": {"type": "string", "format": "iri"}}}' >"$tmp/bad_schema.json"
"$double" run "$tmp/hello.txt" -p "Hi" --json-schema "$tmp/bad_schema.json" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --json-schema with an unsupported keyword: exit 1, one line naming the keyword and its JSON pointer" \
    $([ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(grep -c '' "$tmp/err")" = 1 ] &&
        grep -q "^gptoss: run: .*bad_schema.json: .*'format'.*/properties/a" "$tmp/err"; echo $?)
echo '{"type": ' >"$tmp/broken.json"
"$double" chat "$tmp/hello.txt" --json-schema "$tmp/broken.json" "${common[@]}" </dev/null >"$tmp/out" 2>"$tmp/err"
check "chat --json-schema with malformed JSON: exit 1, one error line" \
    $([ $? -eq 1 ] && [ "$(grep -c '' "$tmp/err")" = 1 ] && grep -q '^gptoss: chat: .*broken.json: ' "$tmp/err"; echo $?)
"$double" run "$tmp/hello.txt" -p "Hi" --json-schema "$tmp/city.json" --json-object "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --json-schema with --json-object: refused" \
    $([ $? -eq 2 ] && grep -qx 'gptoss: run: --json-schema and --json-object cannot go together' "$tmp/err"; echo $?)

if ! command -v tmux >/dev/null; then
    echo "ok - chat under a terminal # SKIP tmux not installed"
    exit 0
fi

# ---- interactive, under tmux (tm, screen, wait_for, send: tests/lib.sh) ------------------------------
# start NAME CMD...: CMD in a detached 200x60 terminal; when it ends the pane shows "[exit N]".
start() {
    local name=$1 cmd
    shift
    cmd=$(printf '%q ' "$@")
    tm new-session -d -s "$name" -x 200 -y 60 "$cmd; echo \"[exit \$?]\"; sleep 600"
}
# prompts N LOG: the N-th prompt the double received (1-based), from CHAT_DOUBLE_LOG.
prompt_n() { awk -v n="$1" 'BEGIN{RS="\n----\n"} NR==n {print}' "$2"; }

# 1. Streaming, reasoning labelled, tokens/s, history carried to the next turn.
log=$tmp/basic.log
start basic env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/hello.txt" "${common[@]}"
wait_for basic '^> $'
send basic "Hi"
wait_for basic '^Hello there!$'
check "chat: streams the answer" $?
check "chat: reasoning shown and labelled" $(screen basic | grep -q '^\[reasoning\] The user greets\.$'; echo $?)
check "chat: tokens/s after the answer" $(screen basic | grep -qE '^\[[0-9]+ tokens, [0-9.]+ tokens/s; prompt [0-9]+ tokens in'; echo $?)
send basic "And now?"
wait_for basic '^Second answer\.$'
check "chat: second turn" $?
p2=$(prompt_n 2 "$log")
check "chat: history has the first question and answer" $([[ "$p2" == *'<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello there!<|end|><|start|>user<|message|>And now?<|end|><|start|>assistant' ]]; echo $?)
check "chat: the finished turn's reasoning is not sent back" $([[ "$p2" != *"The user greets"* ]]; echo $?)
check "chat: system message with date and effort" $([[ "$p2" == *$'Current date: 2025-01-01\n\nReasoning: low'* ]]; echo $?)
tm send-keys -t basic C-d
wait_for basic '^\[exit 0\]$'
check "chat: Ctrl-D quits with status 0" $?

# 2. --hide-reasoning.
start hidden "$double" chat "$tmp/hello.txt" --hide-reasoning "${common[@]}"
wait_for hidden '^> $'
send hidden "Hi"
wait_for hidden '^Hello there!$'
check "chat --hide-reasoning: answer shown" $?
check "chat --hide-reasoning: reasoning hidden" $(! screen hidden | grep -q 'The user greets'; echo $?)
send hidden "/quit"
wait_for hidden '^\[exit 0\]$'
check "chat: /quit" $?

# 3. A tool call whose result the user types; the next turn drops the reasoning but keeps the call.
log=$tmp/tool.log
start tool env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/weather.txt" --tools "$tmp/tools.json" "${common[@]}"
wait_for tool '^> $'
send tool "Weather in Paris?"
wait_for tool 'result of functions.get_weather> $'
check "chat: asks for the tool result" $?
check "chat: shows the tool call" $(screen tool | grep -qF '[tool call functions.get_weather] {"location":"Paris"}'; echo $?)
send tool '{"sunny": true}'
wait_for tool '^It is sunny in Paris\.$'
check "chat: answers after the tool result" $?
p1=$(prompt_n 1 "$log")
p2=$(prompt_n 2 "$log")
check "chat: developer message declares the function" $([[ "$p1" == *$'type get_weather = (_: {\nlocation: string,\n}) => any;'* ]] &&
    [[ "$p1" == *"Calls to these tools must go to the commentary channel: 'functions'."* ]]; echo $?)
# The call as the model wrote it: the result extends what the model processed (no recompute).
check "chat: the open tool turn keeps its reasoning, the call and the result" $([[ "$p2" == *'<|start|>user<|message|>Weather in Paris?<|end|><|start|>assistant<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"Paris"}<|call|><|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sunny": true}<|end|><|start|>assistant' ]]; echo $?)
send tool "Thanks"
wait_for tool '^You are welcome\.$'
p3=$(prompt_n 3 "$log")
check "chat: the finished tool turn loses its reasoning, keeps call, result and answer" $([[ "$p3" != *"Need weather."* ]] &&
    [[ "$p3" == *'{"location":"Paris"}<|call|><|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sunny": true}<|end|><|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|end|><|start|>user<|message|>Thanks<|end|><|start|>assistant' ]]; echo $?)
send tool "/quit"

# Ctrl-C at the result prompt ends the turn; the unanswered call is not kept.
log=$tmp/toolc.log
start toolc env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/weather.txt" --tools "$tmp/tools.json" "${common[@]}"
wait_for toolc '^> $'
send toolc "Weather in Paris?"
wait_for toolc 'result of functions.get_weather> $'
tm send-keys -t toolc C-c
wait_for toolc '^\[interrupted\]$'
check "chat: Ctrl-C at the tool result prompt ends the turn" $?
send toolc "Never mind"
wait_for toolc '^It is sunny in Paris\.$'
p2=$(prompt_n 2 "$log")
check "chat: the unanswered call is dropped from the history" $([[ "$p2" != *"<|call|>"* ]] &&
    [[ "$p2" == *'<|start|>user<|message|>Weather in Paris?<|end|><|start|>user<|message|>Never mind<|end|><|start|>assistant' ]]; echo $?)
send toolc "/quit"

# 4. --tool-exec, and a call to a tool nobody declared.
cat >"$tmp/unknown.txt" <<'EOF'
<|channel|>commentary to=functions.launch_rockets <|constrain|>json<|message|>{}<|call|>
<|channel|>final<|message|>I cannot do that.<|return|>
<|channel|>commentary to=functions.get_weather<|constrain|>json<|message|>{"location":"Rome"}<|call|>
<|channel|>final<|message|>Rome is warm.<|return|>
EOF
rm -f "$tmp/args.json"
log=$tmp/exec.log
start exec env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/unknown.txt" --tools "$tmp/tools.json" --tool-exec "sh $tmp/tool.sh" "${common[@]}"
wait_for exec '^> $'
send exec "Launch"
wait_for exec '^I cannot do that\.$'
check "chat: a call to an unknown tool gets an error result" $(prompt_n 2 "$log" | grep -qF "<|start|>functions.launch_rockets to=assistant<|channel|>commentary<|message|>Error: there is no tool 'functions.launch_rockets'. Available tools: functions.get_weather<|end|>"; echo $?)
send exec "Rome?"
wait_for exec '^Rome is warm\.$'
check "chat --tool-exec: runs the command, shows the result" $([ "$(cat "$tmp/args.json" 2>/dev/null)" = '{"location":"Rome"}' ] &&
    screen exec | grep -qF '[tool result] {"temp": 21, "tool": "get_weather"}'; echo $?)
send exec "/quit"

# 5. Ctrl-C stops the answer and keeps the session; Ctrl-C at the prompt does not quit. The answer
# stops before its 8th token until Ctrl-C comes (#hold), so it cannot finish before the test gets there.
cat >"$tmp/slow.txt" <<'EOF'
#hold 8
<|channel|>final<|message|>One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty.<|return|>
#hold 0
<|channel|>final<|message|>Fresh answer.<|return|>
EOF
log=$tmp/slow.log
start slow env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/slow.txt" "${common[@]}"
wait_for slow '^> $'
send slow "Count"
wait_for slow 'One two three'
tm send-keys -t slow C-c
wait_for slow '^\[interrupted\]$'
check "chat: Ctrl-C stops the answer" $?
wait_for slow '^> $'
tm send-keys -t slow C-c
wait_for slow '^> $' 2 # a fresh prompt under the first
send slow "Again"
wait_for slow '^Fresh answer\.$'
check "chat: the session goes on after Ctrl-C (also at the prompt)" $?
p2=$(prompt_n 2 "$log")
check "chat: the interrupted answer stays in the history as far as it got" $([[ "$p2" == *'<|start|>assistant<|channel|>final<|message|>One two three'*'<|end|><|start|>user<|message|>Again<|end|><|start|>assistant' ]] &&
    [[ "$p2" != *twenty* ]]; echo $?)
send slow "/quit"

# SIGTERM: the answer stops as with Ctrl-C, then chat leaves (exit 143); an answer that never ends
# stops at the default --max-tokens.
start term "$double" chat "$tmp/stream.txt" "${common[@]}"
wait_for term '^> $'
send term "Count"
wait_for term 'One two three'
kill -TERM "$(pgrep -P "$(tm display -p -t term '#{pane_pid}')" | head -n 1)"
wait_for term '^\[exit 143\]$'
check "chat: SIGTERM stops the answer and leaves, exit 143" $?
check "chat: SIGTERM shows [interrupted] after the partial answer" $(screen term | grep -qx '\[interrupted\]' && ! screen term | grep -q thirty; echo $?)
start endless "$double" chat "$tmp/endless.txt" "${common[@]}"
wait_for endless '^> $'
send endless "Talk"
wait_for endless '^\[stopped at --max-tokens 4096\]$'
check "chat: an endless answer stops at the default --max-tokens 4096" $?
send endless "/quit"

# 6. Slash commands: /effort, /save, /reset, /load, unknown.
log=$tmp/slash.log
cat >"$tmp/many.txt" <<'EOF'
<|channel|>final<|message|>Answer one.<|return|>
<|channel|>final<|message|>Answer two.<|return|>
<|channel|>final<|message|>Answer three.<|return|>
EOF
start slash env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/many.txt" "${common[@]}"
wait_for slash '^> $'
send slash "/effort high"
wait_for slash '^\[reasoning effort: high\]$'
check "chat: /effort" $?
send slash "First"
wait_for slash '^Answer one\.$'
send slash "/save $tmp/saved.json"
wait_for slash "saved 3 messages to $tmp/saved.json"
check "chat: /save" $?
send slash "/reset"
wait_for slash '^\[conversation reset\]$'
send slash "Second"
wait_for slash '^Answer two\.$'
p1=$(prompt_n 1 "$log")
p2=$(prompt_n 2 "$log")
check "chat: /effort changes the system message" $([[ "$p1" == *"Reasoning: high"* ]]; echo $?)
check "chat: /reset forgets the conversation" $([[ "$p2" != *First* ]] && [[ "$p2" == *'<|start|>user<|message|>Second<|end|><|start|>assistant' ]]; echo $?)
send slash "/load $tmp/saved.json"
wait_for slash "loaded 2 messages from $tmp/saved.json"
check "chat: /load" $?
send slash "Third"
wait_for slash '^Answer three\.$'
p3=$(prompt_n 3 "$log")
check "chat: the loaded conversation goes on" $([[ "$p3" == *'<|start|>user<|message|>First<|end|><|start|>assistant<|channel|>final<|message|>Answer one.<|end|><|start|>user<|message|>Third<|end|>'* ]]; echo $?)
send slash "/bogus"
wait_for slash 'unknown command /bogus'
check "chat: unknown slash command" $?
send slash "/quit"
"${GPTOSS_BIN:-$build/gptoss}" render "$tmp/saved.json" --tokenizer "$tok" >/dev/null 2>&1
check "chat: /save writes a conversation that gptoss render reads" $?

# 7. Malformed model output is shown as far as it can be understood.
cat >"$tmp/broken.txt" <<'EOF'
Just some text without a header<|end|>
<|channel|>analysis<|message|>Weather.<|end|>commentary to=functions.get_weather <|constrain|>json<|message|>{"location":"Oslo"}<|call|>
<|channel|>final<|message|>Cold.<|return|> trailing words
EOF
start broken "$double" chat "$tmp/broken.txt" --tools "$tmp/tools.json" "${common[@]}"
wait_for broken '^> $'
send broken "One"
wait_for broken '^Just some text without a header$'
check "chat: text without a harmony header is shown" $?
send broken "Two"
wait_for broken 'result of functions.get_weather> $'
check "chat: a tool call missing <|start|>assistant<|channel|> is recovered" $?
send broken "minus five"
wait_for broken '^Cold\.$'
check "chat: answers after the recovered call" $?
send broken "/quit"
wait_for broken '^\[exit 0\]$'
check "chat: exits cleanly after malformed output" $?

# 8. Non-ASCII input through the line editor: umlauts, emoji and CJK reach the model as typed, with
# the environment's UTF-8 locale, with none at all (the chat picks a UTF-8 one), and with LANG=C;
# backspace removes a whole character.
cat >"$tmp/utf8.txt" <<'EOF2'
<|channel|>final<|message|>Got it.<|return|>
<|channel|>final<|message|>Got it again.<|return|>
EOF2
text='Grüß Gott 👋 你好，世界 Ünïcödé'
for how in environment none C; do
    log=$tmp/utf8_$how.log
    case $how in
    environment) envs=(env) ;;
    none) envs=(env -u LANG -u LC_ALL -u LC_CTYPE -u LANGUAGE) ;;
    C) envs=(env LANG=C LC_ALL=C) ;;
    esac
    start "utf8_$how" "${envs[@]}" CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/utf8.txt" "${common[@]}"
    wait_for "utf8_$how" '^> $'
    send "utf8_$how" "$text"
    wait_for "utf8_$how" '^Got it\.$'
    check "chat: non-ASCII input reaches the model intact (locale: $how)" \
        $([[ "$(prompt_n 1 "$log")" == *"<|start|>user<|message|>$text<|end|><|start|>assistant" ]]; echo $?)
    tm send-keys -t "utf8_$how" -l -- 'Grüß'
    tm send-keys -t "utf8_$how" BSpace
    send "utf8_$how" 'e 日本'
    wait_for "utf8_$how" '^Got it again\.$'
    check "chat: backspace deletes one whole non-ASCII character (locale: $how)" \
        $([[ "$(prompt_n 2 "$log")" == *"<|start|>user<|message|>Grüe 日本<|end|><|start|>assistant" ]]; echo $?)
    send "utf8_$how" "/quit"
done

# 9. A small context: a message too long by itself is refused without /reset advice (and forgotten);
# one that fits alone but not after the history gets /reset advice; /reset then lets it through.
cat >"$tmp/small.txt" <<'EOF2'
<|channel|>final<|message|>Answer one.<|return|>
<|channel|>final<|message|>Answer two.<|return|>
<|channel|>final<|message|>Answer three.<|return|>
EOF2
log=$tmp/small.log
start small env CHAT_DOUBLE_LOG="$log" "$double" chat "$tmp/small.txt" --ctx 100 "${common[@]}"
wait_for small '^> $'
send small "Hi"
wait_for small '^Answer one\.$'
send small "$(printf 'word %.0s' {1..40})"
wait_for small 'gptoss: chat: this message makes the prompt [0-9]+ tokens by itself but the context holds 100 \(--ctx\); it was not sent$'
check "chat: a message longer than the context by itself: both sizes, not sent" $?
check "chat: no /reset advice when /reset cannot help" $(! screen small | grep -q 'reset'; echo $?)
send small "Hi again"
wait_for small '^Answer two\.$'
check "chat: goes on after the refused message" $?
check "chat: the refused message is not in the history" $([[ "$(prompt_n 2 "$log")" != *word* ]] &&
    [[ "$(prompt_n 2 "$log")" == *'<|start|>user<|message|>Hi again<|end|><|start|>assistant' ]]; echo $?)
send small "Tell me about the weather in Paris today"
wait_for small '^\[context full: with this message the conversation is [0-9]+ tokens, the context holds 100; it was not sent; /reset starts over\]$'
check "chat: a message that fits alone but not after the history: /reset advice" $?
send small "/reset"
send small "Tell me about the weather in Paris today"
wait_for small '^Answer three\.$'
check "chat: after /reset the message goes through" $?
send small "/quit"
wait_for small '^\[exit 0\]$'
check "chat: exits 0 after the refusals" $?
