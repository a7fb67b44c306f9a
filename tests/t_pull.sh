#!/usr/bin/env bash
# t_pull.sh: `gptoss pull`, `list`, `rm` and model names against the loopback Hub of
# tests/hub_double.mjs (HF_ENDPOINT pointing at it, HF_HOME a temporary folder), with repositories made
# by `gptoss synth` (a Hugging Face layout plus original/). It proves: a fresh pull gives the layout
# huggingface_hub writes (blob names, relative links, refs/main) with the bytes of the source; a second
# pull fetches nothing; an interrupted pull resumes without fetching its bytes again, in a new run and
# inside one run (retry); corrupted bytes are refused with no snapshot; gated repo, bad token (from
# HF_TOKEN and from HF_HOME/token, never printed), missing repository and revision, a redirect to
# file:, a full disk are one line and a non-zero exit; --include 'original/*' pulls only that and
# loads; `gptoss info NAME` loads from the cache, and a missing name says which pull to run; list and rm.
# Hugging Face's own library (@huggingface/hub, tests/hub_interop.mjs) reads the cache gptoss wrote,
# and gptoss reads and completes one the library wrote. The token reaches the Hub, never the CDN host.
set -u
bin=${GPTOSS_BIN:?}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/lib.sh"
for c in node python3 curl; do
    command -v $c >/dev/null || { echo "ok - pull # SKIP $c not installed"; exit 0; }
done
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_pull.XXXXXX")
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# a name not in the cache: the error names the pull to run (no network needed)
HF_HOME=$tmp/empty "$bin" info gpt-oss-120b >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -qF 'run `gptoss pull openai/gpt-oss-120b`' "$tmp/err" &&
    echo "ok - info NAME not in the cache says which pull to run" ||
    echo "not ok - info gpt-oss-120b with an empty cache (exit $rc: $(head -c 300 "$tmp/err"))"

"$bin" pull gpt-oss-20b --parallel 0 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "invalid value '0' for --parallel" "$tmp/err" && echo "ok - pull: a bad --parallel is a usage error" ||
    echo "not ok - pull --parallel 0: $(head -c 200 "$tmp/err")"
"$bin" pull ../etc >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "not a model name" "$tmp/err" && echo "ok - pull: '../etc' is not a model name" ||
    echo "not ok - pull ../etc: $(head -c 200 "$tmp/err")"

HF_HOME=$tmp/x HF_ENDPOINT=http://127.0.0.1:9 "$bin" pull gpt-oss-20b --retries 0 >"$tmp/out" 2>"$tmp/err"
if grep -q "built without libcurl" "$tmp/err"; then
    grep -q "libcurl4-openssl-dev" "$tmp/err" && echo "ok - without libcurl, pull names the package" ||
        echo "not ok - without libcurl: $(head -c 200 "$tmp/err")"
    echo "ok - pull # SKIP gptoss built without libcurl (libcurl4-openssl-dev)"
    exit 0
fi

# the repositories: a small random checkpoint in both layouts
"$bin" synth --out "$tmp/src" --preset tiny --original >/dev/null 2>"$tmp/err" ||
    { echo "not ok - synth for the hub double: $(head -c 200 "$tmp/err")"; exit 0; }
node "$root/tests/hub_double.mjs" --repo openai/gpt-oss-20b="$tmp/src" --gated acme/gated="$tmp/src" \
    --token hf_good_token_123 >"$tmp/port" 2>"$tmp/server.err" &
