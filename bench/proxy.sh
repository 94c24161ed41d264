#!/usr/bin/env bash
# Proxy overhead: Postfix's smtp-source against `smtp-harness serve` directly,
# and against the same server through `smtp-harness proxy` (one run per
# profile), all in one run on this machine, 127.0.0.1 only. Reports wall time,
# sessions/s and the ratio to the direct connection.
#
#   bash bench/proxy.sh
#
# Environment:
#   PARALLEL, MESSAGES  smtp-source -s / -m (defaults 20 and 5000)
#   SIZE                message payload bytes for smtp-source -l (default 1024)
#   SCENARIO            the upstream scenario (default postfix-default)
#   PROFILES            proxy profiles to measure (default "transparent")
#   WARMUP              sessions sent before each measured run (default 200)
#   BIN                 smtp-harness binary (default target/release/smtp-harness)
#   NO_BUILD=1          do not run `cargo build --release` first
#   SMTP_SOURCE         path of smtp-source (default: PATH or /usr/sbin)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

SMTP_SOURCE="${SMTP_SOURCE:-$(command -v smtp-source || true)}"
if [ -z "$SMTP_SOURCE" ]; then
    echo "bench: smtp-source not found (apt-get install postfix)" >&2
    exit 1
fi
PARALLEL="${PARALLEL:-20}"
MESSAGES="${MESSAGES:-5000}"
SIZE="${SIZE:-1024}"
SCENARIO="${SCENARIO:-postfix-default}"
PROFILES="${PROFILES:-transparent}"
WARMUP="${WARMUP:-200}"
BIN="${BIN:-target/release/smtp-harness}"
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --quiet
fi

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# Start "$@" with --listen 127.0.0.1:0 -q; print the address it reports.
start() {
    local out="$TMP/out.${#PIDS[@]}"
    "$@" --listen 127.0.0.1:0 -q >"$out" 2>"$out.err" &
    PIDS+=("$!")
    for _ in $(seq 1 500); do
        if read -r first <"$out" 2>/dev/null && [ -n "$first" ]; then
            echo "${first#listening on }"
            return 0
        fi
        sleep 0.01
    done
    echo "bench: $* did not start: $(cat "$out.err")" >&2
    return 1
}

# Run smtp-source against ADDR; print the wall time in seconds.
measure() {
    local addr="$1"
    if [ "$WARMUP" -gt 0 ]; then
        "$SMTP_SOURCE" -s "$PARALLEL" -m "$WARMUP" -l "$SIZE" "$addr" >/dev/null
    fi
    local t0 t1
    t0=$(date +%s.%N)
    "$SMTP_SOURCE" -s "$PARALLEL" -m "$MESSAGES" -l "$SIZE" "$addr" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

server="$(start "$BIN" serve "$SCENARIO")"
printf "%-28s %10s %10s %12s %8s\n" target sessions wall_s sessions/s ratio
direct="$(measure "$server")"
direct_rate=$(awk -v n="$MESSAGES" -v t="$direct" 'BEGIN { printf "%.0f", n / t }')
printf "%-28s %10s %10s %12s %8s\n" "direct ($SCENARIO)" "$MESSAGES" "$direct" "$direct_rate" "1.00"
for profile in $PROFILES; do
    proxy="$(start "$BIN" proxy --upstream "$server" --profile "$profile")"
    wall="$(measure "$proxy")"
    rate=$(awk -v n="$MESSAGES" -v t="$wall" 'BEGIN { printf "%.0f", n / t }')
    ratio=$(awk -v r="$rate" -v d="$direct_rate" 'BEGIN { printf "%.2f", r / d }')
    printf "%-28s %10s %10s %12s %8s\n" "proxy $profile" "$MESSAGES" "$wall" "$rate" "$ratio"
done
