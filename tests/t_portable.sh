#!/usr/bin/env bash
# t_portable.sh: the stand-in for a macOS build, since no Mac is at hand. Every C file of the library
# (src/) and of the command and server (app/) is compiled (-fsyntax-only, the build's warnings as
# errors) the way a Mac's compiler would see it: __linux__ undefined and __APPLE__ defined, no
# _GNU_SOURCE (only POSIX 2008 and the BSD names, -D_DEFAULT_SOURCE), every optional feature on as
# where Homebrew provides it, and tests/portable/macos.h forced in, which poisons the Linux-only
# calls and constants (pipe2, accept4, SOCK_CLOEXEC, MSG_NOSIGNAL, sched_getaffinity, memfd_create,
# syscall, mallopt, ...) while tests/portable/absent/ makes Linux-only headers (<malloc.h>,
# <sys/auxv.h>, <seccomp.h>, <linux/...>) fail to include. A new Linux-only call outside a __linux__
# guard fails here, one line per file. gcc for x86-64; the aarch64 cross compiler, when installed,
# for the files that test the architecture or the system (the NEON kernels' macOS branches); the
# chat page's data file assembled for arm64-apple-macos11 by clang; `make -n shared` as on Darwin
# (Apple's linker flags, none of GNU ld's). In the sanitizer pass only the x86-64 files, through
# clang (a Mac's compiler, whose warnings differ). Left out: src/dist/dist_mpi.c and dist_nccl.c
# (they need mpi.h / nccl.h, present only in make MPI=1 / CUDA=1 builds) and src/cuda/ (CUDA, not
# C). What it cannot see: Apple's own headers (glibc's stand in: a name glibc declares and Apple
# does not is caught only when macos.h lists it), Apple's linker, and any run. About 10-15 s at -j2.
set -u
root=${GPTOSS_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_portable.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
jobs=${GPTOSS_PORTABLE_JOBS:-2}

files=$(ls src/*/*.c app/*/*.c | grep -v -e '^src/dist/dist_mpi\.c$' -e '^src/dist/dist_nccl\.c$')
n_files=$(echo "$files" | wc -l)
echo "# $n_files files; left out: src/dist/dist_mpi.c, src/dist/dist_nccl.c (need mpi.h, nccl.h), src/cuda/*.cu"

# The optional features a Mac has through Homebrew, on as the Makefile turns them on; libseccomp too,
# which no Mac has: its code must sit behind the __linux__ guard as well.
features=""
for f in "libmicrohttpd libcjson:GPTOSS_HAVE_SERVER" "libcurl:GPTOSS_HAVE_LIBCURL" "sqlite3:GPTOSS_HAVE_SQLITE" \
    "libxml-2.0:GPTOSS_HAVE_LIBXML2" "libedit:GPTOSS_HAVE_LIBEDIT" "libseccomp:GPTOSS_HAVE_LIBSECCOMP"; do
    pkgs=${f%%:*} macro=${f#*:}
    if [ "$macro" = GPTOSS_HAVE_LIBSECCOMP ] || pkg-config --exists $pkgs 2>/dev/null; then
        features="$features -D$macro $(pkg-config --cflags $pkgs 2>/dev/null)"
    else
        echo "# $pkgs not installed here: files compiled without $macro"
    fi
done

flags="-fsyntax-only -std=c11 -pthread -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing -Werror
    -U_GNU_SOURCE -D_DEFAULT_SOURCE -Itests/portable/absent -idirafter tests/portable/sdk
    -include tests/portable/macos.h -Iinclude -Isrc -Iapp -I$tmp"
# main.c's version header, made by the Makefile in a build
printf '#define GPTOSS_BUILD_VERSION "0"\n#define GPTOSS_GIT_DESCRIBE ""\n' >"$tmp/version.h"

# check LABEL CC FEATURES: every file through CC with FEATURES; one TAP line per file, the compiler's first lines on failure.
check() {
    local label=$1 cc=$2 feat=$3
    mkdir -p "$tmp/$label"
    # shellcheck disable=SC2086
    echo "$files" | xargs -P "$jobs" -I{} sh -c \
        'f={}; out="$1/$(echo "$f" | tr / _)"; extra=""; [ "$f" = app/cmd/main.c ] && extra="-include $4/version.h";
         if $2 $3 $extra "$f" >"$out.log" 2>&1; then echo ok >"$out.rc"; else echo fail >"$out.rc"; fi' \
        sh "$tmp/$label" "$cc" "$flags $feat" "$tmp"
    local f out bad=0
    for f in $files; do
        out="$tmp/$label/$(echo "$f" | tr / _)"
        if [ "$(cat "$out.rc" 2>/dev/null)" = ok ]; then
            echo "ok - portable $label: $f"
        else
            bad=$((bad + 1))
            echo "not ok - portable $label: $f"
            grep -E 'error|poisoned' "$out.log" | head -5 | sed 's/^/#   /'
        fi
    done
    echo "# $label: $bad of $n_files files failed"
}

start=$SECONDS
if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    # The sanitizer pass (clang): the same files through clang, the compiler a Mac has, whose warnings
    # differ from gcc's; the rest ran in the gcc pass.
    if command -v clang >/dev/null; then
        check clang-x86-64 clang "$features"
        echo "# clang x86-64 took $((SECONDS - start)) s"
    else
        echo "ok - portable clang # SKIP clang not installed"
    fi
    exit 0
fi
check x86-64 "${CC:-gcc}" "$features"
echo "# x86-64 took $((SECONDS - start)) s"
cross=${GPTOSS_ARM64_CC:-aarch64-linux-gnu-gcc}
if command -v "$cross" >/dev/null; then
    start=$SECONDS
    # Only the files that test the architecture or the system differ from the x86-64 pass; the host's
    # libraries' headers are x86's, so of the optional features only the guarded libseccomp is on.
    all_files=$files
    files=$(grep -lE '__aarch64__|__arm|__x86_64__|__APPLE__|__linux__' $all_files)
    n_files=$(echo "$files" | wc -l)
    check aarch64 "$cross" -DGPTOSS_HAVE_LIBSECCOMP
    files=$all_files
    echo "# aarch64 took $((SECONDS - start)) s"
else
    echo "ok - portable aarch64 # SKIP $cross not installed (Debian: gcc-aarch64-linux-gnu; tests/deps.sh)"
fi

# The chat page's bytes as Mach-O (server_page_data.S picks the spelling with __APPLE__).
if command -v clang >/dev/null; then
    if clang -target arm64-apple-macos11 -c app/server/server_page_data.S -o "$tmp/page.o" 2>"$tmp/page.log" &&
        [ -s "$tmp/page.o" ]; then
        echo "ok - portable arm64-apple-macos11: server_page_data.S assembles"
    else
        echo "not ok - portable arm64-apple-macos11: server_page_data.S assembles"
        head -5 "$tmp/page.log" | sed 's/^/#   /'
    fi
else
    echo "ok - portable arm64-apple-macos11: server_page_data.S # SKIP clang not installed"
fi

# make shared as on Darwin: Apple's ld takes -install_name and -exported_symbols_list, not GNU ld's
# -soname, --version-script or --no-undefined; as on Linux, the GNU flags.
darwin=$(make -n -s -B UNAME_S=Darwin BUILD="$tmp/mk" shared 2>&1 | grep -E -- ' -shared| -dynamiclib' | head -1)
linux=$(make -n -s -B UNAME_S=Linux BUILD="$tmp/mk" shared 2>&1 | grep -E -- ' -shared' | head -1)
if [ -n "$darwin" ] && ! echo "$darwin" | grep -qE -- '--no-undefined|--version-script|-soname' &&
    echo "$darwin" | grep -q -- '-install_name' && echo "$darwin" | grep -q -- '-exported_symbols_list'; then
    echo "ok - portable make shared on Darwin: Apple ld flags only"
else
    echo "not ok - portable make shared on Darwin: Apple ld flags only"
    echo "# link line: ${darwin:-none}"
fi
if [ -n "$linux" ] && echo "$linux" | grep -q -- '--version-script' && echo "$linux" | grep -q -- '-soname'; then
    echo "ok - portable make shared on Linux: GNU ld flags kept"
else
    echo "not ok - portable make shared on Linux: GNU ld flags kept"
    echo "# link line: ${linux:-none}"
fi
