#!/usr/bin/env bash
# t_bench.sh: `gptoss bench` on a tiny synthesized model: the text report has every line the CPU
# bench promises, --json parses with every field set and plausible, --kernels prints each kernel,
# and bad values are refused. Speeds are not judged here (bench/cpu.sh measures them).
set -u
bin=${GPTOSS_BIN:?}
tmp=${GPTOSS_TMP:?}/t_bench
rm -rf "$tmp"
mkdir -p "$tmp"

if ! "$bin" synth --out "$tmp/m" --preset 20b --layers 2 --experts 4 --vocab 256 --hidden 64 --intermediate 64 \
    >/dev/null 2>"$tmp/err"; then
    echo "not ok - synth for the bench: $(head -2 "$tmp/err" | tr '\n' '|')"
    exit 0
fi

if "$bin" bench "$tmp/m" -p 8 -n 4 -t 2 -r 2 >"$tmp/out" 2>"$tmp/err"; then
    missing=""
    for needle in "open+upload:" "prefill: pp8 = " "decode: tg4 = " "peak RSS" "GB read per decoded token" \
        "read bandwidth (2 threads, 2 GiB)" " before the run, " "(the faster); decode reaches" "beside each decode, the faster of a read as long as it just before and just after it (mean rate): " " (mean " "decode reads" "huge pages:" "last logits finite: yes"; do
        grep -qF -- "$needle" "$tmp/out" || missing="$missing [$needle]"
    done
    [ -z "$missing" ] && echo "ok - text report has every line" || echo "not ok - text report lacks$missing"
else
    echo "not ok - bench exited non-zero: $(tail -2 "$tmp/err" | tr '\n' '|')"
fi

if "$bin" bench "$tmp/m" -p 8 -n 4 -t 2 -r 2 --json >"$tmp/json" 2>"$tmp/err" &&
    python3 - "$tmp/json" >"$tmp/check" 2>&1 <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
positive = ["prefill_tok_s", "decode_tok_s", "peak_rss_gb", "bytes_per_token", "kv_bytes_per_token", "read_bw_gb_s",
            "decode_bound_tok_s", "bw_fraction", "decode_read_gb_s", "weights_read_gb_s", "read_bw_before_gb_s",
            "read_bw_after_gb_s", "bw_fraction_near"]
bad = [k for k in positive if not (isinstance(r.get(k), (int, float)) and r[k] > 0)]
bad += [k for k in ["huge_file_gb", "huge_anon_gb", "prefill_tok_s_sd", "decode_tok_s_sd"]
        if not (isinstance(r.get(k), (int, float)) and r[k] >= 0)]
if r.get("finite") is not True: bad.append("finite")
if r.get("kv_cache") != "bf24": bad.append("kv_cache")  # the CPU default
if not isinstance(r.get("cpu_kernels"), str) or not r["cpu_kernels"]: bad.append("cpu_kernels")
if r.get("prefill_tokens") != 8 or r.get("decode_tokens") != 4 or r.get("threads") != 2 or r.get("reps") != 2:
    bad.append("counts")
# the fraction is decode over the bound, and the decode read rate (weights + keys and values) x tokens/s;
# decoding positions 8..11 of 2 layers (one sliding, window 128) x 8 kv heads x 64 dims, K and V in
# bf24, reads 2 x (9 + 10 + 11 + 12) / 4 x 512 x 2 x 3 bytes a token on average
if r.get("kv_bytes_per_token") != 2 * (9 + 10 + 11 + 12) / 4 * 512 * 2 * 3: bad.append("kv_bytes_per_token")
if abs(r["bw_fraction"] - r["decode_tok_s"] / r["decode_bound_tok_s"]) > 1e-2 * r["bw_fraction"]: bad.append("bw_fraction")
# one probe pair beside each rep's decode, its faster one kept
near = r.get("read_bw_near_gb_s")
if not (isinstance(near, list) and len(near) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in near)):
    bad.append("read_bw_near_gb_s")
# the bound comes from the faster of the probes before and after the runs
if r["read_bw_gb_s"] != max(r["read_bw_before_gb_s"], r["read_bw_after_gb_s"]): bad.append("read_bw_gb_s")
if abs(r["decode_read_gb_s"] - (r["bytes_per_token"] + r["kv_bytes_per_token"]) * r["decode_tok_s"] / 1e9) > 1e-2 * r["decode_read_gb_s"]:
    bad.append("decode_read_gb_s")
print("fields off: " + ",".join(bad) if bad else "fine")
sys.exit(1 if bad else 0)
EOF
then
    echo "ok - --json: every field set and consistent"
else
    echo "not ok - --json: $(cat "$tmp/check" 2>/dev/null | tail -2 | tr '\n' '|') $(tail -2 "$tmp/err" | tr '\n' '|')"
fi

if "$bin" bench --kernels -t 1 -r 3 >"$tmp/k" 2>"$tmp/err" &&
    [ "$(grep -cE '^  (read|mxfp4|bf16|q8_0|mx_gguf) +[0-9.]+ GB/s best' "$tmp/k")" = 5 ]; then
    echo "ok - --kernels measures the five decode kernels"
else
    echo "not ok - --kernels: $(head -6 "$tmp/k" | tr '\n' '|') $(tail -2 "$tmp/err" | tr '\n' '|')"
fi

# --variants: one row per variant the CPU runs (at least the picked one), the picked one marked, and a
# verdict naming a variant and why it was picked, and on x86-64 the CPU's family and its measured preference (the gcc pass: under the sanitizers it is 4 x the --kernels run above);
# without --kernels it is refused
if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    echo "ok - --kernels --variants # SKIP sanitizer build (checked in the gcc pass)"
elif "$bin" bench --kernels --variants -t 1 -r 3 >"$tmp/v" 2>"$tmp/err" &&
    grep -qE '^  [a-z0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+  \(picked\)$' "$tmp/v" &&
    grep -qE '^fastest decode here: [a-z0-9]+; picked: [a-z0-9]+ \((measured preference|cpuid features|GPTOSS_CPU)\)$' "$tmp/v" &&
    { ! grep -q '^flags.* avx' /proc/cpuinfo 2>/dev/null || grep -qE '^this CPU: [A-Za-z]{12} family 0x[0-9a-f]+ model 0x[0-9a-f]{2}; ' "$tmp/v"; }; then
    echo "ok - --kernels --variants: $(grep -cE '^  [a-z0-9]+ +[0-9.]+ ' "$tmp/v") variants; $(grep '^fastest' "$tmp/v")"
else
    echo "not ok - --kernels --variants: $(tail -6 "$tmp/v" | tr '\n' '|') $(tail -2 "$tmp/err" | tr '\n' '|')"
fi
if "$bin" bench --variants >"$tmp/out" 2>"$tmp/err"; then
    echo "not ok - bench --variants without --kernels accepted"
elif grep -q 'goes with --kernels' "$tmp/err"; then
    echo "ok - bench --variants without --kernels refused"
else
    echo "not ok - bench --variants alone: $(head -2 "$tmp/err" | tr '\n' '|')"
fi

for bad in "-r 0" "-t abc" "-p" "--bogus"; do
    # shellcheck disable=SC2086
    if "$bin" bench "$tmp/m" $bad >"$tmp/out" 2>"$tmp/err"; then
        echo "not ok - bench $bad accepted"
    elif grep -q '^gptoss: ' "$tmp/err" || grep -q '^usage' "$tmp/err"; then
        echo "ok - bench $bad refused: $(head -1 "$tmp/err")"
    else
        echo "not ok - bench $bad: $(head -2 "$tmp/err" | tr '\n' '|')"
    fi
done
