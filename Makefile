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
SECONDS ?= 300
FORMAT ?= all
CHECKOV_VENV := $(VENV)/checkov

.PHONY: install test unit test-infra lint bench run invoke invoke-local build deploy validate clean checkov fuzz docs

$(STAMP): requirements/dev.txt requirements/checkov.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	# checkov in a venv of its own: its pins conflict with the project's (requirements/checkov.txt)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-infra: $(STAMP)
	$(PY) -m pytest tests/infrastructure

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks fuzz tools
	$(VENV)/bin/ruff format --check src tests examples benchmarks fuzz tools
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

# Infrastructure scan, offline; `make test` runs it too (tests/infrastructure/test_checkov.py).
checkov: $(STAMP)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact

# Coverage-guided fuzzing (atheris) of decode + pipeline.optimize; not part of `make test`. FORMAT: jpeg, png, gif,
# webp, tiff, bmp, heif, avif or all. Findings go to .fuzz/findings/<FORMAT>/ (fuzz/run.py).
fuzz: $(STAMP)
	nice -n 19 $(PY) -m fuzz.run --format $(FORMAT) --seconds $(SECONDS)

# The documentation site (mkdocs.yml, docs/) on 127.0.0.1:$(DOCS_PORT), reloading on save; the configuration tables
# are regenerated from the code first. `make test` builds it with --strict (tests/integration/test_docs.py).
DOCS_PORT ?= 8001
docs: $(STAMP)
	$(PY) -m tools.docs_settings
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

clean:
	rm -rf .aws-sam out bench.json bench.svg bench-crops.json site
