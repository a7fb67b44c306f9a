#!/usr/bin/env bash
# t_install.sh: packaging (issue 22 item 5). `make install` into a temporary prefix puts the command,
# libgptoss.a, libgptoss.so with its soname and symlinks, gptoss.h, gptoss.pc and the man page where
# PREFIX (and DESTDIR, LIBDIR, ...) say; the shared library exports only the functions gptoss.h
# declares; the installed header compiles alone as C and C++; examples/greedy.c builds with
# `pkg-config --cflags --libs gptoss` against the .so and statically, runs, and prints what
# `gptoss generate` prints; the man page renders; `make uninstall` leaves nothing behind.
# Under a sanitized build (ASan in the command) the install uses the same CC and SANITIZE, and the
# example is compiled with the sanitizer too.
set -u
bin=${GPTOSS_BIN:?}
build=${GPTOSS_BUILD:?}
root=${GPTOSS_ROOT:?}
tmp=${GPTOSS_TMP:?}/t_install
rm -rf "$tmp"
mkdir -p "$tmp"
prefix=$tmp/prefix
version=$(cat "$root/VERSION")
major=${version%%.*}

ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; }
check() { # NAME CMD...: ok when CMD succeeds
    local name=$1; shift
    if "$@" >"$tmp/check.out" 2>&1; then ok "$name"; else nok "$name: $(head -c 600 "$tmp/check.out")"; fi
}

# In the sanitizer pass of `make test` (GPTOSS_TEST_SANITIZED) packaging is not checked again: its
# shared library is a second sanitized compile of every source (2.5 of CI's 30 minutes), and the code
# in it runs sanitized in every other unit. A sanitized build run by hand still checks it.
if [ -n "${GPTOSS_TEST_SANITIZED:-}" ]; then
    echo "ok - install # SKIP the sanitizer pass (the gcc pass checks packaging; run it by hand without GPTOSS_TEST_SANITIZED)"
    exit 0
fi
# The build's own compiler and sanitizers, so make install only adds the shared library.
cc=cc make_args=(-s -j"$(nproc 2>/dev/null || echo 2)" -C "$root" BUILD="$build" WERROR=1)
san_flags=()
if nm "$bin" 2>/dev/null | grep -q '__asan_init'; then
    grep -qi clang <(readelf -p .comment "$bin" 2>/dev/null) && cc=clang
    make_args+=(CC="$cc" SANITIZE=address,undefined)
    san_flags=(-fsanitize=address,undefined)
fi

check "make install PREFIX=$prefix" make "${make_args[@]}" install PREFIX="$prefix"
for f in bin/gptoss lib/libgptoss.a lib/libgptoss.so.$version include/gptoss.h lib/pkgconfig/gptoss.pc \
    share/man/man1/gptoss.1; do
    [ -f "$prefix/$f" ] && ok "installed $f" || nok "make install did not install $f"
done
[ "$(readlink "$prefix/lib/libgptoss.so")" = "libgptoss.so.$major" ] &&
    [ "$(readlink "$prefix/lib/libgptoss.so.$major")" = "libgptoss.so.$version" ] &&
    ok "libgptoss.so -> libgptoss.so.$major -> libgptoss.so.$version" || nok "the .so symlinks are wrong: $(ls -l "$prefix/lib")"
soname=$(readelf -d "$prefix/lib/libgptoss.so.$version" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libgptoss.so.$major" ] && ok "soname $soname" || nok "soname is '$soname', want libgptoss.so.$major"

# Only the public API is exported: the dynamic symbols are exactly the functions gptoss.h declares.
grep -oE '\bgptoss_[a-z0-9_]+ *\(' "$root/include/gptoss.h" | tr -d ' (' | sort -u >"$tmp/header.txt"
nm -D --defined-only "$prefix/lib/libgptoss.so.$version" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u >"$tmp/exported.txt"
if [ -s "$tmp/header.txt" ] && cmp -s "$tmp/header.txt" "$tmp/exported.txt"; then
    ok "libgptoss.so exports exactly the $(wc -l <"$tmp/header.txt") functions of gptoss.h"
else
    nok "exported symbols differ from gptoss.h's functions: $(diff "$tmp/header.txt" "$tmp/exported.txt" | head -10 | tr '\n' ' ')"
fi

# The installed command
out=$("$prefix/bin/gptoss" --version 2>&1)
case $out in "gptoss $version" | "gptoss $version ("*")") ok "installed gptoss --version: $out" ;;
*) nok "installed gptoss --version printed '$out'" ;; esac
[ "$("$prefix/bin/gptoss" version 2>&1)" = "$out" ] && ok "gptoss version prints the same" ||
    nok "gptoss version and --version differ"

