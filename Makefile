# `make demo`: set up, build, and query a sample archive.   `make test`: set up, build, run every test.
# Each sets up what it needs: a local .venv with numpy/polars/pytest/hypothesis, and the
# extension built by maturin. One release build of the dependencies serves cargo test, the
# extension and the benches; it lives outside the clone so a second run is incremental.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(HOME)/.cache/polars-npz/target
SAMPLE ?= sample.npz

.PHONY: demo test test-rust test-python build venv bench compare clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

build: venv
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet

demo: build
	$(PY) examples/make_sample.py $(SAMPLE)
	$(PY) -m polars_npz $(SAMPLE)
	$(PY) -m polars_npz $(SAMPLE) "SELECT sensor, count(*) AS n, avg(temperature) AS mean_temp, max(pressure) AS max_pressure FROM npz WHERE ok GROUP BY sensor ORDER BY sensor"

# The second run adds feature `arrow` (arrow-rs record batches) and runs only its tests: it
# reuses the compile of Polars and adds the arrow-rs crates.
test-rust:
	cargo test --release
	cargo test --release --features arrow --test arrow_feature

test-python: build
	$(PY) -m pytest -q

test: build test-rust test-python

bench: venv
	$(PY) benches/datasets.py /tmp/polars-npz-bench 4000000
	cargo bench

compare: build
	$(PY) -m pip install --quiet ztensor spdl matplotlib
	$(PY) benches/compare.py
	$(PY) benches/compare_datasets.py

clean:
	rm -rf $(VENV) $(SAMPLE)
