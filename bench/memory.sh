#!/usr/bin/env bash
# Memory benchmarks (issue 8), 127.0.0.1 only, every step bounded:
#
#  1. IDLE (default 10000) idle connections held open against
#     `smtp-harness serve postfix-default`: the server's RSS (VmRSS from
#     /proc/PID/status) before, with all of them open, and after they close;
#     target < 100 MiB with them open.
#  2. one BIG_MIB (default 100) MiB message through `smtp-harness proxy
#     --profile transparent` in front of Postfix's smtp-sink: the proxy's peak
#     RSS (VmHWM) minus its RSS before; target < 16 MiB (it streams DATA).
#  3. PROXY_IDLE (default 2000) idle connections through `smtp-harness proxy
#     --profile transparent` in front of `serve`: the proxy's RSS per relayed
#     connection (no target; it guards against buffers held while idle).
#
# And what `serve` keeps of what clients send (issue 13):
#
#  4. one session of FLOOD (default 1,000,000) pipelined NOOPs, then QUIT:
#     the RSS growth 2 s after it ended (serve hands freed memory back
#     once a second); target < 16 MiB.
#  5. while that session is kept, a NOOP every 5 ms on another connection
#     and `GET /sessions/1` over the control API: the longest round trip
#     during the GET; target < 50 ms.
#  6. MESSAGES (default 20) messages of MESSAGE_MIB (default 9) MiB, one
#     session each: the RSS growth 2 s after them; target < 16 MiB.
#
#   bash bench/memory.sh      # or: make bench-memory
#   ONLY_KEPT=1 bash bench/memory.sh   # parts 4-6 only
#
# Environment: IDLE, BIG_MIB, PROXY_IDLE, FLOOD, MESSAGES, MESSAGE_MIB,
# BIN (default target/release/smtp-harness), NO_BUILD=1, ONLY_KEPT=1,
# HOLD (seconds the idle clients stay at most, default 120).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

IDLE="${IDLE:-10000}"
BIG_MIB="${BIG_MIB:-100}"
PROXY_IDLE="${PROXY_IDLE:-2000}"
HOLD="${HOLD:-120}"
FLOOD="${FLOOD:-1000000}"
MESSAGES="${MESSAGES:-20}"
MESSAGE_MIB="${MESSAGE_MIB:-9}"
BIN="${BIN:-target/release/smtp-harness}"
SMTP_SINK="${SMTP_SINK:-$(command -v smtp-sink || echo /usr/sbin/smtp-sink)}"

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --quiet
fi

# 10,000 connections need 10,000 descriptors in the server and in the client.
want=$((IDLE + 256))
if [ -n "${ONLY_KEPT:-}" ]; then want=256; fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    echo "memory: ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); need $want for $IDLE connections" >&2
    exit 1
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_setup mem

# hold_idle PID PORT N LABEL: open N idle clients against PORT, read PID's
# RSS and open fds before, with them open (and its peak), and after they
# closed again; sets HELD_RSS0/1/2 (KiB), HELD_FDS0/1/2 and HELD_HWM.
hold_idle() {
    local pid="$1" port="$2" n="$3" label="$4" line
    HELD_RSS0="$(kib "$pid" VmRSS)"
    HELD_FDS0="$(fds "$pid")"
    coproc IDLEC { exec python3 bench/idle_clients.py "$n" 127.0.0.1 "$port" "$HOLD"; }
    PIDS+=("$IDLEC_PID")
    read -r -t "$HOLD" line <&"${IDLEC[0]}" || line="(no answer)"
    echo "$label: $line"
    sleep 1
    HELD_RSS1="$(kib "$pid" VmRSS)"
    HELD_FDS1="$(fds "$pid")"
    HELD_HWM="$(kib "$pid" VmHWM)"
    local to_idle="${IDLEC[1]}"
    exec {to_idle}>&-                    # EOF on its stdin: close them all
    read -r -t 60 line <&"${IDLEC[0]}" || true
    wait "$IDLEC_PID" 2>/dev/null || true
    sleep 2
    HELD_RSS2="$(kib "$pid" VmRSS)"
    HELD_FDS2="$(fds "$pid")"
}

