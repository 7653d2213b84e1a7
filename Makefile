# `make demo`: set up, build, and query a sample archive.   `make test`: set up, build, run every test.
# Each sets up what it needs: a local .venv with numpy/polars/pytest/hypothesis (and Ray,
# Dask and pandas for the cluster readers' tests), and the extension built by maturin. One
# release build of the dependencies serves cargo test, the extension and the benches; it lives
# outside the clone so a second run is incremental.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(HOME)/.cache/polars-npz/target
SAMPLE ?= sample.npz

# The Polars versions `make test` runs the Python suite against besides the newest (which
# `make build` installs): the oldest the package supports and the first 2.x, each from the built
# wheel installed into a clean virtual environment.
OLDEST_POLARS ?= 1.38.1
POLARS_VERSIONS ?= $(OLDEST_POLARS) 2.0.0

.PHONY: demo test lint test-rust test-python test-wheel wheel build venv bench compare compare-remote compare-cluster clean

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

# The same features as the extension (object stores included) plus `arrow` (arrow-rs record
# batches), so Polars compiles once for the tests, the extension and the benches.
test-rust:
	cargo test --release --features "cloud arrow"

test-python: build
	$(PY) -m pytest -q

# The abi3 wheel (Python 3.11+) and the sdist, in dist/.
wheel: venv
	rm -rf dist
	$(VENV)/bin/maturin build --release --out dist --quiet
	$(VENV)/bin/maturin sdist --out dist

# The wheel installed into a clean virtual environment per Polars version of POLARS_VERSIONS,
# with no Rust toolchain on PATH: it reads an archive written by the package itself (numpy is
# not a dependency), then the Python suite runs against that installation.
test-wheel: wheel
	set -e; for v in $(POLARS_VERSIONS); do \
	  rm -rf .venv-wheel; $(PYTHON) -m venv .venv-wheel; \
	  env PATH=/usr/bin:/bin .venv-wheel/bin/pip install --quiet --only-binary=:all: "polars==$$v" dist/*.whl; \
	  .venv-wheel/bin/python -c "import sys, polars as pl, polars_npz as n; n.write_npz(pl.DataFrame({'x': [1, 2, 3]}), '.venv-wheel/w.npz'); assert n.scan_npz('.venv-wheel/w.npz').select(pl.col('x').sum()).collect().item() == 6; assert 'numpy' not in sys.modules; print('wheel OK with Polars', pl.__version__)"; \
	  .venv-wheel/bin/pip install --quiet numpy pytest "hypothesis>=6.100" "pyarrow>=16" "duckdb>=1.1"; \
	  .venv-wheel/bin/python -m pytest -q -p no:cacheprovider; \
	done

# House rules: rustfmt, clippy (every feature, warnings are errors), ruff and mypy.
lint: venv
	cargo fmt --check
	cargo clippy --release --all-targets --features "cloud arrow python" -- -D warnings
	cargo clippy --release --lib -- -D warnings
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(VENV)/bin/mypy python/polars_npz

test: lint build test-rust test-python test-wheel

bench: venv
	$(PY) benches/datasets.py /tmp/polars-npz-bench 4000000
	cargo bench --features cloud

compare: build
	$(PY) -m pip install --quiet ztensor spdl matplotlib
	$(PY) benches/compare.py
	$(PY) benches/compare_datasets.py
	$(PY) benches/compare_remote.py
	$(PY) benches/compare_remote_datasets.py
	$(PY) benches/compare_sink.py
	$(PY) benches/compare_blocks.py
	$(PY) benches/compare_learned.py
	$(PY) benches/sink_memory.py
	$(PY) benches/first_query.py

# Object-store datasets only: moto's S3 server and an HTTP server with 20 ms per request.
compare-remote: build
	$(PY) -m pip install --quiet boto3
	$(PY) benches/compare_remote_datasets.py

# Ray Data and Dask (local, 2 CPUs) over the dataset of compare_datasets.py; 15-20 minutes.
compare-cluster: build
	$(PY) benches/compare_cluster.py

clean:
	rm -rf $(VENV) .venv-wheel dist $(SAMPLE)
