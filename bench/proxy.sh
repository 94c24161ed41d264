#!/usr/bin/env bash
# Proxy overhead: Postfix's smtp-source against an upstream server directly,
# through HAProxy in TCP mode (the reference: a C byte relay that parses
# nothing) and through `smtp-harness proxy` (one run per profile), all in
# one run on this machine, 127.0.0.1 only.
#
#   bash bench/proxy.sh          # or: make bench-proxy (part of make bench)
#
# Two passes, same upstream process for all targets of a pass:
#   throughput  smtp-source -s PARALLEL -m MESSAGES: sessions/s, ratio to
#               direct (target >= 0.8), proxy CPU µs/session;
#   latency     smtp-source -s 1 -m LAT_MESSAGES: wall time per session, and
#               the added latency per round trip = (proxied − direct time per
#               session) ÷ 7 (an smtp-source session is 7 round trips:
#               connect+220, HELO, MAIL, RCPT, DATA, body+".", QUIT).
#
# Environment:
#   PARALLEL, MESSAGES  throughput pass (defaults 20 and 20000)
#   LAT_MESSAGES        latency pass sessions (default 2000; 0 skips it)
#   TO                  recipient for smtp-source -t (default bench@adatum.com)
#   SIZE                message payload bytes for smtp-source -l (default 1024)
#   UPSTREAM            sink (Postfix smtp-sink, default) or a scenario name
#                       for `smtp-harness serve`
#   PROFILES            proxy profiles (default "transparent pix-mailguard")
#   HAPROXY             haproxy binary (default: haproxy on PATH; `make
#                       bench-setup` installs it); NO_HAPROXY=1 skips its row
#   WARMUP              sessions sent before each measured run (default 200)
#   BIN                 smtp-harness binary (default target/release/smtp-harness)
#   NO_BUILD=1          do not run `cargo build --release` first
#   RUN_TIMEOUT         seconds before one smtp-source run counts as failed (600)
# shellcheck disable=SC2059  # the table format is ours
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

SMTP_SOURCE="${SMTP_SOURCE:-$(command -v smtp-source || true)}"
SMTP_SINK="${SMTP_SINK:-$(command -v smtp-sink || true)}"
HAPROXY="${HAPROXY:-$(command -v haproxy || true)}"
if [ -z "$HAPROXY" ] && [ -z "${NO_HAPROXY:-}" ]; then
    echo "bench: haproxy not found (make bench-setup, or NO_HAPROXY=1 to skip its row)" >&2
    exit 1
fi
if [ -z "$SMTP_SOURCE" ] || [ -z "$SMTP_SINK" ]; then
    echo "bench: smtp-source/smtp-sink not found (apt-get install postfix)" >&2
    exit 1
fi
PARALLEL="${PARALLEL:-20}"
MESSAGES="${MESSAGES:-20000}"
LAT_MESSAGES="${LAT_MESSAGES:-2000}"
SIZE="${SIZE:-1024}"
# The recipient: in a domain every bundled scenario accepts (exchange-2003
# refuses relay to any other, as the real one does).
TO="${TO:-bench@adatum.com}"
UPSTREAM="${UPSTREAM:-sink}"
PROFILES="${PROFILES:-transparent pix-mailguard}"
WARMUP="${WARMUP:-200}"
BIN="${BIN:-target/release/smtp-harness}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
ROUND_TRIPS=7
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --quiet
fi

CLK_TCK="$(getconf CLK_TCK)"
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup proxy

start_upstream() {
    if [ "$UPSTREAM" = sink ]; then
        start_sink 512 1024
        UPSTREAM_NAME="smtp-sink"
    else
        start "$BIN" serve "$UPSTREAM" --listen 127.0.0.1:0 -q
        UPSTREAM_NAME="serve $UPSTREAM"
    fi
}

# start_haproxy UPSTREAM: HAProxy in TCP mode on a free port relaying to
# UPSTREAM, in the foreground (-db) so its CPU is one process's; sets
# STARTED_PID and STARTED_ADDR once it accepts.
start_haproxy() {
    local port cfg
    port="$(free_port)"
    cfg="$WORK/haproxy.cfg"
    cat >"$cfg" <<CFG
global
    maxconn 8192
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend smtp
    bind 127.0.0.1:$port
    default_backend upstream
backend upstream
    server upstream $1
CFG
    "$HAPROXY" -db -f "$cfg" </dev/null >"$WORK/haproxy.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    if wait_accepting "$STARTED_PID" "$port"; then
        return 0
    fi
    echo "bench: haproxy did not start: $(cat "$WORK/haproxy.log")" >&2
    exit 1
}

# label TARGET: how a row names a proxy target.
label() {
    if [ "$1" = haproxy ]; then echo "haproxy (mode tcp)"; else echo "proxy $1"; fi
}

# measure ADDR PARALLEL SESSIONS CPU_PID: sets SECS and US (CPU µs/session of CPU_PID).
measure() {
    local addr="$1" parallel="$2" sessions="$3" pid="$4" t0 t1 c0 c1
    if [ "$WARMUP" -gt 0 ]; then
        timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -t "$TO" -s "$parallel" -m "$WARMUP" -l "$SIZE" "$addr" >/dev/null 2>&1 || true
    fi
    c0="$(cpu_ticks "$pid")"
    t0="$EPOCHREALTIME"
    if ! timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -t "$TO" -s "$parallel" -m "$sessions" -l "$SIZE" "$addr" >"$WORK/src.out" 2>&1; then
        echo "bench: smtp-source failed against $addr: $(tail -n3 "$WORK/src.out")" >&2
        SECS=FAILED
        US=-
        return 0
    fi
    t1="$EPOCHREALTIME"
    c1="$(cpu_ticks "$pid")"
    SECS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    US="$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$sessions" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')"
}

