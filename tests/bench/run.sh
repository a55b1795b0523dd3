#!/usr/bin/env bash
# Side-by-side benchmark: sluice and Mosquitto on free loopback ports, each
# scenario against each broker in alternation (A B A B ...), medians of
# BENCH_ROUNDS rounds, written to docs/BENCHMARKS.md and docs/bench/*.svg.
#   tests/bench/run.sh                 all scenarios
#   tests/bench/run.sh pairs fanout    a subset
#   tests/bench/run.sh bridge          sluice only: MQTT -> Kafka mock cluster -> reader
#                                      (part of "all"; Mosquitto has no Kafka bridge)
# Every row records sent, acknowledged, delivered, lost and duplicated
# messages (sluice-bench's RESULT line); the rates count only what arrived.
# pairs1 / fanin1 are QoS 1 with no global window (--window 0: only each
# publisher's 64 unacknowledged messages limit it, like an independent
# generator), lat-pairs1 / lat-fanin1 the same at a fixed offered load.
# Env: BENCH_ROUNDS (3) BENCH_DURATION (10 s) BENCH_WARMUP (2 s)
#      BENCH_THREADS (1: the machine has 2 cores, the broker needs one)
#      BUILD (build) BENCH_BIN SLUICE MOSQUITTO KAFKA_MOCK BENCH_OUT (docs)
#      BENCH_CONNS (19900) BENCH_TLS_CONNS (2000: the *-conns rows; every
#      connection costs a full TLS handshake on both ends)
# mqtts / mqtts1 / wss / wss1 are pairs QoS 0 / QoS 1 over TLS and secure
# WebSocket; mqtts-conns / wss-conns / ws-conns hold BENCH_TLS_CONNS idle
# connections for the setup rate (TLS handshakes) and the RSS per idle
# connection. Both brokers get the same throwaway P-256 certificate.
# pairs-auth is pairs with a password file and a 1,000-rule ACL (the client's
# own rule last), on both brokers; conns-auth is the connection setup rate of
# BENCH_AUTH_CONNS clients with user name and password ($7$ PBKDF2-SHA512,
# 101 iterations, made by mosquitto_passwd), both brokers reading the same
# two files.
# cluster (sluice only, part of "all"): three sluice nodes joined only by a
# Kafka mock cluster (3 brokers); 20 QoS 1 pairs at BENCH_CLUSTER_RATE
# (20000) msg/s offered, publishers on node 1, subscribers on node 2, once
# node 1 knows node 2's subscriptions; then the same load against one sluice
# without a cluster (the single-node figure of the same run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
ROUNDS=${BENCH_ROUNDS:-3}
DUR=${BENCH_DURATION:-10}
WARM=${BENCH_WARMUP:-2}
THREADS=${BENCH_THREADS:-1}
OUT=${BENCH_OUT:-docs}
CONNS=${BENCH_CONNS:-19900}
TLS_CONNS=${BENCH_TLS_CONNS:-2000}
CONN_PROCS=4
ALL=(pairs fanout fanin latency pairs1 fanin1 lat-pairs1 lat-fanin1 ws conns bridge
    mqtts mqtts1 wss wss1 mqtts-conns wss-conns ws-conns
    pairs-auth conns-auth cluster)
AUTH_CONNS=${BENCH_AUTH_CONNS:-2000}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=("${ALL[@]}")
for s in "${SCENARIOS[@]}"; do
    case " ${ALL[*]} " in *" $s "*) ;; *) echo "run.sh: unknown scenario '$s' (${ALL[*]})" >&2; exit 2 ;; esac
done

BENCH=${BENCH_BIN:-$BUILD/sluice-bench}
if [ ! -x "$BENCH" ]; then
    echo "run.sh: $BENCH missing, building the generator alone in build-bench"
    cmake -S tests/bench -B build-bench >/dev/null && cmake --build build-bench >/dev/null
    BENCH=build-bench/sluice-bench
fi
MOSQ=${MOSQUITTO:-/usr/sbin/mosquitto}
SLUICE=${SLUICE:-$BUILD/sluice}
KMOCK=${KAFKA_MOCK:-$BUILD/sluice-kafka-mock}
KTOPIC=sluice-bench-bridge
CLUSTER_RATE=${BENCH_CLUSTER_RATE:-20000}
CLUSTER_PAIRS=20
CLUSTER_PARTS=4
CLUSTER_PREFIX=sluice

