# Helpers shared by bench/*.sh (sourced, not run). 127.0.0.1 only.
# shellcheck shell=bash
# shellcheck disable=SC2034  # STARTED_PID/STARTED_ADDR are for the caller

# bench_setup NAME: a scratch directory $WORK and a list $PIDS of processes
# to stop, both cleaned up when the script exits.
bench_setup() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/smtp-harness-$1.XXXXXX")"
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }  # kib PID VmRSS
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# utime+stime of a whole process (all threads), in clock ticks.
cpu_ticks() {
    local stat rest
    stat="$(<"/proc/$1/stat")"
    rest="${stat##*) }"          # fields from 3 (state) on; comm may hold spaces
    local -a f
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))      # fields 14 (utime) and 15 (stime)
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start CMD...: run CMD, which prints "listening on ADDR" first, in the
# background; sets STARTED_PID and STARTED_ADDR, or exits when it fails.
start() {
    local out="$WORK/out.${#PIDS[@]}" first=""
    "$@" >"$out" 2>"$out.err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for _ in $(seq 1 1000); do
        first="$(head -n1 "$out" 2>/dev/null || true)"
        [ -n "$first" ] && break
        sleep 0.01
    done
    if [[ "$first" != "listening on "* ]]; then
        echo "bench: $* did not start: $(cat "$out.err")" >&2
        exit 1
    fi
    STARTED_ADDR="${first#listening on }"
}

# wait_accepting PID PORT: wait until 127.0.0.1:PORT accepts a connection
# (for servers that print nothing when ready); sets STARTED_ADDR. Returns 1
# when PID exits or 5 s pass first.
wait_accepting() {
    local pid="$1" port="$2" i
    for ((i = 0; i < 500; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            STARTED_ADDR="127.0.0.1:$port"
            return 0
        fi
        sleep 0.01
    done
    return 1
}

# start_sink MAXCONN BACKLOG: Postfix's smtp-sink ($SMTP_SINK) on a free
# port, accepting and discarding mail (no -c: its counters cost CPU); sets
# STARTED_PID and STARTED_ADDR once it accepts a connection. Three tries (a
# free port can be taken in between); returns 1 when all fail.
start_sink() {
    local maxconn="$1" backlog="$2" attempt port log
    local -a user=()
    if [ "$(id -u)" -eq 0 ]; then user=(-u nobody); fi   # required when run as root
    for attempt in 1 2 3; do
        port="$(free_port)"
        log="$WORK/smtp-sink.$port.log"
        "$SMTP_SINK" "${user[@]}" -m "$maxconn" "127.0.0.1:$port" "$backlog" </dev/null >"$log" 2>&1 &
        STARTED_PID=$!
        PIDS+=("$STARTED_PID")
        # smtp-sink prints nothing when ready: wait until it accepts.
        if wait_accepting "$STARTED_PID" "$port"; then
            return 0
        fi
        kill "$STARTED_PID" 2>/dev/null || true
        wait "$STARTED_PID" 2>/dev/null || true
        echo "bench: smtp-sink did not start on 127.0.0.1:$port (attempt $attempt):" >&2
        sed 's/^/    /' "$log" >&2 || true
    done
    return 1
}