server=$!
port_ready() { [ -s "$tmp/port" ] || ! kill -0 "$server" 2>/dev/null; }
wait_until 30 port_ready
read -r port <"$tmp/port" || true
[ -n "${port:-}" ] || { echo "not ok - hub double did not start: $(head -c 300 "$tmp/server.err")"; exit 0; }
hub=http://127.0.0.1:$port
export HF_ENDPOINT=$hub
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_TOKEN_PATH
ctl() { curl -s "$hub/_control?$1" >/dev/null; }
served() { curl -s "$hub/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])'; }
commit=$(curl -s "$hub/_repo/openai/gpt-oss-20b")
repo_dir() { echo "$1/hub/models--openai--gpt-oss-20b"; }

# layout HF_HOME [PREFIX]: the cache holds, for every source file under PREFIX, the layout
# huggingface_hub writes; prints what differs, nothing when all is well
layout() {
    python3 - "$(repo_dir "$1")" "$tmp/src" "$commit" "${2:-}" <<'EOF'
import hashlib, os, sys
repo, src, commit, prefix = sys.argv[1:5]
bad = []
ref = open(os.path.join(repo, "refs/main"), "rb").read()
if ref != commit.encode(): bad.append(f"refs/main holds {ref!r}, not {commit}")
snap = os.path.join(repo, "snapshots", commit)
want = set()
for d, _, names in os.walk(src):
    for n in names:
        rel = os.path.relpath(os.path.join(d, n), src)
        if rel.startswith(prefix): want.add(rel)
have = set()
for d, _, names in os.walk(snap):
    for n in names: have.add(os.path.relpath(os.path.join(d, n), snap))
if have != want: bad.append(f"snapshot files {sorted(have)} != {sorted(want)}")
for rel in sorted(want & have):
    data = open(os.path.join(src, rel), "rb").read()
    # LFS files (*.safetensors on the double) by sha256, others by their git blob sha1
    if rel.endswith(".safetensors"): name = hashlib.sha256(data).hexdigest()
    else: name = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    link = os.path.join(snap, rel)
    target = "../" * (rel.count("/") + 2) + "blobs/" + name
    if not os.path.islink(link): bad.append(f"{rel} is not a symlink")
    elif os.readlink(link) != target: bad.append(f"{rel} -> {os.readlink(link)}, not {target}")
    elif open(link, "rb").read() != data: bad.append(f"{rel}: other bytes than the source")
    if not os.path.isfile(os.path.join(repo, "blobs", name)): bad.append(f"no blob {name}")
print("; ".join(bad))
EOF
}

# 1. a fresh pull
ctl reset=1
h1=$tmp/hf1
total=$(find "$tmp/src" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
HF_HOME=$h1 "$bin" pull gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
diff=$(layout "$h1")
[ $rc -eq 0 ] && [ -z "$diff" ] && grep -q "^openai/gpt-oss-20b at ${commit:0:12}: 6 files" "$tmp/out" &&
    echo "ok - fresh pull: huggingface_hub's layout (blob names, relative links, refs/main), source bytes" ||
    echo "not ok - fresh pull (exit $rc: $(head -c 300 "$tmp/err") | $diff)"
b=$(served)
[ "$b" = "$total" ] && echo "ok - fresh pull fetched each byte once ($b bytes)" || echo "not ok - fresh pull served $b bytes, files hold $total"
grep -q "gptoss pull: 100.0%.*6/6 files" "$tmp/err" && ! grep -q $'\r' "$tmp/err" &&
    echo "ok - pull progress: plain lines when stderr is not a terminal" || echo "not ok - progress lines: $(tail -c 300 "$tmp/err")"
[ -z "$(find "$(repo_dir "$h1")/blobs" -name '*.incomplete')" ] && echo "ok - no .incomplete left after a pull" ||
    echo "not ok - .incomplete left behind"

# on a terminal (script(1) gives it one): a bar redrawn in place with bytes, rate, ETA and files
if command -v script >/dev/null; then
    HF_HOME=$tmp/hf_tty script -qec "'$bin' pull gpt-oss-20b" /dev/null >"$tmp/tty" 2>&1
    rc=$?
    [ $rc -eq 0 ] && grep -q $'\r\[#\{30\}\] 100.0% 1.1 MiB / 1.1 MiB .*/s  ETA .*  6/6 files' "$tmp/tty" &&
        ! grep -q "^gptoss pull: " "$tmp/tty" && echo "ok - pull progress on a terminal: one bar redrawn in place" ||
        echo "not ok - progress on a terminal (exit $rc): $(tr '\r' '|' <"$tmp/tty" | head -c 300)"
else
    echo "ok - pull progress on a terminal # SKIP script(1) not installed"
fi

HF_HOME=$h1 "$bin" info gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "^model .*models--openai--gpt-oss-20b/snapshots/$commit (Hugging Face layout)" "$tmp/out" &&
    echo "ok - info gpt-oss-20b loads the pulled snapshot" || echo "not ok - info gpt-oss-20b (exit $rc: $(head -c 300 "$tmp/err"))"
HF_HOME=$h1 "$bin" info "openai/gpt-oss-20b@$commit" >"$tmp/out" 2>"$tmp/err" &&
    grep -q "snapshots/$commit" "$tmp/out" && echo "ok - info OWNER/NAME@COMMIT" || echo "not ok - info OWNER/NAME@COMMIT: $(head -c 300 "$tmp/err")"
# the other commands that load a model take the name too: eval's logits equal those of the folder
HF_HOME=$h1 "$bin" eval gpt-oss-20b --ids "1 2 3" --logits "$tmp/by_name.f32" >/dev/null 2>"$tmp/err"
rc1=$?
"$bin" eval "$tmp/src" --ids "1 2 3" --logits "$tmp/by_path.f32" >/dev/null 2>>"$tmp/err"
rc2=$?
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -s "$tmp/by_name.f32" ] && cmp -s "$tmp/by_name.f32" "$tmp/by_path.f32" &&
    echo "ok - eval gpt-oss-20b: the same logits as the source folder" ||
    echo "not ok - eval by name (exit $rc1/$rc2: $(head -c 300 "$tmp/err"))"
# a path on disk wins over a name
mkdir -p "$tmp/cwd" && cp -r "$tmp/src" "$tmp/cwd/gpt-oss-20b"
(cd "$tmp/cwd" && HF_HOME=$h1 "$bin" info gpt-oss-20b) >"$tmp/out" 2>&1 && grep -q "^model  *gpt-oss-20b " "$tmp/out" &&
    echo "ok - a folder named like a model wins over the cache" || echo "not ok - path over name: $(head -c 300 "$tmp/out")"

# 2. pulled again: nothing fetched, same snapshot
ctl reset=1
HF_HOME=$h1 "$bin" pull openai/gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(served)" = 0 ] && [ -z "$(layout "$h1")" ] && grep -q "(0 downloaded" "$tmp/out" &&
    echo "ok - a second pull downloads nothing" || echo "not ok - second pull (exit $rc, $(served) bytes: $(head -c 300 "$tmp/err"))"

# 3. interrupted (the double cuts the first big answer after 100000 bytes), then resumed in a new run;
# one file at a time, so no other transfer is stopped half-way (the double counts what it sends, not
# what arrives)
ctl "reset=1&cut=100000"
h2=$tmp/hf2
HF_HOME=$h2 "$bin" pull gpt-oss-20b --retries 0 --parallel 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
part=$(find "$(repo_dir "$h2")/blobs" -name '*.incomplete' -size 100000c | wc -l)
[ $rc -ne 0 ] && [ "$part" = 1 ] && [ ! -e "$(repo_dir "$h2")/snapshots" ] && [ ! -e "$(repo_dir "$h2")/refs/main" ] &&
    grep -q "kept for resume" "$tmp/err" && echo "ok - interrupted pull: one line, .incomplete kept, no snapshot" ||
    echo "not ok - interrupted pull (exit $rc, $part partial: $(head -c 300 "$tmp/err"))"
first=$(served)
HF_HOME=$h2 "$bin" pull gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
second=$(($(served) - first))
[ $rc -eq 0 ] && [ -z "$(layout "$h2")" ] && [ $((first + second)) = "$total" ] &&
    curl -s "$hub/_stats" | grep -q '"start":100000' &&
    echo "ok - resumed pull: Range from byte 100000, $first + $second bytes = the files' $total" ||
    echo "not ok - resumed pull (exit $rc, $first + $second of $total: $(head -c 300 "$tmp/err"))"

# a server that ignores Range (200, the whole file): the part is dropped, the file fetched whole and checked
ctl "reset=1&cut=100000"
h2b=$tmp/hf2b
HF_HOME=$h2b "$bin" pull gpt-oss-20b --retries 0 --parallel 1 >/dev/null 2>&1
have=$(find "$(repo_dir "$h2b")/blobs" -type f ! -name '*.incomplete' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
ctl "reset=1&norange=1"
HF_HOME=$h2b "$bin" pull gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
big=$((total - have))
[ $rc -eq 0 ] && [ -z "$(layout "$h2b")" ] && [ "$(served)" = "$big" ] &&
    echo "ok - a 200 to a Range request starts the file over (the missing files whole: $big bytes), and the result is verified" ||
    echo "not ok - server without Range (exit $rc, $(served) bytes: $(head -c 300 "$tmp/err"))"
ctl norange=0

# ... and inside one run: the cut is retried from where it stopped
ctl "reset=1&cut=50000"
h3=$tmp/hf3
HF_HOME=$h3 "$bin" pull gpt-oss-20b --retries 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -z "$(layout "$h3")" ] && [ "$(served)" = "$total" ] && grep -q "retrying .* at byte 50000" "$tmp/err" &&
    echo "ok - a connection cut mid-file is retried from byte 50000 in the same run" ||
    echo "not ok - retry after a cut (exit $rc, $(served) of $total: $(head -c 300 "$tmp/err"))"

# 4. corrupted bytes: refused, nothing linked
ctl "reset=1&corrupt=1"
h4=$tmp/hf4
HF_HOME=$h4 "$bin" pull gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
ctl corrupt=0
[ $rc -ne 0 ] && grep -q "^gptoss: pull: checksum mismatch for .*model.safetensors" "$tmp/err" &&
    [ ! -e "$(repo_dir "$h4")/snapshots" ] && [ ! -e "$(repo_dir "$h4")/refs" ] &&
    [ -z "$(find "$(repo_dir "$h4")/blobs" -size +100k ! -name "*.incomplete")" ] &&
    echo "ok - checksum mismatch refused: no snapshot, no ref, no bad blob" ||
    echo "not ok - corrupt download (exit $rc: $(head -c 300 "$tmp/err"))"

# ... small files too: their git blob id is checked (--parallel 1: the first file, config.json, fails)
ctl "reset=1&corrupt=2"
HF_HOME=$tmp/hf4b "$bin" pull gpt-oss-20b --include '*.json' --parallel 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
ctl corrupt=0
[ $rc -ne 0 ] && grep -q "^gptoss: pull: checksum mismatch for config.json: git blob id " "$tmp/err" &&
    [ ! -e "$tmp/hf4b/hub/models--openai--gpt-oss-20b/snapshots" ] &&
    echo "ok - a small file with other bytes than its git blob id is refused" ||
    echo "not ok - corrupt small file (exit $rc: $(head -c 300 "$tmp/err"))"

# 5. the Hub's refusals: one line each, non-zero, the token never shown
fails_with() { # NAME NEEDLE ENV... -- ARGS...
    local name=$1 needle=$2 envs=()
    shift 2
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin" pull "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -ne 0 ] && [ "$(grep -c '^gptoss: ' "$tmp/err")" = 1 ] && grep -qF -- "$needle" "$tmp/err" &&
        ! grep -q "hf_bad_secret\|hf_good_token" "$tmp/err" "$tmp/out"; then
        echo "ok - $name: $(grep '^gptoss: ' "$tmp/err" | head -c 160)"
    else
        echo "not ok - $name (exit $rc: $(head -c 300 "$tmp/err"))"
    fi
}
fails_with "gated repository" "acme/gated is a gated repository" HF_HOME="$tmp/g" -- acme/gated
fails_with "bad token (HF_TOKEN)" "the Hub refused the token (401" HF_HOME="$tmp/g" HF_TOKEN=hf_bad_secret -- gpt-oss-20b
mkdir -p "$tmp/tokhome" && echo hf_bad_secret >"$tmp/tokhome/token"
fails_with "bad token (HF_HOME/token)" "the Hub refused the token (401" HF_HOME="$tmp/tokhome" -- gpt-oss-20b
fails_with "missing repository" "repository acme/missing not found" HF_HOME="$tmp/g" -- acme/missing
fails_with "missing revision" "revision v9 not found in openai/gpt-oss-20b" HF_HOME="$tmp/g" -- gpt-oss-20b --revision v9
ctl scheme=file
fails_with "redirect to file:" "not http(s)" HF_HOME="$tmp/g" -- gpt-oss-20b
ctl scheme=http
[ ! -e "$tmp/g/hub/models--acme--gated/snapshots" ] && [ ! -e "$tmp/g/hub/models--openai--gpt-oss-20b/snapshots" ] &&
    echo "ok - no snapshot after a refusal" || echo "not ok - a refused pull left a snapshot"
ctl reset=1
HF_HOME=$tmp/g HF_TOKEN=hf_good_token_123 "$bin" pull acme/gated >"$tmp/out" 2>"$tmp/err" &&
    [ -d "$tmp/g/hub/models--acme--gated/snapshots/$(curl -s "$hub/_repo/acme/gated")" ] &&
    echo "ok - gated repository with an accepted token" || echo "not ok - gated with token: $(head -c 300 "$tmp/err")"
cdn_auth=$(curl -s "$hub/_stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["cdnAuth"], len(d["cdn"]))')
[ "$cdn_auth" = "0 2" ] && echo "ok - the token goes to the Hub, never to the CDN host it redirects to" ||
    echo "not ok - CDN requests with a token, CDN requests: $cdn_auth"

# 6. --include 'original/*': only that folder, and the model loads from it
h5=$tmp/hf5
HF_HOME=$h5 "$bin" pull gpt-oss-20b --include 'original/*' >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -z "$(layout "$h5" original/)" ] && echo "ok - --include 'original/*' pulls only original/" ||
    echo "not ok - --include (exit $rc: $(head -c 300 "$tmp/err") | $(layout "$h5" original/))"
HF_HOME=$h5 "$bin" info gpt-oss-20b >"$tmp/out" 2>"$tmp/err" && grep -q "^model .*/original (original layout)" "$tmp/out" &&
    echo "ok - info gpt-oss-20b loads original/ when only it was pulled" || echo "not ok - info on original/: $(head -c 300 "$tmp/err")"
HF_HOME=$h5 "$bin" pull gpt-oss-20b --exclude '*.safetensors' --exclude 'original/' >"$tmp/out" 2>"$tmp/err" &&
    [ -L "$(repo_dir "$h5")/snapshots/$commit/config.json" ] && [ ! -e "$(repo_dir "$h5")/snapshots/$commit/model.safetensors" ] &&
    echo "ok - --exclude GLOB and FOLDER/" || echo "not ok - --exclude: $(head -c 300 "$tmp/err")"

# 7. a full disk: refused before anything is fetched (a 512 KiB tmpfs in a private mount namespace)
if command -v unshare >/dev/null && unshare -rm true 2>/dev/null; then
    mkdir -p "$tmp/small"
    unshare -rm sh -c 'mount -t tmpfs -o size=512k tmpfs "$1" && HF_HOME="$1" "$2" pull gpt-oss-20b' sh "$tmp/small" "$bin" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "^gptoss: pull: not enough disk space in .*GiB to download" "$tmp/err" &&
        echo "ok - full disk: one line before downloading" || echo "not ok - full disk (exit $rc: $(head -c 300 "$tmp/err"))"
else
    echo "ok - full disk # SKIP unshare -rm (user namespaces) not available"
fi

# 8. Hugging Face's own hub library (@huggingface/hub, tests/package-lock.json) on the same caches:
# it reads what gptoss wrote, and gptoss reads what it wrote
if [ -f "$root/tests/node_modules/@huggingface/hub/package.json" ]; then
    node "$root/tests/hub_interop.mjs" scan "$h1/hub" >"$tmp/scan.json" 2>"$tmp/err"
    rc=$?
    check=$(python3 - "$tmp/scan.json" "$tmp/src" "$commit" "$(repo_dir "$h1")" <<'EOF'
import json, os, sys
scan, src, commit, repo = sys.argv[1:5]
d = json.load(open(scan))
bad = []
if d["warnings"]: bad.append(f"warnings {d['warnings']}")
r = [x for x in d["repos"] if x["id"] == "openai/gpt-oss-20b" and x["type"] == "model"]
if len(r) != 1 or len(r[0]["revisions"]) != 1: bad.append(f"repos {d['repos']}")
else:
    rev = r[0]["revisions"][0]
    if rev["commit"] != commit or rev["refs"] != ["main"]: bad.append(f"revision {rev['commit']} refs {rev['refs']}")
    top = sorted(n for n in os.listdir(src) if os.path.isfile(os.path.join(src, n)))
    if [f["path"] for f in rev["files"]] != top: bad.append(f"files {[f['path'] for f in rev['files']]} != {top}")
    for f in rev["files"]:
        data = open(os.path.join(src, f["path"]), "rb").read()
        if os.path.dirname(f["blob"]) != os.path.realpath(os.path.join(repo, "blobs")) or f["size"] != len(data):
            bad.append(f"{f['path']}: blob {f['blob']} of {f['size']} bytes")
print("; ".join(bad))
EOF
)
    [ $rc -eq 0 ] && [ -z "$check" ] &&
        echo "ok - @huggingface/hub scanCacheDir reads gptoss's cache: the repository, commit, refs/main, blobs" ||
        echo "not ok - scanCacheDir on gptoss's cache (exit $rc: $(head -c 300 "$tmp/err") | $check)"
    node "$root/tests/hub_interop.mjs" download "$tmp/js" "$hub" openai/gpt-oss-20b "$commit" config.json model.safetensors \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    HF_HUB_CACHE=$tmp/js "$bin" info "openai/gpt-oss-20b@$commit" >"$tmp/out2" 2>>"$tmp/err"
    rc2=$?
    [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && grep -q "^model  *$tmp/js/models--openai--gpt-oss-20b/snapshots/$commit " "$tmp/out2" &&
        echo "ok - gptoss info reads a cache @huggingface/hub downloaded into (HF_HUB_CACHE)" ||
        echo "not ok - gptoss on @huggingface/hub's cache (exit $rc/$rc2: $(head -c 300 "$tmp/err"))"
    ctl reset=1
    HF_HUB_CACHE=$tmp/js "$bin" pull gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 0 ] && [ "$(served)" = $((total - $(stat -c %s "$tmp/src/config.json") - $(stat -c %s "$tmp/src/model.safetensors"))) ] &&
        echo "ok - gptoss pull over @huggingface/hub's cache fetches only the files it lacks" ||
        echo "not ok - pull over the library's cache (exit $rc, $(served) bytes: $(head -c 300 "$tmp/err"))"
else
    echo "ok - @huggingface/hub on the same cache # SKIP tests/node_modules missing (bash tests/deps.sh runs npm ci)"
fi

# 9. list and rm
HF_HOME=$h1 "$bin" list >"$tmp/out" 2>"$tmp/err"
size=$(du -sb "$(repo_dir "$h1")/blobs" | cut -f1)
grep -q "^openai/gpt-oss-20b  *${commit:0:12}  *1.1 MiB  $(repo_dir "$h1")\$" "$tmp/out" && [ "$size" -ge "$total" ] &&
    echo "ok - list: name, commit, size, path" || echo "not ok - list: $(cat "$tmp/out" "$tmp/err" | head -c 300)"
HF_HOME=$h1 "$bin" rm gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -qF "removing openai/gpt-oss-20b: $(repo_dir "$h1")" "$tmp/out" && [ ! -e "$(repo_dir "$h1")" ] &&
    [ ! -e "$h1/hub/.locks/models--openai--gpt-oss-20b" ] &&
    [ -f "$tmp/src/model.safetensors" ] && echo "ok - rm prints what it removes and removes it" ||
    echo "not ok - rm (exit $rc: $(head -c 300 "$tmp/err"))"
HF_HOME=$h1 "$bin" list >"$tmp/out" 2>&1 && grep -q "^no models in " "$tmp/out" && echo "ok - list after rm: no models" ||
    echo "not ok - list after rm: $(head -c 200 "$tmp/out")"
HF_HOME=$h1 "$bin" rm gpt-oss-20b >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "is not in the cache" "$tmp/err" && echo "ok - rm of a model not in the cache" ||
    echo "not ok - rm twice: $(head -c 200 "$tmp/err")"
exit 0
