#!/usr/bin/env bash
# t_golden.sh: every golden case in ../shared/golden, in both layouts, decoding one token at a time
# and prefilling (one batch, and small batches that cross the sliding-window ring buffer):
#   --exact (scalar reference kernels, weights as stored) matches the reference logits within 1e-3;
#   the fast default (f32 activations, unembedding rounded to Q8_0 at load, keys and values cached as
#   bf24) stays within 0.1;
# and greedy generation reproduces the reference continuation exactly in both.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
golden=$GPTOSS_SHARED/golden
need_shared "golden" golden || exit 0
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}
    name=$(basename "$case_dir")
    [ -f "$case_dir/case.json" ] || continue
    prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
    want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
    n=$(echo "$want" | wc -w)
    for layout in model model/original; do
        for path in "--exact:1e-3" "default:0.1"; do
            flag=${path%%:*} tol=${path##*:}
            [ "$flag" = default ] && flag=
            for mode in "" "--prefill" "--prefill --batch 3"; do
                out=$("$bin" eval "$case_dir/$layout" --check "$case_dir" --tolerance "$tol" $flag $mode 2>&1)
                if [ $? -eq 0 ]; then echo "ok - golden $name $layout ${flag:-default} ${mode:-decode} (<= $tol): $out"
                else echo "not ok - golden $name $layout ${flag:-default} ${mode:-decode} (<= $tol): $out"; fi
            done
            got=$("$bin" generate "$case_dir/$layout" --ids "$prompt" -n "$n" --temperature 0 --quiet $flag 2>&1)
            if [ "$got" = "$want" ]; then echo "ok - golden $name $layout ${flag:-default} greedy continuation ($n tokens)"
            else echo "not ok - golden $name $layout ${flag:-default} greedy: want '$want' got '$got'"; fi
        done
    done
done
