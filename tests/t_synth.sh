#!/usr/bin/env bash
# t_synth.sh: the `gptoss synth` command line: bad flags and impossible shapes give one clear
# "gptoss: ..." line on stderr and a non-zero exit; good ones print one summary line; the same
# seed gives the same files, and the files load.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
tmp=${GPTOSS_TMP:?}/t_synth
rm -rf "$tmp"
mkdir -p "$tmp"

# expect_fail NAME NEEDLE ARGS...: non-zero exit, exactly one stderr line, starting "gptoss: ",
# containing NEEDLE, nothing on stdout.
expect_fail() {
    local name=$1 needle=$2; shift 2
    "$bin" synth "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err" | tr -d ' ')
    if [ "$rc" -ne 0 ] && [ "$lines" = 1 ] && grep -q '^gptoss: ' "$tmp/err" && grep -qF -- "$needle" "$tmp/err" &&
        [ ! -s "$tmp/out" ]; then
        echo "ok - rejects $name: $(cat "$tmp/err")"
    else
        echo "not ok - rejects $name (rc $rc, stderr: $(head -3 "$tmp/err" | tr '\n' '|'))"
    fi
}

expect_fail "missing --out" "--out DIR or --out FILE.gguf is required"
expect_fail "unknown preset" "unknown preset 'huge'" --out "$tmp/x" --preset huge
expect_fail "zero layers" "--layers needs a positive integer" --out "$tmp/x" --layers 0
expect_fail "non-numeric" "--hidden needs a positive integer, got 'abc'" --out "$tmp/x" --hidden abc
expect_fail "negative" "--vocab needs a positive integer" --out "$tmp/x" --vocab -5
expect_fail "too large" "--experts needs a positive integer" --out "$tmp/x" --experts 4294967296
expect_fail "missing value" "option --seed needs a value" --out "$tmp/x" --seed
expect_fail "unknown option" "unknown option '--bogus'" --out "$tmp/x" --bogus
expect_fail "hidden not a multiple of 32" "multiples of 32" --out "$tmp/x" --hidden 48
expect_fail "heads vs kv heads" "not a multiple of" --out "$tmp/x" --heads 6 --kv-heads 4
expect_fail "top-k above experts" "experts per token" --out "$tmp/x" --experts 2
expect_fail "too many shards" "shards for only" --out "$tmp/x" --shards 500
expect_fail "YaRN range" "YaRN" --out "$tmp/x" --head-dim 4
: >"$tmp/file"
expect_fail "output is a file" "$tmp/file" --out "$tmp/file"
expect_fail "--format safetensors with a .gguf name" "--format safetensors writes a directory" --out "$tmp/x.gguf" \
    --format safetensors
[ ! -e "$tmp/x" ] && [ ! -e "$tmp/x.gguf" ] && echo "ok - nothing created by rejected runs" ||
    echo "not ok - a rejected run created $tmp/x or $tmp/x.gguf"

if "$bin" synth --help >"$tmp/out" 2>&1 && grep -q -- '--experts-per-token' "$tmp/out"; then
    echo "ok - --help lists the options"
else
    echo "not ok - --help"
fi

# Success: one summary line naming the directory and the counts.
"$bin" synth --out "$tmp/a" --seed 5 --original --shards 2 >"$tmp/out" 2>"$tmp/err"
rc_a=$?
if [ $rc_a -eq 0 ] && [ "$(wc -l <"$tmp/out" | tr -d ' ')" = 1 ] && grep -q "^$tmp/a: [0-9]* parameters, [0-9]* bytes" "$tmp/out" &&
    [ ! -s "$tmp/err" ]; then
    echo "ok - summary: $(cat "$tmp/out")"
else
    echo "not ok - tiny synth (stdout: $(cat "$tmp/out"), stderr: $(cat "$tmp/err"))"
