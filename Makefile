# The two commands: `make run` and `make test`. Both install what is missing, fetch the default
# model and build natively (-C target-cpu=native, set in .cargo/config.toml).
CARGO ?= cargo

.PHONY: run test exact-build soak fuzz report bench bench-quality bench-article bench-lookup bench-native bench-llama deps model build lint llama-build llama-server build-vulkan build-cuda test-vulkan gpu-check

run: deps model build
	./target/release/quill $(FILE)

# tests/remote.rs runs the remote engine against a real llama-server: scripts/llama-server builds
# it once a machine (cached outside the clone) and says where it is.
#
# tests/lookup.rs also runs a second build, in target/exact, whose llama.cpp leaves out
# llamafile's batched matrix kernels (GGML_LLAMAFILE=OFF): there a decode of several tokens
# computes each one as a decode of one would, so prompt-lookup decoding can be compared with
# plain decoding token for token. Quill itself keeps those kernels (prompts read up to 1.4x
# faster with them).
test: deps model llama-build lint exact-build
	QUILL_LLAMA_SERVER="$$(scripts/llama-server)" QUILL_EXACT_QUILL="$(CURDIR)/target/exact/release/quill" $(CARGO) test --release --all-targets

exact-build: deps
	GGML_LLAMAFILE=OFF CARGO_TARGET_DIR=target/exact $(CARGO) build --release --bin quill

# The fault rounds at length: 50 rounds of kill -9 at random moments (5 in make test),
# 20,000 generated cases of each property (256 in make test), and every fuzz target for a
# minute. QUILL_SOAK_SEED=N replays the kill moments of a failed run (each run prints its
# seed); proptest keeps failing cases in tests/properties.proptest-regressions and tries them
# first.
soak: deps model llama-build
	QUILL_SOAK_ROUNDS=$${QUILL_SOAK_ROUNDS:-50} $(CARGO) test --release --test faults_tmux -- --nocapture kill_9
	QUILL_PROPERTY_CASES=$${QUILL_PROPERTY_CASES:-20000} $(CARGO) test --release --test properties
	scripts/fuzz

# cargo-fuzz on a stable compiler: each target in fuzz/ for FUZZ_SECONDS (60), from the seeds
# in fuzz/seeds/ (which make test replays); FUZZ_TARGETS="file journal" for some of them.
fuzz: deps model
	scripts/fuzz

# docs/BENCHMARKS.md and docs/RELIABILITY.md, written from the suite's own output on this machine (the
# bench family's tables; each injected fault and this run's verdict). SOAK=1 for soak sizes.
report: deps model build
	scripts/report

bench: deps model build
	./target/release/quill bench
	./target/release/quill bench --editor
	./target/release/quill bench --assistant
	./target/release/quill bench --busy

# How often each built-in action gives a usable answer, over fixed English and Chinese
# passages (defaults/bench-quality.toml), written to docs/QUALITY.md. SEEDS (3) per passage;
# MODEL=path.gguf measures another model into its own section of the same file.
bench-quality: deps model build
	./target/release/quill $${MODEL:+--model "$$MODEL"} bench --quality --seeds $${SEEDS:-3} --out docs/QUALITY.md

# Whole articles from the titles of defaults/bench-articles.toml (10 English, 5 Chinese), each
# checked and timed beside a plain continuation, written to docs/ARTICLES.md.
bench-article: deps model build
	./target/release/quill $${MODEL:+--model "$$MODEL"} bench --article --out docs/ARTICLES.md

# Prompt-lookup decoding against plain decoding on the same engine, side by side: fix grammar,
# rewrite, summarise and continue on the passages of defaults/bench-lookup.toml, written to
# docs/LOOKUP.md and the README's table. ROUNDS=N for more rounds (medians are reported).
bench-lookup: deps model build
	./target/release/quill $${MODEL:+--model "$$MODEL"} bench --lookup --rounds $${ROUNDS:-3} --out docs/LOOKUP.md --readme README.md

# Quill against llama.cpp's own llama-bench (built from the llama.cpp that llama-cpp-python's
# source distribution vendors, cached in target/llama-bench/), depth by depth. MODEL, THREADS,
# REPS, DEPTHS: see scripts/bench-llama.
bench-llama: deps model build
	scripts/bench-llama

# The native build against a portable one (RUSTFLAGS=""), side by side: what native buys.
bench-native: deps model
	scripts/bench-native

# GPU builds (scripts/build-gpu): the toolchain fetched and checked into the cache folder, then
# Quill with the GPU backend as a module, in target/gpu-KIND/quill/ (one folder to copy; it
# runs on the CPU where the GPU's driver is missing). CUDA_ARCHS="90" builds for one GPU
# architecture (quicker); the default covers Turing to Blackwell.
build-vulkan: deps model
	scripts/build-gpu vulkan

build-cuda: deps model
	scripts/build-gpu cuda $(CUDA_ARCHS)

# The GPU code path on a machine without a GPU: the Vulkan build on lavapipe, Mesa's Vulkan
# device on the CPU, against the CPU build (tests/gpu_vulkan.rs). Not part of make test: the
# build and the tests would add 22 minutes on two cores, and make test stays under 45.
test-vulkan: deps model llama-build build-vulkan
	QUILL_VULKAN_QUILL="$(CURDIR)/target/gpu-vulkan/quill/quill" $(CARGO) test --release --test gpu_vulkan -- --ignored

# On a machine with an NVIDIA GPU: the CUDA build's doctor and bench beside llama-bench built
# for CUDA, every layer on the GPU (scripts/gpu-check), into target/gpu-check/report.md.
gpu-check: deps model
	scripts/gpu-check

deps:
	@scripts/install-deps

model:
	@scripts/fetch-model

build: llama-build
	$(CARGO) build --release

# A llama.cpp built before its AMX kernels were turned off is cleaned, so it is built again.
llama-build:
	@scripts/check-llama-build

# llama.cpp's own llama-server, built like Quill's llama.cpp, for trying the remote engine.
llama-server: deps
	scripts/llama-server

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
