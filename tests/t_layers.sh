#!/usr/bin/env bash
# t_layers.sh: includes point down the layers, never up or sideways. Every file under src/ and app/
# belongs to one layer of the table below (lowest first); a file may include the public header, a
# header of its own layer, or a header of a layer with a smaller rank. Layers of equal rank are peers
# and may not include each other, so no circle is possible. A file that no layer claims, or a quoted
# include that resolves to no file, fails too: a new folder is added to the table on purpose. With a
# build ($GPTOSS_BUILD), the same order holds for calls: every symbol an object file uses from
# another layer is defined in a lower one (a call through the public header can't hide a circle).
set -u
root=${GPTOSS_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
command -v python3 >/dev/null || { echo "ok - include layers # SKIP python3 not installed"; exit 0; }
python3 - "$root" <<'EOF'
import fnmatch, os, re, shutil, subprocess, sys

# rank  layer               files (globs, relative to the repository root)
LAYERS = """
0  base                src/base/*
1  format              src/format/*
2  cpu                 src/cpu/*
2  hub                 src/hub/*
2  tokenizer           src/tokenizer/tokenizer.c src/tokenizer/tokenizer_bpe.c src/tokenizer/pretokenize.c
                       src/tokenizer/unicode_tables.c src/tokenizer/tokenizer_internal.h src/tokenizer/unicode.h
3  tokenizer-loaders   src/tokenizer/tokenizer_load.* src/tokenizer/tokenizer_json.c
                       src/tokenizer/tokenizer_tiktoken.c src/tokenizer/tokenizer_gguf.c
4  tokenizer-export    src/tokenizer/tokenizer_export.*
3  model               src/model/*
4  cuda                src/cuda/*
5  harmony             src/harmony/*
5  grammar             src/grammar/*
5  engine              src/engine/*
5  tools               src/tools/*
6  app-cli             app/cli/*
7  app-chat            app/chat/*
7  app-server          app/server/*
8  app-cmd             app/cmd/*
"""

root = sys.argv[1]
table = []  # (rank, layer, [globs])
for line in LAYERS.strip("\n").split("\n"):
    parts = line.split()
    if line[0].isdigit():
        table.append((int(parts[0]), parts[1], parts[2:]))
    else:
        table[-1][2].extend(parts)

def layer_of(path):
    hits = [(rank, name) for rank, name, globs in table if any(fnmatch.fnmatch(path, g) for g in globs)]
    return hits[0] if len(hits) == 1 else (None, "unclaimed" if not hits else "claimed twice")

def resolve(src, inc):
    for base in (os.path.dirname(src), "include", "src", "app"):
        p = os.path.normpath(os.path.join(base, inc))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None

failures, edges, n_files = [], set(), 0
for top in ("src", "app"):
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for name in sorted(names):
            if not re.search(r"\.(c|h|cu|cuh)$", name):
                continue
            path = os.path.relpath(os.path.join(dirpath, name), root)
            n_files += 1
            rank, layer = layer_of(path)
            if rank is None:
                failures.append(f"{path}: {layer} by the layer table")
                continue
            for n, text in enumerate(open(os.path.join(root, path), encoding="utf-8"), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', text)
                if not m:
                    continue
                target = resolve(path, m.group(1))
                if target is None:
                    failures.append(f'{path}:{n}: "{m.group(1)}" is no file of include/, src/ or app/')
                    continue
                if target.startswith("include/"):
                    continue
                trank, tlayer = layer_of(target)
                if tlayer == layer:
                    continue
                edges.add((layer, tlayer))
                if trank is None or trank >= rank:
                    failures.append(f"{path}:{n}: {layer} (rank {rank}) includes {target}, "
                                    f"{tlayer} (rank {trank}): upward or sideways")
for n, text in enumerate(open(os.path.join(root, "include/gptoss.h"), encoding="utf-8"), 1):
    if re.match(r'\s*#\s*include\s+"', text):
        failures.append(f"include/gptoss.h:{n}: the public header includes a project header")

build = os.environ.get("GPTOSS_BUILD", "")
n_objects = 0
if build and os.path.isdir(build) and shutil.which("nm"):
    objects = {}
    for top in ("src", "app"):
        for dirpath, _, names in os.walk(os.path.join(build, top)):
            for name in names:
                if name.endswith(".o"):
                    obj = os.path.join(dirpath, name)
                    stem = os.path.relpath(obj, build)[:-2]
                    src = next((stem + e for e in (".c", ".cu") if os.path.isfile(os.path.join(root, stem + e))), None)
                    if src:
                        objects[obj] = layer_of(src)
    defined, used = {}, {}
    for obj in objects:
        out = subprocess.run(["nm", obj], capture_output=True, text=True).stdout
        used[obj] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2 and f[0] == "U":
                used[obj].add(f[1])
            elif len(f) == 3 and f[1] in "TDBR":
                defined[f[2]] = obj
    n_objects = len(objects)
    for obj, syms in sorted(used.items()):
        rank, layer = objects[obj]
        for sym in sorted(syms):
            d = defined.get(sym)
            if d is None or rank is None:
                continue
            drank, dlayer = objects[d]
            if dlayer != layer and (drank is None or drank >= rank):
                failures.append(f"{os.path.relpath(obj, build)} ({layer}) calls {sym} of {dlayer}: upward or sideways")

for f in failures:
    print(f"not ok - include layers: {f}")
if not failures:
    print(f"ok - include layers: {n_files} files in src/ and app/, every include points down "
          f"({len(edges)} layer-to-layer edges)"
          + (f"; so does every call between the {n_objects} object files of {os.path.basename(build)}" if n_objects else ""))
sys.exit(1 if failures else 0)
EOF
