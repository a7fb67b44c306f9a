#!/usr/bin/env bash
# tokenizer.sh GPTOSS_BIN: encodes a ~10 MB mixed corpus on one thread with gptoss and with
# tiktoken-WASM (npm `tiktoken`, pinned in tests/package-lock.json) in the same run and prints MB/s
# and tokens/s for both; the ids must be identical. Also the time to load tokenizer.json (best of 3)
# against its target, 150 ms (a speed target: judged here, not in `make test`). Needs Node and
# tests/node_modules.
set -u
bin=${1:?gptoss binary}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$(dirname "$bin")" && pwd)
shared=${GPTOSS_SHARED:-$root/../shared}
size=${GPTOSS_BENCH_TOKENIZER_MB:-10}
if ! command -v node >/dev/null || [ ! -d "$root/tests/node_modules/tiktoken" ]; then
    echo "tokenizer: SKIP (node or tests/node_modules missing; run tests/deps.sh)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" "$root/bench/tokenizer_bench.c" "$build/libgptoss.a" -lm -lpthread \
    -o "$tmp/tokenizer_bench" || exit 1
ref=$(GPTOSS_SHARED=$shared node "$root/tests/tokenizer/bench.cjs" "$tmp/corpus.txt" "$size") || exit 1
ours=$("$tmp/tokenizer_bench" "$shared/vocab/tokenizer.json" "$tmp/corpus.txt" "$tmp/corpus.txt.ids")
rc=$?
echo "$ref" "$ours" | awk '{
    tb = $2; tt = $3; ts = $4; gb = $6; gt = $7; gs = $8; same = $9; load = $10
    printf "tokenizer: encode %.1f MB of mixed text, one thread (best of 3)\n", gb / 1e6
    printf "  gptoss         %7.2f MB/s  %6.3f M tokens/s\n", gb / gs / 1e6, gt / gs / 1e6
    printf "  tiktoken-WASM  %7.2f MB/s  %6.3f M tokens/s\n", tb / ts / 1e6, tt / ts / 1e6
    printf "  speed-up %.2fx; ids identical: %s\n", ts / gs, same ? "yes" : "NO"
    printf "  tokenizer.json load %.1f ms (best of 3; target under 150 ms: %s)\n", load, load < 150 ? "met" : "MISSED"
}'
exit $rc
