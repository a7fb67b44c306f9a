#!/usr/bin/env bash
# stress.sh [CMD...]: `make test-stress`. Runs CMD (default: the whole suite, bash tests/all.sh, as
# `make test` does) while two busy shell loops compete with it for the CPUs, pinned to CPUs 0 and 1
# when taskset exists, as on a CI machine that runs other work. No test may depend on how fast the
# machine is (tests/lib.sh), so the suite must pass here as it does on a quiet machine. The loops end
# with the script; its exit status is CMD's, and for the suite the last line is again its summary.
# A narrower run while developing: bash tests/stress.sh env GPTOSS_TEST_FILTER=t_server bash tests/run.sh build
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
[ $# -gt 0 ] || set -- bash tests/all.sh
ncpu=$(nproc 2>/dev/null || echo 1)
pids=()
stop_loops() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap stop_loops EXIT
trap 'exit 130' INT TERM
where=""
for cpu in 0 1; do
    if command -v taskset >/dev/null; then
        taskset -c $((cpu % ncpu)) bash -c 'while :; do :; done' &
        where="$where cpu $((cpu % ncpu)),"
    else
        bash -c 'while :; do :; done' &
    fi
    pids+=($!)
done
echo "== stress: busy loops ${pids[*]}${where:+ pinned to${where%,}} beside: $*"
start=$SECONDS
log=$(mktemp)
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
rm -f "$log"
echo "== stress: exit $rc after $((SECONDS - start)) s with two busy loops"
[ -n "$summary" ] && echo "$summary"
exit "$rc"
