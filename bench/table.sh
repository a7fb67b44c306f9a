#!/usr/bin/env bash
# table.sh GPTOSS_BIN: the side-by-side CPU table of gptoss and llama.cpp on one machine (issue 26):
# pp512 and tg128 tokens/s and peak RSS (as /usr/bin/time -v reports it, file pages included) of
#   - llama-bench on the GGUF, CPU weight repacking on (its default), when LLAMA_BENCH names one;
#   - llama-bench with repacking off, when LLAMA_BENCH_NO_REPACK names one: llama-bench has no
#     run-time switch for it (llama-cli's --no-repack is a common option llama-bench does not parse),
#     so this is a llama-bench built with cmake -DGGML_CPU_REPACK=OFF;
#   - gptoss bench on the same GGUF, on the safetensors checkpoint (default) and with --q8,
# with, for gptoss's rows, the decode bound (tokens/s a plain read of the bytes a token reads allows,
# from gptoss bench --json) and the fraction of it reached (and, in brackets, the mean fraction of the
# bound of the probes beside each decode, gptoss bench's bw_fraction_near). The checkpoints are the same random
# weights (`gptoss synth --preset 20b --seed 0`) as a directory of safetensors and as one GGUF with
# the tokenizer in its metadata (llama.cpp loads no GGUF without one; BENCH_TABLE_TOKENIZER, default
# ../shared/vocab/tokenizer.json), written once under ${GPTOSS_CACHE:-~/.cache/gptoss} (about 14 GB
# each; bench/cpu.sh uses the same directory).
# BENCH_THREADS (2), BENCH_REPS (1; llama-bench's -r too), BENCH_P (512), BENCH_N (128), BENCH_CPUS
# ("default": gptoss's own kernel pick; "default avx2" adds rows with GPTOSS_CPU=avx2, any
# GPTOSS_CPU name works), BENCH_TABLE_PRESET (20b; tests use tiny). Exits non-zero if a run failed.
set -u
bin=${1:?usage: bench/table.sh GPTOSS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
cache=${GPTOSS_CACHE:-$HOME/.cache/gptoss}
preset=${BENCH_TABLE_PRESET:-20b}
model=$cache/synth-$preset gguf=$cache/synth-$preset.gguf
t=${BENCH_THREADS:-2} r=${BENCH_REPS:-1} p=${BENCH_P:-512} n=${BENCH_N:-128}
cpus=${BENCH_CPUS:-default}
[ -x /usr/bin/time ] || { echo "bench table: needs GNU time as /usr/bin/time (Debian package time)"; exit 1; }
# the tokenizer goes into both (the same weights: with it the vocabulary is its 201088 ids, 20b's own)
tok=${BENCH_TABLE_TOKENIZER-${GPTOSS_SHARED:-$here/../../shared}/vocab/tokenizer.json}
if [ -n "$tok" ] && [ ! -f "$tok" ]; then
    echo "bench table: no tokenizer at $tok (BENCH_TABLE_TOKENIZER): the GGUF gets none, and llama.cpp cannot load it"
    tok=
fi
bench_synth "$bin" "$model" "$preset" "$tok" || { echo "bench table: synth of $model failed"; exit 1; }
bench_synth "$bin" "$gguf" "$preset" "$tok" || { echo "bench table: synth of $gguf failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gptoss-table.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
rc=0

# run KEY LABEL CMD...: CMD under /usr/bin/time -v; its stdout, stderr, time report and exit status
# go to $work/KEY.*, and KEY LABEL to the table's rows (in the order run, re-sorted by order below).
run() {
    local key=$1 label=$2
    shift 2
    echo "== $label: $*"
    /usr/bin/time -v -o "$work/$key.time" "$@" >"$work/$key.out" 2>"$work/$key.err"
    local s=$?
    echo "$s" >"$work/$key.rc"
    printf '%s\t%s\n' "$key" "$label" >>"$work/rows"
    if [ "$s" != 0 ]; then
        echo "   failed (exit $s): $(tail -n 3 "$work/$key.err" | tr '\n' ' ')"
        rc=1
    fi
}
# gptoss runs one GPTOSS_CPU value: "default" unsets it (the library picks the best the CPU runs)
gptoss_env() { if [ "$1" = default ]; then echo "-u GPTOSS_CPU"; else echo "GPTOSS_CPU=$1"; fi; }

# The GGUF first (both engines), then the safetensors: each file is read into the page cache once
# before its runs (a 20b file each; both do not fit in a small machine's memory together).
cat "$gguf" >/dev/null
notes=()
if [ -n "${LLAMA_BENCH:-}" ]; then
    if [ -x "$LLAMA_BENCH" ]; then
        run llama_on "llama.cpp, CPU weight repacking on (its default)" \
            "$LLAMA_BENCH" -m "$gguf" -p "$p" -n "$n" -t "$t" -r "$r" -o json
    else
        echo "bench table: LLAMA_BENCH=$LLAMA_BENCH is not an executable file"
        rc=1
    fi
    if [ -z "${LLAMA_BENCH_NO_REPACK:-}" ]; then
        notes+=("llama.cpp, repacking off: not run. llama-bench has no run-time switch for it; build llama.cpp again with cmake -DGGML_CPU_REPACK=OFF and set LLAMA_BENCH_NO_REPACK=/path/to/that/llama-bench.")
    elif [ -x "$LLAMA_BENCH_NO_REPACK" ]; then
        run llama_off "llama.cpp, repacking off (a build with GGML_CPU_REPACK=OFF)" \
            "$LLAMA_BENCH_NO_REPACK" -m "$gguf" -p "$p" -n "$n" -t "$t" -r "$r" -o json
    else
        echo "bench table: LLAMA_BENCH_NO_REPACK=$LLAMA_BENCH_NO_REPACK is not an executable file"
        rc=1
    fi
else
    notes+=("llama.cpp: not run. Add its rows with LLAMA_BENCH=/path/to/llama-bench (repacking on, its default) and LLAMA_BENCH_NO_REPACK=/path/to/a llama-bench built with -DGGML_CPU_REPACK=OFF.")
fi
for cpu in $cpus; do
    # shellcheck disable=SC2046 # gptoss_env gives env's own words
    run "gguf_$cpu" "gptoss on the same GGUF" env $(gptoss_env "$cpu") \
        "$bin" bench "$gguf" -p "$p" -n "$n" -t "$t" -r "$r" --json
done
cat "$model/model.safetensors" >/dev/null
for cpu in $cpus; do
    # shellcheck disable=SC2046
    run "st_$cpu" "gptoss on safetensors, default" env $(gptoss_env "$cpu") \
        "$bin" bench "$model" -p "$p" -n "$n" -t "$t" -r "$r" --json
    # shellcheck disable=SC2046
    run "q8_$cpu" "gptoss on safetensors, \`--q8\`" env $(gptoss_env "$cpu") \
        "$bin" bench "$model" -p "$p" -n "$n" -t "$t" -r "$r" --json --q8
done

echo
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' |
        grep -xE 'avx2|avx512f|avx512_vnni|avx512_bf16|amx_tile|amx_int8|amx_bf16' | paste -sd ' ')
cpu_name=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "CPU: ${cpu_name:-unknown} | flags: ${flags:-none of avx2/avx512f/avx512_vnni/amx} | $(nproc) CPUs online," \
     "$t threads | $(date -u '+%Y-%m-%d %H:%M UTC') | $preset synth (seed 0), -p $p -n $n -r $r"
python3 - "$work" "$p" "$n" "$cpus" <<'EOF' || rc=1
import json, os, re, sys
work, p, n, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

def read(key, ext):
    path = os.path.join(work, key + "." + ext)
    return open(path).read() if os.path.exists(path) else ""

def peak_rss(key):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", read(key, "time"))
    if not m: return "?"
    b = int(m.group(1)) * 1024
    return "%.2f GB" % (b / 1e9) if b >= 1e9 else "%.0f MB" % (b / 1e6)

def rate(mean, sd):
    return "%.2f ± %.2f" % (mean, sd) if sd > 0 else "%.2f" % mean

def llama_row(key):
    tests = json.loads(read(key, "out"))
    pp = [x for x in tests if x["n_prompt"] == p and x["n_gen"] == 0]
    tg = [x for x in tests if x["n_gen"] == n and x["n_prompt"] == 0]
    if not pp or not tg: raise ValueError("no pp%d/tg%d entries in llama-bench's JSON" % (p, n))
    return [rate(pp[0]["avg_ts"], pp[0]["stddev_ts"]), rate(tg[0]["avg_ts"], tg[0]["stddev_ts"]), peak_rss(key),
            "", ""], pp[0].get("build_commit")

def gptoss_row(key):
    j = json.loads(read(key, "out"))
    per_token = j["bytes_per_token"] + j["kv_bytes_per_token"]
    per_token = "%.2f GB" % (per_token / 1e9) if per_token >= 1e8 else "%.2f MB" % (per_token / 1e6)
    bound = "%.2f (%.1f GB/s over %s a token)" % (j["decode_bound_tok_s"], j["read_bw_gb_s"], per_token)
    return [rate(j["prefill_tok_s"], j["prefill_tok_s_sd"]), rate(j["decode_tok_s"], j["decode_tok_s_sd"]),
            peak_rss(key), bound, "%.0f%%" % (100 * j["bw_fraction"]) +
            (" (%.0f%% beside each decode)" % (100 * j["bw_fraction_near"]) if j.get("bw_fraction_near") else "")
            ], j["cpu_kernels"]

rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "rows"))] if os.path.exists(
    os.path.join(work, "rows")) else []
order = ["llama_on", "llama_off"] + [k + "_" + c for c in cpus for k in ("gguf", "st", "q8")]
rows.sort(key=lambda kl: order.index(kl[0]) if kl[0] in order else len(order))
print("| engine, mode | pp%d tok/s | tg%d tok/s | peak RSS | decode bound tok/s (read bandwidth over bytes a token) | of bound |" % (p, n))
print("|---|---|---|---|---|---|")
failed, builds = 0, set()
for key, label in rows:
    status = read(key, "rc").strip()
    try:
        if status != "0": raise ValueError("exit %s" % status)
        if key.startswith("llama"):
            cells, build = llama_row(key)
            if build: builds.add(build)
        else:
            cells, kernels = gptoss_row(key)
            cpu = key.split("_", 1)[1]
            label += " (kernels %s%s)" % (kernels, "" if cpu == "default" else ", GPTOSS_CPU=" + cpu)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        cells, failed = ["failed: %s" % e, "", "", "", ""], 1
    print("| " + " | ".join([label] + cells) + " |")
if builds: print("llama.cpp build: " + ", ".join(sorted(builds)))
sys.exit(failed)
EOF
for note in "${notes[@]}"; do echo "$note"; done
exit $rc
