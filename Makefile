# The Makefile is the interface. `make test` and `make run` each work alone on a fresh clone:
# whichever runs first creates .venv and installs the pinned tooling.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EVENT ?= events/s3-put.json
ARCH ?= arm64
TRIGGER ?= S3
IMAGES ?=
ARGS ?=
BENCH_DIR ?=
PARAMS ?=

.PHONY: install test unit test-infra lint bench run invoke invoke-local build deploy validate clean

$(STAMP): requirements/dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-infra: $(STAMP)
	$(PY) -m pytest tests/infrastructure

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks
	$(VENV)/bin/mypy

run: $(STAMP)
	$(PY) -m image_optimizer run $(IMAGES) $(ARGS)

# Needs Docker (sam local invoke runs the function in the Lambda container image).
invoke: build
	$(VENV)/bin/sam local invoke ImageOptimizerFunction --event $(EVENT)

# No Docker: the same event, handler run in-process against the embedded S3.
invoke-local: $(STAMP)
	$(PY) -m image_optimizer invoke-local $(EVENT)

validate: $(STAMP)
	$(VENV)/bin/sam validate --lint

# No Docker: the function and the Pillow layer are built with pip --platform (see docs/deploy-notes.md).
build: $(STAMP)
	$(VENV)/bin/sam build --parameter-overrides Architecture=$(ARCH)

# Needs an AWS account and credentials.
deploy: build
	$(VENV)/bin/sam deploy --parameter-overrides Architecture=$(ARCH) Trigger=$(TRIGGER) $(PARAMS)

# Benchmark (not a test): BENCH_DIR overrides the image folder; writes bench.json, a chart (bench.svg) and prints tables.
bench: $(STAMP)
	$(PY) -m benchmarks.bench $(if $(BENCH_DIR),--dir $(BENCH_DIR)) $(if $(BENCH_OUT),--out $(BENCH_OUT))

clean:
	rm -rf .aws-sam out bench.json bench.svg bench-crops.json
