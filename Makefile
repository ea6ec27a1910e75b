# The two commands: `make run` and `make test`. Both set the machine up first (idempotent).
CARGO_SSR = --release --no-default-features --features clipfind/ssr
# cargo-leptos compiles Leptos with this set (read by option_env!); setting it for cargo test too
# lets both share one release build instead of recompiling Leptos and the server in between.
export LEPTOS_OUTPUT_NAME := clipfind

.PHONY: run test setup build doctor

setup:
	scripts/setup.sh

## Serve the app with live reload on http://127.0.0.1:3000 (release: the engine is CPU work, and
## FAISS is then built once for tests and serving alike). With no CLIPFIND_DATA it serves the
## bundled samples/, indexed first (incrementally) with the best installed model. Watch mode is
## on: photos added to the folder become searchable without a restart.
run: setup
ifeq ($(strip $(CLIPFIND_DATA)),)
	cargo run $(CARGO_SSR) -- index --data samples --rebuild-on-model-change
	CLIPFIND_WATCH=1 CLIPFIND_DATA=samples cargo leptos watch --release
else
	CLIPFIND_WATCH=1 cargo leptos watch --release
endif

## Every test: unit and integration tests (server code; the Milvus ones start a Milvus server),
## a build of the bench binaries (so they keep compiling), then browser tests in headless Chromium
## against the release build serving a freshly indexed folder of test images (and, started by
## Playwright, a second server on the samples with the demo model, as `make run` serves them).
test: setup
	cargo test --workspace $(CARGO_SSR)
	cargo build --workspace $(CARGO_SSR) --benches
	scripts/e2e-data.sh
	CLIPFIND_DATA=target/e2e/photos CLIPFIND_MODEL=models/test-tiny cargo leptos end-to-end --release

## Production build into target/release/clipfind and target/site
build: setup
	cargo leptos build --release

doctor: setup
	cargo run $(CARGO_SSR) -- doctor
