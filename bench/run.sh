#!/usr/bin/env bash
# run.sh GPTOSS_BIN: `make bench`. Runs every benchmark script listed below with the gptoss binary;
# add yours to the list.
set -u
bin=${1:?usage: bench/run.sh GPTOSS_BIN}
here=$(cd "$(dirname "$0")" && pwd)
benches=(
    server.sh
    tokenizer.sh
    attention.sh
    cpu.sh
    table.sh
    schema.sh
    constraint.sh
)
rc=0
for b in "${benches[@]}"; do
    bash "$here/$b" "$bin" || rc=1
done
exit $rc
