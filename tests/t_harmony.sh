#!/usr/bin/env bash
# t_harmony.sh: `gptoss render` and `gptoss parse` on the conformance data: every render case through
# the command line gives exactly expected_ids, the batch parse cases give their messages (or their
# error with --strict), render -> parse -> render is stable, and bad input gives one "gptoss:" line.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
shared=$GPTOSS_SHARED
tok=$shared/vocab/tokenizer.json
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_harmony.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# fails NAME WANT CMD...: non-zero exit, first stderr line "gptoss: ..." containing WANT, no crash.
fails() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? first
    first=$(head -n 1 "$tmp/err")
    if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [[ "$first" == "gptoss: "*"$want"* ]] &&
        ! grep -qE 'Sanitizer|runtime error' "$tmp/err"; then
        echo "ok - $name: $first"
    else
        echo "not ok - $name (exit $rc, stderr: $(head -c 300 "$tmp/err"))"
    fi
}
printf '[{"role":"user","content":"What is 2 + 2?"}]' >"$tmp/conv.json"
# What needs no vocabulary.
(unset GPTOSS_TOKENIZER; fails "render: no tokenizer" "no tokenizer" "$bin" render "$tmp/conv.json")
"$bin" render --help >/dev/null && "$bin" parse --help >/dev/null && echo "ok - --help" || echo "not ok - --help"
need_shared "harmony command line" vocab/tokenizer.json harmony/render_cases.jsonl harmony/parse_cases.jsonl || exit 0
if ! command -v python3 >/dev/null; then
    echo "ok - harmony command line # SKIP python3 (reads the JSON-lines cases) not installed"
    exit 0
fi
unset GPTOSS_TOKENIZER

# cases FILE EXPR...: one line per case: its line number and the values of the python expressions over
# the case `c` (lists of ids space-separated, booleans 1 or empty), separated by \x1f (not a blank, so
# that `read` keeps empty fields); one python run per file.
cases() {
    python3 -c '
import json, sys
def show(v):
    if isinstance(v, list): return " ".join(str(x) for x in v)
    if isinstance(v, bool): return "1" if v else ""
    return "" if v is None else str(v)
for no, line in enumerate(open(sys.argv[1]), 1):
    if line.strip():
        c = json.loads(line)
        print("\x1f".join([str(no)] + [show(eval(e, {"c": c, "json": json})) for e in sys.argv[2:]]))' "$@"
}

# ---- render: all 23 cases -----------------------------------------------------------------------
n=0
while IFS=$'\x1f' read -r line_no name fn auto_drop want; do
    n=$((n + 1))
    drop=none
    [ -n "$auto_drop" ] && drop=harmony
    case $fn in
    render_conversation_for_completion) mode=() ;;
    render_conversation_for_training) mode=(--training) ;;
    *) mode=(--conversation) ;;
    esac
    got=$(sed -n "${line_no}p" "$shared/harmony/render_cases.jsonl" |
        "$bin" render - "${mode[@]}" --drop "$drop" --tokenizer "$tok" 2>"$tmp/err")
    rc=$?
    # "render" (one message) drops the last id in the upstream test.
    [ "$fn" = render ] && got=${got% *}
    if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then
        echo "ok - gptoss render $name"
    else
        echo "not ok - gptoss render $name (exit $rc: $(head -c 300 "$tmp/err"))"
        echo "#   got:  $(echo "$got" | head -c 300)"
        echo "#   want: $(echo "$want" | head -c 300)"
    fi
done < <(cases "$shared/harmony/render_cases.jsonl" 'c["name"]' 'c["render"]["fn"]' \
    'c["render"].get("config", {}).get("auto_drop_analysis", False)' 'c["expected_ids"]')
[ "$n" -eq 23 ] && echo "ok - 23 render cases read" || echo "not ok - $n render cases read, expected 23"

# --text prints the same rendering as text.
got=$("$bin" render "$tmp/conv.json" --text --tokenizer "$tok")
if [ "$got" = '<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant' ]; then
    echo "ok - gptoss render --text"
else
    echo "not ok - gptoss render --text: $got"
fi
# GPTOSS_TOKENIZER stands in for --tokenizer.
got=$(GPTOSS_TOKENIZER=$tok "$bin" render "$tmp/conv.json" --next-role user)
[ "$got" = "200006 1428 200008 4827 382 220 17 659 220 17 30 200007 200006 1428" ] &&
    echo "ok - GPTOSS_TOKENIZER and --next-role" || echo "not ok - GPTOSS_TOKENIZER and --next-role: $got"

