#!/usr/bin/env bash
# Stream figures, Sluice next to RabbitMQ with one client (streambench):
#   tools/bench/streams.sh RMQ_PORT RMQ_PID_CMD [SCALE]
# RMQ_PORT: a running RabbitMQ's AMQP port; RMQ_RESTART: a command that
# restarts it (for "after restart" figures) and prints nothing;
# RMQ_PID: a command printing its beam.smp pid (for RSS). Sluice is started
# here from a release build (build-release/) on a free port (SPORT) in $DIR/sluice.
# SCALE divides the message counts (1 = the README's figures: 10 million
# messages, a 10 GB stream, a million delayed messages).
# Output: JSON lines on stdout, one per measurement, labelled by broker.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
RMQ_PORT=${1:?rabbitmq amqp port}
SCALE=${SCALE:-1}
DIR=${DIR:-/tmp/streams-bench}
SB=${SB:-$root/build/tools/streambench}
SPORT=${SPORT:-$((40000 + RANDOM % 20000))}
build=$root/build-release
[ -x "$build/daemon/sluiced" ] || meson setup "$build" "$root" --buildtype=release -Dtests=disabled >/dev/null
ninja -C "$build" daemon/sluiced >/dev/null

start_sluice() {
  setsid "$build/daemon/sluiced" --set amqp.bind=127.0.0.1 --set amqp.port=$SPORT \
    --set mqtt.enabled=no --set http.enabled=no --set prometheus.port=0 \
    --set broker.data_dir="$DIR/sluice" --set broker.log_level=warning \
    > "$DIR/sluice.log" 2>&1 < /dev/null &
  echo $! > "$DIR/sluice.pid"
  for _ in $(seq 600); do
    (exec 3<>/dev/tcp/127.0.0.1/$SPORT) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "sluiced did not start" >&2; exit 1
}
stop_sluice() { kill "$(cat "$DIR/sluice.pid")"; while kill -0 "$(cat "$DIR/sluice.pid")" 2>/dev/null; do sleep 0.1; done; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
label() { sed "s/^{/{\"broker\":\"$1\",\"what\":\"$2\",/"; }
rmq_pid() { eval "${RMQ_PID:?RMQ_PID: a command printing RabbitMQ\'s pid}"; }
# restart RabbitMQ, then wait for its AMQP port and for its streams to
# come back (a stream's member starts a little after the listener)
rmq_restart() {
  eval "${RMQ_RESTART:?RMQ_RESTART: a command restarting RabbitMQ}"
  for _ in $(seq 1200); do
    (exec 3<>/dev/tcp/127.0.0.1/$RMQ_PORT) 2>/dev/null && break
    sleep 0.1
  done
  sleep 10
}

mkdir -p "$DIR"; rm -rf "$DIR/sluice"
start_sluice
N1=$((200000 / SCALE)); N10M=$((10000000 / SCALE)); NBIG=$((1000000 / SCALE)); ND=$((1000000 / SCALE))

# 1. publish rate with confirms (100-byte bodies, window 1000), twice each, interleaved
for rep in 1 2; do
  "$SB" 127.0.0.1 $SPORT publish pub-$rep $N1 100 1000 | label sluice publish
  "$SB" 127.0.0.1 "$RMQ_PORT" publish pub-$rep $N1 100 1000 | label rabbitmq publish
done

# 2. replay from first of a 10-million-message stream after a restart
"$SB" 127.0.0.1 $SPORT publish replay $N10M 100 1000 | label sluice fill-replay
"$SB" 127.0.0.1 "$RMQ_PORT" publish replay $N10M 100 1000 | label rabbitmq fill-replay
stop_sluice; start_sluice; rmq_restart
s0=$(rss_kb "$(cat "$DIR/sluice.pid")"); r0=$(rss_kb "$(rmq_pid)")
"$SB" 127.0.0.1 $SPORT consume replay $N10M first 1000 | label sluice replay
s1=$(rss_kb "$(cat "$DIR/sluice.pid")")
"$SB" 127.0.0.1 "$RMQ_PORT" consume replay $N10M first 1000 | label rabbitmq replay
r1=$(rss_kb "$(rmq_pid)")
echo "{\"broker\":\"sluice\",\"what\":\"replay-rss\",\"rss_before_kb\":$s0,\"rss_after_kb\":$s1}"
echo "{\"broker\":\"rabbitmq\",\"what\":\"replay-rss\",\"rss_before_kb\":$r0,\"rss_after_kb\":$r1}"

# 3. open a consumer in the middle of a big stream (10 KB bodies) after a restart
"$SB" 127.0.0.1 $SPORT publish big $NBIG 10000 200 | label sluice fill-big
"$SB" 127.0.0.1 "$RMQ_PORT" publish big $NBIG 10000 200 | label rabbitmq fill-big
du -sb "$DIR/sluice/streams" | awk '{print "{\"broker\":\"sluice\",\"what\":\"streams-disk\",\"bytes\":"$1"}"}'
stop_sluice; start_sluice; rmq_restart
for off in $((NBIG / 2)) $((NBIG / 3)); do
  "$SB" 127.0.0.1 $SPORT consume big 100 $off 100 | label sluice open-middle
  "$SB" 127.0.0.1 "$RMQ_PORT" consume big 100 $off 100 | label rabbitmq open-middle
done

# 4. a million delayed messages (Sluice; Debian's RabbitMQ has no delayed-message plugin)
d0=$(rss_kb "$(cat "$DIR/sluice.pid")")
/usr/bin/python3 - "$SPORT" <<'EOF'
import pika, sys
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(sys.argv[1])))
ch = c.channel()
ch.exchange_declare("later", "x-delayed-message", durable=True, arguments={"x-delayed-type": "direct"})
ch.queue_declare("later-q", durable=True)
ch.queue_bind("later-q", "later", "k")
c.close()
EOF
"$SB" 127.0.0.1 $SPORT delayed later $ND 3600000 | label sluice delayed-publish
d1=$(rss_kb "$(cat "$DIR/sluice.pid")")
echo "{\"broker\":\"sluice\",\"what\":\"delayed-rss\",\"n\":$ND,\"rss_before_kb\":$d0,\"rss_after_kb\":$d1,\"bytes_per_message\":$(( (d1 - d0) * 1024 / ND ))}"
stop_sluice