fi
"$bin" synth --out "$tmp/b" --seed 5 --original --shards 2 >/dev/null 2>&1
rc_b=$?
dir_digest "$tmp/a" >"$tmp/a.sums"
dir_digest "$tmp/b" >"$tmp/b.sums"
same_files "same seed, same files" $rc_a "$tmp/a.sums" $rc_b "$tmp/b.sums"
"$bin" synth --out "$tmp/c" --seed 6 --original --shards 2 >/dev/null 2>&1
rc_c=$?
different_files "another seed, other weights" \
    $rc_a "$tmp/a/model-00000-of-00001.safetensors" $rc_c "$tmp/c/model-00000-of-00001.safetensors"
same_files "another seed, same config" $rc_a "$tmp/a/config.json" $rc_c "$tmp/c/config.json"
# A preset with shape flags on top.
if "$bin" synth --out "$tmp/p" --preset 20b --layers 1 --experts 4 --vocab 256 --hidden 64 --intermediate 64 \
    --heads 4 --kv-heads 1 --head-dim 16 >/dev/null 2>&1 &&
    grep -q '"sliding_window": 128' "$tmp/p/config.json" && grep -q '"num_local_experts": 4' "$tmp/p/config.json"; then
    echo "ok - shape flags override the 20b preset (window 128 kept)"
else
    echo "not ok - preset + overrides"
fi
# The files load (both layouts), through the library's loader.
for d in "$tmp/a" "$tmp/a/original"; do
    if "$bin" info "$d" >"$tmp/info" 2>&1; then
        echo "ok - gptoss info loads ${d#"$tmp"/}"
    else
        echo "not ok - gptoss info ${d#"$tmp"/}: $(tail -1 "$tmp/info")"
    fi
done

# --out FILE.gguf writes one GGUF file, the same bytes as --format gguf (not a directory named .gguf).
if "$bin" synth --out "$tmp/s.gguf" --seed 5 >"$tmp/out" 2>"$tmp/err" && [ -f "$tmp/s.gguf" ] &&
    [ "$(head -c 4 "$tmp/s.gguf")" = GGUF ] && grep -q "^$tmp/s.gguf: [0-9]* parameters (GGUF)" "$tmp/out"; then
    echo "ok - --out FILE.gguf writes a GGUF file: $(cat "$tmp/out")"
else
    echo "not ok - --out FILE.gguf (a $(stat -c %F "$tmp/s.gguf" 2>/dev/null); stdout: $(cat "$tmp/out"), stderr: $(cat "$tmp/err"))"
fi
if "$bin" synth --out "$tmp/s2.gguf" --format gguf --seed 5 >/dev/null 2>&1 && [ -s "$tmp/s2.gguf" ] &&
    cmp -s "$tmp/s.gguf" "$tmp/s2.gguf"; then
    echo "ok - --out FILE.gguf and --format gguf give the same bytes"
else
    echo "not ok - --out FILE.gguf differs from --format gguf"
fi
if "$bin" info "$tmp/s.gguf" >"$tmp/info" 2>&1 && grep -q "(GGUF layout)" "$tmp/info"; then
    echo "ok - the .gguf loads as GGUF"
else
    echo "not ok - info on the .gguf: $(head -3 "$tmp/info" | tr '\n' '|')"
fi

# Progress: off a terminal only with GPTOSS_PROGRESS=1 (the default shows it on a terminal, for writes
# over 1 GiB); convert prints the same line through the same helper (tests/t_gguf.sh).
if GPTOSS_PROGRESS=1 "$bin" synth --out "$tmp/prog" >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/out" ] &&
    grep -qE '^gptoss synth: 100\.0% of 0\.00 GiB$' "$tmp/err"; then
    echo "ok - GPTOSS_PROGRESS=1 shows progress: $(tail -1 "$tmp/err")"
else
    echo "not ok - GPTOSS_PROGRESS=1 progress (stderr: $(head -3 "$tmp/err" | tr '\n' '|'))"
fi
if "$bin" synth --out "$tmp/noprog" >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/out" ] && [ ! -s "$tmp/err" ]; then
    echo "ok - no progress off a terminal by default"
else
    echo "not ok - progress shown by default off a terminal: $(head -3 "$tmp/err" | tr '\n' '|')"
fi
