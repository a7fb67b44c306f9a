#!/usr/bin/env bash
# t_cli_errors.sh: the gptoss command on bad input (missing or corrupt model, ids outside the vocabulary,
# context overflow, malformed --ids, unknown options, bad option values) exits non-zero with one
# "gptoss: ..." line on stderr and no crash; valid runs exit 0 with nothing on stderr; the options
# several commands share have the same spellings in each (and in each --help).
set -u
. "$(dirname "$0")/lib.sh"
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
shared=$GPTOSS_SHARED
model=$shared/golden/g1-default/model
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/cli_errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$model/config.json" ]; then
    # Without the shared data: a model of the golden's shape (random weights) for all but the golden check.
    model=$tmp/g1-standin
    if ! "$bin" synth --out "$model" --layers 4 --hidden 128 --intermediate 128 --heads 8 --kv-heads 2 --head-dim 32 \
        --experts 8 --experts-per-token 4 --vocab 1024 --window 8 >/dev/null 2>"$tmp/synth.err"; then
        echo "not ok - synthesize a stand-in for the g1-default golden: $(head -c 300 "$tmp/synth.err")"
        exit 0
    fi
    echo "# $shared/golden/g1-default not found: running on a synthesized model of its shape"
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

# --- one spelling per option: -t/--threads, -c/--ctx, -n/--max-tokens and --device cpu|cuda mean the
# same in every command that has them (chat and run: t_chat.sh, t_chat_model.sh)
run "$bin" generate "$model" --ids "1 2 3" -n 4 -t 1 --ctx 16 --quiet
short_rc=$rc short_out=$out
run "$bin" generate "$model" --ids "1 2 3" --max-tokens 4 --threads 1 -c 16 --device cpu --quiet
if [ "$short_rc" -eq 0 ] && [ "$rc" -eq 0 ] && [ -z "$err" ] && [ "$(printf '%s' "$out" | wc -w)" -eq 4 ] &&
    [ "$out" = "$short_out" ]; then
    echo "ok - generate: --max-tokens/--threads/-c/--device cpu give what -n/-t/--ctx give"
else
    echo "not ok - generate: --max-tokens/--threads/-c (exit $short_rc and $rc, '$short_out' vs '$out')"
fi
fail_check "generate: -c is the context" "context" "$bin" generate "$model" --ctx 64 --ids "$ids10" -c 4 -n 1 --quiet
fail_check "generate: --threads takes a number" "invalid value 'x' for --threads" "$bin" generate "$model" --ids "1" -n 1 --threads x
fail_check "generate: --device takes cpu or cuda" "invalid value 'tpu' for --device" "$bin" generate "$model" --ids "1" -n 1 --device tpu
fail_check "eval: -c is the context" "context" "$bin" eval "$model" -c 4 --ids "$ids10"
ok_check "eval -t 1 --ctx 16" "$bin" eval "$model" --ids "1 2 3" -t 1 --ctx 16 --logits "$tmp/short.f32"
ok_check "eval --threads 1 -c 16 --device cpu" "$bin" eval "$model" --ids "1 2 3" --threads 1 -c 16 --device cpu --logits "$tmp/long.f32"
if [ -s "$tmp/long.f32" ] && cmp -s "$tmp/short.f32" "$tmp/long.f32"; then echo "ok - eval: both spellings, the same logits"
else echo "not ok - eval: the logits differ between -t/--ctx and --threads/-c"; fi
fail_check "eval: --device takes cpu or cuda" "invalid value 'tpu' for --device" "$bin" eval "$model" --ids "1" --device tpu
run "$bin" bench "$model" -p 4 --max-tokens 3 --threads 1 -c 96 --device cpu
if [ "$rc" -eq 0 ] && grep -q '| device cpu | ctx 96, batch 4$' "$tmp/out" && grep -q '^decode: tg3 = ' "$tmp/out" &&
    grep -q '^threads 1 |' "$tmp/out"; then
    echo "ok - bench: --max-tokens, --threads, -c and --device cpu"
else
    echo "not ok - bench: --max-tokens, --threads, -c and --device cpu (exit $rc)"
    head -n 5 "$tmp/out" "$tmp/err" | sed 's/^/#   /'
