#!/usr/bin/env bash
# t_schema_bench.sh: `gptoss schema-bench` on a deterministic 300-schema sample of
# shared/schema/public.jsonl (every 12th line): prints MaskBench's table, never accepts an invalid
# text (0 invalidation errors), passes most schemas, and writes one --json line per schema; plus
# its usage errors. The full file runs in `make bench` (bench/schema.sh).
set -u
bin=${GPTOSS_BIN:?}
shared=${GPTOSS_SHARED:-}
tj=$shared/vocab/tokenizer.json
data=$shared/schema/public.jsonl
if [ -z "$shared" ] || [ ! -f "$tj" ] || [ ! -f "$data" ]; then
    echo "ok - schema-bench # SKIP no vocab/tokenizer.json or schema/public.jsonl under GPTOSS_SHARED"
    exit 0
fi
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/schemabench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
check() { # name command...
    local name=$1; shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fi
}

awk 'NR % 12 == 1' "$data" | head -300 >"$tmp/sample.jsonl"
start=$(date +%s)
"$bin" schema-bench "$tmp/sample.jsonl" --tokenizer "$tj" --json "$tmp/out.jsonl" >"$tmp/table.txt" 2>"$tmp/err.txt"
rc=$?
secs=$(( $(date +%s) - start ))
sed 's/^/# /' "$tmp/table.txt"
echo "# 300 schemas in ${secs}s"
field() { awk -v k="$1" 'index($0, k) == 1 { print $(NF - ($0 ~ /%\)$/ ? 1 : 0)) }' "$tmp/table.txt" | tr -d '()%'; }
check "schema-bench runs on the 300-schema sample" test "$rc" = 0 -a -s "$tmp/table.txt"
check "schema-bench: 0 invalidation errors (no invalid text accepted)" test "$(awk '/^invalidation errors/ { print $3 }' "$tmp/table.txt")" = 0
passing=$(awk '/^passing/ { print $2 }' "$tmp/table.txt")
check "schema-bench: at least 255 of 300 schemas pass (got ${passing:-none})" test "${passing:-0}" -ge 255
check "schema-bench: at most 3 schemas with a valid text rejected" test "$(awk '/^validation errors/ { print $3 }' "$tmp/table.txt")" -le 3
check "schema-bench: TBM and TTFM percentiles printed" grep -q '^TTFM .*[0-9]' "$tmp/table.txt"
check "schema-bench --json: one line per schema with status and mask times" \
    test "$(wc -l <"$tmp/out.jsonl")" = 300 -a "$(grep -c '"status":"\(ok\|compile_error\|timeout\)","error":.*"ttfm_us":.*"tests":\[.*"mask_us":\[' "$tmp/out.jsonl")" = 300

head -20 "$tmp/sample.jsonl" >"$tmp/s20.jsonl"
"$bin" schema-bench "$tmp/s20.jsonl" --tokenizer "$tj" --cpu-time >"$tmp/cpu.txt" 2>&1
check "schema-bench --cpu-time: 20 schemas counted, times labelled cpu" \
    test "$(grep -c '^us (cpu)' "$tmp/cpu.txt")" = 1 -a "$(awk '/^schemas/ { print $2 }' "$tmp/cpu.txt")" = 20
"$bin" schema-bench /nonexistent.jsonl --tokenizer "$tj" >"$tmp/o" 2>"$tmp/e"
check "schema-bench: a missing file is exit 1 with one message" test $? = 1 -a "$(grep -c '^gptoss: ' "$tmp/e")" = 1
printf '{"id": 1, "schema": {}}\n' >"$tmp/bad.jsonl"
"$bin" schema-bench "$tmp/bad.jsonl" --tokenizer "$tj" >"$tmp/o" 2>"$tmp/e"
check "schema-bench: a line without tests is exit 1 naming the line" test $? = 1 -a -n "$(grep 'line 1' "$tmp/e")"
