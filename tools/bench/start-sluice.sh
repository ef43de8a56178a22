#!/usr/bin/env bash
# Start a release build of sluiced for ../shared/bench/compare.sh:
#   EXTRA_LABEL=sluice EXTRA_START=/path/to/tools/bench/start-sluice.sh \
#   EXTRA_STOP=/path/to/tools/bench/stop-sluice.sh EXTRA_AMQP=5680 EXTRA_MQTT=1890 ./compare.sh
# Prints "PID <pid>" as compare.sh expects. State lives in $SLUICE_BENCH_DIR.
# MQTT allows anonymous clients here, as the RabbitMQ and Mosquitto anchors
# do, because the load generator connects without credentials.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${SLUICE_BENCH_DIR:-/tmp/bench-sluice}
build=${SLUICE_BENCH_BUILD:-$root/build-release}
bin=${SLUICED:-$build/daemon/sluiced}     # SLUICED: a given binary, as is
if [ -z "${SLUICED:-}" ]; then
  if [ ! -x "$build/daemon/sluiced" ]; then
    meson setup "$build" "$root" --buildtype=release -Dtests=disabled >/dev/null
  fi
  ninja -C "$build" daemon/sluiced >/dev/null
fi
rm -rf "$dir" && mkdir -p "$dir"
setsid nice -n "${BENCH_NICE:--5}" "$bin" \
  --set amqp.port="${SLUICE_AMQP_PORT:-5680}" \
  --set mqtt.port="${SLUICE_MQTT_PORT:-1890}" --set mqtt.allow_anonymous=yes \
  --set http.port=0 --set prometheus.port=0 \
  --set broker.data_dir="$dir/data" --set broker.log_level=warning \
  "$@" > "$dir/log" 2>&1 < /dev/null &
echo $! > "$dir/pid"
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/"${SLUICE_AMQP_PORT:-5680}") 2>/dev/null && break
  sleep 0.1
done
echo "PID $(cat "$dir/pid")"
