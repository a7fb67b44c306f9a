#!/usr/bin/env bash
# all.sh: what `make test` and CI run. Installs what is missing, then: gcc build with -Werror and the
# whole suite; clang build with -Werror under AddressSanitizer + UndefinedBehaviorSanitizer and the
# suite again (GPTOSS_TEST_SANITIZED=1 lets slow tests shrink); the fuzz targets for a short while.
# Ends with one line "N passed, N failed, N skipped", after a line naming the units that skipped
# checks when the shared data (../shared or $GPTOSS_SHARED) is missing.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/deps.sh || echo "warning: tests/deps.sh could not install everything"
tally=$(mktemp)
export GPTOSS_TEST_TALLY=$tally
jobs=$(nproc 2>/dev/null || echo 2)
build_failed=0

phase() { # label build-dir make-args...
    local label=$1 dir=$2; shift 2
    echo "== $label: make BUILD=$dir $*"
    if ! make -s -j"$jobs" BUILD="$dir" WERROR=1 "$@" all >"$root/.make-$label.log" 2>&1; then
        echo "not ok - build $label failed"; cat "$root/.make-$label.log" | tail -40
        echo "0 1 0" >>"$tally"
        build_failed=1
        return 1
    fi
    rm -f "$root/.make-$label.log"
    return 0
}

if phase gcc build CC=gcc; then
    bash tests/run.sh build gcc
fi
if command -v clang >/dev/null; then
    if phase clang-asan build-clang-san CC=clang SANITIZE=address,undefined; then
        GPTOSS_TEST_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
            bash tests/run.sh build-clang-san clang-asan
    fi
else
    echo "ok - clang build # SKIP clang not installed"; echo "0 0 1" >>"$tally"
fi
# With nvcc present, the CUDA build must compile (-Werror); its CUDA tests run, or
# SKIP with a clear line when no GPU is usable.
nvcc_bin=$(command -v nvcc || { [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] && echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"; })
if [ -n "$nvcc_bin" ]; then
    if phase cuda build-cuda CC=gcc CUDA=1 NVCC="$nvcc_bin"; then
        echo "ok - cuda build (make CUDA=1) compiles"; echo "1 0 0" >>"$tally"
        GPTOSS_TEST_FILTER=cuda bash tests/run.sh build-cuda cuda
    fi
    # CUDA=1 MPI=1 adds only the NCCL communicator to the above: compiling that file (a second whole
    # CUDA build would double the phase) checks it against nccl.h and mpi.h.
    if command -v mpicc >/dev/null; then
        if make -s CUDA=1 MPI=1 WERROR=1 NVCC="$nvcc_bin" BUILD=build-cuda-mpi build-cuda-mpi/src/dist/dist_nccl.o \
            >"$root/.make-cuda-mpi.log" 2>&1; then
            echo "ok - nccl communicator (make CUDA=1 MPI=1) compiles"; echo "1 0 0" >>"$tally"
            rm -f "$root/.make-cuda-mpi.log"
        else
            echo "not ok - nccl communicator (make CUDA=1 MPI=1): $(tail -3 "$root/.make-cuda-mpi.log")"; echo "0 1 0" >>"$tally"
        fi
    fi
else
    echo "ok - cuda build # SKIP nvcc not found"; echo "0 0 1" >>"$tally"
fi
# 13 targets x 6 s keeps CI under its 30 minutes; `make fuzz` runs them longer
if [ -f fuzz/run.sh ]; then
    GPTOSS_FUZZ_SECONDS=${GPTOSS_FUZZ_SECONDS:-6} bash fuzz/run.sh
fi
# run.sh and fuzz/run.sh add a 4th field: the units that skipped checks for missing shared data.
shared_units=$(awk 'NF > 3 {gsub(",", "\n", $4); print $4}' "$tally" | awk '!seen[$0]++' | paste -sd ' ' -)
if [ -n "$shared_units" ]; then
    shared=${GPTOSS_SHARED:-$root/../shared}
    what="not found"
    [ -d "$shared" ] && what="incomplete"
    echo "shared data $what (GPTOSS_SHARED=$shared; README.md says where it comes from): checks skipped in $shared_units"
fi
awk '{p+=$1; f+=$2; s+=$3} END {printf "%d passed, %d failed, %d skipped\n", p, f, s; exit (f>0)}' "$tally"
rc=$?
rm -f "$tally"
[ "$build_failed" -eq 0 ] && exit $rc
exit 1
