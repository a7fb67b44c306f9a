# shellcheck shell=bash
# lib.sh: helpers the bench scripts share (sourced, not run).

# bench_synth BIN OUT PRESET [TOKENIZER]: write a random-weight checkpoint of PRESET's shape (seed 0)
# to OUT (a directory of safetensors, or one .gguf file) unless it is already there; with TOKENIZER
# (a tokenizer.json or o200k_base.tiktoken) the tokenizer goes with it, which llama.cpp needs in a
# GGUF (tokenizer.ggml.*), and a GGUF already there without one is written again. 0 on success.
bench_synth() {
    local bin=$1 out=$2 preset=$3 tok=${4:-} file=$2 log
    [ "${out%.gguf}" = "$out" ] && file=$out/model.safetensors
    if [ -f "$file" ]; then
        [ -z "$tok" ] || [ "$file" != "$out" ] && return 0
        "$bin" info "$out" 2>/dev/null | grep -qE '^tokenizer +none' || return 0
        echo "writing $out again: it has no tokenizer in its metadata, which llama.cpp needs" >&2
    fi
    mkdir -p "$(dirname "$out")" || return 1
    if ! log=$("$bin" synth --out "$out" --preset "$preset" --seed 0 ${tok:+--tokenizer "$tok"} --force 2>&1); then
        echo "$log" >&2
        return 1
    fi
    # A freshly written file sits in the page cache in 4 KiB pages; a downloaded model read back after
    # a reboot sits in 2 MiB folios (read-ahead, or gptoss's MADV_HUGEPAGE faults). Measure the second:
    # write it out, drop it from the cache, and let the caller's warm-up read it back.
    sync "$file" && dd if="$file" iflag=nocache count=0 status=none
}
