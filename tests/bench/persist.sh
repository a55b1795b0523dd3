#!/usr/bin/env bash
# Persistent-session QoS 1 throughput: sluice with persistence.sync "always"
# and "batch" against Mosquitto with persistence on, alternating rounds.
# 50 pairs, QoS 1, 100-byte payloads, clean session 0. Prints one line per
# run (with the acknowledged messages lost, marked LOSS) and the medians of
# the delivered rates. Usage: tests/bench/persist.sh [ROUNDS] (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BENCH_BIN:-build/sluice-bench}
S=${SLUICE_BIN:-build/sluice}
rounds=${1:-3}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# measure PORT: "DELIVERED_PER_S LOST" of one run
measure() {
  "$B" pairs --port "$1" --pairs 50 --qos 1 --size 100 --duration 8 --warmup 2 --persistent --quiet |
    awk '/^RESULT/ {for (i = 2; i <= NF; i++) {split($i, kv, "="); f[kv[1]] = kv[2]}
                    print f["msgs_per_s"], f["lost"]}'
}
# show NAME ROUND "RATE LOST": one line, and the rate kept for the median
show() {
  local v=${3% *} lost=${3#* }
  res[$1]+="$v "
  echo "round $2 $1 $v msg/s delivered, lost $lost$([ "${lost:-0}" != 0 ] && echo ' LOSS')"
}
declare -A res
for r in $(seq "$rounds"); do
  for mode in always batch; do
    p=$(free_port); d=$(mktemp -d)
    printf '{"listeners":[{"protocol":"mqtt","bind":"127.0.0.1:%s"}],"data_dir":"%s","persistence":{"sync":"%s"},"mqtt":{"max_inflight":64,"sys_interval":0},"log":{"level":"warn"}}' \
      "$p" "$d" "$mode" > "$d/c.json"
    "$S" -c "$d/c.json" & pid=$!; pids+=("$pid"); wait_port "$p"
    show "sluice-$mode" "$r" "$(measure "$p")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
  done
  p=$(free_port); d=$(mktemp -d); chmod 777 "$d"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\nmax_inflight_messages 64\n' \
    "$p" "$d" > "$d/m.conf"
  mosquitto -c "$d/m.conf" >/dev/null 2>&1 & pid=$!; pids+=("$pid"); wait_port "$p"
  show mosquitto-persistence "$r" "$(measure "$p")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
done
for k in sluice-always sluice-batch mosquitto-persistence; do
  echo "median $k $(echo ${res[$k]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') msg/s"
done
