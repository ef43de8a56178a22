#!/usr/bin/env bash
# latency.sh: p50/p99 at a fixed rate for sluiced (broker.io_threads 0,
# 1, and 1 with broker.io_spin_us = 0), Mosquitto and RabbitMQ, interleaved per repetition, beside the
# machine's own floor for the same path without a broker (relayfloor.c:
# sender -> relay -> receiver over loopback TCP). A broker's p99 is only
# comparable with the floor measured in the same minutes.
#   tools/bench/latency.sh BENCH_DIR        (a built copy of ../shared/bench)
# Env: REPS (3), RATE (10000), DUR (10 s per run), BENCH_NICE (-10),
#      SLUICED (a release build; default build-release/daemon/sluiced).
# Prints one line per run and a table of medians over the repetitions.
set -u
bench=$(cd "${1:?usage: latency.sh BENCH_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3} RATE=${RATE:-10000} DUR=${DUR:-10}
nice=${BENCH_NICE:--10}
export SLUICE_BENCH_DIR=$(mktemp -d --suffix=.sluice-lat)
export BENCH_NICE=$nice
floor=$(mktemp --suffix=.relayfloor)
out=$(mktemp --suffix=.latency)
cc -O2 -Wall -o "$floor" "$here/relayfloor.c" -lpthread || exit 1
pid_of() { sed -n 's/^PID \([0-9]*\).*/\1/p' | tail -1; }
cleanup() {
	(cd "$bench" && ./brokers.sh stop-rmq && ./brokers.sh stop-mosq) >/dev/null 2>&1
	"$here/stop-sluice.sh" >/dev/null 2>&1
	rm -rf "$floor" "$SLUICE_BENCH_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$bench" || exit 1
# row LABEL JSON: keep p50 and p99 of one run
row() {
	local p50 p99
	p50=$(grep -o '"p50_us":[0-9.]*' <<<"$2" | cut -d: -f2)
	p99=$(grep -o '"p99_us":[0-9.]*' <<<"$2" | cut -d: -f2)
	[ -n "$p99" ] || { echo "$1: no result" >&2; return; }
	echo "$1 $p50 $p99" | tee -a "$out"
}
lg() { nice -n "$nice" ./loadgen "$@" --rate "$RATE" --duration "$DUR" 2>/dev/null; }
for rep in $(seq 1 "$REPS"); do
	echo "=== repetition $rep/$REPS ($(date +%T))"
	row floor "$(nice -n "$nice" "$floor" --rate "$RATE" --duration "$DUR")"
	P=$(./brokers.sh start-mosq | pid_of)
	row mosquitto-qos0 "$(lg latency-mqtt --qos 0 --port 1884 --broker-pid "$P")"
	row mosquitto-qos1 "$(lg latency-mqtt --qos 1 --port 1884 --broker-pid "$P")"
	./brokers.sh stop-mosq >/dev/null 2>&1
	P=$(./brokers.sh start-rmq | pid_of)
	sleep 5
	row rabbitmq-amqp "$(lg latency-amqp --port 5672 --broker-pid "$P")"
	./brokers.sh stop-rmq >/dev/null 2>&1
	for v in io0 io1 io1-nospin; do
		case $v in
		io0) set -- --set broker.io_threads=0 ;;
		io1) set -- --set broker.io_threads=1 ;;
		io1-nospin) set -- --set broker.io_threads=1 --set broker.io_spin_us=0 ;;
		esac
		P=$("$here/start-sluice.sh" "$@" | pid_of)
		row "sluice-$v-amqp" "$(lg latency-amqp --port 5680 --broker-pid "$P")"
		row "sluice-$v-qos0" "$(lg latency-mqtt --qos 0 --port 1890 --broker-pid "$P")"
		row "sluice-$v-qos1" "$(lg latency-mqtt --qos 1 --port 1890 --broker-pid "$P")"
		"$here/stop-sluice.sh" >/dev/null 2>&1
	done
done
echo
echo "medians over $REPS repetitions at $RATE msg/s (µs): what p50 p99"
/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    what, p50, p99 = line.split()
    runs.setdefault(what, []).append((float(p50), float(p99)))
for what, v in runs.items():
    print(f"{what:16} {statistics.median(a for a, _ in v):8.1f} {statistics.median(b for _, b in v):8.1f}"
          f"   p99 of each: {' '.join(f'{b:.0f}' for _, b in v)}")
PY
rm -f "$out"
