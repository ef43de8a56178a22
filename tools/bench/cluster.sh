#!/usr/bin/env bash
# cluster.sh: what replication costs. Confirmed persistent 1 KiB messages
# (the bench's amqp-confirm-persistent: durable queue, delivery mode 2,
# confirm window 100, one consumer), 1 and 4 publishers, against
#
#   sluice        one node, no [cluster]
#   cluster-0     a cluster of one node (min_in_sync_followers = 0)
#   cluster-1     two nodes: a confirm waits for 1 follower's fsync
#   cluster-2     three nodes: for 2 followers' fsyncs
#   rabbitmq-qq3  RabbitMQ, three nodes on loopback, a quorum queue
#                 (falls back to one node, rabbitmq-qq1, if the cluster
#                 cannot be formed)
#
# all on this machine, one after the other, REPS times interleaved; prints
# medians with each row's ratio to single-node Sluice and to RabbitMQ.
#
#   tools/bench/cluster.sh BENCH_DIR      (a copy of ../shared/bench)
#   Env: DUR (seconds per run, 10), REPS (2), BENCH_NICE (-5),
#        SLUICE_BENCH_BUILD (a release build dir, made if missing)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=$(cd "${1:?usage: cluster.sh BENCH_DIR}" && pwd)
DUR=${DUR:-10} REPS=${REPS:-2} NICE=${BENCH_NICE:--5}
build=${SLUICE_BENCH_BUILD:-$root/build-release}
work=$(mktemp -d --suffix=.cluster-bench)
out=$work/results.jsonl
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rmq_stop_all
	rm -rf "$work/data"
}
trap cleanup EXIT

# ---- the load generator, and its twin that declares quorum queues ------
[ -x "$bench/loadgen" ] || make -s -C "$bench" loadgen || exit 1
perl -0pe 's{put8\(&c->out, \(uint8_t\)\(\(durable \? 2 : 0\) \| 8\)\);   /\* auto-delete \*/\n    put32\(&c->out, 0\);}{put8(&c->out, 2);   /* durable: quorum queues are never auto-delete */\n    put32(&c->out, 24); putss(&c->out, "x-queue-type"); put8(&c->out, (uint8_t)\x27S\x27);\n    put32(&c->out, 6); putn(&c->out, "quorum", 6);}' \
	"$bench/loadgen.c" > "$work/loadgen_q.c"
grep -q '"x-queue-type"' "$work/loadgen_q.c" || { echo "cannot patch loadgen.c for quorum queues" >&2; exit 1; }
cc -O2 -o "$work/loadgen-q" "$work/loadgen_q.c" -lrabbitmq -lmosquitto -lpthread -lm || exit 1

if [ ! -x "$build/daemon/sluiced" ]; then
	meson setup "$build" "$root" --buildtype=release -Dtests=disabled >/dev/null || exit 1