# under_16mib KIB: "met" when a growth of KIB is under the 16 MiB target.
under_16mib() { if [ "$1" -lt $((16 * 1024)) ]; then echo "met"; else echo "MISSED"; fi; }

# stop PID: stop a process started here and wait for it to end.
stop() {
    kill "$1"
    wait "$1" 2>/dev/null || true
}

echo "== machine: $(nproc) cpus, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"

kept_parts() {
# --- 4. a session of a million NOOPs ----------------------------------------
start "$BIN" serve postfix-default --listen 127.0.0.1:0 --quiet --control 127.0.0.1:0
SERVE_PID=$STARTED_PID
port="${STARTED_ADDR##*:}"
control=""
for _ in $(seq 1 1000); do            # printed right after "listening on"
    control="$(sed -n 's|^control on http://||p' "$WORK/out.$((${#PIDS[@]} - 1))")"
    [ -n "$control" ] && break
    sleep 0.01
done
[ -n "$control" ] || { echo "memory: serve printed no control address" >&2; exit 1; }
sleep 0.5
f0="$(kib "$SERVE_PID" VmRSS)"
flood="$(timeout 300 python3 bench/noop_flood.py 127.0.0.1 "$port" "$FLOOD")"
sleep 2                                # serve returns freed memory once a second
f1="$(kib "$SERVE_PID" VmRSS)"
fhwm="$(kib "$SERVE_PID" VmHWM)"
fgrowth=$((f1 - f0))
verdict=$(under_16mib "$fgrowth")
echo
echo "flood: $flood"

# --- 5. SMTP round trips while the control API serves that session ----------
stall="$(timeout 300 python3 bench/control_stall.py 127.0.0.1 "$port" "$control" /sessions/1 3 5)"
s1="$(kib "$SERVE_PID" VmHWM)"
stall_ms="$(sed -n 's/^STALL_MS=//p' <<<"$stall")"
sverdict=$(awk -v s="$stall_ms" 'BEGIN { print (s < 50 ? "met" : "MISSED") }')
echo "$stall" | grep -v '^STALL_MS='
stop "$SERVE_PID"

# --- 6. twenty 9 MiB messages ------------------------------------------------
start "$BIN" serve postfix-default --listen 127.0.0.1:0 --quiet
SERVE_PID=$STARTED_PID
port="${STARTED_ADDR##*:}"
sleep 0.5
m0="$(kib "$SERVE_PID" VmRSS)"
for _ in $(seq 1 "$MESSAGES"); do
    timeout 300 python3 bench/big_message.py 127.0.0.1 "$port" "$MESSAGE_MIB" >/dev/null
done
sleep 2
m1="$(kib "$SERVE_PID" VmRSS)"
mhwm="$(kib "$SERVE_PID" VmHWM)"
mgrowth=$((m1 - m0))
mverdict=$(under_16mib "$mgrowth")
stop "$SERVE_PID"

echo
echo "| measurement | RSS before | RSS after | growth | peak RSS (VmHWM) | target |"
echo "| :--- | ---: | ---: | ---: | ---: | :--- |"
echo "| serve, one session of $FLOOD pipelined NOOPs, after QUIT (MiB) | $(mib "$f0") | $(mib "$f1") | $(mib "$fgrowth") | $(mib "$fhwm") | growth < 16 MiB: $verdict |"
echo "| serve, $MESSAGES × $MESSAGE_MIB MiB messages (MiB) | $(mib "$m0") | $(mib "$m1") | $(mib "$mgrowth") | $(mib "$mhwm") | growth < 16 MiB: $mverdict |"
echo
echo "| measurement | longest SMTP round trip during GET /sessions/1 | peak RSS (VmHWM) | target |"
echo "| :--- | ---: | ---: | :--- |"
echo "| serve, NOOP every 5 ms while the control API serves the $FLOOD-NOOP session | $stall_ms ms | $(mib "$s1") MiB | < 50 ms: $sverdict |"
}

if [ -n "${ONLY_KEPT:-}" ]; then
    kept_parts
    exit 0
fi

# --- 1. idle connections ---------------------------------------------------
start "$BIN" serve postfix-default --listen 127.0.0.1:0 --quiet
SERVE_PID=$STARTED_PID
port="${STARTED_ADDR##*:}"
sleep 0.2
hold_idle "$SERVE_PID" "$port" "$IDLE" "idle clients"
r0=$HELD_RSS0 f0=$HELD_FDS0 r1=$HELD_RSS1 f1=$HELD_FDS1 hwm1=$HELD_HWM r2=$HELD_RSS2 f2=$HELD_FDS2
stop "$SERVE_PID"
per_conn="$(awk -v a="$r0" -v b="$r1" -v n="$IDLE" 'BEGIN { printf "%.1f", (b - a) / n }')"
verdict=$([ "$r1" -lt $((100 * 1024)) ] && echo "met" || echo "MISSED")
echo
echo "| measurement | before | with $IDLE idle open | after they closed | target |"
echo "| :--- | ---: | ---: | ---: | :--- |"
echo "| serve postfix-default RSS (MiB) | $(mib "$r0") | $(mib "$r1") (peak $(mib "$hwm1")) | $(mib "$r2") | < 100 MiB: $verdict |"
echo "| serve postfix-default open fds | $f0 | $f1 | $f2 | |"
echo "| KiB per idle connection | | $per_conn | | |"

# --- 2. one big message through the proxy -----------------------------------
start_sink 16 64
start "$BIN" proxy --upstream "$STARTED_ADDR" --profile transparent \
    --listen 127.0.0.1:0 --quiet
PROXY_PID=$STARTED_PID
pport="${STARTED_ADDR##*:}"
sleep 0.2
p0="$(kib "$PROXY_PID" VmRSS)"
big="$(timeout 300 python3 bench/big_message.py 127.0.0.1 "$pport" "$BIG_MIB")"
p1="$(kib "$PROXY_PID" VmHWM)"
p2="$(kib "$PROXY_PID" VmRSS)"
growth=$((p1 - p0))
verdict=$(under_16mib "$growth")
echo
echo "big message: $big"
echo
echo "| measurement | RSS before | peak RSS (VmHWM) | growth | RSS after | target |"
echo "| :--- | ---: | ---: | ---: | ---: | :--- |"
echo "| proxy transparent, one $BIG_MIB MiB message to smtp-sink (MiB) | $(mib "$p0") | $(mib "$p1") | $(mib "$growth") | $(mib "$p2") | growth < 16 MiB: $verdict |"

# --- 3. idle connections through the proxy (no target; a regression guard) ---
# Each relayed connection holds two sockets and two read buffers; this is
# where reserving 64 KiB per read cost 135 KiB a connection (PERFORMANCE.md).
start "$BIN" serve postfix-default --listen 127.0.0.1:0 --quiet
start "$BIN" proxy --upstream "$STARTED_ADDR" \
    --profile transparent --listen 127.0.0.1:0 --quiet
PROXY2_PID=$STARTED_PID
pport="${STARTED_ADDR##*:}"
sleep 0.2
hold_idle "$PROXY2_PID" "$pport" "$PROXY_IDLE" "idle clients through the proxy"
q0=$HELD_RSS0 q1=$HELD_RSS1
per_relay="$(awk -v a="$q0" -v b="$q1" -v n="$PROXY_IDLE" 'BEGIN { printf "%.1f", (b - a) / n }')"
echo
echo "| measurement | RSS before | with $PROXY_IDLE idle relayed | KiB per relayed connection |"
echo "| :--- | ---: | ---: | ---: |"
echo "| proxy transparent in front of serve (MiB) | $(mib "$q0") | $(mib "$q1") | $per_relay |"

kept_parts
