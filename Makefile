# smtp-harness: common tasks. `make help` lists them.

CARGO ?= cargo

.PHONY: help setup bench-setup build run demo test lint fmt screenshots bench bench-server bench-proxy bench-memory bench-import soak fuzz

help:
	@echo "make build   release build (target/release/smtp-harness)"
	@echo "make run     run the demo (same as make demo)"
	@echo "make demo    cargo run --release -- demo"
	@echo "make setup   install the outside tools the tests use (postfix, swaks, aiosmtpd, chromium)"
	@echo "make test    setup, then all unit/integration tests, then doctests (with the legacy-tls feature)"
	@echo "make lint    rustfmt check and clippy with warnings denied"
	@echo "make fmt     format the code"
	@echo "make screenshots  rewrite docs/ui/*.png: the web UI in headless chromium (tests/ui.rs)"
	@echo "make bench   every benchmark below, in order (results: docs/PERFORMANCE.md)"
	@echo "  make bench-server  serve vs Postfix's smtp-sink, scripted scenarios (bench/run.sh)"
	@echo "  make bench-proxy   proxy overhead in front of smtp-sink (bench/proxy.sh)"
	@echo "  make bench-memory  10,000 idle; 100 MiB through the proxy; 1M NOOPs, 20 x 9 MiB, stall (bench/memory.sh)"
	@echo "  make bench-import  import throughput of a generated 200 MiB pcap"
	@echo "make soak    1,000,000 sessions against serve and through the proxy (bench/soak.sh)"
	@echo "make fuzz    every cargo-fuzz target for FUZZ_SECONDS (default 60) each (fuzz/run.sh)"

build:
	$(CARGO) build --release

run: demo

demo:
	$(CARGO) run --release -- demo

# Installs the outside tools the tests use (idempotent; see .ci/setup).
setup:
	bash .ci/setup

# The test tools plus HAProxy, the proxy benchmark's reference.
bench-setup:
	bash .ci/setup --bench

# One target, two cargo runs; make stops at the first one that fails.
# `legacy-tls` adds the OpenSSL engine (TLS 1.0/1.1) and its tests
# (tests/tls_legacy.rs); setup installed libssl-dev for it.
TEST_FEATURES ?= legacy-tls
test: setup
	$(CARGO) test --all-targets --features "$(TEST_FEATURES)"
	$(CARGO) test --doc --features "$(TEST_FEATURES)"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features legacy-tls -- -D warnings
	# The library as the binary builds it: internals crate-private, so
	# rustc reports dead code (the tests' build opens them up).
	$(CARGO) clippy --lib -- -D warnings
	# What a test suite depending on the library compiles (no CLI):
	$(CARGO) clippy --lib --no-default-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

fmt:
	$(CARGO) fmt --all

# The web UI's pictures in docs/ui/, taken by chromium from live sessions;
# an ignored test, so a test run never rewrites them.
screenshots:
	$(CARGO) test --test ui -- --ignored screenshots

# Each script builds the release binary first (cargo is a no-op the 2nd time).
bench: bench-setup bench-server bench-proxy bench-memory bench-import

bench-server:
	bash bench/run.sh

bench-proxy: bench-setup
	bash bench/proxy.sh

bench-memory:
	bash bench/memory.sh

bench-import:
	$(CARGO) run --release --example import_bench -- 200

soak:
	bash bench/soak.sh

FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh
