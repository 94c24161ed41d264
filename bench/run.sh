#!/usr/bin/env bash
# Throughput benchmark: Postfix's smtp-source against Postfix's smtp-sink (the
# reference: a C server that accepts and discards mail) and against
# `smtp-harness serve SCENARIO`, all in one run on this machine, 127.0.0.1 only.
#
#   bash bench/run.sh            # or: make bench
#
# For each target and each (parallel, sessions) variant a fresh server is
# started on an ephemeral port, smtp-source runs
#   smtp-source -s PARALLEL -m SESSIONS -l SIZE 127.0.0.1:PORT
# and the script reports wall time, sessions/s, and the server process's CPU
# time (utime+stime of all its threads, from /proc/PID/stat) per session.
# smtp-source opens one SMTP session per message (HELO, MAIL, RCPT, DATA, QUIT;
# no -d), so "sessions" = "messages".
#
# Environment:
#   PARALLEL, MESSAGES  run only this one variant (defaults 20 and 20000 when
#                       only one of them is given)
#   VARIANTS            space-separated PARALLEL:SESSIONS list
#                       (default "20:20000 1:2000 200:20000")
#   TO                  recipient for smtp-source -t (default bench@adatum.com)
#   SIZE                message payload bytes for smtp-source -l (default 1024)
#   SCENARIOS           smtp-harness scenarios to serve (default
#                       "postfix-default exchange-2003 regex-50"); `regex-50`
#                       is generated here: postfix-default plus 50 rules
#                       whose `args` regexes never match smtp-source's
#                       commands, so every command is tested against all 50;
#                       NAME+busy-poll serves NAME with --busy-poll BUSY_POLL_US
#   BUSY_POLL_US        the --busy-poll window for +busy-poll targets (default 50)
#   ROUNDS              measurements per target and variant, interleaved across
#                       targets; the table shows their medians (default 3)
#   WARMUP              sessions sent (same parallelism) before each measured
#                       run, not counted (default 200; 0 disables)
#   BIN                 smtp-harness binary (default target/release/smtp-harness)
#   NO_BUILD=1          do not run `cargo build --release` first
#   SINK_ONLY=1         measure smtp-sink only (no build, no smtp-harness)
#   RUN_TIMEOUT         seconds after which one smtp-source run is killed and
#                       counted as failed (default 600)
#   SMTP_SOURCE, SMTP_SINK  paths of the Postfix tools (default: found on PATH
#                       or in /usr/sbin)
# shellcheck disable=SC2317,SC2059  # cleanup runs from a trap; the table format is ours
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

find_tool() {
    local name="$1"
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
    elif [ -x "/usr/sbin/$name" ]; then
        echo "/usr/sbin/$name"
    else
        echo "bench: $name not found (apt-get install postfix)" >&2
        return 1
    fi
}

SMTP_SOURCE="${SMTP_SOURCE:-$(find_tool smtp-source)}"
SMTP_SINK="${SMTP_SINK:-$(find_tool smtp-sink)}"
SIZE="${SIZE:-1024}"
# The recipient: in a domain every bundled scenario accepts (exchange-2003
# refuses relay to any other, as the real one does).
TO="${TO:-bench@adatum.com}"
WARMUP="${WARMUP:-200}"
SCENARIOS="${SCENARIOS:-postfix-default postfix-default+busy-poll exchange-2003 regex-50}"
BUSY_POLL_US="${BUSY_POLL_US:-50}"
ROUNDS="${ROUNDS:-3}"
BIN="${BIN:-target/release/smtp-harness}"
SINK_BACKLOG="${SINK_BACKLOG:-1024}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
if [ -n "${PARALLEL:-}" ] || [ -n "${MESSAGES:-}" ]; then
    VARIANTS="${PARALLEL:-20}:${MESSAGES:-20000}"
else
    VARIANTS="${VARIANTS:-20:20000 1:2000 200:20000}"
fi

for v in $VARIANTS; do
    if ! [[ "$v" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]]; then
        echo "bench: bad variant '$v' (want PARALLEL:SESSIONS, both > 0)" >&2
        exit 2
    fi
done

CLK_TCK="$(getconf CLK_TCK)"
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup bench