fi
ninja -C "$build" daemon/sluiced >/dev/null || exit 1

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {   # wait_port PORT SECONDS
	for _ in $(seq $(($2 * 10))); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- Sluice -------------------------------------------------------------
etcd_port=$(free_port) peer=http://127.0.0.1:$(free_port)
etcd --name b --data-dir "$work/data/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "$peer" \
	--initial-advertise-peer-urls "$peer" --initial-cluster "b=$peer" --log-level error \
	> "$work/etcd.log" 2>&1 &
pids+=($!)
wait_port "$etcd_port" 30 || { echo "etcd did not start" >&2; exit 1; }

# sluice_start NAME PREFIX MIN_IN_SYNC|- : AMQP port in $node_port, PID in $node_pid
sluice_start() {
	local name=$1 prefix=$2 min=$3
	node_port=$(free_port)
	local args=(--set amqp.port="$node_port" --set mqtt.enabled=no --set http.enabled=no
		    --set prometheus.enabled=no --set broker.data_dir="$work/data/$prefix-$name")
	if [ "$min" != - ]; then
		args+=(--set cluster.etcd_endpoints="http://127.0.0.1:$etcd_port"
		       --set cluster.etcd_prefix="$prefix" --set cluster.node_name="$name"
		       --set cluster.secret=bench --set cluster.min_in_sync_followers="$min"
		       --set cluster.replication_port="$(free_port)")
	fi
	setsid nice -n "$NICE" "$build/daemon/sluiced" "${args[@]}" \
		> "$work/$prefix-$name.log" 2>&1 < /dev/null &
	node_pid=$!
	pids+=($node_pid)
}

wait_log() {    # wait_log FILE TEXT SECONDS
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1" >&2
	return 1
}

run() {         # run LABEL PORT PID PUBS [LOADGEN]
	local lg=${5:-$bench/loadgen} line
	line=$(timeout 120 nice -n "$NICE" "$lg" amqp-confirm-persistent --label "$1" \
		--case "confirm-persist-1KiB-${4}pub" --port "$2" --broker-pid "$3" --pubs "$4" \
		--duration "$DUR" 2>>"$work/loadgen.stderr")
	[ -n "$line" ] || line="{\"label\":\"$1\",\"case\":\"confirm-persist-1KiB-${4}pub\",\"error\":\"no output\"}"
	echo "$line" >> "$out"
	echo "$line" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)
print("%-13s %-26s %s" % (d["label"], d["case"], d.get("error") or "%8.0f msg/s  p50 %7.0f us  broker cpu %d%%" % (d["msg_per_s"], d["p50_us"], d["broker_cpu_pct"])))'
}

# sluice_round REP NODES(0 = no cluster): start, measure 1 and 4 publishers, stop
sluice_round() {
	local rep=$1 n=$2 prefix label port p lpid
	if [ "$n" = 0 ]; then
		prefix=single-$rep label=sluice
		sluice_start a "$prefix" -
		port=$node_port lpid=$node_pid
		wait_port "$port" 30 || return 1
	else
		prefix=c$n-$rep label=cluster-$((n - 1))
		sluice_start a "$prefix" $((n - 1))
		port=$node_port lpid=$node_pid
		wait_log "$work/$prefix-a.log" "listening amqp" 30 || return 1
		for f in b c; do
			[ "$f" = b ] && [ "$n" -lt 2 ] && continue
			[ "$f" = c ] && [ "$n" -lt 3 ] && continue
			sluice_start "$f" "$prefix" $((n - 1))
			wait_log "$work/$prefix-a.log" "$f is in the in-sync set" 60 || return 1
		done
	fi
	run "$label" "$port" "$lpid" 1
	run "$label" "$port" "$lpid" 4
	for p in "${pids[@]:1}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pids=("${pids[0]}")
	rm -rf "$work/data/$prefix"-*
}

# ---- RabbitMQ: three nodes on loopback, own epmd ------------------------
RMQ=$work/rmq
rmq_env() {     # rmq_env I
	export HOME=$RMQ/home RABBITMQ_NODENAME=clbench$1@localhost
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$((5700 + $1))
	export RABBITMQ_DIST_PORT=$((25700 + $1)) ERL_EPMD_PORT=4371
	export RABBITMQ_MNESIA_BASE=$RMQ/$1/mnesia RABBITMQ_LOG_BASE=$RMQ/$1/log
	export RABBITMQ_CONFIG_FILE=$RMQ/$1/rabbitmq.conf
	export RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ/$1/advanced.config
	export RABBITMQ_CONF_ENV_FILE=$RMQ/$1/rabbitmq-env.conf
	export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ/$1/enabled_plugins
	export RABBITMQ_PID_FILE=$RMQ/$1/beam.pid
}

