#!/usr/bin/env bash
# t_chat_python.sh: `gptoss chat|run --python` through the chat test double (tests/chat_double.c:
# chat.c with a scripted model) and the real sandboxed python tool (bubblewrap). A scripted model sets
# a variable in one cell and reads it in the next (the interpreter keeps its state between calls), and
# writes a file to /mnt/data that is found afterwards in --python-data (or, without it, in the folder
# named on stderr under $XDG_DATA_HOME/gptoss/python). Checked: the python block in the system message,
# each reply given back to the model as a message from python on the call's channel, the prompt after a
# reply extending what the model had processed, /reset in chat giving a new interpreter (the variable
# gone), --python-timeout stopping a cell, --max-tool-calls holding, --python refused with a
# constraint, and a sandbox that cannot be set up (--python-exe pointing nowhere) or a --python-data
# that is no folder failing at start. Skipped when this machine cannot sandbox.
set -u
. "$(dirname "$0")/lib.sh"
bin=${GPTOSS_BIN:?}
build=${GPTOSS_BUILD:?}
. "$(dirname "$0")/check.sh"
tok=$GPTOSS_SHARED/vocab/tokenizer.json
double=$build/tests/chat_double
# As root the sandbox runs as nobody, which must be able to reach the data folders made below $tmp:
# then $tmp is made in /tmp (not in $GPTOSS_TMP, mktemp's 0700) and opened to others.
if [ "$(id -u)" = 0 ]; then tmp=$(mktemp -d /tmp/t_chat_python.XXXXXX) && chmod 755 "$tmp"
else tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_chat_python.XXXXXX"); fi
trap 'rm -rf "$tmp"' EXIT
need_shared "chat python" vocab/tokenizer.json || exit 0
if [ ! -x "$double" ]; then
    echo "not ok - chat test double $double was not built"
    exit 0
fi
: "$bin"

check() { # NAME CONDITION-STATUS
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fi
}
# prompt_n N LOG: the N-th prompt the double received (1-based), from CHAT_DOUBLE_LOG.
prompt_n() { awk -v n="$1" 'BEGIN{RS="\n----\n"} NR==n {print}' "$2"; }
# reply_n N LOG: the last reply from python in the N-th prompt (its header and text).
reply_n() { prompt_n "$1" "$2" | awk 'BEGIN{RS="<\\|start\\|>"} /^python to=assistant/ {r=$0} END {print r}'; }
reused() { [ "$(wc -l <"$1")" -ge 2 ] && awk 'NR > 1 && $1 != $2 { bad = 1 } END { exit bad }' "$1"; }
common=(--tokenizer "$tok" --date 2025-01-01 --no-color)
export XDG_DATA_HOME=$tmp/xdg # where the default data folders go (never the user's own)

# ---- can this machine sandbox? (the tool's own check, through --python) ------------------------------
printf '%s\n' '<|channel|>final<|message|>Hi.<|return|>' >"$tmp/hi.txt"
"$double" run "$tmp/hi.txt" -p hi --python "${common[@]}" >"$tmp/out" 2>"$tmp/err"
if [ $? -ne 0 ]; then
    echo "ok - chat python # SKIP the python sandbox cannot be set up here: $(head -1 "$tmp/err")"
    exit 0
fi
check "run --python: a turn without a call answers, and no data folder is made before a call" \
    $([ "$(cat "$tmp/out")" = "Hi." ] && { [ ! -e "$XDG_DATA_HOME/gptoss/python" ] || [ -z "$(ls -A "$XDG_DATA_HOME/gptoss/python")" ]; }; echo $?)

# ---- run: two cells sharing state, a file in /mnt/data -----------------------------------------------
cat >"$tmp/state.txt" <<'EOF'
<|channel|>analysis<|message|>Use python.<|end|><|start|>assistant<|channel|>analysis to=python code<|message|>x = 41\nprint("set", x)<|call|>
<|channel|>analysis to=python<|constrain|>code<|message|>with open("/mnt/data/answer.txt", "w") as f:\n    f.write(str(x + 1))\nx + 1<|call|>
<|channel|>final<|message|>The answer is 42.<|return|>
EOF
mkdir "$tmp/data"
CHAT_DOUBLE_LOG=$tmp/run.log CHAT_DOUBLE_REUSE=$tmp/run.reuse "$double" run "$tmp/state.txt" -p "What is 41 + 1?" \
    --python --python-data "$tmp/data" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --python: two python calls, then the answer" $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "The answer is 42." ]; echo $?)
p1=$(prompt_n 1 "$tmp/run.log")
check "run --python: the system message declares the python namespace (the trained block)" \
    $(case $p1 in "<|start|>system<|message|>"*"# Tools"$'\n\n'"## python"$'\n\n'"Use this tool to execute Python code in your chain of thought."*"stateful Jupyter notebook environment"*"<|end|><|start|>user<|message|>What is 41"*) true ;; *) false ;; esac; echo $?)
check "run --python: the first cell's output reached the model, from python on the call's channel" \
    $(prompt_n 2 "$tmp/run.log" | grep -qF '<|call|><|start|>python to=assistant<|channel|>analysis<|message|>set 41'; echo $?)
