#!/usr/bin/env bash
# examples/cluster.sh - three sluice nodes as one broker on this machine
# (docs/CLUSTER.md): a mock Kafka cluster (build/sluice-kafka-mock, three
# brokers, the internal topics created), and nodes n1, n2, n3 with MQTT on
# CLUSTER_PORT, +1, +2 and HTTP (/readyz, /metrics) on CLUSTER_HTTP, +1, +2.
# Prints what to try once every node is ready. Ctrl-C (or SIGTERM) stops
# everything this script started, by PID, and removes its directory.
#
# Environment: BUILD (build), CLUSTER_PORT (1883), CLUSTER_HTTP (8080).
set -euo pipefail

BUILD=${BUILD:-build}
PORT=${CLUSTER_PORT:-1883}
HTTP=${CLUSTER_HTTP:-8080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cluster.XXXXXX")
NAME=cluster
# shellcheck source=examples/procs.sh
. "$ROOT/examples/procs.sh"
procs_trap
procs_ports_free CLUSTER_PORT/CLUSTER_HTTP $PORT $((PORT + 1)) $((PORT + 2)) \
    $HTTP $((HTTP + 1)) $((HTTP + 2))
topics=()
for t in msgs retained interest nodes sessions; do topics+=(--topic "sluice.$t:4"); done
procs_start_mock --brokers 3 "${topics[@]}"

for i in 1 2 3; do
    mkdir -p "$dir/n$i"
    cat >"$dir/n$i/sluice.json" <<EOF
{
  "node_id": "n$i",
  "data_dir": "$dir/n$i/data",
  "listeners": [
    { "protocol": "mqtt", "bind": "127.0.0.1:$((PORT + i - 1))" },
    { "protocol": "http", "bind": "127.0.0.1:$((HTTP + i - 1))" }
  ],
  "kafka": { "bootstrap": "$bootstrap" },
  "cluster": { "enabled": true, "id": "example", "topic_prefix": "sluice",
               "partitions": 4, "heartbeat_ms": 500, "node_timeout_ms": 3000 }
}
EOF
    "$BUILD/sluice" -c "$dir/n$i/sluice.json" >"$dir/n$i/log" 2>&1 &
    pids+=($!)
done

for i in 1 2 3; do
    ok=""
    for _ in $(seq 300); do
        if curl -fs "http://127.0.0.1:$((HTTP + i - 1))/readyz" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "cluster: n$i not ready; its log:" >&2; tail -20 "$dir/n$i/log" >&2; exit 1; }
done

cat <<EOF
cluster: 3 nodes ready (Kafka mock at $bootstrap; logs in $dir/n*/log)
cluster:   n1 mqtt 127.0.0.1:$PORT  n2 :$((PORT + 1))  n3 :$((PORT + 2))  (http :$HTTP, :$((HTTP + 1)), :$((HTTP + 2)))
cluster: try:
  mosquitto_sub -p $((PORT + 1)) -t 'demo/#' -v &                       # on n2
  mosquitto_pub -p $((PORT + 2)) -t demo/hello -m 'from n3' -q 1         # on n3
  curl -s 127.0.0.1:$HTTP/metrics | grep sluice_cluster_                 # n1's view
  # a persistent session moves: subscribe on n1, leave, publish, resume on n2
  mosquitto_sub -p $PORT -i car-7 -c -q 1 -t 'fleet/car-7/#' -C 1 -W 2 || true
  mosquitto_pub -p $((PORT + 2)) -t fleet/car-7/cmd -m 'queued while away' -q 1
  mosquitto_sub -p $((PORT + 1)) -i car-7 -c -q 1 -t 'fleet/car-7/#' -C 1 -v   # on n2
  # a node dies: its sessions come back on the node their client reconnects to
  mosquitto_sub -p $PORT -i truck-3 -c -q 1 -t 'fleet/truck-3/#' -C 1 -W 2 || true
  mosquitto_pub -p $((PORT + 2)) -t fleet/truck-3/cmd -m 'sent before n1 died' -q 1
  kill -9 ${pids[1]}                                                      # n1
  mosquitto_sub -p $((PORT + 1)) -i truck-3 -c -q 1 -t 'fleet/truck-3/#' -C 1 -v # on n2
cluster: Ctrl-C stops everything
EOF
wait "${pids[0]}"
