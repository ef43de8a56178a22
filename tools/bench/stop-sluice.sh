#!/usr/bin/env bash
# Stop the sluiced started by start-sluice.sh (by its recorded PID only).
dir=${SLUICE_BENCH_DIR:-/tmp/bench-sluice}
[ -f "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
kill -TERM "$pid" 2>/dev/null || exit 0
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null || true
rm -f "$dir/pid"
