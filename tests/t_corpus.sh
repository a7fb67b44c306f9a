#!/usr/bin/env bash
# t_corpus.sh: `gptoss index` and the browser tool over its corpus (`gptoss tool browser search|open
# --corpus`): a folder with linked HTML pages, Markdown, text, an ISO-8859-1 page, a binary file, a
# corrupt page, an unreadable file, a FIFO and a symbolic link loop is indexed with each bad file
# skipped and named; searches rank, show snippets and survive FTS5 syntax; results and links inside
# pages open other corpus pages; a missing URL gives the reference's error text; a damaged database
# is an error. Then 1,000 generated pages: the time to index them and to answer a search (printed as
# "# ..." lines; asserted only against a generous hang guard, see bench/RESULTS.md).
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_corpus.XXXXXX")
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; }
check() { # check NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else nok "$name"; fi
}

"$bin" index >"$tmp/out" 2>"$tmp/err"
rc=$?
check "index without arguments: usage, exit 2" [ $rc -eq 2 -a "$(grep -c '^gptoss: usage: gptoss index' "$tmp/err")" = 1 ]
"$bin" index "$tmp/nowhere" --out "$tmp/x.db" >"$tmp/out" 2>"$tmp/err"
rc=$?
if grep -q "built without" "$tmp/err"; then
    echo "ok - corpus # SKIP $(head -1 "$tmp/err")"
    exit 0
fi
check "index of a missing folder: one error line, exit 1" [ $rc -eq 1 -a "$(wc -l <"$tmp/err")" = 1 -a ! -e "$tmp/x.db" ]

# ---- the folder ----
d=$tmp/docs
mkdir -p "$d/guide" "$d/.hidden"
cat >"$d/index.html" <<'EOF'
<html><head><title>Project home</title></head><body><h1>Welcome</h1>
<p>Read the <a href="guide/install.html">installation guide</a>, the <a href="notes.md">release notes</a>
and the <a href="guide/install.html#requirements">requirements</a>.</p></body></html>
EOF
cat >"$d/guide/install.html" <<'EOF'
<html><head><title>Installation guide</title></head><body><h2 id="requirements">Requirements</h2>
<p>Installation needs a C compiler and make. The installation takes a minute.</p>
<p>Back to the <a href="../index.html">home page</a>; see also <a href="../missing.html">a page nobody wrote</a>.</p>
</body></html>
EOF
printf '# Release notes\n\nThe tokenizer is faster. See [the guide](guide/install.html).\n\n- fixed a crash\n- installation unchanged\n' >"$d/notes.md"
printf 'Zebras are striped.\nThey live in Africa.\n' >"$d/zebra.txt"
printf '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"><title>Caf\xe9 page</title></head><body><p>Un caf\xe9 cr\xe8me, s\x27il vous pla\xeet.</p></body></html>' >"$d/latin.html"
printf '<html>\0\1\2\3binary\0' >"$d/binary.html"
head -c 3000 /dev/urandom | tr -d '\000' >"$d/corrupt.html"
printf '<html><body><p>unclosed <a href="' >>"$d/corrupt.html"
echo '<p>secret</p>' >"$d/.hidden/secret.html"
echo '<p>locked</p>' >"$d/unreadable.html"
chmod 000 "$d/unreadable.html"
ln -s . "$d/loop"
ln -s ../index.html "$d/guide/link.html"
mkfifo "$d/fifo.html" 2>/dev/null
printf '\x89PNG\r\n' >"$d/image.png"

db=$tmp/corpus.db
timeout "$(scaled 60)" "$bin" index "$d" --out "$db" >"$tmp/out" 2>"$tmp/err"
rc=$?
sed 's/^/# /' "$tmp/out"
check "index exits 0 with a summary line" [ $rc -eq 0 -a -s "$db" ]
check "summary names the count" grep -qE '^index: [0-9]+ files indexed .* in [0-9.]+ s; [0-9]+ skipped' "$tmp/out"
check "the binary file is skipped as binary" grep -q '^skipped binary.html: binary' "$tmp/out"
check "the symbolic link loop is not followed" grep -q '^skipped loop: a symbolic link' "$tmp/out"
check "a link to a page is not followed" grep -q '^skipped guide/link.html: a symbolic link' "$tmp/out"
check "the FIFO is skipped, the walk does not block" grep -q '^skipped fifo.html: not a regular file' "$tmp/out"
if [ "$(id -u)" = 0 ]; then
    ok "unreadable file # SKIP running as root, which reads it anyway"
else
    check "the unreadable file is skipped" grep -q '^skipped unreadable.html: cannot read' "$tmp/out"
fi
check "hidden files are left out" bash -c "! grep -q secret '$tmp/out'"
n_indexed=$(sed -nE 's/^index: ([0-9]+) files indexed.*/\1/p' "$tmp/out")
check "the corrupt page is indexed or skipped with a reason" bash -c "grep -q '^skipped corrupt.html: ' '$tmp/out' || [ '$n_indexed' -ge 6 ]"
check "nothing left beside the database" [ "$(ls -A "$tmp" | grep -c '^\.corpus')" = 0 ]