# pkg-config
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion gptoss 2>&1)" = "$version" ] && ok "pkg-config --modversion gptoss is $version" ||
    nok "pkg-config --modversion gptoss: $(pkg-config --modversion gptoss 2>&1)"
flags=$(echo $(pkg-config --cflags --libs gptoss 2>&1))
[ "$flags" = "-I$prefix/include -L$prefix/lib -lgptoss" ] && ok "pkg-config --cflags --libs gptoss: $flags" ||
    nok "pkg-config --cflags --libs gptoss: '$flags'"
static_libs=$(pkg-config --static --libs gptoss 2>&1)
case " $static_libs " in *" -lm "*) case " $static_libs " in *" -lpthread "*) ok "Libs.private has -lm -lpthread" ;;
    *) nok "pkg-config --static --libs gptoss has no -lpthread: '$static_libs'" ;; esac ;;
*) nok "pkg-config --static --libs gptoss has no -lm: '$static_libs'" ;; esac

# The installed header alone, as C and as C++ (warnings as errors).
printf '#include <gptoss.h>\nint main(void) { return gptoss_status_string(GPTOSS_OK) == 0; }\n' >"$tmp/h.c"
check "gptoss.h compiles alone as C11 (-Wall -Wextra -pedantic -Werror)" \
    "$cc" -std=c11 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags gptoss) -fsyntax-only "$tmp/h.c"
check "gptoss.h compiles alone as C99" "$cc" -std=c99 -Wall -Wextra -Werror $(pkg-config --cflags gptoss) -fsyntax-only "$tmp/h.c"
cxx=c++; [ "$cc" = clang ] && cxx=clang++
if command -v "$cxx" >/dev/null; then
    check "gptoss.h compiles alone as C++11 (-Wall -Wextra -pedantic -Werror)" \
        "$cxx" -std=c++11 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags gptoss) -fsyntax-only -x c++ "$tmp/h.c"
else
    echo "ok - gptoss.h as C++ # SKIP no $cxx"
fi

# The example against the installed library: shared (rpath), then static.
"$bin" synth --out "$tmp/model" --preset tiny >"$tmp/synth.log" 2>&1 || nok "gptoss synth: $(cat "$tmp/synth.log")"
want=$("$bin" generate "$tmp/model" --ids "1 2 3" -n 6 2>/dev/null)
check "examples/greedy.c builds against libgptoss.so (pkg-config --cflags --libs gptoss)" \
    "$cc" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" "$root/examples/greedy.c" \
    $(pkg-config --cflags --libs gptoss) -Wl,-rpath,"$prefix/lib" -o "$tmp/greedy-shared"
if readelf -d "$tmp/greedy-shared" 2>/dev/null | grep -q "NEEDED.*\[libgptoss.so.$major\]"; then
    ok "the shared example needs libgptoss.so.$major"
else nok "the shared example does not link libgptoss.so.$major"; fi
got=$("$tmp/greedy-shared" "$tmp/model" 6 1 2 3 2>&1)
[ -n "$want" ] && [ "$got" = "$want" ] && ok "the shared example prints what gptoss generate prints ($got)" ||
    nok "the shared example printed '$got', gptoss generate '$want'"
static_flags=$(pkg-config --static --cflags --libs gptoss | sed 's/-lgptoss/-Wl,-Bstatic -lgptoss -Wl,-Bdynamic/')
check "examples/greedy.c builds against libgptoss.a (pkg-config --static)" \
    "$cc" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" "$root/examples/greedy.c" $static_flags -o "$tmp/greedy-static"
readelf -d "$tmp/greedy-static" 2>/dev/null | grep -q 'NEEDED.*libgptoss' &&
    nok "the static example links libgptoss.so" || ok "the static example has libgptoss linked in"