now() { printf '%s\n' "$EPOCHREALTIME"; }

# System-wide count of connections dropped because a listen queue was full
# (TcpExt ListenOverflows). A server whose backlog is too small for the
# parallelism shows here, and each drop costs smtp-source a SYN retransmit (1 s+).
listen_overflows() {
    awk '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1; next }
                           print $col["ListenOverflows"]; exit }' /proc/net/netstat 2>/dev/null || echo 0
}

# Set by the start_* functions.
SERVER_PID=""
SERVER_PORT=""

start_sink_for() {
    local parallel="$1" maxconn=256
    if [ "$parallel" -ge 200 ]; then maxconn=$((parallel * 2)); fi
    start_sink "$maxconn" "$SINK_BACKLOG" || return 1
    SERVER_PID="$STARTED_PID"
    SERVER_PORT="${STARTED_ADDR##*:}"
}

# A scenario with 50 regex rules (`args` patterns with alternations and
# classes) that match none of smtp-source's commands: the worst case for a
# rule list, every command is tried against every rule before the built-in
# reply answers.
write_regex50() {
    local out="$1" i
    {
        echo "name: regex-50"
        echo "description: postfix-default plus 50 regex rules that never match (bench/run.sh)"
        echo "extends: postfix-default"
        echo "rules:"
        for ((i = 1; i <= 50; i++)); do
            echo "  - name: block-$i"
            echo "    args: '(?i)^(FROM|TO):\\s*<?[a-z0-9._%+-]+@(spam$i|junk$i)\\.(example|invalid)>?(\\s|\$)'"
            echo "    reply: \"550 5.7.1 rule $i\""
        done
    } >"$out"
}

