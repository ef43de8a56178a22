#!/usr/bin/env bash
# Instructions per message: sluiced under callgrind, instrumentation switched
# on only while one loadgen scenario runs, so start-up and shutdown do not
# count. Instruction counts do not move with the machine's load, unlike
# wall-clock figures, which makes them the measure for an A/B of one change.
#
#   tools/bench/callgrind.sh OUT LOADGEN SCENARIO [loadgen options...]
#   e.g. tools/bench/callgrind.sh /tmp/cg-1k /tmp/bench/loadgen amqp-1to1 --size 1024 --duration 8
#
# Prints one line: "<Ir> instructions, <n> messages, <Ir/n> per message" and
# leaves OUT.cg (for callgrind_annotate) and OUT.json (the loadgen line).
# Env: SLUICE_BENCH_BUILD (default build-prof: release with debug info,
# configured here if missing), CG_AMQP / CG_MQTT ports (5790 / 1990),
# SLUICED_ARGS (extra --set options).
set -eu
[ $# -ge 3 ] || { sed -n 2,13p "$0"; exit 2; }
out=$1 loadgen=$2 scenario=$3; shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SLUICE_BENCH_BUILD:-$root/build-prof}
amqp=${CG_AMQP:-5790} mqtt=${CG_MQTT:-1990}
if [ ! -x "$build/daemon/sluiced" ]; then
  meson setup "$build" "$root" --buildtype=release -Ddebug=true -Dtests=disabled >/dev/null
fi
ninja -C "$build" daemon/sluiced >/dev/null
dir=$(mktemp -d --suffix=.sluice-cg)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out.cg" \
  "$build/daemon/sluiced" --set amqp.port="$amqp" --set mqtt.port="$mqtt" \
  --set mqtt.allow_anonymous=yes --set http.port=0 --set prometheus.port=0 \
  --set broker.data_dir="$dir/data" --set broker.log_level=warning \
  ${SLUICED_ARGS:-} > "$dir/log" 2>&1 < /dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 300); do
  (exec 3<>/dev/tcp/127.0.0.1/"$amqp") 2>/dev/null && break
  sleep 0.1
done
port=$amqp
case $scenario in *mqtt*) port=$mqtt ;; esac
callgrind_control -i on "$pid" >/dev/null
"$loadgen" "$scenario" --port "$port" --broker-pid "$pid" "$@" > "$out.json" || true
callgrind_control -i off "$pid" >/dev/null
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
trap 'rm -rf "$dir"' EXIT
ir=$(callgrind_annotate "$out.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
n=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("received", 0))' "$out.json")
echo "$ir instructions, $n messages, $(( n > 0 ? ir / n : 0 )) per message"
