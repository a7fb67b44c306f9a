#!/usr/bin/env bash
# cpu.sh GPTOSS_BIN: CPU speed on a full-size gpt-oss-20b-shaped random checkpoint (synthesized once
# into ${GPTOSS_CACHE:-~/.cache/gptoss}/synth-20b, outside the repository), in the default (bf16
# attention, unembedding converted to Q8_0 at load, bf24 KV cache), --q8 (attention too) and
# --keep-dense (dense weights as stored) modes; then a full context (8064 prompt tokens in the
# library's default 128-token chunks, 128 decoded: all 8192 positions) for the peak RSS: default,
# --kv f32 (the cache as computed) and --q8 --kv f16 (the opt-ins together); then the numerics lines
# on the golden cases (default, --kv f32, --q8, --keep-dense, --kv f16, --exact: max abs logit
# difference, greedy continuation identical or not).
# BENCH_THREADS (default 2), BENCH_REPS (default 1), BENCH_P (512), BENCH_N (128), BENCH_MODES
# (default "default --q8 --keep-dense"; "default" is the plain command), BENCH_FULL (default 1; 0
# skips the full-context runs, ~4 minutes each on 2 cores).
set -u
bin=${1:?usage: bench/cpu.sh GPTOSS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
cache=${GPTOSS_CACHE:-$HOME/.cache/gptoss}
model=$cache/synth-20b
t=${BENCH_THREADS:-2} r=${BENCH_REPS:-1} p=${BENCH_P:-512} n=${BENCH_N:-128}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
bench_synth "$bin" "$model" 20b || { echo "cpu bench: synth failed"; exit 1; }
cat "$model/model.safetensors" > /dev/null # warm page cache: open time is measured warm
for mode in ${BENCH_MODES:-default --q8 --keep-dense}; do
    [ "$mode" = default ] && mode=
    echo "== gptoss bench 20b ${mode:-(default: bf16 attention, Q8_0 unembedding, bf24 KV cache)} -t $t -r $r"
    "$bin" bench "$model" -p "$p" -n "$n" -t "$t" -r "$r" --ctx 8192 $mode || exit 1
done
if [ "${BENCH_FULL:-1}" != 0 ]; then
    for mode in default --kv,f32 --q8,--kv,f16; do
        [ "$mode" = default ] && mode=
        mode=${mode//,/ }
        echo "== gptoss bench 20b, full 8192-token context ${mode:-(default)} -t $t"
        "$bin" bench "$model" -p 8064 -n 128 -t "$t" -r 1 --ctx 8192 --batch 128 $mode || exit 1
    done
fi
golden=${GPTOSS_SHARED:-$here/../../shared}/golden
[ -d "$golden" ] || { echo "numerics: no goldens at $golden"; exit 0; }
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}; name=$(basename "$case_dir")
    prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
    want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
    k=$(echo "$want" | wc -w)
    for mode in "" "--kv f32" "--q8" "--keep-dense" "--kv f16" "--exact"; do
        d=$("$bin" eval "$case_dir/model" --check "$case_dir" --tolerance 1e9 $mode 2>&1 | sed 's/ over.*//')
        g=$("$bin" generate "$case_dir/model" --ids "$prompt" -n "$k" --temperature 0 --quiet $mode 2>&1)
        [ "$g" = "$want" ] && gm=identical || gm=DIFFERENT
        echo "numerics: $name ${mode:-default}: $d, greedy $gm"
    done
done
