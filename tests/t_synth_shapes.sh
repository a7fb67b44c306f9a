#!/usr/bin/env bash
# t_synth_shapes.sh: synthesized models of shapes unlike the goldens (head_dim 64 with 64/8 heads,
# many experts, one expert per token, windows shorter and longer than the prompt, sharded and
# original layouts) must give the same logits as the naive reference forward in every mode. Under
# the sanitizer build (GPTOSS_TEST_SANITIZED=1) this runs the same shapes; they are kept small.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
ref=${GPTOSS_BUILD:?}/tests/test_reference_forward
tmp=${GPTOSS_TMP:?}/synth-shapes
rm -rf "$tmp" # synth refuses to overwrite what an earlier run left
mkdir -p "$tmp"
synth() { # name args...
    local name=$1; shift
    if "$bin" synth --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1; then
        echo "ok - synth $name"
    else
        echo "not ok - synth $name: $(tail -1 "$tmp/$name.log")"
    fi
}
synth heads64 --layers 2 --hidden 256 --intermediate 64 --heads 64 --kv-heads 8 --head-dim 64 --experts 8 \
    --experts-per-token 4 --vocab 300 --window 8 --seed 11
synth experts128 --layers 2 --hidden 64 --intermediate 96 --heads 4 --kv-heads 2 --head-dim 16 --experts 128 \
    --experts-per-token 4 --vocab 256 --window 64 --seed 12 --shards 3
synth top1win3 --layers 3 --hidden 32 --intermediate 32 --heads 2 --kv-heads 1 --head-dim 8 --experts 4 \
    --experts-per-token 1 --vocab 128 --window 3 --seed 13 --original --f32-norms
"$ref" "$tmp/heads64" 20 1 "$tmp/experts128" 30 2 "$tmp/top1win3" 17 3 "$tmp/top1win3/original" 17 3
# --tokenizer: the written tokenizer files reproduce the published ones, and the model then
# tokenizes and generates like a downloaded one.
vocab_dir=$GPTOSS_SHARED/vocab
if need_shared "synth --tokenizer" vocab/o200k_base.tiktoken vocab/tokenizer.json vocab/tokenizer_config.json; then
    synth withtok --layers 1 --hidden 32 --intermediate 32 --heads 2 --kv-heads 1 --head-dim 16 --experts 4 \
        --experts-per-token 2 --window 8 --tokenizer "$vocab_dir/o200k_base.tiktoken"
    if cmp -s "$tmp/withtok/tokenizer.json" "$vocab_dir/tokenizer.json" &&
       cmp -s "$tmp/withtok/tokenizer_config.json" "$vocab_dir/tokenizer_config.json"; then
        echo "ok - synth --tokenizer from o200k_base.tiktoken writes the published tokenizer files"
    else
        echo "not ok - synth --tokenizer files differ from the published ones"
    fi
    ids=$(printf 'Hello world' | "$bin" tokenize "$tmp/withtok")
    [ "$ids" = "13225 2375" ] && echo "ok - the synthesized model's directory tokenizes ($ids)" ||
        echo "not ok - tokenize via the model directory gave '$ids'"
    cfg_vocab=$(grep -o '"vocab_size": *[0-9]*' "$tmp/withtok/config.json" | grep -o '[0-9]*$')
    [ "$cfg_vocab" = 201088 ] && echo "ok - --tokenizer sets the vocabulary to 201088" ||
        echo "not ok - vocab_size is '$cfg_vocab'"
    out=$("$bin" generate "$tmp/withtok" --ids "$ids" -n 4 --quiet 2>&1)
    [ "$(echo "$out" | wc -w)" = 4 ] && echo "ok - generate on the 201088-vocab model" || echo "not ok - generate: $out"
    if "$bin" synth --out "$tmp/badtok" --tokenizer "$vocab_dir/o200k_base.tiktoken" --vocab 1000 2>"$tmp/badtok.err"; then
        echo "not ok - --vocab below the tokenizer's size was accepted"
    else
        echo "ok - --vocab below the tokenizer's size is refused: $(head -1 "$tmp/badtok.err")"
    fi
fi
