#!/usr/bin/env bash
# schema.sh GPTOSS_BIN: `gptoss schema-bench` on all of shared/schema/public.jsonl (MaskBench: one
# thread; correctness counts and TBM/TTFM percentiles), the table on stdout.
set -u
bin=${1:?usage: bench/schema.sh GPTOSS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
shared=${GPTOSS_SHARED:-$here/../../shared}
if [ ! -f "$shared/schema/public.jsonl" ] || [ ! -f "$shared/vocab/tokenizer.json" ]; then
    echo "schema-bench: skipped (no schema/public.jsonl or vocab/tokenizer.json under $shared)"
    exit 0
fi
echo "== schema-bench: $shared/schema/public.jsonl"
"$bin" schema-bench "$shared/schema/public.jsonl" --tokenizer "$shared/vocab/tokenizer.json"
