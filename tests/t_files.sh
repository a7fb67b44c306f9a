#!/usr/bin/env bash
# t_files.sh: the commands that write model files (synth, convert) never overwrite or remove a file
# they did not create: a folder holding files is refused unless --force, and then only synth's own
# names change; an existing .gguf is replaced only with --force; nothing is written or removed
# through a symbolic link; no staging folder is left behind.
set -u
bin=${GPTOSS_BIN:?}
tmp=${GPTOSS_TMP:?}/t_files
rm -rf "$tmp"
mkdir -p "$tmp"

# snapshot DIR: every entry under DIR (type, name, link target) and every file's checksum, so two
# snapshots are equal exactly when nothing under DIR changed.
snapshot() {
    (cd "$1" && find . -printf '%y %p %l\n' | LC_ALL=C sort && find . -type f -exec md5sum {} + | LC_ALL=C sort)
}
# no_staging DIR: no .NAME.tmp-XXXXXX folder left in DIR.
no_staging() { [ -z "$(find "$1" -maxdepth 1 -name '.*.tmp-*' -print -quit)" ]; }
# refused NAME RC ERRFILE NEEDLE: a non-zero exit with one "gptoss: " line holding NEEDLE.
refused() {
    if [ "$2" -ne 0 ] && [ "$(wc -l <"$3" | tr -d ' ')" = 1 ] && grep -q '^gptoss: ' "$3" && grep -qF -- "$4" "$3"; then
        echo "ok - $1: $(cat "$3")"
    else
        echo "not ok - $1 (rc $2, stderr: $(head -3 "$3" | tr '\n' '|'))"
    fi
}

# A real download's folder: shards, index, config and a README synth does not write.
dl=$tmp/download
mkdir -p "$dl"
printf 'foreign shard bytes\n' >"$dl/model-00001-of-00002.safetensors"
printf '{"weight_map": {}}\n' >"$dl/model.safetensors.index.json"
printf '{"known": "content"}\n' >"$dl/config.json"
printf 'readme\n' >"$dl/README.md"
snapshot "$dl" >"$tmp/dl.before"

"$bin" synth --out "$dl" --seed 1 >"$tmp/out" 2>"$tmp/err"
refused "synth refuses a folder holding files" $? "$tmp/err" "is not empty"
if snapshot "$dl" | cmp -s - "$tmp/dl.before" && no_staging "$tmp"; then
    echo "ok - the refused folder is byte-identical, no staging folder left"
else
    echo "not ok - synth without --force changed $dl: $(snapshot "$dl" | diff "$tmp/dl.before" - | head -5 | tr '\n' '|')"
fi

# --force: synth's own names (config.json, generation_config.json, model.safetensors) change; the
# foreign shard, index and README stay as they were.
"$bin" synth --out "$dl" --seed 1 --force >"$tmp/out" 2>"$tmp/err"
rc=$?
own=' \./((generation_)?config\.json|model\.safetensors) ?$'
grep -Ev "$own" "$tmp/dl.before" >"$tmp/dl.kept"
if [ $rc -eq 0 ] && [ -s "$tmp/out" ] && [ -s "$dl/model.safetensors" ] && grep -q '"num_hidden_layers"' "$dl/config.json" &&
    [ "$(cat "$dl/model-00001-of-00002.safetensors")" = "foreign shard bytes" ] &&
    [ "$(cat "$dl/model.safetensors.index.json")" = '{"weight_map": {}}' ] && [ "$(cat "$dl/README.md")" = readme ] &&
    snapshot "$dl" | grep -Ev "$own" | cmp -s - "$tmp/dl.kept" &&
    no_staging "$tmp"; then
    echo "ok - synth --force replaces only its own files; the foreign shard, index and README survive"
else
    echo "not ok - synth --force (rc $rc, stderr: $(head -3 "$tmp/err" | tr '\n' '|'); listing: $(ls -A "$dl" | tr '\n' ' '))"
fi

# --force with original/ a symbolic link to another folder: refused, nothing written through it,
# and no top-level file replaced either (folders are merged before files).
mkdir -p "$tmp/victim"
printf 'canary\n' >"$tmp/victim/canary"
mkdir -p "$tmp/linked"
printf 'keep\n' >"$tmp/linked/notes.txt"
ln -s "$tmp/victim" "$tmp/linked/original"
snapshot "$tmp/victim" >"$tmp/victim.before"
snapshot "$tmp/linked" >"$tmp/linked.before"
"$bin" synth --out "$tmp/linked" --original --force >"$tmp/out" 2>"$tmp/err"
refused "synth --force refuses to write through an original/ symlink" $? "$tmp/err" "original"
if snapshot "$tmp/victim" | cmp -s - "$tmp/victim.before" && snapshot "$tmp/linked" | cmp -s - "$tmp/linked.before" &&
    no_staging "$tmp"; then
    echo "ok - the symlink's target and the folder are unchanged"