WORK=$(mktemp -d /tmp/sluice-bench.XXXXXX)
RESULTS=$WORK/results.tsv
: >"$RESULTS"
PIDS=()
BROKER_PID=""
MOCK_PID=""
NODE_PIDS=()
cleanup() {
    # Only what this script started, by PID.
    for p in "${PIDS[@]}" $BROKER_PID "${NODE_PIDS[@]}" $MOCK_PID; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}" $BROKER_PID "${NODE_PIDS[@]}" $MOCK_PID; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One self-signed P-256 certificate for both brokers' TLS listeners.
CERT=$WORK/cert.pem
KEY=$WORK/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KEY" \
    -out "$CERT" -days 2 -subj /CN=127.0.0.1 2>/dev/null ||
    { echo "run.sh: openssl could not make a certificate" >&2; exit 1; }
chmod 755 "$WORK"
chmod 644 "$CERT" "$KEY" # Mosquitto may read them after dropping to its own user

# Brokers inherit this: 19,900 idle connections need it, and both get the same.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port seconds [pid: gives up when it exits; default BROKER_PID]
    local i pid=${3:-$BROKER_PID}
    for ((i = 0; i < $2 * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
cpu_ticks() { # pid... (summed)
    local p
    for p in "$@"; do cat "/proc/$p/stat"; done | awk '{s += $14 + $15} END {print s}'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
TCK=$(getconf CLK_TCK)

# start_kafka [MOCK ARGS]: the Kafka mock cluster (sluice-kafka-mock) as a
# process of its own; sets MOCK_PID and BOOTSTRAP. It exits when its stdin
# closes, so stdin is a fifo held open by this shell (MOCK_FD) until stop_kafka.
start_kafka() {
    local dir=$WORK/kafka-$((++BROKER_SEQ)) i
    mkdir -p "$dir"
    mkfifo "$dir/in"
    "$KMOCK" "$@" <"$dir/in" >"$dir/out" 2>"$dir/err" &
    MOCK_PID=$!
    exec {MOCK_FD}>"$dir/in"
    BOOTSTRAP=""
    for ((i = 0; i < 200; i++)); do
        BOOTSTRAP=$(awk '$1 == "BOOTSTRAP" {print $2; exit}' "$dir/out")
        [ -n "$BOOTSTRAP" ] && return 0
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "  sluice-kafka-mock gave no BOOTSTRAP line (see $dir/err)"
    return 1
}
stop_kafka() {
    [ -n "$MOCK_PID" ] || return 0
    exec {MOCK_FD}>&- # EOF: it exits
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
}

# The bridge scenario's sluice: every bench/bridge/ publish becomes one raw
# record in $KTOPIC, acknowledged to the publisher once Kafka has it.
kafka_json() {
    [ -n "$BOOTSTRAP" ] || return 0
    cat <<JSON
 ,"kafka":{"bootstrap":"$BOOTSTRAP"},
 "bridge":{"to_kafka":[{"match":"bench/bridge/#","topic":"$KTOPIC","format":"raw","ack":"kafka"}]}
JSON
}

# The auth rows' files, made once per run: one user, and 999 rules that do
# not match before the one that does.
make_auth_files() {
    [ -f "$WORK/passwd" ] && return 0
    local mp
    mp=$(command -v mosquitto_passwd || echo /usr/bin/mosquitto_passwd)
    "$mp" -c -b "$WORK/passwd" bench bench-pw >/dev/null
    {
        echo "user bench"
        for ((i = 0; i < 999; i++)); do echo "topic readwrite other/$i/#"; done
        echo "topic readwrite bench/#"
    } >"$WORK/acl"
    # Mosquitto started as root reads them as the user "mosquitto"
    chmod a+rx "$WORK" && chmod a+r "$WORK/passwd" "$WORK/acl"
}

# start_broker NAME VARIANT: sets BROKER_PID, PORT, WSPORT, TLSPORT, WSSPORT (sluice gets the
# Kafka bridge when BOOTSTRAP is set)
start_broker() {
    local name=$1 variant=$2 n=$((++BROKER_SEQ))
    PORT=$(free_port)
    WSPORT=$(free_port)
    TLSPORT=$(free_port)
    WSSPORT=$(free_port)
    local dir=$WORK/$name-$n
    mkdir -p "$dir"
    # Each broker's default queue limits (sluice max_queued 1000, Mosquitto
    # max_queued_messages 1000): a 100,000-message queue hid acknowledged-then-
    # dropped messages. Only the in-flight window is set, to 64 for both
    # (defaults 32 and 20): it matches the generator's 64 unacknowledged
    # messages per publisher, so that a pair's two halves have the same
    # window and the figure measures the broker, not a window mismatch.
    if [ "$name" = sluice ]; then
        cat >"$dir/sluice.json" <<JSON
{"listeners":[{"protocol":"mqtt","bind":"127.0.0.1:$PORT"},
              {"protocol":"ws","bind":"127.0.0.1:$WSPORT","path":"/mqtt"},
              {"protocol":"mqtts","bind":"127.0.0.1:$TLSPORT","cert":"$CERT","key":"$KEY"},
              {"protocol":"wss","bind":"127.0.0.1:$WSSPORT","path":"/mqtt","cert":"$CERT","key":"$KEY"}],
 "data_dir":"$dir/data","persistence":{"sync":"none"},
 "mqtt":{"max_inflight":64}
$([ "$variant" = auth ] && printf ',"auth":{"password_file":"%s","acl_file":"%s"}' "$WORK/passwd" "$WORK/acl")
$(kafka_json)}
JSON
        "$SLUICE" -c "$dir/sluice.json" >"$dir/log" 2>&1 &
    else
        {
            echo "per_listener_settings false"
            if [ "$variant" = auth ]; then
                echo "allow_anonymous false"
                echo "password_file $WORK/passwd"
                echo "acl_file $WORK/acl"
            else
                echo "allow_anonymous true"
            fi
            echo "persistence false"
            echo "max_inflight_messages 64"
            echo "max_connections -1"
            echo "log_dest stderr"
            echo "log_type error"
            echo "log_type warning"
            echo "connection_messages false"
            # Default (Nagle on) for throughput; the latency figure uses nodelay.
            [ "$variant" = nodelay ] && echo "set_tcp_nodelay true"
            echo "listener $PORT 127.0.0.1"
            echo "listener $WSPORT 127.0.0.1"
            echo "protocol websockets"
            echo "listener $TLSPORT 127.0.0.1"
            echo "certfile $CERT"
            echo "keyfile $KEY"
            echo "listener $WSSPORT 127.0.0.1"
            echo "protocol websockets"
            echo "certfile $CERT"
            echo "keyfile $KEY"
        } >"$dir/mosquitto.conf"
        "$MOSQ" -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
    fi
    BROKER_PID=$!
    BROKER_DIR=$dir
    wait_port "$PORT" 10 && wait_port "$WSPORT" 5 && wait_port "$TLSPORT" 5 && wait_port "$WSSPORT" 5
}
stop_broker() {
    [ -n "$BROKER_PID" ] || return 0
    kill "$BROKER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
}
BROKER_SEQ=0
BOOTSTRAP=""

# The cluster scenario. cluster_mock_args: the mock's arguments, 3 brokers and,
# when this sluice-kafka-mock has --topic, the cluster's internal topics
# created up front with CLUSTER_PARTS partitions (else the mock creates them
# on first use, with its default partition count).
cluster_mock_args() {
    MOCK_ARGS=(--brokers 3)
    if { timeout 5 "$KMOCK" --help </dev/null 2>&1 || true; } | grep -q -- '--topic'; then
        local t
        for t in msgs retained interest nodes sessions; do MOCK_ARGS+=(--topic "$CLUSTER_PREFIX.$t:$CLUSTER_PARTS"); done
    fi
}

# A helper for the nodes' /metrics (python3: curl is not in the bench's
# packages). "get PORT": the text; "wait PORT NAME MIN SECONDS": until the
# sum of NAME's samples is >= MIN, bounded; prints CLUSTER-READY or
# CLUSTER-NOT-READY with the last value and the time it took.
write_metrics_helper() {
    METRICS_PY=$WORK/metrics.py
    [ -f "$METRICS_PY" ] && return 0
    cat >"$METRICS_PY" <<'PY'
import sys, time, urllib.request
def get(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return r.read().decode()
def value(text, name):
    tot = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, v = line.rpartition(" ")
        if key == name or key.startswith(name + "{"):
            tot = (tot or 0) + float(v)
    return tot
if sys.argv[1] == "get":
    sys.stdout.write(get(sys.argv[2]))
    sys.exit(0)
port, name, want, limit = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
t0 = time.monotonic()
last, err = None, ""
while time.monotonic() - t0 < limit:
    try:
        last = value(get(port), name)
        err = ""
    except OSError as e:
        err = str(e)
    if last is not None and last >= want:
        print(f"CLUSTER-READY {name}={last:.0f} after {time.monotonic() - t0:.2f} s", flush=True)
        sys.exit(0)
    time.sleep(0.05)
what = "absent from /metrics" if last is None else f"{last:.0f}"
print(f"CLUSTER-NOT-READY {name} {what} (wanted >= {want:.0f}) after {limit:.0f} s {err}", flush=True)
sys.exit(1)
PY
}

# start_cluster: three sluice nodes joined only by the Kafka mock ($BOOTSTRAP).
# Sets NODE_PIDS, NODE_PORTS, NODE_HPORTS (MQTT and HTTP ports, node 1 first),
# BROKER_PID (node 1: the publishers'), PORT (node 1), SUBPORT (node 2).
start_cluster() {
    local i port hport dir
    NODE_PIDS=()
    NODE_PORTS=()
    NODE_HPORTS=()
    CLUSTER_DIR=$WORK/cluster-$((++BROKER_SEQ))
    BROKER_DIR=$CLUSTER_DIR
    for i in 1 2 3; do
        port=$(free_port)
        hport=$(free_port)
        dir=$CLUSTER_DIR/n$i
        mkdir -p "$dir"
        cat >"$dir/sluice.json" <<JSON
{"node_id":"n$i",
 "listeners":[{"protocol":"mqtt","bind":"127.0.0.1:$port"},
              {"protocol":"http","bind":"127.0.0.1:$hport"}],
 "data_dir":"$dir/data","persistence":{"sync":"none"},
 "mqtt":{"max_inflight":64},
 "kafka":{"bootstrap":"$BOOTSTRAP"},
 "cluster":{"enabled":true,"id":"bench","topic_prefix":"$CLUSTER_PREFIX","partitions":$CLUSTER_PARTS}}
JSON
        "$SLUICE" -c "$dir/sluice.json" >"$dir/log" 2>&1 &
        NODE_PIDS+=($!)
        NODE_PORTS+=("$port")
        NODE_HPORTS+=("$hport")
    done
    BROKER_PID=${NODE_PIDS[0]}
    PORT=${NODE_PORTS[0]}
    SUBPORT=${NODE_PORTS[1]}
    for i in 0 1 2; do
        if ! wait_port "${NODE_PORTS[$i]}" 15 "${NODE_PIDS[$i]}" ||
            ! wait_port "${NODE_HPORTS[$i]}" 5 "${NODE_PIDS[$i]}"; then
            echo "  cluster node n$((i + 1)) did not start listening (log: $CLUSTER_DIR/n$((i + 1))/log):"
            sed 's/^/    /' "$CLUSTER_DIR/n$((i + 1))/log" | tail -3
            return 1
        fi
    done
}
# stop_cluster: SIGTERM to the three nodes at once, up to 10 s for them to
# exit, then SIGKILL (and says so: a node that does not stop is a finding).
stop_cluster() {
    [ ${#NODE_PIDS[@]} -gt 0 ] || return 0
    local p i alive
    for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for ((i = 0; i < 200; i++)); do
        alive=0
        for p in "${NODE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.05
    done
    for i in "${!NODE_PIDS[@]}"; do
        p=${NODE_PIDS[$i]}
        if kill -0 "$p" 2>/dev/null; then
            echo "  cluster node n$((i + 1)) (pid $p) still running 10 s after SIGTERM: SIGKILL"
            kill -9 "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    NODE_PIDS=()
    BROKER_PID=""
}

field() { # key < RESULT line
    tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2; exit}'
}

na_row() { printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$@" >>"$RESULTS"; }

# scen_args SCENARIO: sluice-bench's arguments for a row (LAT_RATE_<x> set
# by calibrate for the fixed-load rows).
scen_args() {
    # No global window: a broker's backlog at the end of the window is not
    # loss if it delivers it; --drain 30 gives a slow broker time to (the
    # drain ends as soon as everything acknowledged arrived, or after 2 s of
    # silence with nothing in flight).
    local q1=(--qos 1 --inflight 64 --window 0 --size 16 --drain 30)
    case $1 in
    pairs) ARGS=(pairs --pairs 100 --qos 0 --size 16) ;;
    fanout) ARGS=(fanout --subs 1000 --qos 0 --size 16) ;;
    fanin) ARGS=(fanin --pubs 1000 --qos 1 --size 16) ;;
    latency) ARGS=(pairs --pairs 100 --qos 0 --size 16 --rate "$LAT_RATE") ;;
    pairs1) ARGS=(pairs --pairs 100 "${q1[@]}") ;;
    fanin1) ARGS=(fanin --pubs 1000 "${q1[@]}") ;;
    lat-pairs1) ARGS=(pairs --pairs 100 "${q1[@]}" --rate "$LAT_RATE_pairs1") ;;
    lat-fanin1) ARGS=(fanin --pubs 1000 "${q1[@]}" --rate "$LAT_RATE_fanin1") ;;
    ws) ARGS=(pairs --pairs 100 --qos 0 --size 16 --ws) ;;
    mqtts) ARGS=(pairs --pairs 100 --qos 0 --size 16 --tls) ;;
    mqtts1) ARGS=(pairs --pairs 100 "${q1[@]}" --tls) ;;
    wss) ARGS=(pairs --pairs 100 --qos 0 --size 16 --ws --tls) ;;
    wss1) ARGS=(pairs --pairs 100 "${q1[@]}" --ws --tls) ;;
    pairs-auth) ARGS=(pairs --pairs 100 --qos 0 --size 16 --user bench --pass bench-pw) ;;
    conns-auth) ARGS=(conns --clients "$AUTH_CONNS" --setup-timeout 60 --user bench --pass bench-pw) ;;
    # Node 1 -> Kafka -> node 2 (run_case adds the ports and the wait), and
    # the same load on one sluice.
    cluster | cluster-single) ARGS=(pairs --pairs "$CLUSTER_PAIRS" "${q1[@]}" --rate "$CLUSTER_RATE") ;;
    bridge) ARGS=(bridge --pairs 100 --qos 1 --prefix bench/bridge/ --kafka "$BOOTSTRAP"
        --kafka-topic "$KTOPIC") ;;
    esac
}