fi
usage_check "bench: unknown --device" "invalid value 'tpu' for --device" "$bin" bench "$model" --device tpu
if "$bin" serve --help >/dev/null 2>&1 && [ -f "$shared/vocab/tokenizer.json" ]; then
    # a model whose vocabulary holds the tokenizer's ids (serve refuses one that does not)
    "$bin" synth --out "$tmp/serve-model" --tokenizer "$shared/vocab/tokenizer.json" --seed 5 >/dev/null 2>&1
    "$bin" serve "$tmp/serve-model" --port 0 -c 64 -t 1 --device cpu --parallel 1 >"$tmp/serve.out" 2>&1 &
    pid=$!
    wait_until 60 grep -q 'listening on' "$tmp/serve.out"
    kill $pid 2>/dev/null
    wait $pid 2>/dev/null
    if grep -q '^gptoss serve: listening on http://127.0.0.1:[0-9]*/\? *(model .*, 1 parallel, context 64, queue' "$tmp/serve.out"; then
        echo "ok - serve -c 64 -t 1 --device cpu: context 64"
    else
        echo "not ok - serve -c 64 -t 1 --device cpu"
        head -n 5 "$tmp/serve.out" | sed 's/^/#   /'
    fi
    fail_check "serve: -c is the context" "invalid value '8' for -c" "$bin" serve "$model" -c 8
    fail_check "serve: --ctx-size, the old spelling, still works" "invalid value '8' for --ctx-size" "$bin" serve "$model" --ctx-size 8
    fail_check "serve: -t is the threads" "invalid value '0' for -t" "$bin" serve "$model" -t 0
    fail_check "serve: --device cuda is refused with the reason" "--device cuda is not supported" "$bin" serve "$model" --device cuda
else
    echo "ok - serve option spellings # SKIP built without the HTTP server"
fi
# Every command's --help spells the shared options the same way, and names the old ones as aliases.
for cmd in info eval convert synth bench generate tokenize detokenize render parse chat run serve; do
    help=$("$bin" "$cmd" --help 2>&1)
    bad=
    case $cmd in
    chat | run) want=("-t, --threads N" "-c, --ctx N" "-n, --max-tokens N" "--device cpu|cuda") ;;
    generate | eval | bench) want=("-t, --threads N" "-c, --ctx N" "--device cpu|cuda") ;;
    serve) want=("-t, --threads N" "-c, --ctx N" "alias --ctx-size" "--device cpu") ;;
    *) want=() ;;
    esac
    [ "$cmd" = generate ] || [ "$cmd" = bench ] && want+=("-n, --max-tokens N")
    for w in "${want[@]}"; do [[ "$help" == *"$w"* ]] || bad+=" missing '$w';"; done
    # Old spellings appear only as aliases; THREADS/CTX placeholders are N everywhere.
    printf '%s\n' "$help" | grep -E -- '--ctx-size' | grep -qv alias && bad+=" --ctx-size not as an alias;"
    printf '%s\n' "$help" | grep -qE -- '-t THREADS|--threads THREADS|--ctx CTX' && bad+=" a placeholder other than N;"
    if [ -z "$help" ]; then bad+=" no help"; fi
    if [ -z "$bad" ]; then echo "ok - $cmd --help: option spellings"; else echo "not ok - $cmd --help:$bad"; fi
done

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
need_shared "eval --check the golden case" golden/g1-default &&
    ok_check "eval --check the golden case" "$bin" eval "$model" --check "$shared/golden/g1-default"