rmq_start() {   # rmq_start I
	(
		rmq_env "$1"
		mkdir -p "$HOME" "$RMQ/$1/log" "$RMQ/$1/mnesia"
		printf 'listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n' \
			"$RABBITMQ_NODE_PORT" > "$RABBITMQ_CONFIG_FILE"
		printf 'disk_free_limit.absolute = 100MB\nlog.console = false\n' >> "$RABBITMQ_CONFIG_FILE"
		echo '[].' > "$RABBITMQ_ADVANCED_CONFIG_FILE"
		: > "$RABBITMQ_CONF_ENV_FILE"
		echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
		setsid nice -n "$NICE" /usr/lib/rabbitmq/bin/rabbitmq-server \
			> "$RMQ/$1/log/stdout.log" 2>&1 < /dev/null &
	)
	wait_port $((5700 + $1)) 120
}

rmqctl() {      # rmqctl I ARGS... (its chatter goes to $RMQ/ctl.log)
	(rmq_env "$1"; shift; timeout 120 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" \
		"$@" 2>>"$RMQ/ctl.log")
}

rmq_stop_all() {
	for i in 1 2 3; do
		[ -s "$RMQ/$i/beam.pid" ] || continue
		local p
		p=$(cat "$RMQ/$i/beam.pid")
		[ -d "/proc/$p" ] && kill -9 "$p" 2>/dev/null
		rm -f "$RMQ/$i/beam.pid"
	done
	local epid
	epid=$(ss -ltnpH 'sport = :4371' 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
	[ -n "$epid" ] && kill "$epid" 2>/dev/null
}

rmq_label=rabbitmq-qq3
rmq_up() {
	if (exec 3<>/dev/tcp/127.0.0.1/5701) 2>/dev/null; then
		echo "port 5701 is taken: no RabbitMQ run" >&2
		return 1
	fi
	rm -rf "$RMQ"
	rmq_start 1 || return 1
	sleep 3
	for i in 2 3; do
		if ! rmq_start "$i" || ! rmqctl "$i" stop_app >/dev/null ||
		   ! rmqctl "$i" join_cluster clbench1@localhost >/dev/null ||
		   ! rmqctl "$i" start_app >/dev/null; then
			echo "RabbitMQ node $i could not join the cluster (see $RMQ/$i/log):" \
			     "comparing with one node" >&2
			rmq_label=rabbitmq-qq1
			return 0
		fi
	done
	echo "RabbitMQ nodes running: $(rmqctl 1 eval 'rabbit_nodes:all_running().' | tr -d '\n')"
}

echo "# $(date -u +%FT%TZ) DUR=$DUR REPS=$REPS, results in $out"
rmq_ok=0
rmq_up && rmq_ok=1
for rep in $(seq "$REPS"); do
	for n in 0 1 2 3; do
		sluice_round "$rep" "$n" || echo "sluice round $n failed (logs in $work)" >&2
	done
	if [ "$rmq_ok" = 1 ]; then
		rp=$(cat "$RMQ/1/beam.pid")
		run "$rmq_label" 5701 "$rp" 1 "$work/loadgen-q"
		run "$rmq_label" 5701 "$rp" 4 "$work/loadgen-q"
	fi
done
[ "$rmq_ok" = 1 ] && echo "RabbitMQ queues (name type members):" &&
	rmqctl 1 -q list_queues name type members | sed 's/^/  /'

/usr/bin/python3 - "$out" "$rmq_label" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "error" not in d:
        rows.setdefault((d["label"], d["case"]), []).append(d["msg_per_s"])
labels = ["sluice", "cluster-0", "cluster-1", "cluster-2", sys.argv[2]]
cases = sorted({c for _, c in rows})
med = {k: statistics.median(v) for k, v in rows.items()}
print("\n| broker | " + " | ".join(cases) + " |")
print("| --- |" + " --- |" * len(cases))
for l in labels:
    cells = []
    for c in cases:
        m = med.get((l, c))
        base, rmq = med.get(("sluice", c)), med.get((sys.argv[2], c))
        if m is None:
            cells.append("-")
            continue
        s = "%.0f msg/s" % m
        if base and l != "sluice":
            s += ", %.2fx single" % (m / base)
        if rmq and l != sys.argv[2]:
            s += ", %.2fx RabbitMQ" % (m / rmq)
        cells.append(s)
    print("| %s | %s |" % (l, " | ".join(cells)))
PY
