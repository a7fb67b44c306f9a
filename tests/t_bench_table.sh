#!/usr/bin/env bash
# t_bench_table.sh: bench/table.sh on a tiny synthesized model, with tests/llama_bench_double.sh
# standing in for llama.cpp's llama-bench: every command it runs succeeds, the table has one row per
# engine and mode with the double's rates, gptoss's own rates from `gptoss bench --json`, a peak RSS,
# a bound and its fraction; GPTOSS_CPU rows name the kernels; a cached GGUF without the tokenizer
# llama.cpp needs is written again with it; without LLAMA_BENCH a line says how to add llama.cpp's
# rows; a failing llama-bench fails the script and its row says so. Speeds are not judged (the table
# on a full-size model is bench/RESULTS.md's business).
set -u
bin=${GPTOSS_BIN:?}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=${GPTOSS_TMP:?}/t_bench_table
rm -rf "$tmp"
mkdir -p "$tmp"
double=$root/tests/llama_bench_double.sh
if [ ! -x /usr/bin/time ]; then
    echo "ok - bench table # SKIP no /usr/bin/time (Debian package time)"
    exit 0
fi
table() { # OUT ENV...: bench/table.sh on the tiny model with ENV
    local out=$1
    shift
    env GPTOSS_CACHE="$tmp/cache" BENCH_TABLE_PRESET=tiny BENCH_P=16 BENCH_N=4 BENCH_THREADS=2 "$@" \
        bash "$root/bench/table.sh" "$bin" >"$out" 2>&1
}
check() { # NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fi
}
row() { grep -F "| $1" "$tmp/$2" | head -n 1; }
# a row's cell N (1: the label) as printed
cell() { row "$1" "$2" | awk -F' [|] ' -v n="$3" '{ gsub(/^[|] | [|]$/, ""); print $n }' | sed 's/ *|$//'; }
num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?( ± [0-9]+(\.[0-9]+)?)?$ ]] && awk -v x="${1%% *}" 'BEGIN { exit !(x > 0) }'; }

# 0. a cached GGUF without a tokenizer (as synth writes by default) is written again with one
tok=${GPTOSS_SHARED:-$root/../shared}/vocab/tokenizer.json
have_tok=0
[ -f "$tok" ] && have_tok=1
mkdir -p "$tmp/cache"
"$bin" synth --out "$tmp/cache/synth-tiny.gguf" --preset tiny --seed 0 >/dev/null 2>&1 ||
    echo "not ok - synth of a GGUF without a tokenizer"

# 1. with both llama-bench doubles (the second with other rates, as a GGML_CPU_REPACK=OFF build)
cat >"$tmp/no_repack.sh" <<EOF
#!/usr/bin/env bash
LLAMA_DOUBLE_PP_TS=77.5 LLAMA_DOUBLE_TG_TS=8.5 exec "$double" "\$@"
EOF
chmod +x "$tmp/no_repack.sh"
cpus="default avx2"
[ -n "${GPTOSS_TEST_SANITIZED:-}" ] && cpus=default # 3 runs fewer where each is slow
table "$tmp/full" LLAMA_BENCH="$double" LLAMA_BENCH_NO_REPACK="$tmp/no_repack.sh" BENCH_CPUS="$cpus"
s=$?
check "table.sh with llama-bench exits 0 and prints the table" \
    test "$s" = 0 -a -n "$(grep -F '| engine, mode | pp16 tok/s | tg4 tok/s | peak RSS |' "$tmp/full")"
check "no run failed" test -z "$(grep -E 'failed' "$tmp/full")"
n_cpus=$(echo "$cpus" | wc -w)
check "every command was run (2 llama-bench, $((3 * n_cpus)) gptoss bench)" \
    test "$(grep -c '^== llama.cpp' "$tmp/full")" = 2 -a "$(grep -c '^== gptoss on' "$tmp/full")" = $((3 * n_cpus))
check "llama-bench ran on the GGUF with the table's options" \
    grep -qF "llama_bench_double.sh -m $tmp/cache/synth-tiny.gguf -p 16 -n 4 -t 2 -r 1 -o json" "$tmp/full"
check "repacking-on row: the double's pp and tg, a peak RSS" \
    test "$(cell 'llama.cpp, CPU weight repacking on' full 2)" = 100.50 -a \
    "$(cell 'llama.cpp, CPU weight repacking on' full 3)" = 10.25 -a \
    -n "$(cell 'llama.cpp, CPU weight repacking on' full 4 | grep -E '^[0-9.]+ (MB|GB)$')"
