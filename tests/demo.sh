#!/usr/bin/env bash
# demo.sh BIN: `make demo`. Synthesizes (once) a small random-weight model with gpt-oss-20b's real
# layer geometry into the build directory, then greedily generates 32 tokens from it through both
# checkpoint layouts and checks that they agree.
set -eu
bin=${1:?usage: demo.sh BIN}
dir=$(dirname "$bin")/demo-model
# gpt-oss-20b's layer shapes (hidden 2880, 64 query / 8 kv heads of 64, window 128, MXFP4 experts,
# YaRN RoPE), cut to 2 layers, 8 experts and a 32768-row vocabulary so it writes in seconds.
args=(--preset 20b --layers 2 --experts 8 --vocab 32768 --seed 2026 --original)
stamp="$dir/synth-args.txt"

cat <<'EOF'
== gptoss demo ==
A random-weight checkpoint in the gpt-oss architecture: each of its 2 layers has exactly the shapes
of a gpt-oss-20b layer (hidden 2880, 64 query heads and 8 KV heads of 64, a 128-token sliding window
on layer 0 and full attention on layer 1, a top-4 router over MXFP4 experts of width 2880); it only
has fewer layers (2 of 24), fewer experts (8 of 32) and a smaller vocabulary (32768 of 201088).
The weights are random, so the tokens mean nothing; what the demo shows is the whole engine at work:
loading both checkpoint layouts, prefill, greedy decoding with the KV cache, and the decode speed
of a real-width layer on this machine. Both layouts hold the same numbers, so they must agree.

EOF

if [ ! -f "$dir/config.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${args[*]}" ]; then
    echo "-- gptoss synth --out $dir ${args[*]}"
    "$bin" synth --out "$dir" --force "${args[@]}" # replaces an earlier demo model (and keeps $stamp)
    echo "${args[*]}" >"$stamp"
else
    echo "-- reusing $dir (synthesized earlier with: ${args[*]})"
fi

ids="1 17360 8 12194 13 2 3 4 500 9000 31000 42"
out=$(mktemp)
trap 'rm -f "$out" "$out.orig"' EXIT
echo
echo "-- gptoss generate $dir --ids \"$ids\" -n 32 --temperature 0"
"$bin" generate "$dir" --ids "$ids" -n 32 --temperature 0 >"$out"
echo "   ids: $(cat "$out")"
echo
echo "-- the same from the original/ layout"
"$bin" generate "$dir/original" --ids "$ids" -n 32 --temperature 0 >"$out.orig"
echo "   ids: $(cat "$out.orig")"
echo
if [ -s "$out" ] && cmp -s "$out" "$out.orig"; then
    echo "Both layouts produced the same 32 greedy tokens."
else
    echo "MISMATCH: the two layouts produced different tokens." >&2
    exit 1
fi
