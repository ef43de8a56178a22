#!/usr/bin/env bash
# A private RabbitMQ node (Debian's rabbitmq-server) for side-by-side
# figures, in its own directory, on loopback, with its own node name:
#   tools/bench/rmq-node.sh restart DIR PORT   (re)start it; prints nothing
#   tools/bench/rmq-node.sh pid DIR            its beam.smp pid
#   tools/bench/rmq-node.sh stop DIR
# e.g. for streams.sh:
#   RMQ_RESTART="tools/bench/rmq-node.sh restart /tmp/rmq 35672" \
#   RMQ_PID="tools/bench/rmq-node.sh pid /tmp/rmq" tools/bench/streams.sh 35672
set -eu
cmd=${1:?restart, pid or stop}
dir=${2:?directory}
name=bench_$(basename "$dir")@localhost

node_pid() {
  for p in $(pgrep -f beam.smp || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$name"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
stop() {
  local p
  p=$(node_pid) || return 0
  kill "$p"
  while kill -0 "$p" 2>/dev/null; do sleep 0.2; done
}

case $cmd in
pid) node_pid ;;
stop) stop ;;
restart)
  port=${3:?port}
  stop
  mkdir -p "$dir/log" "$dir/mnesia"
  chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
  [ -f "$dir/rabbitmq.conf" ] ||
    printf 'loopback_users = none\nlisteners.tcp.1 = 127.0.0.1:%s\n' "$port" > "$dir/rabbitmq.conf"
  [ -f "$dir/enabled_plugins" ] || echo '[].' > "$dir/enabled_plugins"
  export RABBITMQ_NODENAME=$name RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
    RABBITMQ_CONFIG_FILE=$dir/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
    RABBITMQ_DIST_PORT=$((port + 20000)) HOME=$dir
  # a stopped node's listener port can stay busy a moment: try again
  for _ in 1 2 3 4 5; do
    (setsid rabbitmq-server > "$dir/out.log" 2>&1 < /dev/null &)
    for _ in $(seq 300); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && exit 0
      grep -q "init terminating" "$dir/out.log" && break
      sleep 0.2
    done
    sleep 2
  done
  echo "rmq-node.sh: RabbitMQ did not start (see $dir/out.log)" >&2
  exit 1
  ;;
*) echo "rmq-node.sh: unknown command $cmd" >&2; exit 2 ;;
esac