else
    echo "not ok - synth --force wrote through original/: $(ls -A "$tmp/victim" "$tmp/linked" | tr '\n' ' ')"
fi

# --format gguf: a file or folder named like the old fixed temporary (X.gguf.synth-tmp), here a
# symbolic link to a folder with a canary, is none of synth's business.
ln -s "$tmp/victim" "$tmp/x.gguf.synth-tmp"
"$bin" synth --format gguf --out "$tmp/x.gguf" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/out" ] && [ "$(head -c 4 "$tmp/x.gguf")" = GGUF ] && [ -L "$tmp/x.gguf.synth-tmp" ] &&
    snapshot "$tmp/victim" | cmp -s - "$tmp/victim.before" && no_staging "$tmp"; then
    echo "ok - synth --format gguf leaves X.gguf.synth-tmp (a symlink) and its target's canary alone"
else
    echo "not ok - synth --format gguf (rc $rc, stderr: $(head -3 "$tmp/err" | tr '\n' '|'); victim: $(ls -A "$tmp/victim" | tr '\n' ' '))"
fi

# An existing .gguf: refused without --force (byte-identical), replaced with it.
printf 'precious\n' >"$tmp/keep.gguf"
"$bin" synth --out "$tmp/keep.gguf" >"$tmp/out" 2>"$tmp/err"
refused "synth refuses an existing .gguf" $? "$tmp/err" "exists"
printf 'precious\n' | cmp -s - "$tmp/keep.gguf" && echo "ok - the refused .gguf is unchanged" ||
    echo "not ok - synth without --force changed $tmp/keep.gguf"
if "$bin" synth --out "$tmp/keep.gguf" --force >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/out" ] &&
    [ "$(head -c 4 "$tmp/keep.gguf")" = GGUF ] && no_staging "$tmp"; then
    echo "ok - synth --force replaces an existing .gguf"
else
    echo "not ok - synth --force onto a .gguf: $(head -3 "$tmp/err" | tr '\n' '|')"
fi

# A new or empty folder needs no --force.
mkdir -p "$tmp/empty"
if "$bin" synth --out "$tmp/empty" >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/out" ] && [ -s "$tmp/empty/config.json" ] &&
    [ -s "$tmp/empty/model.safetensors" ] && no_staging "$tmp"; then
    echo "ok - synth writes into an empty folder"
else
    echo "not ok - synth into an empty folder: $(head -3 "$tmp/err" | tr '\n' '|')"
fi

# convert: the same rules for its .gguf.
model=$tmp/empty
printf 'precious\n' >"$tmp/conv.gguf"
"$bin" convert "$model" --to gguf "$tmp/conv.gguf" --no-tokenizer >"$tmp/out" 2>"$tmp/err"
refused "convert refuses an existing output file" $? "$tmp/err" "exists"
printf 'precious\n' | cmp -s - "$tmp/conv.gguf" && echo "ok - the refused output file is unchanged" ||
    echo "not ok - convert without --force changed $tmp/conv.gguf"
if "$bin" convert "$model" --to gguf "$tmp/conv.gguf" --no-tokenizer --force >"$tmp/out" 2>"$tmp/err" &&
    grep -q "wrote $tmp/conv.gguf" "$tmp/err" && [ "$(head -c 4 "$tmp/conv.gguf")" = GGUF ] && no_staging "$tmp"; then
    echo "ok - convert --force replaces it"
else
    echo "not ok - convert --force: $(head -3 "$tmp/err" | tr '\n' '|')"
fi
ln -s "$tmp/victim/canary" "$tmp/link.gguf"
"$bin" convert "$model" --to gguf "$tmp/link.gguf" --no-tokenizer --force >"$tmp/out" 2>"$tmp/err"
refused "convert refuses a symbolic link as its output" $? "$tmp/err" "symbolic link"
if [ -L "$tmp/link.gguf" ] && snapshot "$tmp/victim" | cmp -s - "$tmp/victim.before" && no_staging "$tmp"; then
    echo "ok - the link and its target are unchanged"
else
    echo "not ok - convert wrote through $tmp/link.gguf"
fi
