#!/usr/bin/env bash
# t_golden.sh: every golden case in ../shared/golden, in both layouts, decoding one token at a time
# and prefilling (one batch, and small batches that cross the sliding-window ring buffer):
#   --exact (scalar reference kernels, weights as stored) matches the reference logits within 1e-3;
#   the fast default (activations rounded to 16 bits in the decode kernels, unembedding rounded to Q8_0
#   at load, keys and values cached as bf24) stays within 0.1;
# and greedy generation reproduces the reference continuation exactly in both; the same (fast default)
# under GPTOSS_CPU=avx2, avx2vnni and avx512vnni where the CPU has them (avx512vnni: on a CPU that
# also has VBMI the default is avx512vbmi, the same kernels built with vpermb), and --keep-dense decode
# with each one's precise sibling (avx512vnni: 24-bit activations; avx2: the f32 MXFP4 tiles) within 1e-3.
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
# The AVX2 variants (integer MXFP4 / Q8_0 decode kernels, 16 / 15-bit activations) and avx512vnni
# on CPUs that have them, whatever the start-up choice here: the fast default's 0.1 and greedy identity.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
for variant in avx2 avx2vnni avx512vnni; do
    modes=(":0.1" "--prefill:0.1" "--prefill --batch 3:0.1" "--prefill --keep-dense:1e-3" "--keep-dense:1e-3")
    case $variant in
    avx2) need="avx2 fma" ;;
    avx2vnni) need="avx2 fma avx_vnni" ;;
    avx512vnni) need="avx512f avx512bw avx512vl avx512dq avx512_vnni" ;;
    esac
    have=1
    for f in $need; do echo " $flags " | grep -q " $f " || have=0; done
    if [ $have = 0 ]; then echo "ok - golden GPTOSS_CPU=$variant # SKIP this CPU lacks $need"; continue; fi
    for case_dir in "$golden"/*/; do
        case_dir=${case_dir%/}
        name=$(basename "$case_dir")
        [ -f "$case_dir/case.json" ] || continue
        # one-batch prefill: the f32 prefill tiles (simd_avx2.c), which on weights as stored
        # (--keep-dense) stay within the exact path's 1e-3
        for m in "${modes[@]}"; do
            mode=${m%%:*} tol=${m##*:}
            out=$(GPTOSS_CPU=$variant "$bin" eval "$case_dir/model" --check "$case_dir" --tolerance "$tol" $mode 2>&1)
            if [ $? -eq 0 ]; then echo "ok - golden $name GPTOSS_CPU=$variant ${mode:-decode} (<= $tol): $out"
            else echo "not ok - golden $name GPTOSS_CPU=$variant ${mode:-decode} (<= $tol): $out"; fi
        done
        prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
        want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
        got=$(GPTOSS_CPU=$variant "$bin" generate "$case_dir/model" --ids "$prompt" -n "$(echo "$want" | wc -w)" --temperature 0 --quiet 2>&1)
        if [ -n "$got" ] && [ "$got" = "$want" ]; then echo "ok - golden $name GPTOSS_CPU=$variant greedy continuation"
        else echo "not ok - golden $name GPTOSS_CPU=$variant greedy: want '$want' got '$got'"; fi
    done
done
