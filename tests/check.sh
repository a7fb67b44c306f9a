# check.sh: helpers the shell tests source (. "$(dirname "$0")/check.sh"): one skip line per check
# that needs the shared data when it is missing, in the form tests/run.sh counts, and comparisons of
# two commands' outputs that also require each command to succeed and print something, so that two
# failures (two empty outputs) never pass as "the same".

# The shared data directory (spec, goldens, vocabulary, harmony conformance data): $GPTOSS_SHARED,
# else ../shared beside the repository (what tests/run.sh exports).
: "${GPTOSS_SHARED:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared}"

# need_shared NAME REL...: 0 when every REL exists under $GPTOSS_SHARED; otherwise prints
# "ok - NAME # SKIP ../shared not found (GPTOSS_SHARED=...): needs REL" (or "../shared incomplete"
# when the directory is there) and returns 1. tests/run.sh counts the "# SKIP ../shared " lines.
need_shared() {
    local name=$1 rel missing=() why
    shift
    for rel in "$@"; do [ -e "$GPTOSS_SHARED/$rel" ] || missing+=("$rel"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    why="not found"
    [ -d "$GPTOSS_SHARED" ] && why="incomplete"
    echo "ok - $name # SKIP ../shared $why (GPTOSS_SHARED=$GPTOSS_SHARED): needs ${missing[*]}"
    return 1
}

# same_files NAME RC1 FILE1 RC2 FILE2: "ok - NAME" when both commands exited 0 (RC1, RC2), both
# wrote something (non-empty FILE1, FILE2) and the two files are byte-identical; otherwise
# "not ok - NAME (...)" saying which command failed or where the outputs part. Returns 0 on ok.
same_files() {
    _compare_outputs same "$@"
}

# different_files NAME RC1 FILE1 RC2 FILE2: like same_files, but the two outputs must differ.
different_files() {
    _compare_outputs different "$@"
}

# same_output NAME -- [--stdin FILE] CMD1... -- [--stdin FILE] CMD2...: runs both commands (stdin
# from FILE, else /dev/null; stdout captured) and judges them as same_files does; a failed
# command's first stderr line goes into the message. The commands cannot contain a bare "--".
same_output() {
    local name=$1 dir rc1 rc2 i=0 part
    shift
    [ "${1:-}" = -- ] || { echo "not ok - $name (same_output: usage: NAME -- CMD1... -- CMD2...)"; return 1; }
    shift
    local cmd1=() cmd2=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then i=$((i + 1)); shift; continue; fi
        if [ $i -eq 0 ]; then cmd1+=("$1"); else cmd2+=("$1"); fi
        shift
    done
    dir=$(mktemp -d "${GPTOSS_TMP:-/tmp}/same_output.XXXXXX")
    _run_captured "$dir/1" "${cmd1[@]}"; rc1=$?
    _run_captured "$dir/2" "${cmd2[@]}"; rc2=$?
    _compare_outputs same "$name" "$rc1" "$dir/1.out" "$rc2" "$dir/2.out" "$dir/1.err" "$dir/2.err"
    part=$?
    rm -rf "$dir"
    return $part
}

# dir_digest DIR: one "sha256  ./path" line per file under DIR, sorted: a directory's content as one
# output that same_files can compare (nothing when DIR is missing or empty).
dir_digest() {
    [ -d "$1" ] || return 1
    (cd "$1" && find . -type f | LC_ALL=C sort | xargs -r -d '\n' sha256sum)
}

# _run_captured PREFIX [--stdin FILE] CMD...: stdout to PREFIX.out, stderr to PREFIX.err.
_run_captured() {
    local prefix=$1 in=/dev/null
    shift
    if [ "${1:-}" = --stdin ]; then in=$2; shift 2; fi
    if [ $# -eq 0 ]; then echo "no command" >"$prefix.err"; : >"$prefix.out"; return 127; fi
    "$@" <"$in" >"$prefix.out" 2>"$prefix.err"
}

# _compare_outputs same|different NAME RC1 FILE1 RC2 FILE2 [ERR1 ERR2]
_compare_outputs() {
    local mode=$1 name=$2 rc=("$3" "$5") out=("$4" "$6") err=("${7:-}" "${8:-}") k which problem=
    for k in 0 1; do
        which=$([ $k -eq 0 ] && echo first || echo second)
        if [ "${rc[$k]}" != 0 ]; then
            problem="the $which command exited ${rc[$k]}"
        elif [ ! -s "${out[$k]}" ]; then
            problem="the $which command printed nothing"
        fi
        if [ -n "$problem" ]; then
            [ -n "${err[$k]}" ] && [ -s "${err[$k]}" ] && problem="$problem: $(head -n 1 "${err[$k]}" | head -c 200)"
            echo "not ok - $name ($problem)"
            return 1
        fi
    done
    if cmp -s "${out[0]}" "${out[1]}"; then
        [ "$mode" = same ] && { echo "ok - $name"; return 0; }
        echo "not ok - $name (the two outputs are identical)"
        return 1
    fi
    [ "$mode" = different ] && { echo "ok - $name"; return 0; }
    local where
    where=$(cmp -- "${out[0]}" "${out[1]}" 2>&1 | head -n 1)
    where=${where/#*differ: /}
    where=${where//"${out[0]}"/the first}
    where=${where//"${out[1]}"/the second}
    echo "not ok - $name (the outputs differ: ${where#cmp: })"
    echo "#   first:  $(head -c 200 "${out[0]}" | tr '\n' ' ')"
    echo "#   second: $(head -c 200 "${out[1]}" | tr '\n' ' ')"
    return 1
}
