#!/usr/bin/env bash
# qos1.sh: MQTT QoS 1 throughput (loadgen mqtt-qos1 and mqtt-fanin --qos 1,
# an in-flight window of 20) for sluiced at broker.io_threads 1 and 0 and
# Mosquitto, beside the ceiling the client itself sets: mqttfloor.c, a
# one-thread MQTT relay that costs nothing but the wire, with the same
# window of 20 toward the subscriber. The order of the four rotates each
# repetition. A broker's figure is only comparable with Mosquitto's and
# the floor's from the same minutes.
#   tools/bench/qos1.sh BENCH_DIR           (a built copy of ../shared/bench)
# Env: REPS (3), DUR (5 s per run), BENCH_NICE (-10), SLUICED (a release
#      build; default build-release/daemon/sluiced).
# Prints one line per run and a table of medians over the repetitions.
set -u
bench=$(cd "${1:?usage: qos1.sh BENCH_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3} DUR=${DUR:-5}
nice=${BENCH_NICE:--10}
export SLUICE_BENCH_DIR=$(mktemp -d --suffix=.sluice-qos1)
export BENCH_NICE=$nice
floor=$(mktemp --suffix=.mqttfloor)
out=$(mktemp --suffix=.qos1)
cc -O2 -Wall -o "$floor" "$here/mqttfloor.c" || exit 1
FLOOR_PORT=${FLOOR_PORT:-1895}
pid_of() { sed -n 's/^PID \([0-9]*\).*/\1/p' | tail -1; }
fpid=
cleanup() {
	(cd "$bench" && ./brokers.sh stop-mosq) >/dev/null 2>&1
	"$here/stop-sluice.sh" >/dev/null 2>&1
	[ -n "$fpid" ] && kill "$fpid" 2>/dev/null
	rm -rf "$floor" "$SLUICE_BENCH_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$bench" || exit 1
# row LABEL JSON: keep msg/s of one run; a run that lost messages counts as none
row() {
	local rate lost
	rate=$(grep -o '"msg_per_s":[0-9.]*' <<<"$2" | cut -d: -f2)
	lost=$(grep -o '"lost":-\?[0-9]*' <<<"$2" | cut -d: -f2)
	[ -n "$rate" ] || { echo "$1: no result" >&2; return; }
	[ "${lost:-0}" = 0 ] || { echo "$1: lost $lost" >&2; return; }
	echo "$1 $rate" | tee -a "$out"
}
lg() { nice -n "$nice" ./loadgen "$@" --duration "$DUR" 2>/dev/null; }
one() {         # one BROKER SCENARIO-LABEL loadgen-arguments...
	local who=$1 label=$2 P
	shift 2
	case $who in
	mosquitto)
		P=$(./brokers.sh start-mosq | pid_of)
		row "mosquitto-$label" "$(lg "$@" --port 1884 --broker-pid "$P")"
		./brokers.sh stop-mosq >/dev/null 2>&1 ;;
	floor)
		nice -n "$nice" "$floor" --port "$FLOOR_PORT" --window 20 --duration $((DUR + 30)) &
		fpid=$!
		sleep 0.3
		row "floor-$label" "$(lg "$@" --port "$FLOOR_PORT" --broker-pid "$fpid")"
		kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null; fpid= ;;
	io0|io1)
		P=$("$here/start-sluice.sh" --set broker.io_threads="${who#io}" | pid_of)
		row "sluice-$who-$label" "$(lg "$@" --port 1890 --broker-pid "$P")"
		"$here/stop-sluice.sh" >/dev/null 2>&1 ;;
	esac
}
who=(mosquitto floor io1 io0)
for rep in $(seq 1 "$REPS"); do
	echo "=== repetition $rep/$REPS ($(date +%T))"
	for i in 0 1 2 3; do
		w=${who[$(( (i + rep) % 4 ))]}
		one "$w" 1to1 mqtt-qos1
		one "$w" fanin mqtt-fanin --qos 1
	done
done
echo
echo "medians over $REPS repetitions (msg/s), and against Mosquitto"
/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    what, rate = line.split()
    runs.setdefault(what, []).append(float(rate))
med = {k: statistics.median(v) for k, v in runs.items()}
for what in sorted(runs, key=lambda k: (k.rsplit("-", 1)[1], k)):
    base = med.get("mosquitto-" + what.rsplit("-", 1)[1])
    ratio = f"{med[what] / base:5.2f}x" if base else ""
    print(f"{what:20} {med[what]:9.0f} {ratio}   each: {' '.join(f'{r:.0f}' for r in runs[what])}")
PY
rm -f "$out"
