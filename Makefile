# smtp-harness: common tasks. `make help` lists them.

CARGO ?= cargo

.PHONY: help build run demo test lint fmt bench

help:
	@echo "make build   release build (target/release/smtp-harness)"
	@echo "make run     run the demo (same as make demo)"
	@echo "make demo    cargo run --release -- demo"
	@echo "make test    all unit/integration tests, then doctests"
	@echo "make lint    rustfmt check and clippy with warnings denied"
	@echo "make fmt     format the code"
	@echo "make bench   throughput benchmark against Postfix's smtp-sink (bench/run.sh)"

build:
	$(CARGO) build --release

run: demo

demo:
	$(CARGO) run --release -- demo

# One target, two cargo runs; make stops at the first one that fails.
test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

fmt:
	$(CARGO) fmt --all

bench:
	bash bench/run.sh