# ============================================================================================
# --- paths, convert's arguments, --version, generate -p, model vs tokenizer vocabulary
# (what a new user tripped over; this block is kept apart from the option-spelling tests above)
vocab=$shared/vocab/tokenizer.json
unset GPTOSS_TOKENIZER # these checks name their tokenizer or expect none
for c in "info" "eval:--ids 1" "generate:--ids 1 -n 1" "convert:--to gguf $tmp/e.gguf" "chat" "run:-p hi" "serve" \
    "bench:-n 1"; do
    cmd=${c%%:*} rest=
    [[ "$c" == *:* ]] && rest=${c#*:}
    # shellcheck disable=SC2086
    fail_check "$cmd: an empty model path" "empty path" "$bin" "$cmd" "" $rest </dev/null
done
fail_check "tokenize: an empty path" "empty path" "$bin" tokenize "" </dev/null
fail_check "convert: an output file without --to" "--to gguf is missing before the output file" \
    "$bin" convert "$model" "$tmp/o.gguf"
fail_check "convert: no output" "--to gguf OUT.gguf is required" "$bin" convert "$model"
[ ! -e "$tmp/o.gguf" ] && echo "ok - convert without --to wrote nothing" || echo "not ok - convert without --to wrote $tmp/o.gguf"

# --version: the release of include/gptoss.h (and VERSION), then `git describe` in a git checkout
want=$(sed -n 's/^#define GPTOSS_VERSION "\(.*\)"$/\1/p' "${GPTOSS_ROOT:-.}/include/gptoss.h")
ok_check "--version" "$bin" --version
case $out in
"gptoss $want" | "gptoss $want ("*")") [ -n "$want" ] && echo "ok - --version prints 'gptoss $want ...'" ||
    echo "not ok - include/gptoss.h has no GPTOSS_VERSION" ;;
*) echo "not ok - --version printed '$out', want 'gptoss $want [(git describe)]' (GPTOSS_VERSION)" ;;
esac
[ "$want" = "$(cat "${GPTOSS_ROOT:-.}/VERSION")" ] && echo "ok - VERSION and GPTOSS_VERSION agree" ||
    echo "not ok - VERSION says '$(cat "${GPTOSS_ROOT:-.}/VERSION")', include/gptoss.h '$want'"

if need_shared "generate -p and vocabulary checks" vocab/tokenizer.json; then
    tm=$tmp/tok-model
    if "$bin" synth --out "$tm" --tokenizer "$vocab" --seed 3 >/dev/null 2>&1; then
        # generate -p TEXT: the model's tokenizer encodes it; the same ids as tokenize + --ids
        ok_check "generate -p TEXT" "$bin" generate "$tm" -p "Hello world" -n 4 --temperature 0 --quiet
        by_text=$out
        ids=$(printf 'Hello world' | "$bin" tokenize "$tm")
        ok_check "generate --ids (of tokenize)" "$bin" generate "$tm" --ids "$ids" -n 4 --temperature 0 --quiet
        if [ -n "$by_text" ] && [ "$(printf '%s' "$by_text" | wc -w)" -eq 4 ] && [ "$by_text" = "$out" ]; then
            echo "ok - generate -p gives what --ids of its tokens give: $by_text"
        else
            echo "not ok - generate -p gave '$by_text', --ids '$ids' gave '$out'"
        fi
    else
        echo "not ok - synth --tokenizer for generate -p"
    fi
    fail_check "generate: -p and --ids together" "not both" "$bin" generate "$model" -p "hi" --ids "1" -n 1
    fail_check "generate -p: a model without a tokenizer" "no tokenizer.json" "$bin" generate "$model" -p "hi" -n 1

    # a model whose vocabulary (1024) cannot hold its tokenizer's ids is refused at load
    mismatch="smaller than the tokenizer's 201088 ids"
    fail_check "chat: model vocabulary below the tokenizer's" "$mismatch" "$bin" chat "$model" --tokenizer "$vocab" </dev/null
    fail_check "run: model vocabulary below the tokenizer's" "$mismatch" "$bin" run "$model" -p hi --tokenizer "$vocab"
    fail_check "generate -p: model vocabulary below the tokenizer's" "$mismatch" \
        "$bin" generate "$model" -p hi -n 1 --tokenizer "$vocab"
    if "$bin" serve --help 2>&1 | grep -q "without the HTTP server"; then
        echo "ok - serve: model vocabulary below the tokenizer's # SKIP built without the HTTP server"
    else
        fail_check "serve: model vocabulary below the tokenizer's" "$mismatch" \
            "$bin" serve "$model" --tokenizer "$vocab" --host 127.0.0.1 --port 0
    fi
fi
exit 0
