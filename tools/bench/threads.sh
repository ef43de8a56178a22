#!/usr/bin/env bash
# threads.sh: every ../shared/bench scenario against RabbitMQ, Mosquitto and
# sluiced with broker.io_threads = 0 and = 1, interleaved per repetition, in
# one run; prints the bench's median table (ratios against RabbitMQ).
#   tools/bench/threads.sh BENCH_DIR        (a built copy of ../shared/bench)
# Env: REPS (2), IO_THREADS ("0 1"), plus run-all.sh's (DUR, ONLY, ...).
set -u
bench=$(cd "${1:?usage: threads.sh BENCH_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-2}
out=${OUT:-$bench/results/threads-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$bench/results"
pid_of() { sed -n 's/^PID \([0-9]*\).*/\1/p' | tail -1; }
cleanup() {
	(cd "$bench" && ./brokers.sh stop-rmq && ./brokers.sh stop-mosq) >/dev/null 2>&1
	"$here/stop-sluice.sh" >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$bench" || exit 1
for rep in $(seq 1 "$REPS"); do
	echo "=== repetition $rep/$REPS ($(date +%T))"
	P=$(./brokers.sh start-rmq | pid_of)
	sleep 5
	REP=$rep RESULTS=$out ./run-all.sh rabbitmq 5672 1883 "$P"
	./brokers.sh stop-rmq
	P=$(./brokers.sh start-mosq | pid_of)
	REP=$rep RESULTS=$out ./run-all.sh mosquitto - 1884 "$P"
	./brokers.sh stop-mosq
	for n in ${IO_THREADS:-0 1}; do
		P=$("$here/start-sluice.sh" --set broker.io_threads="$n" | pid_of)
		REP=$rep RESULTS=$out ./run-all.sh "sluice-io$n" 5680 1890 "$P"
		"$here/stop-sluice.sh"
	done
done
echo; echo "results: $out"; echo
/usr/bin/python3 table.py "$out" --base rabbitmq --max-other "${MAX_OTHER:-40}"
