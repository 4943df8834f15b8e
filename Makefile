# MetaRec: `make demo` runs the main job, `make test` the tests. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := demo

# Real datasets (MovieLens, Census) are read from here; they never enter the repository.
METAREC_DATA ?= $(abspath ../shared/data)
export METAREC_DATA
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
RELEASE_BIN := .build/release/metarec

.PHONY: deps build demo reproduce test clean

## deps: install OpenBLAS and zlib (Debian/Ubuntu libopenblas-dev, zlib1g-dev) and pkg-config when missing.
deps:
	@if ! pkg-config --exists openblas 2>/dev/null; then \
		echo "installing libopenblas-dev (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev pkg-config >/dev/null; \
	fi
	@if ! pkg-config --exists zlib 2>/dev/null; then \
		echo "installing zlib1g-dev (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zlib1g-dev pkg-config >/dev/null; \
	fi

## build: release build of the `metarec` command.
build: deps
	swift build -c release --product metarec

## demo: the main job: synthetic logs → MMoE with and without MAML → fine-tuned evaluation → serving latency.
demo: build
	METAREC_BIN=$(RELEASE_BIN) scripts/demo.sh

## reproduce: the README's result tables (census, synthetic, MovieLens); release build, real data from METAREC_DATA.
reproduce: build
	METAREC_BIN=$(RELEASE_BIN) scripts/census-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/synthetic-table.sh
	METAREC_BIN=$(RELEASE_BIN) scripts/movielens-table.sh

## venv: Python for the interop tests only (safetensors + numpy from PyPI), in .build-venv/ (git-ignored).
VENV := .build-venv
METAREC_PYTHON := $(abspath $(VENV))/bin/python
$(VENV)/.ready:
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { \
		echo "installing python3-venv (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --no-input safetensors numpy
	@touch $@

## test: the whole test suite (one BLAS thread: parallel tests would oversubscribe the cores).
## METAREC_PYTHON: the interpreter the safetensors interop test runs.
test: deps $(VENV)/.ready
	METAREC_PYTHON=$(METAREC_PYTHON) OPENBLAS_NUM_THREADS=1 swift test
	OPENBLAS_NUM_THREADS=1 swift test --sanitize=thread --scratch-path .build-tsan --filter ParamServerTests

clean:
	rm -rf .build