# run_case BROKER SCENARIO ROUND: one broker start, one measurement, one row.
run_case() {
    local broker=$1 scen=$2 round=$3 variant=default args=() out
    case $scen in latency | lat-*) [ "$broker" = mosquitto ] && variant=nodelay ;; esac
    case $scen in *-auth) variant=auth && make_auth_files ;; esac
    if [ "$scen" = bridge ] && ! start_kafka; then
        stop_kafka
        na_row "$broker" "$scen" "$round"
        return 0
    fi
    if [ "$scen" = cluster ]; then
        cluster_mock_args
        if ! start_kafka "${MOCK_ARGS[@]}"; then
            stop_kafka
            na_row "$broker" "$scen" "$round"
            return 0
        fi
        if ! start_cluster; then
            grep -qs 'cluster: unknown key' "$CLUSTER_DIR"/n*/log &&
                echo "  this build/sluice has no cluster (config: cluster: unknown key): no figure"
            stop_cluster
            stop_kafka
            BOOTSTRAP=""
            na_row "$broker" "$scen" "$round"
            return 0
        fi
    elif ! start_broker "$broker" "$variant"; then
        echo "  $broker did not start (see $BROKER_DIR/log)"
        stop_broker
        stop_kafka
        BOOTSTRAP=""
        na_row "$broker" "$scen" "$round"
        return 0
    fi
    local common=(--port "$PORT" -t "$THREADS" --duration "$DUR" --warmup "$WARM" --quiet)
    scen_args "$scen"
    args=("${ARGS[@]}")
    case $scen in
    ws | ws-conns) common[1]=$WSPORT ;;
    mqtts | mqtts1 | mqtts-conns) common[1]=$TLSPORT ;;
    wss | wss1 | wss-conns) common[1]=$WSSPORT ;;
    esac
    # The cluster's CPU is its three nodes'; RSS is node 1's.
    local cpids=("$BROKER_PID")
    if [ "$scen" = cluster ]; then
        cpids=("${NODE_PIDS[@]}")
        # Subscribers on node 2; the load starts once node 1 knows their
        # filters (bounded: 30 s, else the setup fails and the round has no figure).
        common+=(--sub-port "$SUBPORT" --setup-timeout 30 --ready-cmd
            "python3 $METRICS_PY wait ${NODE_HPORTS[0]} sluice_cluster_remote_filters $CLUSTER_PAIRS 30")
    fi
    local c0 r0 s0 c1 r1 s1 line rc=0
    c0=$(cpu_ticks "${cpids[@]}")
    local nc0=() p m0=0
    for p in "${cpids[@]}"; do nc0+=("$(cpu_ticks "$p")"); done
    [ "$scen" = cluster ] && m0=$(cpu_ticks "$MOCK_PID")
    r0=$(rss_kb "$BROKER_PID")
    s0=$(slab_kb)
    out=$WORK/$broker-$scen-$round.out
    if [ "$scen" = conns ] || [[ $scen == *-conns ]]; then
        local per=$((CONNS / CONN_PROCS)) i bpids=() tr=()
        case $scen in
        mqtts-conns) tr=(--tls) ;;
        wss-conns) tr=(--tls --ws) ;;
        ws-conns) tr=(--ws) ;;
        esac
        [ "$scen" = conns ] || per=$((TLS_CONNS / CONN_PROCS))
        for ((i = 0; i < CONN_PROCS; i++)); do
            "$BENCH" conns --port "${common[1]}" "${tr[@]}" -t 2 --clients "$per" --duration "$DUR" --warmup 0 \
                --setup-timeout 120 --quiet --prefix "c$i/" \
                --src-ips "127.0.0.$((2 + i * 4))-127.0.0.$((5 + i * 4))" >"$out.$i" 2>&1 &
            bpids+=($!)
            PIDS+=($!)
        done
        local t
        for ((t = 0; t < 2400; t++)); do # up to 120 s for everyone to be connected
            [ "$(cat "$out".* | grep -c '^READY')" -ge "$CONN_PROCS" ] && break
            [ "$(cat "$out".* | grep -c '^RESULT')" -gt 0 ] && break
            sleep 0.05
        done
        r1=$(rss_kb "$BROKER_PID" || echo 0)
        s1=$(slab_kb)
        for p in "${bpids[@]}"; do wait "$p" || rc=1; done
        PIDS=()
        cat "$out".* >"$out"
        # setup rate: all processes connect at once; total / slowest
        line="RESULT $(grep -h '^RESULT' "$out" | awk '{for (i=2;i<=NF;i++){split($i,kv,"="); if (kv[1]=="ready") r+=kv[2]; if (kv[1]=="setup_s" && kv[2]>s) s=kv[2]; if (kv[1]=="errors") e+=kv[2]}} END {printf "ready=%d setup_s=%.3f errors=%d setup_conns_per_s=%.0f", r, s, e, (s>0? r/s : 0)}')"
    else
        "$BENCH" "${args[@]}" "${common[@]}" >"$out" 2>&1 &
        PIDS=($!)
        wait "${PIDS[0]}" || rc=$?
        PIDS=()
        r1=$(rss_kb "$BROKER_PID" || echo 0)
        s1=$(slab_kb)
        line=$(grep '^RESULT' "$out" || true)
    fi
    c1=$(cpu_ticks "${cpids[@]}" || echo "$c0")
    if [ "$scen" = cluster ]; then
        # Each node's /metrics after the run, and its cluster lines, for the
        # record (where a message went missing, what a node dropped).
        local i
        for i in 0 1 2; do
            python3 "$METRICS_PY" get "${NODE_HPORTS[$i]}" >"$out.metrics.n$((i + 1))" 2>&1 || true
        done
        grep -h '^CLUSTER-' "$out" | sed 's/^/  /' || true
        printf '  cpu s per node:'
        for i in 0 1 2; do
            printf ' n%d %s' $((i + 1)) "$(awk -v a="${nc0[$i]}" -v b="$(cpu_ticks "${NODE_PIDS[$i]}" || echo "${nc0[$i]}")" \
                -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')"
        done
        printf ', Kafka mock %s\n' "$(awk -v a="$m0" -v b="$(cpu_ticks "$MOCK_PID" || echo "$m0")" \
            -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')"
        for i in 1 2 3; do
            echo "  n$i: $(grep -E '^sluice_(cluster_[a-z_]+|messages_dropped_total|messages_received_total|messages_sent_total)(\{[^}]*\})? ' \
                "$out.metrics.n$i" | awk '{sub(/^sluice_/, "", $1); printf "%s=%s ", $1, $2}')"
        done
        stop_cluster
    else
        stop_broker
    fi
    stop_kafka
    BOOTSTRAP=""
    local cpu
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    if [ -z "$line" ]; then
        echo "  $broker $scen round $round: no result (exit $rc), see $out"
        na_row "$broker" "$scen" "$round"
        return 0
    fi
    local mps p50 p99 ready setup deliv acks=NA lost dups qos sent acked expd dlv
    mps=$(field msgs_per_s <<<"$line")
    p99=$(field p99_us <<<"$line")
    ready=$(field ready <<<"$line")
    setup=$(field setup_conns_per_s <<<"$line")
    deliv=$(field delivered_total <<<"$line")
    # Loss of the window's messages after the drain (QoS > 0: acknowledged
    # ones only), duplicates; in the bridge row, of records read back.
    lost=$(field lost <<<"$line")
    dups=$(field dups <<<"$line")
    qos=$(field qos <<<"$line")
    sent=$(field sent <<<"$line")
    acked=$(field acked <<<"$line")
    expd=$(field expected <<<"$line")
    dlv=$(field delivered <<<"$line")
    p50=$(field p50_us <<<"$line")
    if [[ $scen == cluster* ]] && [ "$(field setup_failed <<<"$line")" != 0 ]; then
        # Not every client connected, or node 1 never learnt node 2's filters.
        echo "  $scen round $round: setup failed (exit $rc), see $out: no figure"
        na_row "$broker" "$scen" "$round"
        return 0
    fi
    if [ "$scen" = bridge ]; then
        # msgs_per_s is what the Kafka reader read back.
        acks=$(field acks_per_s <<<"$line")
        if [ "$rc" -ne 0 ]; then
            # Records missing in Kafka (exit 3) or a connection failure (1):
            # the rate and latency of such a run are no figure.
            echo "  bridge round $round: exit $rc, $lost of $(field sent <<<"$line") records not read back: no figure"
            mps=NA
            p99=NA
            acks=NA
        fi
    fi
    [ "$rc" -eq 0 ] || echo "  warning: sluice-bench exit $rc against $broker ($scen), see $out"
    printf '%s\t' "$broker" "$scen" "$round" "${mps:-NA}" "${p99:-NA}" "$cpu" "$r0" "$r1" \
        "${ready:-NA}" "${setup:-NA}" "${deliv:-0}" "$s0" "$s1" "${acks:-NA}" "${lost:-NA}" \
        "${dups:-NA}" "${qos:-NA}" "${sent:-NA}" "${acked:-NA}" "${expd:-NA}" >>"$RESULTS"
    printf '%s\t%s\n' "${dlv:-NA}" "${p50:-NA}" >>"$RESULTS"
    printf '  %-9s %-10s round %s: %s msg/s delivered, sent %s, acked %s, lost %s, dups %s, p50 %s us, p99 %s us, setup %s conns/s, cpu %s s, rss %s -> %s kB\n' \
        "$broker" "$scen" "$round" "${mps:-NA}" "${sent:-NA}" "${acked:-NA}" "${lost:-NA}" "${dups:-NA}" \
        "${p50:-NA}" "${p99:-NA}" "${setup:-NA}" "$cpu" "$r0" "$r1"
}

