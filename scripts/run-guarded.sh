#!/usr/bin/env bash
# run-guarded.sh PARENT_PID CMD...: runs CMD in its own process group and kills
# that whole group (wrangler and its workerd) as soon as PARENT_PID exits.
# The e2e tests use it so no server outlives the test process.
set -u
parent="$1"; shift
setsid "$@" &
child=$!
trap 'kill -TERM -- -"$child" 2>/dev/null; exit 0' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -TERM -- -"$child" 2>/dev/null
sleep 1
kill -KILL -- -"$child" 2>/dev/null
wait "$child" 2>/dev/null