check "repacking-off row from LLAMA_BENCH_NO_REPACK" \
    test "$(cell 'llama.cpp, repacking off' full 2)" = 77.50 -a "$(cell 'llama.cpp, repacking off' full 3)" = 8.50
ok=1
labels=("gptoss on the same GGUF (kernels" "gptoss on safetensors, default (kernels" "gptoss on safetensors, \`--q8\` (kernels")
[ "$n_cpus" = 2 ] && labels+=("gptoss on the same GGUF (kernels avx2, GPTOSS_CPU=avx2)"
    "gptoss on safetensors, default (kernels avx2, GPTOSS_CPU=avx2)" "gptoss on safetensors, \`--q8\` (kernels avx2, GPTOSS_CPU=avx2)")
for label in "${labels[@]}"; do
    pp=$(cell "$label" full 2) tg=$(cell "$label" full 3) rss=$(cell "$label" full 4)
    bound=$(cell "$label" full 5) frac=$(cell "$label" full 6)
    if ! num "$pp" || ! num "$tg" || ! [[ $rss =~ ^[0-9.]+\ (MB|GB)$ ]] ||
        ! [[ $bound =~ ^[0-9.]+\ \([0-9.]+\ GB/s\ over\ [0-9.]+\ (MB|GB)\ a\ token\)$ ]] || ! [[ $frac =~ ^[0-9]+%\ \([0-9]+%\ beside\ each\ decode\)$ ]]; then
        echo "# row '$label': pp '$pp' tg '$tg' rss '$rss' bound '$bound' of '$frac'"
        ok=0
    fi
done
check "gptoss rows ($cpus): rates, peak RSS, bound and fraction" test $ok = 1
check "the gptoss rows come in the table's order: GGUF, safetensors, --q8" test "$(grep -F '| gptoss' "$tmp/full" |
    head -n 3 | awk 'NR == 1 && /same GGUF/ || NR == 2 && /safetensors, default/ || NR == 3 && /--q8/ { k++ } END { print k }')" = 3
if [ $have_tok = 1 ]; then
    check "the cached GGUF without a tokenizer was written again, and now has one" \
        test -n "$(grep -F 'it has no tokenizer in its metadata' "$tmp/full")" -a \
        -n "$("$bin" info "$tmp/cache/synth-tiny.gguf" 2>&1 | grep -E '^tokenizer +gpt2, 201088 tokens')"
    check "the safetensors checkpoint has the GGUF's vocabulary (the same weights)" \
        grep -q '"vocab_size": 201088' "$tmp/cache/synth-tiny/config.json"
else
    echo "ok - the GGUF's tokenizer # SKIP no $tok (../shared)"
fi
check "a line names the CPU, its flags and the threads" grep -qE '^CPU: .* \| flags: .* \| .*2 threads \|' "$tmp/full"
check "the llama.cpp build is named" grep -qx 'llama.cpp build: double00' "$tmp/full"

# 2. without LLAMA_BENCH: gptoss's rows and how to add llama.cpp's (the synths are reused)
table "$tmp/plain" LLAMA_BENCH=
s=$?
check "without LLAMA_BENCH: exit 0, three gptoss rows, no llama.cpp row" \
    test "$s" = 0 -a "$(grep -c '^| gptoss on' "$tmp/plain")" = 3 -a -z "$(grep -F '| llama.cpp' "$tmp/plain")"
check "without LLAMA_BENCH: a line says how to add llama.cpp's rows" grep -q 'LLAMA_BENCH=/path/to/llama-bench' "$tmp/plain"

# 3. a llama-bench that fails: the script fails and the row says so; the gptoss rows are still there
cat >"$tmp/broken.sh" <<'EOF'
#!/usr/bin/env bash
echo "error: failed to load model" >&2
exit 3
EOF
chmod +x "$tmp/broken.sh"
table "$tmp/broken" LLAMA_BENCH="$tmp/broken.sh"
s=$?
check "a failing llama-bench: non-zero exit, its row says failed, gptoss rows still printed" \
    test "$s" != 0 -a -n "$(grep -F '| llama.cpp, CPU weight repacking on (its default) | failed: exit 3' "$tmp/broken")" \
    -a "$(grep -c '^| gptoss on' "$tmp/broken")" = 3
rm -rf "$tmp"
