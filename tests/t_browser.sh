#!/usr/bin/env bash
# t_browser.sh: `gptoss tool browser replay` on the recorded browser scenarios (shared/browser/): every
# error reply byte-identical to OpenAI's reference SimpleBrowserTool, at least 90% of the page views
# byte-identical, every page view's header line and link ids identical, and the written file holds
# one scenario per input line with the same calls. Bad usage gives one "gptoss:" line.
set -u
bin=${GPTOSS_BIN:?}
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d "${GPTOSS_TMP:-/tmp}/t_browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$bin" tool browser >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && [[ "$(head -n 1 "$tmp/err")" == "gptoss: usage: gptoss tool browser replay"* ]]; then
    echo "ok - tool browser: usage line"
else
    echo "not ok - tool browser: usage (exit $rc: $(head -c 200 "$tmp/err"))"
fi
need_shared "browser replay" browser/public.jsonl vocab/o200k_base.tiktoken || exit 0
fixtures=$GPTOSS_SHARED/browser/public.jsonl
"$bin" tool browser replay "$fixtures" --out "$tmp/out.jsonl" --tokenizer "$GPTOSS_SHARED/vocab/o200k_base.tiktoken" \
    >"$tmp/stdout" 2>"$tmp/err"
rc=$?
if grep -q "built without libxml2" "$tmp/err"; then
    echo "ok - browser replay # SKIP gptoss built without libxml2 (libxml2-dev)"
    exit 0
fi
summary=$(grep '^browser replay: ' "$tmp/err")
echo "# $summary"
if [ $rc -ne 0 ] || [ -z "$summary" ] || grep -qE 'Sanitizer|runtime error' "$tmp/err"; then
    echo "not ok - browser replay ran (exit $rc: $(head -c 300 "$tmp/err"))"
    exit 0
fi
echo "ok - browser replay ran"
# "browser replay: C calls, S byte-identical; error replies E/EN identical; page views V/VN identical;
#  page headers H/VN and link ids L/VN identical"
read -r calls same errs nerrs views nviews heads links <<<"$(sed -E \
    's|^browser replay: ([0-9]+) calls, ([0-9]+) byte-identical; error replies ([0-9]+)/([0-9]+) identical; page views ([0-9]+)/([0-9]+) identical; page headers ([0-9]+)/[0-9]+ and link ids ([0-9]+)/[0-9]+ identical$|\1 \2 \3 \4 \5 \6 \7 \8|' <<<"$summary")"
if [ -n "${links:-}" ] && [ "$calls" -gt 0 ] && [ "$nerrs" -gt 0 ] && [ "$nviews" -gt 0 ]; then
    [ "$errs" -eq "$nerrs" ] && echo "ok - every error reply identical ($errs/$nerrs)" ||
        echo "not ok - error replies: $errs/$nerrs identical"
    [ $((views * 10)) -ge $((nviews * 9)) ] && echo "ok - page views identical: $views/$nviews (>= 90%)" ||
        echo "not ok - page views: $views/$nviews identical (< 90%)"
    [ "$heads" -eq "$nviews" ] && echo "ok - every page header line identical ($heads/$nviews)" ||
        echo "not ok - page header lines: $heads/$nviews identical"
    [ "$links" -eq "$nviews" ] && echo "ok - every page view's link ids identical ($links/$nviews)" ||
        echo "not ok - link ids: $links/$nviews identical"
else
    echo "not ok - browser replay: cannot read the summary ($summary)"
fi
if command -v python3 >/dev/null; then
    python3 - "$fixtures" "$tmp/out.jsonl" <<'PY' && echo "ok - replay output: same scenarios and calls, replies in place" || echo "not ok - replay output differs in shape"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
b = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
assert len(a) == len(b)
for x, y in zip(a, b):
    assert x["name"] == y["name"] and x["pages"] == y["pages"] and len(x["calls"]) == len(y["calls"])
    for c, d in zip(x["calls"], y["calls"]):
        assert c["function"] == d["function"] and c["args"] == d["args"]
        assert isinstance(d["text"], str) and d["author"] == "browser." + c["function"]
PY
fi
