#!/usr/bin/env bash
# What sessions that outlive their node cost (docs/CLUSTER.md): one cluster
# node on sluice-kafka-mock (3 brokers), 20 persistent QoS 1 pairs on that
# node, with cluster.checkpoint_ms 1000 (each message for a local
# persistent session goes through <prefix>.msgs before its PUBACK) and 0
# (no checkpoints), alternating rounds. Prints one line per run.
# Usage: tests/bench/ckpt.sh [ROUNDS] (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BENCH_BIN:-$PWD/build/sluice-bench}
S=${SLUICE_BIN:-$PWD/build/sluice}
M=${KAFKA_MOCK:-$PWD/build/sluice-kafka-mock}
rounds=${1:-2}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# run CHECKPOINT_MS: one round, one line
run() {
    local d bs p mp sp args=(--brokers 3) t
    d=$(mktemp -d)
    mkfifo "$d/in"
    for t in msgs retained interest nodes sessions; do args+=(--topic "sluice.$t:4"); done
    "$M" "${args[@]}" <"$d/in" >"$d/out" 2>"$d/err" & mp=$!; pids+=("$mp")
    exec 7>"$d/in" # the mock exits when its stdin closes
    bs=""
    for _ in $(seq 100); do
        bs=$(awk '$1 == "BOOTSTRAP" {print $2}' "$d/out")
        [ -n "$bs" ] && break
        sleep 0.05
    done
    p=$(free_port)
    printf '{"node_id":"n1","listeners":[{"protocol":"mqtt","bind":"127.0.0.1:%s"}],"data_dir":"%s/data","persistence":{"sync":"batch"},"mqtt":{"max_inflight":64,"sys_interval":0},"kafka":{"bootstrap":"%s"},"cluster":{"enabled":true,"checkpoint_ms":%s},"log":{"level":"warn"}}' \
        "$p" "$d" "$bs" "$1" >"$d/c.json"
    "$S" -c "$d/c.json" 2>"$d/log" & sp=$!; pids+=("$sp")
    wait_port "$p"
    # CONNECTs are refused until the node has loaded the cluster's state
    grep -q SLUICE-CLUSTER-LOADED "$d/log" || for _ in $(seq 100); do
        grep -q SLUICE-CLUSTER-LOADED "$d/log" && break
        sleep 0.1
    done
    echo "checkpoint_ms $1: $("$B" pairs --port "$p" --pairs 20 --qos 1 --size 100 --duration 3 \
        --warmup 1 --persistent --quiet | awk '/^RESULT/ {for (i = 2; i <= NF; i++) {split($i, kv, "=");
        f[kv[1]] = kv[2]}; print f["msgs_per_s"], "msg/s delivered, lost", f["lost"], "p50",
        f["p50_us"], "us p99", f["p99_us"], "us"}')"
    kill "$sp"; wait "$sp" 2>/dev/null || true
    exec 7>&-; wait "$mp" 2>/dev/null || true
    rm -rf "$d"
}
for r in $(seq "$rounds"); do
    run 1000
    run 0
done
