#!/usr/bin/env bash
# cuda_profile.sh: per-kernel profile of the 20b decode graph on a lent GPU machine, short (~1-2 min).
# Uses nsys or ncu when the machine has them, else the CUPTI injection tracer bench/cuda_trace.c
# (kernel durations inside the replayed graph, grid/block/registers, idle time between kernels).
# Expects build-cuda/gptoss (carried or built with CUDA_PROFILE_BUILD=1). Log: $OUT/cuda_profile.log.
# CUDA_PROFILE_AB: space-separated env settings to A/B (each one bench run, no tracer), e.g.
#   "GPTOSS_CUDA_PDL=0 GPTOSS_CUDA_PDL=1"
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/cuda-profile}
mkdir -p "$out"
exec > >(tee -a "$out/cuda_profile.log") 2>&1
cuda=${CUDA_HOME:-/usr/local/cuda}
bin=build-cuda/gptoss
t() { local s=$SECONDS; timeout -k 3 "$@"; local rc=$?; echo "--- rc=$rc $((SECONDS - s))s: ${*:2:6}"; return $rc; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,mig.mode.current,power.limit --format=csv 2>&1 | head -3
echo "profilers: $(ls "$cuda"/bin 2>/dev/null | grep -E '^(nsys|ncu)$' | tr '\n' ' ') $(command -v nsys ncu | tr '\n' ' ')"
if [ "${CUDA_PROFILE_BUILD:-0}" = 1 ] || ! "$bin" --help >/dev/null 2>&1; then
    t 240 make -s -j16 CUDA=1 BUILD=build-cuda all || exit 1
fi
tr=$root/build-cuda/cuda_trace.so
[ -f "$tr" ] || t 60 gcc -O2 -shared -fPIC -I"$cuda"/include bench/cuda_trace.c -o "$tr" -L"$cuda"/lib64 \
    -Wl,-rpath,"$cuda"/lib64 -lcupti
[ -n "${CUDA_PROFILE_LIBDIR:-}" ] && export LD_LIBRARY_PATH=$CUDA_PROFILE_LIBDIR:${LD_LIBRARY_PATH:-}
args=(bench --synth 20b --device cuda -p "${CUDA_PROFILE_P:-2048}" -n "${CUDA_PROFILE_N:-32}")
for cfg in ${CUDA_PROFILE_TRACE:-GPTOSS_CUDA_PDL=0}; do
    echo "=== trace $cfg"
    GPTOSS_TRACE_SEQ=${GPTOSS_TRACE_SEQ:-14} t 60 env ${cfg//,/ } CUDA_INJECTION64_PATH="$tr" "$bin" "${args[@]}" 2>&1 |
        grep -v '^\s*$' | tail -60
done
for cfg in ${CUDA_PROFILE_AB:-}; do
    echo "=== bench $cfg"
    t 60 env ${cfg//,/ } "$bin" bench --synth 20b --device cuda -p 2048 -n 128 2>&1 | grep -iE 'decode|prefill' | head -4
done
