#!/usr/bin/env bash
# t_gguf.sh: GGUF end to end. Every golden converted with --dense f32 and bf16 (lossless: experts
# repacked into ggml's MXFP4 order, gate/up split) must give the golden logits within 1e-4 in decode
# and prefill modes on the scalar reference (--exact), within 1e-3 with the fast kernels on the weights
# as stored (--keep-dense: the bound of tests/t_golden_modes.sh; on AMX CPUs prefill carries x as bf16
# high + low parts, ~3e-4), within 0.1 with the fast default (unembedding rounded to Q8_0 at load), and
# the same greedy continuation; --dense q8_0
# must keep the greedy continuation (the max abs logit difference is reported). Also: info, tokenize
# through the GGUF metadata vs tokenizer.json, synth --format gguf, and one-line errors for bad input;
# convert's tokenizer (--tokenizer, found beside the model, or --no-tokenizer; none is an error) and
# its progress lines. The goldens have no tokenizer: they convert with --no-tokenizer. Under
# GPTOSS_CPU=avx2 and avx2vnni (CPUs that have them; g1, g2): the fast default's 0.1 and greedy.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
shared=$GPTOSS_SHARED
golden=$shared/golden
tmp=${GPTOSS_TMP:-$(mktemp -d)}/gguf
rm -rf "$tmp" # convert and synth refuse to overwrite what an earlier run left
mkdir -p "$tmp"
vocab=$shared/vocab/tokenizer.json
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }

if need_shared "gguf goldens" golden; then
for case_dir in "$golden"/*/; do
    case_dir=${case_dir%/}
    name=$(basename "$case_dir")
    [ -f "$case_dir/case.json" ] || continue
    prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
    want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
    n=$(echo "$want" | wc -w)
    rc_bf16=1
    for dense in f32 bf16 q8_0; do
        f=$tmp/$name-$dense.gguf
        if ! msg=$("$bin" convert "$case_dir/model" --to gguf "$f" --dense "$dense" --no-tokenizer 2>&1); then
            nok "gguf $name convert --dense $dense: $msg"; continue
        fi
        [ "$dense" = bf16 ] && rc_bf16=0
        ok "gguf $name convert --dense $dense"
        # lossless files: the reference within 1e-4, the fast kernels on weights as stored within 1e-3,
        # the fast default (its unembedding rounded to Q8_0 at load) within 0.1; a q8_0 file: reported only
        if [ "$dense" = q8_0 ]; then paths="default:100"; else paths="--exact:1e-4 --keep-dense:1e-3 default:0.1"; fi
        for path in $paths; do
            flag=${path%%:*} tol=${path##*:}
            [ "$flag" = default ] && flag=
            for mode in "" "--prefill"; do
                out=$("$bin" eval "$f" --check "$case_dir" --tolerance $tol $flag $mode 2>&1)
                if [ $? -eq 0 ]; then ok "gguf $name $dense ${flag:-default} ${mode:-decode} (tolerance $tol): $out"
                else nok "gguf $name $dense ${flag:-default} ${mode:-decode}: $out"; fi
            done
        done
        for flag in "" "--exact"; do
            [ "$dense" = q8_0 ] && [ -n "$flag" ] && continue
            got=$("$bin" generate "$f" --ids "$prompt" -n "$n" --temperature 0 --quiet $flag 2>&1)
            if [ "$got" = "$want" ]; then ok "gguf $name $dense ${flag:-default} greedy continuation ($n tokens)"
            else nok "gguf $name $dense ${flag:-default} greedy: want '$want' got '$got'"; fi
        done
    done
    # the AVX2 variants' integer ggml-layout decode kernels (16-bit activations) where the CPU has
    # them, whatever the start-up choice here: the fast default's 0.1 and the greedy continuation
    # (g3-long, ~7 s a variant, left to the HF loops of t_golden.sh)
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
    for variant in avx2 avx2vnni; do
        [ "$name" = g3-long ] || [ $rc_bf16 != 0 ] && break
        need="avx2 fma"; [ $variant = avx2vnni ] && need="avx2 fma avx_vnni"
        have=1
        for fl in $need; do echo " $flags " | grep -q " $fl " || have=0; done
        if [ $have = 0 ]; then ok "gguf $name GPTOSS_CPU=$variant # SKIP this CPU lacks $need"; continue; fi
        out=$(GPTOSS_CPU=$variant "$bin" eval "$tmp/$name-bf16.gguf" --check "$case_dir" --tolerance 0.1 2>&1)
        if [ $? -eq 0 ]; then ok "gguf $name bf16 GPTOSS_CPU=$variant decode (tolerance 0.1): $out"
        else nok "gguf $name bf16 GPTOSS_CPU=$variant decode: $out"; fi
        got=$(GPTOSS_CPU=$variant "$bin" generate "$tmp/$name-bf16.gguf" --ids "$prompt" -n "$n" --temperature 0 --quiet 2>&1)
        if [ -n "$got" ] && [ "$got" = "$want" ]; then ok "gguf $name bf16 GPTOSS_CPU=$variant greedy continuation"
        else nok "gguf $name bf16 GPTOSS_CPU=$variant greedy: want '$want' got '$got'"; fi
    done
    # the original/ layout converts to the same file
    if [ -d "$case_dir/model/original" ]; then
        "$bin" convert "$case_dir/model/original" --to gguf "$tmp/$name-orig.gguf" --dense bf16 --no-tokenizer >/dev/null 2>&1
        same_files "gguf $name original/ converts to the same bytes as the HF layout" \
            $? "$tmp/$name-orig.gguf" $rc_bf16 "$tmp/$name-bf16.gguf"
    fi
done
fi

# info
f=$(ls "$tmp"/*-bf16.gguf 2>/dev/null | head -1)
if [ -n "$f" ]; then
    out=$("$bin" info "$f" 2>&1)
    if [ $? -eq 0 ] && echo "$out" | grep -q "GGUF"; then ok "gguf info"; else nok "gguf info: $out"; fi
else
    need_shared "gguf info" golden
fi

# tokenizer: a GGUF carrying tokenizer.json's vocabulary encodes like tokenizer.json
if need_shared "gguf tokenizer" vocab/tokenizer.json golden/g1-default; then
    ft=$tmp/tok.gguf
    if "$bin" convert "$golden/g1-default/model" --to gguf "$ft" --dense bf16 --tokenizer "$vocab" >/dev/null 2>&1; then
        same=0 diff=0
        corpus=$tmp/corpus
        mkdir -p "$corpus"
        i=0
        for src in "$GPTOSS_ROOT"/docs/*.md "$GPTOSS_ROOT"/README.md "$shared/spec/GPT-OSS-SPEC.md" "$GPTOSS_ROOT"/src/tokenizer/tokenizer.c; do
            [ -f "$src" ] || continue
            # whole files and many small slices (spaces, digits, punctuation, unicode)
            cp "$src" "$corpus/$i"; i=$((i + 1))
            split -l 7 -d -a 4 "$src" "$corpus/s$i-"
        done
        printf 'héllo wörld 日本語 🎉  \t\n12345 6789 <|start|>x' >"$corpus/uni"
        first_bad=
        for c in "$corpus"/*; do
            if r=$(same_output "${c##*/}" -- --stdin "$c" "$bin" tokenize "$vocab" -- --stdin "$c" "$bin" tokenize "$ft"); then
                same=$((same + 1))
            else
                diff=$((diff + 1)); [ -n "$first_bad" ] || first_bad=${r%%$'\n'*}
            fi
        done
        if [ "$diff" -eq 0 ] && [ "$same" -gt 0 ]; then ok "gguf tokenizer: $same inputs encode identically via GGUF and tokenizer.json"
        else nok "gguf tokenizer: $diff of $((same + diff)) inputs differ or fail (first: ${first_bad#not ok - })"; fi
        printf '<|start|>user<|message|>hi' >"$tmp/specials.txt"
        same_output "gguf tokenizer: specials" -- --stdin "$tmp/specials.txt" "$bin" tokenize "$vocab" --allow-special \
            -- --stdin "$tmp/specials.txt" "$bin" tokenize "$ft" --allow-special
    else
        nok "gguf convert --tokenizer"
    fi
fi

# synth --format gguf: a random GGUF loads and evaluates
if out=$("$bin" synth --format gguf --out "$tmp/synth.gguf" --preset tiny 2>&1); then
    if out=$("$bin" generate "$tmp/synth.gguf" --ids "1 2 3" -n 4 --temperature 0 --quiet 2>&1); then ok "gguf synth --format gguf generates: $out"
    else nok "gguf synth generate: $out"; fi
else
    nok "gguf synth --format gguf: $out"
fi