got=$("$tmp/greedy-static" "$tmp/model" 6 1 2 3 2>&1)
[ -n "$want" ] && [ "$got" = "$want" ] && ok "the static example prints what gptoss generate prints" ||
    nok "the static example printed '$got', gptoss generate '$want'"

grep -q "^\.TH GPTOSS 1 .* \"gptoss $version\"" "$root/docs/gptoss.1" && ok "gptoss.1's .TH names release $version" ||
    nok "docs/gptoss.1's .TH line does not name gptoss $version (VERSION)"
# The man page renders without warnings, found through MANPATH's layout.
if command -v groff >/dev/null; then
    check "gptoss.1 renders without groff warnings" bash -c \
        "groff -man -Tutf8 -ww -z '$prefix/share/man/man1/gptoss.1' 2>&1 | { ! grep .; }"
    groff -man -Tutf8 "$prefix/share/man/man1/gptoss.1" 2>/dev/null | grep -q 'gptoss - run OpenAI' &&
        ok "gptoss.1 renders its NAME line" || nok "gptoss.1 did not render"
else
    echo "ok - man page rendering # SKIP groff not installed"
fi
if command -v man >/dev/null; then
    MANPAGER=cat MANWIDTH=80 man -M "$prefix/share/man" gptoss 2>/dev/null | grep -q 'SYNOPSIS' &&
        ok "man -M PREFIX/share/man gptoss finds the page" || nok "man -M $prefix/share/man gptoss failed"
else
    echo "ok - man # SKIP man not installed"
fi

# make uninstall leaves nothing (the directories make install created may stay).
check "make uninstall PREFIX=$prefix" make "${make_args[@]}" uninstall PREFIX="$prefix"
left=$(find "$prefix" ! -type d | head -5)
[ -z "$left" ] && ok "make uninstall removed every installed file" || nok "make uninstall left: $left"

# DESTDIR and the directory variables: staged under DESTDIR, the .pc names the final paths.
stage=$tmp/stage
check "make install DESTDIR=... PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu MANDIR=/usr/share/man" \
    make "${make_args[@]}" install DESTDIR="$stage" PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu MANDIR=/usr/share/man
[ -f "$stage/usr/bin/gptoss" ] && [ -f "$stage/usr/lib/x86_64-linux-gnu/libgptoss.so.$version" ] &&
    [ -f "$stage/usr/lib/x86_64-linux-gnu/pkgconfig/gptoss.pc" ] && [ -f "$stage/usr/share/man/man1/gptoss.1" ] &&
    [ -f "$stage/usr/include/gptoss.h" ] && ok "DESTDIR and LIBDIR honoured" || nok "DESTDIR install: $(cd "$stage" && find . ! -type d | tr '\n' ' ')"
pc=$stage/usr/lib/x86_64-linux-gnu/pkgconfig/gptoss.pc
grep -qx 'libdir=/usr/lib/x86_64-linux-gnu' "$pc" 2>/dev/null && grep -qx 'prefix=/usr' "$pc" &&
    ok "gptoss.pc names the final paths, not DESTDIR" || nok "gptoss.pc: $(tr '\n' ' ' <"$pc" 2>/dev/null)"
check "make uninstall DESTDIR=..." make "${make_args[@]}" uninstall DESTDIR="$stage" PREFIX=/usr \
    LIBDIR=/usr/lib/x86_64-linux-gnu MANDIR=/usr/share/man
left=$(find "$stage" ! -type d | head -5)
[ -z "$left" ] && ok "make uninstall DESTDIR=... removed every file" || nok "make uninstall DESTDIR=... left: $left"

# A build outside git: the version header has the release and no describe.
mkdir -p "$tmp/nogit"
cp "$root/Makefile" "$root/VERSION" "$tmp/nogit/"
if make -s -C "$tmp/nogit" BUILD=b b/gen/version.h >"$tmp/nogit.log" 2>&1 &&
    grep -q "GPTOSS_BUILD_VERSION \"$version\"" "$tmp/nogit/b/gen/version.h" &&
    grep -q 'GPTOSS_GIT_DESCRIBE ""' "$tmp/nogit/b/gen/version.h"; then
    ok "outside git the version is VERSION alone"
else
    nok "outside git: $(cat "$tmp/nogit.log" "$tmp/nogit/b/gen/version.h" 2>&1 | head -5)"
fi
exit 0
