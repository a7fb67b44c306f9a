#!/usr/bin/env bash
# t_cuda.sh: the CUDA backend end to end: every golden case with --device cuda (decode one token at
# a time, one prefill batch, batches of 3 across the sliding-window ring buffer) within 1e-3 of the
# reference logits, and greedy continuations equal. SKIPs with a clear line when the binary was
# built without CUDA=1 or no GPU is usable.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
golden=$GPTOSS_SHARED/golden
need_shared "cuda golden" golden || exit 0
first=$(ls -d "$golden"/*/ | head -1)
probe=$("$bin" eval "${first%/}/model" --ids "1" --device cuda 2>&1 >/dev/null)
case "$probe" in
*"no CUDA backend"*) echo "ok - cuda golden # SKIP not built with CUDA=1"; exit 0 ;;
*"no CUDA device"*) echo "ok - cuda golden # SKIP no CUDA device"; exit 0 ;;
esac
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}
    name=$(basename "$case_dir")
    [ -f "$case_dir/case.json" ] || continue
    for layout in model model/original; do
        for mode in "" "--prefill" "--prefill --batch 3"; do
            out=$("$bin" eval "$case_dir/$layout" --check "$case_dir" --device cuda $mode 2>&1)
            if [ $? -eq 0 ]; then echo "ok - cuda golden $name $layout ${mode:-decode}: $out"
            else echo "not ok - cuda golden $name $layout ${mode:-decode}: $out"; fi
        done
        prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
        want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
        n=$(echo "$want" | wc -w)
        got=$("$bin" generate "$case_dir/$layout" --ids "$prompt" -n "$n" --temperature 0 --quiet --device cuda 2>&1)
        if [ "$got" = "$want" ]; then echo "ok - cuda golden $name $layout greedy continuation ($n tokens)"
        else echo "not ok - cuda golden $name $layout greedy: want '$want' got '$got'"; fi
    done
done
