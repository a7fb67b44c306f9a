#!/usr/bin/env bash
# attention.sh GPTOSS_BIN: the CPU attention kernel alone (bench/attention_bench.c), one decode
# token over a 20b-shaped full-attention cache at 640, 4096 and 8192 keys, on one thread.
# BENCH_ATTENTION_REPS (default 5): repetitions, best kept.
set -u
bin=${1:?usage: bench/attention.sh GPTOSS_BIN}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$(dirname "$bin")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -I"$root/src" "$root/bench/attention_bench.c" "$build/libgptoss.a" \
    -lm -lpthread -o "$tmp/attention_bench" || exit 1
"$tmp/attention_bench" "${BENCH_ATTENTION_REPS:-5}"