# the reply of the second cell: what it printed and the last expression's value, 42 (x kept from cell 1)
reply2=$(reply_n 3 "$tmp/run.log")
check "run --python: state is kept across calls (x = 41, then x + 1 gives 42)" \
    $(case $reply2 in "python to=assistant<|channel|>analysis<|message|>"*42*"<|end|>"*) true ;; *) false ;; esac; echo $?)
check "run --python: three prompts, each after a reply extending what the model had processed" \
    $([ "$(wc -l <"$tmp/run.reuse")" = 3 ] && reused "$tmp/run.reuse"; echo $?)
check "run --python-data: the file the code wrote to /mnt/data is in the folder afterwards" \
    $([ "$(cat "$tmp/data/answer.txt" 2>/dev/null)" = 42 ]; echo $?)
check "run --python-data: stderr names the folder behind /mnt/data" \
    $(grep -qF "[python: /mnt/data is $tmp/data]" "$tmp/err"; echo $?)

# Without --python-data: a new folder under $XDG_DATA_HOME/gptoss/python, kept, named on stderr.
"$double" run "$tmp/state.txt" -p "What is 41 + 1?" --python "${common[@]}" >"$tmp/out" 2>"$tmp/err"
dir=$(sed -n 's/^\[python: \/mnt\/data is \(.*\)\]$/\1/p' "$tmp/err")
check "run --python: without --python-data the files are kept in a new folder under the gptoss data folder" \
    $(case $dir in "$XDG_DATA_HOME/gptoss/python/"*) [ "$(cat "$dir/answer.txt" 2>/dev/null)" = 42 ] ;; *) false ;; esac; echo $?)
check "run --python: that folder is the user's alone (mode 0700)" $([ "$(stat -c %a "$dir" 2>/dev/null)" = 700 ]; echo $?)

"$double" run "$tmp/state.txt" -p "41 + 1?" --python --python-data "$tmp/data" --show-reasoning "${common[@]}" \
    >"$tmp/out" 2>"$tmp/err"
check "run --show-reasoning: each call and what python answered on stderr" \
    $(grep -qF '[tool call python] x = 41' "$tmp/err" && grep -qF '[python] set 41' "$tmp/err"; echo $?)

# ---- errors are replies; a time-out is a reply ----------------------------------------------------------
cat >"$tmp/errors.txt" <<'EOF'
<|channel|>analysis to=python code<|message|>1/0<|call|>
<|channel|>analysis to=python code<|message|>import time\ntime.sleep(30)<|call|>
<|channel|>final<|message|>Done.<|return|>
EOF
t0=$SECONDS
CHAT_DOUBLE_LOG=$tmp/err.log "$double" run "$tmp/errors.txt" -p "go" --python --python-data "$tmp/data" \
    --python-timeout 2 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$((SECONDS - t0))
check "run --python: a traceback goes back to the model as the reply" \
    $([ $rc -eq 0 ] && prompt_n 2 "$tmp/err.log" | grep -qF 'ZeroDivisionError'; echo $?)
check "run --python-timeout 2: a cell sleeping 30 s is stopped, the model told, the turn goes on (${took}s)" \
    $([ "$(cat "$tmp/out")" = "Done." ] && [ "$took" -lt 25 ] &&
        case $(reply_n 3 "$tmp/err.log") in "python to=assistant<|channel|>analysis<|message|>"*"timed out"*) true ;; *) false ;; esac; echo $?)

# ---- --max-tool-calls counts python calls -------------------------------------------------------------
"$double" run "$tmp/state.txt" -p "go" --python --python-data "$tmp/data" --max-tool-calls 1 "${common[@]}" \
    >"$tmp/out" 2>"$tmp/err"
check "run --max-tool-calls 1: a second python call stops the run" \
    $([ $? -ne 0 ] && grep -qF 'more than 1 tool calls' "$tmp/err"; echo $?)

# ---- chat: the interpreter lives as long as the conversation; /reset gives a new one -------------------
cat >"$tmp/chat.txt" <<'EOF'
<|channel|>analysis to=python code<|message|>secret = 7\nprint("stored")<|call|>
<|channel|>final<|message|>Stored.<|return|>
<|channel|>analysis to=python code<|message|>print(secret * 6)<|call|>
<|channel|>final<|message|>Still there.<|return|>
<|channel|>analysis to=python code<|message|>print(secret)<|call|>
<|channel|>final<|message|>Gone after the reset.<|return|>
EOF
printf 'store it\nread it\n/reset\nread it again\n' |
    CHAT_DOUBLE_LOG=$tmp/chat.log "$double" chat "$tmp/chat.txt" --python "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "chat --python: three turns with a /reset, each answered" \
    $([ $rc -eq 0 ] && grep -qF 'Stored.' "$tmp/out" && grep -qF 'Gone after the reset.' "$tmp/out"; echo $?)
check "chat --python: the next turn's cell sees the variable (same interpreter)" \
    $(prompt_n 4 "$tmp/chat.log" | grep -qF '<|start|>python to=assistant<|channel|>analysis<|message|>42'; echo $?)
