#!/usr/bin/env bash
# deps.sh: installs what the build and tests need on a fresh Debian machine, and nothing when it is
# already there. Core build: a C compiler and make. Tests: clang with its sanitizer/fuzzer runtime,
# Node.js + npm (the tiktoken reference and @huggingface/hub, which t_pull.sh checks the cache `gptoss pull`
# writes against, pinned in tests/package-lock.json; the openai client of the
# server tests, pinned in tests/server/package-lock.json), tmux, libmicrohttpd + cJSON (gptoss serve),
# libxml2 (the browser tool's HTML parser), libcurl (its web backend), SQLite (its local corpus),
# bubblewrap and libseccomp (the python tool's sandbox), Open MPI (make MPI=1 and tests/t_mpi.sh).
# Chromium and puppeteer-core (tests/page/package-lock.json) for the chat page of `gptoss serve`.
set -u
need=()
command -v cc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v clang >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v tmux >/dev/null || need+=(tmux)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libedit 2>/dev/null || need+=(libedit-dev) # line editing in `gptoss chat` (optional)
pkg-config --exists libmicrohttpd 2>/dev/null || need+=(libmicrohttpd-dev) # `gptoss serve` (optional at build time)
pkg-config --exists libcjson 2>/dev/null || need+=(libcjson-dev)           # `gptoss serve` (optional at build time)
pkg-config --exists libxml-2.0 2>/dev/null || need+=(libxml2-dev)     # the browser tool's HTML parser (optional at build time)
pkg-config --exists libcurl 2>/dev/null || need+=(libcurl4-openssl-dev) # the browser's web backend (optional at build time)
pkg-config --exists sqlite3 2>/dev/null || need+=(libsqlite3-dev)      # the browser tool's local corpus (optional at build time)
command -v python3 >/dev/null || need+=(python3)
command -v bwrap >/dev/null || need+=(bubblewrap)                      # the python tool's sandbox (run time)
pkg-config --exists libseccomp 2>/dev/null || need+=(libseccomp-dev)  # the python tool's seccomp filter (optional at build time)
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || need+=(python3-numpy) # t_python: Debian's numpy inside the sandbox
command -v chromium >/dev/null || need+=(chromium) # the chat page of `gptoss serve` in a headless browser (tests/t_page.sh)
# Open MPI: `make MPI=1` (a model sharded over ranks, src/dist/) and tests/t_mpi.sh (optional: without
# them the default build is unchanged and t_mpi.sh skips)
command -v mpicc >/dev/null || need+=(libopenmpi-dev)
command -v mpirun >/dev/null || need+=(openmpi-bin)
command -v ip >/dev/null || need+=(iproute2) # t_mpi.sh's two "hosts" (network namespaces and a veth pair)
command -v /usr/bin/time >/dev/null || need+=(time) # peak RSS of each rank (bench/RESULTS.md, MPI section) and of bench/table.sh's runs (tests/t_bench_table.sh)
# The aarch64 cross build run under qemu (tests/t_arm64.sh, make test-arm64; optional: without them
# t_arm64.sh skips)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[ -d /usr/aarch64-linux-gnu/lib ] || need+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
    echo "deps: installing ${need[*]}"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi
root=$(cd "$(dirname "$0")/.." && pwd)
# npm packages pinned by a lock file: installed when missing, again when the lock file differs from
# the one they were installed from (kept beside them)
npm_ci() {
    local dir=$1
    [ -f "$dir/package-lock.json" ] || return 0
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-from-lock.json"; then
        (cd "$dir" && npm ci --silent --no-audit --no-fund) || exit 1
        cp "$dir/package-lock.json" "$dir/node_modules/.installed-from-lock.json"
    fi
}
npm_ci "$root/tests"        # the tiktoken reference, @huggingface/hub (t_pull.sh)
npm_ci "$root/tests/server" # the openai client and ajv of the server tests
npm_ci "$root/tests/page"   # puppeteer-core, which drives chromium in the chat page test
exit 0
