#!/usr/bin/env bash
# run.sh BUILD_DIR [LABEL]: runs every C test binary in BUILD_DIR/tests and every tests/t_*.sh script
# against BUILD_DIR/gptoss; counts "ok" / "not ok" / "# SKIP" lines. A unit that exits non-zero
# without reporting a failure (a crash, a sanitizer report) counts as one failure.
# Skips for missing shared data ("# SKIP ../shared ...", tests/check.sh, tests/tap.h) are named in one
# line before the summary. Appends "passed failed skipped [units skipped for shared data]" to
# $GPTOSS_TEST_TALLY when set; prints its own summary line.
# Tests wait for conditions, not for fixed times; their deadlines (there only to stop a hang) are
# multiplied by GPTOSS_TEST_TIME_SCALE (tests/lib.sh): 1 unless exported, x6 under sanitizers
# (GPTOSS_TEST_SANITIZED=1), whose builds run 3-10x slower.
set -u
build=${1:?build dir}
label=${2:-$build}
root=$(cd "$(dirname "$0")/.." && pwd)
export GPTOSS_BIN="$root/$build/gptoss"
export GPTOSS_BUILD="$root/$build"
export GPTOSS_ROOT="$root"
: "${GPTOSS_SHARED:=$root/../shared}"
export GPTOSS_SHARED
export GPTOSS_TMP=${GPTOSS_TMP:-$(mktemp -d)}
filter=${GPTOSS_TEST_FILTER:-}
. "$root/tests/lib.sh"
[ -n "${GPTOSS_TEST_SANITIZED:-}" ] && GPTOSS_TEST_TIME_SCALE=$((GPTOSS_TEST_TIME_SCALE * 6))
pass=0 fail=0 skip=0
shared_units=() shared_counts=()
logdir="$root/$build/test-logs"
mkdir -p "$logdir"

run_unit() {
    local name=$1; shift
    local log="$logdir/$name.log"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local p f s
    p=$(grep -cE '^ok - ' "$log" | tr -d ' ')
    s=$(grep -cE '^ok - .*# SKIP' "$log" | tr -d ' ')
    f=$(grep -cE '^not ok - ' "$log" | tr -d ' ')
    p=$((p - s))
    local sh
    sh=$(grep -cE '^ok - .*# SKIP \.\./shared ' "$log" | tr -d ' ')
    if [ "$sh" -gt 0 ]; then shared_units+=("$name"); shared_counts+=("$name ($sh)"); fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name exited with status $rc" >>"$log"
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    printf '[%s] %-28s %4d passed %3d failed %3d skipped  (%ds)\n' "$label" "$name" "$p" "$f" "$s" $((SECONDS - start))
    if [ "$f" -ne 0 ]; then
        grep -E '^not ok - ' "$log" | head -20 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
}

for bin in "$root/$build"/tests/test_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    [ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
    run_unit "$name" "$bin"
done
for script in "$root"/tests/t_*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script" .sh)
    [ -n "$filter" ] && [[ "$name" != *$filter* ]] && continue
    run_unit "$name" bash "$script"
done
if [ ${#shared_units[@]} -gt 0 ]; then
    what="not found"
    [ -d "$GPTOSS_SHARED" ] && what="incomplete"
    list=$(printf '%s, ' "${shared_counts[@]}")
    echo "[$label] shared data $what (GPTOSS_SHARED=$GPTOSS_SHARED; README.md says where it comes from):" \
        "checks skipped in ${list%, }"
fi
echo "[$label] $pass passed, $fail failed, $skip skipped"
if [ -n "${GPTOSS_TEST_TALLY:-}" ]; then
    units=${shared_units[*]:-}
    echo "$pass $fail $skip ${units// /,}" >>"$GPTOSS_TEST_TALLY"
fi
[ "$fail" -eq 0 ]