BROKERS=(sluice mosquitto)
SLUICE_NOTE=""
if [ ! -x "$SLUICE" ]; then
    SLUICE_NOTE="build/sluice not found: sluice skipped"
elif ! start_broker sluice default; then
    SLUICE_NOTE="build/sluice did not start listening (log: $BROKER_DIR/log): sluice skipped"
    stop_broker
fi
stop_broker
if [ -n "$SLUICE_NOTE" ]; then
    echo "run.sh: $SLUICE_NOTE; measuring Mosquitto only"
    BROKERS=(mosquitto)
fi
[ -x "$MOSQ" ] || { echo "run.sh: $MOSQ not found (apt-get install mosquitto)" >&2; exit 1; }

echo "run.sh: scenarios ${SCENARIOS[*]}, $ROUNDS rounds, ${DUR}s + ${WARM}s warmup, bench threads $THREADS, work dir $WORK"
# calibrate BASE: sets CAL_RATE to half of Mosquitto's delivered maximum in scenario BASE
# (this run's median, or one run of it now): the fixed offered load of the
# latency rows, so that both brokers get the same load and neither is
# saturated.
calibrate() {
    local base=$1 rate
    rate=$(awk -F'\t' -v s="$base" '$1=="mosquitto" && $2==s && $4!="NA" {print $4}' "$RESULTS" |
        sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.0f", a[int((NR+1)/2)] / 2}' || true)
    if [ -z "$rate" ]; then
        echo "run.sh: calibrating: Mosquitto $base maximum"
        scen_args "$base"
        start_broker mosquitto default
        "$BENCH" "${ARGS[@]}" --port "$PORT" -t "$THREADS" --duration "$DUR" --warmup "$WARM" --quiet >"$WORK/calib-$base.out" 2>&1 || true
        stop_broker
        rate=$(grep '^RESULT' "$WORK/calib-$base.out" | field msgs_per_s | awk '{printf "%.0f", $1 / 2}' || true)
    fi
    # A rate of 0 would mean "as fast as possible": at least 1 msg/s.
    CAL_RATE=$(awk -v r="${rate:-0}" 'BEGIN {printf "%.0f", r < 1 ? 1 : r}')
}

LAT_RATE=0
LAT_RATE_pairs1=0
LAT_RATE_fanin1=0
for scen in "${SCENARIOS[@]}"; do
    case $scen in
    latency)
        calibrate pairs
        LAT_RATE=$CAL_RATE
        echo "run.sh: latency at a fixed offered load of $LAT_RATE msg/s"
        ;;
    lat-pairs1)
        calibrate pairs1
        LAT_RATE_pairs1=$CAL_RATE
        echo "run.sh: lat-pairs1 at a fixed offered load of $LAT_RATE_pairs1 msg/s"
        ;;
    lat-fanin1)
        calibrate fanin1
        LAT_RATE_fanin1=$CAL_RATE
        echo "run.sh: lat-fanin1 at a fixed offered load of $LAT_RATE_fanin1 msg/s"
        ;;
    esac
    if [ "$scen" = bridge ]; then
        echo "run.sh: bridge: sluice with a to_kafka rule (ack kafka, raw) into $KMOCK; Mosquitto skipped (it has no Kafka bridge)"
        [ -x "$KMOCK" ] || echo "run.sh: bridge: $KMOCK not found: no figure"
    fi
    if [ "$scen" = cluster ]; then
        echo "run.sh: cluster: 3 sluice nodes + $KMOCK (3 brokers), $CLUSTER_PAIRS QoS 1 pairs at $CLUSTER_RATE msg/s, node 1 -> node 2; then one sluice, same load; Mosquitto skipped (no cluster through Kafka)"
        [ -x "$KMOCK" ] || echo "run.sh: cluster: $KMOCK not found: no figure"
        write_metrics_helper
        for ((round = 1; round <= ROUNDS; round++)); do
            [[ " ${BROKERS[*]} " == *" sluice "* ]] || break
            # Alternate which goes first.
            if ((round % 2)); then
                run_case sluice cluster "$round"
                run_case sluice cluster-single "$round"
            else
                run_case sluice cluster-single "$round"
                run_case sluice cluster "$round"
            fi
        done
        continue
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for broker in "${BROKERS[@]}"; do
            [ "$scen" = bridge ] && [ "$broker" = mosquitto ] && continue
            run_case "$broker" "$scen" "$round"
        done
    done