# errors: one line naming the file
printf 'GGUF\003\000\000\000' >"$tmp/trunc.gguf"
out=$("$bin" info "$tmp/trunc.gguf" 2>&1)
if [ $? -ne 0 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "trunc.gguf"; then ok "gguf truncated file: $out"
else nok "gguf truncated file: $out"; fi

# a file named .gguf that is not one: one line saying what is there (size, first bytes escaped)
: >"$tmp/empty.gguf"
printf 'GG' >"$tmp/cut.gguf"
printf 'Not Found\n' >"$tmp/page.gguf"
head -c 64 /dev/urandom | tr 'G' 'x' >"$tmp/noise.gguf"
for c in "empty.gguf:empty file (0 bytes)" "cut.gguf:truncated GGUF file: 2 bytes, starting \"GG\"" \
    "page.gguf:not a GGUF file: 10 bytes, starting \"Not Found\\n\" (a GGUF file starts with" \
    "noise.gguf:not a GGUF file: 64 bytes, starting \""; do
    f=${c%%:*} want=${c#*:}
    out=$("$bin" info "$tmp/$f" 2>&1)
    if [ $? -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && [[ "$out" == "gptoss: $tmp/$f: $want"* ]]; then ok "gguf $f: $out"
    else nok "gguf $f: want 'gptoss: $tmp/$f: $want...', got: $out"; fi
done

# convert's tokenizer. No flag and none beside the model: an error naming where it looked, no file.
g1=$golden/g1-default/model
if [ -d "$g1" ] && [ -f "$vocab" ]; then
    rm -f "$tmp/notok.gguf"
    out=$("$bin" convert "$g1" --to gguf "$tmp/notok.gguf" 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] &&
        [[ "$out" == "gptoss: convert: no tokenizer beside the model (looked for tokenizer.json"*"in $g1)"* ]] &&
        [[ "$out" == *"--tokenizer FILE, or --no-tokenizer"* ]] && [ ! -e "$tmp/notok.gguf" ]; then
        ok "gguf convert without a tokenizer is refused: $out"
    else
        nok "gguf convert without a tokenizer (exit $rc, file $([ -e "$tmp/notok.gguf" ] && echo written || echo absent)): $out"
    fi
    # --no-tokenizer: written, with a warning; the file then has no tokenizer to tokenize with
    out=$("$bin" convert "$g1" --to gguf "$tmp/notok.gguf" --no-tokenizer 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -s "$tmp/notok.gguf" ] && echo "$out" | grep -q "^gptoss: warning: $tmp/notok.gguf has no tokenizer (--no-tokenizer)" &&
        ! echo hi | "$bin" tokenize "$tmp/notok.gguf" >/dev/null 2>&1; then
        ok "gguf convert --no-tokenizer writes the file and warns"
    else
        nok "gguf convert --no-tokenizer (exit $rc): $out"
    fi
    out=$("$bin" convert "$g1" --to gguf "$tmp/both.gguf" --no-tokenizer --tokenizer "$vocab" 2>&1)
    if [ $? -eq 2 ] && [[ "$out" == *"contradict"* ]] && [ ! -e "$tmp/both.gguf" ]; then ok "gguf convert --tokenizer with --no-tokenizer: $out"
    else nok "gguf convert --tokenizer with --no-tokenizer: $out"; fi
    # tokenizer.json beside the model, or beside its original/ folder, is found: the same bytes as --tokenizer
    m=$tmp/beside
    rm -rf "$m"
    mkdir -p "$m/original"
    for f in config.json model.safetensors; do ln -s "$g1/$f" "$m/$f"; done
    for f in "$g1"/original/*; do ln -s "$f" "$m/original/"; done
    ln -s "$vocab" "$m/tokenizer.json"
    "$bin" convert "$g1" --to gguf "$tmp/flag.gguf" --tokenizer "$vocab" >/dev/null 2>&1
    for src in "$m" "$m/original"; do
        rm -f "$tmp/found.gguf"
        out=$("$bin" convert "$src" --to gguf "$tmp/found.gguf" 2>&1)
        if [ $? -eq 0 ] && [ -s "$tmp/flag.gguf" ] && cmp -s "$tmp/found.gguf" "$tmp/flag.gguf"; then
            ok "gguf convert ${src#"$tmp"/} finds the tokenizer.json beside it"
        else
            nok "gguf convert ${src#"$tmp"/}: $out"
        fi
    done
    # progress: the same helper and line as synth's (tests/t_synth.sh), shown here through GPTOSS_PROGRESS=1
    out=$(GPTOSS_PROGRESS=1 "$bin" convert "$g1" --to gguf "$tmp/prog.gguf" --no-tokenizer 2>&1 >/dev/null)
    if [ $? -eq 0 ] && echo "$out" | grep -qE '^gptoss convert: 100\.0% of 0\.00 GiB$'; then ok "gguf convert progress: $(echo "$out" | head -1)"
    else nok "gguf convert progress: $out"; fi
    out=$("$bin" convert "$g1" --to gguf "$tmp/noprog.gguf" --no-tokenizer 2>&1 >/dev/null)
    if [ $? -eq 0 ] && ! echo "$out" | grep -q "%"; then ok "gguf convert: no progress off a terminal by default"
    else nok "gguf convert progress off a terminal: $out"; fi
else
    ok "gguf convert tokenizer # SKIP golden g1-default or $vocab not found"
fi
