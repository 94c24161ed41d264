#!/usr/bin/env bash
# Soak: SESSIONS (default 1,000,000) SMTP sessions from Postfix's smtp-source
# against `smtp-harness serve postfix-default`, then the same number through
# `smtp-harness proxy --profile transparent` in front of a second `serve`.
# 127.0.0.1 only; every run is bounded by count and by RUN_TIMEOUT.
#
#   bash bench/soak.sh           # or: make soak
#   SESSIONS=20000 bash bench/soak.sh   # a quick one
#
# Checks, for every smtp-harness process:
#   - smtp-source exits 0 and prints no error/warning line;
#   - the server still serves afterwards (a final 100-session run succeeds);
#   - the open fd count (/proc/PID/fd) is back to its start level;
#   - RSS (VmRSS) is back to its start level: within RSS_SLACK_KIB (default
#     2048) of the level after the warm-up. The start level is taken after a
#     WARMUP-session warm-up (default 20000), because the first sessions grow
#     the allocator's pools and fill the 1000-session transcript store
#     (Retention::Last(1000)) — that is a one-time cost, not a leak.
#
# Environment: SESSIONS, PARALLEL (20), SIZE (1024), WARMUP, RSS_SLACK_KIB,
# RUN_TIMEOUT (1800 s), BIN, NO_BUILD=1, TARGETS ("serve proxy").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

SMTP_SOURCE="${SMTP_SOURCE:-$(command -v smtp-source || true)}"
[ -n "$SMTP_SOURCE" ] || { echo "soak: smtp-source not found (apt-get install postfix)" >&2; exit 1; }
SESSIONS="${SESSIONS:-1000000}"
PARALLEL="${PARALLEL:-20}"
SIZE="${SIZE:-1024}"
# The recipient: in a domain every bundled scenario accepts (exchange-2003
# refuses relay to any other, as the real one does).
TO="${TO:-bench@adatum.com}"
WARMUP="${WARMUP:-20000}"
RSS_SLACK_KIB="${RSS_SLACK_KIB:-2048}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
BIN="${BIN:-target/release/smtp-harness}"
TARGETS="${TARGETS:-serve proxy}"
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup soak

# CPU seconds (user + system) a process has used.
cpu_s() {
    awk -v t="$(cpu_ticks "$1")" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}

# source ADDR SESSIONS: run smtp-source; fail on a non-zero exit or any complaint.
source_run() {
    local addr="$1" n="$2" out="$WORK/source.out"
    if ! timeout "$RUN_TIMEOUT" "$SMTP_SOURCE" -t "$TO" -s "$PARALLEL" -m "$n" -l "$SIZE" "$addr" >"$out" 2>&1; then
        echo "soak: smtp-source -m $n against $addr failed:" >&2
        tail -n 5 "$out" >&2
        return 1
    fi
    if grep -Eiq 'error|fatal|warning|panic' "$out"; then
        echo "soak: smtp-source complained:" >&2
        grep -Ei 'error|fatal|warning|panic' "$out" | head -n 5 >&2
        return 1
    fi
}

FAILED=0
ROWS=()
# check NAME PID FD0 RSS0: compare the process's fds and RSS with the start level.
check() {
    local name="$1" pid="$2" f0="$3" r0="$4" f1 r1 ok=yes
    f1="$(fds "$pid")"
    r1="$(kib "$pid" VmRSS)"
    [ "$f1" -le "$f0" ] || ok=no
    [ "$r1" -le $((r0 + RSS_SLACK_KIB)) ] || ok=no
    [ "$ok" = yes ] || FAILED=1
    ROWS+=("| $name | $f0 | $f1 | $r0 | $r1 | $(kib "$pid" VmHWM) | $(cpu_s "$pid") | $ok |")
}

echo "== machine: $(nproc) cpus, $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== smtp-source -s $PARALLEL -m $SESSIONS -l $SIZE, after a $WARMUP-session warm-up"

for target in $TARGETS; do
    start "$BIN" serve postfix-default --listen 127.0.0.1:0 -q
    S_PID=$STARTED_PID
    addr=$STARTED_ADDR
    P_PID=""
    if [ "$target" = proxy ]; then
        start "$BIN" proxy --upstream "$STARTED_ADDR" --profile transparent --listen 127.0.0.1:0 -q
        P_PID=$STARTED_PID
        addr=$STARTED_ADDR
    fi
    source_run "$addr" "$WARMUP" || FAILED=1
    sleep 1
    sf0="$(fds "$S_PID")"; sr0="$(kib "$S_PID" VmRSS)"
    if [ -n "$P_PID" ]; then pf0="$(fds "$P_PID")"; pr0="$(kib "$P_PID" VmRSS)"; fi
    t0="$EPOCHREALTIME"
    if source_run "$addr" "$SESSIONS"; then
        t1="$EPOCHREALTIME"
        secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
        rate="$(awk -v n="$SESSIONS" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
        echo "soak: $target: $SESSIONS sessions in $secs s ($rate sessions/s), no error"
    else
        echo "soak: $target: FAILED" >&2
        FAILED=1
    fi
    sleep 2      # let the last connections finish closing
    if [ -n "$P_PID" ]; then
        check "proxy transparent (in front of serve)" "$P_PID" "$pf0" "$pr0"
        check "serve postfix-default (behind the proxy)" "$S_PID" "$sf0" "$sr0"
    else
        check "serve postfix-default" "$S_PID" "$sf0" "$sr0"
    fi
    source_run "$addr" 100 || { echo "soak: $target no longer serves" >&2; FAILED=1; }
    for pid in $P_PID $S_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
done

echo
echo "| process | fds at start | fds after | RSS KiB at start | RSS KiB after | peak RSS KiB | CPU s (total) | back to start level |"
echo "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | :--- |"
printf '%s\n' "${ROWS[@]}"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$FAILED" -eq 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit "$FAILED"
