#!/usr/bin/env bash
# t_docs.sh: what the README and docs/COMMANDS.md claim matches the build: every command `gptoss help`
# lists is documented in docs/COMMANDS.md and every documented command exists; every command's
# --help works; the README starts with the two commands, and names each optional library the Makefile
# looks for with pkg-config, which docs/GETTING-STARTED.md lists with its Debian package.
set -u
bin=${GPTOSS_BIN:?}
root=${GPTOSS_ROOT:?}
commands=$("$bin" help 2>&1 | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$commands" ] && echo "ok - gptoss help lists the commands" || echo "not ok - gptoss help listed no command"
documented=$(grep '^| \[`' "$root/docs/COMMANDS.md" | grep -o '\[`[a-z-]*`\]' | tr -d '[]`' | sort -u)
for c in $commands; do
    if grep -q "^## .*\b$c\b" "$root/docs/COMMANDS.md" && printf '%s\n' "$documented" | grep -qx "$c"; then
        echo "ok - docs/COMMANDS.md documents $c"
    else
        echo "not ok - docs/COMMANDS.md has no section or table row for $c"
    fi
    out=$("$bin" "$c" --help 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "usage: gptoss $c"; then echo "ok - $c --help"
    else echo "not ok - $c --help (exit $rc): $(printf '%s' "$out" | head -n 2)"; fi
done
# The man page (docs/gptoss.1, installed by make install) lists every command as a .TP entry.
for c in $commands; do
    grep -A1 '^\.TP' "$root/docs/gptoss.1" | grep -qE "^\.BI? \"?${c//-/\\\\-}[ \"]|^\.BI? ${c//-/\\\\-}\$" &&
        echo "ok - docs/gptoss.1 lists $c" || echo "not ok - the man page docs/gptoss.1 does not list $c"
done
for c in $documented; do
    printf '%s\n' $commands | grep -qx "$c" && echo "ok - documented command $c exists" ||
        echo "not ok - docs/COMMANDS.md documents $c, which gptoss help does not list"
done
first=$(grep -m 2 '^make ' "$root/README.md" | awk '{print $1, $2}' | tr '\n' ' ')
[ "$first" = "make demo make test " ] && echo "ok - README starts with make demo and make test" ||
    echo "not ok - README's first commands are '$first'"
# What each of the two installs: make demo nothing (its recipe runs no installer), make test the test
# dependencies (tests/all.sh runs tests/deps.sh); the README says so.
demo_recipe=$(make -s -n -C "$root" demo BUILD=/nonexistent-build 2>/dev/null)
if ! printf '%s' "$demo_recipe" | grep -q 'deps.sh\|apt-get\|npm' && grep -q 'installs nothing' "$root/README.md"; then
    echo "ok - make demo installs nothing, as the README says"
else
    echo "not ok - make demo's recipe installs something, or the README does not say it installs nothing"
fi
if grep -q 'tests/deps.sh' "$root/tests/all.sh" && grep -q 'make test. first installs' "$root/README.md"; then
    echo "ok - make test installs the test dependencies (tests/deps.sh), as the README says"
else
    echo "not ok - make test and the README disagree on what it installs"
fi
# The optional libraries: each pkg-config name the Makefile probes, as the README spells it.
for lib in $(sed -n 's/.*pkg-config --exists \([a-z0-9 -]*\) 2>.*/\1/p' "$root/Makefile"); do
    case $lib in libcjson) name=cJSON ;; libxml-2.0) name=libxml2 ;; *) name=$lib ;; esac
    if grep -qi "$name" "$root/README.md" && grep -qi "$name" "$root/docs/GETTING-STARTED.md"; then
        echo "ok - README and GETTING-STARTED name the optional library $name"
    else
        echo "not ok - the Makefile probes $lib but README.md or docs/GETTING-STARTED.md does not name $name"
    fi
done
exit 0
