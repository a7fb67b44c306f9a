#!/usr/bin/env bash
# t_tokenizer_cli.sh: `gptoss tokenize` / `gptoss detokenize` from a shell: ids on one line, raw bytes
# back, --allow-special, model directories and .tiktoken files, errors with a message and status 1.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
shared=$GPTOSS_SHARED
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/tokcli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
check() { # name command...
    local name=$1; shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fi
}
tj=$shared/vocab/tokenizer.json
tt=$shared/vocab/o200k_base.tiktoken
expect_fail() { # name expected-message-part command...
    local name=$1 want=$2; shift 2
    local out rc
    out=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [[ "$out" == *"$want"* ]]; then echo "ok - $name"; else echo "not ok - $name (rc=$rc: $out)"; fi
}
# Errors that need no vocabulary.
expect_fail "missing tokenizer file" "No such file" sh -c "echo hi | '$bin' tokenize '$tmp/none.json'"
expect_fail "directory without a tokenizer" "no tokenizer.json" sh -c "echo hi | '$bin' tokenize '$tmp'"
expect_fail "missing argument" "usage" sh -c "echo hi | '$bin' detokenize"
need_shared "tokenize and detokenize with the o200k_harmony vocabulary" vocab/tokenizer.json vocab/o200k_base.tiktoken ||
    exit 0

check "tokenize prints ids on one line" test "$(printf 'hello world' | "$bin" tokenize "$tj")" = "24912 2375"
check "special literals are text by default" \
    test "$(printf '<|start|>' | "$bin" tokenize "$tj")" = "27 91 5236 91 29"
check "--allow-special turns them into ids" \
    test "$(printf '<|start|>user' | "$bin" tokenize "$tj" --allow-special)" = "200006 1428"
printf ' to=functions.get_current_weather' >"$tmp/tool.txt"
same_output "a model directory and a .tiktoken file give the same ids" \
    -- --stdin "$tmp/tool.txt" "$bin" tokenize "$shared/vocab" -- --stdin "$tmp/tool.txt" "$bin" tokenize "$tt"
check "empty input gives an empty line" test "$(printf '' | "$bin" tokenize "$tj" | od -An -c | tr -d ' ')" = '\n'

# Round trip of a file with every kind of text, through the two commands.
printf 'Größe ẞ 😀 👨‍👩‍👧‍👦\r\n\tcode() { return 0; }\n你好 مرحبا नमस्ते <|end|>   \n' >"$tmp/in.txt"
"$bin" tokenize "$tj" <"$tmp/in.txt" >"$tmp/ids.txt"
"$bin" detokenize "$tj" <"$tmp/ids.txt" >"$tmp/out.txt"
check "tokenize | detokenize gives the input back byte for byte" cmp -s "$tmp/in.txt" "$tmp/out.txt"
check "detokenize writes raw bytes (a split emoji stays split)" \
    test "$(printf '9552' | "$bin" detokenize "$tj" | od -An -tx1 | tr -d ' \n')" = "20f09f"
check "detokenize accepts commas and newlines" test "$(printf '24912,\n2375\n' | "$bin" detokenize "$tj")" = "hello world"
check "200018 decodes as <|endofprompt|>" test "$(echo 200018 | "$bin" detokenize "$tj")" = "<|endofprompt|>"

# Invalid UTF-8 encodes like its lossy decoding (one U+FFFD per maximal invalid subpart).
printf 'a\xffb' >"$tmp/bad.txt"
printf 'a\xef\xbf\xbdb' >"$tmp/fffd.txt"
same_output "invalid UTF-8 encodes as U+FFFD" \
    -- --stdin "$tmp/bad.txt" "$bin" tokenize "$tj" -- --stdin "$tmp/fffd.txt" "$bin" tokenize "$tj"

expect_fail "detokenize rejects id 201088" "invalid token" sh -c "echo 201088 | '$bin' detokenize '$tj'"
expect_fail "detokenize rejects non-numbers" "token ids" sh -c "echo 'x 1' | '$bin' detokenize '$tj'"
expect_fail "unknown option" "unknown option" sh -c "echo hi | '$bin' tokenize '$tj' --bogus"
exit 0
