#!/usr/bin/env bash
# llama_bench_double.sh: a test double of llama.cpp's llama-bench for tests/t_bench_table.sh. Takes the
# options bench/table.sh passes (-m -p -n -t -r -o json), refuses anything else as llama-bench does
# (exit 1), and prints one pp and one tg test in the shape of llama-bench's `-o json` (an array of
# objects with its fields in its order); the rates come from LLAMA_DOUBLE_PP_TS and LLAMA_DOUBLE_TG_TS.
set -u
m="" p=512 n=128 t=4 r=5 o=md
while [ $# -gt 0 ]; do
    case $1 in
        -m|--model) m=$2 ;;
        -p|--n-prompt) p=$2 ;;
        -n|--n-gen) n=$2 ;;
        -t|--threads) t=$2 ;;
        -r|--repetitions) r=$2 ;;
        -o|--output) o=$2 ;;
        *) echo "error: invalid parameter for argument: $1" >&2; exit 1 ;;
    esac
    shift 2 || { echo "error: invalid parameter for argument: $1" >&2; exit 1; }
done
[ "$o" = json ] || { echo "double: only -o json is implemented" >&2; exit 1; }
[ -f "$m" ] || { echo "llama_model_load: error loading model: failed to open $m" >&2; exit 1; }
size=$(stat -c %s "$m")
echo "load_backend: loaded CPU backend (double)" >&2
test_json() { # N_PROMPT N_GEN TS
    local ts=$3 ns
    ns=$(awk -v k=$(($1 + $2)) -v ts="$ts" 'BEGIN { printf "%d", k * 1e9 / ts }')
    cat <<JSON
  {
    "build_commit": "double00",
    "build_number": 1,
    "cpu_info": "test double CPU",
    "gpu_info": "",
    "backends": "CPU",
    "model_filename": "$m",
    "model_type": "gpt-oss 20B MXFP4 MoE",
    "model_size": $size,
    "model_n_params": 20914757184,
    "n_batch": 2048,
    "n_ubatch": 512,
    "n_threads": $t,
    "cpu_mask": "0x0",
    "cpu_strict": false,
    "poll": 50,
    "type_k": "f16",
    "type_v": "f16",
    "n_gpu_layers": 99,
    "n_cpu_moe": 0,
    "split_mode": "layer",
    "main_gpu": 0,
    "no_kv_offload": false,
    "flash_attn": -1,
    "devices": "auto",
    "tensor_split": "0.00",
    "tensor_buft_overrides": "none",
    "load_mode": "mmap",
    "embeddings": false,
    "no_op_offload": 0,
    "no_host": false,
    "fit_target": 0,
    "fit_min_ctx": 0,
    "n_prompt": $1,
    "n_gen": $2,
    "n_depth": 0,
    "test_time": "2026-12-07T12:00:00Z",
    "avg_ns": $ns,
    "stddev_ns": 0,
    "avg_ts": $ts,
    "stddev_ts": 0.000000,
    "samples_ns": [ $(for _ in $(seq "$r"); do printf '%s, ' "$ns"; done | sed 's/, $//') ],
    "samples_ts": [ $(for _ in $(seq "$r"); do printf '%s, ' "$ts"; done | sed 's/, $//') ]
  }
JSON
}
echo "["
test_json "$p" 0 "${LLAMA_DOUBLE_PP_TS:-100.5}"
echo ","
test_json 0 "$n" "${LLAMA_DOUBLE_TG_TS:-10.25}"
echo "]"
