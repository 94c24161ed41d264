#!/usr/bin/env bash
# Run every cargo-fuzz target for FUZZ_SECONDS (default 60) each.
#
#   make fuzz                       # or: bash fuzz/run.sh
#   FUZZ_SECONDS=600 TARGETS=session bash fuzz/run.sh
#
# The toolchain is stable, so targets build with `--sanitizer none` (no
# ASan; Rust's own checks — bounds, overflow in debug assertions, which
# cargo-fuzz turns on — still abort on a bug). The committed seed corpora in
# fuzz/corpus/TARGET are read but never written: new inputs go to a scratch
# directory, so the repository's corpora stay small (regenerate the seeds
# with `python3 fuzz/seeds.py`). A crash or timeout is saved by libFuzzer in
# fuzz/artifacts/TARGET/ and fails the run; turn it into a regression test
# in tests/ (see tests/fuzz_regressions.rs).
#
# Needs cargo-fuzz: `cargo install cargo-fuzz`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
TARGETS="${TARGETS:-protocol scenario import session}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz not found: cargo install cargo-fuzz" >&2
    exit 1
fi
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/smtp-harness-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT

cargo fuzz build --sanitizer none -O
FAILED=()
for t in $TARGETS; do
    mkdir -p "$SCRATCH/$t"
    echo "== fuzz $t for ${FUZZ_SECONDS}s"
    # -timeout: one input taking > 10 s is a finding (a YAML bomb that
    # got through, a quadratic parser); -rss_limit_mb bounds memory.
    if ! cargo fuzz run --sanitizer none -O "$t" "$SCRATCH/$t" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>"$SCRATCH/$t.log"; then
        FAILED+=("$t")
        grep -E "ERROR|panicked|Test unit written|SUMMARY" "$SCRATCH/$t.log" | head -n 20 >&2 || true
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$SCRATCH/$t.log" || tail -n 3 "$SCRATCH/$t.log"
done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "fuzz: findings in: ${FAILED[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no findings"
