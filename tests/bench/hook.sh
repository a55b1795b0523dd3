#!/usr/bin/env bash
# A slow HTTP authentication hook must not slow the clients already
# connected (issue 13): one sluice with "auth.http.url" pointing at
# tests/bench/hook_server.py, which allows every user at once except "slow",
# allowed after HOOK_SLOW_S (2 s). Each round measures QoS 1 pairs (50 pairs:
# 100 connected clients, user "fast") twice, alternately: "quiet", and
# "slow", with HOOK_SLOW_CLIENTS mosquitto_pub loops connecting as "slow"
# the whole time (each CONNECT waits on the hook). Prints the rows, the
# medians and the slow/quiet ratio.
#   tests/bench/hook.sh
# Env: BENCH_ROUNDS (3) BENCH_DURATION (10 s) BENCH_WARMUP (2 s)
#      HOOK_SLOW_S (2) HOOK_SLOW_CLIENTS (20) BUILD (build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ROUNDS=${BENCH_ROUNDS:-3}
DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-2}
SLOW_S=${HOOK_SLOW_S:-2}
NSLOW=${HOOK_SLOW_CLIENTS:-20}
BENCH=$BUILD/sluice-bench
SLUICE=$BUILD/sluice
for f in "$BENCH" "$SLUICE"; do
    [ -x "$f" ] || { echo "hook.sh: $f missing (cmake --build $BUILD)" >&2; exit 2; }
done
command -v mosquitto_pub >/dev/null || { echo "hook.sh: mosquitto_pub missing (make deps-bench)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/sluice-hook-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${HOOK_KEEP:-}" ] && echo "hook.sh: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

python3 tests/bench/hook_server.py "$SLOW_S" >"$WORK/hook.port" &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do [ -s "$WORK/hook.port" ] && break; sleep 0.05; done
HOOK=$(head -1 "$WORK/hook.port")
PORT=$(free_port)
cat >"$WORK/sluice.json" <<JSON
{"listeners":[{"protocol":"mqtt","bind":"127.0.0.1:$PORT"}],
 "data_dir":"$WORK/data","persistence":{"sync":"none"},"mqtt":{"max_inflight":64},
 "auth":{"http":{"url":"http://127.0.0.1:$HOOK/auth","timeout_ms":10000,"max_inflight":64}}}
JSON
"$SLUICE" -c "$WORK/sluice.json" >"$WORK/sluice.log" 2>&1 &
SPID=$!
PIDS+=($SPID)
for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

# one client connecting as "slow" again and again until killed; a line per
# CONNECT that got through (mosquitto_pub exits 0 only after its CONNACK)
slow_loop() {
    local k=0
    while :; do
        mosquitto_pub -h 127.0.0.1 -p "$PORT" -u slow -P x -i "slow-$1-$k" -t bench/slow -m x \
            >/dev/null 2>&1 && echo ok >>"$WORK/slow.done"
        k=$((k + 1))
    done
}

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2; exit}'; }

measure() { # MODE ROUND
    local loops=() n0=0 line
    : >>"$WORK/slow.done"
    if [ "$1" = slow ]; then
        for ((i = 0; i < NSLOW; i++)); do
            slow_loop "$i" &
            loops+=($!)
        done
        n0=$(wc -l <"$WORK/slow.done")
    fi
    local rc=0
    "$BENCH" pairs --port "$PORT" -t 1 --pairs 50 --qos 1 --inflight 64 --window 0 --size 16 \
        --drain 30 --duration "$DUR" --warmup "$WARM" --quiet --user fast --pass x \
        >"$WORK/bench.out" 2>&1 || rc=$?
    line=$(grep '^RESULT' "$WORK/bench.out" || true)
    if [ -z "$line" ]; then
        echo "hook.sh: sluice-bench failed (exit $rc):" >&2
        tail -5 "$WORK/bench.out" >&2
        line="RESULT msgs_per_s=0 lost=NA"
    fi
    local done_n=0
    if [ "$1" = slow ]; then
        {
            for p in "${loops[@]}"; do pkill -P "$p" || true; kill "$p" || true; done
            wait "${loops[@]}" || true
        } 2>/dev/null
        done_n=$(($(wc -l <"$WORK/slow.done") - n0))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(field msgs_per_s <<<"$line")" \
        "$(field lost <<<"$line")" "$(field p50_us <<<"$line")" "$(field p99_us <<<"$line")" \
        "$done_n" | tee -a "$WORK/rows"
}

echo "# hook answers 'slow' after ${SLOW_S} s; ${NSLOW} slow CONNECT loops in the slow rows"
printf 'mode\tround\tmsgs_per_s\tlost\tp50_us\tp99_us\tslow_connects_done\n'
for ((r = 1; r <= ROUNDS; r++)); do
    measure quiet "$r"
    measure slow "$r"
done
kill -0 "$SPID" 2>/dev/null || { echo "hook.sh: sluice died (see its log)" >&2; cat "$WORK/sluice.log" >&2; exit 1; }
python3 - "$WORK/rows" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
med = {m: statistics.median(float(r[2]) for r in rows if r[0] == m) for m in ("quiet", "slow")}
lost = sum(int(r[3]) for r in rows)
done = sum(int(r[6]) for r in rows if r[0] == "slow")
print("median msgs/s: quiet %.0f, slow %.0f, slow/quiet %.2f; lost %d; slow CONNECTs answered %d"
      % (med["quiet"], med["slow"], med["slow"] / med["quiet"], lost, done))
PY
