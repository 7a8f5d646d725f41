# DWC: two commands on a fresh machine.
#   make demo   set everything up, then run the end-to-end demo
#   make test   set everything up, then cargo test + pytest (fast suite)
# Everything is installed from the registries this repo names: PyPI (pinned by
# constraints.txt), crates.io (Cargo.lock). Re-running is fast when nothing changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS := coordinator,xr,train,dev
DEPS_STAMP := $(VENV)/.dwc-deps
DEBIAN_PACKAGES := deploy/debian-packages.txt
DEBIAN_STAMP := $(VENV)/.dwc-debian
NATIVE := core-rs/python/dwc_core/_native.abi3.so
RUST_SRC := $(shell find core-rs/src -name '*.rs' 2>/dev/null) Cargo.toml Cargo.lock core-rs/Cargo.toml
MODEL_DIRS := $(patsubst %/train.py,%,$(wildcard models/*/train.py))
MODELS := $(addsuffix /model.onnx,$(MODEL_DIRS))
PYTEST_ARGS ?=

.PHONY: help setup demo test test-all test-rust test-py lint fmt models lock bench clean check-tools debian-packages

help:
	@echo "make demo      set up (venv, Rust core, models) and run the end-to-end demo"
	@echo "make test      set up and run cargo test + the pytest suite (under 15 min)"
	@echo "make test-all  as test, plus tests marked slow"
	@echo "make lint      ruff (lint + format check), mypy, cargo fmt --check, cargo clippy -D warnings"
	@echo "make fmt       apply ruff format and cargo fmt"
	@echo "make lock      re-resolve constraints.txt from pyproject.toml"

check-tools:
	@command -v $(PYTHON) >/dev/null || { echo "missing: $(PYTHON) (CPython 3.11+ with venv); set PYTHON=..." >&2; exit 2; }
	@command -v cargo >/dev/null || { echo "missing: cargo (the Rust toolchain, https://rustup.rs)" >&2; exit 2; }

$(PY): | check-tools
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" wheel

# Dependencies of every extra, pinned by constraints.txt, without building the project.
$(DEPS_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) deploy/tools/requirements.py $(EXTRAS) | $(PIP) install -q -c constraints.txt -r /dev/stdin
	@touch $@

# Debian packages the tests need (PostgreSQL): installed when missing and run as root;
# otherwise one line says what to install. Checked again when the list changes.
$(DEBIAN_STAMP): $(DEBIAN_PACKAGES) deploy/tools/debian-packages.sh | $(PY)
	@bash deploy/tools/debian-packages.sh $(DEBIAN_PACKAGES) $@

debian-packages: $(DEBIAN_STAMP)

# The Rust core, built in release mode into core-rs/python/dwc_core/ (maturin develop
# installs an editable .pth for it). A second .pth puts the repo root on sys.path so the
# `agent` and `coordinator` packages are importable from the venv, Ray workers included.
$(NATIVE): $(DEPS_STAMP) $(RUST_SRC)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop --release -q 2>&1 \
		| { grep -v -E '^Requirement already satisfied' || true; }
	$(PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'dwc-src.pth').write_text('$(CURDIR)\n')"
	@touch $@

# A model is rebuilt when its script, its data, the held-out demo documents or the
# featurizer (the native module) change.
.SECONDEXPANSION:
models/%/model.onnx: models/%/train.py $$(wildcard models/$$*/data/*) $$(wildcard deploy/demo/documents/*) $(NATIVE)
	$(PY) -m models.$*.train

models: $(MODELS)

setup: $(NATIVE) models

demo: setup
	$(VENV)/bin/dwc demo

test-rust: | check-tools
	cargo test -q -p dwc-core 2>&1 | grep -v -E '^(running [0-9]+ tests?|\.+|)$$'

test-py: setup $(DEBIAN_STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test: setup test-rust test-py

test-all: setup test-rust $(DEBIAN_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy agent coordinator models bench
	cargo fmt --all --check
	cargo clippy -q --all-targets --features python -- -D warnings
	cargo clippy -q --all-targets -- -D warnings

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	cargo fmt --all

lock: $(PY)
	$(PY) deploy/tools/requirements.py $(EXTRAS) | $(PIP) install -q -r /dev/stdin
	$(PIP) freeze --exclude-editable | grep -v -E '^(dwc|-e )' > constraints.txt

bench: setup
	$(PY) -m bench all

clean:
	rm -rf $(VENV) target core-rs/python/dwc_core/*.so $(MODELS) $(addsuffix /manifest.json,$(MODEL_DIRS))