# the output rule: no overwrite without --force, never through a link
cp "$db" "$tmp/before.db"
"$bin" index "$d" --out "$db" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "an existing database is not overwritten (exit 1)" [ $rc -eq 1 ]
check "... and is unchanged" cmp -s "$db" "$tmp/before.db"
ln -s "$tmp/elsewhere.db" "$tmp/link.db"
"$bin" index "$d" --out "$tmp/link.db" --force >"$tmp/out" 2>"$tmp/err"
check "a symbolic link as --out is refused" [ $? -eq 1 -a ! -e "$tmp/elsewhere.db" ]
"$bin" index "$d" --out "$db" --force >"$tmp/out" 2>"$tmp/err"
check "--force replaces it" [ $? -eq 0 -a -s "$db" ]
"$bin" index "$d" --out "$tmp/b.db" --base-url 'ftp://x/' >"$tmp/out" 2>"$tmp/err"
check "a base URL in another scheme is refused (exit 2)" [ $? -eq 2 -a ! -e "$tmp/b.db" ]
empty=$tmp/empty
mkdir -p "$empty"
echo x >"$empty/a.bin"
"$bin" index "$empty" --out "$tmp/e.db" >"$tmp/out" 2>"$tmp/err"
check "a folder with nothing to index: exit 1, nothing written" [ $? -eq 1 -a ! -e "$tmp/e.db" ]

# a damaged database, read by the tool command
head -c 20000 /dev/urandom >"$tmp/bad.db"
"$bin" tool browser search --corpus "$tmp/bad.db" --tokenizer /nonexistent zebra >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a database of random bytes: one error line, exit 1" \
    [ $rc -eq 1 -a "$(wc -l <"$tmp/err")" = 1 -a "$(grep -c 'not a corpus database' "$tmp/err")" = 1 ]
head -c 6000 "$db" >"$tmp/cut.db"
"$bin" tool browser search --corpus "$tmp/cut.db" --tokenizer /nonexistent zebra >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a truncated database: an error, no crash (exit $rc)" [ $rc -eq 1 ] && ! grep -qE 'Sanitizer|runtime error' "$tmp/err"

if need_shared "corpus browsing" vocab/o200k_base.tiktoken; then
    tok=$GPTOSS_SHARED/vocab/o200k_base.tiktoken
    search() { "$bin" tool browser search --corpus "$db" --tokenizer "$tok" "$@"; }
    open_() { "$bin" tool browser open --corpus "$db" --tokenizer "$tok" "$@"; }
    base=https://corpus.invalid
    search installation >"$tmp/s1" 2>"$tmp/err"
    check "search exits 0 with a results page" [ $? -eq 0 ] && grep -q '^L2: # Search Results' "$tmp/s1"
    first=$(grep -m1 -o '【0†[^†]*' "$tmp/s1")
    check "ranking: the page with the word in its title first ($first)" [ "$first" = "【0†Installation guide" ]
    check "snippets show matching text" grep -q 'Installation needs a C' "$tmp/s1"
    search zebras >"$tmp/s2"
    check "a text file is found" grep -q '【0†zebra.txt' "$tmp/s2"
    search tokenizer >"$tmp/s3"
    check "a Markdown file is found by its converted text, titled by its heading" \
        bash -c "grep -q '【0†Release notes' '$tmp/s3' && ! grep -q 'guide/install.html)' '$tmp/s3'"
    all=1
    for q in '"' '*' 'NEAR(' '-' ':' 'title:zebra' '"unbalanced' 'a OR' '((' '^' 'AND' '' '...' 'zebra*'; do
        search "$q" >"$tmp/q" 2>"$tmp/err"
        rc=$?
        if [ $rc -ne 0 ] || ! head -1 "$tmp/q" | grep -q '^\[0\] '; then
            echo "# query '$q': exit $rc: $(head -c 200 "$tmp/err")"
            all=0
        fi
    done
    check "FTS5 syntax in queries gives a results page, never an error" [ $all = 1 ]
    search 'zebra*' >"$tmp/q"
    check "zebra* searches the word zebra" grep -q '【0†zebra.txt' "$tmp/q"
    search '...' >"$tmp/q"
    check "an all-punctuation query: an empty results page" bash -c "! grep -q '【' '$tmp/q'"
    search cafe --open 0 >"$tmp/o1"
    check "a search result opens (ISO-8859-1 page converted)" \
        grep -q "^\[1\] Café page ($base/latin.html)" "$tmp/o1"
    check "... its text in UTF-8" grep -q "Un café crème, s'il vous plaît." "$tmp/o1"
    open_ "$base/index.html" --open 0 --open 0 >"$tmp/o2"
    check "a link inside a page opens another corpus page" grep -q "^\[1\] Installation guide ($base/guide/install.html)" "$tmp/o2"
    check "a relative ../ link leads back" grep -q "^\[2\] Project home ($base/index.html)" "$tmp/o2"
    open_ "$base/index.html" --open 2 >"$tmp/o3"
    check "a link with a #fragment opens the page" grep -q "^\[1\] Installation guide ($base/guide/install.html#requirements)" "$tmp/o3"
    open_ "$base/notes.md" --open 0 >"$tmp/o4"
    check "Markdown shows as a page and its links open" \
        bash -c "grep -q '^\[0\] Release notes ($base/notes.md)' '$tmp/o4' && grep -q '^\[1\] Installation guide' '$tmp/o4'"
    open_ "$base/guide/install.html" --open 1 >"$tmp/o5"
    want="Error fetching URL \`$base/missing.html\`: No contents returned for $base/missing.html"
    check "a link to a page not in the corpus: the tool's error text" grep -qxF "$want" "$tmp/o5"
    open_ "$base/nope.html" >"$tmp/o6"
    check "a missing URL: the tool's error text" grep -qxF "Error fetching URL \`$base/nope.html\`: No contents returned for $base/nope.html" "$tmp/o6"
    "$bin" index "$d" --out "$tmp/site.db" --base-url https://docs.example.com/v1 >/dev/null 2>&1
    "$bin" tool browser open --corpus "$tmp/site.db" --tokenizer "$tok" https://docs.example.com/v1/index.html --open 0 >"$tmp/o7"
    check "--base-url: pages and links under the site's URL" grep -q '^\[1\] Installation guide (https://docs.example.com/v1/guide/install.html)' "$tmp/o7"