# ---- parse: the batch cases ---------------------------------------------------------------------
n=0
while IFS=$'\x1f' read -r _ name mode ids role strict want_error want; do
    [ "$mode" = batch ] || continue
    n=$((n + 1))
    flags=()
    [ -n "$strict" ] && flags=(--strict)
    "$bin" parse --ids "$ids" --role "$role" "${flags[@]}" --tokenizer "$tok" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ -n "$want_error" ]; then
        if [ $rc -eq 1 ] && grep -q '^gptoss: parse: ' "$tmp/err"; then
            echo "ok - gptoss parse $name fails: $(cat "$tmp/err")"
        else
            echo "not ok - gptoss parse $name should fail (exit $rc)"
        fi
        continue
    fi
    printf '%s' "$want" >"$tmp/want"
    if [ $rc -eq 0 ] && python3 -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' "$tmp/out" "$tmp/want"; then
        echo "ok - gptoss parse $name"
    else
        echo "not ok - gptoss parse $name (exit $rc)"
        sed 's/^/#   /' "$tmp/out" "$tmp/err" | head -10
    fi
done < <(cases "$shared/harmony/parse_cases.jsonl" 'c["name"]' 'c["mode"]' 'c["tokens"]' 'c["role"] or "none"' \
    'c["strict"]' 'c["expected"].get("error")' 'json.dumps(c["expected"].get("messages"))')
[ "$n" -ge 10 ] && echo "ok - $n batch parse cases" || echo "not ok - only $n batch parse cases"

# --text and stdin forms; the role defaults from the first id.
out=$("$bin" parse --text '<|channel|>final<|message|>Hi<|return|>' --tokenizer "$tok")
[ "$out" = $'[\n{"role":"assistant","content":[{"type":"text","text":"Hi"}],"channel":"final"}\n]' ] &&
    echo "ok - gptoss parse --text" || echo "not ok - gptoss parse --text: $out"
out=$(echo "200006 1428 200008 13225 200007" | "$bin" parse - --tokenizer "$tok")
[ "$out" = $'[\n{"role":"user","content":[{"type":"text","text":"Hello"}]}\n]' ] &&
    echo "ok - gptoss parse - (ids on stdin, starting with <|start|>)" || echo "not ok - gptoss parse -: $out"

# ---- render -> parse -> render --------------------------------------------------------------------
cat >"$tmp/round.json" <<'EOF'
{"messages": [
 {"role": "user", "content": "Weather in Paris? <|end|> literally"},
 {"role": "assistant", "channel": "analysis", "content": "Need the tool."},
 {"role": "assistant", "channel": "commentary", "recipient": "functions.get_weather",
  "content_type": "<|constrain|>json", "content": "{\"city\": \"Paris\"}"},
 {"role": "tool", "name": "functions.get_weather", "recipient": "assistant", "channel": "commentary",
  "content": "{\"sunny\": true}"},
 {"role": "assistant", "channel": "final", "content": "Sunny. ☀"}]}
EOF
"$bin" render "$tmp/round.json" --conversation --tokenizer "$tok" >"$tmp/ids1"
rc1=$?
"$bin" parse --ids "$(cat "$tmp/ids1")" --strict --tokenizer "$tok" >"$tmp/parsed.json" &&
    "$bin" render "$tmp/parsed.json" --conversation --tokenizer "$tok" >"$tmp/ids2"
same_files "render -> parse -> render is stable" $rc1 "$tmp/ids1" $? "$tmp/ids2"
# For completion, the finished turn's analysis is dropped (--drop turns is the default).
text=$("$bin" render "$tmp/round.json" --text --tokenizer "$tok")
case $text in
*"Need the tool."*) echo "not ok - completion drops the analysis of a finished turn" ;;
*functions.get_weather*) echo "ok - completion drops the analysis of a finished turn, keeps its tool call" ;;
*) echo "not ok - completion rendering: $text" ;;
esac

# ---- errors ---------------------------------------------------------------------------------------
printf '{"messages": [{"role": "robot", "content": "x"}]}' >"$tmp/bad_role.json"
printf '[{"role": "user", "content": "x"' >"$tmp/bad_json.json"
fails "render: no file" "No such file" "$bin" render "$tmp/missing.json" --tokenizer "$tok"
fails "render: malformed JSON" "bad_json.json" "$bin" render "$tmp/bad_json.json" --tokenizer "$tok"
fails "render: unknown role" "message 0" "$bin" render "$tmp/bad_role.json" --tokenizer "$tok"
fails "render: no conversation" "CONV.json is required" "$bin" render --tokenizer "$tok"
fails "render: bad --drop" "--drop" "$bin" render "$tmp/conv.json" --drop some --tokenizer "$tok"
fails "parse: bad ids" "ids must be" "$bin" parse --ids "1 x 2" --tokenizer "$tok"
fails "parse: nothing to parse" "exactly one of" "$bin" parse --tokenizer "$tok"
fails "parse: strict error" "Unexpected token 13225" "$bin" parse --ids "13225 200007 13225" --role none --strict --tokenizer "$tok"
fails "parse: unknown role" "unknown role" "$bin" parse --ids "1" --role robot --tokenizer "$tok"
if "$bin" parse --ids "13225 200007 13225 4294967295 200006" --tokenizer "$tok" >"$tmp/out" 2>"$tmp/err" &&
    [ ! -s "$tmp/err" ] && grep -q Hello "$tmp/out"; then
    echo "ok - parse: lenient by default, recovers text after the end and unknown ids"
else
    echo "not ok - parse: lenient recovery (stderr: $(head -c 300 "$tmp/err"))"
fi
