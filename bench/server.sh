#!/usr/bin/env bash
# server.sh GPTOSS_BIN: aggregate decode throughput of `gptoss serve` (continuous batching) at 1, 4, 8 and
# 16 concurrent streaming clients, on a synthesized model of gpt-oss-20b's shape with fewer layers
# (GPTOSS_BENCH_SERVER_LAYERS, default 2: the full 24 layers decode too slowly on a small CPU; every
# other shape, the 201088 vocabulary included, is 20b's). Closed loop: each client sends requests back
# to back (max_tokens GPTOSS_BENCH_SERVER_TOKENS, default 32) for GPTOSS_BENCH_SERVER_SECONDS (20).
# Tokens/s = tokens sampled by the server in the window / the window (prefill included).
set -u
bin=${1:?usage: bench/server.sh GPTOSS_BIN}
root=$(cd "$(dirname "$0")/.." && pwd)
layers=${GPTOSS_BENCH_SERVER_LAYERS:-2}
secs=${GPTOSS_BENCH_SERVER_SECONDS:-20}
max_tokens=${GPTOSS_BENCH_SERVER_TOKENS:-32}
vocab=${GPTOSS_SHARED:-$root/../shared}/vocab/o200k_base.tiktoken
cache=${GPTOSS_BENCH_CACHE:-${TMPDIR:-/tmp}/gptoss-bench}
model="$cache/synth-20b-${layers}layers"
if "$bin" serve --help 2>&1 | grep -q "built without"; then echo "server bench: SKIP (built without the server)"; exit 0; fi
command -v node >/dev/null || { echo "server bench: SKIP (no node)"; exit 0; }
if [ ! -f "$model/config.json" ]; then
    mkdir -p "$cache"
    "$bin" synth --out "$model" --preset 20b --layers "$layers" --tokenizer "$vocab" --force >/dev/null || exit 1
fi
log=$(mktemp)
"$bin" serve "$model" --port 0 --parallel 16 --ctx 1024 --model-name bench --quiet >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
[ -n "$port" ] || { echo "server bench: the server did not start"; cat "$log"; exit 1; }
echo "server bench: synth 20b shape, $layers layers, vocab 201088; --parallel 16; max_tokens $max_tokens; ${secs}s per point; $(nproc) CPUs"
for c in ${GPTOSS_BENCH_SERVER_CLIENTS:-1 4 8 16}; do
    res=$(node "$root/bench/server.mjs" "http://127.0.0.1:$port" "$c" "$secs" "$max_tokens") || exit 1
    echo "server bench: clients=$c $res"
done
