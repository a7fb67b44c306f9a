#!/usr/bin/env bash
# cuda_ncu.sh: Nsight Compute sections (speed of light, occupancy, warp stalls, memory) for one decode
# launch of each named kernel of the 20b synthetic decode; text in $OUT/ncu_<kernel>.txt, summary on stdout.
# Usage: bench/cuda_ncu.sh "mlp1_decode_kernel:30 attention_kernel:25" (kernel:launches to skip)
set -u
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/cuda-ncu}
mkdir -p "$out"
ncu=${NCU:-$(command -v ncu || echo /usr/local/cuda/bin/ncu)}
bin=build-cuda/gptoss
"$bin" --help >/dev/null 2>&1 || timeout 120 make -s -j16 CUDA=1 BUILD=build-cuda build-cuda/gptoss >/dev/null 2>&1
for ks in $1; do
    k=${ks%%:*} skip=${ks##*:}
    timeout -k 3 ${NCU_T:-40} "$ncu" --section SpeedOfLight --section Occupancy --section LaunchStats \
        --section WarpStateStats --section MemoryWorkloadAnalysis --section SchedulerStats \
        -k "regex:^$k" --launch-skip "$skip" -c 1 "$bin" bench --synth 20b --device cuda \
        -p "${NCU_P:-2048}" -n 4 > "$out/ncu_$k.txt" 2>&1
    echo "=== $k rc=$?"
    grep -E "Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Issued Ipc|No Eligible|Active Warps Per|Eligible Warps|Warp Cycles Per Issued|L1/TEX Hit|L2 Hit|Mem Busy|Max Bandwidth|Compute \(SM\) Th|Stall|stall" "$out/ncu_$k.txt" | sed 's/  */ /g' | head -40
done
