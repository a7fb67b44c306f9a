#!/usr/bin/env bash
# t_golden_modes.sh: the exact path (--exact: scalar reference kernels) keeps matching every golden
# case at 1e-3 with 1 and 2 threads; the fast default gives bit-identical logits with 1 and 2 threads
# and holds the unembedding as Q8_0 (gptoss info); --keep-dense turns that conversion off (logits
# differ from the default's, and match the goldens within 1e-3); the opt-in Q8_0 attention conversion
# (--q8) runs and reports its difference (on the goldens it misses by 0.5 to 4.3, so it stays opt-in);
# so does the opt-in f16 KV cache (--kv f16: ~0.01 from the exact logits on g1 and g2, ~0.7 on g3),
# whose logits must differ from the f32 cache's. The default's bf24 KV cache: --kv f32 (the cache as
# computed) also passes at 0.1, and --exact --kv bf24 stays within 1e-3 of the goldens.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
golden=$GPTOSS_SHARED/golden
need_shared "golden modes" golden || exit 0
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}
    name=$(basename "$case_dir")
    [ -f "$case_dir/case.json" ] || continue
    for t in 1 2; do
        out=$("$bin" eval "$case_dir/model" --check "$case_dir" --exact --tolerance 1e-3 -t $t --prefill --batch 5 2>&1)
        if [ $? -eq 0 ]; then echo "ok - golden $name --exact -t $t: $out"; else echo "not ok - golden $name --exact -t $t: $out"; fi
    done
    a=$("$bin" eval "$case_dir/model" --check "$case_dir" --tolerance 0.1 -t 1 --prefill --logits /tmp/gptoss_t1_$$.f32 2>&1)
    rc_a=$?
    b=$("$bin" eval "$case_dir/model" --check "$case_dir" --tolerance 0.1 -t 2 --prefill --logits /tmp/gptoss_t2_$$.f32 2>&1)
    rc_b=$?
    same_files "golden $name fast kernels: 1 and 2 threads bit-identical" \
        $rc_a /tmp/gptoss_t1_$$.f32 $rc_b /tmp/gptoss_t2_$$.f32 || echo "#   $a / $b"
    out=$("$bin" eval "$case_dir/model" --check "$case_dir" --keep-dense --tolerance 1e-3 -t 2 --prefill \
        --logits /tmp/gptoss_kd_$$.f32 2>&1)
    rc_kd=$?
    if [ $rc_kd -eq 0 ]; then echo "ok - golden $name --keep-dense within 1e-3: $out"; else echo "not ok - golden $name --keep-dense: $out"; fi
    different_files "golden $name --keep-dense turns the default's Q8_0 unembedding off (logits differ)" \
        $rc_kd /tmp/gptoss_kd_$$.f32 $rc_b /tmp/gptoss_t2_$$.f32
    info=$("$bin" info "$case_dir/model" 2>&1)
    if echo "$info" | grep -q "unembedding Q8_0"; then echo "ok - golden $name default holds the unembedding as Q8_0"
    else echo "not ok - golden $name default unembedding is not Q8_0: $(echo "$info" | grep 'weights held')"; fi
    rm -f /tmp/gptoss_t1_$$.f32 /tmp/gptoss_t2_$$.f32 /tmp/gptoss_kd_$$.f32
    out=$("$bin" eval "$case_dir/model" --check "$case_dir" --kv f32 --tolerance 0.1 -t 2 --prefill 2>&1)
    if [ $? -eq 0 ]; then echo "ok - golden $name --kv f32 within 0.1: $out"; else echo "not ok - golden $name --kv f32: $out"; fi
    out=$("$bin" eval "$case_dir/model" --check "$case_dir" --exact --kv bf24 --tolerance 1e-3 2>&1)
    if [ $? -eq 0 ]; then echo "ok - golden $name --exact --kv bf24 within 1e-3: $out"; else echo "not ok - golden $name --exact --kv bf24: $out"; fi
    out=$("$bin" eval "$case_dir/model" --check "$case_dir" --q8 --tolerance 100 2>&1)
    if [ $? -eq 0 ]; then echo "ok - golden $name --q8 runs (informational: $out)"; else echo "not ok - golden $name --q8: $out"; fi
    out=$("$bin" eval "$case_dir/model" --check "$case_dir" --exact --kv f16 --tolerance 100 --logits /tmp/gptoss_kv_$$.f32 2>&1)
    rc_kv=$?
    "$bin" eval "$case_dir/model" --check "$case_dir" --exact --tolerance 100 --logits /tmp/gptoss_ex_$$.f32 >/dev/null 2>&1
    different_files "golden $name --exact --kv f16 runs, rounding the cache (informational: $out)" \
        $rc_kv /tmp/gptoss_kv_$$.f32 $? /tmp/gptoss_ex_$$.f32
    rm -f /tmp/gptoss_kv_$$.f32 /tmp/gptoss_ex_$$.f32
done
