#!/usr/bin/env bash
# t_cli_errors.sh: the gptoss command on bad input (missing or corrupt model, ids outside the vocabulary,
# context overflow, malformed --ids, unknown options, bad option values) exits non-zero with one
# "gptoss: ..." line on stderr and no crash; valid runs exit 0 with nothing on stderr.
set -u
. "$(dirname "$0")/lib.sh"
bin=${GPTOSS_BIN:?}
shared=${GPTOSS_SHARED:-}
model=$shared/golden/g1-default/model
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/cli_errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$model/config.json" ]; then
    echo "ok - cli errors # SKIP golden g1-default not found under GPTOSS_SHARED"
    exit 0
fi

# run CMD...: sets rc, out (stdout) and err (stderr); a limit of 60 s x the time scale (tests/lib.sh)
# turns a hang into rc 124.
run() {
    timeout "$(scaled 60)" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# fail_check NAME WANT CMD...: non-zero exit (not a signal), stderr is exactly one line, starting with
# "gptoss: " and containing WANT.
fail_check() {
    local name=$1 want=$2; shift 2
    run "$@"
    local lines
    lines=$(printf '%s' "$err" | grep -c '')
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] && [ "$lines" -eq 1 ] && [[ "$err" == "gptoss: "* ]] &&
        [[ "$err" == *"$want"* ]]; then
        echo "ok - $name: $err"
    else
        echo "not ok - $name (exit $rc, want one 'gptoss: ...$want...' line on stderr)"
        printf '%s\n' "$err" | head -n 8 | sed 's/^/#   stderr: /'
    fi
}

# usage_check NAME WANT CMD...: like fail_check, but a usage text may follow the one error line
# (exit status 2).
usage_check() {
    local name=$1 want=$2; shift 2
    run "$@"
    local first n_err
    first=$(printf '%s\n' "$err" | head -n 1)
    n_err=$(printf '%s\n' "$err" | grep -c '^gptoss: ')
    if [ "$rc" -eq 2 ] && [[ "$first" == "gptoss: "* ]] && [[ "$first" == *"$want"* ]] && [ "$n_err" -eq 1 ] &&
        ! printf '%s' "$err" | grep -qE 'Sanitizer|runtime error'; then
        echo "ok - $name: $first"
    else
        echo "not ok - $name (exit $rc, want exit 2 and a first stderr line 'gptoss: ...$want...')"
        printf '%s\n' "$err" | head -n 8 | sed 's/^/#   stderr: /'
    fi
}

# ok_check NAME CMD...: exit 0 and nothing on stderr.
ok_check() {
    local name=$1; shift
    run "$@"
    if [ "$rc" -eq 0 ] && [ -z "$err" ]; then
        echo "ok - $name"
    else
        echo "not ok - $name (exit $rc)"
        printf '%s\n' "$err" | head -n 8 | sed 's/^/#   stderr: /'
    fi
}

ids10="1 2 3 4 5 6 7 8 9 10"

# --- the model path
fail_check "eval: missing model directory" "$tmp/no-such-model" "$bin" eval "$tmp/no-such-model" --ids "1"
fail_check "generate: missing model directory" "no such directory" "$bin" generate "$tmp/nope" --ids "1" -n 1
fail_check "info: missing model directory" "no such directory" "$bin" info "$tmp/nope"
fail_check "eval: a file as the model" "expected a model directory" "$bin" eval "$model/config.json" --ids "1"
mkdir -p "$tmp/empty"
fail_check "eval: directory without config.json" "missing config.json" "$bin" eval "$tmp/empty" --ids "1"
mkdir -p "$tmp/trunc"
cp "$model/config.json" "$tmp/trunc/"
head -c 100000 "$model/model.safetensors" >"$tmp/trunc/model.safetensors"
fail_check "eval: truncated safetensors" "$tmp/trunc/model.safetensors" "$bin" eval "$tmp/trunc" --ids "1"
fail_check "info: truncated safetensors" "past the end" "$bin" info "$tmp/trunc"
mkdir -p "$tmp/badcfg"
sed 's/"num_key_value_heads": 2/"num_key_value_heads": 3/' "$model/config.json" >"$tmp/badcfg/config.json"
ln -s "$model/model.safetensors" "$tmp/badcfg/model.safetensors"
fail_check "eval: inconsistent config.json" "$tmp/badcfg/config.json" "$bin" eval "$tmp/badcfg" --ids "1"

# --- ids outside the vocabulary (1024)
fail_check "eval: id 5000 outside a 1024 vocabulary" "outside the vocabulary" "$bin" eval "$model" --ids "5000"
fail_check "eval: id 1024 (== vocab) outside" "1024" "$bin" eval "$model" --ids "1 2 1024"
fail_check "eval --prefill: id outside the vocabulary" "outside the vocabulary" "$bin" eval "$model" --ids "1 4000000000" --prefill
fail_check "generate: id outside the vocabulary" "outside the vocabulary" "$bin" generate "$model" --ids "7 9999" -n 2 --quiet
ok_check "eval: id 1023 (last in the vocabulary)" "$bin" eval "$model" --ids "1023 0"

