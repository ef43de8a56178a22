#!/usr/bin/env bash
# corecost.sh: CPU time per message of each sluiced thread (the core, the
# I/O threads, the journal) for ../shared/bench scenarios, from
# /proc/PID/task/*/stat around each run. With broker.io_threads = 1 the core
# thread's microseconds per message tell where it saturates: 1e6 / that
# many messages per second, whatever the number of I/O threads.
#   tools/bench/corecost.sh BENCH_DIR [IO_THREADS]      (default 1)
# Env: CASES (scenario:case:options list), DUR (5).
set -u
bench=$(cd "${1:?usage: corecost.sh BENCH_DIR [IO_THREADS]}" && pwd)
n=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
DUR=${DUR:-5}
CASES=${CASES:-"amqp-1to1:amqp-1to1-16B:--size 16
amqp-1to1:amqp-1to1-1KiB:--size 1024
amqp-fanout:amqp-fanout10-16B:
amqp-many-queues:amqp-8queues-16B:
amqp-confirm-persistent:amqp-confirm-persist-1KiB:
mqtt-qos0:mqtt-qos0-16B:
mqtt-qos1:mqtt-qos1-16B:"}
pid_of() { sed -n 's/^PID \([0-9]*\).*/\1/p' | tail -1; }
trap '"$here/stop-sluice.sh" >/dev/null 2>&1' EXIT
P=$("$here/start-sluice.sh" --set broker.io_threads="$n" | pid_of)
tick=$(getconf CLK_TCK)
# threads PID: "name ticks" per thread, the core thread named "core".
threads() {
	local t
	for t in /proc/"$1"/task/*; do
		awk -v tid="${t##*/}" -v pid="$1" '{
			sub(/^[0-9]+ \(/, ""); name = substr($0, 1, index($0, ") ") - 1)
			sub(/^[^)]*\) /, ""); if (tid == pid) name = "core"
			print name, $12 + $13 }' "$t/stat"
	done | sort
}
printf '%-26s %10s  %s\n' case msg/s "CPU us/msg per thread"
while IFS=: read -r sc case opts; do
	[ -n "$sc" ] || continue
	before=$(threads "$P")
	# shellcheck disable=SC2086
	line=$(cd "$bench" && nice -n "${BENCH_NICE:--5}" ./loadgen "$sc" --label sluice-io"$n" \
		--case "$case" --port "$([[ $sc == mqtt* ]] && echo 1890 || echo 5680)" \
		--broker-pid "$P" --duration "$DUR" $opts 2>/dev/null)
	after=$(threads "$P")
	rate=$(sed -n 's/.*"msg_per_s": *\([0-9.]*\).*/\1/p' <<<"$line")
	msgs=$(sed -n 's/.*"msgs": *\([0-9]*\).*/\1/p' <<<"$line")
	[ -n "$msgs" ] || msgs=$(awk -v r="$rate" -v d="$DUR" 'BEGIN { printf "%d", r * d }')
	per=$(join <(echo "$before") <(echo "$after") | awk -v m="$msgs" -v tick="$tick" '
		$3 > $2 { printf "%s %.2f  ", $1, ($3 - $2) * 1e6 / tick / (m > 0 ? m : 1) }')
	printf '%-26s %10.0f  %s\n' "$case" "${rate:-0}" "$per"
done <<<"$CASES"