done

MACHINE="$(nproc) cores, $(awk '/^model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
MOSQ_VER=$({ "$MOSQ" -h 2>/dev/null || true; } | awk 'NR==1 {print $3}')
SLUICE_VER=n/a
[ -n "$SLUICE_NOTE" ] || SLUICE_VER=$({ "$SLUICE" --version 2>/dev/null || true; } | head -1)
mkdir -p "$OUT/bench"
python3 tests/bench/report.py --results "$RESULTS" --out "$OUT" --machine "$MACHINE" \
    --command "tests/bench/run.sh ${*:-} (BENCH_ROUNDS=$ROUNDS BENCH_DURATION=$DUR BENCH_WARMUP=$WARM BENCH_THREADS=$THREADS)" \
    --mosquitto "$MOSQ_VER" --sluice "$SLUICE_VER" --note "$SLUICE_NOTE" \
    --lat-rate "$LAT_RATE" --lat-rate-pairs1 "$LAT_RATE_pairs1" \
    --lat-rate-fanin1 "$LAT_RATE_fanin1" --cluster-rate "$CLUSTER_RATE" --cluster-pairs "$CLUSTER_PAIRS" --conns "$CONNS" --tls-conns "$TLS_CONNS" --duration "$DUR"
echo "run.sh: wrote $OUT/BENCHMARKS.md and $OUT/bench/*.svg (raw: $RESULTS)"