fi

# ---- 1,000 pages: the Done-when of issue 18 ----
big=$tmp/big
mkdir -p "$big/p"
words=(alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec
    romeo sierra tango uniform victor whiskey xray yankee zulu compiler kernel memory thread socket buffer
    parser token stream cache index query page layout render driver module)
RANDOM=42
for ((i = 0; i < 1000; i++)); do
    body=""
    for ((k = 0; k < 12; k++)); do
        p=""
        for ((w = 0; w < 40; w++)); do p+="${words[RANDOM % ${#words[@]}]} "; done
        body+="<p>$p<a href=\"page$(((i + k + 1) % 1000)).html\">next $k</a></p>"
    done
    printf '<html><head><title>Page %d %s</title></head><body><h1>Page %d</h1>%s<p>unique%d</p></body></html>\n' \
        "$i" "${words[i % ${#words[@]}]}" "$i" "$body" "$i" >"$big/p/page$i.html"
done
start=$(date +%s%N)
timeout "$(scaled 300)" "$bin" index "$big" --out "$tmp/big.db" >"$tmp/out" 2>"$tmp/err"
rc=$?
end=$(date +%s%N)
index_ms=$(((end - start) / 1000000))
echo "# index of 1,000 HTML pages ($(du -sk "$big" | cut -f1) KiB): $index_ms ms, exit $rc; $(tail -1 "$tmp/out")"
check "1,000 pages indexed within the hang guard" [ $rc -eq 0 ] && grep -q '^index: 1000 files indexed' "$tmp/out"
if [ -n "${tok:-}" ]; then
    best=999999
    for q in 'kernel memory' unique517 'page layout driver' 'zulu'; do
        start=$(date +%s%N)
        "$bin" tool browser search --corpus "$tmp/big.db" --tokenizer "$tok" "$q" >"$tmp/q" 2>&1
        end=$(date +%s%N)
        ms=$(((end - start) / 1000000))
        [ $ms -lt $best ] && best=$ms
        echo "# gptoss tool browser search '$q' over 1,000 pages: $ms ms (the whole command: start, tokenizer load, search, page view)"
    done
    "$bin" tool browser search --corpus "$tmp/big.db" --tokenizer "$tok" unique517 >"$tmp/q" 2>&1
    check "unique517 finds page 517 first" grep -q '【0†Page 517 ' "$tmp/q"
    # the same corpus through `tool browser run` (calls as JSON lines): search, then open the first result
    printf '%s\n' '{"function":"search","args":{"query":"unique517"}}' '{"function":"open","args":{"id":0}}' |
        "$bin" tool browser run --corpus "$tmp/big.db" --tokenizer "$tok" >"$tmp/run" 2>"$tmp/run.err"
    check "tool browser run --corpus: a search, then its first result opened" \
        bash -c "[ \$(wc -l <'$tmp/run') = 2 ] && head -1 '$tmp/run' | grep -q '【0†Page 517 ' && tail -1 '$tmp/run' | grep -q '\"author\":\"browser.open\"' && tail -1 '$tmp/run' | grep -q 'Page 517'"
    "$bin" tool browser run --corpus "$tmp/big.db" --search-url http://127.0.0.1:9/search </dev/null >"$tmp/run" 2>"$tmp/run.err"
    check "tool browser run: --corpus with --search-url is a usage error" [ $? -eq 2 -a -s "$tmp/run.err" ]
    search_guard=$((5000 * GPTOSS_TEST_TIME_SCALE))
    check "a search command answers within the hang guard (${best} ms < ${search_guard} ms)" [ "$best" -lt "$search_guard" ]
fi
