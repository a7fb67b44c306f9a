#!/usr/bin/env bash
# t_golden.sh: every golden case in ../shared/golden, in both layouts, decoding one token at a time
# and prefilling (one batch, and small batches that cross the sliding-window ring buffer), must match
# the reference logits within 1e-3; greedy generation must reproduce the reference continuation.
set -u
bin=${GPTOSS_BIN:?}
golden=${GPTOSS_SHARED:?}/golden
[ -d "$golden" ] || { echo "ok - golden # SKIP $golden not found"; exit 0; }
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}
    name=$(basename "$case_dir")
    [ -f "$case_dir/case.json" ] || continue
    for layout in model model/original; do
        for mode in "" "--prefill" "--prefill --batch 3"; do
            out=$("$bin" eval "$case_dir/$layout" --check "$case_dir" $mode 2>&1)
            if [ $? -eq 0 ]; then echo "ok - golden $name $layout ${mode:-decode}: $out"
            else echo "not ok - golden $name $layout ${mode:-decode}: $out"; fi
        done
        prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
        want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
        n=$(echo "$want" | wc -w)
        got=$("$bin" generate "$case_dir/$layout" --ids "$prompt" -n "$n" --temperature 0 --quiet 2>&1)
        if [ "$got" = "$want" ]; then echo "ok - golden $name $layout greedy continuation ($n tokens)"
        else echo "not ok - golden $name $layout greedy: want '$want' got '$got'"; fi
    done
done
