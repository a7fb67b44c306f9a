#!/usr/bin/env bash
# constraint.sh GPTOSS_BIN: decode ms per token with and without a constraint (bench/constraint_bench.c)
# on gpt-oss-20b's shape with 2 layers (the 201088 vocabulary included; cached in
# ${GPTOSS_BENCH_CACHE:-/tmp/gptoss-bench}/synth-20b-2layers, as bench/server.sh makes it), batch 1 and
# batch 8, in one run. BENCH_CONSTRAINT_STEPS (32), BENCH_CONSTRAINT_ROUNDS (5), BENCH_THREADS (all).
set -u
bin=${1:?usage: bench/constraint.sh GPTOSS_BIN}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$(dirname "$bin")" && pwd)
shared=${GPTOSS_SHARED:-$root/../shared}
cache=${GPTOSS_BENCH_CACHE:-${TMPDIR:-/tmp}/gptoss-bench}
model="$cache/synth-20b-2layers"
if [ ! -f "$model/config.json" ]; then
    mkdir -p "$cache"
    "$bin" synth --out "$model" --preset 20b --layers 2 --tokenizer "$shared/vocab/o200k_base.tiktoken" --force >/dev/null || exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" "$root/bench/constraint_bench.c" "$build/libgptoss.a" \
    -lm -lpthread -o "$tmp/constraint_bench" || exit 1
echo "constraint bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/constraint_bench" "$model" "$shared/vocab/tokenizer.json" "${BENCH_CONSTRAINT_STEPS:-32}" \
    "${BENCH_CONSTRAINT_ROUNDS:-5}" "${BENCH_THREADS:-0}"
echo "constraint bench: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
