# MetaRec: `make demo` runs the main job, `make test` the tests. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

# Real datasets (MovieLens, Census) are read from here; they never enter the repository.
METAREC_DATA ?= $(abspath ../shared/data)
export METAREC_DATA
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
RELEASE_BIN := .build/release/metarec

.PHONY: deps build demo reproduce test openapi bench bench-deps bench-fleet microbench clean

## deps: install OpenBLAS, hiredis and zlib (Debian/Ubuntu libopenblas-dev, libhiredis-dev, zlib1g-dev) and pkg-config when missing.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null; then \
		echo "installing libopenblas-dev (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev pkg-config >/dev/null; \
	fi
	@if [ ! -f /usr/include/hiredis/hiredis.h ]; then \
		echo "installing libhiredis-dev (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libhiredis-dev >/dev/null; \
	fi
	@if ! pkg-config --exists zlib 2>/dev/null; then \
		echo "installing zlib1g-dev (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zlib1g-dev pkg-config >/dev/null; \
	fi

## build: release build of the `metarec` command.
build: deps
	swift build -c release --product metarec

## demo: the main job: synthetic logs → MMoE with and without MAML → fine-tuned evaluation → serving latency → recall → rank → serve
## (`metarec demo`, in one process; writes out/demo/). DEMO_FLAGS: e.g. --users 2000 --rows 100000 --epochs 2.
## Built in .build-demo/ without the HTTPServer package trait: no Hummingbird / swift-nio to compile,
## which halves a fresh release build; the demo serves in-process and needs no HTTP.
DEMO_FLAGS ?=
DEMO_BIN := .build-demo/release/metarec
demo: deps
	swift build -c release --product metarec --disable-default-traits --scratch-path .build-demo
	$(DEMO_BIN) demo $(DEMO_FLAGS)

## reproduce: the README's result tables (census, synthetic, MovieLens); release build, real data from METAREC_DATA.
reproduce: build
	METAREC_BIN=$(RELEASE_BIN) scripts/census-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/census-crowd-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/synthetic-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/movielens-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/movielens-usercold.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/movielens-warm-peruser.sh
	for s in 1 2 3; do SEED=$$s METAREC_BIN=$(RELEASE_BIN) scripts/federated-movielens.sh || exit 1; done
	for s in 1 2 3; do SEED=$$s METAREC_BIN=$(RELEASE_BIN) scripts/federated-synthetic.sh || exit 1; done

