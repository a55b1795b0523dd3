#!/usr/bin/env bash
# examples/demo.sh - what `make demo` runs after building (docs/EXAMPLES.md):
# a mock Kafka cluster (build/sluice-kafka-mock, librdkafka's mock in its own
# process, so an outage can be shown), sluice with examples/demo.json, the
# analytics consumer and the device simulator; prints the console URL.
# Type `down` / `up` + Enter to take the Kafka cluster away and back.
# Ctrl-C stops everything this script started (by PID) and removes its
# temporary directory.
#
# Environment: BUILD (build), DEMO_DEVICES (50), DEMO_RATE (1),
# DEMO_MQTT_PORT (1883), DEMO_WS_PORT (8083), DEMO_HTTP_PORT (8080).
set -euo pipefail

BUILD=${BUILD:-build}
DEVICES=${DEMO_DEVICES:-50}
RATE=${DEMO_RATE:-1}
MQTT_PORT=${DEMO_MQTT_PORT:-1883}
WS_PORT=${DEMO_WS_PORT:-8083}
HTTP_PORT=${DEMO_HTTP_PORT:-8080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s.%N)

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")
NAME=demo
# shellcheck source=examples/procs.sh
. "$ROOT/examples/procs.sh"
procs_trap
procs_ports_free DEMO_MQTT_PORT/DEMO_WS_PORT/DEMO_HTTP_PORT "$MQTT_PORT" "$WS_PORT" "$HTTP_PORT"
procs_start_mock --brokers 1

python3 - "$ROOT/examples/demo.json" "$dir/demo.json" "$bootstrap" "$dir" "$ROOT" \
    "$MQTT_PORT" "$WS_PORT" "$HTTP_PORT" <<'EOF'
import json, sys
src, dst, boot, tmp, root, mq, ws, http = sys.argv[1:]
c = json.load(open(src))
c["kafka"]["bootstrap"] = boot
c["data_dir"] = tmp + "/data"
ports = {"mqtt": mq, "ws": ws, "http": http}
for l in c["listeners"]:
    l["bind"] = "127.0.0.1:" + ports[l["protocol"]]
    if "static_dir" in l:
        l["static_dir"] = root + "/" + l["static_dir"]
json.dump(c, open(dst, "w"), indent=2)
EOF

"$BUILD/sluice" -c "$dir/demo.json" >"$dir/sluice.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do port_open "$MQTT_PORT" && break; sleep 0.1; done
port_open "$MQTT_PORT" || { echo "demo: sluice did not start:" >&2; cat "$dir/sluice.log" >&2; exit 1; }

"$BUILD/sluice-analytics" -b "$bootstrap" >"$dir/analytics.out" 2>"$dir/analytics.log" &
pids+=($!)
"$BUILD/sluice-devices" -p "$MQTT_PORT" -n "$DEVICES" -r "$RATE" >"$dir/devices.out" 2>"$dir/devices.log" &
pids+=($!)
for _ in $(seq 300); do grep -q READY "$dir/devices.out" && break; sleep 0.1; done

url="http://127.0.0.1:$HTTP_PORT/"
[ "$WS_PORT" = 8083 ] || url="$url?ws=ws://127.0.0.1:$WS_PORT/mqtt"
printf 'demo: %s devices live after %.1fs (Kafka mock at %s, logs in %s)\n' \
    "$(awk '/READY/{print $2}' "$dir/devices.out")" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" \
    "$bootstrap" "$dir"
echo "demo: open the console at  $url"
echo "demo: type 'down' or 'up' + Enter for a Kafka outage, Ctrl-C to stop everything"
while true; do
    if read -r line; then
        case "$line" in
        down | up) echo "$line" >&3 && echo "demo: Kafka $line" ;;
        "") ;;
        *) echo "demo: 'down', 'up' or Ctrl-C" ;;
        esac
    else
        sleep 3600 & # no terminal (stdin closed): just wait for a signal
        pids+=($!)
        wait $! || true
    fi
done