start_harness() {
    local scenario="$1" fd line errlog arg="$1"
    local -a extra=()
    errlog="$WORK/harness.$scenario.$RANDOM.log"
    # NAME+busy-poll: the same scenario served with --busy-poll BUSY_POLL_US.
    if [[ "$scenario" == *+busy-poll ]]; then
        arg="${scenario%+busy-poll}"
        extra=(--busy-poll "$BUSY_POLL_US")
    fi
    if [ "$arg" = regex-50 ]; then
        arg="$WORK/regex-50.yaml"
        [ -f "$arg" ] || write_regex50 "$arg"
    fi
    # stdout goes to a pipe; its first line is "listening on 127.0.0.1:PORT".
    exec {fd}< <(exec "$BIN" serve "$arg" --listen 127.0.0.1:0 --quiet "${extra[@]}" 2>"$errlog")
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    if ! IFS= read -r -t 30 -u "$fd" line; then
        exec {fd}<&-
        echo "bench: $BIN serve $scenario printed no 'listening on' line:" >&2
        sed 's/^/    /' "$errlog" >&2 || true
        return 1
    fi
    if ! [[ "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        exec {fd}<&-
        echo "bench: unexpected first line from $BIN: '$line'" >&2
        return 1
    fi
    SERVER_PORT="${BASH_REMATCH[1]}"
    # Keep draining stdout so the server never blocks on a full pipe.
    cat <&"$fd" >/dev/null &
    PIDS+=("$!")
    exec {fd}<&-
}

stop_server() {
    local i
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    # A process substitution may not be wait-able: make sure it is gone.
    for ((i = 0; i < 300; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 0
        sleep 0.01
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
}

# Results, one row per measurement: target parallel sessions seconds rate us_per_session overflows
ROWS=()
declare -A SINK_RATE SINK_CPU PD_RATE PD_CPU
FAILED=0

# measure TARGET PARALLEL SESSIONS (server already started)
measure() {
    local target="$1" parallel="$2" sessions="$3" w t0 t1 c0 c1 o0 o1 secs rate us
    local out="$WORK/smtp-source.out"
    if [ "$WARMUP" -gt 0 ]; then
        w=$((WARMUP < sessions ? WARMUP : sessions))
        timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -t "$TO" -s "$parallel" -m "$w" -l "$SIZE" "127.0.0.1:$SERVER_PORT" \
            </dev/null >"$out" 2>&1 || true
    fi
    o0="$(listen_overflows)"
    c0="$(cpu_ticks "$SERVER_PID")"
    t0="$(now)"
    if ! timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -t "$TO" -s "$parallel" -m "$sessions" -l "$SIZE" \
        "127.0.0.1:$SERVER_PORT" </dev/null >"$out" 2>&1; then
        echo "bench: smtp-source failed or timed out (${RUN_TIMEOUT}s) against $target (-s $parallel -m $sessions):" >&2
        tail -n 5 "$out" | sed 's/^/    /' >&2
        ROWS+=("$target $parallel $sessions FAILED - - -")
        FAILED=1
        return 0
    fi
    t1="$(now)"
    c1="$(cpu_ticks "$SERVER_PID")"
    o1="$(listen_overflows)"
    secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    rate="$(awk -v n="$sessions" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
    us="$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$sessions" \
        'BEGIN { printf "%.1f", d / hz * 1e6 / n }')"
    ROWS+=("$target $parallel $sessions $secs $rate $us $((o1 - o0))")
    printf 'bench: %-28s -s %-4s -m %-6s %8ss %8s sessions/s %8s us/session %5s listen overflows\n' \
        "$target" "$parallel" "$sessions" "$secs" "$rate" "$us" "$((o1 - o0))" >&2
}

# --- machine -----------------------------------------------------------------
echo "== machine (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "cpus:       $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))"
echo "kernel:     $(uname -r)"
echo "postfix:    $(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo '?') ($SMTP_SOURCE, $SMTP_SINK)"
echo "variants:   $VARIANTS (PARALLEL:SESSIONS), payload $SIZE bytes, warm-up $WARMUP sessions"
echo

# --- build -------------------------------------------------------------------
HARNESS_OK=1
SKIP_REASON=""
if [ -n "${SINK_ONLY:-}" ]; then
    HARNESS_OK=0
    SKIP_REASON="SINK_ONLY is set"
else
    if [ -z "${NO_BUILD:-}" ]; then
        echo "== cargo build --release" >&2
        if ! cargo build --release; then
            HARNESS_OK=0
            SKIP_REASON="cargo build --release failed"
        fi
    fi
    if [ "$HARNESS_OK" -eq 1 ] && [ ! -x "$BIN" ]; then
        HARNESS_OK=0
        SKIP_REASON="$BIN does not exist (not built yet?)"
    fi
fi
if [ "$HARNESS_OK" -eq 0 ]; then
    echo "bench: NOTE: skipping smtp-harness: $SKIP_REASON; measuring smtp-sink only" >&2
fi

# --- runs --------------------------------------------------------------------
for v in $VARIANTS; do
    parallel="${v%%:*}"
    sessions="${v##*:}"

    # Rounds are interleaved (sink, each scenario, sink, …) so that drift in
    # the machine's speed hits every target alike; the report takes medians.
    for ((round = 1; round <= ROUNDS; round++)); do
        start_sink_for "$parallel"
        measure smtp-sink "$parallel" "$sessions"
        stop_server

        if [ "$HARNESS_OK" -eq 1 ]; then
            for scenario in $SCENARIOS; do
                if start_harness "$scenario"; then
                    measure "smtp-harness $scenario" "$parallel" "$sessions"
                    stop_server
                else
                    ROWS+=("smtp-harness $scenario $parallel $sessions FAILED - - -")
                    FAILED=1
                fi
            done
        fi
    done
done

# One row per target and variant: the median of its rounds (seconds,
# sessions/s and CPU each on their own), listen overflows summed.
mapfile -t ROWS < <(printf '%s\n' "${ROWS[@]}" | awk '
    function median(list,   a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        key = $1; for (i = 2; i <= NF - 4; i++) key = key " " $i
        if (!(key in seen)) { seen[key] = 1; order[++k] = key }
        if ($(NF - 3) == "FAILED") { failed[key] = 1; next }
        secs[key] = secs[key] " " $(NF - 3); rate[key] = rate[key] " " $(NF - 2)
        cpu[key] = cpu[key] " " $(NF - 1); ovf[key] += $NF; n[key]++
    }
    END {
        for (i = 1; i <= k; i++) {
            key = order[i]
            if (failed[key] || !n[key]) { print key " FAILED - - -"; continue }
            printf "%s %.3f %.0f %.1f %d\n", key, median(secs[key]), median(rate[key]), median(cpu[key]), ovf[key]
        }
    }')
for row in "${ROWS[@]}"; do
    read -r -a f <<<"$row"
    n=${#f[@]}
    target="${f[*]:0:n-6}"
    [ "${f[n-4]}" = FAILED ] && continue
    key="${f[n-6]}:${f[n-5]}"
    if [ "$target" = "smtp-harness postfix-default" ]; then
        PD_RATE["$key"]="${f[n-3]}"; PD_CPU["$key"]="${f[n-2]}"
    fi
    if [ "$target" = smtp-sink ]; then
        SINK_RATE["$key"]="${f[n-3]}"; SINK_CPU["$key"]="${f[n-2]}"
    fi
done

# --- report ------------------------------------------------------------------
echo
echo "== results (smtp-source -s PARALLEL -m SESSIONS -l $SIZE 127.0.0.1:PORT; median of $ROUNDS round(s))"
echo
fmt='| %-38s | %8s | %8s | %8s | %10s | %22s | %17s | %16s | %16s | %23s | %22s |\n'
printf "$fmt" target parallel sessions seconds sessions/s "server CPU µs/session" "rate vs smtp-sink" "CPU vs smtp-sink" "listen overflows" "rate vs postfix-default" "CPU vs postfix-default"
printf "$fmt" ":---" "---:" "---:" "---:" "---:" "---:" "---:" "---:" "---:" "---:" "---:"
for row in "${ROWS[@]}"; do
    # The target name may contain one space ("smtp-harness postfix-default").
    read -r -a f <<<"$row"
    n=${#f[@]}
    target="${f[*]:0:n-6}"
    parallel="${f[n-6]}"; sessions="${f[n-5]}"; secs="${f[n-4]}"; rate="${f[n-3]}"; us="${f[n-2]}"
    ovf="${f[n-1]}"
    key="$parallel:$sessions"
    rr="-"; cr="-"
    if [ "$secs" != FAILED ] && [ -n "${SINK_RATE[$key]:-}" ]; then
        rr="$(awk -v a="$rate" -v b="${SINK_RATE[$key]}" 'BEGIN { printf "%.2f", a / b }')"
        cr="$(awk -v a="$us" -v b="${SINK_CPU[$key]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    fi
    pr="-"; pc="-"
    if [ "$secs" != FAILED ] && [ -n "${PD_RATE[$key]:-}" ] && [[ "$target" == smtp-harness* ]]; then
        pr="$(awk -v a="$rate" -v b="${PD_RATE[$key]}" 'BEGIN { printf "%.2f", a / b }')"
        pc="$(awk -v a="$us" -v b="${PD_CPU[$key]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    fi
    printf "$fmt" "$target" "$parallel" "$sessions" "$secs" "$rate" "$us" "$rr" "$cr" "$ovf" "$pr" "$pc"
done
if [ "$HARNESS_OK" -eq 0 ]; then
    printf '| %-30s | %s |\n' "smtp-harness (all scenarios)" "not measured: $SKIP_REASON"
fi
echo
echo "rate vs smtp-sink = sessions/s ÷ smtp-sink's sessions/s (higher is better);"
echo "CPU vs smtp-sink  = server CPU per session ÷ smtp-sink's (lower is better)."
echo "rate/CPU vs postfix-default = the same ratios against smtp-harness postfix-default (scripted-scenario cost; target rate >= 0.9)."
echo "listen overflows  = connections dropped on a full listen queue during the run"
echo "                    (system-wide TcpExt ListenOverflows; each costs the client a 1 s+ SYN retry)."
echo "smtp-sink ran as: $SMTP_SINK $( [ "$(id -u)" -eq 0 ] && echo '-u nobody ')-m 256 127.0.0.1:PORT $SINK_BACKLOG (-m 2×PARALLEL when PARALLEL ≥ 200)"
[ "$HARNESS_OK" -eq 1 ] && echo "smtp-harness ran as: $BIN serve SCENARIO --listen 127.0.0.1:0 --quiet"

exit "$FAILED"