check "chat --python: after /reset the variable is gone (a new interpreter)" \
    $(prompt_n 6 "$tmp/chat.log" | grep -qF "NameError: name 'secret' is not defined"; echo $?)
n_dirs=$(grep -c '^\[python: /mnt/data is ' "$tmp/out")
check "chat --python: the data folder is named on screen, a new one after /reset ($n_dirs)" $([ "$n_dirs" = 2 ]; echo $?)
check "chat --python: what python answered is shown" $(grep -qF '[python] stored' "$tmp/out"; echo $?)

# ---- refused ---------------------------------------------------------------------------------------------
CHAT_DOUBLE_LOG=$tmp/none.log "$double" run "$tmp/state.txt" -p go --python --python-exe /nonexistent/python3 \
    "${common[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --python-exe pointing nowhere: fails at start with the tool's message, the model never asked" \
    $([ $rc -ne 0 ] && grep -q '^gptoss: --python: ' "$tmp/err" && [ ! -s "$tmp/none.log" ]; echo $?)
CHAT_DOUBLE_LOG=$tmp/none2.log "$double" run "$tmp/state.txt" -p go --python-data "$tmp/state.txt" "${common[@]}" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
check "run --python-data naming a file: fails at start, the model never asked" \
    $([ $rc -ne 0 ] && grep -qF -- "--python-data $tmp/state.txt: not a folder" "$tmp/err" && [ ! -s "$tmp/none2.log" ]; echo $?)
echo '{"type": "object"}' >"$tmp/schema.json"
"$double" run "$tmp/state.txt" -p go --python --json-schema "$tmp/schema.json" "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --python with --json-schema: refused (under a constraint the model cannot call python)" \
    $([ $? -eq 2 ] && grep -qF -- '--python cannot go with' "$tmp/err"; echo $?)
"$double" run "$tmp/state.txt" -p go --python-timeout 0 "${common[@]}" >"$tmp/out" 2>"$tmp/err"
check "run --python-timeout 0: refused" $([ $? -eq 2 ] && grep -qF -- '--python-timeout' "$tmp/err"; echo $?)

# ---- as root: the default folder under a 0700 home cannot be reached by the sandbox's uid -------------
# (bwrap resolves even a bound descriptor by its path, as that uid), so conversations go to
# /var/lib/gptoss/python (0711), each folder 0700 and the sandbox's; `gptoss tool python` without --data
# uses a private folder in /tmp when $TMPDIR is private.
if [ "$(id -u)" = 0 ]; then
    mkdir -m 700 "$tmp/roothome"
    HOME=$tmp/roothome XDG_DATA_HOME= "$double" run "$tmp/state.txt" -p "What is 41 + 1?" --python "${common[@]}" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    dir=$(sed -n 's/^\[python: \/mnt\/data is \(.*\)\]$/\1/p' "$tmp/err")
    check "as root, HOME 0700: run --python answers, the file written to /mnt/data is where stderr says ($dir)" \
        $([ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "The answer is 42." ] &&
            case $dir in /var/lib/gptoss/python/*) [ "$(cat "$dir/answer.txt" 2>/dev/null)" = 42 ] ;; *) false ;; esac; echo $?)
    check "as root: that folder is 0700 and the sandbox's uid's, its parent 0711 root's" \
        $([ "$(stat -c '%a %u' "$dir" 2>/dev/null)" = "700 65534" ] &&
            [ "$(stat -c '%a %u' /var/lib/gptoss/python)" = "711 0" ]; echo $?)
    case $dir in /var/lib/gptoss/python/?*) rm -rf "$dir" ;; esac
    mkdir -m 700 "$tmp/private"
    printf 'store it\nread it\n' | XDG_DATA_HOME=$tmp/private/xdg "$double" chat "$tmp/chat.txt" --python "${common[@]}" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    dir=$(sed -n 's/^\[python: \/mnt\/data is \(.*\)\]$/\1/p' "$tmp/out" | head -1)
    check "as root, XDG_DATA_HOME below a 0700 folder: chat --python keeps its state, the folder named ($dir)" \
        $([ $rc -eq 0 ] && grep -qF 'Still there.' "$tmp/out" && grep -qF '[python] 42' "$tmp/out" &&
            case $dir in /var/lib/gptoss/python/*) [ -d "$dir" ] ;; *) false ;; esac; echo $?)
    case $dir in /var/lib/gptoss/python/?*) rm -rf "$dir" ;; esac
    printf 'open("/mnt/data/f", "w").write("x")\n# %%%%\nimport os\nos.listdir("/mnt/data")\n' |
        TMPDIR=$tmp/private "$bin" tool python >"$tmp/out" 2>"$tmp/err"
    check "as root, TMPDIR 0700: tool python without --data works (a private folder in /tmp)" \
        $([ $? -eq 0 ] && grep -qF "['f']" "$tmp/out"; echo $?)
    check "as root, TMPDIR 0700: that private folder is removed afterwards" \
        $([ -z "$(ls -A "$tmp/private" 2>/dev/null | grep -v '^xdg$')" ]; echo $?)
else
    echo "ok - the default python folder as root # SKIP not root"
fi
