# shellcheck shell=bash
# lib.sh: sourced by the tests/t_*.sh scripts that wait for something. A test waits for the condition
# it checks (a line on a screen, a file, a process exit), never for a fixed time; its deadline exists
# only to turn a hang into a failure, so it is generous and multiplied by GPTOSS_TEST_TIME_SCALE, which
# tests/run.sh sets (1 by default; larger for sanitizer builds; more can be asked for by exporting it).
# The node tests read the same variable (tests/server/lib.mjs), the C tests through tap.h.
GPTOSS_TEST_TIME_SCALE=${GPTOSS_TEST_TIME_SCALE:-1}
case $GPTOSS_TEST_TIME_SCALE in
*[!0-9]* | 0*) GPTOSS_TEST_TIME_SCALE=1 ;; # a positive integer, or 1
esac
export GPTOSS_TEST_TIME_SCALE

# scaled SECONDS: SECONDS x the time scale (for `timeout`).
scaled() { echo $(($1 * GPTOSS_TEST_TIME_SCALE)); }

# node_script LABEL LIMIT SCRIPT [VAR=VALUE...]: node SCRIPT with the VARs set (its log in the caller's
# $tmp); after LIMIT s x the time scale it is a hang and is stopped. An exit status other than 0 from a
# script that reported no failure itself (stopped, crashed) is one failure.
node_script() {
    local label=$1 limit=$2 script=$3 log rc start=$SECONDS
    shift 3
    log=$(mktemp "${tmp:?}/node.XXXXXX")
    env "$@" timeout "$(scaled "$limit")" node "$script" >"$log" 2>&1
    rc=$?
    cat "$log"
    echo "# $label exit $rc after $((SECONDS - start)) s"
    if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$log"; then
        echo "not ok - $label ended with status $rc$([ "$rc" -eq 124 ] && echo " (still running after $(scaled "$limit") s)")"
    fi
    rm -f "$log"
}

# wait_until SECONDS CMD...: runs CMD until it succeeds (returns 0), at most SECONDS x the time scale
# (returns 1); CMD runs at least once, and once more after the deadline.
wait_until() {
    local end=$((SECONDS + $1 * GPTOSS_TEST_TIME_SCALE))
    shift
    until "$@"; do
        if [ "$SECONDS" -gt "$end" ]; then
            "$@"
            return
        fi
        sleep 0.1
    done
}

# ---- a program in a terminal, under tmux (t_chat.sh, t_chat_model.sh; the caller sets $sock) ----
tm() { tmux -S "${sock:?}" "$@"; }
screen() { tm capture-pane -p -J -t "$1" -S -3000; }
# on_screen NAME REGEX [N]: at least N (default 1) lines of NAME's screen match REGEX.
on_screen() { [ "$(screen "$1" | grep -cE -- "$2")" -ge "${3:-1}" ]; }
# The sessions run "CMD; echo [exit $?]; sleep ...": once that line is there, the screen is final.
on_screen_or_exited() { on_screen "$@" || on_screen "$1" '^\[exit [0-9]+\]$'; }
# wait_for NAME REGEX [N]: 0 once at least N lines of the screen match; 1 if the program ends
# without them or they do not come within 60 s x the time scale (the screen is shown).
wait_for() {
    wait_until 60 on_screen_or_exited "$1" "$2" "${3:-1}"
    on_screen "$1" "$2" "${3:-1}" && return 0
    echo "# no /$2/ (${3:-1} lines) in $1; screen:"
    screen "$1" | grep -v '^$' | tail -25 | sed 's/^/#   | /'
    return 1
}
send() { tm send-keys -t "$1" -l -- "$2" && tm send-keys -t "$1" Enter; }