## venv: Python for the tests only, in .build-venv/ (git-ignored), from PyPI: safetensors + numpy (interop test),
## dp-accounting (the privacy accountant's interop test), onnx and onnxruntime (the exported on-device scorer's test), prometheus_client (parses /metrics),
## openapi-spec-validator and schemathesis (the HTTP contract, `openapi` below).
## The stamp names the package list, so adding a package reinstalls.
VENV := .build-venv
METAREC_PYTHON := $(abspath $(VENV))/bin/python
VENV_PACKAGES := safetensors numpy dp-accounting onnx onnxruntime prometheus_client==0.26.0 openapi-spec-validator==0.9.0 schemathesis==4.32.5
VENV_STAMP := $(VENV)/.ready-$(shell echo '$(VENV_PACKAGES)' | cksum | cut -d' ' -f1)
$(VENV_STAMP):
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { \
		echo "installing python3-venv (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --no-input $(VENV_PACKAGES)
	@touch $@

## test: the whole test suite (one BLAS thread: parallel tests would oversubscribe the cores), then the HTTP
## contract (`openapi`), with a throw-away redis-server on loopback for the Redis tests (scripts/with-redis.sh).
## METAREC_PYTHON: the interpreter of the interop and `metarec serve` tests.
test: deps $(VENV_STAMP)
	METAREC_PYTHON=$(METAREC_PYTHON) OPENBLAS_NUM_THREADS=1 scripts/with-redis.sh swift test
	VENV=$(VENV) scripts/openapi-check.sh
	OPENBLAS_NUM_THREADS=1 swift test --sanitize=thread --scratch-path .build-tsan --filter "ParamServerTests|WorkerPoolTests|DataParallelStepTests"

## openapi: Sources/MetaRecServer/openapi.yaml validated (openapi-spec-validator) and fuzzed against a live
## `metarec serve` on loopback by schemathesis: 0 5xx and 0 responses outside the document, ST_MAX_TIME seconds
## (default 60, seed ST_SEED). Needs the debug build `swift test` makes (`make test` runs it after the tests).
openapi: deps $(VENV_STAMP)
	swift build --product metarec
	swift build --product metarec-bench
	VENV=$(VENV) scripts/openapi-check.sh

## bench: MetaRec (`metarec-bench`) vs JAX jit, PyTorch (torch.func eager, autograd eager, torch.compile), numpy,
## ONNX Runtime and a Python HTTP service → BENCHMARKS.md and BENCHMARKS-*.png: per-request fine-tune + score (one
## core; against S and C), the whole request from raw features (encode + bottom + fine-tune + score; ONNX Runtime
## and MetaRec unadapted beside it), auto-batched throughput (1 and 2 workers), HTTP on loopback (`metarec serve`
## vs FastAPI/uvicorn + JAX, wrk, 16 connections), MMoE training rows/s on the census config (1 and 2 threads;
## needs $(METAREC_DATA)/census-income-kdd), two-tower retrieval (`metarec retrieval train|eval` BoW vs the JAX peer
## Benchmarks/peers/retrieval_peer.py on the same split: recall/nDCG and training examples/s, 3 seeds, one core; needs
## $(METAREC_DATA)/movielens-latest-small, else skipped; `--only retrieval` runs it alone, ≈ 2.5 minutes). Takes ≈ 12
## minutes without it (11.5 measured with other builds loading the two cores, load average 7–12; the fixed
## iteration counts make a quiet run no longer), plus 1–3 minutes the first time for torch.compile to fill its
## inductor cache (/tmp/torchinductor_$$USER). BENCH_FLAGS: extra bench.py flags, e.g. --only whole,http for a
## smoke run (≈ 1–2 minutes), --only retrieval, or --skip-torch.
## Python (jax, numpy, safetensors, matplotlib, torch, onnx, onnxruntime, fastapi, uvicorn from PyPI) in
## .build-bench-venv/ (git-ignored). torch comes from PyPI's default index (download.pytorch.org's CPU wheels
## were not reachable here), so the first install also fetches the CUDA wheels it depends on (≈ 3 GB, unused).
## wrk from Debian (apt-get) when missing.
## BENCH_SWIFT_FLAGS: extra `swift build` flags, e.g. --scratch-path .build-peers.
BENCH_VENV := .build-bench-venv
BENCH_SWIFT_FLAGS ?=
BENCH_FLAGS ?=
BENCH_PIN := $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c 0)
BENCH_PYTHON_DEPS := jax numpy safetensors matplotlib torch onnx onnxruntime fastapi uvicorn
$(BENCH_VENV)/.ready:
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { \
		echo "installing python3-venv (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-input $(BENCH_PYTHON_DEPS)
	@touch $@

bench-deps: deps $(BENCH_VENV)/.ready
	@$(BENCH_VENV)/bin/python -c 'import torch, onnx, onnxruntime, fastapi, uvicorn' 2>/dev/null || \
		$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-input $(BENCH_PYTHON_DEPS)
	@command -v wrk >/dev/null || { \
		echo "installing wrk (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }

bench: bench-deps
	swift build -c release --product metarec $(BENCH_SWIFT_FLAGS)
	swift build -c release --product metarec-bench $(BENCH_SWIFT_FLAGS)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 JAX_PLATFORMS=cpu \
	XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
	$(BENCH_PIN) $(BENCH_VENV)/bin/python Benchmarks/peers/bench.py \
		--metarec "$$(swift build -c release --show-bin-path $(BENCH_SWIFT_FLAGS))/metarec" \
		--metarec-bench "$$(swift build -c release --show-bin-path $(BENCH_SWIFT_FLAGS))/metarec-bench" \
		--out BENCHMARKS.md --plot BENCHMARKS-latency.png --command "make bench" $(BENCH_FLAGS)

## bench-fleet: only the serving-fleet section of `make bench` (Benchmarks/peers/bench_fleet.py): `metarec serve`
## with the in-process support store vs `--support redis://` on loopback (wrk, 16 connections), redis-benchmark's
## round trip as the floor, Redis round trips per auto-batch; ≈ 1 minute after the release build. Needs wrk and
## redis-server (apt-get when missing); prints the markdown section (BENCH_FLEET_OUT=FILE writes it too).
BENCH_FLEET_OUT ?=
bench-fleet: deps
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	swift build -c release --product metarec $(BENCH_SWIFT_FLAGS)
	swift build -c release --product metarec-bench $(BENCH_SWIFT_FLAGS)
	OPENBLAS_NUM_THREADS=1 python3 Benchmarks/peers/bench_fleet.py \
		--metarec "$$(swift build -c release --show-bin-path $(BENCH_SWIFT_FLAGS))/metarec" \
		--metarec-bench "$$(swift build -c release --show-bin-path $(BENCH_SWIFT_FLAGS))/metarec-bench" \
		$(if $(BENCH_FLEET_OUT),--out $(BENCH_FLEET_OUT))

## microbench: microbenchmarks with ordo-one/benchmark (Benchmarks/, its own package): hand GEMM, adapt,
## Predictor.score, support/embedding store pulls; wall clock and malloc counts (table printed), then checked
## against the committed p90s in Benchmarks/Thresholds/ (non-zero exit on a regression). ≈ 3 minutes after the
## first build of the benchmark package (≈ 5–10 minutes). Benchmarks/README.md has the rest.
MICROBENCH := cd Benchmarks && swift package --allow-writing-to-package-directory benchmark
microbench: deps
	$(MICROBENCH) baseline update local --no-progress
	$(MICROBENCH) baseline read local --no-progress
	$(MICROBENCH) thresholds check local --no-progress

## ml100k-scenes: MovieLens-100K for the scene protocol only (scenes = age groups, like = rating > 3, random 8:1:1):
## `pip download recbole==1.2.1 --no-deps` into ML100K_DIR (default .build-data/, git-ignored: never inside the
## tracked tree), its dataset_example/ml-100k/ unpacked there, then `metarec datasets movielens-scenes` into
## ML100K_DIR/ml100k-scenes/. Needs a built metarec (METAREC_BIN, default the release binary).
ML100K_DIR ?= .build-data
METAREC_BIN ?= $(RELEASE_BIN)
ML100K_RAW := $(ML100K_DIR)/recbole/dataset_example/ml-100k
$(ML100K_RAW)/ml-100k.inter:
	mkdir -p $(ML100K_DIR)
	python3 -m pip download recbole==1.2.1 --no-deps --disable-pip-version-check -q -d $(ML100K_DIR)
	unzip -q -o $(ML100K_DIR)/recbole-1.2.1-py3-none-any.whl 'recbole/dataset_example/ml-100k/ml-100k.*' -d $(ML100K_DIR)
	@touch $@
.PHONY: ml100k-scenes
ml100k-scenes: $(ML100K_RAW)/ml-100k.inter
	$(METAREC_BIN) datasets movielens-scenes --raw $(ML100K_RAW) --out $(ML100K_DIR)/ml100k-scenes

clean:
	rm -rf .build .build-demo
