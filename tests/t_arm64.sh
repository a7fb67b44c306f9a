#!/usr/bin/env bash
# t_arm64.sh (make test-arm64): the aarch64 build, cross-compiled here with Debian's
# gcc-aarch64-linux-gnu into build-arm64/ and run under qemu-aarch64 (qemu-user): every kernel unit
# test (build-arm64/tests/test_kernels*: the reference kernels and each variant the emulated CPU runs,
# NEON included, against them on awkward shapes), then every golden case through tests/t_golden.sh
# with the aarch64 gptoss as its binary (both layouts; --exact within 1e-3, the fast default within
# 0.1; decode, prefill and batched prefill; greedy continuations identical). qemu's default CPU has
# NEON, dotprod and i8mm, so the default pick is neoni8mm (checked), a cortex-a76 (dotprod, no i8mm)
# picks neondot and a cortex-a53 (neither) neon (checked; the fast path's goldens run on neoni8mm and
# neon: neondot's kernels are neoni8mm's at one token, neon's at more). The goldens are small (3
# layers at most, hidden <= 128): the unit takes ~60 s of CPU after the build. Skips with one line
# when the cross tools or qemu are missing, and under the sanitizer pass (nothing there is sanitized).
set -u
root=${GPTOSS_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    echo "ok - arm64 # SKIP not in the sanitizer pass (the cross build is not sanitized)"
    exit 0
fi
cross=${GPTOSS_ARM64_CC:-aarch64-linux-gnu-gcc}
sysroot=${GPTOSS_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
if ! command -v "$cross" >/dev/null || ! command -v qemu-aarch64 >/dev/null || [ ! -d "$sysroot/lib" ]; then
    echo "ok - arm64 # SKIP $cross, qemu-aarch64 or $sysroot missing (Debian: gcc-aarch64-linux-gnu" \
        "libc6-dev-arm64-cross qemu-user; tests/deps.sh)"
    exit 0
fi
build=build-arm64
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_arm64.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
kernel_tests=$(cd "$root" && ls tests/test_kernels*.c | sed "s|^tests/\(.*\)\.c$|$build/tests/\1|")
if ! make -s -C "$root" -j"${GPTOSS_ARM64_JOBS:-2}" CC="$cross" BUILD=$build WERROR=1 $build/gptoss $kernel_tests \
    >"$tmp/build.log" 2>&1; then
    echo "not ok - arm64 build (make CC=$cross BUILD=$build) failed:"
    tail -20 "$tmp/build.log" | sed 's/^/    /'
    exit 1
fi
echo "ok - arm64 build: make CC=$cross BUILD=$build (gptoss and the kernel tests)"
export QEMU_LD_PREFIX=$sysroot

# The kernel tests, their lines prefixed so they read apart from the host's.
for t in $kernel_tests; do
    name=$(basename "$t")
    qemu-aarch64 "$root/$t" >"$tmp/$name.log" 2>&1
    rc=$?
    sed -E "s/^(not ok|ok) - /\1 - arm64 $name: /" "$tmp/$name.log" | grep -E '^(not )?ok - '
    grep -qE '^(not )?ok - ' "$tmp/$name.log" || echo "not ok - arm64 $name printed no result"
    [ $rc -eq 0 ] || { echo "not ok - arm64 $name exited with status $rc"; tail -5 "$tmp/$name.log"; }
done

# Which variant the default pick takes under this qemu (the goldens' fast path runs it).
cpu=$(qemu-aarch64 "$root/$build/tests/test_kernels_simd" 2>&1 | grep -oE 'start-up choice: [a-z0-9]+')
default_cpu=${cpu#start-up choice: }
if [ "$default_cpu" = neoni8mm ]; then echo "ok - arm64 qemu's default CPU (dotprod and i8mm) picks neoni8mm"
else echo "not ok - arm64 qemu's default CPU (dotprod and i8mm): want neoni8mm, got '${default_cpu}'"; fi
# A CPU without i8mm (HWCAP2_I8MM clear) must fall back to neondot, one without dotprod (HWCAP_ASIMDDP
# clear) to plain neon.
for pair in cortex-a76:neondot cortex-a53:neon; do
    cpu=$(qemu-aarch64 -cpu "${pair%%:*}" "$root/$build/tests/test_kernels_simd" 2>&1 | grep -oE 'start-up choice: [a-z0-9]+')
    if [ "$cpu" = "start-up choice: ${pair#*:}" ]; then echo "ok - arm64 ${pair%%:*}: $cpu"
    else echo "not ok - arm64 ${pair%%:*}: want 'start-up choice: ${pair#*:}', got '$cpu'"; fi
done

# The goldens through t_golden.sh, its gptoss the aarch64 binary under qemu.
cat >"$tmp/gptoss" <<WRAP
#!/bin/sh
exec qemu-aarch64 "$root/$build/gptoss" "\$@"
WRAP
chmod +x "$tmp/gptoss"
GPTOSS_BIN="$tmp/gptoss" bash "$root/tests/t_golden.sh" | sed -E "s/^(not ok|ok) - /\1 - arm64 ${default_cpu:-default} /"
# The fast path again on a CPU without dotprod (qemu's cortex-a53), where it runs plain neon: decode
# and batched prefill within 0.1, greedy identical, HF layout (the exact path is the same scalar
# reference on every CPU, and the layouts load the same numbers: t_golden.sh above covers both).
. "$root/tests/check.sh"
export QEMU_CPU=cortex-a53
if need_shared "arm64 neon goldens" golden; then
    for case_dir in "$GPTOSS_SHARED"/golden/*/; do
        case_dir=${case_dir%/}
        name=$(basename "$case_dir")
        [ -f "$case_dir/case.json" ] || continue
        for mode in "" "--prefill --batch 3"; do
            out=$("$tmp/gptoss" eval "$case_dir/model" --check "$case_dir" --tolerance 0.1 $mode 2>&1)
            if [ $? -eq 0 ]; then echo "ok - arm64 neon (cortex-a53) golden $name ${mode:-decode} (<= 0.1): $out"
            else echo "not ok - arm64 neon (cortex-a53) golden $name ${mode:-decode} (<= 0.1): $out"; fi
        done
        prompt=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompt'])))" "$case_dir/case.json")
        want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['greedy'])))" "$case_dir/case.json")
        got=$("$tmp/gptoss" generate "$case_dir/model" --ids "$prompt" -n "$(echo "$want" | wc -w)" --temperature 0 --quiet 2>&1)
        if [ -n "$want" ] && [ "$got" = "$want" ]; then echo "ok - arm64 neon (cortex-a53) golden $name greedy continuation"
        else echo "not ok - arm64 neon (cortex-a53) golden $name greedy: want '$want' got '$got'"; fi
    done
fi
