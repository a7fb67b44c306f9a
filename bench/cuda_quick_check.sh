#!/usr/bin/env bash
# cuda_quick_check.sh: a short device check for a lent GPU machine with little time: builds only gptoss and
# the kernel tests for sm_90a, runs the kernel tests, the 20b synthetic decode bench with the default expert
# kernels and with GPTOSS_CUDA_MOE_KERNEL=${QC_OLD:-1} (A/B), then the golden cases (tests/t_cuda.sh).
# Each step has its own timeout; log in $OUT/quick.log. Run from the tree to build (e.g. .devtree/).
# Golden data: $GPTOSS_SHARED (default ./shared).
set -u
out=${OUT:-/tmp/cuda-quick}
mkdir -p "$out"
exec > >(tee -a "$out/quick.log") 2>&1
step() { # name timeout cmd...
    local name=$1 t=$2; shift 2
    echo "=== $name (timeout ${t}s)"
    local start=$SECONDS
    timeout -k 3 "$t" "$@"
    local rc=$?
    echo "=== $name rc=$rc ($((SECONDS - start))s)"
    return $rc
}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
step build ${QC_T_BUILD:-75} make -s -j16 CUDA=1 BUILD=build-cuda NVCC="$nvcc_bin" \
    CUDA_HOME="$(dirname "$(dirname "$nvcc_bin")")" CUDA_ARCH="-gencode=arch=compute_90a,code=sm_90a" \
    build-cuda/gptoss build-cuda/tests/test_cuda_kernels || exit 1
step kernels ${QC_T_KERNELS:-45} build-cuda/tests/test_cuda_kernels > "$out/kernels.tap"
grep -c "^ok" "$out/kernels.tap"; grep "^not ok\|mlp\|^#" "$out/kernels.tap" | head -60
bench() { step "bench20 $1" ${QC_T_BENCH:-35} env $1 GPTOSS_CUDA_PROFILE=1 build-cuda/gptoss bench --synth 20b --device cuda -p 512 -n 128; }
bench GPTOSS_CUDA_MOE_KERNEL=3
bench GPTOSS_CUDA_MOE_KERNEL=${QC_OLD:-1}
step golden ${QC_T_GOLDEN:-60} env GPTOSS_BIN="$PWD/build-cuda/gptoss" GPTOSS_SHARED="${GPTOSS_SHARED:-$PWD/shared}" \
    bash tests/t_cuda.sh > "$out/golden.tap"
echo "golden ok: $(grep -c '^ok' "$out/golden.tap") not ok: $(grep -c '^not ok' "$out/golden.tap")"
grep "^not ok" "$out/golden.tap" | head -5; grep "^ok" "$out/golden.tap" | head -3