# --- context overflow
fail_check "eval: 10 ids into --ctx 4" "context" "$bin" eval "$model" --ctx 4 --ids "$ids10"
fail_check "eval --prefill: 10 ids into --ctx 4" "context" "$bin" eval "$model" --ctx 4 --ids "$ids10" --prefill
fail_check "generate: prompt longer than --ctx" "context" "$bin" generate "$model" --ctx 4 --ids "$ids10" -n 1 --quiet
fail_check "generate: -n beyond --ctx" "context" "$bin" generate "$model" --ctx 8 --ids "1 2 3" -n 20 --quiet
fail_check "eval: --ctx beyond the model's maximum" "exceeds" "$bin" eval "$model" --ctx 4000000 --ids "1"
ok_check "generate: prompt + n exactly fills --ctx" "$bin" generate "$model" --ctx 8 --ids "1 2 3" -n 6 --quiet

# --- malformed --ids
for bad in "1 x 2" "-1" "1.5" "0x10" "1;2" "4294967296" "99999999999999999999999" "1 2 three"; do
    fail_check "eval: malformed --ids '$bad'" "--ids" "$bin" eval "$model" --ids "$bad"
done
fail_check "eval: empty --ids" "no ids" "$bin" eval "$model" --ids ""
fail_check "eval: --ids of only separators" "no ids" "$bin" eval "$model" --ids " , "
fail_check "generate: malformed --ids" "--ids" "$bin" generate "$model" --ids "1 a" -n 1
fail_check "generate: empty --ids" "--ids" "$bin" generate "$model" --ids "" -n 1
fail_check "generate: malformed --stop" "--stop" "$bin" generate "$model" --ids "1" -n 1 --stop "x"

# --- options
usage_check "eval: unknown option" "unknown option --bogus" "$bin" eval "$model" --ids "1" --bogus
usage_check "generate: unknown option" "unknown option --bogus" "$bin" generate "$model" --ids "1" -n 1 --bogus
fail_check "info: unknown option" "unknown option --bogus" "$bin" info "$model" --bogus
usage_check "unknown command" "unknown command 'bogus'" "$bin" bogus
fail_check "eval: --ids without a value" "needs a value" "$bin" eval "$model" --ids
fail_check "generate: -n without a value" "needs a value" "$bin" generate "$model" --ids "1" -n
fail_check "eval: --ctx not a number" "--ctx" "$bin" eval "$model" --ids "1" --ctx abc
fail_check "eval: --ctx negative" "--ctx" "$bin" eval "$model" --ids "1" --ctx -4
fail_check "eval: --batch 0" "--batch" "$bin" eval "$model" --ids "1" --batch 0
fail_check "eval: --tolerance nan" "--tolerance" "$bin" eval "$model" --ids "1" --tolerance nan
fail_check "generate: -n negative" "-n" "$bin" generate "$model" --ids "1" -n -1
fail_check "generate: --temperature inf" "--temperature" "$bin" generate "$model" --ids "1" -n 1 --temperature inf
fail_check "generate: --top-p 2" "--top-p" "$bin" generate "$model" --ids "1" -n 1 --top-p 2
fail_check "generate: --seed not a number" "--seed" "$bin" generate "$model" --ids "1" -n 1 --seed x
fail_check "eval: a second model argument" "unexpected argument" "$bin" eval "$model" "$model" --ids "1"
usage_check "eval: no --ids or --check" "--ids" "$bin" eval "$model"
usage_check "generate: no -n" "-n" "$bin" generate "$model" --ids "1"
usage_check "eval: no model" "MODEL" "$bin" eval --ids "1"
fail_check "eval: --check on a missing case" "$tmp/nocase/case.json" "$bin" eval "$model" --check "$tmp/nocase"
fail_check "eval: --logits into a missing directory" "$tmp/nodir/out.f32" "$bin" eval "$model" --ids "1" --logits "$tmp/nodir/out.f32"

# --- valid runs are quiet
ok_check "eval: valid ids" "$bin" eval "$model" --ids "1 2 3"
ok_check "eval --prefill --logits" "$bin" eval "$model" --ids "1 2 3" --prefill --logits "$tmp/l.f32"
size=$(stat -c %s "$tmp/l.f32" 2>/dev/null || echo 0)
if [ "$size" -eq $((3 * 1024 * 4)) ]; then echo "ok - eval --logits wrote 3 x 1024 floats"
else echo "not ok - eval --logits wrote $size bytes, want $((3 * 1024 * 4))"; fi
ok_check "generate --quiet" "$bin" generate "$model" --ids "1 2 3" -n 4 --quiet
n=$(printf '%s' "$out" | wc -w)
if [ "$n" -eq 4 ]; then echo "ok - generate printed 4 ids"; else echo "not ok - generate printed '$out'"; fi
ok_check "info" "$bin" info "$model"
ok_check "eval --check the golden case" "$bin" eval "$model" --check "$shared/golden/g1-default"
exit 0
