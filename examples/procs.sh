# examples/procs.sh - what the example scripts (demo.sh, cluster.sh) share,
# sourced, not run: the children they start, stopped by PID; whether a
# port is taken; the Kafka mock started with a FIFO on its stdin.
# The sourcing script sets NAME (its message prefix) and dir (its temp
# directory, removed at the end) first.

pids=()

# Stop every child, newest first, each given 10 s (devices say goodbye
# while sluice is up, consumers commit while Kafka is up); then remove
# $dir and exit with status $1: 0 when stopped by a signal, the failing
# status when the script gave up (procs_trap sets both).
procs_stop_all() {
    local rc=${1:-0}
    trap - INT TERM EXIT
    echo
    echo "$NAME: stopping"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        p=${pids[i]}
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    exec 3>&- || true
    rm -rf "$dir"
    exit "$rc"
}

procs_trap() {
    trap 'procs_stop_all 0' INT TERM
    trap 'procs_stop_all $?' EXIT
}

port_open() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuse to start when one of the ports is taken; $1 names the settings.
procs_ports_free() {
    local hint=$1
    shift
    for p in "$@"; do
        if port_open "$p"; then
            echo "$NAME: port $p is taken (another broker?); set $hint" >&2
            exit 1
        fi
    done
}

# Start build/sluice-kafka-mock with the given arguments and set
# $bootstrap. The mock exits at EOF on its stdin: a FIFO is held open for
# it on fd 3 (closed by procs_stop_all).
procs_start_mock() {
    mkfifo "$dir/mock.in"
    exec 3<>"$dir/mock.in"
    "$BUILD/sluice-kafka-mock" "$@" <&3 >"$dir/mock.out" 2>"$dir/mock.err" &
    pids+=($!)
    bootstrap=""
    for _ in $(seq 100); do
        bootstrap=$(awk '/^BOOTSTRAP /{print $2; exit}' "$dir/mock.out")
        [ -n "$bootstrap" ] && return 0
        sleep 0.1
    done
    echo "$NAME: the mock Kafka cluster did not start" >&2
    exit 1
}
