#!/usr/bin/env bash
# cuda_device_check.sh: the one script run on a lent GPU machine (see src/cuda/README.md). Builds with
# CUDA=1 (or uses a carried build-cuda/ when the machine has no nvcc), runs the kernel tests, every
# golden case on the device (decode, prefill, batched prefill, greedy), a device-to-device copy, and
# the 20b / 120b synthetic benchmarks. Each step has its own timeout; everything is logged to
# $OUT/cuda_check.log (step timeouts: CUDA_CHECK_T_KERNELS, _GOLDEN, _BENCH20, _BENCH120). Golden data: $GPTOSS_SHARED, else ../shared, else build-cuda/shared.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/cuda-check}
mkdir -p "$out"
log=$out/cuda_check.log
exec > >(tee -a "$log") 2>&1
steps=${CUDA_CHECK_STEPS:-build,kernels,golden,bench20,bench120}
step() { # name timeout cmd...
    local name=$1 t=$2; shift 2
    [[ ",$steps," == *",$name,"* ]] || return 0
    echo "=== $name (timeout ${t}s): $*"
    local start=$SECONDS
    timeout -k 5 "$t" "$@"
    local rc=$?
    echo "=== $name rc=$rc ($((SECONDS - start))s)"
    return $rc
}
date
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.mem --format=csv 2>&1 | head -3
nvcc_bin=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
echo "nvcc: ${nvcc_bin:-none} $([ -n "$nvcc_bin" ] && "$nvcc_bin" --version | tail -1)"
if [ -n "$nvcc_bin" ]; then
    step build 240 make -s -j16 CUDA=1 BUILD=build-cuda NVCC="$nvcc_bin" CUDA_HOME="$(dirname "$(dirname "$nvcc_bin")")" all
else
    echo "no nvcc: using the carried build-cuda/"
fi
bin=$root/build-cuda/gptoss
shared=${GPTOSS_SHARED:-}
for cand in "$root/../shared" "$root/shared" "$root/build-cuda/shared"; do
    [ -z "$shared" ] && [ -d "$cand/golden" ] && shared=$cand
done
echo "golden data: ${shared:-none}"
step kernels ${CUDA_CHECK_T_KERNELS:-90} build-cuda/tests/test_cuda_kernels
step golden ${CUDA_CHECK_T_GOLDEN:-180} env GPTOSS_BIN="$bin" GPTOSS_SHARED="$shared" bash tests/t_cuda.sh
step bench20 ${CUDA_CHECK_T_BENCH20:-150} env GPTOSS_CUDA_PROFILE=1 "$bin" bench --synth 20b --device cuda -p 2048 -n 128 --copy-bw
step bench120 ${CUDA_CHECK_T_BENCH120:-200} env GPTOSS_CUDA_PROFILE=1 "$bin" bench --synth 120b --device cuda --ctx 8192 -p 512 -n 64
date
