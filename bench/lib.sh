# shellcheck shell=bash
# lib.sh: helpers the bench scripts share (sourced, not run).

# bench_synth BIN OUT PRESET: write a random-weight checkpoint of PRESET's shape (seed 0) to OUT (a
# directory of safetensors, or one .gguf file) unless it is already there; 0 on success.
bench_synth() {
    local bin=$1 out=$2 preset=$3 file=$2
    [ "${out%.gguf}" = "$out" ] && file=$out/model.safetensors
    [ -f "$file" ] && return 0
    local log
    mkdir -p "$(dirname "$out")" || return 1
    if ! log=$("$bin" synth --out "$out" --preset "$preset" --seed 0 --force 2>&1); then
        echo "$log" >&2
        return 1
    fi
    # A freshly written file sits in the page cache in 4 KiB pages; a downloaded model read back after
    # a reboot sits in 2 MiB folios (read-ahead, or gptoss's MADV_HUGEPAGE faults). Measure the second:
    # write it out, drop it from the cache, and let the caller's warm-up read it back.
    sync "$file" && dd if="$file" iflag=nocache count=0 status=none
}