echo "== machine: $(nproc) cpus, $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_upstream
UP_PID=$STARTED_PID
UP_ADDR=$STARTED_ADDR
declare -A PROXY_PID PROXY_ADDR
TARGETS=""
if [ -z "${NO_HAPROXY:-}" ]; then
    start_haproxy "$UP_ADDR"
    PROXY_PID[haproxy]=$STARTED_PID
    PROXY_ADDR[haproxy]=$STARTED_ADDR
    TARGETS="haproxy"
fi
for profile in $PROFILES; do
    TARGETS="$TARGETS $profile"
    start "$BIN" proxy --upstream "$UP_ADDR" --profile "$profile" --listen 127.0.0.1:0 -q
    PROXY_PID[$profile]=$STARTED_PID
    PROXY_ADDR[$profile]=$STARTED_ADDR
done

FAILED=0
echo
echo "== throughput: smtp-source -s $PARALLEL -m $MESSAGES -l $SIZE (upstream: $UPSTREAM_NAME)"
echo
fmt='| %-28s | %8s | %8s | %10s | %14s | %20s | %20s |\n'
printf "$fmt" target sessions seconds sessions/s "rate vs direct" "proxy CPU µs/session" "upstream CPU µs/session"
printf "$fmt" ":---" "---:" "---:" "---:" "---:" "---:" "---:"
measure "$UP_ADDR" "$PARALLEL" "$MESSAGES" "$UP_PID"
direct_secs=$SECS
direct_rate="$(awk -v n="$MESSAGES" -v t="$SECS" 'BEGIN { printf "%.0f", n / t }')"
printf "$fmt" "direct ($UPSTREAM_NAME)" "$MESSAGES" "$SECS" "$direct_rate" "1.00" "-" "$US"
declare -A RATE CPU
for profile in $TARGETS; do
    c0="$(cpu_ticks "$UP_PID")"
    measure "${PROXY_ADDR[$profile]}" "$PARALLEL" "$MESSAGES" "${PROXY_PID[$profile]}"
    c1="$(cpu_ticks "$UP_PID")"
    if [ "$SECS" = FAILED ]; then
        FAILED=1
        printf "$fmt" "$(label "$profile")" "$MESSAGES" FAILED - - - -
        continue
    fi
    rate="$(awk -v n="$MESSAGES" -v t="$SECS" 'BEGIN { printf "%.0f", n / t }')"
    ratio="$(awk -v r="$rate" -v d="$direct_rate" 'BEGIN { printf "%.2f", r / d }')"
    # Upstream CPU includes the warm-up here: an indication only.
    upus="$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$((MESSAGES + WARMUP))" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')"
    printf "$fmt" "$(label "$profile")" "$MESSAGES" "$SECS" "$rate" "$ratio" "$US" "$upus"
    RATE[$profile]=$rate
    CPU[$profile]=$US
done
if [ -n "${RATE[haproxy]:-}" ]; then
    echo
    for profile in $PROFILES; do
        [ -n "${RATE[$profile]:-}" ] || continue
        awk -v p="$profile" -v r="${RATE[$profile]}" -v h="${RATE[haproxy]}" -v c="${CPU[$profile]}" -v hc="${CPU[haproxy]}" \
            'BEGIN { printf "proxy %s vs haproxy: %.2fx its sessions/s at %.2fx its CPU per session\n", p, r / h, c / hc }'
    done
fi
: "$direct_secs"

if [ "$LAT_MESSAGES" -gt 0 ]; then
    echo
    echo "== latency: smtp-source -s 1 -m $LAT_MESSAGES -l $SIZE ($ROUND_TRIPS round trips a session)"
    echo
    fmt='| %-28s | %8s | %8s | %16s | %28s |\n'
    printf "$fmt" target sessions seconds "ms per session" "added µs per round trip"
    printf "$fmt" ":---" "---:" "---:" "---:" "---:"
    measure "$UP_ADDR" 1 "$LAT_MESSAGES" "$UP_PID"
    direct_ms="$(awk -v n="$LAT_MESSAGES" -v t="$SECS" 'BEGIN { printf "%.3f", t / n * 1000 }')"
    printf "$fmt" "direct ($UPSTREAM_NAME)" "$LAT_MESSAGES" "$SECS" "$direct_ms" "-"
    for profile in $TARGETS; do
        measure "${PROXY_ADDR[$profile]}" 1 "$LAT_MESSAGES" "${PROXY_PID[$profile]}"
        if [ "$SECS" = FAILED ]; then
            FAILED=1
            printf "$fmt" "$(label "$profile")" "$LAT_MESSAGES" FAILED - -
            continue
        fi
        ms="$(awk -v n="$LAT_MESSAGES" -v t="$SECS" 'BEGIN { printf "%.3f", t / n * 1000 }')"
        added="$(awk -v a="$ms" -v d="$direct_ms" -v r="$ROUND_TRIPS" 'BEGIN { printf "%.0f", (a - d) * 1000 / r }')"
        printf "$fmt" "$(label "$profile")" "$LAT_MESSAGES" "$SECS" "$ms" "$added"
    done
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$FAILED"
