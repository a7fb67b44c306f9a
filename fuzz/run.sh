#!/usr/bin/env bash
# run.sh: builds every fuzz/fuzz_*.c as a libFuzzer binary (clang -fsanitize=fuzzer,address,undefined,
# against the library built with the same sanitizers in build-fuzz/) and runs each for
# $GPTOSS_FUZZ_SECONDS seconds (default 20) from its seeds in fuzz/corpus/NAME (new inputs go to
# fuzz/corpus-run/NAME, which git ignores). One TAP line per target: "ok - fuzz NAME"; appends
# "passed failed skipped" to $GPTOSS_TEST_TALLY when set. A new target needs only its .c file (one that
# includes cjson/cJSON.h builds app/server/ code in: it gets -Iapp and libcjson, or skips); one
# that reads shared data names each file as $GPTOSS_SHARED/PATH in its summary comment, and skips
# ("# SKIP ../shared ...", listed after the tally as tests/run.sh does) when one is missing.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${GPTOSS_FUZZ_SECONDS:-20}
: "${GPTOSS_SHARED:=$root/../shared}"
export GPTOSS_SHARED
build=build-fuzz
pass=0 fail=0 skip=0 shared_units=
tally() { if [ -n "${GPTOSS_TEST_TALLY:-}" ]; then echo "$pass $fail $skip $shared_units" >>"$GPTOSS_TEST_TALLY"; fi; }

targets=(fuzz/fuzz_*.c)
if [ ! -e "${targets[0]}" ]; then echo "fuzz: no targets"; exit 0; fi
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    for t in "${targets[@]}"; do b=$(basename "$t" .c); echo "ok - fuzz ${b#fuzz_} # SKIP clang with libFuzzer not installed"; skip=$((skip + 1)); done
    tally
    exit 0
fi
jobs=$(nproc 2>/dev/null || echo 2)
if ! make -s -j"$jobs" CC=clang BUILD=$build SANITIZE=fuzzer-no-link,address,undefined lib >"$build.log" 2>&1; then
    echo "not ok - fuzz: library build failed"; tail -20 "$build.log"
    fail=1; tally; exit 1
fi
rm -f "$build.log"
# the library's page conversion links libxml2 when the build found it (Makefile)
xml_libs=$(pkg-config --libs libxml-2.0 2>/dev/null)
for t in "${targets[@]}"; do
    base=$(basename "$t" .c)
    name=${base#fuzz_}
    bin=$build/fuzz/$base
    missing=()
    for rel in $(sed -n 's|.*\$GPTOSS_SHARED/\([^ )]*\).*|\1|p' "$t" | sort -u); do
        [ -e "$GPTOSS_SHARED/$rel" ] || missing+=("$rel")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        what="not found"
        [ -d "$GPTOSS_SHARED" ] && what="incomplete"
        echo "ok - fuzz $name # SKIP ../shared $what (GPTOSS_SHARED=$GPTOSS_SHARED): needs ${missing[*]}"
        skip=$((skip + 1)); shared_units=${shared_units:+$shared_units,}fuzz_$name
        continue
    fi
    # a target over the server's request bodies builds app/server/ code in, on cJSON
    extra=()
    if grep -q 'cjson/cJSON.h' "$t"; then
        if ! cjson=$(pkg-config --cflags --libs libcjson 2>/dev/null); then
            echo "ok - fuzz $name # SKIP libcjson not installed (Debian: libcjson-dev)"
            skip=$((skip + 1)); continue
        fi
        extra=(-Iapp $cjson)
    fi
    mkdir -p "$build/fuzz" "fuzz/corpus-run/$name"
    log=$build/fuzz/$name.log
    if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc "${extra[@]}" -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=all "$t" $build/libgptoss.a -lm -lpthread $xml_libs "${extra[@]}" -o "$bin" >"$log" 2>&1; then
        echo "not ok - fuzz $name (build failed)"; tail -10 "$log" | sed 's/^/    | /'
        fail=$((fail + 1)); continue
    fi
    seeds=()
    [ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
    if "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$build/fuzz/$name-" \
        "fuzz/corpus-run/$name" "${seeds[@]}" >"$log" 2>&1; then
        runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
        echo "ok - fuzz $name (${secs}s, ${runs:-?} runs)"; pass=$((pass + 1))
    else
        echo "not ok - fuzz $name (crash input in $build/fuzz/$name-*)"; grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -5 | sed 's/^/    | /'
        fail=$((fail + 1))
    fi
done
if [ -n "$shared_units" ]; then
    what="not found"
    [ -d "$GPTOSS_SHARED" ] && what="incomplete"
    echo "[fuzz] shared data $what (GPTOSS_SHARED=$GPTOSS_SHARED; README.md says where it comes from):" \
        "skipped ${shared_units//,/, }"
fi
echo "[fuzz] $pass passed, $fail failed, $skip skipped"
tally
[ "$fail" -eq 0 ]
