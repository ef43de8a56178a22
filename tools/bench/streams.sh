#!/usr/bin/env bash
# Stream figures, Sluice next to RabbitMQ with one client (streambench):
#   RMQ_RESTART=CMD RMQ_PID=CMD [SCALE=N] [BENCH_NICE=-10] [PHASES=...] \
#       tools/bench/streams.sh RMQ_PORT
# RMQ_PORT: a running RabbitMQ's AMQP port; RMQ_RESTART: a command that
# restarts it (for "after restart" figures) and prints nothing;
# RMQ_PID: a command printing its beam.smp pid (for RSS); tools/bench/rmq-node.sh
# gives both for a private node. Sluice is started
# here from a release build (build-release/) on a free port (SPORT) in $DIR/sluice.
# SLUICED: another sluiced binary to run (a before/after comparison).
# SCALE divides the message counts (1 = the README's figures: 10 million
# messages, a 10 GB stream, a million delayed messages).
# BENCH_NICE: nice value for both brokers and the client (on a shared
# machine, e.g. -10); RabbitMQ's threads are reniced after each restart.
# PHASES: which of "publish replay big delayed" to run (default all).
# Output: JSON lines on stdout, one per measurement, labelled by broker;
# progress on stderr. Every step's result is checked: a failed or stalled
# step stops the run with a message naming it. The streams are deleted on
# both brokers at the start and the end (KEEP=1 keeps them at the end).
set -Eeuo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
RMQ_PORT=${1:?rabbitmq amqp port}
SCALE=${SCALE:-1}
DIR=${DIR:-/tmp/streams-bench}
SB=${SB:-$root/build/tools/streambench}
# a free port below the ephemeral range: a client's TIME-WAIT socket on a
# port (thousands on a busy machine) makes a listener's bind fail there
SPORT=${SPORT:-$(/usr/bin/python3 -c '
import random, socket
for p in random.sample(range(20000, 32000), 200):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
')}
PHASES=${PHASES:-publish replay big delayed}
BENCH_NICE=${BENCH_NICE:-}
build=$root/build-release
step=setup
NICE=()
[ -n "$BENCH_NICE" ] && NICE=(nice -n "$BENCH_NICE")

log() { printf '%s streams.sh [%s] %s\n' "$(date -u +%H:%M:%S)" "$step" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
trap 'rc=$?; log "FAILED: line $LINENO: $BASH_COMMAND (status $rc)"; exit $rc' ERR
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

[ -x "$SB" ] || die "no streambench at $SB (ninja -C build tools/streambench)"
if [ -z "${SLUICED:-}" ]; then
  [ -x "$build/daemon/sluiced" ] ||
    meson setup "$build" "$root" --buildtype=release -Dtests=disabled >/dev/null
  ninja -C "$build" daemon/sluiced >/dev/null
  SLUICED=$build/daemon/sluiced
fi

start_sluice() {
  setsid "${NICE[@]}" "$SLUICED" --set amqp.bind=127.0.0.1 \
    --set amqp.port="$SPORT" --set mqtt.enabled=no --set http.enabled=no \
    --set prometheus.port=0 --set broker.data_dir="$DIR/sluice" \
    --set broker.log_level=warning >> "$DIR/sluice.log" 2>&1 < /dev/null &
  echo $! > "$DIR/sluice.pid"
  for _ in $(seq 6000); do
    kill -0 "$(cat "$DIR/sluice.pid")" 2>/dev/null ||
      die "sluiced exited while starting (see $DIR/sluice.log)"
    (exec 3<>"/dev/tcp/127.0.0.1/$SPORT") 2>/dev/null && return 0
    sleep 0.1
  done
  die "sluiced did not open its port in 600 s"
}
stop_sluice() {
  local pid
  pid=$(cat "$DIR/sluice.pid")
  kill "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
sluice_pid() { cat "$DIR/sluice.pid"; }
rmq_pid() { eval "${RMQ_PID:?RMQ_PID: a command printing RabbitMQ\'s pid}"; }
rss_kb() {
  local kb
  kb=$(awk '/VmRSS/ {print $2}' "/proc/$1/status") || die "no process $1 for RSS"
  [ -n "$kb" ] || die "no VmRSS for $1"
  echo "$kb"
}
# every thread: nice applies per thread on Linux
renice_all() {
  [ -n "$BENCH_NICE" ] || return 0
  for t in /proc/"$1"/task/*; do renice -n "$BENCH_NICE" -p "${t##*/}" >/dev/null || true; done
}
# restart RabbitMQ, then wait for its AMQP port and for its streams to
# come back (a stream's member starts a little after the listener)
rmq_restart() {
  log "restarting RabbitMQ"
  eval "${RMQ_RESTART:?RMQ_RESTART: a command restarting RabbitMQ}" ||
    die "RMQ_RESTART failed"
  for _ in $(seq 6000); do
    (exec 3<>"/dev/tcp/127.0.0.1/$RMQ_PORT") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$RMQ_PORT") 2>/dev/null || die "RabbitMQ did not come back"
  renice_all "$(rmq_pid)"
  sleep 10
}
restart_both() {
  log "restarting sluiced"
  stop_sluice
  start_sluice
  rmq_restart
}

# sb BROKER WHAT streambench-arguments...: one measurement, checked
sb() {
  local broker=$1 what=$2 port=$SPORT out
  shift 2
  [ "$broker" = rabbitmq ] && port=$RMQ_PORT
  log "$broker $what: streambench $*"
  out=$("${NICE[@]}" "$SB" 127.0.0.1 "$port" "$@") ||
    die "$broker $what: streambench $* failed"
  case $out in
    '{'*) printf '%s\n' "$out" | sed "s/^{/{\"broker\":\"$broker\",\"what\":\"$what\",/" ;;
    *) die "$broker $what: no result from streambench" ;;
  esac
}
delete_streams() {
  for q in pub-1 pub-2 big-pub-1 big-pub-2 replay big; do
    "$SB" 127.0.0.1 "$1" delete "$q" || die "deleting $q on port $1"
  done
}
finish() {
  step=cleanup
  [ -f "$DIR/sluice.pid" ] && stop_sluice
  if [ "${KEEP:-0}" != 1 ]; then
    log "deleting the streams and $DIR/sluice"
    rm -rf "$DIR/sluice"
    delete_streams "$RMQ_PORT" || true
  fi
}

mkdir -p "$DIR"
rm -rf "$DIR/sluice"
: > "$DIR/sluice.log"
log "SCALE=$SCALE BENCH_NICE=${BENCH_NICE:-none} PHASES=$PHASES sluice port $SPORT"
rmq_restart
delete_streams "$RMQ_PORT"
start_sluice
trap finish EXIT
N1=$((200000 / SCALE)); N10M=$((10000000 / SCALE)); NBIG=$((1000000 / SCALE))
NBIGPUB=$((100000 / SCALE)); ND=$((1000000 / SCALE))

# 1. publish rate with confirms (100-byte bodies, window 1000; 10 KB bodies,
# window 200), twice each, interleaved
if has_phase publish; then
  step=publish
  for rep in 1 2; do
    sb sluice publish publish pub-$rep $N1 100 1000
    sb rabbitmq publish publish pub-$rep $N1 100 1000
    sb sluice publish-10k publish big-pub-$rep $NBIGPUB 10000 200
    sb rabbitmq publish-10k publish big-pub-$rep $NBIGPUB 10000 200
  done
fi

# 2. replay from first of a 10-million-message stream after a restart
if has_phase replay; then
  step=replay
  sb sluice fill-replay publish replay $N10M 100 1000
  sb rabbitmq fill-replay publish replay $N10M 100 1000
  restart_both
  s0=$(rss_kb "$(sluice_pid)"); r0=$(rss_kb "$(rmq_pid)")
  sb sluice replay consume replay $N10M first 1000
  s1=$(rss_kb "$(sluice_pid)")
  sb rabbitmq replay consume replay $N10M first 1000
  r1=$(rss_kb "$(rmq_pid)")
  echo "{\"broker\":\"sluice\",\"what\":\"replay-rss\",\"rss_before_kb\":$s0,\"rss_after_kb\":$s1}"
  echo "{\"broker\":\"rabbitmq\",\"what\":\"replay-rss\",\"rss_before_kb\":$r0,\"rss_after_kb\":$r1}"
fi

# 3. open a consumer in the middle of a big stream (10 KB bodies) after a restart
if has_phase big; then
  step=big
  sb sluice fill-big publish big $NBIG 10000 200
  sb rabbitmq fill-big publish big $NBIG 10000 200
  du -sb "$DIR/sluice/streams" |
    awk '{print "{\"broker\":\"sluice\",\"what\":\"streams-disk\",\"bytes\":"$1"}"}'
  restart_both
  for off in $((NBIG / 2)) $((NBIG / 3)) $((NBIG * 2 / 3)); do
    sb sluice open-middle consume big 100 $off 100
    sb rabbitmq open-middle consume big 100 $off 100
  done
fi

# 4. a million delayed messages (Sluice; Debian's RabbitMQ has no delayed-message plugin)
if has_phase delayed; then
  step=delayed
  d0=$(rss_kb "$(sluice_pid)")
  /usr/bin/python3 - "$SPORT" <<'EOF' || die "declaring the delayed exchange"
import pika, sys
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(sys.argv[1])))
ch = c.channel()
ch.exchange_declare("later", "x-delayed-message", durable=True, arguments={"x-delayed-type": "direct"})
ch.queue_declare("later-q", durable=True)
ch.queue_bind("later-q", "later", "k")
c.close()
EOF
  sb sluice delayed-publish delayed later $ND 3600000
  d1=$(rss_kb "$(sluice_pid)")
  echo "{\"broker\":\"sluice\",\"what\":\"delayed-rss\",\"n\":$ND,\"rss_before_kb\":$d0,\"rss_after_kb\":$d1,\"bytes_per_message\":$(( (d1 - d0) * 1024 / ND ))}"
fi
step=done
log "all phases done"
